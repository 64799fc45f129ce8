// A Durable Object's storage.transaction(closure) for Python code that runs outside workerd.
//
// In a deployed Python Worker the SDK calls ctx.storage.transaction(closure) and the runtime calls the
// closure with `txn`; the block's calls go to `txn`, and sql.exec joins the open transaction. Here the
// Python code runs in Node and reaches the object's storage over RPC, and while a transaction is open
// workerd lets no call into the object (it holds the object like blockConcurrencyWhile), so the
// closure cannot be handed across. Instead the object's side runs the real transaction and, inside
// its closure, asks the Node side for each call to make (one request to a service binding answered
// in Node, which is allowed inside a transaction): the Python closure gets a `txn` whose calls queue
// here, and its promise settling ends the transaction (resolve: commit; reject: roll back). A call on
// the storage while a transaction is open goes through it too (that is the same object's event in
// workerd), and so does a nested transaction(), which workerd runs as a savepoint.
//
// Used by cap-testing's host.mjs and by the repository's Workers harness; the object's half
// (serveTransaction) is imported by the Worker script and run by an RPC method of the object itself
// (capsTestingTransaction(session)) — started from a method of the RpcTarget that hands out the
// storage, its first request to Node never arrived (Miniflare 4.20260426.0) and the object was reset
// after the blockConcurrencyWhile timeout. The Node half (TransactionBridge) is imported by Node.
// Values cross as JSON with tags (encode/decode) for what JSON lacks: bytes, Date, Map, undefined.

export function encode(value) {
  if (value === undefined) return { u: 1 };
  if (value === null || typeof value === "string" || typeof value === "boolean") return { v: value };
  if (typeof value === "number") return Number.isFinite(value) ? { v: value } : { f: String(value) };
  if (typeof value === "bigint") return { n: String(value) };
  if (value instanceof Date) return { d: value.getTime() };
  if (value instanceof ArrayBuffer) return { b: [...new Uint8Array(value)] };
  if (ArrayBuffer.isView(value)) return { b: [...new Uint8Array(value.buffer, value.byteOffset, value.byteLength)] };
  if (value instanceof Map) return { m: [...value].map(([k, v]) => [encode(k), encode(v)]) };
  if (Array.isArray(value)) return { a: value.map(encode) };
  return { o: Object.entries(value).map(([k, v]) => [k, encode(v)]) };
}

export function decode(doc) {
  if ("u" in doc) return undefined;
  if ("v" in doc) return doc.v;
  if ("f" in doc) return Number(doc.f);
  if ("n" in doc) return BigInt(doc.n);
  if ("d" in doc) return new Date(doc.d);
  if ("b" in doc) return new Uint8Array(doc.b);
  if ("m" in doc) return new Map(doc.m.map(([k, v]) => [decode(k), decode(v)]));
  if ("a" in doc) return doc.a.map(decode);
  return Object.fromEntries(doc.o.map(([k, v]) => [k, decode(v)]));
}

const message = (error) => String(error?.message ?? error);

// --- the object's half (runs in workerd) ---------------------------------------------------------

// What the storage handle runs for a call that arrives through an open transaction: the same as
// ctx.storage's method, except sqlExec, which reads the cursor whole (as the handles' sqlExec do).
function sqlExec(storage, query, bindings) {
  try {
    const cursor = storage.sql.exec(query, ...(bindings ?? []));
    const rows = cursor.raw().toArray();
    return { columnNames: cursor.columnNames, rows, rowsRead: cursor.rowsRead, rowsWritten: cursor.rowsWritten };
  } catch (error) {
    return { error: message(error) };
  }
}

// The object's half of sync_sql.mjs: one storage.sql call outside any transaction, answered as JSON
// (rows tagged as encode() tags them: blobs as bytes, big integers as workerd gives them); an error
// travels as its message and name, since errors thrown across RPC lose their message.
export function serveSql(storage, doc) {
  try {
    if (doc.op === "databaseSize") return { value: encode(storage.sql.databaseSize) };
    const cursor = storage.sql.exec(doc.query, ...doc.bindings.map(decode));
    const rows = cursor.raw().toArray();
    return { columnNames: cursor.columnNames, rows: encode(rows), rowsRead: cursor.rowsRead, rowsWritten: cursor.rowsWritten };
  } catch (error) {
    return { error: message(error), name: String(error?.name ?? "Error") };
  }
}

// Run storage.transaction for the Node side's `session`; `ask(doc)` is one round trip to Node (it
// answers the next call to make, or {end}). Resolves to {} or {error}: errors thrown across
// Miniflare's RPC lose their message, so they travel as values.
export async function serveTransaction(storage, ask, session) {
  try {
    await storage.transaction(async (txn) => {
      let answer = { ready: true };
      for (;;) {
        const call = await ask({ session, answer });
        if (call.end === "commit") return;
        if (call.end === "rollback") throw new Error(call.error ?? "rolled back");
        answer = await run(storage, txn, call, ask);
      }
    });
    return {};
  } catch (error) {
    return { error: message(error) };
  }
}

async function run(storage, txn, call, ask) {
  try {
    const args = call.args.map(decode);
    let value;
    if (call.method === "transaction") value = await serveTransaction(storage, ask, args[0]);
    else if (call.method === "sqlExec") value = sqlExec(storage, ...args);
    else if (call.method === "sql") value = serveSql(storage, args[0]); // sync_sql.mjs's, in the transaction
    else value = await (call.on === "storage" ? storage : txn)[call.method](...args);
    return { value: encode(value) };
  } catch (error) {
    return { error: message(error) };
  }
}

// --- the Node half ------------------------------------------------------------------------------

const TXN_METHODS = ["get", "put", "delete", "deleteAll", "list", "getAlarm", "setAlarm", "deleteAlarm"];

// One transaction as the Node side sees it. Event-driven, so that it can also be driven while this
// thread is blocked (sync_sql.mjs runs storage.sql inside the block that way): the object's request
// for the next call is held as `waiting` (a function that answers it), and whichever comes first —
// a call from the Python block, the block's end, or that request — pairs them at once.
class Session {
  constructor(bridge, id, closure) {
    this.bridge = bridge;
    this.id = id;
    this.closure = closure;
    this.calls = []; // queued {doc, resolve, reject} (plain functions)
    this.sent = null; // the call whose answer is awaited
    this.waiting = null; // answers the object's request for the next call
    this.ended = null; // {end, error}
    const txn = {};
    for (const name of TXN_METHODS) txn[name] = (...args) => this.call("txn", name, args);
    txn.rollback = () => {
      this.call("txn", "rollback", []).catch(() => {});
    };
    this.txn = txn;
  }

  call(on, method, args) {
    return new Promise((resolve, reject) => this.queue(on, method, args, resolve, reject));
  }

  // The same with plain callbacks (a blocked thread can run those; see sync_sql.mjs); returns the
  // queued entry.
  queue(on, method, args, resolve, reject) {
    const entry = { doc: { on, method, args: args.map(encode) }, resolve, reject };
    this.calls.push(entry);
    this.pump();
    return entry;
  }

  end(doc) {
    this.ended = doc;
    this.pump();
  }

  // Hand the next call (or the end) to the object's waiting request, if both are there.
  pump() {
    if (!this.waiting) return;
    let doc;
    if (this.calls.length) {
      this.sent = this.calls.shift();
      doc = this.sent.doc;
    } else if (this.ended) {
      doc = this.ended;
      this.bridge.sessions.delete(this.id);
    } else return;
    const reply = this.waiting;
    this.waiting = null;
    reply(doc);
  }

  // One request from the object: the answer to the last call; `reply(doc)` answers it with the next
  // call (or the end), now or later.
  ask(answer, reply) {
    if (answer.ready) {
      const settle = (doc) => {
        this.bridge.open.splice(this.bridge.open.indexOf(this), 1);
        this.end(doc);
      };
      this.bridge.open.push(this);
      Promise.resolve()
        .then(() => this.closure(this.txn))
        .then(
          () => settle({ end: "commit" }),
          (error) => settle({ end: "rollback", error: message(error) }),
        );
    } else if (this.sent) {
      const { resolve, reject } = this.sent;
      this.sent = null;
      if (answer.error !== undefined) reject(new Error(answer.error));
      else resolve(decode(answer.value));
    }
    this.waiting = reply;
    this.pump();
  }
}

export class TransactionBridge {
  constructor() {
    this.sessions = new Map();
    this.open = []; // sessions whose closure is running, innermost last
    this.nextId = 1;
  }

  // The request handler for the service binding the object's `ask` reaches: {session, answer} in,
  // the next call out.
  answer(doc) {
    return new Promise((resolve) => this.ask(doc, resolve));
  }

  // The same, answered through `reply(next)` (now or later) rather than a promise, so that a thread
  // blocked in a synchronous call can drive it (sync_sql.mjs).
  ask(doc, reply) {
    const session = this.sessions.get(doc.session);
    if (!session) reply({ end: "rollback", error: `cap-testing: no transaction session ${doc.session}` });
    else session.ask(doc.answer, reply);
  }

  // The innermost open transaction of `storage` (a handle made by storage()), or undefined.
  innermost(storage) {
    return this.open.findLast((session) => session.owner === storage);
  }

  // What Python sees as ctx.storage: `handle`'s methods (the object's real storage behind an
  // RpcTarget), through the innermost open transaction while one is open; transaction(closure) as
  // the runtime's, started by `stub.capsTestingTransaction(session)` (the object's serveTransaction).
  storage(handle, stub) {
    const bridge = this;
    const through = (method, args) => {
      const inner = bridge.open.at(-1);
      return inner ? inner.call("storage", method, args) : handle[method](...args);
    };
    const storage = {
      transaction(closure) {
        const session = new Session(bridge, bridge.nextId++, closure);
        session.owner = storage;
        bridge.sessions.set(session.id, session);
        const inner = bridge.open.at(-1);
        const started = inner ? inner.call("storage", "transaction", [session.id]) : stub.capsTestingTransaction(session.id);
        return Promise.resolve(started).then((outcome) => {
          bridge.sessions.delete(session.id);
          if (outcome?.error !== undefined) throw new Error(outcome.error);
        });
      },
    };
    for (const name of [...TXN_METHODS, "sync", "sqlExec", "sqlTransaction", "getCurrentBookmark", "getBookmarkForTime", "onNextSessionRestoreBookmark"]) {
      storage[name] = (...args) => through(name, args);
    }
    return storage;
  }
}
