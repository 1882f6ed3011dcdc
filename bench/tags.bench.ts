// SPDX-License-Identifier: GPL-2.0-only
/**
 * Bench `tags`: the v4.4 tag allocator in steady state. `depth / 2` tags wait
 * in a FIFO; each iteration gets one tag and puts the oldest (normal tags,
 * FIFO policy, no hctx, one ctx), at depths 64, 256 and 1024.
 *
 * - `wasm_loop_ns`: the loop runs inside the release core (`blk_mq_tags_bench`);
 * - `wasm_call_ns`: one JS → WASM call per get and one per put;
 * - `native_c_ns`: the same algorithm in C (bench/native/tags.c), built with
 *   `gcc -O2` into a temporary directory during this run, with atomics when
 *   the core has them; null (with a message on stderr) when gcc is missing;
 * - `ratio = wasm_loop_ns / native_c_ns`.
 *
 * Timing: the three measurements are interleaved several times and each
 * reports its fastest round. On the project's VMs the speed of a process
 * changes in steps of up to 2× every few seconds, so a median of one
 * uninterrupted run compares a fast phase with a slow one; the minimum over
 * interleaved runs compares like with like.
 *
 * @module
 */

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { type CoreExports, instantiateCore } from "../ts/wasm/core.ts";
import { round2 } from "./_timing.ts";

/** One result line. */
export interface TagsBenchResult {
  bench: "tags";
  depth: number;
  wasm_loop_ns: number;
  wasm_call_ns: number;
  native_c_ns: number | null;
  ratio: number | null;
}

const DEPTHS = [64, 256, 1024];
/** Interleaved passes over the three measurements. */
const PASSES = 7;
/** Timed rounds per measurement and pass. */
const ROUNDS = 3;
const LOOP_ITERS = 1_000_000;
const CALL_ITERS = 300_000;
const NATIVE_ITERS = 1_000_000;
/** Native processes per pass: a process keeps the speed of the CPU it started on. */
const NATIVE_SPAWNS = 3;
/** Bytes of the ring header `blk_mq_tags_bench` expects. */
const RING_HDR = 16;
const C_SOURCE = fileURLToPath(new URL("./native/tags.c", import.meta.url));

/** A v4.4 FIFO map of `depth` tags with `depth / 2` held in a ring, on raw core exports. */
function steadyState(core: CoreExports, depth: number) {
  const bytes = core.blk_mq_tags_bytes(depth, 0);
  const outstanding = depth >> 1;
  const need = bytes + 64 + 8 + RING_HDR + 4 * outstanding;
  const tags = core.memory.grow(Math.ceil(need / 65536)) * 65536;
  const hint = tags + bytes + 64;
  const ring = hint + 8;
  if (core.blk_mq_init_tags(tags, depth, 0, 0, 0, 0) !== 0) throw new Error("blk_mq_init_tags failed");
  core.blk_mq_tag_init_hint(tags, hint, 0);
  const view = new Uint32Array(core.memory.buffer, ring, RING_HDR / 4 + outstanding);
  view.fill(0);
  for (let i = 0; i < outstanding; i++) view[RING_HDR / 4 + i] = core.blk_mq_get_tag(tags, 0, hint, 0);
  return { tags, hint, ring, outstanding };
}

/** The fastest of `ROUNDS` timed rounds of `body(iters)`, in ns per iteration. */
function fastestRound(body: (iters: number) => void, iters: number): number {
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    body(iters);
    best = Math.min(best, ((performance.now() - t0) * 1e6) / iters);
  }
  return best;
}

/** Compiles bench/native/tags.c. @returns the binary path, or null (message printed) without gcc */
function buildNative(dir: string, atomic: boolean): string | null {
  const exe = join(dir, "tags");
  const r = spawnSync("gcc", ["-O2", `-DTAGS_ATOMIC=${atomic ? 1 : 0}`, "-o", exe, C_SOURCE], { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    const code = (r.error as { code?: string } | undefined)?.code;
    const why = code === "ENOENT" ? "gcc not found" : (r.error?.message ?? r.stderr.trim());
    process.stderr.write(`bench tags: cannot build the native baseline (${why}); native_c_ns is null\n`);
    return null;
  }
  return exe;
}

/** One native run. @returns its fastest round in ns per iteration, or null (message printed) */
function runNative(exe: string, depth: number): number | null {
  const r = spawnSync(exe, [String(depth), String(NATIVE_ITERS), String(ROUNDS)], { encoding: "utf8" });
  const ns = Number.parseFloat(r.stdout);
  if (r.status !== 0 || !Number.isFinite(ns)) {
    process.stderr.write(`bench tags: native run at depth ${depth} failed (status ${r.status})\n`);
    return null;
  }
  return ns;
}

/** Runs the bench. `options.json` is accepted for symmetry; bench/main.ts formats the lines. */
export function run(_options: { json?: boolean } = {}): TagsBenchResult[] {
  const core = instantiateCore("release");
  const dir = mkdtempSync(join(tmpdir(), "blkmq-tags-bench-"));
  try {
    const exe = buildNative(dir, core.blk_mq_tags_atomic() === 1);
    const results: TagsBenchResult[] = [];
    for (const depth of DEPTHS) {
      const s = steadyState(core, depth);
      const loop = (n: number) => {
        if (core.blk_mq_tags_bench(s.tags, s.hint, s.ring, s.outstanding, n) < 0) {
          throw new Error("blk_mq_tags_bench: a get failed");
        }
      };
      let ring = new Uint32Array(core.memory.buffer, s.ring + RING_HDR, s.outstanding);
      let head = 0;
      const calls = (n: number) => {
        for (let i = 0; i < n; i++) {
          const tag = core.blk_mq_get_tag(s.tags, 0, s.hint, 0);
          core.blk_mq_put_tag(s.tags, ring[head], s.hint);
          ring[head] = tag;
          head = head + 1 === s.outstanding ? 0 : head + 1;
        }
      };
      loop(LOOP_ITERS); // warm-up: both tiers compiled, caches filled
      calls(CALL_ITERS);
      let loopNs = Infinity, callNs = Infinity, nativeNs: number | null = exe === null ? null : Infinity;
      for (let pass = 0; pass < PASSES; pass++) {
        loopNs = Math.min(loopNs, fastestRound(loop, LOOP_ITERS));
        ring = new Uint32Array(core.memory.buffer, s.ring + RING_HDR, s.outstanding);
        head = core.blk_mq_tags_bench(s.tags, s.hint, s.ring, s.outstanding, 0);
        callNs = Math.min(callNs, fastestRound(calls, CALL_ITERS));
        new Uint32Array(core.memory.buffer, s.ring, 1)[0] = head;
        for (let spawn = 0; spawn < NATIVE_SPAWNS && exe !== null && nativeNs !== null; spawn++) {
          const ns = runNative(exe, depth);
          nativeNs = ns === null ? null : Math.min(nativeNs, ns);
        }
      }
      results.push({
        bench: "tags",
        depth,
        wasm_loop_ns: round2(loopNs),
        wasm_call_ns: round2(callNs),
        native_c_ns: nativeNs === null ? null : round2(nativeNs),
        ratio: nativeNs === null ? null : round2(loopNs / nativeNs),
      });
    }
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
