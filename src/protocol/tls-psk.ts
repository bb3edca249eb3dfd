/**
 * What a token turns into on the wire: TLS 1.3 with a pre-shared key derived from the token
 * (HKDF-SHA256), no certificates. Both ends prove the key in the handshake, every record is
 * encrypted and authenticated (AES-128-GCM or ChaCha20-Poly1305), and OpenSSL's PSK mode is
 * psk_dhe_ke, so each connection also runs an ECDHE exchange (forward secrecy).
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import { encodeFrame } from './frame-codec.js';
import { encodeMessage, PROTOCOL_VERSION } from './messages.js';

/** TLS 1.3 suites whose hash is SHA-256, the hash a PSK derived here is bound to. */
export const TLS_CIPHERS = 'TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256';
/** Sent in clear in the ClientHello; the same for every token, so it tells an observer nothing. */
export const PSK_IDENTITY = 'salesgrid/1';
const SALT = 'salesgrid tls-psk v1';

export interface PskSecurity {
  psk: Buffer;
  identity: string;
  ciphers: string;
}

export interface ServerSecurity extends PskSecurity {
  /** Most time a connection has to finish the TLS handshake. */
  handshakeTimeoutMs: number;
  /**
   * Written to a client that sends nothing (a salesgrid worker without a token waits for a
   * challenge): a plain challenge that requires a token, so it can say what is missing.
   */
  plainReply: Uint8Array;
  /** How long a silent client is given before `plainReply`. A TLS client speaks at once. */
  plainAfterMs: number;
}

/** The 32-byte PSK for a token. */
export function pskFromToken(token: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(token, 'utf8'), SALT, 'psk', 32));
}

export function clientSecurity(token: string): PskSecurity {
  return { psk: pskFromToken(token), identity: PSK_IDENTITY, ciphers: TLS_CIPHERS };
}

export function serverSecurity(token: string, handshakeTimeoutMs = 10_000): ServerSecurity {
  const challenge = encodeMessage({
    type: 'challenge',
    protocol: PROTOCOL_VERSION,
    nonce: randomBytes(32),
    auth: true,
  });
  return {
    ...clientSecurity(token),
    handshakeTimeoutMs,
    plainReply: encodeFrame(challenge),
    plainAfterMs: 1_500,
  };
}

/** A TLS handshake failure in words a user can act on. */
export function describeTlsError(err: NodeJS.ErrnoException): { auth: boolean; why: string } {
  const code = err.code ?? '';
  if (
    code === 'ERR_SSL_BINDER_DOES_NOT_VERIFY' ||
    /ILLEGAL_PARAMETER|DECRYPT_ERROR|BAD_RECORD_MAC/.test(code)
  )
    return { auth: true, why: 'wrong token (the TLS-PSK handshake failed)' };
  if (/WRONG_VERSION_NUMBER|UNKNOWN_PROTOCOL|HTTP_REQUEST/.test(code))
    return { auth: false, why: 'the peer does not speak TLS (a coordinator or worker without a token?)' };
  return { auth: false, why: `TLS: ${err.code ?? err.message}` };
}
