/**
 * `run`: the coordinator in this process plus N worker child processes on loopback, with a random
 * token. The caller binds the port and starts the workers first (see commands/run-command.ts), so their start-up
 * overlaps the coordinator's. Children are cleaned up on success, failure and signals.
 */
import type { CoordinatorOptions } from './config.js';
import { Coordinator, type CoordinatorUi, type RunSummary } from './coordinator/coordinator.js';
import { SalesgridError } from './errors.js';
import type { LocalWorkers } from './local-workers.js';
import type { Listener } from './protocol/socket-channel.js';

export class LocalRun {
  private readonly workers: LocalWorkers;
  private coordinator: Coordinator | null = null;
  private interrupted: NodeJS.Signals | null = null;

  constructor(workers: LocalWorkers) {
    this.workers = workers;
  }

  /** The signal that interrupted the run, if any. */
  get signal(): NodeJS.Signals | null {
    return this.interrupted;
  }

  interrupt(signal: NodeJS.Signals): void {
    if (this.interrupted !== null) return;
    this.interrupted = signal;
    this.coordinator?.interrupt();
  }

  /** `opts` must carry the token the workers were started with; `listener` is the bound port. */
  async run(opts: CoordinatorOptions, listener: Listener, ui: CoordinatorUi): Promise<RunSummary> {
    const count = this.workers.pids.length;
    const coordinator = new Coordinator(
      opts,
      {
        ...ui,
        listening: (host, port, runId) => {
          ui.info(
            `run ${runId}: coordinator on ${host}:${port}, ${count} worker process(es) (pids ${this.workers.pids.join(', ')})`,
          );
        },
      },
      listener,
    );
    this.coordinator = coordinator;
    this.workers.onAllExited = (why) =>
      coordinator.fail(
        new SalesgridError(
          'E_INTERNAL',
          `all worker processes exited (the last with ${why}) before the run finished`,
        ),
      );
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
      if (started) await this.workers.cleanup();
      else this.workers.killAll();
    }
  }
}
