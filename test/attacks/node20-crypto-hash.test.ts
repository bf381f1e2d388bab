/**
 * Attack: bulwark says it runs on Node 20 (`engines: >=20`), but src/events/channels.ts imports
 * `{ createHash, hash } from 'node:crypto'`, and `crypto.hash` only exists from Node 20.12.0. The code
 * checks `typeof hash === 'function'` for older releases, but an ES module's named import of an export
 * that does not exist is a link error: on Node 20.0 to 20.11 every ESM entry point that reaches
 * channels.ts (the package root, every adapter, the client, bulwark/otel) fails to load with
 * `SyntaxError: The requested module 'node:crypto' does not provide an export named 'hash'`.
 * (src/idempotency/hash.ts does the same check through `import * as crypto`, which loads.)
 *
 * Each entry is imported in a child process whose `node:crypto` has the exports of Node 20.11 (module
 * hooks in fixtures/: the real module, without `hash`).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const asNode2011 = fileURLToPath(new URL('./fixtures/node-20.11-crypto.mjs', import.meta.url));

/** Imports `entry` (a path from the repository root) as Node 20.11 would, and says whether it loaded. */
function loadAsNode2011(entry: string): string {
  const script = `import(${JSON.stringify(`./${entry}`)}).then(() => console.log('loaded'), (error) => console.log(String(error)))`;
  return execFileSync(process.execPath, ['--import', asNode2011, '--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: root,
    encoding: 'utf8',
    timeout: 30_000,
  }).trim();
}

describe('bulwark loads on Node 20 before 20.12 (no crypto.hash)', () => {
  it('the shim only removes hash: a module that reads crypto.hash through a namespace loads', () => {
    expect(loadAsNode2011('src/idempotency/hash.ts')).toBe('loaded');
  });

  for (const entry of ['src/index.ts', 'adapters/express.ts', 'adapters/fetch.ts', 'src/client/index.ts', 'src/otel/index.ts']) {
    it(`${entry} loads`, () => {
      expect(loadAsNode2011(entry)).toBe('loaded');
    });
  }
});
