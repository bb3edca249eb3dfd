/**
 * Hostile or broken peers against a real coordinator process: wrong tokens, garbage bytes, huge
 * length prefixes, malformed and out-of-order messages, silent sockets, other protocol versions.
 * The coordinator must drop each with a logged reason and finish the run for the honest workers.
 */
import { createHmac, hkdfSync } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { Packr } from 'msgpackr';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  cli,
  faultWorker,
  generatedFile,
  killAll,
  listeningPort,
  type Reference,
  report,
  sameTotals,
} from './helpers/e2e.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });
let dir: string;
let csv: string;
let ref: Reference;

beforeAll(async () => {
  ({ dir, csv, ref } = await generatedFile(30_000, 31));
});
afterEach(() => killAll());
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function frame(body: unknown): Buffer {
  const b = packr.pack(body);
  const h = Buffer.alloc(4);
  h.writeUInt32BE(b.length);
  return Buffer.concat([h, b]);
}

/**
 * A raw client that collects decoded frames and reports when the server closes it. With a token
 * it speaks TLS 1.3 PSK, the key derived as documented (HKDF-SHA256, salt "salesgrid tls-psk v1",
 * info "psk", identity "salesgrid/1").
 */
function rawClient(port: number, token?: string) {
  const psk =
    token === undefined ? null : Buffer.from(hkdfSync('sha256', token, 'salesgrid tls-psk v1', 'psk', 32));
  const socket =
    psk === null
      ? net.connect(port, '127.0.0.1')
      : tls.connect({
          host: '127.0.0.1',
          port,
          minVersion: 'TLSv1.3',
          ciphers: 'TLS_AES_128_GCM_SHA256',
          pskCallback: () => ({ psk, identity: 'salesgrid/1' }),
          checkServerIdentity: () => undefined,
        });
  const frames: Record<string, unknown>[] = [];
  let buf = Buffer.alloc(0);
  socket.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
      const n = buf.readUInt32BE(0);
      frames.push(packr.unpack(buf.subarray(4, 4 + n)) as Record<string, unknown>);
      buf = buf.subarray(4 + n);
    }
  });
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) => {
    const t0 = Date.now();
    socket.on('close', () => resolve(Date.now() - t0));
  });
  const connected = new Promise<void>((r) =>
    socket.once(psk === null ? 'connect' : 'secureConnect', () => r()),
  );
  const challenge = async () => {
    while (frames.length === 0) await new Promise((r) => setTimeout(r, 5));
    return frames[0] as { nonce: Uint8Array };
  };
  return { socket, frames, closed, connected, challenge };
}

async function coordinator(db: string, extra: string[] = []) {
  // Port 0: the coordinator picks a free port itself, so parallel test files cannot collide.
  const proc = cli(['coordinator', csv, '--port', '0', '--db', db, '--chunk-size', '32KiB', ...extra]);
  const port = await listeningPort(proc);
  return { proc, port, address: `127.0.0.1:${port}` };
}

describe('authentication', () => {
  it('a wrong or missing token is refused with a reason; the right one works', async () => {
    const db = path.join(dir, 'auth.db');
    const c = await coordinator(db, ['--token', 's3cret']);
    const wrong = cli(['worker', '--connect', c.address, '--id', 'intruder', '--token', 'guess']);
    expect(await wrong.exit).toBe(3);
    expect(wrong.err()).toMatch(/refused this worker: wrong token/);
    const none = cli(['worker', '--connect', c.address, '--id', 'tokenless'], { SALESGRID_TOKEN: '' });
    expect(await none.exit).toBe(3);
    expect(none.err()).toMatch(/requires a token/);
    const good = cli(['worker', '--connect', c.address, '--id', 'member'], { SALESGRID_TOKEN: 's3cret' });
    expect(await c.proc.exit, c.proc.err()).toBe(0);
    expect(await good.exit).toBe(0);
    expect(c.proc.err()).toMatch(/refused 127\.0\.0\.1:\d+: wrong token/);
    const r = await report(db);
    expect(sameTotals(r, ref)).toEqual([]);
    expect(r.workers.map((w) => w.workerId)).toEqual(['member']);
  });

  it('binding a non-loopback address without a token is refused', async () => {
    const p = cli(['coordinator', csv, '--host', '0.0.0.0', '--db', path.join(dir, 'open.db')], {
      SALESGRID_TOKEN: '',
    });
    expect(await p.exit).toBe(2);
    expect(p.err()).toMatch(/without a token/);
  });

  it('without a token the coordinator says it accepts loopback peers only', async () => {
    const db = path.join(dir, 'notoken.db');
    const c = await coordinator(db);
    expect(c.proc.err()).toMatch(/no token set: accepting loopback workers only/);
    c.proc.child.kill('SIGTERM');
    await c.proc.exit;
  });
});

describe('garbage and misbehaving peers', () => {
  it('drops each bad connection with a logged reason and finishes the run for honest workers', async () => {
    const db = path.join(dir, 'garbage.db');
    const c = await coordinator(db, ['--handshake-timeout', '0.5']);
    faultWorker(c.address, 'honest', { FAULT_DELAY_MS: 25 });
    await c.proc.waitFor(/worker honest joined/);

    // Random bytes whose first four read as a modest length: the body never completes, so the
    // handshake timer drops it.
    const random = rawClient(c.port);
    await random.connected;
    random.socket.write(Buffer.from([0, 0, 0, 9, 1, 2, 3, 250, 251]));
    // A 4 GiB length prefix: refused on the header alone.
    const huge = rawClient(c.port);
    await huge.connected;
    huge.socket.write(Buffer.from([0xff, 0xff, 0xff, 0xff]));
    // 1 MiB before any hello: over the handshake limit, so nothing is allocated for it either.
    const early = rawClient(c.port);
    await early.connected;
    early.socket.write(Buffer.from([0x00, 0x10, 0x00, 0x00]));
    // A well-formed frame of the wrong shape.
    const shape = rawClient(c.port);
    await shape.connected;
    shape.socket.write(frame({ type: 'hello', protocol: 'one', workerId: 7 }));
    // A message out of order: a result before any hello.
    const order = rawClient(c.port);
    await order.connected;
    order.socket.write(frame({ type: 'result', chunkId: 0, attempt: 1, partial: {}, parseMs: 1 }));
    // A proper handshake, then a result for a chunk never leased to it.
    const liar = rawClient(c.port);
    await liar.challenge();
    liar.socket.write(frame({ type: 'hello', protocol: 1, workerId: 'liar', proof: null, slots: 1 }));
    while (!liar.frames.some((f) => f.type === 'welcome')) await new Promise((r) => setTimeout(r, 5));
    liar.socket.write(frame({ type: 'result', chunkId: 99999, attempt: 1, partial: {}, parseMs: 1 }));
    // Bytes that are not msgpack at all, in a valid frame.
    const junk = rawClient(c.port);
    await junk.connected;
    junk.socket.write(Buffer.concat([Buffer.from([0, 0, 0, 3]), Buffer.from([0xc1, 0xc1, 0xc1])]));

    for (const client of [random, huge, early, shape, order, liar, junk]) {
      expect(
        await Promise.race([client.closed, new Promise((r) => setTimeout(() => r('open'), 30_000))]),
      ).not.toBe('open');
    }
    expect(await c.proc.exit, c.proc.err()).toBe(0);
    const log = c.proc.err();
    expect(log).toMatch(/no hello within 0\.5s/);
    expect(log).toMatch(/frame of 4294967295 bytes exceeds the \d+-byte limit/);
    expect(log).toMatch(/frame of 1048576 bytes exceeds the 65536-byte limit/);
    expect(log).toMatch(/malformed hello: bad /);
    expect(log).toMatch(/expected hello, got result/);
    expect(log).toMatch(/dropped liar: result for chunk 99999, which was never leased to it/);
    expect(log).toMatch(/undecodable frame|not a map/);
    expect(sameTotals(await report(db), ref)).toEqual([]);
  });

  it('a silent connection (slowloris) is dropped after the handshake timeout', async () => {
    const c = await coordinator(path.join(dir, 'slow.db'), ['--handshake-timeout', '0.3']);
    const silent = rawClient(c.port);
    await silent.connected;
    const after = await Promise.race([
      silent.closed,
      new Promise<number>((r) => setTimeout(() => r(-1), 30_000)),
    ]);
    expect(after).toBeGreaterThan(200);
    expect(after).toBeLessThan(10_000);
    await c.proc.waitFor(/no hello within 0\.3s/);
    c.proc.child.kill('SIGTERM');
    await c.proc.exit;
  });

  it('a coordinator survives an answer of the wrong protocol version with a clear refusal', async () => {
    const c = await coordinator(path.join(dir, 'version.db'));
    const old = rawClient(c.port);
    await old.challenge();
    // A future hello may have other fields: the refusal must be about the version, not the shape.
    old.socket.write(frame({ type: 'hello', protocol: 99, name: 'old', capabilities: ['x'] }));
    await old.closed;
    const refusal = old.frames.find((f) => f.type === 'refuse');
    expect(refusal?.code).toBe('E_VERSION');
    expect(String(refusal?.reason)).toMatch(/protocol version 99 is not supported/);
    c.proc.child.kill('SIGTERM');
    await c.proc.exit;
  });

  it('a worker facing a coordinator of another protocol version exits with a clear message', async () => {
    const server = net.createServer((s) =>
      s.write(frame({ type: 'challenge', protocol: 99, nonce: Buffer.alloc(32), auth: false })),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    const w = cli(['worker', '--connect', `127.0.0.1:${port}`, '--id', 'new']);
    expect(await w.exit).toBe(1);
    expect(w.err()).toMatch(/coordinator speaks protocol version 99; this worker speaks 1/);
    server.close();
  });

  it('a worker reads a file for byte-range tasks only when started for that file', async () => {
    const db = path.join(dir, 'ranges.db');
    const c = await coordinator(db, ['--transport', 'range', '--max-attempts', '2']);
    const refusing = cli(['worker', '--connect', c.address, '--id', 'careful']);
    expect(await c.proc.exit).toBe(1);
    expect(c.proc.err()).toMatch(/E_RANGE_REFUSED: this worker reads no file for the coordinator/);
    await refusing.exit;
    const db2 = path.join(dir, 'ranges2.db');
    const c2 = await coordinator(db2, ['--transport', 'range']);
    const willing = cli(['worker', '--connect', c2.address, '--id', 'willing', '--accept-ranges', csv]);
    expect(await c2.proc.exit, c2.proc.err()).toBe(0);
    expect(await willing.exit).toBe(0);
    expect(sameTotals(await report(db2), ref)).toEqual([]);
  });

  it('a worker pointed at something that is not a coordinator stops with a clear message', async () => {
    const server = net.createServer((s) => s.write(Buffer.from([0, 0, 0, 2, 0x92, 0x01])));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    const w = cli(['worker', '--connect', `127.0.0.1:${port}`, '--id', 'lost']);
    expect(await w.exit).toBe(1);
    expect(w.err()).toMatch(/does not speak the salesgrid protocol/);
    server.close();
  });

  it('a valid HMAC proof is what the coordinator checks (computed independently)', async () => {
    const db = path.join(dir, 'hmac.db');
    const c = await coordinator(db, ['--token', 'tok']);
    const client = rawClient(c.port, 'tok');
    const { nonce } = await client.challenge();
    const proof = createHmac('sha256', 'tok').update(nonce).digest();
    client.socket.write(frame({ type: 'hello', protocol: 1, workerId: 'raw', proof, slots: 1 }));
    while (!client.frames.some((f) => f.type === 'welcome' || f.type === 'refuse')) {
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(client.frames.map((f) => f.type)).toContain('welcome');
    client.socket.destroy();
    c.proc.child.kill('SIGTERM');
    await c.proc.exit;
  });
});
