// Type-checks the README's code blocks that are complete programs (every ```ts block that imports
// bulwark) against the package's sources, so the guide cannot drift from the API.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]).filter((code) => /from 'bulwark(\/[a-z]+)?'/.test(code));
if (blocks.length === 0) throw new Error('README.md has no ```ts block that imports bulwark');

const dir = join(root, '.tmp', 'readme-check');
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const files = blocks.map((code, i) => {
  const file = `block${i + 1}.ts`;
  // Each block is its own module.
  writeFileSync(join(dir, file), /^(import|export) /m.test(code) ? code : `${code}\nexport {};\n`);
  return file;
});
const source = (path) => join(root, path);
writeFileSync(
  join(dir, 'tsconfig.json'),
  JSON.stringify({
    compilerOptions: {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      strict: true,
      noEmit: true,
      experimentalDecorators: true,
      skipLibCheck: true,
      types: ['node'],
      typeRoots: [join(root, 'node_modules/@types')],
      lib: ['ES2023', 'DOM'],
      paths: {
        bulwark: [source('src/index.ts')],
        'bulwark/express': [source('adapters/express.ts')],
        'bulwark/koa': [source('adapters/koa.ts')],
        'bulwark/fetch': [source('adapters/fetch.ts')],
        'bulwark/redis': [source('src/stores/redis/index.ts')],
        'bulwark/fastify': [source('adapters/fastify.ts')],
        'bulwark/hono': [source('adapters/hono.ts')],
        'bulwark/postgres': [source('src/stores/postgres/index.ts')],
        'bulwark/client': [source('src/client/index.ts')],
        'bulwark/testing': [source('src/testing/index.ts')],
        'bulwark/otel': [source('src/otel/index.ts')],
      },
    },
    files,
  }),
);
try {
  execFileSync(join(root, 'node_modules/.bin/tsc'), ['-p', join(dir, 'tsconfig.json')], { stdio: 'inherit' });
} catch {
  console.error(`README code blocks failed to type-check (files in ${dir})`);
  process.exit(1);
}
console.log(`README: ${blocks.length} code blocks type-check against the sources`);
rmSync(dir, { recursive: true, force: true });
