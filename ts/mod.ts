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
export type { KlogLevel, KlogOptions, KlogRecord, KlogTask } from "./kernel/klog.ts";
export { LockClass, Lockdep, MAX_LOCK_DEPTH, MAX_LOCKDEP_SUBCLASSES } from "./kernel/lockdep.ts";
export type { LockDependency, LockTask } from "./kernel/lockdep.ts";
export { Kref, REFCOUNT_SATURATED } from "./kernel/kref.ts";
export { Kobject, KobjectTree } from "./kernel/kobject.ts";
export type { KobjectHooks, KobjectOptions, KobjType } from "./kernel/kobject.ts";
export { assertNoLeaks, hexDump, Kmemleak } from "./kernel/kmemleak.ts";
export type { KmemleakOptions, LeakRecord, LeakSource } from "./kernel/kmemleak.ts";
export {
  FAIL_PAGE_ALLOC,
  FAILSLAB,
  KMALLOC_MAX_SIZE,
  KMALLOC_SIZES,
  KmemCache,
  MAX_ORDER,
  PAGE_SIZE,
  Slab,
  SLAB_HWCACHE_ALIGN,
  slabLeakSource,
  SlabNames,
  ZERO_SIZE_PTR,
} from "./kernel/slab.ts";
export type { FaultAttr, FaultTarget, SlabOptions } from "./kernel/slab.ts";
export {
  formatKasanReport,
  Kasan,
  KasanBug,
  kasanLocation,
  kasanReport,
  kasanReportLines,
  readKasanReports,
} from "./kernel/kasan.ts";
export type { KasanKind, KasanNames, KasanObject, KasanRecord, KasanReport, KasanTask } from "./kernel/kasan.ts";
export {
  __GFP_ATOMIC,
  __GFP_DIRECT_RECLAIM,
  __GFP_FS,
  __GFP_HIGH,
  __GFP_IO,
  __GFP_KSWAPD_RECLAIM,
  __GFP_MEMALLOC,
  __GFP_NOMEMALLOC,
  __GFP_NORETRY,
  __GFP_NOWARN,
  __GFP_RECLAIM,
  __GFP_ZERO,
  GFP_ATOMIC,
  GFP_KERNEL,
  GFP_NOFS,
  GFP_NOIO,
  GFP_NOWAIT,
  gfpflagsAllowBlocking,
  Mempool,
} from "./kernel/mempool.ts";
export { DEFAULT_HZ, NSEC_PER_MSEC, NSEC_PER_SEC, NSEC_PER_USEC, RealClock, VirtualClock } from "./kernel/clock.ts";
export type { Clock } from "./kernel/clock.ts";
export {
  CPU_DEAD,
  CPU_DOWN_FAILED,
  CPU_DOWN_PREPARE,
  CPU_DYING,
  CPU_ONLINE,
  CPU_POST_DEAD,
  CPU_PRI_MIGRATION,
  CPU_PRI_WORKQUEUE_DOWN,
  CPU_PRI_WORKQUEUE_UP,
  CPU_STARTING,
  CPU_TASKS_FROZEN,
  CPU_UP_CANCELED,
  CPU_UP_PREPARE,
  cpuActionName,
  CpuHotplug,
  CpuMask,
  Cpus,
  NOTIFY_BAD,
  NOTIFY_DONE,
  NOTIFY_OK,
  NOTIFY_STOP,
  NOTIFY_STOP_MASK,
  notifierFromErrno,
  notifierToErrno,
  PerCpu,
} from "./kernel/cpu.ts";
export type {
  CpuHotplugOptions,
  CpusOptions,
  IrqKind,
  NotifierBlock,
  NotifierResult,
  ReadonlyCpuMask,
  SmtNumbering,
} from "./kernel/cpu.ts";
export { Timer, TimerBase } from "./kernel/timer.ts";
export type { TimerBaseOptions, TimerFn } from "./kernel/timer.ts";
export {
  ByteChoices,
  Completion,
  HungTaskError,
  Prng,
  PrngChoices,
  RecordingChoices,
  Scheduler,
  sleep,
  SleepRequest,
  Task,
  WaitQueue,
} from "./kernel/sched.ts";
export type {
  ChoiceSource,
  HungTask,
  IrqSource,
  RunKind,
  RunOptions,
  RunResult,
  SchedulerOptions,
  Sleepable,
  SpawnOptions,
  TaskBody,
  TaskState,
  TraceEvent,
} from "./kernel/sched.ts";
export { Mutex } from "./kernel/mutex.ts";
export { Spinlock } from "./kernel/spinlock.ts";
export {
  BLOCK_SOFTIRQ,
  CallSingleData,
  HI_SOFTIRQ,
  NR_SOFTIRQS,
  RCU_SOFTIRQ,
  Softirq,
  SOFTIRQ_NAMES,
  TASKLET_SOFTIRQ,
  TIMER_SOFTIRQ,
} from "./kernel/softirq.ts";
export { DEFAULT_EXPEDITED_NS, DEFAULT_GP_NS, Rcu } from "./kernel/rcu.ts";
export type { RcuOptions } from "./kernel/rcu.ts";
export {
  DelayedWork,
  WORK_CPU_UNBOUND,
  Workqueue,
  Workqueues,
  WorkStruct,
  WQ_CPU_INTENSIVE,
  WQ_HIGHPRI,
  WQ_MEM_RECLAIM,
  WQ_UNBOUND,
} from "./kernel/workqueue.ts";
export type { WorkFunc } from "./kernel/workqueue.ts";
export {
  BLK_MQ_F_TAG_SHARED,
  BLK_MQ_MAX_DEPTH,
  BLK_MQ_TAG_FAIL,
  BlkMqTags,
  BT_WAIT_QUEUES,
  getTagWait,
  kmallocTagMemory,
  TagHctx,
  TagWaiter,
  tagSetDepth,
} from "./block/tags.ts";
export type {
  BlkMqTagsOptions,
  GetTagOptions,
  TagAllocData,
  TagAllocPolicy,
  TagBitmapInfo,
  TagEra,
  TagMemory,
  TagWaitHooks,
} from "./block/tags.ts";
export {
  BLK_MQ_MAX_DISPATCH_ORDER,
  CPU_SYSFS_PATH,
  CTX_ATTR_NAMES,
  CTX_PENDING_HEADER,
  ctxCompletedShow,
  ctxDispatchedShow,
  ctxMergedShow,
  diskInflightShow,
  diskStatShow,
  formatKernelPointer,
  HCTX_ATTR_NAMES,
  HCTX_PENDING_HEADER,
  hctxActiveShow,
  hctxCpuListShow,
  hctxDispatchedShow,
  hctxIoPollShow,
  hctxQueuedShow,
  hctxRunShow,
  hctxTagsShow,
  kstrtoul,
  kstrtoull,
  kstrtouint,
  QUEUE_ATTRS,
  queueAttrShow,
  queueNomergesShow,
  queueRqAffinityShow,
  queueSchedulerShow,
  queueVarShow,
  queueVarStore,
  strtobool,
  Sysfs,
  sysfsListShow,
  sysfsListShowUnfixed,
  SysfsPageBuffer,
} from "./sysfs/sysfs.ts";
export type {
  DiskStats,
  HctxTagsInfo,
  IoPollStats,
  QueueAttrName,
  QueueSysfsState,
  SyncAsync,
  SysfsAttribute,
  SysfsPage,
  SysfsStat,
  Ulong,
} from "./sysfs/sysfs.ts";
