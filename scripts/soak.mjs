#!/usr/bin/env node
/**
 * Seeded fault soak of the whole system, run as a user runs it: a `coordinator` and 2 or 3 separate
 * `worker` processes (each behind a TCP relay this script can cut), on a small generated file with
 * quoted line breaks from a random row on (or none) and a few bad rows. Random faults: kill -9 a
 * worker, SIGSTOP one past its lease, cut a connection, kill -9 the coordinator and `--resume` it,
 * SIGSTOP the coordinator past the workers' --peer-timeout.
 * Each iteration must match an independent computation (csv-parse + BigInt) exactly, and its done
 * chunks must tile the data section.
 *
 *   npm run soak -- [--iterations N] [--seed S] [--from K] [--timeout SECONDS] [--verbose]
 *
 * `--verbose` prints every process's log after each iteration.
 *
 * Iteration K's settings depend only on (S, K): `--seed S --from K --iterations 1` replays them
 * (fault times are wall-clock delays, so the interleaving may still differ on a loaded machine).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { parse } from 'csv-parse/sync';

const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = path.join(ROOT, 'bin', 'salesgrid.js');
const LEASE_S = 2;
/** Workers' --peer-timeout when the coordinator may be stopped: above its 5 s ping interval. */
const PEER_S = 6;

// --- arguments ---------------------------------------------------------------------------------

function parseArgs(argv) {
  const out = { iterations: 20, seed: Date.now() % 2 ** 31, from: 0, timeout: 120, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--verbose') {
      out.verbose = true;
      continue;
    }
    const key = { '--iterations': 'iterations', '--seed': 'seed', '--from': 'from', '--timeout': 'timeout' }[
      flag
    ];
    if (key === undefined || value === undefined || !/^\d+$/.test(value)) {
      process.stderr.write(
        `soak: usage: soak.mjs [--iterations N] [--seed S] [--from K] [--timeout SECONDS] [--verbose]\n`,
      );
      process.exit(2);
    }
    out[key] = Number(value);
    i++;
  }
  return out;
}

// --- randomness (mulberry32, as test/helpers/prng.ts) ------------------------------------------

function rng(seed) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    chance: (p) => next() < p,
    pick: (items) => items[Math.floor(next() * items.length)],
  };
}

/** Everything random about iteration `k` of seed `seed`, decided up front so it can be printed. */
function settingsFor(seed, k) {
  const r = rng((Math.imul(seed, 0x9e3779b1) ^ Math.imul(k + 1, 0x85ebca6b)) >>> 0);
  const faults = [];
  const at = () => r.int(0, 1_200);
  if (r.chance(0.5)) faults.push({ kind: 'kill-worker', at: at() });
  if (r.chance(0.4)) faults.push({ kind: 'stop-worker', at: at() });
  if (r.chance(0.5)) faults.push({ kind: 'drop-connection', at: at() });
  // The coordinator dies at a random time, or once a random share of the chunks is done.
  if (r.chance(0.5))
    faults.push(
      r.chance(0.5)
        ? { kind: 'kill-coordinator', at: at() }
        : { kind: 'kill-coordinator', at: 0, share: Math.round(r.next() * 80) / 100 },
    );
  const out = {
    rows: r.int(4_000, 12_000),
    genSeed: r.int(1, 1_000_000),
    // Row index (fraction of the file) from which Country holds a quoted line break, or null.
    quotedFrom: r.chance(0.35) ? null : r.pick([0, r.next(), r.next(), 0.9]),
    badRows: r.int(0, 4),
    chunkKiB: r.int(8, 48),
    workers: r.int(2, 3),
    transport: r.chance(0.25) ? 'range' : 'bytes',
    faults,
    pick: r.int(0, 1_000),
  };
  // Drawn last, so the settings above stay those of earlier versions of this script.
  if (r.chance(0.25)) faults.push({ kind: 'stop-coordinator', at: at() });
  // Lines whose Country field opens a quote that never closes (issue 11): each must be rejected
  // alone, with reading going on at the next line. Often one is the last line.
  out.strays = r.chance(0.4) ? r.int(1, 3) : 0;
  out.strayLast = out.strays > 0 && r.chance(0.5);
  faults.sort((a, b) => a.at - b.at);
  return out;
}

function describe(s) {
  const q = s.quotedFrom === null ? 'none' : `from ${(s.quotedFrom * 100).toFixed(0)}%`;
  const f =
    s.faults
      .map((x) => `${x.kind}@${x.share === undefined ? `${x.at}ms` : `${Math.round(x.share * 100)}%`}`)
      .join(', ') || 'none';
  const stray = s.strays === 0 ? '' : ` stray-quotes=${s.strays}${s.strayLast ? ' (one last)' : ''}`;
  return `rows=${s.rows} quoted-breaks=${q} bad=${s.badRows}${stray} chunk=${s.chunkKiB}KiB workers=${s.workers} transport=${s.transport} faults=[${f}]`;
}

// --- the input and its independent totals -----------------------------------------------------

function run(args) {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('close', (code) => resolve({ code, out }));
  });
}

async function makeFile(dir, s) {
  const file = path.join(dir, 'sales.csv');
  const g = await run([
    'generate',
    '--rows',
    String(s.rows),
    '--seed',
    String(s.genSeed),
    '--out',
    file,
    '--quiet',
  ]);
  if (g.code !== 0) throw new Error(`generate failed: ${g.out}`);
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const r = rng(s.genSeed);
  const from = s.quotedFrom === null ? Number.POSITIVE_INFINITY : 1 + Math.floor(s.quotedFrom * s.rows);
  for (let i = 1; i < lines.length; i++) {
    if (lines[i] === '') continue;
    const f = lines[i].split(',');
    if (i >= from && r.chance(0.5)) f[1] = `"${f[1]}\nsecond line, with a comma and ""quotes"""`;
    lines[i] = f.join(',');
  }
  for (let b = 0; b < s.badRows; b++) {
    const i = r.int(2, s.rows);
    const f = lines[i].split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/);
    f[9] = 'n/a';
    lines[i] = f.join(',');
  }
  // Stray quotes go on plain lines (no quoted break, no bad price); the reference reads a copy
  // without them and counts each as one rejected row.
  const strayAt = new Set();
  const plain = (i) => i >= 1 && lines[i] !== '' && !lines[i].includes('"') && !lines[i].includes('n/a');
  let last = lines.length - 1;
  while (last > 0 && lines[last] === '') last--;
  if (s.strayLast && plain(last)) strayAt.add(last);
  for (let tries = 0; strayAt.size < s.strays && tries < 1_000; tries++) {
    const i = r.int(1, last);
    if (plain(i)) strayAt.add(i);
  }
  const clean = lines.filter((_, i) => !strayAt.has(i));
  for (const i of strayAt) {
    const f = lines[i].split(',');
    f[1] = `"${f[1]}`;
    lines[i] = f.join(',');
  }
  fs.writeFileSync(file, lines.join('\n'));
  const cleanFile = path.join(dir, 'sales-without-stray-lines.csv');
  fs.writeFileSync(cleanFile, clean.join('\n'));
  return { file, cleanFile, strays: strayAt.size };
}

const cents = (t) => BigInt(t.replace('.', ''));
const fmt = (c) => {
  const str = c.toString().padStart(3, '0');
  return `${str.slice(0, -2)}.${str.slice(-2)}`;
};

function reference(file) {
  const records = parse(fs.readFileSync(file), { columns: true, bom: true });
  const ref = { rows: 0, rejected: 0, units: 0n, revenue: 0n, min: null, max: null, monthly: new Map() };
  for (const rec of records) {
    const price = rec['Unit Price'];
    if (!/^\d+\.\d{2}$/.test(price)) {
      ref.rejected++;
      continue;
    }
    const p = cents(price);
    const u = BigInt(rec['Units Sold']);
    ref.rows++;
    ref.units += u;
    ref.revenue += p * u;
    if (ref.min === null || p < ref.min) ref.min = p;
    if (ref.max === null || p > ref.max) ref.max = p;
    const [m, , y] = rec['Order Date'].split('/');
    const key = `${y}-${m.padStart(2, '0')}`;
    const c = ref.monthly.get(key) ?? { rows: 0, units: 0n, revenue: 0n };
    ref.monthly.set(key, { rows: c.rows + 1, units: c.units + u, revenue: c.revenue + p * u });
  }
  return ref;
}

// --- processes, relays, faults ----------------------------------------------------------------

function start(args, name) {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const proc = { child, name, log: '', exited: false, code: null };
  const take = (d) => (proc.log += d);
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  proc.exit = new Promise((resolve) =>
    child.on('close', (code, signal) => {
      proc.exited = true;
      proc.code = code ?? `signal ${signal}`;
      resolve(proc.code);
    }),
  );
  return proc;
}

function waitFor(proc, re, ms) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const check = () => {
      const m = re.exec(proc.log);
      if (m) return resolve(m);
      if (proc.exited) return reject(new Error(`${proc.name} exited (${proc.code}) before ${re}`));
      if (Date.now() - t0 > ms) return reject(new Error(`${proc.name}: no ${re} within ${ms} ms`));
      setTimeout(check, 10);
    };
    check();
  });
}

/** A TCP relay on loopback port 0 to the coordinator's current port; `cut()` drops its connections. */
async function relay(target) {
  const pairs = new Set();
  const server = net.createServer((down) => {
    const up = net.connect({ host: '127.0.0.1', port: target.port });
    const pair = [down, up];
    pairs.add(pair);
    const close = () => {
      pairs.delete(pair);
      down.destroy();
      up.destroy();
    };
    for (const s of pair) {
      s.on('error', close);
      s.on('close', close);
    }
    down.pipe(up);
    up.pipe(down);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    cut: () => {
      for (const [down, up] of [...pairs]) {
        down.destroy();
        up.destroy();
      }
    },
    close: () => {
      server.close();
      for (const [down, up] of pairs) {
        down.destroy();
        up.destroy();
      }
    },
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function killHard(proc) {
  if (proc.exited) return;
  try {
    proc.child.kill('SIGCONT');
    proc.child.kill('SIGKILL');
  } catch {
    // gone
  }
}

// --- one iteration ----------------------------------------------------------------------------

async function iteration(s, timeoutMs) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sg-soak-'));
  const procs = [];
  const relays = [];
  const events = [];
  let diffs = [];
  const timers = [];
  // Set when the iteration ends: a fault handler still running (mid-sleep) must not start a
  // process nobody will stop (a worker that keeps the soak alive).
  let over = false;
  try {
    const { file, cleanFile, strays } = await makeFile(dir, s);
    const ref = reference(cleanFile);
    ref.rejected += strays;
    const db = path.join(dir, 'soak.db');
    const base = ['--db', db, '--chunk-size', `${s.chunkKiB}KiB`, '--lease-timeout', String(LEASE_S)];
    base.push('--max-attempts', '50', '--transport', s.transport);
    let coord = start(['coordinator', file, '--port', '0', ...base], 'coordinator');
    procs.push(coord);
    const target = { port: Number((await waitFor(coord, /listening on [^\s]+:(\d+)/, 60_000))[1]) };
    const extra = s.transport === 'range' ? ['--accept-ranges', file] : [];
    if (s.faults.some((f) => f.kind === 'stop-coordinator')) extra.push('--peer-timeout', String(PEER_S));
    let nextId = 0;
    const workers = [];
    const addWorker = async () => {
      if (over) return;
      const r = await relay(target);
      if (over) {
        r.close();
        return;
      }
      relays.push(r);
      const id = `w${nextId++}`;
      const w = start(
        ['worker', '--connect', `127.0.0.1:${r.port}`, '--id', id, '--retry-for', '60', ...extra],
        id,
      );
      procs.push(w);
      workers.push({ proc: w, relay: r });
    };
    for (let i = 0; i < s.workers; i++) await addWorker();
    const live = () => workers.filter((w) => !w.proc.exited);
    const victim = () => {
      const l = live();
      return l.length === 0 ? null : l[s.pick % l.length];
    };

    let restarting = null;
    const estimate = Math.ceil((fs.statSync(file).size - 1) / (s.chunkKiB * 1024));
    /** Resolves once `share` of the estimated chunks is done (polled from the database, read-only). */
    const progress = async (share) => {
      const want = Math.max(1, Math.floor(share * estimate));
      const d = new Database(db, { readonly: true, fileMustExist: true });
      try {
        const q = d.prepare("SELECT COUNT(*) AS n FROM chunks WHERE status = 'done'");
        while (!coord.exited && q.get().n < want) await sleep(15);
      } finally {
        d.close();
      }
    };
    for (const f of s.faults) {
      timers.push(
        setTimeout(async () => {
          if (f.share !== undefined) await progress(f.share);
          if (over || (coord.exited && restarting === null)) return;
          if (f.kind === 'kill-worker') {
            const w = victim();
            if (w === null) return;
            killHard(w.proc);
            events.push(`killed ${w.proc.name}`);
            await sleep(200);
            await addWorker();
          } else if (f.kind === 'stop-worker') {
            const w = victim();
            if (w === null) return;
            w.proc.child.kill('SIGSTOP');
            events.push(`stopped ${w.proc.name}`);
            await sleep(LEASE_S * 1000 + 700);
            w.proc.child.kill('SIGCONT');
          } else if (f.kind === 'drop-connection') {
            const w = victim();
            if (w === null) return;
            w.relay.cut();
            events.push(`cut ${w.proc.name}`);
          } else if (f.kind === 'stop-coordinator') {
            // Silent but connected: each worker must drop it after --peer-timeout and reconnect.
            const stopped = coord;
            stopped.child.kill('SIGSTOP');
            events.push('stopped the coordinator');
            await sleep(PEER_S * 1000 + 1_500);
            stopped.child.kill('SIGCONT');
          } else if (f.kind === 'kill-coordinator') {
            if (coord.exited) return;
            restarting = (async () => {
              killHard(coord);
              await coord.exit;
              events.push('killed the coordinator');
              if (over) return;
              coord = start(
                ['coordinator', file, '--port', String(target.port), ...base, '--resume'],
                'resumed',
              );
              procs.push(coord);
            })();
            await restarting;
            restarting = null;
          }
        }, f.at),
      );
    }

    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const current = coord;
      let timer;
      const code = await Promise.race([
        current.exit,
        new Promise((r) => (timer = setTimeout(r, Math.max(0, deadline - Date.now())))),
      ]);
      clearTimeout(timer);
      if (restarting !== null) await restarting;
      if (coord !== current) continue;
      if (!current.exited) throw new Error(`no end of run within ${timeoutMs / 1000}s`);
      // A kill landed after the run was marked done: `--resume` says so, and the totals still count.
      if (code === 2 && /already finished/.test(current.log)) break;
      if (code !== 0) throw new Error(`${current.name} exited ${code}`);
      break;
    }
    diffs = await check(db, ref);
    return { diffs, events, procs };
  } catch (err) {
    diffs = [String(err.message ?? err)];
    return { diffs, events, procs };
  } finally {
    over = true;
    for (const t of timers) clearTimeout(t);
    for (const p of procs) killHard(p);
    await Promise.all(procs.map((p) => p.exit));
    for (const r of relays) r.close();
    // A failed iteration keeps its file and database for a look.
    if (diffs.length === 0) fs.rmSync(dir, { recursive: true, force: true });
    else diffs.unshift(`kept: ${dir}`);
  }
}

async function check(db, ref) {
  const diffs = [];
  const eq = (what, got, want) => {
    if (String(got) !== String(want)) diffs.push(`${what}: got ${got}, expected ${want}`);
  };
  const rep = await run(['report', '--db', db, '--json']);
  if (rep.code !== 0) return [`report exited ${rep.code}: ${rep.out}`];
  const r = JSON.parse(rep.out);
  eq('status', r.status, 'done');
  eq('rows', r.rows, ref.rows);
  eq('rejected', r.rejected, ref.rejected);
  eq('units', r.units, ref.units);
  eq('revenue', r.revenue, fmt(ref.revenue));
  eq('min price', r.minPrice, fmt(ref.min ?? 0n));
  eq('max price', r.maxPrice, fmt(ref.max ?? 0n));
  eq('months', r.monthly.length, ref.monthly.size);
  for (const m of r.monthly) {
    const want = ref.monthly.get(m.month);
    if (want === undefined) diffs.push(`month ${m.month} should not exist`);
    else
      eq(
        `month ${m.month}`,
        `${m.rows}/${m.units}/${m.revenue}`,
        `${want.rows}/${want.units}/${fmt(want.revenue)}`,
      );
  }
  // The done chunks tile the data section: sorted, contiguous, from the data start to the end.
  const d = new Database(db, { readonly: true });
  try {
    const run = d.prepare('SELECT id, data_start, size FROM runs ORDER BY id DESC LIMIT 1').get();
    const chunks = d
      .prepare(
        "SELECT byte_start, byte_end FROM chunks WHERE run_id = ? AND status = 'done' ORDER BY byte_start",
      )
      .all(run.id);
    let at = run.data_start;
    let tiled = true;
    for (const c of chunks) {
      if (c.byte_start !== at) {
        diffs.unshift(`chunks: ${c.byte_start < at ? 'overlap' : 'gap'} at bytes ${at}..${c.byte_start}`);
        tiled = false;
        break;
      }
      at = c.byte_end;
    }
    if (tiled && at !== run.size)
      diffs.unshift(`chunks: the last done chunk ends at ${at}, the file at ${run.size}`);
  } finally {
    d.close();
  }
  return diffs;
}

// --- main -------------------------------------------------------------------------------------

const args = parseArgs(process.argv.slice(2));
process.stdout.write(
  `soak: seed ${args.seed}, iterations ${args.from}..${args.from + args.iterations - 1}\n`,
);
const failed = [];
const t0 = Date.now();
for (let k = args.from; k < args.from + args.iterations; k++) {
  const s = settingsFor(args.seed, k);
  const started = Date.now();
  process.stdout.write(`[${k}] ${describe(s)}\n`);
  const { diffs, events, procs } = await iteration(s, args.timeout * 1000);
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  const what = events.length ? ` (${events.join(', ')})` : '';
  if (diffs.length === 0) {
    process.stdout.write(`[${k}] ok in ${secs}s${what}\n`);
    if (args.verbose)
      for (const p of procs) process.stdout.write(`  --- ${p.name} (exit ${p.code})\n${p.log}`);
    continue;
  }
  failed.push(k);
  process.stdout.write(`[${k}] FAILED in ${secs}s${what}\n  ${diffs.slice(0, 16).join('\n  ')}\n`);
  for (const p of procs) {
    const tail = p.log.trim().split('\n').slice(-15).join('\n    ');
    process.stdout.write(`  --- ${p.name} (exit ${p.code})\n    ${tail}\n`);
  }
  process.stdout.write(`  replay: npm run soak -- --seed ${args.seed} --from ${k} --iterations 1\n`);
}
const total = ((Date.now() - t0) / 1000).toFixed(0);
process.stdout.write(
  `soak: seed ${args.seed}: ${args.iterations - failed.length}/${args.iterations} iterations ok in ${total}s` +
    (failed.length ? `; failed: ${failed.join(', ')}` : '') +
    '\n',
);
// Exit even if a stray handle is left: CI waits for this process.
process.exit(failed.length ? 1 : 0);
