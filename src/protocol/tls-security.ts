/**
 * What a token (or a certificate) turns into on the wire. By default: TLS 1.3 with a pre-shared
 * key derived from the token (HKDF-SHA256), no certificates. Both ends prove the key in the
 * handshake, every record is encrypted and authenticated (AES-128-GCM or ChaCha20-Poly1305), and
 * OpenSSL's PSK mode is psk_dhe_ke, so each connection also runs an ECDHE exchange (forward
 * secrecy). With `--tls-cert`/`--tls-key`/`--tls-ca` the coordinator proves itself with an X.509
 * certificate instead (and may require client certificates); the token still authenticates workers.
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import { encodeFrame } from './frame-codec.js';
import { encodeMessage, PROTOCOL_VERSION } from './messages.js';

/** TLS 1.3 suites whose hash is SHA-256, the hash a PSK derived here is bound to. */
export const TLS_CIPHERS = 'TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256';
/** Sent in clear in the ClientHello; the same for every token, so it tells an observer nothing. */
export const PSK_IDENTITY = 'salesgrid/1';
const SALT = 'salesgrid tls-psk v1';

/** PEM contents (not paths) of a certificate setup. */
export interface CertFiles {
  cert: Buffer | null;
  key: Buffer | null;
  /** Trust anchors for the peer's certificate. */
  ca: Buffer | null;
}

export type ClientSecurity =
  | { kind: 'psk'; psk: Buffer; identity: string; ciphers: string }
  | ({ kind: 'cert' } & CertFiles);

export type ServerSecurity = (
  | { kind: 'psk'; psk: Buffer; identity: string; ciphers: string }
  | ({ kind: 'cert' } & CertFiles)
) & {
  /** Most time a connection has to finish the TLS handshake. */
  handshakeTimeoutMs: number;
  /**
   * Written to a client that sends nothing (a salesgrid worker without a token waits for a
   * challenge): a plain challenge that requires a token, so it can say what is missing.
   */
  plainReply: Uint8Array;
  /** How long a silent client is given before `plainReply`. A TLS client speaks at once. */
  plainAfterMs: number;
};

/** The 32-byte PSK for a token. */
export function pskFromToken(token: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(token, 'utf8'), SALT, 'psk', 32));
}

/** PSK from the token, or certificates when the worker was given a CA to trust. */
export function clientSecurity(token: string, certs: CertFiles | null = null): ClientSecurity {
  if (certs !== null) return { kind: 'cert', ...certs };
  return { kind: 'psk', psk: pskFromToken(token), identity: PSK_IDENTITY, ciphers: TLS_CIPHERS };
}

export function serverSecurity(
  token: string,
  handshakeTimeoutMs = 10_000,
  certs: CertFiles | null = null,
): ServerSecurity {
  const challenge = encodeMessage({
    type: 'challenge',
    protocol: PROTOCOL_VERSION,
    nonce: randomBytes(32),
    auth: true,
  });
  return {
    ...(certs === null ? clientSecurity(token) : { kind: 'cert' as const, ...certs }),
    handshakeTimeoutMs,
    plainReply: encodeFrame(challenge),
    plainAfterMs: 1_500,
  };
}

const CERT_ERRORS =
  /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|ERR_TLS_CERT_ALTNAME_INVALID|CERT_UNTRUSTED|CERT_REJECTED)$/;

/** Starts the close reason of a connection that TLS refused for its credentials, after the handshake. */
export const TLS_REFUSED = 'refused in the TLS handshake: ';

/**
 * A TLS 1.3 client learns that its certificate was refused only after its side of the handshake,
 * from an alert: the reason for such a close, or null for any other error.
 */
export function credentialAlert(err: NodeJS.ErrnoException): string | null {
  const code = err.code ?? '';
  if (
    !/ALERT_(CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|CERTIFICATE_EXPIRED)/.test(
      code,
    )
  )
    return null;
  return `${TLS_REFUSED}${describeTlsError(err).why}`;
}

/** A TLS handshake failure in words a user can act on; `auth` when retrying cannot help. */
export function describeTlsError(err: NodeJS.ErrnoException): { auth: boolean; why: string } {
  const code = err.code ?? '';
  if (code === 'ERR_SSL_BINDER_DOES_NOT_VERIFY' || /ILLEGAL_PARAMETER|DECRYPT_ERROR/.test(code))
    return { auth: true, why: 'wrong token (the TLS-PSK handshake failed)' };
  if (CERT_ERRORS.test(code))
    return { auth: true, why: `the peer's certificate is not trusted (${code}); check --tls-ca` };
  if (/PEER_DID_NOT_RETURN_A_CERTIFICATE|CERTIFICATE_REQUIRED/.test(code))
    return { auth: true, why: 'no client certificate (the coordinator requires one: --tls-cert/--tls-key)' };
  if (/BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN/.test(code))
    return { auth: true, why: `a certificate was refused (${code}); check --tls-cert and --tls-ca` };
  if (/NO_SHARED_CIPHER|HANDSHAKE_FAILURE|NO_SUITABLE/.test(code))
    return {
      auth: true,
      why: `no common way to secure the connection (${code}): use --tls-ca on the worker exactly when the coordinator has --tls-cert`,
    };
  if (/WRONG_VERSION_NUMBER|UNKNOWN_PROTOCOL|HTTP_REQUEST/.test(code))
    return { auth: false, why: 'the peer does not speak TLS (a coordinator or worker without a token?)' };
  return { auth: false, why: `TLS: ${err.code ?? err.message}` };
}
