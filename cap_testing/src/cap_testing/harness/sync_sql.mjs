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
// is open.
//
// Inside an open transaction() workerd admits no call into the object, so there the SQL is one more
// call the transaction's closure makes (txn_bridge.mjs), with the real storage.sql inside the open
// transaction: it commits and rolls back with the block. For that the closure's requests for its
// next call must be answerable while this thread is blocked, so they are not served here: the worker
// thread also runs a small HTTP server (127.0.0.1, a random port, the same token) that the closure
// long-polls; it posts each request here, and this thread answers it from its event loop, or, while
// blocked in a synchronous call, from the Atomics.wait loop (receiveMessageOnPort). transactionSync
// is refused: its function must run synchronously inside workerd, which cannot wait for Node.
// Every wait here is bounded (timeoutMs), so a test never hangs.

import { MessageChannel, Worker, receiveMessageOnPort } from "node:worker_threads";

import { decode, encode } from "./txn_bridge.mjs";

export const SQL_TOKEN_HEADER = "x-cap-testing-sql";

// The worker thread: one HTTP request per SQL call (`port`), and the server the object's open
// transactions ask for their next call (`txnPort`: {rid, doc} out, {rid, reply} in); `flag` counts
// the messages posted to the main thread, so that it can wait for them.
const THREAD = `
const http = require("node:http");
const { workerData } = require("node:worker_threads");
const { port, txnPort, flag, token, header } = workerData;
const wake = () => { Atomics.add(flag, 0, 1); Atomics.notify(flag, 0); };
port.on("message", async ({ seq, doc, url }) => {
  let answer;
  try {
    const response = await fetch(url, { method: "POST", headers: { [header]: token }, body: JSON.stringify(doc) });
    const text = await response.text();
    answer = response.ok ? { body: text } : { failure: "HTTP " + response.status + ": " + text.slice(0, 2000) };
  } catch (error) {
    answer = { failure: String((error && error.stack) || error) };
  }
  port.postMessage({ seq, ...answer });
  wake();
});
const held = new Map();
let nextRid = 1;
const server = http.createServer((request, response) => {
  if (request.method !== "POST" || request.headers[header] !== token) {
    response.writeHead(403).end();
    return;
  }
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    let doc;
    try {
      doc = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch (error) {
      response.writeHead(400).end(String(error));
      return;
    }
    const rid = nextRid++;
    held.set(rid, response);
    response.on("close", () => held.delete(rid));
    txnPort.postMessage({ rid, doc });
    wake();
  });
});
server.requestTimeout = 0; // a transaction's next call comes when the Python block makes it
txnPort.on("message", ({ rid, reply }) => {
  const response = held.get(rid);
  held.delete(rid);
  // a fresh connection per request: no reuse racing the server's keep-alive timeout
  if (response) response.writeHead(200, { "content-type": "application/json", connection: "close" }).end(JSON.stringify(reply));
});
server.listen(0, "127.0.0.1", () => {
  txnPort.postMessage({ listening: server.address().port });
  wake();
});
`;

function refused(message) {
  const error = new Error(message);
  error.name = "NotSupportedError";
  return error;
}

export const NO_TRANSACTION_SYNC =
  "cap-testing workers_env: storage.transaction_sync is not supported here: its function must run " +
  "synchronously inside workerd, and your Python object runs in Node; test it in the local runtime " +
  "(DurableObjectNamespace.local)";

export class SyncSql {
  // Start the worker thread; resolves once its transaction server listens (see `txnUrl`).
  // `bridge` is the TransactionBridge whose sessions the object's transactions ask for.
  static async start(bridge, token, timeoutMs = 60_000) {
    const sql = new SyncSql(bridge, token, timeoutMs);
    await sql.listening;
    // only now: an unreferenced thread and port would let Node exit while waiting for them
    sql.thread.unref();
    sql.txnPort.unref();
    return sql;
  }

  constructor(bridge, token, timeoutMs) {
    this.bridge = bridge;
    this.token = token;
    this.timeoutMs = timeoutMs;
    this.url = null; // Miniflare's, set once it is ready
    this.flag = new Int32Array(new SharedArrayBuffer(4));
    const sqlChannel = new MessageChannel();
    const txnChannel = new MessageChannel();
    this.port = sqlChannel.port1;
    this.txnPort = txnChannel.port1;
    this.seq = 0;
    this.thread = new Worker(THREAD, {
      eval: true,
      workerData: { port: sqlChannel.port2, txnPort: txnChannel.port2, flag: this.flag, token, header: SQL_TOKEN_HEADER },
      transferList: [sqlChannel.port2, txnChannel.port2],
    });
    this.failure = null;
    this.listening = new Promise((resolve, reject) => {
      this.thread.on("error", (error) => {
        this.failure = String(error?.stack ?? error);
        reject(error);
      });
      this.txnPort.on("message", (message) => {
        if (message.listening !== undefined) {
          this.txnUrl = `http://127.0.0.1:${message.listening}/`;
          resolve();
        } else this.onTxn(message);
      });
    });
  }

  // A request from an object's open transaction for its next call: answered when the session has one.
  onTxn({ rid, doc }) {
    this.bridge.ask(doc, (reply) => this.txnPort.postMessage({ rid, reply }));
  }

  // One call to the object `(binding, id)`, blocking this thread until its answer (or the timeout).
  call(doc) {
    if (this.failure) throw new Error(`cap-testing workers_env: the SQL thread failed: ${this.failure}`);
    const seq = (this.seq = (this.seq % 2_000_000_000) + 1);
    this.port.postMessage({ seq, doc, url: String(this.url) });
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

  // One call made inside `session`, an open transaction of the object: queued as the block's next
  // call, with this thread blocked until the closure's next request brings its answer. Meanwhile the
  // object's requests (this or any other transaction's) are answered here, from the wait loop.
  callInTransaction(session, doc) {
    if (this.failure) throw new Error(`cap-testing workers_env: the SQL thread failed: ${this.failure}`);
    let outcome = null;
    const entry = session.queue("storage", "sql", [doc], (value) => (outcome = { value }), (error) => (outcome = { error }));
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const seen = Atomics.load(this.flag, 0);
      for (let got = receiveMessageOnPort(this.txnPort); got; got = receiveMessageOnPort(this.txnPort)) {
        this.onTxn(got.message);
      }
      if (outcome?.error !== undefined) {
        throw new Error(`cap-testing workers_env: storage.sql inside the transaction failed: ${outcome.error.message}`);
      }
      if (outcome) return outcome.value;
      const left = deadline - Date.now();
      if (left <= 0) {
        const queued = session.calls.indexOf(entry);
        if (queued >= 0) session.calls.splice(queued, 1); // not run later, after its caller gave up
        throw new Error(
          `cap-testing workers_env: storage.sql inside a transaction got no answer within ` +
            `${this.timeoutMs / 1000} s (${doc.op} on ${doc.binding} ${doc.id})`,
        );
      }
      Atomics.wait(this.flag, 0, seen, left);
    }
  }

  // What Python sees as ctx.storage.sql of the object `(binding, id)`: exec returns an object shaped
  // like the runtime's SqlStorageCursor (columnNames, raw().toArray(), rowsRead, rowsWritten), so the
  // SDK's own conversion (cursor_from_js) runs on it; an error is thrown as the runtime's would be.
  // `innermost()` is the object's innermost open transaction (then the call runs inside it), if any.
  forObject(binding, id, innermost) {
    const run = (doc) => {
      const session = innermost();
      const full = { binding, id, ...doc };
      const answer = session ? this.callInTransaction(session, full) : this.call(full);
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
    this.txnPort.close();
    return this.thread.terminate();
  }
}

export function transactionSyncRefused() {
  throw refused(NO_TRANSACTION_SYNC);
}
