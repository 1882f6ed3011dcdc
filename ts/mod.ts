// SPDX-License-Identifier: GPL-2.0-only
/**
 * blk-mq on WebAssembly: the Linux v4.4 block multi-queue layer as a library
 * for Deno and Node, with the fuzz harness that hunts its bugs.
 *
 * This module only re-exports; each concept lives in its own file.
 *
 * @example
 * ```ts
 * import { VERSION, instantiateCore } from "./mod.ts";
 * const core = instantiateCore();
 * console.log(VERSION, core.hostbuf_size());
 * ```
 *
 * @module
 */

export { VERSION } from "./version.ts";
export { ERRNO, errnoName, KernelBug, KernelError } from "./errors.ts";
export type { ErrnoCode } from "./errors.ts";
export { CORE_VARIANTS, coreModule, instantiateCore } from "./wasm/core.ts";
export type { CoreExports, CoreVariant, CoverageExports } from "./wasm/core.ts";
export { mapQueues, mapSwqueue, MAX_HW_QUEUES, NR_CPUS, updateQueueMap } from "./block/cpumap.ts";
export type {
  CtxMapping,
  HctxMapping,
  MapAlgorithm,
  MapQueuesOptions,
  SiblingLayout,
  SwqueueMapping,
  TopologyOptions,
  UpdateQueueMapOptions,
} from "./block/cpumap.ts";
export { hctxMayQueueLimit } from "./block/fairness.ts";
export type { HctxMayQueueOptions } from "./block/fairness.ts";
export {
  formatPointer,
  formatTimestamp,
  isFindingLine,
  Klog,
  KLOG_FINDING_PATTERNS,
  KLOG_LEVELS,
} from "./kernel/klog.ts";
export type { KasanReport, KlogLevel, KlogOptions, KlogRecord, KlogTask } from "./kernel/klog.ts";
export { LockClass, Lockdep, MAX_LOCK_DEPTH, MAX_LOCKDEP_SUBCLASSES } from "./kernel/lockdep.ts";
export type { LockDependency, LockTask } from "./kernel/lockdep.ts";
export { Kref, REFCOUNT_SATURATED } from "./kernel/kref.ts";
export { Kobject, KobjectTree } from "./kernel/kobject.ts";
export type { KobjectHooks, KobjectOptions, KobjType } from "./kernel/kobject.ts";
export { assertNoLeaks, hexDump, Kmemleak } from "./kernel/kmemleak.ts";
export type { KmemleakOptions, LeakRecord, LeakSource } from "./kernel/kmemleak.ts";
