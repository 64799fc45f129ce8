// A Durable Object's synchronous storage.sql (exec, databaseSize) for Python code that runs in Node.
//
// In a deployed Python Worker `ctx.storage.sql.exec(...)` returns its cursor at once. Here the Python
// object runs in Node's Pyodide and reaches its storage over RPC, whose answers are async, so this
// blocks the way Node can: the main thread (which runs Pyodide) posts the call to a worker thread and
// waits in Atomics.wait; the worker thread makes an HTTP request to Miniflare's own URL, which the
// generated Worker script routes (before anything else, and only with this run's random token in the
// header) to the object's capsTestingSql method — the real `this.ctx.storage.sql.exec` — and posts
// the answer back; the main thread takes it with receiveMessageOnPort. workerd admits that call
// because the object's current call is awaiting the host (a fetch through CAPS_PY), so its input gate
// is open. Inside an open transaction() it is not (workerd holds the object, and the transaction's
// calls are answered by this very thread), so the call is refused there with a clear error instead
// of deadlocking; transactionSync is refused too (its function would have to run inside workerd).
// Every wait is bounded (timeoutMs), so a test never hangs.

import { MessageChannel, Worker, receiveMessageOnPort } from "node:worker_threads";

import { decode, encode } from "./txn_bridge.mjs";

export const SQL_TOKEN_HEADER = "x-cap-testing-sql";

// The worker thread: one HTTP request per call; `flag` counts the answers posted.
const THREAD = `
const { workerData } = require("node:worker_threads");
const { port, flag, url, token, header } = workerData;
port.on("message", async ({ seq, doc }) => {
  let answer;
  try {
    const response = await fetch(url, { method: "POST", headers: { [header]: token }, body: JSON.stringify(doc) });
    const text = await response.text();
    answer = response.ok ? { body: text } : { failure: "HTTP " + response.status + ": " + text.slice(0, 2000) };
  } catch (error) {
    answer = { failure: String((error && error.stack) || error) };
  }
  port.postMessage({ seq, ...answer });
  Atomics.add(flag, 0, 1);
  Atomics.notify(flag, 0);
});
`;

function refused(message) {
  const error = new Error(message);
  error.name = "NotSupportedError";
  return error;
}

export const IN_TRANSACTION =
  "cap-testing workers_env: storage.sql.exec and sql.database_size cannot run inside an open " +
  "transaction() here: workerd admits no call into the object while its transaction is open, and " +
  "the transaction's calls are answered by the same Node thread that would wait for the SQL, so it " +
  "would deadlock. Run the SQL before or after the block, or test it in the local runtime " +
  "(DurableObjectNamespace.local), where SQL joins the open transaction as on a deployed Worker";

export const NO_TRANSACTION_SYNC =
  "cap-testing workers_env: storage.transaction_sync is not supported here: its function must run " +
  "synchronously inside workerd, and your Python object runs in Node; test it in the local runtime " +
  "(DurableObjectNamespace.local)";

export class SyncSql {
  constructor(url, token, timeoutMs = 60_000) {
    this.token = token;
    this.timeoutMs = timeoutMs;
    this.flag = new Int32Array(new SharedArrayBuffer(4));
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.seq = 0;
    this.thread = new Worker(THREAD, {
      eval: true,
      workerData: { port: port2, flag: this.flag, url: String(url), token, header: SQL_TOKEN_HEADER },
      transferList: [port2],
    });
    this.thread.unref();
    this.failure = null;
    this.thread.on("error", (error) => (this.failure = String(error?.stack ?? error)));
  }

  // One call to the object `(binding, id)`, blocking this thread until its answer (or the timeout).
  call(doc) {
    if (this.failure) throw new Error(`cap-testing workers_env: the SQL thread failed: ${this.failure}`);
    const seq = (this.seq = (this.seq % 2_000_000_000) + 1);
    this.port.postMessage({ seq, doc });
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const seen = Atomics.load(this.flag, 0);
      for (let got = receiveMessageOnPort(this.port); got; got = receiveMessageOnPort(this.port)) {
        if (got.message.seq !== seq) continue; // the late answer to a call that timed out
        if (got.message.failure !== undefined) {
          throw new Error(`cap-testing workers_env: the SQL request failed: ${got.message.failure}`);
        }
        return JSON.parse(got.message.body);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `cap-testing workers_env: storage.sql got no answer within ${this.timeoutMs / 1000} s ` +
            `(${doc.op} on ${doc.binding} ${doc.id})`,
        );
      }
      Atomics.wait(this.flag, 0, seen, left);
    }
  }

  // What Python sees as ctx.storage.sql of the object `(binding, id)`: exec returns an object shaped
  // like the runtime's SqlStorageCursor (columnNames, raw().toArray(), rowsRead, rowsWritten), so the
  // SDK's own conversion (cursor_from_js) runs on it; an error is thrown as the runtime's would be.
  // `inTransaction()` says whether a transaction of this object is open (then the call is refused).
  forObject(binding, id, inTransaction) {
    const run = (doc) => {
      if (inTransaction()) throw refused(IN_TRANSACTION);
      const answer = this.call({ binding, id, ...doc });
      if (answer.error !== undefined) {
        const error = new Error(answer.error);
        error.name = answer.name ?? "Error";
        throw error;
      }
      return answer;
    };
    return {
      exec(query, ...bindings) {
        const answer = run({ op: "exec", query, bindings: bindings.map(encode) });
        const rows = decode(answer.rows).map((row) => row.map((v) => (v instanceof Uint8Array ? v.buffer : v)));
        return {
          columnNames: answer.columnNames,
          rowsRead: answer.rowsRead,
          rowsWritten: answer.rowsWritten,
          raw: () => ({ toArray: () => rows }),
        };
      },
      get databaseSize() {
        return decode(run({ op: "databaseSize" }).value);
      },
    };
  }

  close() {
    return this.thread.terminate();
  }
}

export function transactionSyncRefused() {
  throw refused(NO_TRANSACTION_SYNC);
}
