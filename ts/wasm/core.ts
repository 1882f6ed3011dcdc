// SPDX-License-Identifier: GPL-2.0-only
/**
 * Loads the WASM core from the embedded modules that build.ts generates.
 *
 * No fs, no fetch, no `import.meta.url`: the bytes are base64 strings in
 * ordinary ES modules, so this works unchanged in Deno, Node, bundlers and
 * `require(esm)`. Compilation is synchronous and happens once per variant per
 * process; each {@link instantiateCore} call gets a fresh instance (its own
 * linear memory), which is how simulated machines stay isolated.
 *
 * @module
 */

import { KernelBug } from "../errors.ts";
import { decodeBase64 } from "./_base64.ts";
import coverageB64 from "./_core_coverage.ts";
import debugB64 from "./_core_debug.ts";
import releaseB64 from "./_core_release.ts";

/** The three builds of asm/ (see build.ts). */
export type CoreVariant = "release" | "debug" | "coverage";

/** Every variant, in a stable order. */
export const CORE_VARIANTS: readonly CoreVariant[] = ["release", "debug", "coverage"];

/**
 * The exports of the WASM core. Integers in, integers out; addresses are
 * byte offsets into `memory`. A test checks that every variant provides each
 * one, so this list cannot drift from asm/index.ts unnoticed.
 */
export interface CoreExports {
  readonly memory: WebAssembly.Memory;
  /** Address of the host window (asm/hostbuf.ts). */
  hostbuf_ptr(): number;
  /** Size of the host window in bytes. */
  hostbuf_size(): number;
  /** Fuzz-pipeline smoke check: 1 when the input starts with "FUZZ" (asm/smoke.ts). */
  smoke_check(ptr: number, len: number): number;
  /** NR_CPUS, the most CPUs a CPU map covers (asm/cpumap.ts). */
  cpumap_nr_cpus(): number;
  /** MAX_HW_QUEUES, the most hardware queues a CPU map may name (asm/cpumap.ts). */
  cpumap_max_hw_queues(): number;
  /** Lowest CPU of `cpu`'s core; siblings 0 split, 1 adjacent; -22 if bad (asm/cpumap.ts). */
  cpumap_first_sibling(
    cpu: number,
    nrCpuIds: number,
    threadsPerCore: number,
    siblings: number,
  ): number;
  /** v4.4 `blk_mq_update_queue_map()` into `map` (u32 × nrCpuIds); 0 or -22 (asm/cpumap.ts). */
  cpumap_update_queue_map(
    map: number,
    nrCpuIds: number,
    nrQueues: number,
    online: number,
    threadsPerCore: number,
    siblings: number,
    linked: number,
  ): number;
  /** v6.18 `blk_mq_map_queues()` over `group_cpus_evenly()`; 0 or -22 (asm/cpumap.ts). */
  cpumap_map_queues(
    map: number,
    nrCpuIds: number,
    nrQueues: number,
    threadsPerCore: number,
    siblings: number,
  ): number;
  /** v4.4 `blk_mq_map_swqueue()`: fills nr_ctx, index_hw; ctxs attached or -22 (asm/cpumap.ts). */
  cpumap_map_swqueue(
    map: number,
    nrCpuIds: number,
    nrQueues: number,
    online: number,
    nrCtx: number,
    indexHw: number,
  ): number;
}

/** Names of the function exports in {@link CoreExports}, for the drift test. */
export const CORE_FUNCTIONS = [
  "hostbuf_ptr",
  "hostbuf_size",
  "smoke_check",
  "cpumap_nr_cpus",
  "cpumap_max_hw_queues",
  "cpumap_first_sibling",
  "cpumap_update_queue_map",
  "cpumap_map_queues",
  "cpumap_map_swqueue",
] as const;

/** Extra exports of the coverage variant. */
export interface CoverageExports extends CoreExports {
  /** Number of edge counters; counter i is the byte at address i. */
  readonly __edge_cov_count: WebAssembly.Global;
}

const EMBEDDED: Record<CoreVariant, string> = {
  release: releaseB64,
  debug: debugB64,
  coverage: coverageB64,
};

const compiled = new Map<CoreVariant, WebAssembly.Module>();

/**
 * The compiled module of a variant, compiled on first use and cached.
 *
 * @throws {RangeError} for an unknown variant
 */
export function coreModule(variant: CoreVariant = "release"): WebAssembly.Module {
  let mod = compiled.get(variant);
  if (mod === undefined) {
    const b64 = EMBEDDED[variant];
    if (b64 === undefined) {
      throw new RangeError(`coreModule: variant must be one of ${CORE_VARIANTS.join(", ")}, got ${variant}`);
    }
    mod = new WebAssembly.Module(decodeBase64(b64) as Uint8Array<ArrayBuffer>);
    compiled.set(variant, mod);
  }
  return mod;
}

/**
 * Reads an AssemblyScript string (UTF-16, byte length in the header word
 * just before it) out of linear memory, for abort messages.
 */
function readAsString(memory: WebAssembly.Memory, ptr: number): string {
  if (ptr === 0) return "";
  const bytes = new Uint32Array(memory.buffer, ptr - 4, 1)[0];
  return String.fromCharCode(...new Uint16Array(memory.buffer, ptr, bytes >>> 1));
}

/**
 * A fresh instance of the core.
 *
 * A failed `assert()` inside WASM becomes a {@link KernelBug} naming the
 * AssemblyScript source location.
 *
 * @example
 * const core = instantiateCore("debug");
 * core.hostbuf_size(); // 65536
 */
export function instantiateCore(variant: "coverage"): CoverageExports;
export function instantiateCore(variant?: CoreVariant): CoreExports;
export function instantiateCore(variant: CoreVariant = "release"): CoreExports {
  let memory: WebAssembly.Memory | undefined;
  const env = {
    abort(msg: number, file: number, line: number, column: number): never {
      const m = memory ? readAsString(memory, msg) : "";
      const f = memory ? readAsString(memory, file) : "";
      throw new KernelBug(m || "assertion failed", `${f}:${line}:${column}`);
    },
  };
  const instance = new WebAssembly.Instance(coreModule(variant), { env });
  const exports = instance.exports as unknown as CoreExports;
  memory = exports.memory;
  return exports;
}
