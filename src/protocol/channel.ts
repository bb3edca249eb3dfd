/**
 * The seam between coordinator/worker logic and transport. Logic talks to a Channel; the socket
 * adapter and the in-memory pair (tests) implement it.
 */
import { errorMessage } from '../errors.js';
import { DEFAULT_MAX_FRAME, FrameDecoder, frameHeader } from './frame-codec.js';
import { decodeMessage, encodeMessage, type Message } from './messages.js';

export interface Channel {
  /** Peer address, for logs and the workers table. */
  readonly remote: string;
  /** True when the peer is on this machine (loopback). */
  readonly loopback: boolean;
  send(msg: Message): void;
  /**
   * Sends one frame whose body is the concatenation of `parts` (no copy). `onSent` runs once the
   * transport no longer needs the parts (flushed, or the channel is gone).
   */
  sendParts(parts: Uint8Array[], onSent?: () => void): void;
  onMessage(handler: (msg: Record<string, unknown>) => void): void;
  /** Bytes sent but not yet handed to the transport (socket buffer); 0 for the in-memory pair. */
  readonly backlog: number;
  /** Called when a backlog has been flushed. */
  onDrain(handler: () => void): void;
  /** Called once, with a reason when the channel failed (bad frame, socket error). */
  onClose(handler: (reason: string | null) => void): void;
  /** Sets the largest frame body this channel accepts from now on. */
  setMaxFrame(bytes: number): void;
  /** Flushes what was sent, then closes. */
  end(): void;
  /** Closes now, recording why. */
  destroy(reason?: string): void;
  readonly closed: boolean;
}

/** Shared plumbing: a decoder feeding handlers, and close-once semantics. */
export abstract class BaseChannel implements Channel {
  abstract readonly remote: string;
  abstract readonly loopback: boolean;
  private readonly decoder: FrameDecoder;
  private messageHandler: (msg: Record<string, unknown>) => void = () => {};
  private closeHandler: (reason: string | null) => void = () => {};
  private isClosed = false;
  protected drainHandler: () => void = () => {};

  constructor(maxFrame = DEFAULT_MAX_FRAME) {
    this.decoder = new FrameDecoder(maxFrame);
  }

  protected abstract writeParts(parts: Uint8Array[], onSent?: () => void): void;
  abstract end(): void;
  protected abstract teardown(): void;

  send(msg: Message): void {
    const body = encodeMessage(msg);
    this.writeParts([frameHeader(body.length), body]);
  }

  sendParts(parts: Uint8Array[], onSent?: () => void): void {
    let length = 0;
    for (const p of parts) length += p.length;
    this.writeParts([frameHeader(length), ...parts], onSent);
  }

  get backlog(): number {
    return 0;
  }

  onDrain(handler: () => void): void {
    this.drainHandler = handler;
  }

  onMessage(handler: (msg: Record<string, unknown>) => void): void {
    this.messageHandler = handler;
  }

  setMaxFrame(bytes: number): void {
    this.decoder.maxFrame = bytes;
  }

  onClose(handler: (reason: string | null) => void): void {
    this.closeHandler = handler;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** The one read loop: bytes from the transport go through the codec to the handler. */
  protected receive(bytes: Uint8Array): void {
    if (this.isClosed) return;
    try {
      for (const body of this.decoder.push(bytes)) {
        if (this.isClosed) return;
        this.messageHandler(decodeMessage(body));
      }
    } catch (err) {
      this.destroy(errorMessage(err));
    }
  }

  protected closedByTransport(reason: string | null): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closeHandler(reason);
  }

  destroy(reason?: string): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.teardown();
    this.closeHandler(reason ?? null);
  }
}

/** Two connected in-memory channels; bytes still pass through the frame codec. */
export function channelPair(maxFrame = DEFAULT_MAX_FRAME): [Channel, Channel] {
  class MemoryChannel extends BaseChannel {
    readonly remote = 'memory';
    readonly loopback = true;
    peer: MemoryChannel | null = null;
    protected writeParts(parts: Uint8Array[], onSent?: () => void): void {
      if (this.closed) return onSent?.();
      const bytes = Buffer.concat(parts);
      onSent?.();
      const peer = this.peer;
      queueMicrotask(() => peer?.receive(bytes));
    }
    end(): void {
      const peer = this.peer;
      queueMicrotask(() => {
        this.destroy();
        peer?.closedByTransport(null);
      });
    }
    protected teardown(): void {
      const peer = this.peer;
      queueMicrotask(() => peer?.closedByTransport('peer closed'));
    }
  }
  const a = new MemoryChannel(maxFrame);
  const b = new MemoryChannel(maxFrame);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
