/**
 * The socket adapter: the only module that imports node:net.
 */
import net from 'node:net';
import { SalesgridError } from '../errors.js';
import { BaseChannel, type Channel } from './channel.js';
import { DEFAULT_MAX_FRAME } from './frame-codec.js';

export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.');
}

class SocketChannel extends BaseChannel {
  readonly remote: string;
  readonly loopback: boolean;
  private readonly socket: net.Socket;

  constructor(socket: net.Socket, maxFrame: number) {
    super(maxFrame);
    this.socket = socket;
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.loopback = isLoopbackAddress(socket.remoteAddress);
    socket.setNoDelay(true);
    socket.on('data', (bytes: Buffer) => this.receive(bytes));
    socket.on('error', (err) => this.closedByTransport(err.message));
    socket.on('close', () => this.closedByTransport(null));
    socket.on('drain', () => this.drainHandler());
  }

  override get backlog(): number {
    return this.socket.writableLength;
  }

  protected writeParts(parts: Uint8Array[], onSent?: () => void): void {
    if (this.closed || this.socket.destroyed) return onSent?.();
    this.socket.cork();
    const last = parts.length - 1;
    for (let i = 0; i < last; i++) this.socket.write(parts[i]);
    this.socket.write(parts[last], onSent === undefined ? undefined : () => onSent());
    this.socket.uncork();
  }

  end(): void {
    if (!this.socket.destroyed) this.socket.end();
  }

  protected teardown(): void {
    this.socket.destroy();
  }
}

export interface Listener {
  readonly host: string;
  readonly port: number;
  /** Starts handing connections to `onChannel`; ones that arrived before are handed over first. */
  accept(onChannel: (channel: Channel) => void): void;
  /** Errors after listening (EMFILE on accept, say): the server keeps serving; without a handler they are ignored. */
  onError(handler: (err: Error) => void): void;
  /** Stops listening; open connections get `graceMs` to finish (e.g. flush `done`), then are destroyed. */
  close(graceMs?: number): Promise<void>;
}

/** Listens on host:port (port 0 picks a free one); connections become Channels once `accept` is called. */
export function listen(host: string, port: number, maxFrame = DEFAULT_MAX_FRAME): Promise<Listener> {
  return new Promise((resolve, reject) => {
    const sockets = new Set<net.Socket>();
    let handler: ((channel: Channel) => void) | null = null;
    const early: Channel[] = [];
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      const channel = new SocketChannel(socket, maxFrame);
      if (handler === null) early.push(channel);
      else handler(channel);
    });
    server.once('error', (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'EADDRINUSE'
          ? `port ${port} on ${host} is already in use`
          : err.code === 'EADDRNOTAVAIL'
            ? `address ${host} is not available on this machine`
            : err.code === 'EACCES'
              ? `no permission to listen on ${host}:${port}`
              : err.message;
      reject(new SalesgridError('E_CONNECT', `cannot listen: ${why}`, { exitCode: 2 }));
    });
    let onError: (err: Error) => void = () => {};
    server.listen(port, host, () => {
      const addr = server.address() as net.AddressInfo;
      // An unhandled server 'error' would crash the process; after listening, none ends the service.
      server.on('error', (err) => onError(err));
      resolve({
        host: addr.address,
        port: addr.port,
        onError(handler) {
          onError = handler;
        },
        accept(onChannel) {
          handler = onChannel;
          for (const channel of early.splice(0)) onChannel(channel);
        },
        close: (graceMs = 0) =>
          new Promise<void>((done) => {
            server.close();
            const deadline = Date.now() + graceMs;
            const check = () => {
              if (sockets.size === 0) return done();
              if (Date.now() >= deadline) {
                for (const s of sockets) s.destroy();
                return done();
              }
              setTimeout(check, 5);
            };
            check();
          }),
      });
    });
  });
}

/** Opens a connection; rejects with the OS reason (ECONNREFUSED, …) if it cannot. */
export function connect(host: string, port: number, maxFrame = DEFAULT_MAX_FRAME): Promise<Channel> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const onError = (err: NodeJS.ErrnoException) => {
      socket.destroy();
      reject(
        new SalesgridError('E_CONNECT', `cannot connect to ${host}:${port}: ${err.code ?? err.message}`),
      );
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      resolve(new SocketChannel(socket, maxFrame));
    });
  });
}
