/**
 * Opening a salesgrid database: the slice of better-sqlite3 the store uses, the writer's open
 * (WAL, pragmas, the schema created, its version recorded or checked) and the one read-only open
 * behind `report`, `top`, `eda` and the dashboard. Both register `sg_sum`; another schema version
 * is a clear error, never a migration.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SalesgridError } from '../errors.js';
import { SCHEMA, SCHEMA_VERSION } from './schema.js';
import { type AggregateHost, registerSortKeySum } from './sort-key.js';

/** The slice of better-sqlite3's statements the store and the modules owning tables use. */
export interface Statement {
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  iterate(...params: unknown[]): IterableIterator<unknown>;
  /** Rows as arrays in column order instead of objects (cheaper per row). */
  raw(toggle?: boolean): Statement;
}
/** The handle: the store keeps it private; read-only callers type it against their own slice. */
export interface Db extends AggregateHost {
  prepare(sql: string): Statement;
  exec(sql: string): void;
  pragma(sql: string, options?: { simple?: boolean }): unknown;
  transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R;
  close(): void;
}

/**
 * Opens an existing salesgrid database read-only (for `report`, `top`, `eda` and the dashboard),
 * with `sg_sum` registered. A missing file, another kind of file or another schema version is a
 * clear error. Callers type the handle against the slice they use.
 */
export function openReadOnlyHandle(file: string): unknown {
  if (!fs.existsSync(file)) {
    throw new SalesgridError(
      'E_NO_RUN',
      `no database at ${file}; run "salesgrid run <csv>" first, or pass --db`,
      {
        exitCode: 2,
      },
    );
  }
  let db: Db;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true }) as unknown as Db;
    db.pragma('busy_timeout = 5000');
    db.prepare('SELECT 1 FROM runs LIMIT 1').get();
  } catch (err) {
    throw new SalesgridError('E_INPUT', `${file} is not a salesgrid database: ${(err as Error).message}`, {
      exitCode: 2,
    });
  }
  const version = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as
    | { value: string }
    | undefined;
  if (version !== undefined && Number(version.value) !== SCHEMA_VERSION) {
    db.close();
    throw new SalesgridError(
      'E_INPUT',
      `database ${file} has schema version ${version.value}; this salesgrid reads ${SCHEMA_VERSION}`,
      { exitCode: 2 },
    );
  }
  registerSortKeySum(db);
  return db;
}

/** Opens (and creates) a database for writing. */
export function openWritableDb(file: string): Db {
  let db: Db;
  try {
    if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    db = new Database(file) as unknown as Db;
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    // 4 MB of page cache (better-sqlite3's default is 16): the writer appends in key order and
    // builds indexes by sorting, neither needs more, and the coordinator's peak RSS is a target.
    db.pragma('cache_size = -4000');
    db.exec(SCHEMA);
  } catch (err) {
    throw new SalesgridError('E_INPUT', `cannot open database ${file}: ${(err as Error).message}`, {
      exitCode: 2,
    });
  }
  const version = db.prepare('SELECT value FROM meta WHERE key = ?').get('schema_version') as
    | { value: string }
    | undefined;
  if (version === undefined)
    db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run('schema_version', String(SCHEMA_VERSION));
  else if (Number(version.value) !== SCHEMA_VERSION) {
    db.close();
    throw new SalesgridError(
      'E_INPUT',
      `database ${file} has schema version ${version.value}; this salesgrid reads ${SCHEMA_VERSION}`,
      {
        exitCode: 2,
      },
    );
  }
  registerSortKeySum(db);
  return db;
}
