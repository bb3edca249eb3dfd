#!/usr/bin/env node
// A floor for the benchmark: read the file in 4 MiB blocks and count newline bytes in a plain JS
// loop. No parsing at all, so no CSV tool written in JS can be faster than this on one core.
//
//   node bench/newline-scan.mjs <file>
//
// Prints one JSON object: the newline count, bytes read, and this process's resource usage.
import { closeSync, openSync, readSync } from 'node:fs';

const file = process.argv[2];
if (!file) {
  console.error('usage: node bench/newline-scan.mjs <file>');
  process.exit(2);
}
const BLOCK = 4 * 1024 * 1024;
const buf = Buffer.allocUnsafe(BLOCK);
const fd = openSync(file, 'r');
let newlines = 0;
let bytes = 0;
for (;;) {
  const n = readSync(fd, buf, 0, BLOCK, null);
  if (n === 0) break;
  bytes += n;
  for (let i = 0; i < n; i++) {
    if (buf[i] === 0x0a) newlines++;
  }
}
closeSync(fd);
const usage = process.resourceUsage();
process.stdout.write(
  `${JSON.stringify({
    engine: 'newline-scan',
    file,
    bytes,
    newlines,
    usage: {
      maxRssKb: usage.maxRSS,
      userMs: Math.round(usage.userCPUTime / 1000),
      systemMs: Math.round(usage.systemCPUTime / 1000),
    },
  })}\n`,
);
