/**
 * The dashboard server (fastify): security headers and access control for every request, the
 * login form, the browser app's pages and static files, the vega bundles from node_modules, and
 * the JSON API plugin. It reads the database only, through a read-only connection.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import { type FastifyInstance, type FastifyReply, fastify } from 'fastify';
import type { ServeOptions } from '../config-views.js';
import { SalesgridError } from '../errors.js';
import { Auth, safeNext } from './auth.js';
import { LiveFeeds } from './live.js';
import { DashboardQueries } from './queries.js';
import { apiRoutes } from './routes-api.js';

/** The browser app: plain files in the package's `web/` folder (the same path from src/ and dist/). */
export const WEB_ROOT = fileURLToPath(new URL('../../web/', import.meta.url));

const SECURITY_HEADERS: Record<string, string> = {
  // vega compiles its expressions with Function(), hence 'unsafe-eval'; no inline script runs.
  'content-security-policy':
    "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/** Files anyone may fetch without logging in: the login page needs them, and they hold no data. */
const PUBLIC = /^\/(static\/|vendor\/|favicon\.ico$|login(\?|$))/;

const escapeAttr = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The package folder holding `entry`'s module (walks up from its resolved file to package.json). */
function packageDir(pkg: string): string {
  let dir = path.dirname(fileURLToPath(import.meta.resolve(pkg)));
  for (;;) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file) && (JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string }).name === pkg)
      return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find the ${pkg} package folder`);
    dir = up;
  }
}

/** The browser builds served under /vendor/: a fixed list, so no client path reaches node_modules. */
function vendorFiles(): Map<string, string> {
  return new Map([
    ['vega.min.js', path.join(packageDir('vega'), 'build', 'vega.min.js')],
    ['vega-lite.min.js', path.join(packageDir('vega-lite'), 'build', 'vega-lite.min.js')],
    ['vega-embed.min.js', path.join(packageDir('vega-embed'), 'build', 'vega-embed.min.js')],
  ]);
}

export interface Dashboard {
  app: FastifyInstance;
  queries: DashboardQueries;
  close(): Promise<void>;
}

export async function buildServer(opts: Pick<ServeOptions, 'db' | 'token'>): Promise<Dashboard> {
  const queries = DashboardQueries.open(opts.db);
  const live = new LiveFeeds(queries);
  const auth = new Auth(opts.token);
  const vendor = vendorFiles();
  const html = fs.readFileSync(path.join(WEB_ROOT, 'app.html'), 'utf8');
  // Without a token there is nothing to log out of.
  const shell = Buffer.from(
    auth.required ? html : html.replace(/<form method="post" action="\/logout"[\s\S]*?<\/form>/, ''),
  );
  const login = fs.readFileSync(path.join(WEB_ROOT, 'login.html'), 'utf8');

  const app = fastify({
    logger: false,
    forceCloseConnections: true,
    bodyLimit: 16 * 1024,
    // An unknown query parameter is an error (400), not silently dropped.
    ajv: { customOptions: { removeAdditional: false } },
  });

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) =>
    done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );

  app.addHook('onRequest', async (req, reply) => {
    reply.headers(SECURITY_HEADERS);
    if (auth.allows(req.headers) || PUBLIC.test(req.url)) return;
    if (req.url.startsWith('/api/')) {
      reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({ error: 'a token is required', code: 'E_AUTH' });
    } else reply.redirect(`/login?next=${encodeURIComponent(req.url)}`, 303);
    return reply;
  });

  app.setErrorHandler(
    (err: Error & { statusCode?: number; code?: string; validation?: unknown }, _req, reply) => {
      const status = err.validation ? 400 : (err.statusCode ?? 500);
      reply.code(status).send({
        error: status >= 500 ? 'internal error' : err.message,
        code: err.validation ? 'E_BAD_REQUEST' : (err.code ?? 'E_INTERNAL'),
      });
    },
  );
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ error: `nothing at ${req.url.split('?')[0]}`, code: 'E_NOT_FOUND' });
  });

  await app.register(fastifyStatic, { root: WEB_ROOT, prefix: '/static/', index: false, wildcard: true });

  app.get<{ Params: { file: string } }>(
    '/vendor/:file',
    { schema: { params: { type: 'object', properties: { file: { type: 'string', maxLength: 100 } } } } },
    async (req, reply) => {
      const file = vendor.get(req.params.file);
      if (file === undefined) return reply.callNotFound();
      return reply.sendFile(path.basename(file), path.dirname(file));
    },
  );
  app.get('/favicon.ico', async (_req, reply) => reply.sendFile('favicon.svg', WEB_ROOT));

  const page = async (_req: unknown, reply: { type(t: string): { send(b: Buffer): unknown } }) =>
    reply.type('text/html; charset=utf-8').send(shell);
  const idParams = {
    params: { type: 'object', properties: { id: { type: 'integer', minimum: 1 } } },
  } as const;
  app.get('/', page);
  app.get('/runs/:id', { schema: idParams }, page);
  app.get('/runs/:id/explore', { schema: idParams }, page);
  const latest = (view: 'live' | 'explore') => async (_req: unknown, reply: FastifyReply) => {
    const id = queries.latestRunId();
    if (id === null) return reply.redirect('/', 303);
    return reply.redirect(view === 'live' ? `/runs/${id}` : `/runs/${id}/explore`, 303);
  };
  app.get('/runs/latest', latest('live'));
  app.get('/runs/latest/explore', latest('explore'));

  const loginPage = (message: string, next = '/') =>
    login
      .replace('<!--message-->', message)
      .replace(
        'name="next" type="hidden" value="/"',
        `name="next" type="hidden" value="${escapeAttr(safeNext(next))}"`,
      );
  app.get('/login', async (_req, reply) => {
    if (!auth.required) return reply.redirect('/', 303);
    return reply.type('text/html; charset=utf-8').send(loginPage(''));
  });
  app.post<{ Body: { token?: string; next?: string } }>(
    '/login',
    {
      schema: {
        body: {
          type: 'object',
          properties: {
            token: { type: 'string', maxLength: 1000 },
            next: { type: 'string', maxLength: 1000 },
          },
        },
      },
    },
    async (req, reply) => {
      if (!auth.checkToken(req.body?.token)) {
        return reply
          .code(401)
          .type('text/html; charset=utf-8')
          .send(loginPage('<p class="error" role="alert">That token is not right.</p>', req.body?.next));
      }
      reply.header('set-cookie', auth.cookie(auth.newSession()));
      return reply.redirect(safeNext(req.body?.next), 303);
    },
  );
  app.post('/logout', async (req, reply) => {
    auth.endSession(req.headers.cookie);
    reply.header('set-cookie', Auth.clearedCookie());
    return reply.redirect(auth.required ? '/login' : '/', 303);
  });

  await app.register(
    async (api) => {
      apiRoutes(api, { q: queries, live });
    },
    { prefix: '/api' },
  );

  return {
    app,
    queries,
    async close() {
      live.close();
      await app.close();
      queries.close();
    },
  };
}

/** Builds the server and listens; `url` is the address to open (port 0 resolved). */
export async function startServer(opts: ServeOptions): Promise<Dashboard & { url: string }> {
  const dash = await buildServer(opts);
  try {
    await dash.app.listen({ host: opts.host, port: opts.port });
  } catch (err) {
    await dash.close();
    throw new SalesgridError(
      'E_USAGE',
      `cannot listen on ${opts.host}:${opts.port}: ${(err as Error).message}`,
      {
        exitCode: 2,
      },
    );
  }
  const addr = dash.app.server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : opts.port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return { ...dash, url: `http://${host}:${port}` };
}
