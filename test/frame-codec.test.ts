import { afterEach, describe, expect, it, vi } from 'vitest';
import { ProtocolError } from '../src/errors.js';
import {
  DEFAULT_MAX_FRAME,
  encodeFrame,
  FrameDecoder,
  frameHeader,
  LEN_LENGTH,
} from '../src/protocol/frame-codec.js';
import {
  asToWorker,
  decodeMessage,
  encodeMessage,
  encodeTaskParts,
  type Message,
} from '../src/protocol/messages.js';
import { bytes, concatBytes, frame, mp, u32be } from './helpers/bytes.js';
import { Rng } from './helpers/prng.js';

afterEach(() => {
  vi.restoreAllMocks();
});

const enc = new TextEncoder();

/** Hand-assembled bodies: [bytes, the message they encode]. */
const PING = mp.map([
  ['type', mp.str('ping')],
  ['t', mp.uint(5)],
]);
const SMALL_DATA = bytes(0x61, 0x2c, 0x62, 0x0a, 0x00, 0xff);
const TASK_BIN8 = mp.map([
  ['type', mp.str('task')],
  ['chunkId', mp.uint(7)],
  ['attempt', mp.uint(1)],
  ['data', mp.bin8(SMALL_DATA)],
]);
const BIG_DATA = new Rng(11).bytes(300);
const TASK_BIN32 = mp.map([
  ['type', mp.str('task')],
  ['chunkId', mp.uint(127)],
  ['attempt', mp.uint(0)],
  ['data', mp.bin32(BIG_DATA)],
]);
const DONE = mp.map([
  ['type', mp.str('done')],
  ['runId', mp.uint(3)],
  ['status', mp.str('finished')],
]);
const RAW = new Rng(12).bytes(1000);
const EMPTY = new Uint8Array(0);

const BODIES: Uint8Array[] = [PING, EMPTY, TASK_BIN8, EMPTY, EMPTY, TASK_BIN32, DONE, RAW, EMPTY];
const STREAM = concatBytes(BODIES.map(frame));

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

function decodeAll(decoder: FrameDecoder, pieces: Uint8Array[]): string[] {
  const out: string[] = [];
  for (const p of pieces) for (const body of decoder.push(p)) out.push(hex(body));
  return out;
}

function expectProtocolError(fn: () => unknown, code = 'E_PROTOCOL'): ProtocolError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ProtocolError);
  expect((caught as ProtocolError).code).toBe(code);
  return caught as ProtocolError;
}

describe('frame encoding', () => {
  it('writes the body length as a 4-byte big-endian header', () => {
    expect(LEN_LENGTH).toBe(4);
    for (const n of [0, 1, 255, 256, 65535, 65536, 0x01020304, 0xffffffff]) {
      expect(hex(frameHeader(n))).toBe(hex(bytes(u32be(n))));
    }
  });

  it('encodeFrame is the header followed by the body', () => {
    for (const body of BODIES) expect(hex(encodeFrame(body))).toBe(hex(frame(body)));
    expect(hex(encodeFrame(EMPTY))).toBe('00000000');
  });
});

describe('FrameDecoder', () => {
  const expected = BODIES.map(hex);

  it('decodes a multi-frame stream pushed whole', () => {
    const d = new FrameDecoder();
    expect(decodeAll(d, [STREAM])).toEqual(expected);
    expect(d.pending).toBe(0);
  });

  it('decodes the stream split into two pushes at every offset', () => {
    for (let k = 0; k <= STREAM.length; k++) {
      const d = new FrameDecoder();
      const got = decodeAll(d, [STREAM.subarray(0, k), STREAM.subarray(k)]);
      if (got.length !== expected.length || got.some((g, i) => g !== expected[i])) {
        expect({ split: k, got }).toEqual({ split: k, got: expected });
      }
      expect(d.pending).toBe(0);
    }
  });

  it('decodes the stream fed byte by byte', () => {
    const d = new FrameDecoder();
    const got: string[] = [];
    for (let i = 0; i < STREAM.length; i++) {
      for (const body of d.push(STREAM.subarray(i, i + 1))) got.push(hex(body));
    }
    expect(got).toEqual(expected);
    expect(d.pending).toBe(0);
  });

  it('reports as pending every byte received of an incomplete frame, header included', () => {
    // `pending` is "bytes held for an incomplete frame": it must be 0 exactly between frames, so a
    // peer that closes right after a frame header is seen as closing mid-frame.
    const d = new FrameDecoder();
    let sinceFrameEnd = 0;
    let frameAt = 0;
    let frameLen = LEN_LENGTH + BODIES[0].length;
    const trace: [number, number, number][] = [];
    for (let i = 0; i < STREAM.length; i++) {
      d.push(STREAM.subarray(i, i + 1));
      sinceFrameEnd++;
      if (sinceFrameEnd === frameLen) {
        sinceFrameEnd = 0;
        frameAt++;
        frameLen = frameAt < BODIES.length ? LEN_LENGTH + BODIES[frameAt].length : 0;
      }
      if (d.pending !== sinceFrameEnd) trace.push([i, d.pending, sinceFrameEnd]);
    }
    expect(trace.slice(0, 5)).toEqual([]);
  });

  it('decodes random chunkings, including empty pushes', () => {
    const rng = new Rng(99);
    for (let round = 0; round < 200; round++) {
      const pieces: Uint8Array[] = [];
      let at = 0;
      while (at < STREAM.length) {
        const n = rng.chance(0.1) ? 0 : rng.int(1, 64);
        pieces.push(STREAM.subarray(at, at + n));
        at += n;
      }
      expect(decodeAll(new FrameDecoder(), pieces)).toEqual(expected);
    }
  });

  it('returns bodies that survive reuse of the pushed buffer', () => {
    const d = new FrameDecoder();
    const scratch = Buffer.from(frame(PING));
    const [body] = d.push(scratch);
    scratch.fill(0);
    expect(hex(body)).toBe(hex(PING));
  });

  it('decodes the hand-assembled msgpack bodies to messages', () => {
    const bodies = new FrameDecoder().push(STREAM);
    expect(decodeMessage(bodies[0])).toEqual({ type: 'ping', t: 5 });
    const t8 = decodeMessage(bodies[2]);
    expect(t8).toMatchObject({ type: 'task', chunkId: 7, attempt: 1 });
    expect(hex(t8.data as Uint8Array)).toBe(hex(SMALL_DATA));
    const t32 = decodeMessage(bodies[5]);
    expect(t32).toMatchObject({ type: 'task', chunkId: 127, attempt: 0 });
    expect(hex(t32.data as Uint8Array)).toBe(hex(BIG_DATA));
    expect(decodeMessage(bodies[6])).toEqual({ type: 'done', runId: 3, status: 'finished' });
    const task = asToWorker(t8);
    expect(task.type).toBe('task');
  });

  it('yields a zero-length body for a zero length', () => {
    const d = new FrameDecoder();
    const out = d.push(bytes(u32be(0)));
    expect(out).toHaveLength(1);
    expect(out[0].length).toBe(0);
    expect(d.pending).toBe(0);
    // Several in a row, and one split across pushes.
    expect(d.push(bytes(u32be(0), u32be(0), 0, 0)).map((b) => b.length)).toEqual([0, 0]);
    expect(d.pending).toBe(2);
    expect(d.push(bytes(0, 0)).map((b) => b.length)).toEqual([0]);
    expect(d.pending).toBe(0);
  });

  it('accepts a body of exactly the maximum length', () => {
    const d = new FrameDecoder(16);
    const body = new Rng(5).bytes(16);
    expect(d.push(frame(body)).map(hex)).toEqual([hex(body)]);
  });

  it('rejects an oversized declared length after the 4 header bytes, before allocating the body', () => {
    const alloc = vi.spyOn(Buffer, 'allocUnsafe');
    const d = new FrameDecoder(16);
    const err = expectProtocolError(() => d.push(bytes(u32be(17))), 'E_FRAME_TOO_LARGE');
    expect(err.message).toMatch(/17/);
    expect(d.pending).toBeLessThanOrEqual(LEN_LENGTH);
    expect(alloc.mock.calls.some(([n]) => typeof n === 'number' && n >= 17)).toBe(false);
  });

  it('rejects an oversized length arriving one byte at a time, on the fourth byte', () => {
    const d = new FrameDecoder(1000);
    const header = bytes(u32be(1001));
    for (let i = 0; i < 3; i++) {
      expect(d.push(header.subarray(i, i + 1))).toEqual([]);
      expect(d.pending).toBe(i + 1);
    }
    expectProtocolError(() => d.push(header.subarray(3, 4)), 'E_FRAME_TOO_LARGE');
    expect(d.pending).toBeLessThanOrEqual(LEN_LENGTH);
  });

  it('rejects a 4 GiB declared length with the default maximum, without buffering its body', () => {
    const alloc = vi.spyOn(Buffer, 'allocUnsafe');
    const d = new FrameDecoder();
    const pushed = bytes(u32be(0xffffffff), new Rng(1).bytes(100));
    expectProtocolError(() => d.push(pushed), 'E_FRAME_TOO_LARGE');
    expect(d.pending).toBeLessThanOrEqual(LEN_LENGTH);
    expect(alloc.mock.calls.some(([n]) => typeof n === 'number' && n > DEFAULT_MAX_FRAME)).toBe(false);
    expect(alloc.mock.calls.some(([n]) => typeof n === 'number' && n >= 100)).toBe(false);
  });

  it('rejects an oversized frame that follows good frames in the same push', () => {
    const d = new FrameDecoder(64);
    const pushed = bytes(frame(PING), u32be(65));
    expectProtocolError(() => d.push(pushed), 'E_FRAME_TOO_LARGE');
  });
});

describe('encodeTaskParts', () => {
  for (const len of [0, 1, 300, 70000]) {
    it(`envelope + ${len} data bytes decode to the task`, () => {
      const data = new Rng(len + 1).bytes(len);
      const [envelope, tail] = encodeTaskParts({ type: 'task', chunkId: 42, attempt: 2 }, data);
      expect(tail).toBe(data);
      // The envelope ends with key "data" and a bin32 header giving the length: a4 "data" c6 <u32be>.
      expect(hex(envelope.subarray(envelope.length - 10))).toBe(hex(bytes(mp.str('data'), 0xc6, u32be(len))));
      const body = Buffer.from(concatBytes([envelope, tail]));
      const msg = decodeMessage(body);
      expect(Object.keys(msg).sort()).toEqual(['attempt', 'chunkId', 'data', 'type']);
      expect(msg.type).toBe('task');
      expect(msg.chunkId).toBe(42);
      expect(msg.attempt).toBe(2);
      expect(msg.data).toBeInstanceOf(Uint8Array);
      expect(Buffer.from(msg.data as Uint8Array).equals(Buffer.from(data))).toBe(true);
      const task = asToWorker(msg);
      expect(task).toMatchObject({ type: 'task', chunkId: 42, attempt: 2 });
    });
  }

  it('travels as one frame sent in parts: header, envelope, data', () => {
    const data = new Rng(3).bytes(5000);
    const [envelope, tail] = encodeTaskParts({ type: 'task', chunkId: 1, attempt: 0 }, data);
    const d = new FrameDecoder();
    const out = [...d.push(frameHeader(envelope.length + tail.length)), ...d.push(envelope), ...d.push(tail)];
    expect(out).toHaveLength(1);
    const msg = decodeMessage(out[0]);
    expect(Buffer.from(msg.data as Uint8Array).equals(Buffer.from(data))).toBe(true);
  });

  it('keeps every envelope field, large ids included', () => {
    const data = enc.encode('a,b\n');
    const [envelope, tail] = encodeTaskParts({ type: 'task', chunkId: 123456789, attempt: 65536 }, data);
    const msg = decodeMessage(Buffer.from(concatBytes([envelope, tail])));
    expect(msg).toMatchObject({ type: 'task', chunkId: 123456789, attempt: 65536 });
  });
});

describe('encodeMessage / decodeMessage', () => {
  it('round-trips every message kind', () => {
    const messages: Message[] = [
      { type: 'challenge', protocol: 1, nonce: new Rng(1).bytes(32), auth: true },
      { type: 'hello', protocol: 1, workerId: 'w-1', proof: null, slots: 2 },
      { type: 'refuse', code: 'E_AUTH', reason: 'bad token' },
      { type: 'ping', t: 1234.5 },
      { type: 'pong', t: 0 },
      { type: 'done', runId: 9, status: 'finished' },
      { type: 'failure', chunkId: 3, attempt: 1, code: 'E_TOO_MANY_KEYS', message: 'too wide' },
      {
        type: 'task',
        chunkId: 0,
        attempt: 0,
        range: {
          path: '/tmp/x.csv',
          start: 10,
          end: 2000,
          size: 5000,
          mtimeMs: 1_700_000_000_000,
          tag: 'fp1:ab',
        },
      },
    ];
    for (const m of messages) {
      const decoded = decodeMessage(encodeMessage(m));
      // Bins decode as Buffer views; compare them as plain bytes.
      const plain = (o: object) =>
        JSON.parse(
          JSON.stringify(o, (_k, v) =>
            v instanceof Uint8Array || (v && v.type === 'Buffer')
              ? { bin: hex(Buffer.from(v.data ?? v)) }
              : v,
          ),
        );
      expect(plain(decoded)).toEqual(plain(m));
      if ('nonce' in m) expect(hex(decoded.nonce as Uint8Array)).toBe(hex(m.nonce));
    }
  });

  it('decodes a hand-built ping to the same value encodeMessage encodes', () => {
    expect(decodeMessage(Buffer.from(PING))).toEqual(decodeMessage(encodeMessage({ type: 'ping', t: 5 })));
  });

  it('rejects bodies that are not a map with a string type', () => {
    const bad: [string, Uint8Array][] = [
      ['empty body', EMPTY],
      ['msgpack array', mp.array([mp.str('type'), mp.str('ping')])],
      ['nil', mp.nil()],
      ['positive int', mp.uint(5)],
      ['string', mp.str('ping')],
      ['map without type', mp.map([['t', mp.uint(1)]])],
      ['map with numeric type', mp.map([['type', mp.uint(1)]])],
      ['map with nil type', mp.map([['type', mp.nil()]])],
      ['truncated map', PING.subarray(0, PING.length - 1)],
      ['trailing bytes after a map', bytes(PING, 0xc0)],
      ['reserved byte 0xc1', bytes(0xc1)],
      ['unknown extension', bytes(0xd4, 0x01, 0x00)],
    ];
    for (const [what, body] of bad) {
      let caught: unknown;
      try {
        decodeMessage(Buffer.from(body));
      } catch (err) {
        caught = err;
      }
      expect(caught, what).toBeInstanceOf(ProtocolError);
      expect((caught as ProtocolError).code, what).toBe('E_PROTOCOL');
    }
  });

  it('rejects random garbage with a ProtocolError, never another error', () => {
    const rng = new Rng(2024);
    const mapMarkers = new Set([0xde, 0xdf]);
    for (let i = 0; i < 500; i++) {
      const body = rng.bytes(rng.int(1, 64));
      // A random body that starts like a map could, in principle, be a valid message; keep it out.
      while ((body[0] & 0xf0) === 0x80 || mapMarkers.has(body[0])) body[0] = rng.int(0, 255);
      expectProtocolError(() => decodeMessage(Buffer.from(body)));
    }
  });
});
