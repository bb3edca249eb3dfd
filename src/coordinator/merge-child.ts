/**
 * The child process of a split end-of-run merge (mart-split.ts): merges one mart's keys from the
 * pivot on, read from the spill through its own read-only connection (the parent's uncommitted
 * transaction is invisible to it), and writes its blocks and its part to a file. Protocol of that
 * file: per block a u32 length and the bytes; then 0xFFFFFFFF, a u32 length and the part as JSON.
 * The file appears under its final name only when complete; on failure `<out>.err` says why.
 */
import fs from 'node:fs';
import { mergeToBlocks, partToJson } from '../aggregate/mart-part.js';
import { packBlock } from '../aggregate/packed-cells.js';
import { runSources } from '../db/cell-runs.js';
import { Store } from '../db/store.js';
import { processUsage } from '../protocol/messages.js';
import { KeyedMerge } from './keyed-merge.js';
import type { SplitJob } from './mart-split.js';

const job = JSON.parse(process.argv[2]) as SplitJob;
try {
  // A seam for the tests of the fallback.
  if (process.env.SALESGRID_MERGE_CHILD_FAIL === '1') throw new Error('failing on request');
  if (process.env.SALESGRID_MERGE_CHILD_FAIL === 'hang')
    for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
  const store = Store.openReadOnly(job.db);
  const merge = new KeyedMerge(runSources(store, job.runId, 'mart', job.name), job.scale, {
    from: Buffer.from(job.fromHex, 'hex'),
  });
  const fd = fs.openSync(`${job.out}.part`, 'w');
  const head = Buffer.alloc(4);
  const part = mergeToBlocks(job.name, merge, job.depths, (blocks) => {
    for (const b of blocks.map(packBlock)) {
      head.writeUInt32LE(b.length);
      fs.writevSync(fd, [head, b]);
    }
  });
  const json = Buffer.from(`{"usage":${JSON.stringify(processUsage())},"part":${partToJson(part)}}`);
  const tail = Buffer.alloc(8);
  tail.writeUInt32LE(0xffffffff, 0);
  tail.writeUInt32LE(json.length, 4);
  fs.writevSync(fd, [tail, json]);
  fs.closeSync(fd);
  store.close();
  // A parent killed meanwhile (its transaction rolled back) leaves nobody to read or delete this.
  if (process.ppid !== job.parent) {
    fs.rmSync(`${job.out}.part`, { force: true });
    process.exit(1);
  }
  fs.renameSync(`${job.out}.part`, job.out);
} catch (err) {
  fs.writeFileSync(`${job.out}.err`, err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exitCode = 1;
}
