/**
 * The two worker parse paths end to end: the same file through `run` with the WASM path and the
 * JS path forced gives the same report, rejects and line numbers included.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cli, generate, killAll, report, tmpDir } from './helpers/e2e.js';

let dir: string;
let csv: string;
let quoted: string;

beforeAll(async () => {
  dir = tmpDir();
  csv = path.join(dir, 'sales.csv');
  quoted = path.join(dir, 'quoted.csv');
  await generate(csv, 40_000, 16);
  await generate(quoted, 20_000, 17, ['--quote-text']);
  // Rows the WASM path hands to JS, spread through the file: signs, $, thousands, a bad date,
  // a short row, a quoted line break, more decimals (a scale raise), an empty line.
  const lines = fs.readFileSync(csv, 'utf8').split('\n');
  const odd = [
    'Asia,Chad,Fruits,Online,H,2/29/2015,1,3/1/2015,5,9.99,1,1,1,1',
    'Asia,Chad,Fruits,Online,H,2/29/2016,1,3/1/2016,5,$9.99,1,1,1,1',
    'Asia,Chad,Fruits,Online,H,2/28/2016,1,3/1/2016,-5,"1,234.50",1,1,1,1',
    'Asia,"Multi\nLine",Fruits,Online,H,2/28/2016,1,3/1/2016,5,2.125,1,1,1,1',
    'Asia,Chad,Fruits,Online,H,2/28/2016,1,3/1/2016,5',
    '',
  ];
  for (let i = 1; i < lines.length - 1; i += 997) lines[i] = odd[i % odd.length];
  fs.writeFileSync(csv, lines.join('\n'));
});
afterEach(() => killAll());
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function runWith(file: string, mode: string, name: string) {
  const db = path.join(dir, `${name}-${mode}.db`);
  const p = cli(['run', file, '--workers', '2', '--chunk-size', '128KiB', '--db', db, '--quiet'], {
    SALESGRID_PARSE: mode,
  });
  expect(await p.exit, p.err()).toBe(0);
  const r = (await report(db)) as unknown as Record<string, unknown>;
  const { workers, runId, ...rest } = r;
  for (const k of Object.keys(rest)) if (/ms$|At$|time|started|finished|db|wall/i.test(k)) delete rest[k];
  return rest;
}

describe('run with the parse path forced', () => {
  it('gives the same report, rejects and their lines with WASM and with JS', async () => {
    const [w, j] = await Promise.all([runWith(csv, 'wasm', 'plain'), runWith(csv, 'js', 'plain')]);
    expect(w).toEqual(j);
    expect((j.rejects as unknown[]).length).toBeGreaterThan(2);
  });

  it('gives the same report for an all-quoted file', async () => {
    const [w, j] = await Promise.all([runWith(quoted, 'wasm', 'quoted'), runWith(quoted, 'js', 'quoted')]);
    expect(w).toEqual(j);
  });

  it('names a bad SALESGRID_PARSE or --parse and exits non-zero', async () => {
    const p = cli(['worker', '--connect', '127.0.0.1:9', '--parse', 'simd']);
    expect(await p.exit).not.toBe(0);
    expect(p.err()).toMatch(/--parse must be one of auto, wasm, js/);
    const q = cli(['worker', '--connect', '127.0.0.1:9'], { SALESGRID_PARSE: 'fast' });
    expect(await q.exit).not.toBe(0);
    expect(q.err()).toMatch(/SALESGRID_PARSE must be one of/);
  });
});
