#!/usr/bin/env node
// The DuckDB reference: the same aggregates as salesgrid, in one process, for the benchmark.
//
//   node bench/duckdb-agg.mjs <file.csv> <threads>
//
// Prints one JSON object on stdout: totals and monthly figures as exact decimal strings, the
// time spent inside DuckDB (queryMs), and this process's own resource usage. The caller times
// the whole process (start to exit) itself.
//
// Money is exact: "Unit Price" is read as DECIMAL(18,2), "Units Sold" as BIGINT, and the sums
// are DECIMAL(38,2) (a 128-bit accumulator), printed by DuckDB as text. One scan computes both
// the monthly rows and the grand total (GROUPING SETS), like salesgrid's single pass.
import { DuckDBInstance } from '@duckdb/node-api';

const [file, threadsArg = '1'] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/duckdb-agg.mjs <file.csv> <threads>');
  process.exit(2);
}
const threads = Number.parseInt(threadsArg, 10);
if (!Number.isInteger(threads) || threads < 1) {
  console.error(`bad thread count: ${threadsArg}`);
  process.exit(2);
}

const sqlString = (s) => `'${String(s).replaceAll("'", "''")}'`;

// Every column of the reference layout, so DuckDB does no type sniffing; the ones the
// aggregates use get exact types.
const columns = {
  Region: 'VARCHAR',
  Country: 'VARCHAR',
  'Item Type': 'VARCHAR',
  'Sales Channel': 'VARCHAR',
  'Order Priority': 'VARCHAR',
  'Order Date': 'VARCHAR',
  'Order ID': 'BIGINT',
  'Ship Date': 'VARCHAR',
  'Units Sold': 'BIGINT',
  'Unit Price': 'DECIMAL(18,2)',
  'Unit Cost': 'DECIMAL(18,2)',
  'Total Revenue': 'DECIMAL(18,2)',
  'Total Cost': 'DECIMAL(18,2)',
  'Total Profit': 'DECIMAL(18,2)',
};
const columnsSql = `{${Object.entries(columns)
  .map(([name, type]) => `${sqlString(name)}: ${sqlString(type)}`)
  .join(', ')}}`;

const query = `
WITH src AS (
  SELECT
    strftime(strptime("Order Date", '%m/%d/%Y'), '%Y-%m') AS month,
    "Units Sold" AS units,
    "Unit Price" AS price,
    "Units Sold" * "Unit Price" AS revenue -- BIGINT × DECIMAL(18,2) is DECIMAL(37,2): exact
  FROM read_csv(${sqlString(file)}, header = true, delim = ',', quote = '"', columns = ${columnsSql})
)
SELECT
  grouping(month) AS is_total,
  month,
  CAST(count(*) AS VARCHAR) AS rows,
  CAST(CAST(sum(units) AS HUGEINT) AS VARCHAR) AS units,
  CAST(CAST(sum(revenue) AS DECIMAL(38,2)) AS VARCHAR) AS revenue,
  CAST(min(price) AS VARCHAR) AS min_price,
  CAST(max(price) AS VARCHAR) AS max_price,
  CAST(CAST(sum(price) AS DECIMAL(38,2)) AS VARCHAR) AS price_sum
FROM src
GROUP BY GROUPING SETS ((month), ())
ORDER BY is_total, month
`;

const t0 = performance.now();
const instance = await DuckDBInstance.create(':memory:', { threads: String(threads) });
const connection = await instance.connect();
await connection.run(`SET threads = ${threads}`);
const reader = await connection.runAndReadAll(query);
const rows = reader.getRowObjectsJson();
const queryMs = performance.now() - t0;
connection.closeSync();
instance.closeSync();

const total = rows.find((r) => Number(r.is_total) === 1);
const monthly = rows
  .filter((r) => Number(r.is_total) === 0)
  .map((r) => ({ month: r.month, rows: Number(r.rows), units: r.units, revenue: r.revenue }));
if (!total) {
  console.error('DuckDB returned no grand-total row');
  process.exit(1);
}

const usage = process.resourceUsage();
process.stdout.write(
  `${JSON.stringify({
    engine: 'duckdb',
    file,
    threads,
    queryMs: Math.round(queryMs),
    totals: {
      rows: Number(total.rows),
      units: total.units,
      revenue: total.revenue,
      minPrice: total.min_price,
      maxPrice: total.max_price,
      priceSum: total.price_sum,
    },
    monthly,
    usage: {
      maxRssKb: usage.maxRSS,
      userMs: Math.round(usage.userCPUTime / 1000),
      systemMs: Math.round(usage.systemCPUTime / 1000),
    },
  })}\n`,
);
