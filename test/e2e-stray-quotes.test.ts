/**
 * Stray quotes that never close, end to end (real processes, sockets and SQLite): each costs its
 * own line, which is rejected with its line number, and every other row is counted exactly.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  cli,
  generate,
  killAll,
  type Reference,
  reference,
  report,
  sameTotals,
  tmpDir,
} from './helpers/e2e.js';
import { Rng } from './helpers/prng.js';

let dir: string;
/** The generated 200,000-row file's lines (line i + 1 of the file is lines[i]; the header is line 1). */
let lines: string[];
let eol: string;

beforeAll(async () => {
  dir = tmpDir();
  const src = path.join(dir, 'clean.csv');
  await generate(src, 200_000, 23);
  const text = fs.readFileSync(src, 'utf8');
  eol = text.includes('\r\n') ? '\r\n' : '\n';
  lines = text.split(eol);
  if (lines.at(-1) === '') lines.pop();
  expect(lines.length).toBe(200_001);
}, 180_000);
afterEach(() => killAll());
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A quote opened at the start of the second field: `Europe,"France,Cereal,…`. */
function stray(line: string): string {
  const comma = line.indexOf(',');
  return `${line.slice(0, comma + 1)}"${line.slice(comma + 1)}`;
}

/**
 * Writes the file with stray quotes on the given (1-based) lines, and the reference totals over
 * the other lines (csv-parse and BigInt over a copy without them).
 */
function withStrays(
  name: string,
  at: Map<number, (line: string) => string>,
  src = lines,
): { csv: string; ref: Reference } {
  const csv = path.join(dir, `${name}.csv`);
  const good = path.join(dir, `${name}.good.csv`);
  fs.writeFileSync(csv, `${src.map((l, i) => at.get(i + 1)?.(l) ?? l).join(eol)}${eol}`);
  fs.writeFileSync(good, `${src.filter((_, i) => !at.has(i + 1)).join(eol)}${eol}`);
  return { csv, ref: reference(good) };
}

async function expectExact(
  csv: string,
  ref: Reference,
  strayLines: number[],
  args: string[],
  columns: number[] = strayLines.map(() => 2),
  dataRows = 200_000,
): Promise<{ out: string; err: string; db: string }> {
  const db = `${csv}.${args.join('')}.db`;
  const p = cli(['run', csv, '--workers', '2', '--db', db, ...args]);
  expect(await p.exit, p.err()).toBe(0);
  const r = await report(db);
  // sameTotals expects no rejects; the stray lines are the only ones.
  expect(sameTotals({ ...r, rejected: 0 }, ref)).toEqual([]);
  expect(r.rejected).toBe(strayLines.length);
  expect(r.rows).toBe(dataRows - strayLines.length);
  const reasons = new Map<string, { reason: string; count: number; firstLine: number }>();
  strayLines.forEach((line, i) => {
    const reason = `quote opened at column ${columns[i]} never closes`;
    const cur = reasons.get(reason);
    if (cur === undefined) reasons.set(reason, { reason, count: 1, firstLine: line });
    else cur.count++;
  });
  const byReason = (a: { reason: string }, b: { reason: string }) => (a.reason < b.reason ? -1 : 1);
  expect([...r.rejects].sort(byReason)).toEqual([...reasons.values()].sort(byReason));
  const d = new Database(db, { readonly: true });
  const rejected = d.prepare('SELECT line FROM rejects ORDER BY line').all() as { line: number }[];
  d.close();
  expect(rejected.map((x) => x.line)).toEqual(strayLines);
  for (const l of strayLines.slice(0, 10)) {
    expect(p.out()).toContain(
      `line ${l}: a quote opened here never closes; that line was rejected and reading went on at line ${l + 1}`,
    );
  }
  return { out: p.out(), err: p.err(), db };
}

describe('a stray quote that never closes', () => {
  it('at line 2 of a 200,000-row file: one line rejected, the sample still finds M/D/YYYY, no restart', async () => {
    const { csv, ref } = withStrays('line2', new Map([[2, stray]]));
    const { err } = await expectExact(csv, ref, [2], []);
    expect(err).toMatch(/detected date: "Order Date" \(mdy\)/);
    expect(err).not.toMatch(/starting over/);
  }, 180_000);

  it('at line 2 and in the middle (line 100,000): two lines rejected, the quotes do not pair up', async () => {
    const { csv, ref } = withStrays(
      'middle',
      new Map([
        [2, stray],
        [100_000, stray],
      ]),
    );
    await expectExact(csv, ref, [2, 100_000], []);
  }, 180_000);

  it('with byte chunks (no lookahead for the workers), and with a file past the largest chunk size', async () => {
    const { csv, ref } = withStrays(
      'bytes',
      new Map([
        [2, stray],
        [100_000, stray],
      ]),
    );
    // Small chunks: the file is many times the largest chunk, and many chunks end within the
    // field limit of a stray quote. Byte workers cannot look past their chunk: the run may start
    // over with careful cuts, and stays exact.
    await expectExact(csv, ref, [2, 100_000], ['--transport', 'bytes', '--chunk-size', '256KiB']);
  }, 180_000);
});

describe('stray quotes at chunk boundaries', () => {
  it('one in the last line of a chunk, one opening the next chunk, one in the last line of the file: exact, no restart', async () => {
    const chunkSize = 256 * 1024;
    // Where the first chunk ends in the clean file (fast cuts: the last line feed before the size).
    let at = 0;
    let boundaryLine = 0;
    for (let i = 0; i < lines.length; i++) {
      const next = at + Buffer.byteLength(lines[i]) + eol.length;
      if (i > 0 && next > lines[0].length + eol.length + chunkSize) {
        boundaryLine = i + 1; // 1-based: the first line of the second chunk
        break;
      }
      at = next;
    }
    const last = lines.length;
    const strays = [boundaryLine - 1, boundaryLine, last];
    // The quote that opens the second chunk is its very first byte.
    const at2 = new Map<number, (l: string) => string>([
      [boundaryLine - 1, stray],
      [boundaryLine, (l) => `"${l}`],
      [last, stray],
    ]);
    const { csv, ref } = withStrays('boundary', at2);
    const { db, err } = await expectExact(csv, ref, strays, ['--chunk-size', '256KiB'], [2, 1, 2]);
    expect(err).not.toMatch(/starting over/);
    const d = new Database(db, { readonly: true });
    const starts = d.prepare("SELECT byte_start FROM chunks WHERE status = 'done'").all() as {
      byte_start: number;
    }[];
    d.close();
    const text = fs.readFileSync(csv);
    const quoteLineStart = text.indexOf(`"${lines[boundaryLine - 1]}`);
    expect(quoteLineStart).toBeGreaterThan(0);
    expect(starts.map((s) => s.byte_start)).toContain(quoteLineStart);
  }, 180_000);
});

describe('report', () => {
  it('shows lines rejected for quotes that never close first, even when other reasons are more common', async () => {
    const small = lines.slice(0, 2001);
    for (const i of [10, 20, 30, 40, 50]) {
      const f = small[i].split(',');
      f[9] = 'n/a';
      small[i] = f.join(',');
    }
    small[1500] = stray(small[1500]);
    const csv = path.join(dir, 'mixed.csv');
    fs.writeFileSync(csv, `${small.join(eol)}${eol}`);
    const db = path.join(dir, 'mixed.db');
    const p = cli(['run', csv, '--workers', '2', '--db', db]);
    expect(await p.exit, p.err()).toBe(0);
    expect(p.out()).toMatch(
      /WARNING: 1 line\(s\) hold a quote that never closes[^\n]*\n {2}line 1501: a quote opened here never closes; that line was rejected and reading went on at line 1502\n/,
    );
    const r = await report(db);
    expect(r.rejects.map((x) => [x.reason, x.count, x.firstLine])).toEqual([
      ['quote opened at column 2 never closes', 1, 1501],
      ['Unit Price is not a number', 5, 11],
    ]);
    const text = cli(['report', '--db', db]);
    expect(await text.exit).toBe(0);
    const out = text.out();
    const warning = out.indexOf('line 1501: a quote opened here never closes');
    expect(warning).toBeGreaterThan(0);
    expect(warning).toBeLessThan(out.indexOf('yearly'));
    expect(out.indexOf('quote opened at column 2 never closes')).toBeLessThan(
      out.indexOf('Unit Price is not a number'),
    );
  }, 120_000);
});

describe('soak: random stray quotes at random lines and columns', () => {
  /** A quote opened at the start of field `column` (1-based). */
  const strayAt = (column: number) => (line: string) => {
    const f = line.split(',');
    f[column - 1] = `"${f[column - 1]}`;
    return f.join(',');
  };

  // SOAK_SEEDS=n runs more seeds (4 by default).
  const seeds = Number(process.env.SOAK_SEEDS ?? 4);
  for (let seed = 1; seed <= seeds; seed++) {
    it(`seed ${seed}: random chunk sizes, transports and field limits give exact totals`, async () => {
      const rng = new Rng(seed * 7919);
      const rows = 20_000;
      const src = lines.slice(0, rows + 1);
      const strays = new Map<number, number>();
      const count = rng.int(1, 8);
      while (strays.size < count) strays.set(rng.int(2, rows + 1), rng.int(1, 14));
      if (rng.chance(0.5)) strays.set(rows + 1, rng.int(1, 14)); // the last line
      const at = new Map([...strays].map(([l, c]) => [l, strayAt(c)]));
      const { csv, ref } = withStrays(`soak-${seed}`, at, src);
      const sorted = [...strays.keys()].sort((a, b) => a - b);
      const args = [
        '--chunk-size',
        rng.pick(['16KiB', '64KiB', '256KiB', '1MiB']),
        '--transport',
        rng.pick(['range', 'bytes']),
        '--max-field-bytes',
        rng.pick(['4KiB', '64KiB', '1MiB']),
        '--quiet',
      ];
      await expectExact(
        csv,
        ref,
        sorted,
        args,
        sorted.map((l) => strays.get(l) as number),
        rows,
      );
    }, 120_000);
  }
});
