/**
 * The end of a run merges a large mart in two key ranges at once: a child process (merge-child.ts)
 * takes the keys from a pivot on while this process merges the keys below it, so the close uses a
 * second core, which the workers have left idle by then. The child reads the committed spill, so
 * the parent's open transaction is not visible to it, and this process stays the only writer:
 * its own blocks first, then the child's, in key order. The end of a run is synchronous (one
 * transaction), so the wait for the child is a poll of its output file. A child that fails or
 * stalls costs time, never results: its range is merged here instead.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type MartPart, partFromJson } from '../aggregate/mart-part.js';
import type { RankDepths } from '../aggregate/mart-ranking.js';
import type { Usage } from '../protocol/messages.js';

/** What the child is asked to do (its argv, as JSON). */
export interface SplitJob {
  db: string;
  runId: number;
  name: string;
  scale: number;
  /** The pivot key's bytes: the child merges keys ≥ it. */
  fromHex: string;
  depths: RankDepths;
  /** The child's output file (see merge-child.ts). */
  out: string;
  /** This process: a child that outlives it deletes its output instead of leaving it. */
  parent: number;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The built child: beside this module, or in dist/ when this module runs from its source (tests). */
const CHILD = [
  path.join(HERE, 'merge-child.js'),
  path.join(HERE, '..', '..', 'dist', 'coordinator', 'merge-child.js'),
].find((f) => fs.existsSync(f));
/** Below this much spill a mart merges in one process: a child's start (~0.1 s) would not pay. */
const DEFAULT_MIN_BYTES = 16 * 1024 * 1024;
const END = 0xffffffff;
/**
 * A child whose output has not grown for this long is stuck (it writes a block every few
 * milliseconds once it has started): it is killed and its range merged here. $SALESGRID_MERGE_STALL_MS
 * is a test seam.
 */
function stallMs(env = process.env.SALESGRID_MERGE_STALL_MS): number {
  const n = Number(env);
  return env !== undefined && env !== '' && Number.isSafeInteger(n) && n > 0 ? n : 30_000;
}
let started = 0;

/**
 * The spill size from which a mart's merge is split: $SALESGRID_END_SPLIT (bytes, or `off`; any
 * other value means the default), a test seam; null when splitting is off.
 */
export function splitThreshold(env = process.env.SALESGRID_END_SPLIT): number | null {
  if (env === undefined || env === '') return DEFAULT_MIN_BYTES;
  if (env === 'off') return null;
  const n = Number(env);
  // A seam, not an option: a value it cannot read must not fail the close of a finished run.
  return Number.isSafeInteger(n) && n >= 0 ? n : DEFAULT_MIN_BYTES;
}

/** Whether a split can run here: two cores, a database file the child can open, the built child. */
export function canSplit(db: string): boolean {
  return os.availableParallelism() >= 2 && db !== ':memory:' && db !== '' && CHILD !== undefined;
}

const sleep = (() => {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  return (ms: number) => Atomics.wait(cell, 0, 0, ms);
})();

/** Whether the process has ended (exited, or a zombie not yet reaped: the event loop is blocked). */
function ended(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  }
}

export class SplitHalf {
  private readonly child: ChildProcess;
  private readonly out: string;
  private done = false;
  /** Why the child failed, once `finish` returned null. */
  error = '';
  /** The child's own resource use, once `finish` returned its part. */
  usage: Usage | null = null;

  private constructor(
    readonly pivot: Uint8Array,
    job: SplitJob,
  ) {
    this.out = job.out;
    // A small young generation and two malloc arenas keep the child near the parent's footprint.
    this.child = spawn(process.execPath, ['--max-semi-space-size=2', CHILD as string, JSON.stringify(job)], {
      stdio: 'ignore',
      env: { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072', ...process.env },
      // Its own process group: a terminal's Ctrl-C during the close reaches the coordinator, which
      // handles it once the close (and this child's part of it) is done.
      detached: true,
    });
    this.child.on('error', () => {});
  }

  /** Starts the child on keys ≥ pivot. */
  static start(
    db: string,
    runId: number,
    name: string,
    scale: number,
    pivot: Uint8Array,
    depths: RankDepths,
  ): SplitHalf {
    // Unique per child: several marts' children start within the same millisecond.
    const out = `${outputPrefix(db, runId)}${process.pid}-${Date.now()}-${++started}`;
    return new SplitHalf(pivot, {
      db,
      runId,
      name,
      scale,
      fromHex: Buffer.from(pivot).toString('hex'),
      depths,
      out,
      parent: process.pid,
    });
  }

  /**
   * Waits for the child, hands its blocks to `onBlocks` in order (each valid until the next call),
   * and returns its part; null when the child failed (the caller merges the range itself).
   */
  finish(onBlocks: (blocks: Uint8Array[]) => void): MartPart | null {
    try {
      const pid = this.child.pid;
      const stall = stallMs();
      let size = -1;
      let grewAt = Date.now();
      while (!fs.existsSync(this.out)) {
        const now = Date.now();
        const s = fileSize(`${this.out}.part`);
        if (s !== size) {
          size = s;
          grewAt = now;
        } else if (now - grewAt > stall) {
          this.error = `it made no progress for ${(stall / 1000).toFixed(1)}s`;
          return null;
        }
        if (pid === undefined || ended(pid)) {
          // It may have renamed its output just before it ended.
          if (fs.existsSync(this.out)) break;
          this.error = readError(
            `${this.out}.err`,
            pid === undefined ? 'it did not start' : 'it ended without output',
          );
          return null;
        }
        sleep(2);
      }
      const { part, usage } = readOutput(this.out, onBlocks);
      this.usage = usage;
      return part;
    } finally {
      this.abandon();
    }
  }

  /** Stops the child if it still runs and removes its files. */
  abandon(): void {
    if (this.done) return;
    this.done = true;
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    for (const f of [this.out, `${this.out}.part`, `${this.out}.err`]) fs.rmSync(f, { force: true });
  }
}

const outputPrefix = (db: string, runId: number) => `${db}-merge-${runId}-`;

/**
 * Deletes the children's files of an earlier close of this run: a coordinator killed after its
 * child finished leaves the child's output (the run's lock keeps any other closer away).
 */
export function removeStaleOutputs(db: string, runId: number): void {
  const prefix = path.basename(outputPrefix(db, runId));
  const dir = path.dirname(db);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) if (n.startsWith(prefix)) fs.rmSync(path.join(dir, n), { force: true });
}

function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return -1;
  }
}

function readError(file: string, otherwise: string): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n')[0] || otherwise;
  } catch {
    return otherwise;
  }
}

/** Streams the child's file: its blocks one at a time, then its part. */
function readOutput(
  file: string,
  onBlocks: (blocks: Uint8Array[]) => void,
): { part: MartPart; usage: Usage } {
  const fd = fs.openSync(file, 'r');
  try {
    let at = 0;
    const head = Buffer.alloc(4);
    const read = (buf: Uint8Array) => {
      let got = 0;
      while (got < buf.length) {
        const n = fs.readSync(fd, buf, got, buf.length - got, at + got);
        if (n === 0) throw new Error(`merge output ${file} ends early`);
        got += n;
      }
      at += buf.length;
    };
    // One buffer for every block: the caller copies a block (SQLite binds it) before the next.
    let buf = new Uint8Array(256 * 1024);
    for (;;) {
      read(head);
      const len = head.readUInt32LE(0);
      if (len === END) break;
      if (len > buf.length) buf = new Uint8Array(len);
      const block = buf.subarray(0, len);
      read(block);
      onBlocks([block]);
    }
    read(head);
    const json = Buffer.alloc(head.readUInt32LE(0));
    read(json);
    const { usage, part } = JSON.parse(json.toString('utf8')) as { usage: Usage; part: unknown };
    return { part: partFromJson(JSON.stringify(part)), usage };
  } finally {
    fs.closeSync(fd);
  }
}
