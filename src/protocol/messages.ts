/**
 * Wire messages: a tagged union on `type`, msgpack-encoded, validated before use. Nothing on the
 * wire is executable; a body is plain maps, strings, numbers and bins.
 */
import { Packr } from 'msgpackr';
import type { WirePartial } from '../aggregate/partial.js';
import { ProtocolError } from '../errors.js';
import type { ScanSpec } from '../scan-spec.js';

export const PROTOCOL_VERSION = 1;

export const MessageType = {
  challenge: 'challenge',
  hello: 'hello',
  welcome: 'welcome',
  refuse: 'refuse',
  task: 'task',
  result: 'result',
  failure: 'failure',
  ping: 'ping',
  pong: 'pong',
  done: 'done',
  join: 'join',
} as const;

export interface Challenge {
  type: 'challenge';
  protocol: number;
  nonce: Uint8Array;
  /** Whether a token proof is required. */
  auth: boolean;
}
export interface Hello {
  type: 'hello';
  protocol: number;
  workerId: string;
  /** HMAC-SHA256(token, nonce), or null when the worker has no token. */
  proof: Uint8Array | null;
  slots: number;
}
export interface Welcome {
  type: 'welcome';
  runId: number;
  spec: ScanSpec;
}
export interface Refuse {
  type: 'refuse';
  code: string;
  reason: string;
}
/** The chunk travels as bytes (`data`) or, when the worker can read the file, as a byte range. */
export interface Task {
  type: 'task';
  chunkId: number;
  attempt: number;
  data?: Uint8Array;
  /** A byte range of the file (or URL) `path`, whose identity the worker checks before reading. */
  range?: { path: string; start: number; end: number; size: number; mtimeMs: number; tag: string };
  /** Ship every order's items (a second pass for scattered orders), whatever the welcome's spec says. */
  shipAllOrders?: true;
}
/** A process's resource use so far: peak RSS and CPU time. */
export interface Usage {
  maxRssKb: number;
  userMs: number;
  systemMs: number;
}
export interface Result {
  type: 'result';
  chunkId: number;
  attempt: number;
  partial: WirePartial;
  parseMs: number;
  usage?: Usage;
}
export interface Failure {
  type: 'failure';
  chunkId: number;
  attempt: number;
  code: string;
  message: string;
}
export interface Ping {
  type: 'ping';
  t: number;
}
export interface Pong {
  type: 'pong';
  t: number;
}
export interface Done {
  type: 'done';
  runId: number;
  status: string;
}

/**
 * Part `seq` of a dimension table's encoded bytes (join-codec.ts). The parts of every table in
 * `spec.joins` follow the welcome, in order, before any task: once per session.
 */
export interface Join {
  type: 'join';
  name: string;
  seq: number;
  data: Uint8Array;
}

export type ToWorker = Challenge | Welcome | Refuse | Task | Ping | Pong | Done | Join;
export type ToCoordinator = Hello | Result | Failure | Ping | Pong;
export type Message = ToWorker | ToCoordinator;

// Records off: every body is a self-describing map. Buffers decode as views into the frame body.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

export function encodeMessage(msg: Message): Buffer {
  return packr.pack(msg);
}

/**
 * Encodes a task whose bytes are appended as-is after the envelope, so the chunk is never copied
 * into an encoder buffer: returns [envelope, data], whose concatenation is one msgpack map.
 */
export function encodeTaskParts(task: Omit<Task, 'data'>, data: Uint8Array): [Buffer, Uint8Array] {
  const head = packr.pack(task);
  // fixmap (0x80 | n) or map16 (0xde, n as uint16): one more entry, then key "data" and a bin32 header.
  const tail = Buffer.allocUnsafe(5 + 5);
  tail[0] = 0xa4;
  tail.write('data', 1, 'latin1');
  tail[5] = 0xc6;
  tail.writeUInt32BE(data.length, 6);
  const envelope = Buffer.concat([head, tail]);
  if (head[0] === 0xde) envelope.writeUInt16BE(head.readUInt16BE(1) + 1, 1);
  else if (head[0] >= 0x80 && head[0] < 0x8f) envelope[0] = head[0] + 1;
  else throw new Error('task envelope must encode as a map');
  return [envelope, data];
}

/** `bytes` (one msgpack map) with room for one more entry, which the caller appends. */
function withOneMore(bytes: Buffer): Buffer {
  const h = bytes[0];
  if (h >= 0x80 && h < 0x8f) {
    bytes[0] = h + 1;
    return bytes;
  }
  // A fixmap of 15 entries becomes a map16 of 16.
  if (h === 0x8f) return Buffer.concat([Buffer.from([0xde, 0x00, 0x10]), bytes.subarray(1)]);
  if (h === 0xde && bytes.readUInt16BE(1) < 0xffff) {
    bytes.writeUInt16BE(bytes.readUInt16BE(1) + 1, 1);
    return bytes;
  }
  throw new Error('expected a msgpack map');
}

function arrayHeader(n: number): Buffer {
  if (n < 16) return Buffer.from([0x90 | n]);
  const b = Buffer.allocUnsafe(n < 0x10000 ? 3 : 5);
  if (n < 0x10000) {
    b[0] = 0xdc;
    b.writeUInt16BE(n, 1);
  } else {
    b[0] = 0xdd;
    b.writeUInt32BE(n, 1);
  }
  return b;
}

/** A fixstr key (ASCII, under 32 bytes). */
const key = (k: string) => Buffer.from([0xa0 | k.length, ...Buffer.from(k, 'latin1')]);

/**
 * Encodes a result whose keyed-cell blocks follow their msgpack headers as-is, so megabytes of
 * blocks are never copied into an encoder buffer: the parts' concatenation is what
 * `encodeMessage(result)` would give, up to key order.
 */
export function encodeResultParts(result: Result): Uint8Array[] {
  const { partial, ...rest } = result;
  const { cells, ...scalars } = partial;
  const parts: Uint8Array[] = [
    withOneMore(packr.pack(rest)),
    key('partial'),
    withOneMore(packr.pack(scalars)),
  ];
  parts.push(key('cells'), arrayHeader(cells.length));
  for (const { blocks, ...run } of cells) {
    parts.push(withOneMore(packr.pack(run)), key('blocks'), arrayHeader(blocks.length));
    for (const b of blocks) {
      const bin = Buffer.allocUnsafe(5);
      bin[0] = 0xc6;
      bin.writeUInt32BE(b.length, 1);
      parts.push(bin, b);
    }
  }
  return parts;
}

export function decodeMessage(body: Buffer): Record<string, unknown> {
  let value: unknown;
  try {
    value = packr.unpack(body);
  } catch (err) {
    throw new ProtocolError(`undecodable frame: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ProtocolError('frame body is not a map');
  }
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string') throw new ProtocolError('frame body has no type');
  return value as Record<string, unknown>;
}

// --- validation -----------------------------------------------------------------------------

function fail(type: string, field: string): never {
  throw new ProtocolError(`malformed ${type}: bad ${field}`);
}
function int(m: Record<string, unknown>, k: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const v = m[k];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(String(m.type), k);
  return v;
}
function num(m: Record<string, unknown>, k: string): number {
  const v = m[k];
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(String(m.type), k);
  return v;
}
function str(m: Record<string, unknown>, k: string, maxLen = 4096): string {
  const v = m[k];
  if (typeof v !== 'string' || v.length > maxLen) fail(String(m.type), k);
  return v;
}
function bin(m: Record<string, unknown>, k: string): Uint8Array {
  const v = m[k];
  if (!(v instanceof Uint8Array)) fail(String(m.type), k);
  return v;
}

function asUsage(v: unknown): Usage | undefined {
  if (v === undefined || v === null || typeof v !== 'object') return undefined;
  const u = v as Record<string, unknown>;
  const ok = ['maxRssKb', 'userMs', 'systemMs'].every(
    (k) => typeof u[k] === 'number' && Number.isFinite(u[k]) && (u[k] as number) >= 0,
  );
  return ok
    ? { maxRssKb: u.maxRssKb as number, userMs: u.userMs as number, systemMs: u.systemMs as number }
    : undefined;
}

/** This process's usage, as sent in results and printed in summaries. */
export function processUsage(): Usage {
  const r = process.resourceUsage();
  return {
    maxRssKb: r.maxRSS,
    userMs: Math.round(r.userCPUTime / 1000),
    systemMs: Math.round(r.systemCPUTime / 1000),
  };
}

export function asHello(m: Record<string, unknown>): Hello {
  if (m.type !== 'hello') throw new ProtocolError(`expected hello, got ${String(m.type)}`);
  const proof = m.proof === null || m.proof === undefined ? null : bin(m, 'proof');
  const workerId = str(m, 'workerId', 200);
  if (!/^[\w.:@-]{1,200}$/.test(workerId)) fail('hello', 'workerId');
  return { type: 'hello', protocol: int(m, 'protocol'), workerId, proof, slots: int(m, 'slots', 1, 64) };
}

/** Validates a message the coordinator received after the handshake. Partials are checked by the aggregate module. */
export function asToCoordinator(m: Record<string, unknown>): ToCoordinator {
  switch (m.type) {
    case 'result': {
      const partial = m.partial;
      if (partial === null || typeof partial !== 'object' || Array.isArray(partial))
        fail('result', 'partial');
      return {
        type: 'result',
        chunkId: int(m, 'chunkId'),
        attempt: int(m, 'attempt'),
        partial: partial as WirePartial,
        parseMs: num(m, 'parseMs'),
        usage: asUsage(m.usage),
      };
    }
    case 'failure':
      return {
        type: 'failure',
        chunkId: int(m, 'chunkId'),
        attempt: int(m, 'attempt'),
        code: str(m, 'code', 100),
        message: str(m, 'message'),
      };
    case 'ping':
      return { type: 'ping', t: num(m, 't') };
    case 'pong':
      return { type: 'pong', t: num(m, 't') };
    default:
      throw new ProtocolError(`unexpected message type ${JSON.stringify(m.type)} from a worker`);
  }
}

export function asToWorker(m: Record<string, unknown>): ToWorker {
  switch (m.type) {
    case 'challenge':
      return {
        type: 'challenge',
        protocol: int(m, 'protocol'),
        nonce: bin(m, 'nonce'),
        auth: m.auth === true,
      };
    case 'welcome': {
      const spec = m.spec;
      if (spec === null || typeof spec !== 'object') fail('welcome', 'spec');
      return { type: 'welcome', runId: int(m, 'runId'), spec: spec as ScanSpec };
    }
    case 'refuse':
      return { type: 'refuse', code: str(m, 'code', 100), reason: str(m, 'reason') };
    case 'task': {
      const task: Task = { type: 'task', chunkId: int(m, 'chunkId'), attempt: int(m, 'attempt') };
      if (m.shipAllOrders !== undefined) {
        if (m.shipAllOrders !== true) fail('task', 'shipAllOrders');
        task.shipAllOrders = true;
      }
      if (m.data !== undefined) task.data = bin(m, 'data');
      else {
        const r = m.range as Record<string, unknown> | undefined;
        if (r === null || typeof r !== 'object') fail('task', 'data');
        task.range = {
          path: str(r, 'path'),
          start: int(r, 'start'),
          end: int(r, 'end'),
          size: int(r, 'size'),
          mtimeMs: int(r, 'mtimeMs'),
          tag: str(r, 'tag', 300),
        };
      }
      return task;
    }
    case 'ping':
      return { type: 'ping', t: num(m, 't') };
    case 'pong':
      return { type: 'pong', t: num(m, 't') };
    case 'done':
      return { type: 'done', runId: int(m, 'runId'), status: str(m, 'status', 100) };
    case 'join':
      return { type: 'join', name: str(m, 'name'), seq: int(m, 'seq', 0, 1 << 20), data: bin(m, 'data') };
    default:
      throw new ProtocolError(`unexpected message type ${JSON.stringify(m.type)} from the coordinator`);
  }
}
