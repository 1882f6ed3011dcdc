// SPDX-License-Identifier: GPL-2.0-only
/**
 * Bench `slab`: the cost of one kmem_cache_alloc() + kmem_cache_free() pair,
 * with kmemleak tracking off and on (release build), plus kmalloc and the
 * debug build (KASAN shadow, quarantine, tracking) for scale. The loops run
 * inside WASM (asm/slab_bench.ts), so no JS → WASM call is counted. Each
 * result is a ratio to a plain bump allocator (alloc = bump a pointer, free =
 * pop it) in the same WASM instance, measured in the same run.
 *
 * @module
 */

import { type CoreExports, type CoreVariant, instantiateCore } from "../ts/wasm/core.ts";
import { median, round2 } from "./_timing.ts";

/** One result line. */
export interface SlabBenchResult {
  bench: "slab";
  variant: string;
  pair_ns: number;
  bump_ns: number;
  ratio: number;
}

const OBJECT_SIZE = 64;
const ITERS = 1_000_000;

function check(rc: number, what: string): number {
  if (rc === -12 || rc === -22) throw new Error(`bench slab: ${what} failed (${rc})`);
  return rc;
}

const ROUNDS = 11;
/** Calls before timing, so V8 has tiered the loops up from Liftoff to TurboFan. */
const WARMUP_CALLS = 5;

/** Times one loop export against the bump baseline on the same instance. */
function measure(core: CoreExports, variant: string, loop: (n: number) => number): SlabBenchResult {
  const bumpLoop = (n: number) => check(core.bench_bump_pairs(OBJECT_SIZE, n), "bump");
  for (let i = 0; i < WARMUP_CALLS; i++) {
    check(loop(ITERS / 10), variant);
    bumpLoop(ITERS / 10);
  }
  const [pair, bump] = alternating((n) => check(loop(n), variant), bumpLoop);
  return { bench: "slab", variant, pair_ns: round2(pair), bump_ns: round2(bump), ratio: round2(pair / bump) };
}

/**
 * Nanoseconds per iteration of `a` and of `b`, each the median of ROUNDS
 * rounds of ITERS, the two timed alternately so that both see the same
 * machine (this box's other load moves a 1 ns baseline by 2x otherwise).
 */
function alternating(a: (n: number) => number, b: (n: number) => number): [number, number] {
  const ta: number[] = [];
  const tb: number[] = [];
  let sink = 0;
  for (let r = 0; r < ROUNDS; r++) {
    let t0 = performance.now();
    sink += a(ITERS);
    ta.push(((performance.now() - t0) * 1e6) / ITERS);
    t0 = performance.now();
    sink += b(ITERS);
    tb.push(((performance.now() - t0) * 1e6) / ITERS);
  }
  if (sink === -0.5) console.log(sink);
  return [median(ta), median(tb)];
}

function core(variant: CoreVariant): { core: CoreExports; cache: number } {
  const c = instantiateCore(variant);
  const cache = check(c.kmem_cache_create(OBJECT_SIZE, 0, 0), "kmem_cache_create");
  return { core: c, cache };
}

export function run(): SlabBenchResult[] {
  const rel = core("release");
  const out: SlabBenchResult[] = [];
  rel.core.kmemleak_set_enabled(0);
  out.push(measure(rel.core, "tracking-off", (n) => rel.core.bench_slab_pairs(rel.cache, n)));
  rel.core.kmemleak_set_enabled(1);
  out.push(measure(rel.core, "tracking-on", (n) => rel.core.bench_slab_pairs(rel.cache, n)));
  out.push(measure(rel.core, "kmalloc-64", (n) => rel.core.bench_kmalloc_pairs(OBJECT_SIZE, n)));
  const dbg = core("debug");
  out.push(measure(dbg.core, "debug-kasan", (n) => dbg.core.bench_slab_pairs(dbg.cache, n)));
  return out;
}
