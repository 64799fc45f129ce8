#!/usr/bin/env node
// The cap-* Workers harness: one Node process that starts Miniflare (real workerd with local KV, R2,
// a Durable Object class and a queue producer + consumer, from worker.js), loads Pyodide from
// node_modules, installs the pure-Python wheels from .wheels/ (pinned in pyodide-wheels.lock), mounts
// every package's src/ folder so Python imports the repository's code directly, and runs the Python
// checks in checks/ against the Miniflare bindings as `env`, through the same FFI a Python Worker uses.
//
//   node harness.mjs [MODULE | MODULE::CHECK ...]
//   node harness.mjs --bench [MODULE | MODULE::CHECK ...]   (the benchmark checks in bench/)
//   node harness.mjs --serve
//
// stdout carries one JSON line per check ({"name", "ok", "traceback", "seconds"}) and a final
// {"done": true, "ran", "failed"}; everything else (Python's prints, progress) goes to stderr.
// Exit status: 0 all passed, 1 some check failed, 2 the harness could not start, 3 it timed out.
// test_workers.py runs it once per pytest session and reports each check as its own test.
//
// Miniflare runs two Workers: the harness's own worker.js (bindings, JS Durable Object classes, the
// queue consumer) and the Durable Object gateway that cap_cloudflare_do ships as package data, routed
// at */caps-gateway/* and fronting the harness's Durable Object classes (GATEWAY below). Its bearer
// token comes from the CAPS_GATEWAY_TEST_TOKEN environment variable (a random one when unset).
// `--serve` starts only Miniflare, prints {"url", "gateway"} as one JSON line on stdout, and keeps
// serving on 127.0.0.1 until stdin closes — so CPython tests can reach the gateway over real HTTP.

import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { TransactionBridge } from "../../cap_testing/src/cap_testing/harness/txn_bridge.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..", "..");
const PACKAGES = ["cap_opendal_core", "cap_cloudflare_kv", "cap_cloudflare_r2", "cap_cloudflare_queue", "cap_cloudflare_do", "cap_demo"];
const WHEELS_DIR = path.join(HERE, ".wheels");
const WHEELS_LOCK = path.join(HERE, "pyodide-wheels.lock");
// A hang guard, not a speed goal: under heavy load (2 cores, a load average of 9) one run of every
// check took over 180 s. CAP_HARNESS_TIMEOUT_S overrides it.
const TIMEOUT_MS = 1000 * Number(process.env.CAP_HARNESS_TIMEOUT_S ?? 900);

// Binding names the checks use; worker.js must agree (QUEUE_LOG is written by its queue consumer).
export const BINDINGS = {
  kv: ["KV", "QUEUE_LOG", "FLOW_KV"], // FLOW_KV: cap_cloudflare_kv's checks only (they list it)
  r2: ["BUCKET"],
  durableObjects: { COUNTER: "Counter", DO_PROBE: "StorageProbe", DEDUPE: "DedupeLedger" },
  queueProducers: { QUEUE: "cap-queue", DIFF_QUEUE: "cap-diff" },
};

// The queue consumer differential (checks/check_queue_differential.py): Miniflare's real broker for
// "cap-diff" (batching, retries, max_retries, the dead-letter queue "cap-diff-dlq"); worker.js hands
// each batch to QUEUE_DIFF_CONSUMER, a service binding answered here by the Python handler the check
// registers in env.CAPS_QUEUE_DIFF.handler. The check holds the same settings (it asserts them).
export const QUEUE_DIFF = {
  queue: "cap-diff",
  deadLetterQueue: "cap-diff-dlq",
  consumer: { maxBatchSize: 4, maxBatchTimeout: 0, maxRetries: 3, deadLetterQueue: "cap-diff-dlq" },
  deadLetterConsumer: { maxBatchSize: 10, maxBatchTimeout: 0 },
};
const queueDiff = { handler: null, settings: QUEUE_DIFF };

// StorageProbe's storage.transaction for the checks: the object runs the transaction and asks here
// (the CAPS_TXN service binding) for each call the Python block makes; checks reach the probe's
// storage as a Python object's ctx.storage through env.CAPS_TXN_BRIDGE.storage(handle, stub).
const transactions = new TransactionBridge();
const transactionService = async (request) => Response.json(await transactions.answer(await request.json()));

// The service behind QUEUE_DIFF_CONSUMER: rebuilds the batch worker.js sent (bodies, ids, attempts,
// timestamps) as a JS MessageBatch whose ack/retry/ackAll/retryAll calls are recorded, runs the Python
// handler on it, and answers the calls (worker.js applies them to the real messages, in order) and
// the class of the error the handler raised, if any (worker.js then throws, as the handler would).
async function queueDiffService(request) {
  if (typeof queueDiff.handler !== "function") return new Response("no queue handler registered", { status: 503 });
  const { queue, messages } = await request.json();
  const calls = [];
  const batch = {
    queue,
    messages: messages.map(({ id, timestamp, attempts, body }) => ({
      id,
      attempts,
      timestamp: new Date(timestamp),
      body: body.bytes !== undefined ? new Uint8Array(body.bytes).buffer : body.value,
      ack() {
        calls.push(["ack", id]);
      },
      retry(options) {
        calls.push(["retry", id, options?.delaySeconds ?? null]);
      },
    })),
    ackAll() {
      calls.push(["ackAll"]);
    },
    retryAll(options) {
      calls.push(["retryAll", options?.delaySeconds ?? null]);
    },
  };
  const raised = await queueDiff.handler(batch);
  return Response.json({ calls, raised: raised ?? null });
}

// Counting JS<->Python crossings (checks/check_crossings.py). `env.CAPS_CROSSINGS.counter()` gives a
// counter whose `wrap(binding, name)` hands back the binding behind a Proxy membrane that logs, as
// "<op> <path>", each operation made on the binding or on any object or function reached from it
// (results, resolved promises, functions): a property read ("get"), an `in` test ("has"), a
// property descriptor read ("descriptor"), a key listing ("keys") and a call ("call") — under
// Miniflare each operation on a remote object is a round trip to workerd, in a deployed Worker each
// read from Python is a trip through Pyodide's FFI. Two kinds of work count once each, as Python pays
// for them with one FFI call: an object entering Python ("enter": Pyodide probes its type, reading
// then, next, size, length, get … on it) and an object converted by `to_py()` ("convert", one per
// object converted). Reads of `then` (promise resolution) and of symbols are not counted; buffers and
// Dates pass unwrapped (Python copies them out in one call). `take()` returns the log since the last
// take and starts a new one. Streams pass unwrapped too (a body's count ends at reading `body`): a
// stream is local to Node under Miniflare, and how many calls reading it takes is the stream's own.
export function crossingCounter() {
  const targets = new WeakMap(); // membrane proxy -> the real object
  const proxies = new WeakMap(); // real object -> its membrane proxy
  let log = [];
  const note = (op, path) => log.push(`${op} ${path}`);
  // which Pyodide work a trap runs under, from the JS stack: its type probe or a to_py() conversion
  // (function names of Pyodide 0.28; were they renamed, every probe read would count and
  // checks/check_crossings.py would fail with the log showing it)
  const inside = () => {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 64; // deep enough to see the probe or the converter under nested objects
    const stack = new Error().stack ?? "";
    Error.stackTraceLimit = limit;
    if (stack.includes("JsProxy_compute_typeflags")) return "enter";
    if (stack.includes("js2python_convert")) return "convert";
    return null;
  };
  const unwrap = (value) =>
    (value !== null && typeof value === "object") || typeof value === "function" ? (targets.get(value) ?? value) : value;
  const isData = (value) =>
    ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof Date || value instanceof ReadableStream;
  function wrap(value, path) {
    if (value === null || (typeof value !== "object" && typeof value !== "function")) return value;
    if (targets.has(value) || isData(value)) return value;
    if (value instanceof Promise) return value.then((resolved) => wrap(resolved, path));
    const known = proxies.get(value);
    if (known !== undefined) return known;
    const count = (op, key) => {
      if (inside() === null) note(op, key === undefined ? path : `${path}.${String(key)}`);
    };
    const proxy = new Proxy(value, {
      get(target, key) {
        const result = Reflect.get(target, key);
        if (typeof key === "symbol" || key === "then") return result;
        if (key === "constructor") {
          // the first read of Pyodide's type probe as the object enters Python; never wrapped
          if (inside() === "enter") note("enter", path);
          return result;
        }
        count("get", key);
        return wrap(result, `${path}.${key}`);
      },
      has(target, key) {
        if (typeof key !== "symbol") count("has", key);
        return Reflect.has(target, key);
      },
      ownKeys(target) {
        const work = inside();
        if (work !== "enter") note(work === "convert" ? "convert" : "keys", path);
        return Reflect.ownKeys(target);
      },
      getOwnPropertyDescriptor(target, key) {
        if (typeof key !== "symbol") count("descriptor", key);
        return Reflect.getOwnPropertyDescriptor(target, key);
      },
      apply(target, self, args) {
        note("call", `${path}()`);
        return wrap(Reflect.apply(target, unwrap(self), args.map(unwrap)), `${path}()`);
      },
      construct(target, args) {
        note("new", path);
        return wrap(Reflect.construct(target, args.map(unwrap)), `new ${path}`);
      },
    });
    targets.set(proxy, value);
    proxies.set(value, proxy);
    return proxy;
  }
  return {
    wrap: (binding, name = "binding") => wrap(binding, name),
    take() {
      const taken = log;
      log = [];
      return taken;
    },
  };
}
const crossings = { counter: crossingCounter };

// The Durable Object gateway Worker (cap_cloudflare_do's package data), run next to worker.js.
export const GATEWAY = {
  script: path.join(ROOT, "cap_cloudflare_do", "src", "cap_cloudflare_do", "gateway", "worker.js"),
  route: "caps-gateway",
  // the Durable Object bindings it fronts (classes defined in worker.js)
  bindings: ["COUNTER"],
  token: process.env.CAPS_GATEWAY_TEST_TOKEN || randomBytes(24).toString("hex"),
};
const HARNESS_WORKER = "harness";
const COMPATIBILITY_DATE = "2026-04-01";

function die(message, code = 2) {
  process.stderr.write(`harness: ${message}\n`);
  process.exit(code);
}

function log(message) {
  process.stderr.write(`harness: ${message}\n`);
}

// The wheels the lock pins, found in .wheels/ (./dev test downloads them there, hash-checked).
function lockedWheels() {
  if (!existsSync(WHEELS_LOCK)) die(`missing ${WHEELS_LOCK}`);
  const pins = [...readFileSync(WHEELS_LOCK, "utf8").matchAll(/^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)/gm)];
  const files = existsSync(WHEELS_DIR) ? readdirSync(WHEELS_DIR) : [];
  return pins.map(([, name, version]) => {
    const prefix = `${name.replace(/[-_.]+/g, "_")}-${version}-`.toLowerCase();
    const file = files.find((f) => f.toLowerCase().startsWith(prefix) && f.endsWith(".whl"));
    if (!file) die(`wheel ${name}==${version} is missing from tests/workers/.wheels/; run ./dev test (it downloads them)`);
    return path.join(WHEELS_DIR, file);
  });
}

async function importNodeSide() {
  try {
    const { Miniflare } = await import("miniflare");
    const { loadPyodide } = await import("pyodide");
    return { Miniflare, loadPyodide };
  } catch (error) {
    die(`cannot load miniflare/pyodide from tests/workers/node_modules (${error.message}); run ./dev test (it runs npm ci)`);
  }
}

function harnessWorker() {
  return {
    name: HARNESS_WORKER,
    modules: true,
    scriptPath: path.join(HERE, "worker.js"),
    modulesRoot: ROOT, // worker.js imports cap_testing's txn_bridge.mjs
    compatibilityDate: COMPATIBILITY_DATE,
    kvNamespaces: BINDINGS.kv,
    r2Buckets: BINDINGS.r2,
    durableObjects: Object.fromEntries(
      Object.entries(BINDINGS.durableObjects).map(([name, className]) => [name, { className, useSQLite: true }]),
    ),
    queueProducers: BINDINGS.queueProducers,
    queueConsumers: {
      "cap-queue": { maxBatchSize: 10, maxBatchTimeout: 0 },
      [QUEUE_DIFF.queue]: QUEUE_DIFF.consumer,
      [QUEUE_DIFF.deadLetterQueue]: QUEUE_DIFF.deadLetterConsumer,
    },
    serviceBindings: { QUEUE_DIFF_CONSUMER: queueDiffService, CAPS_TXN: transactionService },
  };
}

function gatewayWorker() {
  if (!existsSync(GATEWAY.script)) die(`missing the gateway Worker ${GATEWAY.script}`);
  return {
    name: "caps-do-gateway",
    modules: true,
    scriptPath: GATEWAY.script,
    modulesRoot: path.dirname(GATEWAY.script), // it lives outside tests/workers
    compatibilityDate: COMPATIBILITY_DATE,
    routes: [`*/${GATEWAY.route}/*`],
    bindings: { CAPS_GATEWAY_TOKEN: GATEWAY.token, CAPS_GATEWAY_BINDINGS: GATEWAY.bindings.join(",") },
    durableObjects: Object.fromEntries(
      GATEWAY.bindings.map((name) => [
        name,
        { className: BINDINGS.durableObjects[name], scriptName: HARNESS_WORKER, useSQLite: true },
      ]),
    ),
  };
}

async function startMiniflare(Miniflare) {
  // the first worker is the entry point; the gateway answers only on its route
  const mf = new Miniflare({ host: "127.0.0.1", port: 0, workers: [harnessWorker(), gatewayWorker()] });
  const url = await mf.ready;
  const env = {};
  for (const name of BINDINGS.kv) env[name] = await mf.getKVNamespace(name);
  for (const name of BINDINGS.r2) env[name] = await mf.getR2Bucket(name);
  for (const name of Object.keys(BINDINGS.durableObjects)) env[name] = await mf.getDurableObjectNamespace(name);
  for (const name of Object.keys(BINDINGS.queueProducers)) env[name] = await mf.getQueueProducer(name);
  // Not bindings: how checks reach the gateway Worker through Miniflare's dispatchFetch.
  env.CAPS_GATEWAY_URL = new URL(`/${GATEWAY.route}`, url).href;
  env.CAPS_GATEWAY_TOKEN = GATEWAY.token;
  env.CAPS_GATEWAY_FETCH = (input, init) => mf.dispatchFetch(input, init);
  // Not a binding: where checks/check_queue_differential.py registers its Python queue handler.
  env.CAPS_QUEUE_DIFF = queueDiff;
  // Not a binding: StorageProbe's storage as a Python object's ctx.storage (with transaction()).
  env.CAPS_TXN_BRIDGE = transactions;
  // Not a binding: counts the crossings a capability call makes on a binding (checks/check_crossings.py).
  env.CAPS_CROSSINGS = crossings;
  // Not a binding: the sizes benchmarks/run_all.py asks of bench/check_bench_workers.py (JSON).
  if (process.env.CAP_BENCH_WORKERS) env.CAP_BENCH_WORKERS = process.env.CAP_BENCH_WORKERS;
  if (process.env.CAP_DIFF_SEED) env.CAP_DIFF_SEED = process.env.CAP_DIFF_SEED; // differential checks: the seed to run
  return { mf, env, url };
}

// --serve: Miniflare alone, until stdin closes (the CPython side holds the pipe).
async function serve(Miniflare) {
  const { mf, url } = await startMiniflare(Miniflare);
  process.stdout.write(`${JSON.stringify({ url: url.href, gateway: new URL(`/${GATEWAY.route}`, url).href })}\n`);
  await new Promise((resolve) => {
    process.stdin.on("end", resolve);
    process.stdin.on("close", resolve);
    process.stdin.resume();
  });
  await mf.dispose();
  return 0;
}

async function startPyodide(loadPyodide, wheels) {
  const toStderr = (line) => process.stderr.write(`${line}\n`);
  const pyodide = await loadPyodide({
    indexURL: path.join(HERE, "node_modules", "pyodide"),
    stdout: toStderr,
    stderr: toStderr,
  });
  const sitePackages = pyodide.runPython("import sysconfig; sysconfig.get_path('purelib')");
  for (const wheel of wheels) {
    // a Node Buffer is rejected: hand Pyodide a plain Uint8Array
    pyodide.unpackArchive(new Uint8Array(readFileSync(wheel)), "wheel", { extractDir: sitePackages });
  }
  // the stand-ins cap-testing ships for what Pyodide under Node lacks (one copy for both harnesses)
  pyodide.FS.mkdirTree("/cap/stubs");
  pyodide.mountNodeFS("/cap/stubs", path.join(ROOT, "cap_testing", "src", "cap_testing", "harness", "stubs"));
  const paths = ["/cap/stubs"];
  for (const pkg of PACKAGES) {
    const mount = `/cap/src/${pkg}`;
    pyodide.FS.mkdirTree(mount);
    pyodide.mountNodeFS(mount, path.join(ROOT, pkg, "src"));
    paths.push(mount);
  }
  // The reference Worker's own modules (examples/workers_host/src), for checks/check_demo_flow.py.
  const workersHost = path.join(ROOT, "examples", "workers_host", "src");
  if (existsSync(workersHost)) {
    pyodide.FS.mkdirTree("/cap/examples/workers_host");
    pyodide.mountNodeFS("/cap/examples/workers_host", workersHost);
    paths.push("/cap/examples/workers_host");
  }
  pyodide.FS.mkdirTree("/cap/harness");
  pyodide.mountNodeFS("/cap/harness", HERE);
  paths.push("/cap/harness/checks", "/cap/harness");
  paths.push("/cap/harness/bench"); // the benchmark checks (--bench)

  pyodide.runPython("import sys; sys.dont_write_bytecode = True; sys.path.insert(0, '/cap/harness')");
  const runner = pyodide.pyimport("runner");
  runner.prepare(pyodide.toPy(paths));
  const pyprojects = Object.fromEntries(
    PACKAGES.map((pkg) => [pkg, readFileSync(path.join(ROOT, pkg, "pyproject.toml"), "utf8")]),
  );
  runner.write_dist_info(sitePackages, pyodide.toPy(pyprojects));
  return { pyodide, runner };
}

async function main() {
  const only = process.argv.slice(2);
  // --bench: run the benchmark checks in bench/ (benchmarks/run_all.py) instead of checks/
  const checksDir = only.includes("--bench") ? "/cap/harness/bench" : "/cap/harness/checks";
  if (only.includes("--serve")) {
    const { Miniflare } = await importNodeSide();
    return serve(Miniflare);
  }
  const started = Date.now();
  const wheels = lockedWheels();
  const { Miniflare, loadPyodide } = await importNodeSide();
  setTimeout(() => die(`timed out after ${TIMEOUT_MS / 1000} s`, 3), TIMEOUT_MS).unref();

  const { mf, env } = await startMiniflare(Miniflare);
  log(`miniflare ready after ${Date.now() - started} ms`);
  let failed;
  try {
    const { pyodide, runner } = await startPyodide(loadPyodide, wheels);
    log(`pyodide ${pyodide.version} ready after ${Date.now() - started} ms`);
    const report = (line) => process.stdout.write(`${line}\n`);
    failed = await runner.run_checks(env, checksDir, report, pyodide.toPy(only.filter((a) => a !== "--bench")));
  } finally {
    await mf.dispose();
  }
  log(`${failed ? `${failed} check(s) failed` : "all checks passed"} after ${Date.now() - started} ms`);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error) => die(`crashed: ${error?.stack ?? error}`),
);
