// SPDX-License-Identifier: GPL-2.0-only
/**
 * One reusable simulated machine per process, reset between runs from a
 * snapshot instead of re-instantiated.
 *
 * A fresh WASM instance per run costs about 200 µs here, and TOOLCHAIN.md §4
 * measured per-run instantiation 27× slower than reuse. So the fuzzer keeps
 * one instance of the coverage core, whose module is patched to export its
 * mutable globals (fuzz/_wasm_globals.ts), warms its page allocator up to a
 * working size, and takes a snapshot: the linear memory plus every mutable
 * global. Each run restores that snapshot (one `Uint8Array.set` of the image
 * and a handful of global writes) and boots a new TypeScript {@link Kernel}
 * around the same core (about 10 µs).
 *
 * Linear memory cannot shrink. When a run grows it past the image, the
 * restored allocator would not know the new pages and would grow memory
 * again on every later run, so the machine instead replaces the instance
 * with one warmed to a quarter more than that size (rare: sizes converge
 * after a few runs), but never past {@link MAX_WARM_BYTES}: a restore copies
 * the whole image, and one run that took 100 MB (null_blk at depth 10240)
 * would otherwise make every later run copy 100 MB. A run past the cap gets
 * a fresh instance of the current image size instead.
 *
 * @module
 */

import type { ChoiceSource } from "../ts/kernel/sched.ts";
import { Kernel } from "../ts/kernel/kernel.ts";
import { coreBytes, type CoverageExports, instantiateCoreModule } from "../ts/wasm/core.ts";
import { exportMutableGlobals } from "./_wasm_globals.ts";

/** Boot parameters of one run. */
export interface BootOptions {
  /** Possible CPUs. */
  cpus: number;
  /** The scheduler's decisions. */
  choices: ChoiceSource;
  /** hung_task_timeout_secs; default 120. */
  hungTaskTimeoutSecs?: number;
}

/**
 * The initial warm size: the first allocation grows a fresh core to 512 KiB,
 * which holds small programs. Bigger images cost more per restore (about
 * 11 µs per 512 KiB), so the machine only grows the image when a run needs it.
 */
const DEFAULT_WARM_BYTES = 1 << 19;
/**
 * The largest image the machine keeps (4 MiB, about 90 µs a restore). Runs
 * that need more pay for a fresh instance (about 0.3 ms) and their own growth.
 */
export const MAX_WARM_BYTES = 1 << 22;
/** Order of the blocks the warm-up allocates (64 KiB). */
const WARM_ORDER = 4;

let patched: { module: WebAssembly.Module; globals: string[] } | null = null;

/** The coverage module with its mutable globals exported, compiled once per process. */
function patchedModule(): { module: WebAssembly.Module; globals: string[] } {
  if (patched === null) {
    const { bytes, globals } = exportMutableGlobals(coreBytes("coverage"));
    patched = { module: new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>), globals };
  }
  return patched;
}

/**
 * A coverage-core instance with a restorable snapshot of its whole state.
 *
 * @example
 * const s = new SnapshotCore();
 * s.core.kmalloc(64, 0);
 * s.restore(); // the allocation never happened
 */
export class SnapshotCore {
  readonly core: CoverageExports;
  /** Bytes of linear memory in the image. */
  readonly imageBytes: number;
  readonly #globals: WebAssembly.Global[];
  readonly #values: (number | bigint)[];
  readonly #image: Uint8Array;

  /**
   * Instantiates the core, grows its page allocator to at least `warmBytes`
   * of linear memory (allocating and freeing blocks), and takes the snapshot.
   */
  constructor(warmBytes = DEFAULT_WARM_BYTES) {
    const { module, globals } = patchedModule();
    const exports = instantiateCoreModule(module) as unknown as CoverageExports & Record<string, WebAssembly.Global>;
    this.core = exports;
    const held: number[] = [];
    while (exports.memory.buffer.byteLength < warmBytes) {
      const p = exports.alloc_pages(WARM_ORDER);
      if (p === 0) break;
      held.push(p);
    }
    for (const p of held) exports.free_pages(p, WARM_ORDER);
    exports.kasan_quarantine_drain();
    exports.kmem_cache_shrink(0);
    // The image starts every run with zeroed edge counters.
    new Uint8Array(exports.memory.buffer, 0, exports.__edge_cov_count.value as number).fill(0);
    this.#globals = globals.map((g) => exports[g]);
    this.#values = this.#globals.map((g) => g.value);
    this.#image = new Uint8Array(exports.memory.buffer).slice();
    this.imageBytes = this.#image.length;
  }

  /** Whether linear memory has grown past the image since the snapshot. */
  get grown(): boolean {
    return this.core.memory.buffer.byteLength > this.imageBytes;
  }

  /** Puts memory and globals back as they were at the snapshot. */
  restore(): void {
    new Uint8Array(this.core.memory.buffer).set(this.#image);
    const g = this.#globals;
    const v = this.#values;
    for (let i = 0; i < g.length; i++) g[i].value = v[i];
  }
}

/**
 * The process's fuzz machine: boots a Kernel per run on a restored core.
 *
 * @example
 * const m = new FuzzMachine();
 * const k = m.boot({ cpus: 4, choices: new PrngChoices(1) });
 */
export class FuzzMachine {
  #snap: SnapshotCore;
  /** Instances replaced because a run outgrew the image. */
  rebuilds = 0;

  constructor(warmBytes = DEFAULT_WARM_BYTES) {
    this.#snap = new SnapshotCore(warmBytes);
  }

  /** The current core instance (it changes after a rebuild). */
  get core(): CoverageExports {
    return this.#snap.core;
  }

  /** Bytes of linear memory each run starts from (the image). */
  get imageBytes(): number {
    return this.#snap.imageBytes;
  }

  /** Restores the snapshot (replacing an outgrown instance first) and boots a Kernel on it. */
  boot(o: BootOptions): Kernel {
    if (this.#snap.grown) {
      const size = this.#snap.core.memory.buffer.byteLength;
      const next = size + (size >>> 2);
      this.#snap = new SnapshotCore(next <= MAX_WARM_BYTES ? next : this.#snap.imageBytes);
      this.rebuilds++;
    } else {
      this.#snap.restore();
    }
    return new Kernel({
      cpus: o.cpus,
      variant: "coverage",
      core: this.#snap.core,
      choices: o.choices,
      hungTaskTimeoutSecs: o.hungTaskTimeoutSecs,
    });
  }
}
