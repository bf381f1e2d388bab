import type { RequestView } from '../../src/guard/types.js';

/** A request view for unit tests: `peer` and headers as given; `request` is a plain object. */
export function view(peer: string | null = '203.0.113.7', headers: Record<string, string> = {}, extra: Record<string, unknown> = {}): RequestView<any> {
  return {
    method: 'GET',
    path: '/v1/messages',
    query: '',
    header: (name) => headers[name],
    headerLines: (name) => (headers[name] === undefined ? [] : [headers[name]!]),
    peer: peer ?? undefined,
    body: async () => ({ kind: 'none' }),
    request: { peer, headers, ...extra },
  };
}
