// Runs before the test suite: makes sure a Redis answers, starting a local one when none does.
// The Redis suites themselves fail with one line on how to provide Redis if it is still missing.
import { spawnSync } from 'node:child_process';
import net from 'node:net';

const url = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const host = url.hostname || '127.0.0.1';
const port = Number(url.port || 6379);

function ping() {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

if (await ping()) {
  console.log(`redis: answering at ${host}:${port}`);
} else if (process.env.REDIS_URL) {
  console.log(`redis: nothing answers at REDIS_URL=${process.env.REDIS_URL}; the Redis suites will fail until it does`);
} else {
  const started = spawnSync('redis-server', ['--daemonize', 'yes', '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1', '--port', String(port)], {
    stdio: 'ignore',
  });
  let ok = false;
  for (let i = 0; i < 50 && started.status === 0 && !ok; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    ok = await ping();
  }
  console.log(
    ok
      ? `redis: started redis-server on ${host}:${port}`
      : 'redis: could not start redis-server (install it, e.g. apt-get install redis-server, or set REDIS_URL); the Redis suites will fail',
  );
}
