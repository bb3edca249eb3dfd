/**
 * The socket adapter: the only module that imports node:net and node:tls. With a token both ends
 * speak TLS 1.3 PSK (see tls-security.ts); a channel is handed over only once the handshake is done.
 */
import net from 'node:net';
import tls from 'node:tls';
import { AuthError, SalesgridError } from '../errors.js';
import { BaseChannel, type Channel } from './channel.js';
import { DEFAULT_MAX_FRAME } from './frame-codec.js';
import {
  type ClientSecurity,
  credentialAlert,
  describeTlsError,
  type ServerSecurity,
} from './tls-security.js';

/** First byte of a TLS record carrying a handshake message (a ClientHello). */
const TLS_HANDSHAKE_RECORD = 0x16;

export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.');
}

/** A socket error in a line: OpenSSL's messages span lines and name source files. */
function transportError(err: NodeJS.ErrnoException): string {
  if (err.code === 'ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC')
    return 'a TLS record failed its integrity check (bad record mac): the stream was altered in transit';
  const refused = credentialAlert(err);
  if (refused !== null) return refused;
  if (err.code?.startsWith('ERR_SSL_')) return `TLS error ${err.code}`;
  return err.message;
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
    socket.on('error', (err) => this.closedByTransport(transportError(err)));
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
  /**
   * Starts handing connections to `onChannel`; ones that arrived before are handed over first.
   * `onRefused` hears of connections that failed the TLS handshake (wrong token, not TLS, silent).
   */
  accept(onChannel: (channel: Channel) => void, onRefused?: (remote: string, reason: string) => void): void;
  /** Errors after listening (EMFILE on accept, say): the server keeps serving; without a handler they are ignored. */
  onError(handler: (err: Error) => void): void;
  /** Stops listening; open connections get `graceMs` to finish (e.g. flush `done`), then are destroyed. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Server side of PSK connections: a tls.Server that never listens itself; the plain server hands
 * it each socket whose first bytes are a TLS handshake. A client that sends nothing gets
 * `plainReply` (a worker without a token learns that one is needed); anything else is cut.
 */
function secureServer(
  security: ServerSecurity,
  onSecure: (socket: tls.TLSSocket) => void,
  onRefused: (remote: string, reason: string) => void,
): (socket: net.Socket, remote: string) => void {
  const server = tls.createServer({
    minVersion: 'TLSv1.3',
    handshakeTimeout: security.handshakeTimeoutMs,
    ...(security.kind === 'psk'
      ? {
          ciphers: security.ciphers,
          pskCallback: (_s: tls.TLSSocket, identity: string) =>
            identity === security.identity ? security.psk : null,
        }
      : {
          cert: security.cert ?? undefined,
          key: security.key ?? undefined,
          ca: security.ca ?? undefined,
          // With a CA, workers must show a certificate it signed.
          requestCert: security.ca !== null,
          rejectUnauthorized: security.ca !== null,
        }),
  });
  server.on('secureConnection', onSecure);
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket) => {
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    onRefused(
      remote,
      err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT'
        ? `no TLS handshake within ${security.handshakeTimeoutMs / 1000}s`
        : describeTlsError(err).why,
    );
  });
  return (socket, remote) => {
    const silent = setTimeout(() => {
      socket.end(security.plainReply);
      setTimeout(() => socket.destroy(), 1_000).unref();
      onRefused(remote, 'sent nothing; told it a token is required');
    }, security.plainAfterMs);
    socket.on('error', () => {});
    socket.on('close', () => clearTimeout(silent));
    socket.once('data', (first: Buffer) => {
      clearTimeout(silent);
      if (first[0] !== TLS_HANDSHAKE_RECORD) {
        socket.destroy();
        return onRefused(remote, 'not a TLS handshake (a worker without a token?)');
      }
      socket.pause();
      // The TLS socket takes bytes already buffered on the socket as the start of its input.
      socket.unshift(first);
      server.emit('connection', socket);
    });
  };
}

/**
 * Listens on host:port (port 0 picks a free one); connections become Channels once `accept` is
 * called. With `security`, only peers that complete the TLS-PSK handshake become Channels.
 */
export function listen(
  host: string,
  port: number,
  maxFrame = DEFAULT_MAX_FRAME,
  security?: ServerSecurity,
): Promise<Listener> {
  return new Promise((resolve, reject) => {
    const sockets = new Set<net.Socket>();
    let handler: ((channel: Channel) => void) | null = null;
    let refused: (remote: string, reason: string) => void = () => {};
    const early: Channel[] = [];
    const hand = (socket: net.Socket) => {
      const channel = new SocketChannel(socket, maxFrame);
      if (handler === null) early.push(channel);
      else handler(channel);
    };
    const handSecure =
      security === undefined ? null : secureServer(security, hand, (remote, why) => refused(remote, why));
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      if (handSecure === null) return hand(socket);
      handSecure(socket, `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`);
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
        accept(onChannel, onRefused) {
          handler = onChannel;
          if (onRefused) refused = onRefused;
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

/**
 * Opens a connection; rejects with the OS reason (ECONNREFUSED, …) if it cannot. With `security`
 * the channel is handed over after the TLS-PSK handshake; a handshake the token fails rejects
 * with an AuthError.
 */
export function connect(
  host: string,
  port: number,
  maxFrame = DEFAULT_MAX_FRAME,
  security?: ClientSecurity,
): Promise<Channel> {
  if (security !== undefined) return connectSecure(host, port, maxFrame, security);
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

function connectSecure(
  host: string,
  port: number,
  maxFrame: number,
  security: ClientSecurity,
): Promise<Channel> {
  return new Promise((resolve, reject) => {
    let connected = false;
    const socket = tls.connect({
      host,
      port,
      minVersion: 'TLSv1.3',
      ...(security.kind === 'psk'
        ? {
            ciphers: security.ciphers,
            pskCallback: () => ({ psk: security.psk, identity: security.identity }),
            // The PSK authenticates the server; there is no certificate to check.
            checkServerIdentity: () => undefined,
          }
        : {
            ca: security.ca ?? undefined,
            cert: security.cert ?? undefined,
            key: security.key ?? undefined,
            // The certificate must name the host as given to --connect (an IP or a DNS name).
            servername: net.isIP(host) === 0 ? host : undefined,
          }),
    });
    socket.once('connect', () => {
      connected = true;
    });
    const onError = (err: NodeJS.ErrnoException) => {
      socket.destroy();
      if (!connected) {
        return reject(
          new SalesgridError('E_CONNECT', `cannot connect to ${host}:${port}: ${err.code ?? err.message}`),
        );
      }
      const { auth, why } = describeTlsError(err);
      reject(
        auth
          ? new AuthError(`${host}:${port} refused this worker: ${why}`)
          : new SalesgridError('E_CONNECT', `cannot connect to ${host}:${port}: ${why}`),
      );
    };
    socket.once('error', onError);
    const onClose = () =>
      onError(
        Object.assign(new Error('closed'), {
          code: 'the peer closed the connection during the TLS handshake (a coordinator without a token?)',
        }),
      );
    socket.once('close', onClose);
    socket.once('secureConnect', () => {
      socket.off('error', onError);
      socket.off('close', onClose);
      resolve(new SocketChannel(socket, maxFrame));
    });
  });
}
