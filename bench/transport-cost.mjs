#!/usr/bin/env node
// The cost of encryption on the wire: the same transfers with and without a token (TLS 1.3 PSK).
//   node bench/transport-cost.mjs FILE [runs]     (needs `npm run build`)
// 1. channel: 256 MiB in 4 MiB frames over one loopback connection, plain vs TLS (wall, MB/s, CPU).
// 2. run: `coordinator --transport bytes` + 2 workers on loopback over FILE, plain vs --token.
// Prints a markdown table and the JSON on the last line (bench.mjs reads it).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'bin', 'salesgrid.js');
const { listen, connect } = await import(join(ROOT, 'dist', 'protocol', 'socket-channel.js'));
const { serverSecurity, clientSecurity } = await import(join(ROOT, 'dist', 'protocol', 'tls-security.js'));

const MiB = 1024 * 1024;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const cpuMs = (u) => (u.user + u.system) / 1000;

/** One process sends `total` bytes in frames of `frame` to itself through loopback; CPU covers both ends. */
async function channelRun(secure, total = 256 * MiB, frame = 4 * MiB) {
  const token = 'bench-token';
  const listener = await listen('127.0.0.1', 0, 64 * MiB, secure ? serverSecurity(token) : undefined);
  let received = 0;
  const done = new Promise((resolveDone) => {
    listener.accept((ch) => {
      ch.onMessage((m) => {
        received += m.data.length;
        if (received >= total) resolveDone();
      });
    });
  });
  const client = await connect(
    '127.0.0.1',
    listener.port,
    64 * MiB,
    secure ? clientSecurity(token) : undefined,
  );
  const payload = Buffer.alloc(frame, 0x61);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const { encodeTaskParts } = await import(join(ROOT, 'dist', 'protocol', 'messages.js'));
  let sent = 0;
  let i = 0;
  await new Promise((resolveSent) => {
    const pump = () => {
      // At most 2 frames in flight, like a worker's slots.
      while (sent < total && sent - received < 2 * frame) {
        client.sendParts(encodeTaskParts({ type: 'task', chunkId: i++, attempt: 1 }, payload));
        sent += frame;
      }
      if (sent >= total) resolveSent();
      else setImmediate(pump);
    };
    pump();
  });
  await done;
  const wallMs = performance.now() - t0;
  const cpu = cpuMs(process.cpuUsage(cpu0));
  client.destroy();
  await listener.close();
  return { wallMs, mbPerS: total / 1e6 / (wallMs / 1000), cpuMs: cpu };
}

function freePort() {
  return new Promise((r) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => r(p));
    });
  });
}

function proc(args, env = {}) {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  return new Promise((r) => child.on('close', (code) => r({ code, out, err })));
}

async function endToEnd(file, secure) {
  const dir = mkdtempSync(join(os.tmpdir(), 'sg-transport-'));
  const port = String(await freePort());
  const env = { SALESGRID_TOKEN: secure ? 'bench-token' : '' };
  const t0 = performance.now();
  const c = proc(
    [
      'coordinator',
      file,
      '--port',
      port,
      '--db',
      join(dir, 'r.db'),
      '--transport',
      'bytes',
      '--json',
      '--quiet',
    ],
    env,
  );
  const workers = [1, 2].map((n) =>
    proc(['worker', '--connect', `127.0.0.1:${port}`, '--id', `w${n}`, '--quiet'], env),
  );
  const res = await c;
  const wallMs = performance.now() - t0;
  await Promise.all(workers);
  rmSync(dir, { recursive: true, force: true });
  if (res.code !== 0) throw new Error(`coordinator failed: ${res.err}`);
  const s = JSON.parse(res.out);
  const u = (x) => (x ? x.userMs + x.systemMs : 0);
  return {
    wallMs,
    mbPerS: statSync(file).size / 1e6 / (wallMs / 1000),
    coordCpuMs: u(s.coordinatorUsage),
    workersCpuMs: s.workers.reduce((a, w) => a + u(w.usage), 0),
  };
}

const file = process.argv[2];
const runs = Number(process.argv[3] ?? 3);
if (!file) {
  console.error('usage: node bench/transport-cost.mjs FILE [runs]');
  process.exit(2);
}
const rows = [];
for (const [what, fn] of [
  ['channel, 256 MiB in 4 MiB frames', (s) => channelRun(s)],
  [
    `run --transport bytes, 2 workers, ${(statSync(file).size / 1e6).toFixed(0)} MB`,
    (s) => endToEnd(file, s),
  ],
]) {
  const res = { plain: [], tls: [] };
  for (let r = 0; r < runs; r++) {
    for (const secure of r % 2 === 0 ? [false, true] : [true, false])
      res[secure ? 'tls' : 'plain'].push(await fn(secure));
  }
  const pick = (xs, k) => median(xs.map((x) => x[k]));
  const cpu = (xs) => median(xs.map((x) => x.cpuMs ?? x.coordCpuMs + x.workersCpuMs));
  rows.push({
    what,
    plain: { wallMs: pick(res.plain, 'wallMs'), mbPerS: pick(res.plain, 'mbPerS'), cpuMs: cpu(res.plain) },
    tls: { wallMs: pick(res.tls, 'wallMs'), mbPerS: pick(res.tls, 'mbPerS'), cpuMs: cpu(res.tls) },
  });
}
console.log(
  `| transfer (medians of ${runs}) | plain wall | plain MB/s | plain CPU | TLS wall | TLS MB/s | TLS CPU | wall × |`,
);
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  const s = (ms) => `${(ms / 1000).toFixed(2)} s`;
  console.log(
    `| ${r.what} | ${s(r.plain.wallMs)} | ${r.plain.mbPerS.toFixed(0)} | ${s(r.plain.cpuMs)} | ${s(r.tls.wallMs)} | ${r.tls.mbPerS.toFixed(0)} | ${s(r.tls.cpuMs)} | ${(r.tls.wallMs / r.plain.wallMs).toFixed(2)} |`,
  );
}
console.log(JSON.stringify({ transportCost: rows }));
