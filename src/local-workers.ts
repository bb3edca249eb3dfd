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

  /**
   * `file`: the CSV the children may read for byte-range tasks. `keyed`: the run names marts or
   * dimensions of its own (possibly millions of keys per chunk).
   */
  spawn(
    count: number,
    host: string,
    port: number,
    token: string,
    slots: number,
    file: string,
    keyed = false,
  ): void {
    // A smaller young generation collects a keyed chunk's garbage sooner (it helped peak RSS at a
    // million customers, docs/architecture.md). On the plain path it only costs: more scavenges,
    // ~5% more worker CPU and ~6% more wall time on the 5M-row file, with the same peak RSS. So
    // only runs that name marts or dimensions get it.
    const v8Flags = keyed ? ['--max-semi-space-size=2'] : [];
    // glibc: a fixed mmap threshold returns a freed chunk table's large buffers to the kernel at
    // once (the dynamic one rises to their size and keeps them in the heap), and two arenas
    // instead of one per thread. Keyed runs at 1M customers: worker peak RSS 150 → 135 MB.
    const mallocEnv = keyed ? { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' } : {};
    for (let i = 0; i < count; i++) {
      const child = spawn(
        process.execPath,
        [
          ...v8Flags,
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
          env: { ...mallocEnv, ...process.env, SALESGRID_TOKEN: token },
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
