/**
 * The dashboard's pure parts: access control with an injected clock, cookie parsing, the login
 * redirect check, LIKE escaping, and exact yearly sums.
 */
import { describe, expect, it } from 'vitest';
import { parseServeOptions, parseUiOptions } from '../src/config-views.js';
import { Auth, parseCookies, SESSION_COOKIE, SESSION_TTL_MS, safeNext } from '../src/serve/auth.js';
import { containsPattern, yearly } from '../src/serve/queries.js';

describe('Auth', () => {
  it('lets everything through without a token', () => {
    const auth = new Auth(null);
    expect(auth.required).toBe(false);
    expect(auth.allows({})).toBe(true);
  });

  it('takes the bearer token, and nothing else in the header', () => {
    const auth = new Auth('s3cret');
    expect(auth.allows({})).toBe(false);
    expect(auth.allows({ authorization: 'Bearer s3cret' })).toBe(true);
    expect(auth.allows({ authorization: 'bearer s3cret' })).toBe(true);
    expect(auth.allows({ authorization: 'Bearer s3cre' })).toBe(false);
    expect(auth.allows({ authorization: 'Bearer s3cret extra' })).toBe(false);
    expect(auth.allows({ authorization: 'Basic s3cret' })).toBe(false);
    expect(auth.checkToken('')).toBe(false);
    expect(auth.checkToken(undefined)).toBe(false);
  });

  it('accepts a session cookie until it expires or ends', () => {
    let now = 1_000;
    const auth = new Auth('s3cret', () => now);
    const id = auth.newSession();
    const cookie = `${SESSION_COOKIE}=${id}`;
    expect(auth.cookie(id)).toMatch(/HttpOnly; SameSite=Strict/);
    expect(auth.cookie(id)).not.toContain('s3cret');
    expect(auth.allows({ cookie: `other=1; ${cookie}` })).toBe(true);
    expect(auth.allows({ cookie: `${SESSION_COOKIE}=guess` })).toBe(false);
    now += SESSION_TTL_MS - 1;
    expect(auth.allows({ cookie })).toBe(true);
    now += 1;
    expect(auth.allows({ cookie })).toBe(false);
    const second = auth.newSession();
    auth.endSession(`${SESSION_COOKIE}=${second}`);
    expect(auth.allows({ cookie: `${SESSION_COOKIE}=${second}` })).toBe(false);
  });

  it('parses cookies, first value wins', () => {
    expect(parseCookies('a=1; b=2; a=3; junk; =x')).toEqual(
      new Map([
        ['a', '1'],
        ['b', '2'],
      ]),
    );
    expect(parseCookies(undefined).size).toBe(0);
  });

  it('redirects after login to local paths only', () => {
    expect(safeNext('/runs/1/explore')).toBe('/runs/1/explore');
    for (const bad of ['//evil.example', 'https://evil.example/', '/\\evil.example', 'runs', 7, undefined])
      expect(safeNext(bad)).toBe('/');
  });
});

describe('queries helpers', () => {
  it('escapes LIKE wildcards', () => {
    expect(containsPattern('a%b_c\\d')).toBe('%a\\%b\\_c\\\\d%');
  });

  it('sums months into years exactly, at the widest scale', () => {
    expect(
      yearly([
        { period: '2020-01', rows: 1, units: '2', revenue: '0.10' },
        { period: '2020-02', rows: 2, units: '3', revenue: '0.205' },
        { period: '2019-12', rows: 4, units: '5', revenue: '9007199254740993.01' },
        { period: '2019-11', rows: 4, units: '5', revenue: '0.99' },
      ]),
    ).toEqual([
      { period: '2019', rows: 8, units: '10', revenue: '9007199254740994.00' },
      { period: '2020', rows: 3, units: '5', revenue: '0.305' },
    ]);
  });
});

describe('serve options', () => {
  it('refuses a non-loopback address without a token, and keeps the token out of errors', () => {
    const env = process.env.SALESGRID_TOKEN;
    delete process.env.SALESGRID_TOKEN;
    try {
      expect(() => parseServeOptions({ host: '0.0.0.0' })).toThrow(/without a token/);
      expect(parseServeOptions({ host: '0.0.0.0', token: 't' })).toMatchObject({
        host: '0.0.0.0',
        token: 't',
      });
      expect(parseServeOptions({})).toMatchObject({ host: '127.0.0.1', port: 8080, token: null });
      expect(() => parseServeOptions({ port: '70000' })).toThrow(/--port/);
      expect(() => parseUiOptions('db', undefined, '9000', undefined)).toThrow(/--ui-port needs --ui/);
      expect(parseUiOptions('db', true, '0', undefined)).toMatchObject({
        db: 'db',
        port: 0,
        host: '127.0.0.1',
      });
    } finally {
      if (env !== undefined) process.env.SALESGRID_TOKEN = env;
    }
  });
});
