/**
 * The worker at the ends of a run: a coordinator that answers its hello with `done` (or refuses it
 * with E_FINISHED) because the run is over, a coordinator that falls silent, a result too large
 * for a frame, and `worker --stay` serving two runs in a row. Fake coordinators are a few lines
 * over node:net and the project's own frame codec and messages, on loopback port 0.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseWorkerOptions } from '../src/config.js';
import { channelPair } from '../src/protocol/channel.js';
import { FrameDecoder, frameHeader } from '../src/protocol/frame-codec.js';
import { decodeMessage, encodeMessage, type Message } from '../src/protocol/messages.js';
import type { ScanSpec } from '../src/scan-spec.js';
import { runWorker } from '../src/worker/run-worker.js';
import { cli, freePort, generatedFile, killAll, report, sameTotals } from './helpers/e2e.js';

const SPEC: ScanSpec = {
  delimiter: 44,
  fieldCount: 3,
  price: 1,
  quantity: 2,
  revenue: -1,
  date: -1,
  dateFormat: null,
  decimalComma: false,
  scale: 2,
  dimensions: [],
  marts: [{ name: 'Customer', index: 0 }],
  maxKeys: 1_000_000,
  names: ['Customer', 'Unit Price', 'Units Sold'],
};

interface FakeConn {
  send(msg: Message): void;
  received: Record<string, unknown>[];
  socket: net.Socket;
}

/** A fake coordinator: `onConnection` scripts each connection; `connections` counts them. */
async function fakeCoordinator(
  script: (conn: FakeConn, msg: Record<string, unknown> | null) => void,
): Promise<{ port: number; connections: () => number; close: () => void }> {
  const sockets = new Set<net.Socket>();
  let count = 0;
  const server = net.createServer((socket) => {
    count++;
    sockets.add(socket);
    const decoder = new FrameDecoder();
    const conn: FakeConn = {
      socket,
      received: [],
      send(msg) {
        const body = encodeMessage(msg);
        socket.write(Buffer.concat([frameHeader(body.length), body]));
      },
    };
    socket.on('data', (bytes) => {
      for (const body of decoder.push(bytes)) {
        const msg = decodeMessage(body);
        conn.received.push(msg);
        script(conn, msg);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    script(conn, null);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    connections: () => count,
    close: () => {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}

const challenge = (conn: FakeConn) =>
  conn.send({ type: 'challenge', protocol: 1, nonce: new Uint8Array(16), auth: false });

const closers: (() => void)[] = [];
afterEach(() => {
  killAll();
  for (const c of closers.splice(0)) c();
});

async function waitUntil(what: string, ok: () => boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('a worker that missed the end of its run', () => {
  it('exits 0 with a clear message when its hello is answered with done', async () => {
    const fake = await fakeCoordinator((conn, msg) => {
      if (msg === null) challenge(conn);
      else if (msg.type === 'hello') conn.send({ type: 'done', runId: 7, status: 'done' });
    });
    closers.push(fake.close);
    const w = cli(['worker', '--connect', `127.0.0.1:${fake.port}`, '--id', 'late', '--retry-for', '60']);
    expect(await w.exit, w.err()).toBe(0);
    expect(w.err()).toMatch(/late: run 7 already ended \(done\) before this worker joined; nothing to do/);
    expect(fake.connections()).toBe(1);
  });

  it('exits 0 with a clear message when refused with E_FINISHED', async () => {
    const fake = await fakeCoordinator((conn, msg) => {
      if (msg === null) {
        conn.send({ type: 'refuse', code: 'E_FINISHED', reason: 'the run is over' });
        conn.socket.end();
      }
    });
    closers.push(fake.close);
    const w = cli(['worker', '--connect', `127.0.0.1:${fake.port}`, '--id', 'late', '--retry-for', '60']);
    expect(await w.exit, w.err()).toBe(0);
    expect(w.err()).toMatch(/late: the coordinator's run is already over \(the run is over\)/);
  });
});

describe('a port that accepts but is not a coordinator', () => {
  it('does not reset --retry-for: the worker gives up with E_CONNECT (exit 1)', async () => {
    // A relay or proxy with nothing behind it: every connection is accepted and closed at once.
    const fake = await fakeCoordinator((conn, msg) => {
      if (msg === null) conn.socket.destroy();
    });
    closers.push(fake.close);
    const t0 = Date.now();
    const w = cli(['worker', '--connect', `127.0.0.1:${fake.port}`, '--id', 'w', '--retry-for', '2']);
    expect(await w.exit, w.err()).toBe(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2_000);
    expect(w.err()).toMatch(/could not reach a coordinator at 127\.0\.0\.1:\d+ for 2s/);
    expect(fake.connections()).toBeGreaterThanOrEqual(2);
  });
});

describe('a silent coordinator', () => {
  it('is dropped after --peer-timeout and the worker reconnects', async () => {
    const fake = await fakeCoordinator((conn, msg) => {
      if (msg === null) challenge(conn);
      else if (msg.type === 'hello') conn.send({ type: 'welcome', runId: 1, spec: SPEC });
      // …then nothing: no pings, no tasks.
    });
    closers.push(fake.close);
    const t0 = Date.now();
    const w = cli(['worker', '--connect', `127.0.0.1:${fake.port}`, '--id', 'w', '--peer-timeout', '1']);
    await waitUntil('a second connection', () => fake.connections() >= 2);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_000);
    await w.waitFor(/connection lost \(no word from the coordinator for 1\.0s\); reconnecting/);
  });

  it('is kept while it pings, however long the worker waits for work', async () => {
    let pinger: NodeJS.Timeout | null = null;
    const fake = await fakeCoordinator((conn, msg) => {
      if (msg === null) challenge(conn);
      else if (msg.type === 'hello') {
        conn.send({ type: 'welcome', runId: 1, spec: SPEC });
        pinger = setInterval(() => conn.send({ type: 'ping', t: Date.now() }), 200);
      }
    });
    closers.push(fake.close, () => {
      if (pinger) clearInterval(pinger);
    });
    const w = cli(['worker', '--connect', `127.0.0.1:${fake.port}`, '--id', 'w', '--peer-timeout', '1']);
    await w.waitFor(/w: connected to/);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(fake.connections()).toBe(1);
    expect(w.err()).not.toMatch(/connection lost/);
  });
});

describe('a result larger than a frame', () => {
  it('is refused with E_RESULT_TOO_LARGE as a failure of that chunk; small ones still go through', async () => {
    const [coord, workerSide] = channelPair();
    const got: Record<string, unknown>[] = [];
    const warnings: string[] = [];
    const opts = {
      ...parseWorkerOptions({ connect: '127.0.0.1:9', id: 'w', peerTimeout: '60' }),
      maxFrame: 4_096,
    };
    const many = Array.from({ length: 2_000 }, (_, i) => `customer-${i},1.00,1`).join('\n');
    coord.onMessage((m) => {
      got.push(m);
      if (m.type === 'hello') {
        coord.send({ type: 'welcome', runId: 1, spec: SPEC });
        coord.send({ type: 'task', chunkId: 0, attempt: 1, data: Buffer.from(`${many}\n`) });
        coord.send({ type: 'task', chunkId: 1, attempt: 1, data: Buffer.from('a,2.50,4\n') });
      }
      if (got.filter((x) => x.type === 'result' || x.type === 'failure').length === 2) {
        coord.send({ type: 'done', runId: 1, status: 'done' });
      }
    });
    const summary = await runWorker(
      opts,
      { info: () => {}, warn: (m) => warnings.push(m) },
      {
        connect: async () => {
          // The worker attaches its handlers once connect resolves; the challenge follows.
          setTimeout(() =>
            coord.send({ type: 'challenge', protocol: 1, nonce: new Uint8Array(16), auth: false }),
          );
          return workerSide;
        },
      },
    );
    const failure = got.find((m) => m.type === 'failure');
    expect(failure).toMatchObject({ chunkId: 0, attempt: 1, code: 'E_RESULT_TOO_LARGE' });
    expect(String(failure?.message)).toMatch(
      /result of chunk 0 is [\d,]+ bytes, over the 4,096-byte frame limit/,
    );
    expect(warnings.join('\n')).toMatch(/w: the result of chunk 0 is/);
    expect(got.find((m) => m.type === 'result')).toMatchObject({ chunkId: 1 });
    expect(summary.chunks).toBe(2);
  });
});

describe('worker --stay', () => {
  it('serves two coordinator runs in a row, then exits 130 on Ctrl-C', async () => {
    const a = await generatedFile(3_000, 11);
    const b = await generatedFile(2_000, 12);
    const port = await freePort();
    const w = cli(['worker', '--connect', `127.0.0.1:${port}`, '--id', 'stayer', '--stay']);
    for (const f of [a, b]) {
      const db = path.join(f.dir, 'r.db');
      const c = cli(['coordinator', f.csv, '--port', String(port), '--db', db, '--chunk-size', '32KiB']);
      expect(await c.exit, c.err()).toBe(0);
      const r = await report(db);
      expect(sameTotals(r, f.ref)).toEqual([]);
      expect(r.workers.map((x) => x.workerId)).toEqual(['stayer']);
      fs.rmSync(f.dir, { recursive: true, force: true });
    }
    await w.waitFor(/stayer: waiting for the next run/);
    expect(w.child.exitCode).toBeNull();
    w.child.kill('SIGINT');
    expect(await w.exit).toBe(130);
  });
});
