/**
 * The wire with a token, seen through a recording relay between a real worker and a real
 * coordinator: no chunk text in clear, a flipped bit is caught (never wrong totals), and a peer
 * without the token gets nothing from a worker.
 */
import { createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import Database from 'better-sqlite3';
import { Packr } from 'msgpackr';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  cli,
  generatedFile,
  killAll,
  listeningPort,
  type Reference,
  ROOT,
  report,
  sameTotals,
} from './helpers/e2e.js';
import { type Relay, serverHello, startRelay } from './helpers/relay.js';
import { chunkTilingProblems } from './helpers/tiling.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });
let dir: string;
let csv: string;
let ref: Reference;
let countries: string[];
let sampleLines: string[];
const relays: Relay[] = [];

beforeAll(async () => {
  ({ dir, csv, ref } = await generatedFile(20_000, 12));
  const lines = fs.readFileSync(csv, 'utf8').split('\n').slice(1, 200);
  countries = [...new Set(lines.filter((l) => l !== '').map((l) => l.split(',')[1]))];
  sampleLines = lines.slice(0, 20);
});
/**
 * The file's text seen in captured bytes: country names of 7+ bytes and whole lines. Shorter
 * names are left out: a 4-byte one ('Laos') turns up in megabytes of ciphertext by chance about
 * once in a few hundred runs (it did in one).
 */
function plaintextIn(bytes: Buffer): string[] {
  const names = countries.filter((c) => Buffer.byteLength(c) >= 7);
  expect(names.length).toBeGreaterThan(5);
  return [...names, ...sampleLines].filter((t) => bytes.includes(t));
}

afterEach(() => {
  killAll();
  for (const r of relays.splice(0)) r.close();
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const PKI = path.join(ROOT, 'test', 'fixtures', 'tls');
const pem = (name: string) => path.join(PKI, name);

async function coordinatorThroughRelay(
  db: string,
  token: string | null,
  flipUpAt: number | null = null,
  extra: string[] = [],
) {
  const c = cli([
    'coordinator',
    csv,
    '--port',
    '0',
    '--db',
    db,
    '--chunk-size',
    '32KiB',
    '--transport',
    'bytes',
    ...(token === null ? [] : ['--token', token]),
    ...extra,
  ]);
  const port = await listeningPort(c);
  const relay = await startRelay(port, flipUpAt);
  relays.push(relay);
  return { c, relay };
}

function worker(port: number, id: string, token: string | null, extra: string[] = []) {
  return cli(['worker', '--connect', `127.0.0.1:${port}`, '--id', id, '--retry-for', '20', ...extra], {
    SALESGRID_TOKEN: token ?? '',
  });
}

describe('confidentiality', () => {
  it('with a token the relay sees no chunk text; TLS 1.3 with an ECDHE key share; totals exact', async () => {
    const db = path.join(dir, 'conf.db');
    const { c, relay } = await coordinatorThroughRelay(db, 'conf-token');
    const w = worker(relay.port, 'w1', 'conf-token');
    expect(await c.exit, c.err()).toBe(0);
    expect(await w.exit, w.err()).toBe(0);
    expect(sameTotals(await report(db), ref)).toEqual([]);
    const bytes = relay.all();
    expect(bytes.length).toBeGreaterThan(fs.statSync(csv).size);
    expect(plaintextIn(bytes)).toEqual([]);
    expect(bytes.includes('Order Date')).toBe(false);
    // Forward secrecy: the ServerHello carries a key_share (0x0033) next to the pre_shared_key (0x0029).
    const hello = serverHello(Buffer.concat(relay.connections[0].down));
    expect(hello.extensions).toContain(0x0033);
    expect(hello.extensions).toContain(0x0029);
    expect([0x1301, 0x1303]).toContain(hello.cipher);
  });

  it('control: without a token the same relay does see the chunk text', async () => {
    const db = path.join(dir, 'plain.db');
    const { c, relay } = await coordinatorThroughRelay(db, null);
    const w = worker(relay.port, 'w1', null);
    expect(await c.exit, c.err()).toBe(0);
    expect(await w.exit).toBe(0);
    expect(relay.all().includes(countries[0])).toBe(true);
  });
});

describe('integrity', () => {
  it('one bit flipped in a result is detected, the connection dropped, the chunk redone; totals exact', async () => {
    const db = path.join(dir, 'flip.db');
    const { c, relay } = await coordinatorThroughRelay(db, 'flip-token', 9_000);
    const w = worker(relay.port, 'w1', 'flip-token');
    expect(await c.exit, c.err()).toBe(0);
    expect(await w.exit, w.err()).toBe(0);
    expect(relay.flipped()).toBe(true);
    expect(relay.connections.length).toBeGreaterThanOrEqual(2);
    expect(c.err()).toMatch(/worker w1 disconnected \(.*(bad record mac|decrypt|DECRYPTION_FAILED)/i);
    expect(sameTotals(await report(db), ref)).toEqual([]);
    expect(chunkTilingProblems(db)).toEqual([]);
    const conn = new Database(db, { readonly: true });
    const lost = conn.prepare("SELECT COUNT(*) AS n FROM attempts WHERE outcome = 'lost'").get() as {
      n: number;
    };
    conn.close();
    expect(lost.n).toBeGreaterThan(0);
  });
});

describe('no oracle', () => {
  it('a fake coordinator without the token gets neither a proof nor any data from a worker', async () => {
    const nonce = randomBytes(32);
    const received: Buffer[] = [];
    const server = net.createServer((s) => {
      const body = packr.pack({ type: 'challenge', protocol: 1, nonce, auth: true });
      const head = Buffer.alloc(4);
      head.writeUInt32BE(body.length);
      s.write(Buffer.concat([head, body]));
      s.on('data', (d) => received.push(d));
      s.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    // An id long enough that the ClientHellos' random bytes cannot hold it by chance ('w1' could).
    const w = worker(port, 'oracle-worker-id', 'oracle-token', ['--retry-for', '2']);
    expect(await w.exit).not.toBe(0);
    server.close();
    expect(w.err()).toMatch(/does not speak TLS/);
    const got = Buffer.concat(received);
    expect(got.length).toBeGreaterThan(0);
    // Only TLS ClientHellos (record type 0x16), never a frame, never the proof.
    expect(got[0]).toBe(0x16);
    const proof = createHmac('sha256', 'oracle-token').update(nonce).digest();
    expect(got.includes(proof)).toBe(false);
    expect(got.includes('hello')).toBe(false);
    expect(got.includes('oracle-worker-id')).toBe(false);
  });

  it('a fake TLS coordinator with another key completes no handshake; the worker exits naming the token', async () => {
    let secured = 0;
    const server = tls.createServer({
      minVersion: 'TLSv1.3',
      ciphers: 'TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256',
      pskCallback: () => randomBytes(32),
    });
    server.on('secureConnection', () => secured++);
    server.on('tlsClientError', () => {});
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as net.AddressInfo).port;
    const w = worker(port, 'w1', 'oracle-token');
    expect(await w.exit).toBe(3);
    server.close();
    expect(w.err()).toMatch(/wrong token/);
    expect(secured).toBe(0);
  });
});

describe('certificates (--tls-cert, --tls-key, --tls-ca)', () => {
  const serverCert = ['--tls-cert', pem('server.pem'), '--tls-key', pem('server.key')];

  it('a coordinator with a certificate: workers that trust its CA get in, the wire stays opaque', async () => {
    const db = path.join(dir, 'cert.db');
    const { c, relay } = await coordinatorThroughRelay(db, 'cert-token', null, serverCert);
    const w = worker(relay.port, 'w1', 'cert-token', ['--tls-ca', pem('ca.pem')]);
    expect(await c.exit, c.err()).toBe(0);
    expect(await w.exit, w.err()).toBe(0);
    expect(sameTotals(await report(db), ref)).toEqual([]);
    expect(plaintextIn(relay.all())).toEqual([]);
  });

  it('a worker that does not trust the certificate stops in the handshake and exits 3', async () => {
    const db = path.join(dir, 'cert-untrusted.db');
    const { c, relay } = await coordinatorThroughRelay(db, 'cert-token', null, serverCert);
    const w = worker(relay.port, 'w1', 'cert-token', ['--tls-ca', pem('other-ca.pem')]);
    expect(await w.exit).toBe(3);
    expect(w.err()).toMatch(/certificate is not trusted/);
    const psk = worker(relay.port, 'w2', 'cert-token');
    expect(await psk.exit).toBe(3);
    expect(psk.err()).toMatch(/certificate is not trusted/);
    c.child.kill('SIGTERM');
    await c.exit;
  });

  it('with --tls-ca on the coordinator a worker needs a client certificate', async () => {
    const db = path.join(dir, 'mtls.db');
    const { c, relay } = await coordinatorThroughRelay(db, 'cert-token', null, [
      ...serverCert,
      '--tls-ca',
      pem('ca.pem'),
    ]);
    const anonymous = worker(relay.port, 'anon', 'cert-token', ['--tls-ca', pem('ca.pem')]);
    expect(await anonymous.exit).not.toBe(0);
    expect(anonymous.err()).toMatch(/refused in the TLS handshake: no client certificate/);
    const w = worker(relay.port, 'w1', 'cert-token', [
      '--tls-ca',
      pem('ca.pem'),
      '--tls-cert',
      pem('client.pem'),
      '--tls-key',
      pem('client.key'),
    ]);
    expect(await c.exit, c.err()).toBe(0);
    expect(await w.exit, w.err()).toBe(0);
    expect(sameTotals(await report(db), ref)).toEqual([]);
  });

  it('certificate options are checked in one place', async () => {
    const p = cli(['coordinator', csv, '--port', '0', '--token', 't', '--tls-cert', pem('server.pem')]);
    expect(await p.exit).toBe(2);
    expect(p.err()).toMatch(/--tls-cert and --tls-key go together/);
    const q = cli(['worker', '--tls-cert', pem('client.pem'), '--tls-key', pem('client.key')], {
      SALESGRID_TOKEN: 't',
    });
    expect(await q.exit).toBe(2);
    expect(q.err()).toMatch(/a worker needs --tls-ca/);
    const r = cli(['coordinator', csv, '--port', '0', ...serverCert], { SALESGRID_TOKEN: '' });
    expect(await r.exit).toBe(2);
    expect(r.err()).toMatch(/certificates need a token/);
  });
});
