import type { FastifyReply } from 'fastify';
import type { NodeResponseLike } from '../../src/guard/node-headers.js';
import { isHeaderName, isHeaderValue } from '../../src/errors/header-check.js';

/**
 * A Fastify reply seen as the Node.js response `writeNodeHeaders` writes to: the headers go through the
 * reply (so that they meet those of other plugins and the route, which Fastify keeps on the reply until
 * it writes the head), and a name or value Node.js would refuse throws here, as `setHeader` does, rather
 * than when Fastify writes the head. @internal
 */
export function replyHeaders(reply: FastifyReply): NodeResponseLike {
  return {
    hasHeader: (name) => reply.hasHeader(name),
    getHeaders: () => reply.getHeaders() as Record<string, number | string | readonly string[] | undefined>,
    setHeader(name, value) {
      check(name, value);
      reply.removeHeader(name);
      reply.header(name, value);
    },
    appendHeader(name, value) {
      check(name, value);
      const lower = name.toLowerCase();
      const before = reply.getHeader(lower);
      // Fastify appends Set-Cookie itself; any other name it replaces, so the list is written whole.
      if (lower === 'set-cookie' || before === undefined) reply.header(lower, value);
      else reply.header(lower, [...(Array.isArray(before) ? before : [String(before)]), value]);
    },
  };
}

function check(name: string, value: string): void {
  if (!isHeaderName(name) || !isHeaderValue(value)) throw new TypeError(`invalid header ${JSON.stringify(name)}`);
}
