/**
 * Where the bytes come from under `--transport range`: a shared file at another path is checked by
 * size, mtime and content fingerprint, never trusted by path; a CSV over HTTP is read with Range
 * requests from a real server process, retried, and pinned to its ETag.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fingerprint, fingerprintOffsets } from '../src/source/fingerprint.js';
import {
  cli,
  faultWorker,
  generatedFile,
  killAll,
  listeningPort,
  type Proc,
  type Reference,
  ROOT,
  report,
  sameTotals,
  spawnNode,
} from './helpers/e2e.js';
import { chunkTilingProblems } from './helpers/tiling.js';

const RANGE_SERVER = path.join(ROOT, 'test', 'fixtures', 'range-server.mjs');
let dir: string;
let csv: string;
let ref: Reference;

beforeAll(async () => {
  ({ dir, csv, ref } = await generatedFile(30_000, 21));
});
afterEach(() => killAll());
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function coordinator(source: string, db: string, extra: string[] = []) {
  const proc = cli(['coordinator', source, '--port', '0', '--db', db, '--chunk-size', '64KiB', ...extra]);
  const port = await listeningPort(proc);
  return { proc, address: `127.0.0.1:${port}` };
}

function worker(address: string, id: string, accept: string): Proc {
  return cli(['worker', '--connect', address, '--id', id, '--accept-ranges', accept, '--retry-for', '20']);
}

/** A copy elsewhere (another "mount path"), same mtime; `edit` changes it in place first. */
function copyOf(name: string, edit?: (b: Buffer) => void): string {
  const sub = path.join(dir, name);
  fs.mkdirSync(sub, { recursive: true });
  const copy = path.join(sub, 'sales-copy.csv');
  const bytes = fs.readFileSync(csv);
  edit?.(bytes);
  fs.writeFileSync(copy, bytes);
  const st = fs.statSync(csv);
  fs.utimesSync(copy, st.atime, st.mtime);
  return copy;
}

describe('content fingerprint', () => {
  it('samples evenly from the first to the last block and changes with any sampled byte', async () => {
    expect(fingerprintOffsets(0)).toEqual([]);
    expect(fingerprintOffsets(1000)).toEqual([0]);
    const offs = fingerprintOffsets(10_000_000);
    expect(offs).toHaveLength(16);
    expect(offs[0]).toBe(0);
    expect(offs[15]).toBe(10_000_000 - 4096);
    const bytes = Buffer.alloc(1_000_000, 7);
    const fp = (b: Buffer) =>
      fingerprint(b.length, async (buf, at) => b.copy(buf, 0, at, Math.min(at + buf.length, b.length)));
    const base = await fp(bytes);
    for (const at of fingerprintOffsets(bytes.length)) {
      const changed = Buffer.from(bytes);
      changed[at + 100] ^= 1;
      expect(await fp(changed)).not.toBe(base);
    }
  });
});

describe('shared files, checked not trusted', () => {
  it('a worker reads the same file under another path; totals exact, chunks tile the file', async () => {
    const copy = copyOf('mount-b');
    const db = path.join(dir, 'shared.db');
    const c = await coordinator(csv, db, ['--transport', 'range']);
    // b joins first, so it takes chunks however fast a is on a loaded machine.
    const w2 = worker(c.address, 'b', copy);
    await c.proc.waitFor(/worker b joined/);
    const w1 = worker(c.address, 'a', csv);
    expect(await c.proc.exit, c.proc.err()).toBe(0);
    expect(await w1.exit).toBe(0);
    expect(await w2.exit).toBe(0);
    const r = await report(db);
    expect(sameTotals(r, ref)).toEqual([]);
    expect(r.workers.find((w) => w.workerId === 'b')?.chunks).toBeGreaterThan(0);
    expect(chunkTilingProblems(db)).toEqual([]);
  });

  it('a copy with one byte changed (same length and mtime) is refused; its chunks go to the other worker', async () => {
    const bytes = fs.readFileSync(csv);
    const at = bytes.indexOf(0x0a) + 30;
    const copy = copyOf('mount-c', (b) => {
      b[at] = b[at] === 0x31 ? 0x32 : 0x31;
    });
    expect(fs.statSync(copy).size).toBe(bytes.length);
    const db = path.join(dir, 'differs.db');
    const c = await coordinator(csv, db, ['--transport', 'range']);
    const bad = worker(c.address, 'bad', copy);
    await c.proc.waitFor(/worker bad joined/);
    const good = worker(c.address, 'good', csv);
    expect(await bad.exit).toBe(2);
    expect(bad.err()).toMatch(
      /sales-copy\.csv is not the coordinator's .*sales\.csv \(content fp1:.*\): this worker refuses its byte ranges/,
    );
    expect(await c.proc.exit, c.proc.err()).toBe(0);
    expect(await good.exit).toBe(0);
    expect(c.proc.err()).toMatch(/failed on bad: .*E_SOURCE_MISMATCH|chunk \d+ failed on bad/);
    const r = await report(db);
    expect(sameTotals(r, ref)).toEqual([]);
    expect(r.workers.find((w) => w.workerId === 'bad')?.chunks ?? 0).toBe(0);
    expect(chunkTilingProblems(db)).toEqual([]);
  });

  it('a copy with another mtime is refused, naming the mtime', async () => {
    const copy = path.join(dir, 'plain-copy.csv');
    fs.copyFileSync(csv, copy);
    fs.utimesSync(copy, new Date(), new Date(Date.now() + 3_600_000));
    const db = path.join(dir, 'mtime.db');
    const c = await coordinator(csv, db, ['--transport', 'range', '--wait-timeout', '5']);
    const bad = worker(c.address, 'bad', copy);
    expect(await bad.exit).toBe(2);
    expect(bad.err()).toMatch(/mtime .* ≠ /);
    c.proc.child.kill('SIGTERM');
    await c.proc.exit;
  });

  it("the coordinator's own file changing mid-run fails the run instead of waiting for a worker", async () => {
    const local = copyOf('changing');
    const db = path.join(dir, 'local-change.db');
    const c = await coordinator(local, db, ['--transport', 'range', '--chunk-size', '32KiB']);
    const w = faultWorker(c.address, 'slow', { FAULT_DELAY_MS: 150, FAULT_ACCEPT_RANGES: local });
    await c.proc.waitFor(/worker slow joined/);
    await new Promise((r) => setTimeout(r, 1_000));
    const bytes = fs.readFileSync(local);
    bytes[bytes.length - 10] = bytes[bytes.length - 10] === 0x31 ? 0x32 : 0x31;
    fs.writeFileSync(local, bytes);
    fs.utimesSync(local, new Date(), new Date(Date.now() + 5_000));
    expect(await c.proc.exit).toBe(2);
    expect(c.proc.err()).toMatch(/sales-copy\.csv changed during the run \(.*mtime/);
    await w.exit;
    expect((await report(db)).status).toBe('failed');
  });
});

async function rangeServer(file: string, env: Record<string, string> = {}) {
  const proc = spawnNode([RANGE_SERVER, file], env);
  await proc.waitFor(/listening on \d+/);
  const port = Number((/listening on (\d+)/.exec(proc.out()) ?? [])[1]);
  const scheme = env.TLS_DIR === undefined ? 'http' : 'https';
  const url = `${scheme}://127.0.0.1:${port}/${path.basename(file)}`;
  const stats = async () =>
    (await (await fetch(`http://127.0.0.1:${port}/__stats`)).json()) as Record<string, number>;
  return { proc, url, stats };
}

describe('sources over HTTP', () => {
  it('range transport from a URL, with a server failing every 7th request: retried, totals exact', async () => {
    const s = await rangeServer(csv, { FAIL_EVERY: '7' });
    const db = path.join(dir, 'http.db');
    const c = await coordinator(s.url, db, ['--transport', 'range']);
    const w1 = worker(c.address, 'h1', s.url);
    const w2 = worker(c.address, 'h2', s.url);
    expect(await c.proc.exit, c.proc.err()).toBe(0);
    expect(await w1.exit).toBe(0);
    expect(await w2.exit).toBe(0);
    expect(sameTotals(await report(db), ref)).toEqual([]);
    expect(chunkTilingProblems(db)).toEqual([]);
    const st = await s.stats();
    expect(st.failed).toBeGreaterThan(0);
    expect(st.full).toBe(0);
    // Workers fetched their ranges directly: far more than the coordinator's windows.
    expect(st.partial).toBeGreaterThan((30_000 * 90) / 65_536);
  });

  it('https:// (a server certificate from a test CA): range transport, totals exact', async () => {
    const tlsDir = path.join(ROOT, 'test', 'fixtures', 'tls');
    const s = await rangeServer(csv, { TLS_DIR: tlsDir });
    const trust = { NODE_EXTRA_CA_CERTS: path.join(tlsDir, 'ca.pem') };
    const db = path.join(dir, 'https.db');
    const proc = cli(
      ['coordinator', s.url, '--port', '0', '--db', db, '--chunk-size', '64KiB', '--transport', 'range'],
      trust,
    );
    const address = `127.0.0.1:${await listeningPort(proc)}`;
    const w = cli(['worker', '--connect', address, '--id', 'tls', '--accept-ranges', s.url], trust);
    expect(await proc.exit, proc.err()).toBe(0);
    expect(await w.exit).toBe(0);
    expect(sameTotals(await report(db), ref)).toEqual([]);
    const untrusted = cli([
      'coordinator',
      s.url,
      '--port',
      '0',
      '--db',
      path.join(dir, 'https-untrusted.db'),
    ]);
    expect(await untrusted.exit).not.toBe(0);
    expect(untrusted.err()).toMatch(/certificate is not trusted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)/);
  });

  it('bytes transport from a URL: the coordinator reads chunks with Range requests', async () => {
    const s = await rangeServer(csv);
    const db = path.join(dir, 'http-bytes.db');
    const c = await coordinator(s.url, db);
    const w = cli(['worker', '--connect', c.address, '--id', 'plain']);
    expect(await c.proc.exit, c.proc.err()).toBe(0);
    expect(await w.exit).toBe(0);
    expect(sameTotals(await report(db), ref)).toEqual([]);
  });

  it('a server that ignores Range is refused clearly', async () => {
    const s = await rangeServer(csv, { NO_RANGE: '1' });
    const p = cli(['coordinator', s.url, '--port', '0', '--db', path.join(dir, 'norange.db')]);
    expect(await p.exit).toBe(2);
    expect(p.err()).toMatch(/^salesgrid: error: .*ignores Range requests/m);
    expect(p.err().match(/error/g)).toHaveLength(1);
  });

  it('a server without ETag or Last-Modified is refused clearly', async () => {
    const s = await rangeServer(csv, { NO_VALIDATORS: '1' });
    const p = cli(['coordinator', s.url, '--port', '0', '--db', path.join(dir, 'novalid.db')]);
    expect(await p.exit).toBe(2);
    expect(p.err()).toMatch(/neither ETag nor Last-Modified/);
  });

  it('plain http:// off loopback is refused as a usage error', async () => {
    const p = cli(['coordinator', 'http://example.com/sales.csv', '--port', '0']);
    expect(await p.exit).toBe(2);
    expect(p.err()).toMatch(/http:\/\/ is allowed on loopback only/);
  });

  it('a file that changes mid-run fails the run with a clear message, never other totals', async () => {
    const copy = copyOf('served');
    const s = await rangeServer(copy);
    const db = path.join(dir, 'http-change.db');
    const c = await coordinator(s.url, db, ['--transport', 'range', '--chunk-size', '32KiB']);
    const w = faultWorker(c.address, 'slow', { FAULT_DELAY_MS: 150, FAULT_ACCEPT_RANGES: s.url });
    await c.proc.waitFor(/worker slow joined/);
    await new Promise((r) => setTimeout(r, 1_000));
    const bytes = fs.readFileSync(copy);
    bytes[bytes.length - 10] = bytes[bytes.length - 10] === 0x31 ? 0x32 : 0x31;
    fs.writeFileSync(copy, bytes);
    fs.utimesSync(copy, new Date(), new Date(Date.now() + 5_000));
    expect(await c.proc.exit).not.toBe(0);
    expect(c.proc.err()).toMatch(/changed during the run/);
    await w.exit;
    const r = await report(db);
    expect(r.status).toBe('failed');
  });
});
