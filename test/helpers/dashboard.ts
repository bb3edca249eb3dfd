/**
 * Dashboard test helpers: a reference-layout file with hostile keys and bad rows mixed in, its
 * per-region monthly revenue computed independently (csv-parse + BigInt cents), and a `serve`
 * process on port 0.
 */
import fs from 'node:fs';
import { parse } from 'csv-parse/sync';
import { cli, generate, type Proc } from './e2e.js';

export const XSS_REGION = '<img src=x onerror=alert(1)>';
export const XSS_ITEM = '<script>alert(2)</script>';
export const BAD_RAW_MARK = '<b>not-a-price</b>';

/**
 * Generates `rows` rows, then puts a valid row with hostile keys and a row with a bad price after
 * every `every` lines. Returns how many of each were added.
 */
export async function hostileCsv(
  file: string,
  rows: number,
  every: number,
  seed = 11,
): Promise<{ bad: number }> {
  await generate(file, rows, seed);
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const out: string[] = [lines[0]];
  let bad = 0;
  for (let i = 1; i < lines.length; i++) {
    if (lines[i] === '') continue;
    out.push(lines[i]);
    if (i % every === 0) {
      out.push(
        `${XSS_REGION},Nowhere,${XSS_ITEM},Online,H,3/15/2014,900${i},4/1/2014,7,12.50,1.00,87.50,7.00,80.50`,
      );
      out.push(
        `Asia,Japan,Snacks,Online,H,3/15/2014,800${i},4/1/2014,7,${BAD_RAW_MARK},1.00,87.50,7.00,80.50`,
      );
      bad++;
    }
  }
  fs.writeFileSync(file, `${out.join('\n')}\n`);
  return { bad };
}

function cents(text: string): bigint | null {
  const m = /^(\d+)\.(\d{2})$/.exec(text);
  return m ? BigInt(m[1] + m[2]) : null;
}

function fmt(c: bigint): string {
  const s = c.toString().padStart(3, '0');
  return `${s.slice(0, -2)}.${s.slice(-2)}`;
}

/** Revenue per 'YYYY-MM' of one region (all regions when null), skipping rows with a bad price. */
export function monthlyOf(file: string, region: string | null): Map<string, string> {
  const records = parse(fs.readFileSync(file), { columns: true }) as Record<string, string>[];
  const sums = new Map<string, bigint>();
  for (const r of records) {
    const p = cents(r['Unit Price']);
    if (p === null || (region !== null && r.Region !== region)) continue;
    const [m, , y] = r['Order Date'].split('/');
    const key = `${y}-${m.padStart(2, '0')}`;
    sums.set(key, (sums.get(key) ?? 0n) + p * BigInt(r['Units Sold']));
  }
  return new Map([...sums].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, fmt(v)]));
}

/** Starts `salesgrid serve --port 0 …` and resolves with its base URL. */
export async function serve(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ proc: Proc; url: string }> {
  const proc = cli(['serve', '--port', '0', ...args], env);
  await proc.waitFor(/dashboard: http:\/\/\S+?:\d+/, 60_000);
  const url = (/dashboard: (http:\/\/\S+?:\d+)/.exec(proc.err()) ?? [])[1];
  return { proc, url };
}

/** Runs `salesgrid run` to the end and fails the test on a non-zero exit. */
export async function runToEnd(args: string[]): Promise<void> {
  const p = cli(['run', ...args, '--quiet']);
  const code = await p.exit;
  if (code !== 0) throw new Error(`run failed (${code}): ${p.err()}`);
}
