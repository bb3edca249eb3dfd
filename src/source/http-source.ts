/**
 * A CSV on a web server or in object storage (S3 presigned URLs and the like), read with HTTP
 * Range requests. The first answer fixes the file's identity: its ETag, or else Last-Modified.
 * Every later request is conditional on it (If-Match / If-Unmodified-Since) and its answer is
 * checked again, so a file that changes mid-run fails clearly instead of mixing two versions.
 */
import { SalesgridError } from '../errors.js';
import { backoffMs } from '../retry.js';
import type { ByteSource, SourceIdentity } from './byte-source.js';

/** Tries per request: network errors and 5xx/429 answers are retried with backoff. */
export const HTTP_TRIES = 5;
const REQUEST_TIMEOUT_MS = 60_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Strips credentials and the query (presigned signatures) for messages. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return url;
  }
}

function sourceError(url: string, why: string): SalesgridError {
  return new SalesgridError('E_SOURCE', `${displayUrl(url)}: ${why}`, { exitCode: 2 });
}

function changed(url: string, why: string): SalesgridError {
  return new SalesgridError(
    'E_SOURCE_CHANGED',
    `${displayUrl(url)} changed during the run (${why}); start a new run once it is stable`,
    { exitCode: 2 },
  );
}

/** `bytes a-b/size` → {start, size}; null when absent or not of that shape. */
function contentRange(header: string | null): { start: number; end: number; size: number } | null {
  const m = header === null ? null : /^bytes (\d+)-(\d+)\/(\d+)$/.exec(header.trim());
  return m ? { start: Number(m[1]), end: Number(m[2]), size: Number(m[3]) } : null;
}

/** One request with retries on transient failures; other answers are returned to the caller. */
async function request(url: string, headers: Record<string, string>): Promise<Response> {
  let last = '';
  for (let attempt = 0; attempt < HTTP_TRIES; attempt++) {
    if (attempt > 0) await sleep(backoffMs(attempt - 1, Math.random, 200, 5_000));
    try {
      const res = await fetch(url, { headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      if (res.status >= 500 || res.status === 429) {
        last = `HTTP ${res.status}`;
        await res.body?.cancel();
        continue;
      }
      return res;
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      last = e.cause?.code ?? e.message;
      // Trying again cannot make a certificate trusted.
      if (/CERT|SELF_SIGNED|UNABLE_TO_(VERIFY|GET_ISSUER)/.test(last)) {
        throw sourceError(
          url,
          `the server's certificate is not trusted (${last}); for a private CA set NODE_EXTRA_CA_CERTS`,
        );
      }
    }
  }
  throw sourceError(url, `request failed ${HTTP_TRIES} times (last: ${last})`);
}

function identityOf(res: Response, size: number): SourceIdentity | null {
  const etag = res.headers.get('etag');
  const lm = res.headers.get('last-modified');
  const mtime = lm === null ? 0 : Date.parse(lm);
  const mtimeMs = Number.isFinite(mtime) ? mtime : 0;
  if (etag !== null && !etag.startsWith('W/')) return { size, mtimeMs, tag: `etag:${etag}` };
  if (lm !== null) return { size, mtimeMs, tag: `lm:${lm}` };
  return null;
}

export async function openHttpSource(url: string): Promise<ByteSource> {
  const probe = await request(url, { range: 'bytes=0-0' });
  await probe.body?.cancel();
  let size: number;
  if (probe.status === 206) {
    const cr = contentRange(probe.headers.get('content-range'));
    if (cr === null || cr.start !== 0) throw sourceError(url, 'a 206 answer without a usable Content-Range');
    size = cr.size;
  } else if (probe.status === 416 && /^bytes \*\/0$/.test(probe.headers.get('content-range') ?? '')) {
    size = 0;
  } else if (probe.status === 200) {
    throw sourceError(
      url,
      'the server ignores Range requests (it answered 200 with the whole file); salesgrid needs a server that honours Range',
    );
  } else {
    throw sourceError(url, `HTTP ${probe.status} ${probe.statusText}`);
  }
  const identity = identityOf(probe, size);
  if (identity === null) {
    throw sourceError(
      url,
      'the server sends neither ETag nor Last-Modified, so a change mid-run could not be told',
    );
  }
  const condition: Record<string, string> = identity.tag.startsWith('etag:')
    ? { 'if-match': identity.tag.slice(5) }
    : { 'if-unmodified-since': identity.tag.slice(3) };

  const source = {
    name: url,
    identity,
    async read(
      buf: Buffer,
      offset: number,
      length: number,
      position: number,
      retried = false,
    ): Promise<{ bytesRead: number }> {
      if (length <= 0 || position >= size) return { bytesRead: 0 };
      const last = Math.min(position + length, size) - 1;
      const res = await request(url, { range: `bytes=${position}-${last}`, ...condition });
      if (res.status === 412) {
        await res.body?.cancel();
        throw changed(url, 'the server reports the precondition failed');
      }
      if (res.status !== 206) {
        await res.body?.cancel();
        throw res.status === 200
          ? sourceError(url, 'the server stopped honouring Range requests')
          : sourceError(url, `HTTP ${res.status} ${res.statusText} for bytes ${position}-${last}`);
      }
      const now = identityOf(res, contentRange(res.headers.get('content-range'))?.size ?? -1);
      if (now !== null && (now.tag !== identity.tag || now.size !== size)) {
        await res.body?.cancel();
        throw changed(url, `${identity.tag} → ${now.tag}, ${size} → ${now.size} bytes`);
      }
      const cr = contentRange(res.headers.get('content-range'));
      if (cr === null || cr.start !== position || cr.end !== last) {
        await res.body?.cancel();
        throw sourceError(
          url,
          `asked for bytes ${position}-${last}, got ${res.headers.get('content-range')}`,
        );
      }
      let body: Uint8Array;
      try {
        body = new Uint8Array(await res.arrayBuffer());
      } catch (err) {
        // The connection broke mid-body: one more go through the retrying path.
        if (retried) throw sourceError(url, `bytes ${position}-${last}: ${(err as Error).message}`);
        return source.read(buf, offset, length, position, true);
      }
      if (body.length !== last - position + 1) {
        throw sourceError(url, `bytes ${position}-${last}: ${body.length} bytes arrived`);
      }
      buf.set(body, offset);
      return { bytesRead: body.length };
    },
    close: async () => {},
  };
  return source;
}
