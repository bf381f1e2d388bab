// Makes sure a Redis answers for the test suites: when REDIS_URL is unset and nothing answers PING on
// 127.0.0.1:6379, starts `redis-server --daemonize yes --save "" --appendonly no` and waits for it.
// Prints one line either way and exits 0 (the Redis suites themselves fail loudly if Redis is missing).
import { spawnSync } from 'node:child_process';
import { createConnection } from 'node:net';

const url = process.env.REDIS_URL;
const target = new URL(url || 'redis://127.0.0.1:6379');
const host = target.hostname || '127.0.0.1';
const port = Number(target.port || 6379);

function ping() {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    let reply = '';
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => {
      const auth = target.password ? `AUTH ${decodeURIComponent(target.username || 'default')} ${decodeURIComponent(target.password)}\r\n` : '';
      socket.write(`${auth}PING\r\n`);
    });
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('+PONG')) done(true);
      else if (reply.includes('-NOAUTH') || reply.includes('-ERR')) done(reply.includes('+PONG'));
    });
  });
}

const where = url ? `REDIS_URL (${target.host})` : `127.0.0.1:${port}`;
if (await ping()) {
  console.log(`ensure-redis: Redis answers at ${where}`);
} else if (url) {
  console.log(`ensure-redis: nothing answers at ${where}; the Redis suites will fail until it does`);
} else {
  const started = spawnSync('redis-server', ['--daemonize', 'yes', '--save', '', '--appendonly', 'no', '--port', String(port)], {
    stdio: 'ignore',
  });
  let ok = false;
  if (started.status === 0) {
    for (let i = 0; i < 50 && !ok; i++) {
      await new Promise((r) => setTimeout(r, 100));
      ok = await ping();
    }
  }
  console.log(
    ok
      ? `ensure-redis: started redis-server on ${where}`
      : `ensure-redis: could not start redis-server on ${where}; install redis-server or set REDIS_URL`,
  );
}
process.exit(0);
