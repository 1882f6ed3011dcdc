// SPDX-License-Identifier: GPL-2.0-only
/**
 * Where a script allocates on the JS heap, short-lived objects included:
 * runs it under V8's sampling heap profiler with the objects collected by
 * minor and major GCs kept in the profile, then prints the allocation sites
 * (function ← caller) by bytes. The tool behind "no JS object per I/O" (see
 * docs/DEVELOPING.md); add `--no-turbo-inlining` to node's flags to see the
 * real function instead of the one it was inlined into.
 *
 *   node --import tsx scripts/alloc-profile.mjs SCRIPT.ts [script args...]
 *   ALLOC_TOP=40 ALLOC_INTERVAL=256 node --import tsx scripts/alloc-profile.mjs bench/main.ts io
 *
 * @module
 */

import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { resolve } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";

const script = process.argv[2];
if (script === undefined) {
  console.error("usage: node --import tsx scripts/alloc-profile.mjs SCRIPT [args...]");
  process.exit(2);
}
const top = Number(process.env.ALLOC_TOP ?? 25);
const session = new Session();
session.connect();
await session.post("HeapProfiler.enable");
await session.post("HeapProfiler.startSampling", {
  samplingInterval: Number(process.env.ALLOC_INTERVAL ?? 512),
  includeObjectsCollectedByMinorGC: true,
  includeObjectsCollectedByMajorGC: true,
});
process.argv.splice(1, 1); // the script sees its own argv[1..]
await import(pathToFileURL(resolve(script)).href);
const { profile } = await session.post("HeapProfiler.stopSampling");
if (process.env.ALLOC_OUT) writeFileSync(process.env.ALLOC_OUT, JSON.stringify(profile));

const site = (n) => `${n.callFrame.functionName || "(anon)"} ${n.callFrame.url.split("/").slice(-2).join("/")}`;
const bytes = new Map();
let total = 0;
const walk = (n, caller) => {
  if (n.selfSize > 0) {
    const key = `${site(n)}  <- ${caller}`;
    bytes.set(key, (bytes.get(key) ?? 0) + n.selfSize);
    total += n.selfSize;
  }
  for (const c of n.children ?? []) walk(c, site(n));
};
walk(profile.head, "");
console.log(`\nalloc-profile: ${(total / 1e6).toFixed(1)} MB sampled; top sites by bytes:`);
for (const [key, b] of [...bytes].sort((x, y) => y[1] - x[1]).slice(0, top)) {
  console.log(`${(b / 1e6).toFixed(2).padStart(9)} MB  ${key}`);
}
