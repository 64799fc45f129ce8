// The JS side of the Workers harness: what a Python Worker cannot provide here (workerd cannot
// start Python offline) but the checks need to talk to — a Durable Object class with RPC methods
// and a queue consumer. The consumer records every message it receives into the QUEUE_LOG KV
// namespace so Python can read back what arrived.
import { DurableObject } from "cloudflare:workers";

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

export default {
  async fetch() {
    return new Response("cap-* workers harness");
  },

  async queue(batch, env) {
    for (const message of batch.messages) {
      await env.QUEUE_LOG.put(
        `${batch.queue}/${message.id}`,
        JSON.stringify({ body: message.body, attempts: message.attempts }),
      );
      message.ack();
    }
  },
};
