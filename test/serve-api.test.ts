/**
 * `salesgrid serve` over a real database, through real HTTP: the JSON API's numbers against an
 * independent computation, paging and search, bad requests, path traversal, and access control.
 */
import http from 'node:http';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hostileCsv, monthlyOf, runToEnd, serve, XSS_REGION } from './helpers/dashboard.js';
import { cli, killAll, tmpDir } from './helpers/e2e.js';

let dir: string;
let csv: string;
let db: string;
let bad: number;
let base: string;

beforeAll(async () => {
  dir = tmpDir();
  csv = path.join(dir, 'sales.csv');
  db = path.join(dir, 'results.db');
  ({ bad } = await hostileCsv(csv, 6000, 500));
  await runToEnd([
    csv,
    '--db',
    db,
    '--workers',
    '2',
    '--chunk-size',
    '64KiB',
    '--mart',
    'Region',
    '--mart',
    'Item Type',
  ]);
  base = (await serve(['--db', db])).url;
}, 120_000);

afterAll(() => killAll());

/** A raw GET that sends `target` exactly as written (no URL normalization). */
function rawGet(
  url: string,
  target: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path: target, method: 'GET', headers },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => {
          body += d.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function json<T>(p: string): Promise<T> {
  const res = await fetch(base + p);
  expect(res.status, p).toBe(200);
  return (await res.json()) as T;
}

describe('the JSON API', () => {
  it('lists the run with its totals', async () => {
    const runs = await json<{
      items: { id: number; status: string; rows: number; rejected: number }[];
      total: number;
    }>('/api/runs');
    expect(runs.total).toBe(1);
    expect(runs.items[0]).toMatchObject({ id: 1, status: 'done', rows: 6000 + bad, rejected: bad });
  });

  it('gives monthly revenue equal to an independent sum, and per region through the mart', async () => {
    const all = await json<{ items: { period: string; revenue: string }[] }>('/api/runs/1/monthly');
    expect(new Map(all.items.map((m) => [m.period, m.revenue]))).toEqual(monthlyOf(csv, null));
    const asia = await json<{ filter: unknown; items: { period: string; revenue: string }[] }>(
      '/api/runs/1/monthly?mart=Region&key=Asia',
    );
    expect(asia.filter).toEqual({ mart: 'Region', key: 'Asia' });
    expect(new Map(asia.items.map((m) => [m.period, m.revenue]))).toEqual(monthlyOf(csv, 'Asia'));
    const hostile = await json<{ items: { period: string; revenue: string }[] }>(
      `/api/runs/1/monthly?mart=Region&key=${encodeURIComponent(XSS_REGION)}`,
    );
    expect(hostile.items).toEqual([{ period: '2014-03', rows: 12, units: '84', revenue: '1050.00' }]);
  });

  it('sums years exactly from months', async () => {
    const months = monthlyOf(csv, null);
    const years = await json<{ items: { period: string; revenue: string }[] }>('/api/runs/1/yearly');
    for (const y of years.items) {
      const cents = [...months]
        .filter(([m]) => m.startsWith(y.period))
        .reduce((n, [, v]) => n + BigInt(v.replace('.', '')), 0n);
      expect(y.revenue.replace('.', '')).toBe(cents.toString());
    }
  });

  it('pages and searches the top keys of a mart, taking % and _ literally', async () => {
    const p1 = await json<{ items: { rank: number; key: string }[]; total: number }>(
      '/api/runs/1/top/Item%20Type?limit=5',
    );
    expect(p1.total).toBe(13);
    expect(p1.items.map((k) => k.rank)).toEqual([1, 2, 3, 4, 5]);
    const p2 = await json<{ items: { rank: number }[]; offset: number }>(
      '/api/runs/1/top/Item%20Type?limit=5&offset=5',
    );
    expect(p2.items.map((k) => k.rank)).toEqual([6, 7, 8, 9, 10]);
    const found = await json<{ items: { key: string }[]; total: number }>('/api/runs/1/top/Region?q=onerror');
    expect(found.items.map((k) => k.key)).toEqual([XSS_REGION]);
    expect((await json<{ total: number }>('/api/runs/1/top/Region?q=%25')).total).toBe(0);
    expect((await json<{ total: number }>('/api/runs/1/top/Region?q=_')).total).toBe(0);
  });

  it('groups rejects by reason and pages them with line numbers and raw text', async () => {
    const reasons = await json<{ items: { reason: string; count: number; firstLine: number }[] }>(
      '/api/runs/1/rejects/reasons',
    );
    expect(reasons.items).toHaveLength(1);
    expect(reasons.items[0].count).toBe(bad);
    // Line 1 is the header; 500 data lines, the hostile row, then the bad one.
    expect(reasons.items[0].firstLine).toBe(503);
    const page = await json<{ items: { line: number; raw: string }[]; total: number }>(
      `/api/runs/1/rejects?limit=3&offset=1&reason=${encodeURIComponent(reasons.items[0].reason)}`,
    );
    expect(page.total).toBe(bad);
    expect(page.items.map((j) => j.line)).toEqual([1005, 1507, 2009]);
    expect(page.items[0].raw).toContain('<b>not-a-price</b>');
  });

  it('answers bad requests with a 4xx and a coded error', async () => {
    for (const [p, status] of [
      ['/api/runs/99', 404],
      ['/api/runs/abc', 400],
      ['/api/runs?limit=100000', 400],
      ['/api/runs/1/top/Country', 404],
      ['/api/runs/1/monthly?mart=Region', 400],
      ['/api/runs/1/monthly?sql=select', 400],
      ['/api/nothing', 404],
    ] as const) {
      const res = await fetch(base + p);
      expect(res.status, p).toBe(status);
      const body = (await res.json()) as { code: string; error: string };
      expect(body.code, p).toMatch(/^E_/);
    }
  });

  it('refuses ../ paths on static files', async () => {
    for (const target of [
      '/static/../package.json',
      '/static/%2e%2e/package.json',
      '/static/..%2fpackage.json',
      '/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      '/vendor/..%2f..%2fpackage.json',
      '/static/../../../../etc/passwd',
    ]) {
      const res = await rawGet(base, target);
      expect([400, 403, 404], target).toContain(res.status);
      expect(res.body, target).not.toContain('"name": "salesgrid"');
      expect(res.body, target).not.toContain('root:');
    }
    expect((await rawGet(base, '/static/app.js')).status).toBe(200);
    expect((await rawGet(base, '/vendor/vega-embed.min.js')).status).toBe(200);
  });

  it('sends security headers with pages', async () => {
    const res = await rawGet(base, '/');
    expect(res.status).toBe(200);
    expect(res.headers['content-security-policy']).toContain("default-src 'self'");
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });
});

describe('access control', () => {
  afterEach(() => killAll());

  it('refuses a non-loopback address without a token', async () => {
    const p = cli(['serve', '--db', db, '--host', '0.0.0.0', '--port', '0'], { SALESGRID_TOKEN: '' });
    expect(await p.exit).toBe(2);
    expect(p.err()).toMatch(/without a token/);
  });

  it('needs the token, by bearer header or by the login form, and never prints it', async () => {
    const token = 'sesame-0123456789';
    // A token given on loopback is enforced too (tests stay on loopback).
    const { proc, url: local } = await serve(['--db', db, '--token', token]);
    expect((await rawGet(local, '/api/runs')).status).toBe(401);
    expect((await rawGet(local, '/api/runs', { authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await rawGet(local, '/api/runs', { authorization: `Bearer ${token}` })).status).toBe(200);
    const page = await rawGet(local, '/runs/1/explore');
    expect(page.status).toBe(303);
    expect(page.headers.location).toBe('/login?next=%2Fruns%2F1%2Fexplore');

    const login = (t: string) =>
      fetch(`${local}/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: t, next: '/runs/1/explore' }).toString(),
      });
    const wrong = await login('nope');
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    const ok = await login(token);
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('/runs/1/explore');
    const cookie = ok.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).not.toContain(token);
    const session = cookie.split(';')[0];
    expect((await rawGet(local, '/api/runs', { cookie: session })).status).toBe(200);
    expect((await rawGet(local, '/runs/1/explore', { cookie: session })).status).toBe(200);
    expect((await rawGet(local, '/api/runs', { cookie: 'salesgrid_session=forged' })).status).toBe(401);
    // An open redirect through ?next= is refused.
    const evil = await fetch(`${local}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token, next: '//evil.example/' }).toString(),
    });
    expect(evil.headers.get('location')).toBe('/');
    expect(proc.out() + proc.err()).not.toContain(token);
  });

  it('fails clearly on a missing database', async () => {
    const p = cli(['serve', '--db', path.join(dir, 'none.db'), '--port', '0']);
    expect(await p.exit).toBe(2);
    expect(p.err()).toMatch(/no database at/);
  });
});
