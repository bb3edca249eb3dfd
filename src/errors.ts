/**
 * Coded errors. Errors crossing a process boundary lose their prototype, so callers match on
 * `code`, never on `instanceof`. `exitCode` is what the CLI exits with when the error ends a command.
 */

export type ErrorCode =
  | 'E_USAGE'
  | 'E_INPUT'
  | 'E_COLUMNS'
  | 'E_RECORD_TOO_LONG'
  | 'E_FRAME_TOO_LARGE'
  | 'E_PROTOCOL'
  | 'E_VERSION'
  | 'E_AUTH'
  | 'E_CHUNK_FAILED'
  | 'E_TOO_MANY_KEYS'
  | 'E_NO_RUN'
  | 'E_DB_LOCKED'
  | 'E_RESUME'
  | 'E_WAIT_TIMEOUT'
  | 'E_CONNECT'
  | 'E_INTERRUPTED'
  | 'E_RANGE_REFUSED'
  | 'E_SOURCE_MISMATCH'
  | 'E_SOURCE_CHANGED'
  | 'E_SOURCE'
  | 'E_TOO_FEW_CUSTOMERS'
  | 'E_NO_CUSTOMERS'
  | 'E_NO_BASKETS'
  | 'E_TILING'
  | 'E_FINISH'
  | 'E_SPILL'
  | 'E_RESULT_TOO_LARGE'
  | 'E_JOIN'
  | 'E_JOIN_TOO_LARGE'
  | 'E_INTERNAL';

export class SalesgridError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; exitCode?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SalesgridError';
    this.code = code;
    this.exitCode = options.exitCode ?? 1;
  }
}

/** Bad arguments or options. */
export class UsageError extends SalesgridError {
  constructor(message: string) {
    super('E_USAGE', message, { exitCode: 2 });
    this.name = 'UsageError';
  }
}

/** A `--join` table that cannot be used (missing key column, duplicate keys, bad CSV, over the cap). */
export class JoinError extends SalesgridError {
  constructor(message: string, code: 'E_JOIN' | 'E_JOIN_TOO_LARGE' = 'E_JOIN') {
    super(code, message, { exitCode: 2 });
    this.name = 'JoinError';
  }
}

/** A bad input file: unreadable, no header, a required column missing. Stops a run before it starts. */
export class InputError extends SalesgridError {
  constructor(message: string, code: 'E_INPUT' | 'E_COLUMNS' | 'E_RECORD_TOO_LONG' = 'E_INPUT') {
    super(code, message, { exitCode: 2 });
    this.name = 'InputError';
  }
}

/** The peer broke the protocol: bad frame, bad shape, out-of-order message. Closes that connection. */
export class ProtocolError extends SalesgridError {
  constructor(message: string, code: 'E_PROTOCOL' | 'E_FRAME_TOO_LARGE' | 'E_VERSION' = 'E_PROTOCOL') {
    super(code, message);
    this.name = 'ProtocolError';
  }
}

export class AuthError extends SalesgridError {
  constructor(message: string) {
    super('E_AUTH', message, { exitCode: 3 });
    this.name = 'AuthError';
  }
}

/** A chunk that failed on every attempt. Not retryable: poison input or a crashing worker. */
export class ChunkFailedError extends SalesgridError {
  constructor(message: string) {
    super('E_CHUNK_FAILED', message);
    this.name = 'ChunkFailedError';
  }
}

/** A dimension or mart has more distinct keys than allowed; retrying cannot help. */
export class TooManyKeysError extends SalesgridError {
  constructor(message: string) {
    super('E_TOO_MANY_KEYS', message);
    this.name = 'TooManyKeysError';
  }
}

/** Errors that mean "this input can never succeed", so the scheduler does not retry them. */
export const NON_RETRYABLE: ReadonlySet<string> = new Set([
  'E_TOO_MANY_KEYS',
  'E_RESULT_TOO_LARGE',
  'E_SOURCE_CHANGED',
]);

export interface WireError {
  code: string;
  message: string;
}

export function errorToWire(err: unknown): WireError {
  if (err instanceof SalesgridError) return { code: err.code, message: err.message };
  if (err instanceof Error) return { code: 'E_INTERNAL', message: err.message };
  return { code: 'E_INTERNAL', message: String(err) };
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
