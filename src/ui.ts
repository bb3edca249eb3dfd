/**
 * Terminal output: log lines on stderr, a live progress bar (cli-progress) when stderr is a TTY,
 * periodic plain progress lines otherwise. Results go to stdout.
 */
import cliProgress from 'cli-progress';
import type { CoordinatorUi, Progress } from './coordinator/coordinator.js';
import type { WorkerUi } from './worker/run-worker.js';

const MiB = 1024 * 1024;

function fmtDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '--';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60
    ? `${m}m${String(s % 60).padStart(2, '0')}s`
    : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export function fmtRate(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(0);
}

export function progressLine(p: Progress): string {
  const secs = Math.max(p.elapsedMs / 1000, 0.001);
  const mbs = p.bytesDone / MiB / secs;
  const left = p.bytesTotal - p.bytesDone;
  const eta = p.bytesDone > 0 ? (left / p.bytesDone) * p.elapsedMs : Number.NaN;
  return [
    `${p.chunksDone}/${p.chunksExact ? '' : '~'}${p.chunksTotal} chunks`,
    `${(p.bytesDone / MiB).toFixed(0)}/${(p.bytesTotal / MiB).toFixed(0)} MiB`,
    `${fmtRate(p.rows / secs)} rows/s`,
    `${mbs.toFixed(0)} MB/s`,
    `${p.workers} worker(s)`,
    `${p.retries} retries`,
    `ETA ${fmtDuration(eta)}`,
  ].join(' | ');
}

export interface ConsoleUiOptions {
  quiet: boolean;
  /** Plain progress lines every this many ms when not on a TTY. */
  plainEveryMs?: number;
}

/** The coordinator's UI. `close()` stops the bar before the summary is printed. */
export function consoleCoordinatorUi(opts: ConsoleUiOptions): CoordinatorUi & { close(): void } {
  const tty = process.stderr.isTTY === true && !opts.quiet;
  let bar: cliProgress.SingleBar | null = null;
  let lastPlain = 0;
  const plainEvery = opts.plainEveryMs ?? 5_000;
  const write = (line: string) => {
    if (bar) {
      // Keep the bar on the last line: clear it, print, redraw.
      process.stderr.write(`\r\x1b[2K${line}\n`);
    } else process.stderr.write(`${line}\n`);
  };
  return {
    info(message) {
      if (!opts.quiet) write(message);
    },
    warn(message) {
      write(`warning: ${message}`);
    },
    listening(host, port, runId) {
      if (opts.quiet) return;
      write(`run ${runId}: listening on ${host}:${port}`);
      write(
        `start workers with: salesgrid worker --connect ${host}:${port}${host === '0.0.0.0' ? " (use this machine's address)" : ''}`,
      );
    },
    progress(p) {
      if (opts.quiet) return;
      if (tty) {
        if (bar === null) {
          bar = new cliProgress.SingleBar(
            {
              format: ' {bar} {percentage}% | {line}',
              hideCursor: true,
              clearOnComplete: true,
              stream: process.stderr,
              fps: 8,
            },
            cliProgress.Presets.shades_classic,
          );
          bar.start(p.bytesTotal, p.bytesDone, { line: progressLine(p) });
        } else bar.update(p.bytesDone, { line: progressLine(p) });
        return;
      }
      const now = Date.now();
      if (now - lastPlain >= plainEvery) {
        lastPlain = now;
        write(`progress: ${progressLine(p)}`);
      }
    },
    close() {
      if (bar) {
        // stop() restores the cursor position saved when the bar started, lines ago once messages
        // were printed under it (the summary then overwrote them): save the current line instead.
        process.stderr.write('\r\x1b7');
        bar.stop();
        bar = null;
      }
    },
  };
}

export function consoleWorkerUi(quiet: boolean): WorkerUi {
  return {
    info(message) {
      if (!quiet) process.stderr.write(`${message}\n`);
    },
    warn(message) {
      process.stderr.write(`warning: ${message}\n`);
    },
  };
}
