import { DEFAULT_MAX_BODY_BYTES } from './read-limited.js';
import type { RequestBody, RequestView } from './types.js';

/**
 * The parts of a Node.js `IncomingMessage` that a view needs, typed structurally so that the core
 * does not depend on `node:http`.
 */
export interface NodeRequestLike {
  method?: string | undefined;
  url?: string | undefined;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  socket: { remoteAddress?: string | undefined } | null;
}

/**
 * The neutral view of a Node.js request (shared by the Express and Koa adapters). A class rather than
 * an object of closures: one allocation per request, and the path and query are split only when read.
 */
class NodeView<Req> implements RequestView<Req> {
  readonly method: string;
  readonly peer: string | undefined;
  #split = -2;

  constructor(
    readonly req: NodeRequestLike,
    readonly url: string,
    readonly request: Req,
    readonly readBody: (request: Req, maxBytes: number) => RequestBody | Promise<RequestBody>,
  ) {
    this.method = req.method ?? 'GET';
    this.peer = req.socket?.remoteAddress;
  }

  get path(): string {
    if (this.#split === -2) this.#split = this.url.indexOf('?');
    return this.#split === -1 ? this.url : this.url.slice(0, this.#split);
  }

  get query(): string {
    if (this.#split === -2) this.#split = this.url.indexOf('?');
    return this.#split === -1 ? '' : this.url.slice(this.#split + 1);
  }

  header(name: string): string | undefined {
    const value = this.req.headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  }

  headerLines(name: string): string[] {
    return headerLines(this.req.rawHeaders, name);
  }

  body(maxBytes: number = DEFAULT_MAX_BODY_BYTES): RequestBody | Promise<RequestBody> {
    return this.readBody(this.request, maxBytes);
  }
}

/**
 * Builds the neutral view of a Node.js request (shared by the Express and Koa adapters).
 *
 * @param url the URL to report (Express's and Koa's `originalUrl`): path and query
 * @param request the framework object passed to user callbacks
 * @param body reads the body when a guard asks for it (called with `request` and the most bytes to read)
 */
export function nodeView<Req>(
  req: NodeRequestLike,
  url: string,
  request: Req,
  body: (request: Req, maxBytes: number) => RequestBody | Promise<RequestBody>,
): RequestView<Req> {
  return new NodeView(req, url, request, body);
}

/** The separate lines of one header in a `rawHeaders` array (name/value pairs). */
export function headerLines(rawHeaders: readonly string[], name: string): string[] {
  const lines: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const key = rawHeaders[i]!;
    if (key.length === name.length && key.toLowerCase() === name) lines.push(rawHeaders[i + 1]!);
  }
  return lines;
}
