/**
 * A TCP relay on loopback between a worker and a coordinator that records every byte and can flip
 * one bit of the worker's stream, for wire-level tests of confidentiality and integrity.
 */
import net from 'node:net';

export interface RelayConnection {
  /** Bytes the worker sent, in order. */
  up: Buffer[];
  /** Bytes the coordinator sent, in order. */
  down: Buffer[];
}

export interface Relay {
  port: number;
  connections: RelayConnection[];
  /** Every byte seen in both directions. */
  all(): Buffer;
  /** True once the planned bit flip happened. */
  flipped(): boolean;
  close(): void;
}

/** `flipUpAt`: flip the low bit of this byte offset of the first connection's worker→coordinator stream. */
export function startRelay(targetPort: number, flipUpAt: number | null = null): Promise<Relay> {
  const connections: RelayConnection[] = [];
  const sockets = new Set<net.Socket>();
  let didFlip = false;
  const server = net.createServer((client) => {
    const rec: RelayConnection = { up: [], down: [] };
    const first = connections.length === 0;
    connections.push(rec);
    let upBytes = 0;
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    client.on('data', (d: Buffer) => {
      let out = d;
      if (first && flipUpAt !== null && !didFlip && upBytes + d.length > flipUpAt) {
        out = Buffer.from(d);
        out[flipUpAt - upBytes] ^= 0x01;
        didFlip = true;
      }
      upBytes += d.length;
      rec.up.push(Buffer.from(out));
      upstream.write(out);
    });
    upstream.on('data', (d: Buffer) => {
      rec.down.push(Buffer.from(d));
      client.write(d);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        connections,
        all: () => Buffer.concat(connections.flatMap((c) => [...c.up, ...c.down])),
        flipped: () => didFlip,
        close: () => {
          server.close();
          for (const s of sockets) s.destroy();
        },
      });
    });
  });
}

/**
 * Parses the ServerHello at the start of a TLS server stream: its version and extension types.
 * TLS record: type(1) version(2) length(2); handshake: type(1) length(3); ServerHello:
 * legacy_version(2) random(32) session_id(1+n) cipher(2) compression(1) extensions(2+n).
 */
export function serverHello(stream: Buffer): { cipher: number; extensions: number[] } {
  if (stream[0] !== 0x16 || stream[5] !== 0x02) throw new Error('not a ServerHello');
  let p = 5 + 4 + 2 + 32;
  p += 1 + stream[p];
  const cipher = stream.readUInt16BE(p);
  p += 2 + 1;
  const end = p + 2 + stream.readUInt16BE(p);
  p += 2;
  const extensions: number[] = [];
  while (p < end) {
    extensions.push(stream.readUInt16BE(p));
    p += 4 + stream.readUInt16BE(p + 2);
  }
  return { cipher, extensions };
}
