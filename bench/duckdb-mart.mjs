#!/usr/bin/env node
// The DuckDB reference for keyed aggregation: the star-schema mart, GROUP BY customer_id and month
// with exact sums over DECIMAL, materialized as a table in memory, for bench/keys.mjs.
//
//   node bench/duckdb-mart.mjs <star.csv> <threads>
//
// Prints one JSON object: the number of cells, their exact revenue total, the time inside DuckDB
// and this process's resource usage (peak RSS). The caller times the whole process.
import { DuckDBInstance } from '@duckdb/node-api';

const [file, threadsArg = '2'] = process.argv.slice(2);
const threads = Number.parseInt(threadsArg, 10);
if (!file || !Number.isInteger(threads) || threads < 1) {
  console.error('usage: node bench/duckdb-mart.mjs <star.csv> <threads>');
  process.exit(2);
}
const sqlString = (s) => `'${String(s).replaceAll("'", "''")}'`;
const columns = `{'customer_id': 'VARCHAR', 'store_id': 'VARCHAR', 'sales_date': 'DATE', 'sales_person_id': 'VARCHAR',
  'price': 'DECIMAL(18,2)', 'quantity': 'BIGINT', 'total_cost': 'DECIMAL(18,2)'}`;

const t0 = performance.now();
const instance = await DuckDBInstance.create(':memory:', { threads: String(threads) });
const connection = await instance.connect();
await connection.run(`
CREATE TABLE mart AS
SELECT customer_id, strftime(sales_date, '%Y-%m') AS month, count(*) AS rows, sum(quantity) AS units,
       sum(price * quantity) AS revenue
FROM read_csv(${sqlString(file)}, header = true, delim = ',', columns = ${columns})
GROUP BY customer_id, month`);
const reader = await connection.runAndReadAll(
  'SELECT CAST(count(*) AS VARCHAR) AS cells, CAST(CAST(sum(revenue) AS DECIMAL(38,2)) AS VARCHAR) AS revenue, CAST(count(DISTINCT customer_id) AS VARCHAR) AS keys FROM mart',
);
const [row] = reader.getRowObjectsJson();
const queryMs = performance.now() - t0;
connection.closeSync();
instance.closeSync();
const usage = process.resourceUsage();
process.stdout.write(
  `${JSON.stringify({
    engine: 'duckdb',
    file,
    threads,
    queryMs: Math.round(queryMs),
    cells: Number(row.cells),
    keys: Number(row.keys),
    revenue: row.revenue,
    usage: {
      maxRssKb: usage.maxRSS,
      userMs: Math.round(usage.userCPUTime / 1000),
      systemMs: Math.round(usage.systemCPUTime / 1000),
    },
  })}\n`,
);
