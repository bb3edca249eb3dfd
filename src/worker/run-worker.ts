/**
 * The worker process's logic: connect (with backoff while the coordinator is not up), prove the
 * token, take tasks, parse each chunk, answer with its partial, until told `done` (or, with
 * `stay`, wait for the next run). A coordinator silent for `peerTimeoutMs` is dropped and
 * reconnected. Transport comes in through `connect`, so tests can hand it any Channel.
 */
import { createHmac } from 'node:crypto';
import { aggToWire } from '../aggregate/partial.js';
import type { WorkerOptions } from '../config.js';
import { AuthError, errorMessage, errorToWire, ProtocolError, SalesgridError } from '../errors.js';
import type { Channel } from '../protocol/channel.js';
import { MAX_JOIN_WIRE_BYTES } from '../protocol/join-codec.js';
import {
  asToWorker,
  encodeMessage,
  encodeResultParts,
  type Failure,
  PROTOCOL_VERSION,
  processUsage,
  type Result,
  type Task,
} from '../protocol/messages.js';
import { connect as socketConnect } from '../protocol/socket-channel.js';
import { clientSecurity, TLS_REFUSED } from '../protocol/tls-security.js';
import { backoffMs } from '../retry.js';
import { type ScanSpec, validateSpec } from '../scan-spec.js';
import { JoinAssembler } from './join-table.js';
import { RangeReader } from './range-reader.js';
import { parseChunkWith, wasmIneligible, wasmUnavailable } from './wasm-parse.js';
import { warmBaskets, warmWasm } from './wasm-warm.js';

export interface WorkerUi {
  info(message: string): void;
  warn(message: string): void;
}

export interface WorkerHooks {
  connect?: (host: string, port: number) => Promise<Channel>;
  /** Called before a chunk is parsed (fault-injection fixtures use it). */
  beforeParse?: (task: { chunkId: number; attempt: number }) => void | Promise<void>;
}

export interface WorkerSummary {
  chunks: number;
  rows: number;
  rejected: number;
  parseMs: number;
  sessions: number;
}

/** `joined`: the session got a welcome (took part in the run) before it ended. */
type SessionEnd =
  | { kind: 'done'; status: string; joined: boolean }
  | { kind: 'lost'; reason: string; joined: boolean };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let parserNoted = false;

/** Says once per process when WASM is unavailable, or when a run forced to it cannot use it. */
function noteParser(spec: ScanSpec, opts: WorkerOptions, ui: WorkerUi): void {
  if (opts.parse === 'js') return;
  const why = wasmUnavailable();
  if (why !== null) {
    if (!parserNoted) ui.warn(`${opts.id}: ${why}`);
    parserNoted = true;
    return;
  }
  const cannot = wasmIneligible(spec);
  if (cannot !== null && opts.parse === 'wasm')
    ui.warn(`${opts.id}: the WASM parse path cannot take this run (${cannot}); using the JS parser`);
}

/**
 * Compiles the WASM path and lets V8 tier it up on a synthetic chunk while the first connection
 * is on its way (the code is the same for every layout), so real chunks do not pay for it.
 */
function warmParser(opts: WorkerOptions, ui: WorkerUi): void {
  if (opts.parse === 'js' || wasmUnavailable() !== null) return;
  try {
    warmWasm();
  } catch (err) {
    ui.warn(`${opts.id}: warming the WASM parse path failed: ${errorMessage(err)}`);
  }
}

export async function runWorker(
  opts: WorkerOptions,
  ui: WorkerUi,
  hooks: WorkerHooks = {},
): Promise<WorkerSummary> {
  // With a token the worker speaks TLS-PSK only, so it never answers a peer that lacks the token.
  const security = opts.token === null ? undefined : clientSecurity(opts.token, opts.tls);
  const connect = hooks.connect ?? ((h: string, p: number) => socketConnect(h, p, undefined, security));
  const summary: WorkerSummary = { chunks: 0, rows: 0, rejected: 0, parseMs: 0, sessions: 0 };
  let failures = 0;
  let giveUpAt = Date.now() + opts.retryForMs;
  let announcedWait = false;
  const started = Date.now();
  setImmediate(() => warmParser(opts, ui));
  const ticker = opts.quiet
    ? null
    : setInterval(() => {
        const secs = (Date.now() - started) / 1000;
        ui.info(
          `${opts.id}: ${summary.chunks} chunk(s), ${summary.rows.toLocaleString('en-US')} rows, ${Math.round(summary.parseMs)} ms parsing in ${secs.toFixed(0)}s`,
        );
      }, 10_000);
  ticker?.unref();
  try {
    for (;;) {
      let channel: Channel;
      try {
        channel = await connect(opts.host, opts.port);
      } catch (err) {
        if ((err as SalesgridError).code === 'E_AUTH') throw err;
        if (!opts.stay && Date.now() >= giveUpAt) {
          throw new SalesgridError(
            'E_CONNECT',
            `could not reach a coordinator at ${opts.host}:${opts.port} for ${Math.round(opts.retryForMs / 1000)}s (${errorMessage(err)})`,
          );
        }
        const delay = backoffMs(failures++);
        if (!announcedWait) {
          ui.info(`waiting for a coordinator at ${opts.host}:${opts.port} (${errorMessage(err)}); retrying`);
          announcedWait = true;
        }
        await sleep(delay);
        continue;
      }
      announcedWait = false;
      summary.sessions++;
      const before = summary.chunks;
      const end = await session(channel, opts, ui, hooks, summary);
      if (end.kind === 'done') {
        if (!opts.stay) return summary;
        // A coordinator lingering after its run answers every hello with `done`: back off
        // (capped) until a new run listens.
        if (end.joined) failures = 0;
        if (end.joined || failures === 0)
          ui.info(`${opts.id}: waiting for the next run at ${opts.host}:${opts.port} (--stay; Ctrl-C stops)`);
        await sleep(backoffMs(failures++));
        announcedWait = true;
      } else {
        // A connection cut before the welcome (a relay or proxy with nothing behind it, a peer that
        // is not a coordinator) has not reached a coordinator: --retry-for keeps counting.
        if (!end.joined && !opts.stay && Date.now() >= giveUpAt) {
          throw new SalesgridError(
            'E_CONNECT',
            `could not reach a coordinator at ${opts.host}:${opts.port} for ${Math.round(opts.retryForMs / 1000)}s (${end.reason})`,
          );
        }
        // A session that did some work resets the backoff; one refused or cut at once grows it.
        if (summary.chunks > before) failures = 0;
        const delay = backoffMs(failures++);
        if (opts.quiet) ui.info(`connection lost (${end.reason}); reconnecting`);
        else ui.warn(`connection lost (${end.reason}); reconnecting in ${(delay / 1000).toFixed(1)}s`);
        await sleep(delay);
        if (!end.joined) continue;
      }
      giveUpAt = Date.now() + opts.retryForMs;
    }
  } finally {
    if (ticker) clearInterval(ticker);
  }
}

function session(
  channel: Channel,
  opts: WorkerOptions,
  ui: WorkerUi,
  hooks: WorkerHooks,
  summary: WorkerSummary,
): Promise<SessionEnd> {
  return new Promise<SessionEnd>((resolve, reject) => {
    let spec: ScanSpec | null = null;
    /** The spec with every order shipped, for the tasks of a second pass (made once per session). */
    let shipAllSpec: ScanSpec | null = null;
    // The run's dimension tables arrive after the welcome; tasks wait for them.
    let joins: JoinAssembler | null = null;
    let state: 'challenge' | 'welcome' | 'ready' | 'over' = 'challenge';
    const queue: Task[] = [];
    let busy = false;
    let joined = false;

    // Silence from the coordinator (it pings every few seconds) drops the connection. A tick that
    // comes late means this process was busy parsing, not that the peer was quiet.
    let lastHeard = Date.now();
    let lastTick = lastHeard;
    const tickMs = Math.min(1_000, Math.max(10, Math.floor(opts.peerTimeoutMs / 4)));
    const watch = setInterval(() => {
      const now = Date.now();
      if (now - lastTick > 2 * tickMs) lastHeard = now;
      lastTick = now;
      if (now - lastHeard > opts.peerTimeoutMs) {
        channel.destroy(`no word from the coordinator for ${(opts.peerTimeoutMs / 1000).toFixed(1)}s`);
      }
    }, tickMs);
    watch.unref();

    const finish = (end: SessionEnd | Error) => {
      if (state === 'over') return;
      state = 'over';
      clearInterval(watch);
      if (end instanceof Error) {
        channel.destroy();
        reject(end);
      } else {
        if (end.kind === 'done') channel.end();
        resolve(end);
      }
    };

    const work = async () => {
      if (busy) return;
      busy = true;
      while (queue.length > 0 && state === 'ready' && spec !== null && joins?.tables) {
        const task = queue.shift() as Task;
        try {
          await hooks.beforeParse?.({ chunkId: task.chunkId, attempt: task.attempt });
          const t0 = performance.now();
          const range = task.range;
          const ranges = rangeReader(opts.acceptRanges);
          const data = task.data ?? (await ranges.read(range as NonNullable<Task['range']>));
          // With the file at hand, a quote left open at the chunk's end is judged here, not by a re-cut.
          if (task.shipAllOrders === true && spec.shipAllOrders !== true)
            shipAllSpec ??= { ...spec, shipAllOrders: true };
          const outcome = parseChunkWith(
            opts.parse,
            data,
            task.shipAllOrders === true && shipAllSpec !== null ? shipAllSpec : spec,
            task.data === undefined && range !== undefined ? ranges.lookahead(range) : undefined,
            joins.tables,
          );
          const parseMs = performance.now() - t0;
          summary.chunks++;
          summary.rows += outcome.agg.rows;
          summary.rejected += outcome.agg.rejected;
          summary.parseMs += parseMs;
          const result: Result = {
            type: 'result',
            chunkId: task.chunkId,
            attempt: task.attempt,
            partial: aggToWire(
              outcome.agg,
              outcome.lines,
              outcome.rejects,
              outcome.endsInQuote,
              outcome.omitted,
              outcome.cells,
            ),
            parseMs,
            usage: processUsage(),
          };
          // The blocks travel as they are (a copy per chunk into an encoder buffer grew RSS).
          const body = encodeResultParts(result);
          let size = 0;
          for (const p of body) size += p.length;
          // The coordinator would drop a frame over its limit, and the chunk would come back forever.
          if (size > opts.maxFrame) {
            throw new SalesgridError(
              'E_RESULT_TOO_LARGE',
              `the result of chunk ${task.chunkId} is ${size.toLocaleString('en-US')} bytes, over the ${opts.maxFrame.toLocaleString('en-US')}-byte frame limit (too many distinct keys in one chunk): use a smaller --chunk-size or fewer --dimension/--mart columns`,
            );
          }
          channel.sendParts(body);
        } catch (err) {
          const wire = errorToWire(err);
          if (wire.code === 'E_RESULT_TOO_LARGE') ui.warn(`${opts.id}: ${wire.message}`);
          const failure: Failure = { type: 'failure', chunkId: task.chunkId, attempt: task.attempt, ...wire };
          // Not the coordinator's file: take no more tasks, so its chunks go to other workers.
          if (wire.code === 'E_SOURCE_MISMATCH') {
            ui.warn(wire.message);
            return channel.sendParts([encodeMessage(failure)], () => finish(err as Error));
          }
          channel.send(failure);
        }
        // Nothing could be heard while parsing.
        lastHeard = Date.now();
        // Let pings and new tasks in between chunks.
        await new Promise((r) => setImmediate(r));
      }
      busy = false;
    };

    channel.onClose((reason) => {
      if (reason?.startsWith(TLS_REFUSED))
        return finish(new AuthError(`${opts.host}:${opts.port} ${reason}`));
      // Bytes that are not our frames before the welcome: the peer is not a salesgrid coordinator.
      if ((state === 'challenge' || state === 'welcome') && reason !== null && /frame/.test(reason)) {
        return finish(
          new SalesgridError(
            'E_PROTOCOL',
            `${opts.host}:${opts.port} does not speak the salesgrid protocol: ${reason}`,
          ),
        );
      }
      finish({ kind: 'lost', reason: reason ?? 'closed by the coordinator', joined });
    });
    channel.onMessage((raw) => {
      lastHeard = Date.now();
      try {
        const msg = asToWorker(raw);
        switch (msg.type) {
          case 'challenge': {
            if (state !== 'challenge') throw new ProtocolError('unexpected challenge');
            if (msg.protocol !== PROTOCOL_VERSION) {
              return finish(
                new SalesgridError(
                  'E_VERSION',
                  `the coordinator speaks protocol version ${msg.protocol}; this worker speaks ${PROTOCOL_VERSION}. Use the same salesgrid version on both.`,
                ),
              );
            }
            if (msg.auth && opts.token === null) {
              return finish(
                new AuthError('the coordinator requires a token: pass --token or set SALESGRID_TOKEN'),
              );
            }
            const proof =
              opts.token === null ? null : createHmac('sha256', opts.token).update(msg.nonce).digest();
            channel.send({
              type: 'hello',
              protocol: PROTOCOL_VERSION,
              workerId: opts.id,
              proof,
              slots: opts.slots,
            });
            state = 'welcome';
            return;
          }
          case 'welcome':
            if (state !== 'welcome') throw new ProtocolError('unexpected welcome');
            spec = validateSpec(msg.spec);
            joins = new JoinAssembler(spec.joins ?? [], MAX_JOIN_WIRE_BYTES);
            state = 'ready';
            joined = true;
            ui.info(`${opts.id}: connected to ${opts.host}:${opts.port}, run ${msg.runId}`);
            noteParser(spec, opts, ui);
            if (opts.parse !== 'js') warmBaskets(spec);
            return;
          case 'refuse':
            if (msg.code === 'E_AUTH')
              return finish(new AuthError(`the coordinator refused this worker: ${msg.reason}`));
            if (msg.code === 'E_VERSION')
              return finish(
                new SalesgridError('E_VERSION', `the coordinator refused this worker: ${msg.reason}`),
              );
            if (msg.code === 'E_FINISHED') {
              ui.info(
                `${opts.id}: the coordinator's run is already over (${msg.reason}); this worker missed its end`,
              );
              return finish({ kind: 'done', status: 'finished', joined });
            }
            return finish({ kind: 'lost', reason: `refused: ${msg.reason}`, joined });
          case 'task':
            if (state !== 'ready') throw new ProtocolError('task before welcome');
            queue.push(msg);
            void work();
            return;
          case 'join':
            if (state !== 'ready' || joins === null) throw new ProtocolError('join table before welcome');
            joins.add(msg.name, msg.seq, msg.data);
            if (joins.tables) {
              const rows = joins.tables.reduce((n, t) => n + t.rows, 0);
              ui.info(`${opts.id}: received ${joins.tables.length} join table(s), ${rows} rows`);
              void work();
            }
            return;
          case 'ping':
            channel.send({ type: 'pong', t: msg.t });
            return;
          case 'pong':
            return;
          case 'done':
            if (joined)
              ui.info(
                `${opts.id}: run ${msg.runId} ${msg.status === 'closing' ? 'has every chunk counted; the coordinator is merging its results' : `is ${msg.status}`}; ${summary.chunks} chunk(s), ${summary.rows.toLocaleString('en-US')} rows parsed`,
              );
            else
              ui.info(
                `${opts.id}: run ${msg.runId} already ended (${msg.status}) before this worker joined; nothing to do`,
              );
            return finish({ kind: 'done', status: msg.status, joined });
        }
      } catch (err) {
        // Before the welcome, the peer is probably not a salesgrid coordinator: stop, do not retry forever.
        if (state === 'challenge' || state === 'welcome') {
          return finish(
            new SalesgridError(
              'E_PROTOCOL',
              `${opts.host}:${opts.port} does not speak the salesgrid protocol: ${errorMessage(err)}`,
            ),
          );
        }
        ui.warn(`protocol error: ${errorMessage(err)}`);
        channel.destroy(errorMessage(err));
      }
    });
  });
}

let reader: RangeReader | null = null;

/** One reader per accepted source, so its read buffer and source stay open across sessions. */
function rangeReader(accepted: string | null): RangeReader {
  if (reader === null || reader.accepted !== accepted) reader = new RangeReader(accepted);
  return reader;
}
