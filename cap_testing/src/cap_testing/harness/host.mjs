#!/usr/bin/env node
// cap-testing's Workers host: one Node process that starts Miniflare (real workerd, with the KV
// namespaces, R2 buckets, queues and Durable Object bindings the user's wrangler.toml declares),
// loads Pyodide, imports the user's Python Worker there, and answers the pytest plugin's requests
// (JSON lines on stdin, one JSON answer per line on stdout; everything else goes to stderr).
//
//   node host.mjs CONFIG.json
//
// Python Workers cannot start in workerd offline, so the Worker script Miniflare runs is JavaScript
// generated here from the wrangler bindings: each Durable Object class is a JS class whose every RPC
// method, fetch and alarm forwards to the user's Python class (through the CAPS_PY service binding,
// answered in this process), handing it the object's real ctx.storage behind an RpcTarget; the queue
// handler forwards each batch the same way to the Python entrypoint's queue handler and applies the
// ack/retry calls it made to the real messages. The Python code sees Miniflare's bindings as `env`.
// Its ctx.storage is the handle seen through txn_bridge.mjs, which gives it the runtime's
// storage.transaction(closure): workerd admits no call into an object while a transaction is open, so
// the object runs the transaction and asks this process for each call to make (an HTTP request to
// sync_sql.mjs's worker thread, carrying this run's token, which relays it here). Its
// ctx.storage.sql is synchronous, as on a deployed Worker, through sync_sql.mjs: a worker thread asks
// the object (an HTTP request to Miniflare carrying the token, routed by the generated script to the
// object's capsTestingSql) while this thread waits in Atomics.wait; inside an open transaction the
// SQL is one more call the transaction makes, so it commits and rolls back with the block.

import { createRequire } from "node:module";
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";
import { randomUUID } from "node:crypto";

import { SQL_TOKEN_HEADER, SyncSql, transactionSyncRefused } from "./sync_sql.mjs";

import { TransactionBridge } from "./txn_bridge.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const log = (message) => process.stderr.write(`cap-testing host: ${message}\n`);
const answer = (doc) => process.stdout.write(`${JSON.stringify(doc)}\n`);

async function importFrom(nodeDir, name) {
  const require = createRequire(path.join(nodeDir, "package.json"));
  const module = await import(pathToFileURL(require.resolve(name)).href);
  return module.default && typeof module.default === "object" ? { ...module.default, ...module } : module;
}

// --- the generated Worker script ---------------------------------------------------------------
const JS_NAME = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const RESERVED_METHODS = new Set(["constructor", "capsTestingStorage", "capsTestingReset", "capsTestingTransaction", "capsTestingSql", "fetch", "alarm", "webSocketMessage", "webSocketClose", "webSocketError"]);

function workerScript(objects, sqlToken, txnUrl) {
  const classes = objects.map(({ binding, className, methods }) => {
    if (!JS_NAME.test(className)) throw new Error(`class_name ${JSON.stringify(className)} is not a valid class name`);
    const rpc = methods
      .filter((m) => JS_NAME.test(m) && !RESERVED_METHODS.has(m))
      .map(
        (m) => `  async ${m}(...args) {
    return forward(this.env, { kind: "do", binding: ${JSON.stringify(binding)}, className: ${JSON.stringify(className)}, id: this.ctx.id.toString(), method: ${JSON.stringify(m)}, args });
  }`,
      )
      .join("\n");
    return `export class ${className} extends DurableObject {
  capsTestingStorage() {
    return new StorageHandle(this.ctx.storage);
  }
  capsTestingTransaction(session) {
    return serveTransaction(this.ctx.storage, askNode, session);
  }
  capsTestingSql(doc) {
    return serveSql(this.ctx.storage, doc);
  }
  async capsTestingReset() {
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
  }
  async fetch(request) {
    const body = ["GET", "HEAD"].includes(request.method) ? null : await request.text();
    const doc = await forward(this.env, { kind: "do_fetch", binding: ${JSON.stringify(binding)}, className: ${JSON.stringify(className)}, id: this.ctx.id.toString(), request: { method: request.method, url: request.url, headers: [...request.headers], body } });
    return new Response(doc.body, { status: doc.status, headers: doc.headers });
  }
  async alarm() {
    await forward(this.env, { kind: "do", binding: ${JSON.stringify(binding)}, className: ${JSON.stringify(className)}, id: this.ctx.id.toString(), method: "alarm", args: [] });
  }
${rpc}
}`;
  });
  return `import { DurableObject, RpcTarget } from "cloudflare:workers";
import { serveSql, serveTransaction } from "./txn_bridge.mjs";

// The object's real storage, handed to the Python class (which runs outside workerd).
class StorageHandle extends RpcTarget {
  #storage;
  constructor(storage) { super(); this.#storage = storage; }
  get(keyOrKeys, options) { return this.#storage.get(keyOrKeys, options); }
  put(keyOrEntries, value, options) { return value === undefined ? this.#storage.put(keyOrEntries) : this.#storage.put(keyOrEntries, value, options); }
  delete(keyOrKeys, options) { return this.#storage.delete(keyOrKeys, options); }
  deleteAll(options) { return this.#storage.deleteAll(options); }
  list(options) { return this.#storage.list(options ?? {}); }
  getAlarm(options) { return this.#storage.getAlarm(options); }
  setAlarm(when, options) { return this.#storage.setAlarm(when, options); }
  deleteAlarm(options) { return this.#storage.deleteAlarm(options); }
  sync() { return this.#storage.sync(); }
}

// One request of an open transaction for its next call, to the host's worker thread (not through
// CAPS_PY, which Node's main thread answers: that thread may be blocked in a synchronous sql.exec
// that this transaction is to run).
async function askNode(doc) {
  const response = await fetch(${JSON.stringify(txnUrl)}, { method: "POST", headers: { ${JSON.stringify(SQL_TOKEN_HEADER)}: ${JSON.stringify(sqlToken)} }, body: JSON.stringify(doc) });
  if (!response.ok) throw new Error("cap-testing: the host's transaction channel answered HTTP " + response.status);
  return response.json();
}

async function forward(env, payload) {
  const response = await env.CAPS_PY.fetch("http://caps-py/", { method: "POST", body: JSON.stringify(payload) });
  const doc = await response.json();
  if (doc.error) throw new Error(doc.error);
  return doc.result;
}

${classes.join("\n\n")}

export default {
  async fetch(request, env) {
    // sync_sql.mjs's requests: one storage.sql call on an object (only with this run's token)
    if (request.headers.get(${JSON.stringify(SQL_TOKEN_HEADER)}) === ${JSON.stringify(sqlToken)}) {
      const doc = await request.json();
      const ns = env[doc.binding];
      return Response.json(await ns.get(ns.idFromString(doc.id)).capsTestingSql(doc));
    }
    return new Response("cap-testing workers host");
  },
  async queue(batch, env) {
    const messages = batch.messages.map((m) => ({
      id: m.id,
      timestamp: m.timestamp.getTime(),
      attempts: m.attempts,
      body: m.body instanceof ArrayBuffer ? { bytes: [...new Uint8Array(m.body)] } : ArrayBuffer.isView(m.body) ? { bytes: [...new Uint8Array(m.body.buffer, m.body.byteOffset, m.body.byteLength)] } : { value: m.body },
    }));
    const { calls, raised } = await forward(env, { kind: "queue", queue: batch.queue, messages });
    const byId = new Map(batch.messages.map((m) => [m.id, m]));
    const delay = (seconds) => (seconds === null ? undefined : { delaySeconds: seconds });
    for (const [op, a, b] of calls) {
      if (op === "ack") byId.get(a).ack();
      else if (op === "retry") byId.get(a).retry(delay(b));
      else if (op === "ackAll") batch.ackAll();
      else if (op === "retryAll") batch.retryAll(delay(a));
    }
    if (raised) throw new Error(raised);
  },
};
`;
}

// --- queue bookkeeping: how many messages are still on their way -------------------------------
const queues = { pending: 0, deliveries: [], waiters: [] };
const consumerOf = Object.fromEntries(config.consumers.map((c) => [c.queue, c]));

function settle(count) {
  queues.pending = Math.max(0, queues.pending - count);
  if (queues.pending === 0) for (const resolve of queues.waiters.splice(0)) resolve();
}

// Producer bindings counted on the way in, so `drain` knows when every message has been settled.
function countingProducer(producer, queue) {
  const counted = consumerOf[queue] !== undefined; // with no consumer here nothing would settle them
  return {
    async send(body, options) {
      const result = await producer.send(body, options);
      if (counted) queues.pending += 1;
      return result;
    },
    async sendBatch(messages, options) {
      const list = [...messages];
      const result = await producer.sendBatch(list, options);
      if (counted) queues.pending += list.length;
      return result;
    },
  };
}

// --- main ----------------------------------------------------------------------------------------
async function main() {
  const started = Date.now();
  const { Miniflare } = await importFrom(config.nodeDir, "miniflare");
  const { loadPyodide } = await importFrom(config.nodeDir, "pyodide");

  const pyodide = await loadPyodide({
    indexURL: path.join(config.nodeDir, "node_modules", "pyodide"),
    stdout: (line) => process.stderr.write(`${line}\n`),
    stderr: (line) => process.stderr.write(`${line}\n`),
  });
  const sitePackages = pyodide.runPython("import sysconfig; sysconfig.get_path('purelib')");
  for (const wheel of config.wheels) {
    pyodide.unpackArchive(new Uint8Array(readFileSync(wheel)), "wheel", { extractDir: sitePackages });
  }
  // the installed cap-* packages (and their .dist-info, so entry points are found), the user's code
  for (const { host, target } of config.mounts) {
    const at = target.startsWith("/") ? target : `${sitePackages}/${target}`;
    pyodide.FS.mkdirTree(at);
    pyodide.mountNodeFS(at, host);
  }
  pyodide.FS.mkdirTree("/cap_testing/harness");
  pyodide.mountNodeFS("/cap_testing/harness", HERE);
  pyodide.runPython("import sys; sys.dont_write_bytecode = True; sys.path.insert(0, '/cap_testing/harness')");
  const driver = pyodide.pyimport("driver");
  const objectsSpec = JSON.parse(driver.prepare(JSON.stringify(config.python)));
  log(`pyodide ${pyodide.version} ready after ${Date.now() - started} ms`);

  const dir = mkdtempSync(path.join(tmpdir(), "cap-testing-worker-"));
  const script = path.join(dir, "worker.mjs");
  const sqlToken = randomUUID();
  const transactions = new TransactionBridge();
  const syncSql = await SyncSql.start(transactions, sqlToken, (config.sqlTimeoutS ?? 60) * 1000);
  writeFileSync(script, workerScript(objectsSpec, sqlToken, syncSql.txnUrl));
  writeFileSync(path.join(dir, "txn_bridge.mjs"), readFileSync(path.join(HERE, "txn_bridge.mjs")));

  let env = null;
  const knownObjects = new Map(); // binding -> Set of hex ids, for reset
  const pyService = async (request) => {
    try {
      const payload = await request.json();
      let result;
      if (payload.kind === "queue") {
        result = await queueService(payload);
      } else {
        if (!knownObjects.has(payload.binding)) knownObjects.set(payload.binding, new Set());
        knownObjects.get(payload.binding).add(payload.id);
        const ns = env[payload.binding];
        // the object's storage handle is fetched once, when the Python instance is first made
        const stub = driver.has_object(payload.className, payload.id) ? null : ns.get(ns.idFromString(payload.id));
        const storage = stub && transactions.storage(await stub.capsTestingStorage(), stub);
        if (storage) {
          storage.sql = syncSql.forObject(payload.binding, payload.id, () => transactions.innermost(storage));
          storage.transactionSync = transactionSyncRefused;
        }
        const input = JSON.stringify(payload);
        const out = JSON.parse(await driver.durable_object(env, storage, input));
        if (out.error) return Response.json({ error: out.error });
        result = out.result;
      }
      return Response.json({ result });
    } catch (error) {
      return Response.json({ error: `cap-testing host: ${error?.stack ?? error}` });
    }
  };

  async function queueService({ queue, messages }) {
    const consumer = consumerOf[queue] ?? {};
    const maxRetries = consumer.max_retries ?? 3;
    const calls = [];
    const batch = {
      queue,
      messages: messages.map(({ id, timestamp, attempts, body }) => ({
        id,
        attempts,
        timestamp: new Date(timestamp),
        body: body.bytes !== undefined ? new Uint8Array(body.bytes).buffer : body.value,
        ack() { calls.push(["ack", id]); },
        retry(options) { calls.push(["retry", id, options?.delaySeconds ?? null]); },
      })),
      ackAll() { calls.push(["ackAll"]); },
      retryAll(options) { calls.push(["retryAll", options?.delaySeconds ?? null]); },
    };
    const outcome = JSON.parse(await driver.queue(env, batch));
    // What each message went through, for the test; and which are settled for good.
    const acked = new Set();
    const retried = new Set();
    for (const [op, a] of calls) {
      if (op === "ack") { acked.add(a); retried.delete(a); }
      else if (op === "retry") { retried.add(a); acked.delete(a); }
      else if (op === "ackAll") for (const m of messages) { acked.add(m.id); retried.delete(m.id); }
      else if (op === "retryAll") for (const m of messages) { retried.add(m.id); acked.delete(m.id); }
    }
    let done = 0;
    for (const m of messages) {
      // Miniflare retries the whole batch when the handler raises, explicit acks included
      const fate = outcome.raised ? "retry" : retried.has(m.id) ? "retry" : acked.has(m.id) ? "ack" : "ack";
      const final = fate === "ack" || m.attempts > maxRetries;
      if (final) done += 1;
      // a message moving to a dead-letter queue with a consumer here is still on its way
      if (final && fate === "retry" && consumer.dead_letter_queue && consumerOf[consumer.dead_letter_queue]) done -= 1;
      queues.deliveries.push({ queue, id: m.id, attempts: m.attempts, body: m.body, outcome: fate, error: outcome.error ?? null });
    }
    setTimeout(() => settle(done), 0); // after Miniflare has applied the calls
    return { calls, raised: outcome.raised ?? null };
  }

  const mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    modules: true,
    scriptPath: script,
    modulesRoot: dir, // the generated script lives outside the working directory
    compatibilityDate: config.compatibilityDate,
    kvNamespaces: config.kv,
    r2Buckets: config.r2,
    durableObjects: Object.fromEntries(objectsSpec.map((o) => [o.binding, { className: o.className, useSQLite: true }])),
    queueProducers: Object.fromEntries(config.producers.map((p) => [p.binding, p.queue])),
    queueConsumers: Object.fromEntries(
      config.consumers.map((c) => [
        c.queue,
        {
          maxBatchSize: c.max_batch_size ?? 10,
          maxBatchTimeout: 0,
          maxRetries: c.max_retries ?? 3,
          deadLetterQueue: c.dead_letter_queue ?? undefined,
          retryDelay: c.retry_delay ?? undefined,
        },
      ]),
    ),
    serviceBindings: { CAPS_PY: pyService },
    bindings: config.vars,
  });
  syncSql.url = await mf.ready;
  env = {};
  for (const name of config.kv) env[name] = await mf.getKVNamespace(name);
  for (const name of config.r2) env[name] = await mf.getR2Bucket(name);
  for (const o of objectsSpec) env[o.binding] = await mf.getDurableObjectNamespace(o.binding);
  for (const p of config.producers) env[p.binding] = countingProducer(await mf.getQueueProducer(p.binding), p.queue);
  for (const [name, value] of Object.entries(config.vars)) env[name] = value;
  log(`miniflare ready after ${Date.now() - started} ms`);

  async function drain(timeoutS) {
    if (queues.pending > 0) {
      let timer;
      const timedOut = new Promise((resolve) => { timer = setTimeout(() => resolve("timeout"), timeoutS * 1000); });
      const done = new Promise((resolve) => queues.waiters.push(resolve));
      const which = await Promise.race([done, timedOut]);
      clearTimeout(timer);
      if (which === "timeout") throw new Error(`${queues.pending} queue message(s) still unsettled after ${timeoutS} s`);
    }
    return queues.deliveries.splice(0);
  }

  async function reset() {
    let stuck = null;
    try { await drain(config.resetTimeoutS); } catch (error) { stuck = String(error.message ?? error); queues.pending = 0; }
    queues.deliveries.length = 0;
    for (const name of config.kv) {
      const kv = env[name];
      let cursor;
      do {
        const page = await kv.list({ cursor });
        await Promise.all(page.keys.map((k) => kv.delete(k.name)));
        cursor = page.list_complete ? undefined : page.cursor;
      } while (cursor);
    }
    for (const name of config.r2) {
      const bucket = env[name];
      let cursor;
      do {
        const page = await bucket.list({ cursor });
        if (page.objects.length) await bucket.delete(page.objects.map((o) => o.key));
        cursor = page.truncated ? page.cursor : undefined;
      } while (cursor);
    }
    for (const [binding, ids] of knownObjects) {
      const ns = env[binding];
      for (const id of ids) await ns.get(ns.idFromString(id)).capsTestingReset();
      ids.clear();
    }
    driver.reset();
    return { stuck };
  }

  answer({ ready: true, ms: Date.now() - started });

  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const request = JSON.parse(line);
    try {
      let result;
      if (request.op === "run") result = JSON.parse(await driver.run(env, JSON.stringify(request)));
      else if (request.op === "fetch") result = JSON.parse(await driver.fetch(env, JSON.stringify(request)));
      else if (request.op === "drain") result = await drain(request.timeout ?? 60);
      else if (request.op === "reset") result = await reset();
      else throw new Error(`unknown op ${request.op}`);
      answer({ id: request.id, ok: true, result });
    } catch (error) {
      answer({ id: request.id, ok: false, error: String(error?.stack ?? error) });
    }
  }
  await syncSql.close();
  await mf.dispose();
  rmSync(dir, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (error) => {
    answer({ fatal: String(error?.stack ?? error) });
    process.exit(2);
  },
);
