/**
 * The same bytes as a Node.js `Buffer`, never copied: the array itself when it is one already, else a
 * Buffer over its memory. Where a response body or a captured chunk has to be a Buffer for Node.js,
 * Express or Koa.
 * @internal
 */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
