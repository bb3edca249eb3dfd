/**
 * Length-prefixed frames, pure: bytes in, whole frame bodies out. No sockets here.
 *
 * Frame layout: [LEN_LENGTH bytes: body length, big-endian uint32][body]. The length counts the
 * body only, not the length field itself.
 */
import { ProtocolError } from '../errors.js';

export const LEN_LENGTH = 4;
/** Default cap on a body: a chunk plus its envelope. Checked before any byte of the body is buffered. */
export const DEFAULT_MAX_FRAME = 64 * 1024 * 1024;

export function frameHeader(bodyLength: number): Buffer {
  const header = Buffer.allocUnsafe(LEN_LENGTH);
  header.writeUInt32BE(bodyLength, 0);
  return header;
}

export function encodeFrame(body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(LEN_LENGTH + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, LEN_LENGTH);
  return out;
}

/**
 * Incremental decoder. Each body is written once into its own buffer sized from the declared
 * length, so a large chunk costs one copy from the socket's buffers, and a partial tail waits for
 * the next `push`.
 */
export class FrameDecoder {
  /** Largest body accepted; may be raised once a peer is trusted. */
  maxFrame: number;
  private header = Buffer.alloc(LEN_LENGTH);
  private headerFill = 0;
  private body: Buffer | null = null;
  private bodyFill = 0;

  constructor(maxFrame = DEFAULT_MAX_FRAME) {
    this.maxFrame = maxFrame;
  }

  /** Feeds bytes; returns the bodies completed by them, in order. Throws ProtocolError on an oversized length. */
  push(chunk: Uint8Array): Buffer[] {
    const out: Buffer[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.body === null) {
        const take = Math.min(LEN_LENGTH - this.headerFill, chunk.length - pos);
        this.header.set(chunk.subarray(pos, pos + take), this.headerFill);
        this.headerFill += take;
        pos += take;
        if (this.headerFill < LEN_LENGTH) break;
        const length = this.header.readUInt32BE(0);
        if (length > this.maxFrame) {
          throw new ProtocolError(
            `frame of ${length} bytes exceeds the ${this.maxFrame}-byte limit`,
            'E_FRAME_TOO_LARGE',
          );
        }
        this.headerFill = 0;
        if (length === 0) {
          out.push(Buffer.alloc(0));
          continue;
        }
        this.body = Buffer.allocUnsafe(length);
        this.bodyFill = 0;
      }
      const body = this.body;
      const take = Math.min(body.length - this.bodyFill, chunk.length - pos);
      body.set(chunk.subarray(pos, pos + take), this.bodyFill);
      this.bodyFill += take;
      pos += take;
      if (this.bodyFill === body.length) {
        out.push(body);
        this.body = null;
      }
    }
    return out;
  }

  /** Bytes held for an incomplete frame. */
  get pending(): number {
    return this.body === null ? this.headerFill : LEN_LENGTH + this.bodyFill;
  }
}
