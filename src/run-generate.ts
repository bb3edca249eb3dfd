/**
 * `salesgrid generate`: checks which options apply to the chosen layout, then writes the file with
 * that layout's generator (loaded on demand) and reports rows, size and time.
 */
import {
  DEFAULT_DATA,
  DEFAULT_RETAIL_DATA,
  type RawGenerateFlags,
  RETAIL_DEFAULTS,
  RETAIL_LIMITS,
} from './config.js';
import { parseIntOption } from './config-values.js';
import { UsageError } from './errors.js';

/** `generate --layout star`: distinct customers unless --customers says otherwise. */
export const STAR_CUSTOMERS = 100_000;

export async function runGenerate(o: RawGenerateFlags): Promise<void> {
  const retail = o.layout === 'retail';
  const star = o.layout === 'star';
  const misplaced = retail
    ? o.quoteText && '--quote-text'
    : star
      ? (o.quoteText && '--quote-text') ||
        (o.products !== undefined && '--products') ||
        (o.categories !== undefined && '--categories') ||
        (o.linesPerOrder !== undefined && '--lines-per-order') ||
        (o.withDimensions && '--with-dimensions')
      : (o.customers !== undefined && '--customers') ||
        (o.products !== undefined && '--products') ||
        (o.categories !== undefined && '--categories') ||
        (o.linesPerOrder !== undefined && '--lines-per-order') ||
        (o.withDimensions && '--with-dimensions');
  if (misplaced) throw new UsageError(`${misplaced} does not apply to --layout ${o.layout}`);
  const rows = parseIntOption(
    '--rows',
    o.rows ?? (retail ? RETAIL_DEFAULTS.rows : 5_000_000),
    0,
    1_000_000_000,
  );
  const seed = parseIntOption('--seed', o.seed, 0, 2 ** 52);
  const out = o.out ?? (retail ? DEFAULT_RETAIL_DATA : DEFAULT_DATA);
  const t0 = Date.now();
  const tty = process.stderr.isTTY && !o.quiet;
  const onProgress = (done: number, bytes: number) => {
    if (tty)
      process.stderr.write(
        `\r  ${done.toLocaleString('en-US')} / ${rows.toLocaleString('en-US')} rows, ${(bytes / 1e6).toFixed(0)} MB`,
      );
  };
  let res: { rows: number; bytes: number; path: string };
  let extra = '';
  if (retail) {
    const { generateRetail } = await import('./generate/retail.js');
    const products = parseIntOption(
      '--products',
      o.products ?? RETAIL_DEFAULTS.products,
      1,
      RETAIL_LIMITS.products,
    );
    const r = await generateRetail({
      rows,
      seed,
      out,
      customers: parseIntOption(
        '--customers',
        o.customers ?? RETAIL_DEFAULTS.customers,
        1,
        RETAIL_LIMITS.customers,
      ),
      products,
      ...(o.categories === undefined
        ? {}
        : {
            categories: parseIntOption(
              '--categories',
              o.categories,
              1,
              Math.min(RETAIL_LIMITS.categories, products),
            ),
          }),
      ...(o.linesPerOrder === undefined
        ? {}
        : {
            linesPerOrder: parseIntOption(
              '--lines-per-order',
              o.linesPerOrder,
              1,
              RETAIL_LIMITS.linesPerOrder,
            ),
          }),
      withDimensions: o.withDimensions === true,
      onProgress,
    });
    res = r;
    extra = `, ${r.orders.toLocaleString('en-US')} orders`;
    if (r.dimensions) extra += `; dimensions: ${Object.values(r.dimensions).join(', ')}`;
  } else if (star) {
    const { generateStar } = await import('./generate-star.js');
    const customers = parseIntOption('--customers', o.customers ?? STAR_CUSTOMERS, 1, 1_000_000_000);
    res = await generateStar({ rows, customers, seed, out, onProgress });
  } else {
    const { generateCsv } = await import('./generate.js');
    res = await generateCsv({ rows, seed, out, quoteText: o.quoteText === true, onProgress });
  }
  if (tty) process.stderr.write('\n');
  if (!o.quiet) {
    process.stdout.write(
      `wrote ${res.rows.toLocaleString('en-US')} rows (${(res.bytes / 1e6).toFixed(1)} MB) to ${res.path} in ${((Date.now() - t0) / 1000).toFixed(1)}s${extra}\n`,
    );
  }
}
