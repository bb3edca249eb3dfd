/**
 * The coordinator's side of the handshake, pure: whether a hello is accepted, with how many slots.
 * The worker proves the shared token with HMAC-SHA256(token, nonce) over a fresh nonce.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { type Hello, PROTOCOL_VERSION } from '../protocol/messages.js';

export function proofFor(token: string, nonce: Uint8Array): Buffer {
  return createHmac('sha256', token).update(nonce).digest();
}

export interface HelloContext {
  token: string | null;
  nonce: Uint8Array;
  /** The peer connected over loopback. */
  loopback: boolean;
  maxSlots: number;
  /** Another connection with this worker id was heard from recently. */
  duplicateLive: boolean;
}

export type HelloVerdict =
  | { ok: true; slots: number; capped: boolean }
  | { ok: false; code: 'E_VERSION' | 'E_AUTH' | 'E_DUPLICATE'; reason: string };

export function versionRefusal(protocol: number): HelloVerdict {
  return {
    ok: false,
    code: 'E_VERSION',
    reason: `protocol version ${protocol} is not supported; this coordinator speaks version ${PROTOCOL_VERSION}`,
  };
}

export function checkHello(hello: Hello, ctx: HelloContext): HelloVerdict {
  if (hello.protocol !== PROTOCOL_VERSION) return versionRefusal(hello.protocol);
  if (ctx.token !== null) {
    const expected = proofFor(ctx.token, ctx.nonce);
    const proof = hello.proof === null ? null : Buffer.from(hello.proof);
    if (proof === null || proof.length !== expected.length || !timingSafeEqual(proof, expected)) {
      const reason = proof === null ? 'a token is required (--token or SALESGRID_TOKEN)' : 'wrong token';
      return { ok: false, code: 'E_AUTH', reason };
    }
  } else if (!ctx.loopback) {
    return {
      ok: false,
      code: 'E_AUTH',
      reason: 'this coordinator has no token and accepts loopback peers only',
    };
  }
  if (ctx.duplicateLive) {
    return { ok: false, code: 'E_DUPLICATE', reason: `worker id ${hello.workerId} is already connected` };
  }
  const slots = Math.min(hello.slots, ctx.maxSlots);
  return { ok: true, slots, capped: slots < hello.slots };
}
