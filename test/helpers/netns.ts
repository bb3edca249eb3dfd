/**
 * A small network of "hosts" built from Linux network namespaces, for multi-host tests: a bridge
 * in a namespace of its own, one namespace per host joined to it by a veth pair, addresses only
 * inside those namespaces and no route out. Nothing is changed in the machine's own namespace.
 * Needs root. Every namespace is deleted on teardown, on process exit, and (for a crashed earlier
 * run) when a later run finds namespaces whose owning process is gone.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { killAll, type Proc, spawnProc } from './e2e.js';

const PREFIX = 'sgmh';

function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
function tc(args: string[]): void {
  execFileSync('tc', args, { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Whether this process can build namespaces, and why not. */
export function netnsSupport(): { ok: boolean; why: string } {
  if (process.platform !== 'linux') return { ok: false, why: 'not Linux' };
  if (process.getuid?.() !== 0) return { ok: false, why: 'not running as root' };
  const probe = `${PREFIX}probe${process.pid}`;
  try {
    ip(['netns', 'add', probe]);
    ip(['netns', 'del', probe]);
    execFileSync('tc', ['-V'], { stdio: 'ignore' });
    return { ok: true, why: '' };
  } catch (err) {
    return { ok: false, why: `cannot create network namespaces: ${(err as Error).message.split('\n')[0]}` };
  }
}

/** Deletes namespaces left by test processes that no longer exist. */
function sweepStale(): void {
  for (const line of ip(['netns', 'list']).split('\n')) {
    const m = new RegExp(`^(${PREFIX}(\\d+)x\\w+)`).exec(line.trim());
    if (m === null) continue;
    try {
      process.kill(Number(m[2]), 0);
    } catch {
      try {
        ip(['netns', 'del', m[1]]);
      } catch {
        // gone meanwhile
      }
    }
  }
}

export interface Host {
  name: string;
  ns: string;
  address: string;
  /** The bridge side of its veth pair (in the bridge namespace). */
  port: string;
}

/** Classic BPF: A = random u32; drop (TC_ACT_SHOT) when A ≥ threshold, else pass (TC_ACT_OK). */
function dropBytecode(percent: number): string {
  const threshold = Math.floor(0xffffffff * (1 - percent / 100));
  const SKF_AD_RANDOM = 0xfffff000 + 56;
  return `4,32 0 0 ${SKF_AD_RANDOM},53 1 0 ${threshold},6 0 0 0,6 0 0 2`;
}

export class Lab {
  readonly id = `${PREFIX}${process.pid}x${randomBytes(2).toString('hex')}`;
  readonly bridge = `${this.id}-br`;
  readonly hosts = new Map<string, Host>();
  private readonly onExit = () => {
    killAll();
    this.teardown();
  };
  private readonly onSignal = (signal: NodeJS.Signals) => {
    this.onExit();
    process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGHUP' ? 1 : 15));
  };

  /** `names[i]` gets 10.77.0.(i+1)… — e.g. ['c', 'w1', 'w2']. */
  constructor(names: string[]) {
    sweepStale();
    process.on('exit', this.onExit);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, this.onSignal);
    ip(['netns', 'add', this.bridge]);
    ip(['-n', this.bridge, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', this.bridge, 'link', 'set', 'br0', 'up']);
    names.forEach((name, i) => {
      const host: Host = {
        name,
        ns: `${this.id}-${name}`,
        address: `10.77.0.${i + 1}`,
        port: `v-${name}`,
      };
      ip(['netns', 'add', host.ns]);
      ip([
        '-n',
        this.bridge,
        'link',
        'add',
        host.port,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        host.ns,
      ]);
      ip(['-n', this.bridge, 'link', 'set', host.port, 'master', 'br0', 'up']);
      ip(['-n', host.ns, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0']);
      ip(['-n', host.ns, 'link', 'set', 'eth0', 'up']);
      ip(['-n', host.ns, 'link', 'set', 'lo', 'up']);
      this.hosts.set(name, host);
    });
  }

  host(name: string): Host {
    const h = this.hosts.get(name);
    if (h === undefined) throw new Error(`no host ${name}`);
    return h;
  }

  /** Runs `node args…` on a host. `ip netns exec` execs, so the pid is node's. */
  node(host: string, args: string[], env: Record<string, string> = {}): Proc {
    return spawnProc('ip', ['netns', 'exec', this.host(host).ns, process.execPath, ...args], env);
  }

  link(host: string, up: boolean): void {
    ip(['-n', this.bridge, 'link', 'set', this.host(host).port, up ? 'up' : 'down']);
  }

  /** Random loss both ways on a host's link (tc clsact + a classic BPF filter; no netem needed). */
  loss(host: string, percent: number): void {
    const dev = this.host(host).port;
    tc(['-n', this.bridge, 'qdisc', 'add', 'dev', dev, 'clsact']);
    for (const dir of ['ingress', 'egress'])
      tc([
        '-n',
        this.bridge,
        'filter',
        'add',
        'dev',
        dev,
        dir,
        'bpf',
        'da',
        'bytecode',
        dropBytecode(percent),
      ]);
  }

  /** Packets the clsact filters on a host's link have dropped so far. */
  dropped(host: string): number {
    const out = execFileSync('tc', ['-s', '-n', this.bridge, 'qdisc', 'show', 'dev', this.host(host).port], {
      encoding: 'utf8',
    });
    const m = /qdisc clsact[^\n]*\n\s*Sent \d+ bytes \d+ pkt \(dropped (\d+)/.exec(out);
    return m === null ? 0 : Number(m[1]);
  }

  /**
   * Limits traffic towards a host (tbf), so that a run lasts long enough for faults to land mid-run.
   * `replace`, so a test can change a host's rate mid-run.
   */
  rate(host: string, rate: string): void {
    const dev = this.host(host).port;
    tc([
      '-n',
      this.bridge,
      'qdisc',
      'replace',
      'dev',
      dev,
      'root',
      'tbf',
      'rate',
      rate,
      'burst',
      '32kb',
      'latency',
      '200ms',
    ]);
  }

  /** Removes loss and rate limits and brings every link up. */
  reset(): void {
    for (const h of this.hosts.values()) {
      for (const q of ['clsact', 'root']) {
        try {
          tc(['-n', this.bridge, 'qdisc', 'del', 'dev', h.port, q]);
        } catch {
          // none set
        }
      }
      this.link(h.name, true);
    }
  }

  teardown(): void {
    process.off('exit', this.onExit);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(sig, this.onSignal);
    for (const ns of [...[...this.hosts.values()].map((h) => h.ns), this.bridge]) {
      try {
        ip(['netns', 'del', ns]);
      } catch {
        // already gone
      }
    }
    this.hosts.clear();
  }
}
