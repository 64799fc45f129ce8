// cap-cloudflare-do gateway: lets a server reach Durable Objects, which have no REST API.
//
// Deploy this module as its own Worker (or import its default export into yours). It fronts the
// Durable Object namespaces named in the CAPS_GATEWAY_BINDINGS variable (comma-separated binding
// names) and nothing else. Every request must carry `Authorization: Bearer <CAPS_GATEWAY_TOKEN>`
// (a Worker secret); the token is compared in constant time, and a request without the right token
// gets the same 401 whatever else it got wrong, so it learns nothing about routes or bindings.
// A CAPS_GATEWAY_TOKEN secret that no request could ever match — unset, empty, or with whitespace or
// control characters (a pasted trailing newline; HTTP trims header values, so such a token can never
// arrive intact) — is a misconfiguration, not a wrong token: every request then gets 503
// {"error": {"code": "gateway_misconfigured", ...}} and the Worker's log says what is wrong with the
// secret, never what it holds.
//
// Routes (POST, JSON bodies; the path may have any prefix, the last two segments decide):
//   {prefix}/{BINDING}/rpc    {"target": {"name": s} | {"id": hex}, "method": "m", "args": [...]}
//                             -> 200 {"result": value}
//   {prefix}/{BINDING}/fetch  {"target": ..., "url": s, "method": s, "headers": [[k, v]...],
//                              "body": base64 | null}
//                             -> the object's own response, marked `x-caps-gateway-origin: object`
//   {prefix}/{BINDING}/id     {"name": s} | {"unique": true, "jurisdiction": s?} -> 200 {"id": hex}
// Gateway errors are JSON {"error": {"code", "message", ...}} marked `x-caps-gateway-origin: gateway`.
//
// Values travel as "tagged JSON" (the same encoding cap_cloudflare_do.codec uses): plain JSON plus
// {"$b": base64} bytes, {"$d": ISO-8601} dates (whole milliseconds, as toISOString writes them), {"$f": "NaN"|"Infinity"|"-Infinity"} floats,
// {"$i": "digits"} integers beyond 2**53, and {"$o": {...}} for an object whose only key is a tag.

const ORIGIN_HEADER = "x-caps-gateway-origin";
const ROUTE = /\/([A-Za-z_][A-Za-z0-9_]*)\/(rpc|fetch|id)\/?$/;
const METHOD_NAME = /^[A-Za-z][A-Za-z0-9_$]*$/;
const HEX_ID = /^[0-9a-fA-F]{64}$/;
const TAGS = new Set(["$b", "$d", "$f", "$i", "$o"]);
// Names a Durable Object answers outside RPC, or that RPC itself reserves.
const RESERVED = new Set([
  "fetch", "alarm", "constructor", "connect", "dup", "then",
  "webSocketMessage", "webSocketClose", "webSocketError",
]);
const UNAUTHORIZED_BODY = JSON.stringify({ error: { code: "unauthorized", message: "unauthorized" } });

export default {
  async fetch(request, env) {
    const problem = tokenProblem(env.CAPS_GATEWAY_TOKEN);
    if (problem !== null) {
      await drain(request);
      reportMisconfiguration(problem);
      return fail(503, "gateway_misconfigured", MISCONFIGURED_MESSAGE);
    }
    if (!(await authorized(request, env))) {
      await drain(request);
      return new Response(UNAUTHORIZED_BODY, {
        status: 401,
        headers: { "content-type": "application/json", "www-authenticate": "Bearer", [ORIGIN_HEADER]: "gateway" },
      });
    }
    try {
      return await route(request, env);
    } catch (error) {
      await drain(request);
      if (error instanceof GatewayError) return error.response();
      return fail(500, "internal", `gateway error: ${describe(error)}`);
    }
  },
};

// A response sent before the request body was read can make the server drop the keep-alive
// connection under the client's next request. Small unread bodies are read and discarded; a large
// one is left (the connection closes, which is the right outcome for it anyway).
const DRAIN_LIMIT = 64 * 1024;

async function drain(request) {
  if (request.bodyUsed || !request.body) return;
  const length = Number(request.headers.get("content-length") ?? Number.NaN);
  if (!(length <= DRAIN_LIMIT)) return;
  try {
    await request.arrayBuffer();
  } catch {
    // nothing to do: the body is gone either way
  }
}

class GatewayError extends Error {
  constructor(status, code, message, extra = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.extra = extra;
  }

  response() {
    return fail(this.status, this.code, this.message, this.extra);
  }
}

function fail(status, code, message, extra = {}) {
  return new Response(JSON.stringify({ error: { code, message, ...extra } }), {
    status,
    headers: { "content-type": "application/json", [ORIGIN_HEADER]: "gateway" },
  });
}

function describe(error) {
  if (error && typeof error === "object" && "message" in error) {
    return error.name ? `${error.name}: ${error.message}` : String(error.message);
  }
  return String(error);
}

// --- authentication --------------------------------------------------------------------------------

// One random key per isolate, shared as a promise so concurrent first requests agree on it.
let hmacKey;

async function digest(text) {
  hmacKey ??= crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", await hmacKey, new TextEncoder().encode(text)));
}

function equalInConstantTime(a, b) {
  if (typeof crypto.subtle.timingSafeEqual === "function") return crypto.subtle.timingSafeEqual(a, b);
  let difference = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) difference |= a[i] ^ b[i % b.length];
  return difference === 0;
}

const MISCONFIGURED_MESSAGE =
  "the gateway's CAPS_GATEWAY_TOKEN secret cannot match any request (see the Worker's log); " +
  "every request is refused until it is set again";

// What makes the secret unusable, in words that say nothing about its value; null when it is fine.
function tokenProblem(token) {
  if (token === undefined || token === null) return "is not set";
  if (typeof token !== "string") return "is not a string";
  if (token.length === 0) return "is empty";
  if (/[\r\n]\s*$/.test(token)) return "ends with a line break (pasted with a trailing newline?)";
  if (/\s$/.test(token)) return "ends with whitespace";
  if (/^\s/.test(token)) return "starts with whitespace";
  if (/[\s\x00-\x1f\x7f]/.test(token)) return "contains whitespace or a control character";
  return null;
}

// Logged once per isolate and reason: enough for `wrangler tail`, without flooding it.
const reported = new Set();

function reportMisconfiguration(problem) {
  if (reported.has(problem)) return;
  reported.add(problem);
  console.error(
    `cap-cloudflare-do gateway: misconfigured: the CAPS_GATEWAY_TOKEN secret ${problem}; ` +
      "refusing every request with 503 gateway_misconfigured — set it again without the stray characters",
  );
}

async function authorized(request, env) {
  const expected = env.CAPS_GATEWAY_TOKEN;
  const header = request.headers.get("authorization") ?? "";
  const match = /^Bearer[ ]+(.+)$/i.exec(header);
  const presented = match ? match[1].trim() : "";
  // Digests have the same length whatever was presented, so neither length nor content leaks.
  const [a, b] = await Promise.all([digest(presented), digest(expected)]);
  return equalInConstantTime(a, b);
}

// --- routing -----------------------------------------------------------------------------------------

async function route(request, env) {
  const url = new URL(request.url);
  const matched = ROUTE.exec(url.pathname);
  if (!matched) throw new GatewayError(404, "not_found", `no route ${url.pathname}; expected …/{BINDING}/rpc|fetch|id`);
  if (request.method !== "POST") throw new GatewayError(405, "method_not_allowed", "use POST");
  const [, binding, action] = matched;
  const namespace = frontedNamespace(env, binding);
  let body;
  try {
    body = await request.json();
  } catch {
    throw new GatewayError(400, "invalid_input", "the request body must be a JSON object");
  }
  if (!body || typeof body !== "object" || Array.isArray(body)) {
    throw new GatewayError(400, "invalid_input", "the request body must be a JSON object");
  }
  if (action === "id") return resolveId(namespace, body);
  const stub = stubFor(namespace, body.target);
  return action === "rpc" ? rpc(stub, body) : forwardFetch(stub, body);
}

function frontedNamespace(env, binding) {
  const fronted = String(env.CAPS_GATEWAY_BINDINGS ?? "")
    .split(",")
    .map((name) => name.trim())
    .filter(Boolean);
  const namespace = fronted.includes(binding) ? env[binding] : undefined;
  if (!namespace || typeof namespace.idFromName !== "function") {
    throw new GatewayError(403, "forbidden", `binding ${binding} is not fronted by this gateway`);
  }
  return namespace;
}

function stubFor(namespace, target) {
  if (target && typeof target === "object") {
    if (typeof target.name === "string" && !("id" in target)) {
      return typeof namespace.getByName === "function"
        ? namespace.getByName(target.name)
        : namespace.get(namespace.idFromName(target.name));
    }
    if (typeof target.id === "string" && !("name" in target)) {
      if (!HEX_ID.test(target.id)) throw new GatewayError(400, "invalid_input", "target.id must be 64 hex characters");
      let id;
      try {
        id = namespace.idFromString(target.id.toLowerCase());
      } catch (error) {
        throw new GatewayError(400, "invalid_input", `target.id is not an id of this namespace: ${describe(error)}`);
      }
      return namespace.get(id);
    }
  }
  throw new GatewayError(400, "invalid_input", 'target must be {"name": string} or {"id": hex}');
}

async function resolveId(namespace, body) {
  let id;
  if (typeof body.name === "string" && body.unique === undefined) {
    id = namespace.idFromName(body.name);
  } else if (body.unique === true && body.name === undefined) {
    const options = body.jurisdiction === undefined ? undefined : { jurisdiction: String(body.jurisdiction) };
    try {
      id = namespace.newUniqueId(options);
    } catch (error) {
      throw new GatewayError(400, "invalid_input", describe(error));
    }
  } else {
    throw new GatewayError(400, "invalid_input", 'give {"name": string} or {"unique": true}');
  }
  return Response.json({ id: id.toString() }, { headers: { [ORIGIN_HEADER]: "gateway" } });
}

async function rpc(stub, body) {
  const { method, args = [] } = body;
  if (typeof method !== "string" || !METHOD_NAME.test(method) || RESERVED.has(method)) {
    throw new GatewayError(400, "invalid_input", "method must be a public method name of the object");
  }
  if (!Array.isArray(args)) throw new GatewayError(400, "invalid_input", "args must be an array");
  let decoded;
  try {
    decoded = args.map(decode);
  } catch (error) {
    throw new GatewayError(400, "invalid_input", `args: ${describe(error)}`);
  }
  let result;
  try {
    result = await stub[method](...decoded);
  } catch (error) {
    throw objectError(error);
  }
  let encoded;
  try {
    encoded = encode(result);
  } catch (error) {
    throw new GatewayError(502, "unserialisable_result", `the result of ${method} cannot be sent back: ${describe(error)}`);
  }
  return Response.json({ result: encoded }, { headers: { [ORIGIN_HEADER]: "gateway" } });
}

async function forwardFetch(stub, body) {
  const { url, method = "GET", headers = [], body: payload = null } = body;
  if (typeof url !== "string") throw new GatewayError(400, "invalid_input", "url must be a string");
  let request;
  try {
    request = new Request(url, {
      method: String(method),
      headers: new Headers(headers),
      body: payload === null ? null : base64ToBytes(payload),
    });
  } catch (error) {
    throw new GatewayError(400, "invalid_input", `bad request for the object: ${describe(error)}`);
  }
  let response;
  try {
    response = await stub.fetch(request);
  } catch (error) {
    throw objectError(error);
  }
  const forwarded = new Response(response.body, response);
  forwarded.headers.set(ORIGIN_HEADER, "object");
  return forwarded;
}

function objectError(error) {
  const extra = { name: error?.name ?? "Error", remote: true };
  if (typeof error?.retryable === "boolean") extra.retryable = error.retryable;
  if (error?.overloaded === true) extra.overloaded = true;
  if (/does not implement|not a function|method .* not found/i.test(String(error?.message))) {
    return new GatewayError(404, "not_found", describe(error), extra);
  }
  return new GatewayError(502, "object_error", describe(error), extra);
}

// --- tagged JSON -------------------------------------------------------------------------------------

function decode(value) {
  if (Array.isArray(value)) return value.map(decode);
  if (value === null || typeof value !== "object") return value;
  const keys = Object.keys(value);
  if (keys.length === 1 && TAGS.has(keys[0])) {
    const inner = value[keys[0]];
    switch (keys[0]) {
      case "$b":
        return base64ToBytes(inner);
      case "$d":
        return new Date(inner);
      case "$f":
        return Number(inner);
      case "$i":
        return BigInt(inner);
      case "$o":
        return decodeObject(inner);
    }
  }
  return decodeObject(value);
}

function decodeObject(value) {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new TypeError("$o must hold an object");
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decode(v)]));
}

function encode(value) {
  if (value === undefined || value === null) return null;
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      return Number.isFinite(value) ? value : { $f: String(value) };
    case "bigint":
      return Number.isSafeInteger(Number(value)) ? Number(value) : { $i: value.toString() };
    case "object":
      break;
    default:
      throw new TypeError(`a ${typeof value} has no tagged-JSON form`);
  }
  if (value instanceof Date) return { $d: value.toISOString() };
  if (value instanceof ArrayBuffer) return { $b: bytesToBase64(new Uint8Array(value)) };
  if (ArrayBuffer.isView(value)) return { $b: bytesToBase64(new Uint8Array(value.buffer, value.byteOffset, value.byteLength)) };
  if (Array.isArray(value) || value instanceof Set) return [...value].map(encode);
  const entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
  const out = {};
  for (const [k, v] of entries) {
    if (typeof k !== "string") throw new TypeError("object keys must be strings");
    out[k] = encode(v);
  }
  const keys = Object.keys(out);
  return keys.length === 1 && TAGS.has(keys[0]) ? { $o: out } : out;
}

function base64ToBytes(text) {
  if (typeof text !== "string") throw new TypeError("base64 data must be a string");
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function bytesToBase64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}
