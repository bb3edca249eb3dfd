/**
 * Dashboard access. With no token (loopback only) everything is open. With a token, a request
 * needs `Authorization: Bearer <token>` or the session cookie the login form sets (a random id,
 * never the token; HttpOnly, SameSite=Strict). Tokens are compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'salesgrid_session';
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
const MAX_SESSIONS = 10_000;

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (header === undefined) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (name !== '' && !out.has(name)) out.set(name, part.slice(eq + 1).trim());
  }
  return out;
}

/** Where to go after login: a local path only (never `//host` or a full URL). */
export function safeNext(next: unknown): string {
  if (typeof next !== 'string' || !next.startsWith('/') || next.startsWith('//') || next.includes('\\'))
    return '/';
  return next.length > 500 ? '/' : next;
}

export class Auth {
  private readonly token: Buffer | null;
  private readonly sessions = new Map<string, number>();
  private readonly now: () => number;

  constructor(token: string | null, now: () => number = Date.now) {
    this.token = token === null ? null : digest(token);
    this.now = now;
  }

  get required(): boolean {
    return this.token !== null;
  }

  checkToken(candidate: unknown): boolean {
    if (this.token === null) return true;
    if (typeof candidate !== 'string' || candidate === '') return false;
    return timingSafeEqual(digest(candidate), this.token);
  }

  /** A new session id for the cookie. */
  newSession(): string {
    const now = this.now();
    if (this.sessions.size >= MAX_SESSIONS) {
      for (const [id, expires] of this.sessions) if (expires <= now) this.sessions.delete(id);
      if (this.sessions.size >= MAX_SESSIONS) {
        const oldest = this.sessions.keys().next().value;
        if (oldest !== undefined) this.sessions.delete(oldest);
      }
    }
    const id = randomBytes(32).toString('base64url');
    this.sessions.set(id, now + SESSION_TTL_MS);
    return id;
  }

  endSession(cookieHeader: string | undefined): void {
    const id = parseCookies(cookieHeader).get(SESSION_COOKIE);
    if (id !== undefined) this.sessions.delete(id);
  }

  /** Does this request carry the bearer token or a live session cookie? */
  allows(headers: { authorization?: string; cookie?: string }): boolean {
    if (this.token === null) return true;
    const auth = headers.authorization;
    if (auth !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
      return m !== null && this.checkToken(m[1]);
    }
    const id = parseCookies(headers.cookie).get(SESSION_COOKIE);
    if (id === undefined) return false;
    const expires = this.sessions.get(id);
    if (expires === undefined) return false;
    if (expires <= this.now()) {
      this.sessions.delete(id);
      return false;
    }
    return true;
  }

  cookie(id: string): string {
    return `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_TTL_MS / 1000}`;
  }

  static clearedCookie(): string {
    return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
  }
}
