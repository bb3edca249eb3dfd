/**
 * Worker child processes for `run`: spawned on loopback with the run's token, watched, and cleaned
 * up. A light module, so `run` can start its workers before loading the coordinator.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'salesgrid.js');

export class LocalWorkers {
  private readonly children: ChildProcess[] = [];
  /** Called once when every child has exited. */
  onAllExited: (why: string) => void = () => {};

  /** `file`: the CSV the children may read for byte-range tasks. */
  spawn(count: number, host: string, port: number, token: string, slots: number, file: string): void {
    for (let i = 0; i < count; i++) {
      const child = spawn(
        process.execPath,
        [
          // A smaller young generation: a worker's garbage per chunk is collected sooner (peak RSS).
          '--max-semi-space-size=4',
          CLI,
          'worker',
          '--connect',
          `${host}:${port}`,
          '--id',
          `w${i + 1}`,
          '--slots',
          String(slots),
          '--quiet',
          '--retry-for',
          '5',
          '--accept-ranges',
          file,
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
        if (this.alive().length === 0) this.onAllExited(signal ? `signal ${signal}` : `code ${code}`);
      });
    }
  }

  get pids(): number[] {
    return this.children.map((c) => c.pid ?? -1);
  }

  private alive(): ChildProcess[] {
    return this.children.filter((c) => c.exitCode === null && c.signalCode === null);
  }

  /** Waits briefly for children to exit after `done`, then terminates what is left. */
  async cleanup(): Promise<void> {
    // Workers told `done` exit within milliseconds; one still connecting is not worth waiting for.
    const deadline = Date.now() + 500;
    while (this.alive().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    for (const c of this.alive()) c.kill('SIGTERM');
    const hard = Date.now() + 1_000;
    while (this.alive().length > 0 && Date.now() < hard) await new Promise((r) => setTimeout(r, 10));
    for (const c of this.alive()) c.kill('SIGKILL');
  }

  /** Synchronous, for failures before the run started and for process exit. */
  killAll(): void {
    for (const c of this.alive()) c.kill('SIGKILL');
  }
}
