/**
 * `run`: the coordinator in this process plus N worker child processes on loopback, with a random
 * token. Children are cleaned up on success, failure and signals.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CoordinatorOptions } from './config.js';
import { Coordinator, type CoordinatorUi, type RunSummary } from './coordinator/coordinator.js';
import { SalesgridError } from './errors.js';

const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'salesgrid.js');

export interface LocalRunOptions {
  workers: number;
  slots: number;
}

export class LocalRun {
  private readonly children: ChildProcess[] = [];
  private coordinator: Coordinator | null = null;
  private interrupted: NodeJS.Signals | null = null;

  /** The signal that interrupted the run, if any. */
  get signal(): NodeJS.Signals | null {
    return this.interrupted;
  }

  interrupt(signal: NodeJS.Signals): void {
    if (this.interrupted !== null) return;
    this.interrupted = signal;
    this.coordinator?.interrupt();
  }

  async run(opts: CoordinatorOptions, local: LocalRunOptions, ui: CoordinatorUi): Promise<RunSummary> {
    const token = opts.token ?? randomBytes(24).toString('hex');
    const coordinator = new Coordinator(
      { ...opts, host: '127.0.0.1', port: 0, token },
      {
        ...ui,
        bound: (host, port) => {
          for (let i = 0; i < local.workers; i++) {
            this.spawnWorker(host, port, `w${i + 1}`, token, local.slots);
          }
        },
        listening: (host, port, runId) => {
          const pids = this.children.map((c) => c.pid).join(', ');
          ui.info(
            `run ${runId}: coordinator on ${host}:${port}, ${local.workers} worker process(es) (pids ${pids})`,
          );
        },
      },
    );
    this.coordinator = coordinator;
    if (this.interrupted) coordinator.interrupt();
    let started = false;
    try {
      const summary = await coordinator.run();
      started = true;
      return summary;
    } catch (err) {
      // A run that ended after it started has told its workers; one refused at the start has not.
      started = (err as { summary?: unknown }).summary !== undefined;
      throw err;
    } finally {
      if (started) await this.cleanup();
      else this.killAll();
    }
  }

  private spawnWorker(host: string, port: number, id: string, token: string, slots: number): void {
    const child = spawn(
      process.execPath,
      [
        ...(process.env.SALESGRID_NODE_FLAGS?.split(' ').filter(Boolean) ?? []),
        CLI,
        'worker',
        '--connect',
        `${host}:${port}`,
        '--id',
        id,
        '--slots',
        String(slots),
        '--quiet',
        '--retry-for',
        '5',
      ],
      // Own process group: a terminal's Ctrl-C reaches the coordinator, which winds the children down.
      {
        stdio: ['ignore', 'ignore', 'inherit'],
        env: { ...process.env, SALESGRID_TOKEN: token },
        detached: true,
      },
    );
    this.children.push(child);
    child.on('exit', (code, signal) => {
      if (this.children.every((c) => c.exitCode !== null || c.signalCode !== null) && this.coordinator) {
        const why = signal ? `signal ${signal}` : `code ${code}`;
        this.coordinator.fail(
          new SalesgridError(
            'E_INTERNAL',
            `all worker processes exited (the last with ${why}) before the run finished`,
          ),
        );
      }
    });
  }

  /** Waits briefly for children to exit after `done`, then kills what is left. */
  async cleanup(): Promise<void> {
    const alive = () => this.children.filter((c) => c.exitCode === null && c.signalCode === null);
    // Workers told `done` exit within milliseconds; one still connecting is not worth waiting for.
    const deadline = Date.now() + 500;
    while (alive().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    for (const c of alive()) c.kill('SIGTERM');
    const hard = Date.now() + 1_000;
    while (alive().length > 0 && Date.now() < hard) await new Promise((r) => setTimeout(r, 25));
    for (const c of alive()) c.kill('SIGKILL');
  }

  /** Synchronous last resort for process exit. */
  killAll(): void {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}
