// SPDX-License-Identifier: GPL-2.0-only
/**
 * The CPU → hardware-queue map of blk-mq and the attachment of per-CPU
 * software queues (ctx) to hardware queues (hctx).
 *
 * The arithmetic runs in the WASM core (asm/cpumap.ts): the v4.4 map of
 * block/blk-mq-cpumap.c, the modern `group_cpus_evenly()` map, and the ctx
 * attachment of v4.4 `blk_mq_map_swqueue()`. These functions validate their
 * arguments, pass them through the host window of one lazily created core
 * instance, and return plain arrays.
 *
 * A machine is `nrCpus` possible CPUs (at most {@link NR_CPUS}) on one NUMA
 * node, `threadsPerCore` SMT threads per core, numbered in one of two
 * {@link SiblingLayout}s.
 *
 * @module
 */

import { errnoName, KernelBug, KernelError } from "../errors.ts";
import { type CoreExports, instantiateCore } from "../wasm/core.ts";

/**
 * The most CPUs (`nr_cpu_ids`) a map covers: 4096, well above the 256 the
 * project promises. At 4096 CPUs and 4096 queues every table of the largest
 * call (two cpumasks, the map, `index_hw`, `nr_ctx`: 50,176 bytes) fits the
 * core's 64 KiB host window; x86 MAXSMP's 8192 would not.
 */
export const NR_CPUS = 4096;

/** The most hardware queues (`nr_hw_queues`) a map may name: 4096. */
export const MAX_HW_QUEUES = 4096;

/**
 * How SMT sibling threads are numbered.
 * - `"split"` (x86 enumeration): with `ncores = nrCpus / threadsPerCore`,
 *   CPU c belongs to core `c % ncores`, so c and c + ncores are siblings.
 * - `"adjacent"`: CPU c belongs to core `floor(c / threadsPerCore)`, so a
 *   core's threads are consecutive (CPUs 2k and 2k+1 for two threads).
 */
export type SiblingLayout = "split" | "adjacent";

/**
 * Which kernel's default map to build.
 * - `"v4.4"`: `blk_mq_update_queue_map()`; siblings share a queue, holes possible.
 * - `"modern"`: v6.18 `blk_mq_map_queues()` over `group_cpus_evenly()`.
 */
export type MapAlgorithm = "v4.4" | "modern";

/** The machine: possible CPUs and their SMT layout. */
export interface TopologyOptions {
  /** Number of possible CPUs, an integer in [1, {@link NR_CPUS}]. */
  nrCpus: number;
  /** SMT threads per core (default 1); must divide `nrCpus`. */
  threadsPerCore?: number;
  /** Sibling numbering (default `"split"`). */
  siblings?: SiblingLayout;
}

/** Options of {@link mapQueues}. */
export interface MapQueuesOptions extends TopologyOptions {
  /** Number of hardware queues, an integer in [1, {@link MAX_HW_QUEUES}]. */
  nrQueues: number;
  /** Which kernel's map (default `"v4.4"`). */
  algorithm?: MapAlgorithm;
}

/** Options of {@link updateQueueMap}. */
export interface UpdateQueueMapOptions extends TopologyOptions {
  /** Number of hardware queues, an integer in [1, {@link MAX_HW_QUEUES}]. */
  nrQueues: number;
  /** The online CPUs (the mask about to be in effect), as CPU numbers; duplicates are ignored. */
  onlineMask: Iterable<number>;
  /**
   * The CPUs linked into their siblings' `topology_sibling_cpumask` (default:
   * `onlineMask`). x86 links a CPU when it boots and unlinks it when it goes
   * down, so during CPU_UP_PREPARE the arriving CPU is online for the map but
   * not yet linked: it is then its own first sibling.
   */
  linkedMask?: Iterable<number>;
}

/** One hctx after {@link mapSwqueue}. */
export interface HctxMapping {
  /** `hctx->cpumask` as increasing CPU numbers; also `hctx->ctxs[]` in index_hw order. */
  cpus: number[];
  /** `hctx->nr_ctx`. */
  nrCtx: number;
  /** False for an unmapped hctx (no ctx; v4.4 frees its request map). */
  mapped: boolean;
}

/** Where one online CPU's ctx was attached by {@link mapSwqueue}. */
export interface CtxMapping {
  /** Index of the hctx (`map[cpu]`). */
  hctx: number;
  /** `ctx->index_hw`: the ctx's position in `hctx->ctxs[]`. */
  indexHw: number;
}

/** The result of {@link mapSwqueue}. */
export interface SwqueueMapping {
  /** Every hctx, by index. */
  hctxs: HctxMapping[];
  /** By CPU: where its ctx is attached, or `null` for an offline CPU (attached nowhere). */
  ctxs: (CtxMapping | null)[];
}

const SIBLINGS: Record<SiblingLayout, number> = { split: 0, adjacent: 1 };
const ALGORITHMS: readonly MapAlgorithm[] = ["v4.4", "modern"];

// Host-window layout; every region is sized for the largest machine.
const MASK_BYTES = NR_CPUS / 8;
const ONLINE_AT = 0;
const LINKED_AT = ONLINE_AT + MASK_BYTES;
const MAP_AT = LINKED_AT + MASK_BYTES;
const NR_CTX_AT = MAP_AT + 4 * NR_CPUS;
const INDEX_HW_AT = NR_CTX_AT + 4 * MAX_HW_QUEUES;
/** Bytes of the host window the largest call uses: 50,176. */
const HOSTBUF_BYTES_USED = INDEX_HW_AT + 4 * NR_CPUS;

let core: CoreExports | undefined;

/** The process-wide release core these functions share, created on first use. */
function cpumapCore(): CoreExports {
  if (core === undefined) {
    const c = instantiateCore("release");
    if (
      c.hostbuf_size() < HOSTBUF_BYTES_USED || c.cpumap_nr_cpus() !== NR_CPUS ||
      c.cpumap_max_hw_queues() !== MAX_HW_QUEUES
    ) {
      throw new KernelBug(
        "the WASM core's cpumap limits or host window differ from ts/block/cpumap.ts",
      );
    }
    core = c;
  }
  return core;
}

/**
 * Builds the default CPU → hardware-queue map of a machine whose CPUs are all
 * online. Mirrors `blk_mq_update_queue_map()` (block/blk-mq-cpumap.c, v4.4)
 * or, with `algorithm: "modern"`, `blk_mq_map_queues()` over
 * `group_cpus_evenly()` (block/blk-mq-cpumap.c, lib/group_cpus.c, v6.18).
 *
 * v4.4 gives online CPU i queue `i * nrQueues / nrCpus`; with fewer queues
 * than CPUs on an SMT machine it spreads cores instead and siblings share
 * their first sibling's queue. Some queues may get no CPU ("holes").
 * The modern map splits the CPUs into `min(nrCpus, nrQueues)` balanced
 * groups, filling each with a CPU and then its siblings; queue q takes group
 * `q % nr_masks`, later queues overwriting earlier ones (the v6.18 wrap).
 *
 * @param options the machine and the queue count
 * @returns an array of length `nrCpus`; entry c is the hardware queue of CPU c
 * @throws {TypeError} when `options` is not an object or a field has the wrong type
 * @throws {RangeError} when `nrCpus` is not an integer in [1, 4096], `nrQueues`
 *   not in [1, 4096], `threadsPerCore` does not divide `nrCpus`, or `siblings` /
 *   `algorithm` is not a known name
 * @example
 * mapQueues({ nrCpus: 8, nrQueues: 3, threadsPerCore: 2 }); // [0, 0, 1, 2, 0, 0, 1, 2]
 * mapQueues({ nrCpus: 8, nrQueues: 3, threadsPerCore: 2, algorithm: "modern" });
 * // [0, 0, 1, 1, 0, 2, 1, 2]
 */
export function mapQueues(options: MapQueuesOptions): number[] {
  const fn = "mapQueues";
  const o = checkOptions(fn, options);
  const topo = checkTopology(fn, o);
  const nrQueues = checkInt(fn, "nrQueues", o.nrQueues, 1, MAX_HW_QUEUES);
  const algorithm = checkName(fn, "algorithm", orDefault(o.algorithm, "v4.4"), ALGORITHMS);
  const c = cpumapCore();
  const base = c.hostbuf_ptr();
  if (algorithm === "modern") {
    const r = c.cpumap_map_queues(
      base + MAP_AT,
      topo.nrCpus,
      nrQueues,
      topo.threads,
      topo.siblings,
    );
    if (r < 0) throw new KernelError(errnoName(r), "blk_mq_map_queues");
  } else {
    writeMask(c, ONLINE_AT, topo.nrCpus, allCpus(topo.nrCpus));
    const r = c.cpumap_update_queue_map(
      base + MAP_AT,
      topo.nrCpus,
      nrQueues,
      base + ONLINE_AT,
      topo.threads,
      topo.siblings,
      0,
    );
    if (r < 0) throw new KernelError(errnoName(r), "blk_mq_update_queue_map");
  }
  return Array.from(new Uint32Array(c.memory.buffer, base + MAP_AT, topo.nrCpus));
}

/**
 * Builds the v4.4 map for a given set of online CPUs, as CPU hotplug does.
 * Mirrors `blk_mq_update_queue_map()` (block/blk-mq-cpumap.c, v4.4).
 *
 * Offline CPUs map to 0 (they are attached to no hctx by {@link mapSwqueue}).
 * The spread counts only online CPUs and online cores.
 *
 * @param options the machine, the queue count and the online CPUs
 * @returns an array of length `nrCpus`; entry c is the hardware queue of CPU c
 * @throws {TypeError} / {RangeError} as {@link mapQueues}, and when
 *   `onlineMask` / `linkedMask` is not an iterable of CPU numbers in [0, nrCpus)
 * @example
 * updateQueueMap({ nrCpus: 4, nrQueues: 2, onlineMask: [0, 1, 3] }); // [0, 0, 0, 1]
 */
export function updateQueueMap(options: UpdateQueueMapOptions): number[] {
  const fn = "updateQueueMap";
  const o = checkOptions(fn, options);
  const topo = checkTopology(fn, o);
  const nrQueues = checkInt(fn, "nrQueues", o.nrQueues, 1, MAX_HW_QUEUES);
  const online = checkCpuList(fn, "onlineMask", o.onlineMask, topo.nrCpus);
  const linked = o.linkedMask === undefined
    ? undefined
    : checkCpuList(fn, "linkedMask", o.linkedMask, topo.nrCpus);
  const c = cpumapCore();
  const base = c.hostbuf_ptr();
  writeMask(c, ONLINE_AT, topo.nrCpus, online);
  if (linked !== undefined) writeMask(c, LINKED_AT, topo.nrCpus, linked);
  const r = c.cpumap_update_queue_map(
    base + MAP_AT,
    topo.nrCpus,
    nrQueues,
    base + ONLINE_AT,
    topo.threads,
    topo.siblings,
    linked === undefined ? 0 : base + LINKED_AT,
  );
  if (r < 0) throw new KernelError(errnoName(r), "blk_mq_update_queue_map");
  return Array.from(new Uint32Array(c.memory.buffer, base + MAP_AT, topo.nrCpus));
}

/**
 * Attaches every online CPU's ctx to its hctx. Mirrors the ctx attachment of
 * `blk_mq_map_swqueue()` (block/blk-mq.c, v4.4).
 *
 * Each online CPU, in increasing order, joins `hctxs[map[cpu]]` with
 * `index_hw = nr_ctx++`; offline CPUs are attached nowhere (their map entry
 * is ignored). An hctx with no CPU is unmapped. Freeing and reallocating the
 * tags of (un)mapped hctxs, `ctx_map.size`, `next_cpu` and `tags->cpumask` are
 * the caller's state and not modelled here.
 *
 * @param map entry c is the hctx of CPU c (e.g. from {@link updateQueueMap});
 *   length `nr_cpu_ids`, in [1, 4096]
 * @param onlineMask the online CPUs, as CPU numbers in [0, map.length); duplicates are ignored
 * @param nrQueues the number of hctxs, in [1, 4096]; every map entry must be below it
 * @returns every hctx's CPUs, ctx count and mapped state, and every CPU's
 *   (hctx, index_hw) or `null` when offline
 * @throws {TypeError} when `map` is not an array or `onlineMask` not an iterable
 * @throws {RangeError} for a bad length, a non-integer or out-of-range entry or CPU
 * @example
 * const { hctxs } = mapSwqueue([0, 1, 3, 4], [0, 1, 2, 3], 6);
 * hctxs.map((h) => h.mapped); // [true, true, false, true, true, false]
 */
export function mapSwqueue(
  map: readonly number[],
  onlineMask: Iterable<number>,
  nrQueues: number,
): SwqueueMapping {
  const fn = "mapSwqueue";
  const nq = checkInt(fn, "nrQueues", nrQueues, 1, MAX_HW_QUEUES);
  if (!Array.isArray(map)) throw new TypeError(`${fn}: map must be an array, got ${describe(map)}`);
  const n = checkInt(fn, "map.length", map.length, 1, NR_CPUS);
  for (let i = 0; i < n; i++) checkInt(fn, `map[${i}]`, map[i], 0, nq - 1);
  const online = checkCpuList(fn, "onlineMask", onlineMask, n);

  const c = cpumapCore();
  const base = c.hostbuf_ptr();
  writeMask(c, ONLINE_AT, n, online);
  new Uint32Array(c.memory.buffer, base + MAP_AT, n).set(map);
  const r = c.cpumap_map_swqueue(
    base + MAP_AT,
    n,
    nq,
    base + ONLINE_AT,
    base + NR_CTX_AT,
    base + INDEX_HW_AT,
  );
  if (r < 0) throw new KernelError(errnoName(r), "blk_mq_map_swqueue");

  const nrCtx = new Uint32Array(c.memory.buffer, base + NR_CTX_AT, nq);
  const indexHw = new Int32Array(c.memory.buffer, base + INDEX_HW_AT, n);
  const hctxs: HctxMapping[] = Array.from(nrCtx, (k) => ({
    cpus: new Array<number>(k),
    nrCtx: k,
    mapped: k > 0,
  }));
  const ctxs: (CtxMapping | null)[] = new Array(n).fill(null);
  for (let cpu = 0; cpu < n; cpu++) {
    const k = indexHw[cpu];
    if (k < 0) continue;
    const hctx = map[cpu];
    hctxs[hctx].cpus[k] = cpu; // hctx->ctxs[ctx->index_hw] == ctx
    ctxs[cpu] = { hctx, indexHw: k };
  }
  return { hctxs, ctxs };
}

// ---------------------------------------------------------------------------
// Argument checks and host-window helpers

interface Topology {
  nrCpus: number;
  threads: number;
  siblings: number;
}

function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? "an object" : typeof v === "function" ? "a function" : String(v);
}

/** An option's value, or `dflt` when it is absent (only `undefined`; `null` is a wrong type). */
function orDefault<T>(v: T | undefined, dflt: T): T {
  return v === undefined ? dflt : v;
}

function checkOptions<T>(fn: string, options: T): T {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new TypeError(`${fn}: options must be an object, got ${describe(options)}`);
  }
  return options;
}

function checkInt(fn: string, name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== "number") {
    throw new TypeError(`${fn}: ${name} must be a number, got ${describe(v)}`);
  }
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`${fn}: ${name} must be an integer in [${min}, ${max}], got ${v}`);
  }
  return v;
}

function checkName<T extends string>(
  fn: string,
  name: string,
  v: unknown,
  allowed: readonly T[],
): T {
  if (typeof v !== "string") {
    throw new TypeError(`${fn}: ${name} must be a string, got ${describe(v)}`);
  }
  if (!(allowed as readonly string[]).includes(v)) {
    throw new RangeError(
      `${fn}: ${name} must be one of ${allowed.map((a) => `"${a}"`).join(", ")}, got ${
        describe(v)
      }`,
    );
  }
  return v as T;
}

function checkTopology(fn: string, o: TopologyOptions): Topology {
  const nrCpus = checkInt(fn, "nrCpus", o.nrCpus, 1, NR_CPUS);
  const threads = checkInt(fn, "threadsPerCore", orDefault(o.threadsPerCore, 1), 1, nrCpus);
  if (nrCpus % threads !== 0) {
    throw new RangeError(`${fn}: threadsPerCore must divide nrCpus (${nrCpus}), got ${threads}`);
  }
  const layout = checkName(
    fn,
    "siblings",
    orDefault(o.siblings, "split"),
    Object.keys(SIBLINGS) as SiblingLayout[],
  );
  return { nrCpus, threads, siblings: SIBLINGS[layout] };
}

/** Reads an iterable of CPU numbers in [0, nrCpus) into a list; duplicates are harmless. */
function checkCpuList(fn: string, name: string, v: unknown, nrCpus: number): number[] {
  if (
    typeof v !== "object" || v === null ||
    typeof (v as { [Symbol.iterator]?: unknown })[Symbol.iterator] !== "function"
  ) {
    throw new TypeError(`${fn}: ${name} must be an iterable of CPU numbers, got ${describe(v)}`);
  }
  const cpus: number[] = [];
  for (const cpu of v as Iterable<unknown>) {
    cpus.push(checkInt(fn, `${name} entry`, cpu, 0, nrCpus - 1));
  }
  return cpus;
}

function allCpus(nrCpus: number): number[] {
  return Array.from({ length: nrCpus }, (_, i) => i);
}

/** Writes a cpumask (bit i of byte i / 8) of `nrCpus` bits at host-window offset `at`. */
function writeMask(c: CoreExports, at: number, nrCpus: number, cpus: readonly number[]): void {
  const bytes = new Uint8Array(c.memory.buffer, c.hostbuf_ptr() + at, (nrCpus + 7) >> 3);
  bytes.fill(0);
  for (const cpu of cpus) bytes[cpu >> 3] |= 1 << (cpu & 7);
}
