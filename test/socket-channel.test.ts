/**
 * The socket adapter under stress: a server error after listening (EMFILE on accept, say) is
 * reported and serving goes on; a peer that stops reading shows up as a backlog, and a drain
 * after it catches up.
 */
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Channel } from '../src/protocol/channel.js';
import { connect, type Listener, listen } from '../src/protocol/socket-channel.js';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const f of cleanup.splice(0)) await f();
});

function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (cond()) return resolve();
      if (Date.now() > deadline) return reject(new Error('timed out'));
      setTimeout(check, 5);
    };
    check();
  });
}

describe('listener', () => {
  it('logs a server error after listening and keeps accepting connections', async () => {
    const servers: net.Server[] = [];
    const real = net.createServer;
    vi.spyOn(net, 'createServer').mockImplementation(((...args: Parameters<typeof net.createServer>) => {
      const s = real(...args);
      servers.push(s);
      return s;
    }) as typeof net.createServer);
    const listener: Listener = await listen('127.0.0.1', 0);
    cleanup.push(() => listener.close());
    const errors: string[] = [];
    listener.onError((err) => errors.push(err.message));
    const accepted: Channel[] = [];
    listener.accept((ch) => accepted.push(ch));
    expect(servers).toHaveLength(1);
    servers[0].emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' }));
    expect(errors).toEqual(['accept EMFILE']);
    const client = await connect('127.0.0.1', listener.port);
    cleanup.push(() => client.destroy());
    await until(() => accepted.length === 1);
    client.send({ type: 'ping', t: 1 });
    const got: unknown[] = [];
    accepted[0].onMessage((m) => got.push(m));
    await until(() => got.length === 1);
    expect(got[0]).toEqual({ type: 'ping', t: 1 });
  });
});

describe('backpressure', () => {
  it('a peer that does not read leaves a backlog; a drain follows once it reads', async () => {
    // A raw server that pauses its socket: nothing is read until resumed.
    let peer: net.Socket | null = null;
    const server = net.createServer((s) => {
      s.pause();
      peer = s;
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise((r) => server.close(r)));
    const ch = await connect('127.0.0.1', (server.address() as net.AddressInfo).port);
    cleanup.push(() => ch.destroy());
    let drained = 0;
    ch.onDrain(() => drained++);
    const big = Buffer.alloc(8 * 1024 * 1024, 1);
    for (let i = 0; i < 4; i++) ch.sendParts([big]);
    await until(() => peer !== null);
    expect(ch.backlog).toBeGreaterThan(1024 * 1024);
    (peer as unknown as net.Socket).resume();
    await until(() => drained > 0, 30_000);
    expect(ch.backlog).toBe(0);
    ch.destroy();
    (peer as unknown as net.Socket).destroy();
  });
});
