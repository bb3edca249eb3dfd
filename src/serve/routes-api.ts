/**
 * The JSON API under /api, one fastify plugin. Every route declares its params and query schema
 * (bounded integers, bounded strings); the handlers call DashboardQueries only. Lists are pages:
 * `{items, total, limit, offset}`.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { RunDetail } from './api-types.js';
import type { LiveFeeds } from './live.js';
import { type DashboardQueries, yearly } from './queries.js';

export interface ApiDeps {
  q: DashboardQueries;
  live: LiveFeeds;
}

export const MAX_PAGE = 500;

const id = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } as const;
const name = { type: 'string', minLength: 1, maxLength: 1000 } as const;
const page = {
  limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 50 },
  offset: { type: 'integer', minimum: 0, maximum: 1_000_000_000, default: 0 },
} as const;
const runParams = { type: 'object', required: ['id'], properties: { id } } as const;
const filterQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { mart: name, key: { type: 'string', maxLength: 10_000 } },
} as const;

interface RunParams {
  id: number;
}
interface PageQuery {
  limit: number;
  offset: number;
}

class ApiError extends Error {
  readonly statusCode: number;
  readonly code: string;
  constructor(statusCode: number, code: string, message: string) {
    super(message);
    this.statusCode = statusCode;
    this.code = code;
  }
}

export function apiRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { q, live } = deps;

  const runOr404 = (runId: number): RunDetail => {
    const run = q.run(runId);
    if (run === null) throw new ApiError(404, 'E_NO_RUN', `no run ${runId}`);
    return run;
  };
  const martOr404 = (run: RunDetail, mart: string): string => {
    if (!q.martNames(run.id).includes(mart)) {
      const have = q.martNames(run.id);
      throw new ApiError(
        404,
        'E_NO_MART',
        `run ${run.id} has no mart "${mart}" (${have.length ? `its marts: ${have.join(', ')}` : 'it has no marts'})`,
      );
    }
    return mart;
  };
  const months = (run: RunDetail, query: { mart?: string; key?: string }) => {
    if ((query.mart === undefined) !== (query.key === undefined))
      throw new ApiError(400, 'E_BAD_REQUEST', 'mart and key go together: ?mart=<column>&key=<value>');
    return query.mart === undefined || query.key === undefined
      ? q.monthly(run.id, 0)
      : q.monthly(run.id, run.scale, { mart: martOr404(run, query.mart), key: query.key });
  };

  app.get<{ Querystring: PageQuery }>(
    '/runs',
    { schema: { querystring: { type: 'object', additionalProperties: false, properties: page } } },
    async (req) => q.runs(req.query.limit, req.query.offset),
  );

  app.get<{ Params: RunParams }>('/runs/:id', { schema: { params: runParams } }, async (req) =>
    runOr404(req.params.id),
  );

  app.get<{ Params: RunParams }>(
    '/runs/:id/live',
    { schema: { params: runParams } },
    async (req, reply: FastifyReply) => {
      runOr404(req.params.id);
      reply.hijack();
      await live.attach(req.params.id, req.raw, reply.raw);
    },
  );

  app.get<{ Params: RunParams }>('/runs/:id/workers', { schema: { params: runParams } }, async (req) => {
    runOr404(req.params.id);
    return { items: q.workers(req.params.id) };
  });

  app.get<{ Params: RunParams }>('/runs/:id/attempts', { schema: { params: runParams } }, async (req) => {
    runOr404(req.params.id);
    return q.attempts(req.params.id);
  });

  app.get<{ Params: RunParams; Querystring: { mart?: string; key?: string } }>(
    '/runs/:id/monthly',
    { schema: { params: runParams, querystring: filterQuery } },
    async (req) => {
      const run = runOr404(req.params.id);
      return { filter: filterOf(req.query), items: months(run, req.query) };
    },
  );

  app.get<{ Params: RunParams; Querystring: { mart?: string; key?: string } }>(
    '/runs/:id/yearly',
    { schema: { params: runParams, querystring: filterQuery } },
    async (req) => {
      const run = runOr404(req.params.id);
      return { filter: filterOf(req.query), items: yearly(months(run, req.query)) };
    },
  );

  app.get<{ Params: RunParams }>('/runs/:id/dimensions', { schema: { params: runParams } }, async (req) => {
    const run = runOr404(req.params.id);
    const marts = new Set(q.martNames(run.id));
    return {
      items: q.dimensionNames(run.id).map((d) => ({ name: d, filterable: marts.has(d) })),
      marts: [...marts],
    };
  });

  app.get<{ Params: RunParams & { name: string }; Querystring: PageQuery }>(
    '/runs/:id/dimensions/:name',
    {
      schema: {
        params: { type: 'object', required: ['id', 'name'], properties: { id, name } },
        querystring: { type: 'object', additionalProperties: false, properties: page },
      },
    },
    async (req) => {
      const run = runOr404(req.params.id);
      if (!q.dimensionNames(run.id).includes(req.params.name))
        throw new ApiError(404, 'E_NO_DIMENSION', `run ${run.id} has no dimension "${req.params.name}"`);
      return q.dimension(run.id, req.params.name, req.query.limit, req.query.offset);
    },
  );

  app.get<{ Params: RunParams & { mart: string }; Querystring: PageQuery & { q: string } }>(
    '/runs/:id/top/:mart',
    {
      schema: {
        params: { type: 'object', required: ['id', 'mart'], properties: { id, mart: name } },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { ...page, q: { type: 'string', maxLength: 1000, default: '' } },
        },
      },
    },
    async (req) => {
      const run = runOr404(req.params.id);
      const mart = martOr404(run, req.params.mart);
      return q.martKeys(run.id, run.scale, mart, req.query.q, req.query.limit, req.query.offset);
    },
  );

  app.get<{ Params: RunParams }>(
    '/runs/:id/rejects/reasons',
    { schema: { params: runParams } },
    async (req) => {
      runOr404(req.params.id);
      return { items: q.rejectReasons(req.params.id) };
    },
  );

  app.get<{ Params: RunParams; Querystring: PageQuery & { reason?: string } }>(
    '/runs/:id/rejects',
    {
      schema: {
        params: runParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { ...page, reason: { type: 'string', maxLength: 1000 } },
        },
      },
    },
    async (req) => {
      runOr404(req.params.id);
      return q.rejects(req.params.id, req.query.reason, req.query.limit, req.query.offset);
    },
  );
}

function filterOf(query: { mart?: string; key?: string }): { mart: string; key: string } | null {
  return query.mart === undefined || query.key === undefined ? null : { mart: query.mart, key: query.key };
}
