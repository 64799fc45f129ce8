// The JS side of the Workers harness: what a Python Worker cannot provide here (workerd cannot
// start Python offline) but the checks need to talk to — a Durable Object class with RPC methods
// and a queue consumer. The consumer records every message it receives into the QUEUE_LOG KV
// namespace so Python can read back what arrived.
import { DurableObject, RpcTarget } from "cloudflare:workers";

// storage.transaction for Python code outside workerd (see the module; harness.mjs has the Node half)
import { serveTransaction } from "../../cap_testing/src/cap_testing/harness/txn_bridge.mjs";

export class Counter extends DurableObject {
  async increment(by = 1) {
    const current = (await this.ctx.storage.get("count")) ?? 0;
    const next = current + by;
    await this.ctx.storage.put("count", next);
    return next;
  }

  // A structured RPC result with nulls at every depth: Python must see None for each of them.
  async describe(label) {
    return {
      label,
      count: (await this.ctx.storage.get("count")) ?? 0,
      missing: null,
      nested: { empty: null, list: [1, null, { deep: null }] },
    };
  }

  async fail(message) {
    throw new Error(message);
  }

  async fetch(request) {
    const url = new URL(request.url);
    return Response.json({ path: url.pathname, method: request.method });
  }
}

// --- cap_cloudflare_do ------------------------------------------------------------------------------
// Hands out this object's real ctx.storage behind an RpcTarget, so the Python DurableObjectStorage
// (workers backend) can be exercised against Miniflare's SQLite-backed storage from the checks.
class StorageHandle extends RpcTarget {
  #storage;

  constructor(storage) {
    super();
    this.#storage = storage;
  }

  get(keyOrKeys) {
    return this.#storage.get(keyOrKeys);
  }

  put(keyOrEntries, value) {
    return value === undefined ? this.#storage.put(keyOrEntries) : this.#storage.put(keyOrEntries, value);
  }

  delete(keyOrKeys) {
    return this.#storage.delete(keyOrKeys);
  }

  deleteAll() {
    return this.#storage.deleteAll();
  }

  list(options) {
    return this.#storage.list(options ?? {});
  }

  getAlarm() {
    return this.#storage.getAlarm();
  }

  setAlarm(when) {
    return this.#storage.setAlarm(when);
  }

  deleteAlarm() {
    return this.#storage.deleteAlarm();
  }

  // ctx.storage.sql.exec is synchronous inside the object; over RPC every call is async, so the
  // cursor is read here and handed over whole (the Python side converts it exactly as it converts a
  // real cursor: cap_cloudflare_do.backends.workers_sql.cursor_from_js). Errors come back as values,
  // since an error thrown across Miniflare's RPC loses its message.
  sqlExec(query, bindings) {
    try {
      const cursor = this.#storage.sql.exec(query, ...(bindings ?? []));
      const rows = cursor.raw().toArray();
      return { columnNames: cursor.columnNames, rows, rowsRead: cursor.rowsRead, rowsWritten: cursor.rowsWritten };
    } catch (error) {
      return { error: String(error?.message ?? error) };
    }
  }

  // point-in-time recovery (Miniflare answers getCurrentBookmark; the other two say it has no PITR)
  getCurrentBookmark() {
    return this.#storage.getCurrentBookmark();
  }

  getBookmarkForTime(when) {
    return this.#storage.getBookmarkForTime(when);
  }

  onNextSessionRestoreBookmark(bookmark) {
    return this.#storage.onNextSessionRestoreBookmark(bookmark);
  }

  // transactionSync over a list of [query, bindings]: all of them, or none if one fails.
  sqlTransaction(steps) {
    try {
      this.#storage.transactionSync(() => {
        for (const [query, bindings] of steps) this.#storage.sql.exec(query, ...(bindings ?? [])).toArray();
      });
      return {};
    } catch (error) {
      return { error: String(error?.message ?? error) };
    }
  }
}

export class StorageProbe extends DurableObject {
  storage() {
    return new StorageHandle(this.ctx.storage);
  }

  // ctx.storage.transaction, its closure run by the Python side's calls (CAPS_TXN answers in Node:
  // cap_testing's harness/txn_bridge.mjs); env.CAPS_TXN_BRIDGE.storage(handle, stub) starts it.
  capsTestingTransaction(session) {
    return serveTransaction(this.ctx.storage, async (doc) => {
      const response = await this.env.CAPS_TXN.fetch("http://caps-txn/", { method: "POST", body: JSON.stringify(doc) });
      return response.json();
    }, session);
  }

  // Workers' own answer to list(options) over the given keys: what the local runtime must match.
  async listKeys(keys, options) {
    await this.ctx.storage.deleteAll();
    for (let i = 0; i < keys.length; i += 128) {
      await this.ctx.storage.put(Object.fromEntries(keys.slice(i, i + 128).map((k) => [k, 1])));
    }
    return [...(await this.ctx.storage.list(options ?? {})).keys()];
  }

  async alarm() {
    await this.ctx.storage.put("alarm-fired", Date.now());
  }
}

// The idempotency ledger protocol of cap_cloudflare_do.Dedupe, in JS (a deployment may define it in
// either language): putIfAbsent answers true for exactly one caller per live key.
export class DedupeLedger extends DurableObject {
  async put_if_absent(key, ttlMs) {
    const now = Date.now();
    const expires = await this.ctx.storage.get(`k:${key}`);
    if (expires !== undefined && (expires === null || expires > now)) return false;
    await this.ctx.storage.put(`k:${key}`, ttlMs === null || ttlMs === undefined ? null : now + ttlMs);
    return true;
  }

  async forget(key) {
    return this.ctx.storage.delete(`k:${key}`);
  }
}

// The queue consumer differential: a Python handler decides (workerd cannot start Python here). The
// batch goes to the harness's QUEUE_DIFF_CONSUMER service (harness.mjs), which runs the handler on a
// copy and answers the ack/retry calls it made, in order; they are applied here to the real messages,
// and if the handler raised, this handler throws — so Miniflare's broker sees what a Python Worker's
// queue handler would have done.
async function diffConsumer(batch, env) {
  const messages = batch.messages.map((m) => ({
    id: m.id,
    timestamp: m.timestamp.getTime(),
    attempts: m.attempts,
    body: m.body instanceof ArrayBuffer ? { bytes: [...new Uint8Array(m.body)] } : { value: m.body },
  }));
  const response = await env.QUEUE_DIFF_CONSUMER.fetch("http://queue-diff/", {
    method: "POST",
    body: JSON.stringify({ queue: batch.queue, messages }),
  });
  if (!response.ok) throw new Error(`queue diff consumer: ${response.status} ${await response.text()}`);
  const { calls, raised } = await response.json();
  const byId = new Map(batch.messages.map((m) => [m.id, m]));
  const delay = (seconds) => (seconds === null ? undefined : { delaySeconds: seconds });
  for (const [op, a, b] of calls) {
    if (op === "ack") byId.get(a).ack();
    else if (op === "retry") byId.get(a).retry(delay(b));
    else if (op === "ackAll") batch.ackAll();
    else if (op === "retryAll") batch.retryAll(delay(a));
    else throw new Error(`queue diff consumer: unknown call ${op}`);
  }
  if (raised) throw new Error(`the Python handler raised ${raised}`);
}

export default {
  async fetch() {
    return new Response("cap-* workers harness");
  },

  async queue(batch, env) {
    if (batch.queue === "cap-diff" || batch.queue === "cap-diff-dlq") return diffConsumer(batch, env);
    for (const message of batch.messages) {
      await env.QUEUE_LOG.put(
        `${batch.queue}/${message.id}`,
        JSON.stringify({
          body: message.body,
          attempts: message.attempts,
          // cap_cloudflare_queue's checks: the body's JS type, and a binary body's bytes (JSON drops them)
          type: Object.prototype.toString.call(message.body).slice(8, -1),
          bytes:
            message.body instanceof ArrayBuffer || ArrayBuffer.isView(message.body)
              ? [...new Uint8Array(message.body.buffer ?? message.body, message.body.byteOffset ?? 0, message.body.byteLength)]
              : undefined,
        }),
      );
      message.ack();
    }
  },
};
