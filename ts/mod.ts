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
export { KernelShell, SHELL_COMMANDS } from "./shell/shell.ts";
export type { CommandContext, ExecResult, KernelShellOptions, ShellCommand, ShellResult } from "./shell/shell.ts";
export { formatCommand, formatLine, formatScript, formatWord, parseCommand, parseScript } from "./shell/parse.ts";
export type { Command, Redirect, Script, ScriptLine } from "./shell/parse.ts";
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
export { replayProgram } from "../fuzz/repro.ts";
export type { ReproOptions } from "../fuzz/repro.ts";
export { formatProg, parseProg } from "../fuzz/prog/text.ts";
export type { ArgValue, Call, Prog } from "../fuzz/prog/types.ts";
export type { Finding } from "../fuzz/detectors/index.ts";
export {
  __PERCPU_REF_ATOMIC,
  __PERCPU_REF_DEAD,
  PERCPU_REF,
  PERCPU_REF_BIASED,
  PERCPU_REF_INIT_ATOMIC,
  PERCPU_REF_INIT_DEAD,
  PercpuRef,
  percpuRefSize,
} from "./kernel/percpu_ref.ts";
export type { PercpuRefContext, PercpuRefFunc, PercpuRefOptions } from "./kernel/percpu_ref.ts";
export { BLKDEV_MAJOR_HASH_SIZE, BLOCK_EXT_MAJOR, BlockLayer } from "./block/blk_layer.ts";
export {
  BLK_MQ_RQ_QUEUE_BUSY,
  BLK_MQ_RQ_QUEUE_ERROR,
  BLK_MQ_RQ_QUEUE_OK,
  BLK_MQ_TAG_MIN,
  blkMqAddQueueTagSet,
  blkMqAllocTagSet,
  blkMqDelQueueTagSet,
  blkMqFreeRqMap,
  blkMqFreeTagSet,
  blkMqInitRqMap,
  blkMqMapQueue,
  BlkMqRqMap,
  BlkMqTagSet,
  queueSetHctxShared,
} from "./block/tag_set.ts";
export type { BlkMqOps, BlkMqQueueData, BlkMqTagSetOptions } from "./block/tag_set.ts";
export { blkMqRqToPdu, CACHE_LINE_SIZE, REQUEST_SIZE, requestRecordSize, RQ } from "./block/request_record.ts";
export {
  BLK_MAX_SEGMENT_SIZE,
  BLK_MAX_SEGMENTS,
  BLK_SAFE_MAX_SECTORS,
  blkAllocQueueNode,
  blkCleanupQueue,
  BLKDEV_MAX_RQ,
  BLKDEV_MIN_RQ,
  blkGetQueue,
  blkMqFreezeQueue,
  blkMqFreezeQueueStart,
  blkMqFreezeQueueWait,
  blkMqUnfreezeQueue,
  blkPutQueue,
  blkQueueBypassEnd,
  blkQueueEnter,
  blkQueueEnterLive,
  blkQueueExit,
  blkQueueFlagAssign,
  blkQueueLogicalBlockSize,
  blkQueueMakeRequest,
  blkQueuePhysicalBlockSize,
  blkQueueRqTimeout,
  blkQueueSetNomerges,
  blkQueueSetRqAffinity,
  blkReleaseQueue,
  blkSetDefaultLimits,
  blkSetQueueDying,
  blkSyncQueue,
  DEFAULT_RA_PAGES,
  QUEUE_FLAG_ADD_RANDOM,
  QUEUE_FLAG_ASYNCFULL,
  QUEUE_FLAG_BIDI,
  QUEUE_FLAG_BYPASS,
  QUEUE_FLAG_DEAD,
  QUEUE_FLAG_DEFAULT,
  QUEUE_FLAG_DISCARD,
  QUEUE_FLAG_DYING,
  QUEUE_FLAG_FAIL_IO,
  QUEUE_FLAG_INIT_DONE,
  QUEUE_FLAG_IO_STAT,
  QUEUE_FLAG_MQ_DEFAULT,
  QUEUE_FLAG_NO_SG_MERGE,
  QUEUE_FLAG_NOMERGES,
  QUEUE_FLAG_NONROT,
  QUEUE_FLAG_NOXMERGES,
  QUEUE_FLAG_POLL,
  QUEUE_FLAG_QUEUED,
  QUEUE_FLAG_SAME_COMP,
  QUEUE_FLAG_SAME_FORCE,
  QUEUE_FLAG_SECDISCARD,
  QUEUE_FLAG_STACKABLE,
  QUEUE_FLAG_STOPPED,
  QUEUE_FLAG_SYNCFULL,
  queueFlagNames,
  RequestQueue,
} from "./block/request_queue.ts";
export type { BlkQueueEnterOptions, MakeRequestFn, QueueLimits } from "./block/request_queue.ts";
export {
  blkMqExitHctx,
  blkMqFreeQueue,
  blkMqInitAllocatedQueue,
  blkMqInitQueue,
  blkMqMapSwqueue,
  blkMqQueueInvariantViolations,
  blkMqRelease,
  blkMqRqTimer,
  blkMqUpdateNrRequests,
  blkMqUpdateQueueMap,
  blkMqWakeWaiters,
} from "./block/blk_mq.ts";
export {
  __blkMqRunHwQueue,
  BLK_MQ_CPU_WORK_BATCH,
  BLK_MQ_F_ALLOC_POLICY_START_BIT,
  BLK_MQ_F_BLOCKING,
  BLK_MQ_F_DEFER_ISSUE,
  BLK_MQ_F_SG_MERGE,
  BLK_MQ_F_SHOULD_MERGE,
  BLK_MQ_S_STOPPED,
  BLK_MQ_S_TAG_ACTIVE,
  blkMqAllocBitmap,
  blkMqFreeBitmap,
  blkMqHctxClearPending,
  blkMqHctxHasPending,
  blkMqHctxMarkPending,
  blkMqHctxNextCpu,
  BlkMqHwCtx,
  blkMqHwQueueMapped,
  blkMqRunHwQueue,
  blkMqRunHwQueues,
  hctxLiveTags,
  NUMA_NO_NODE,
} from "./block/hctx.ts";
export type { BlkFlushQueue, BlkMqCpuNotifier, BlkMqCtxMap } from "./block/hctx.ts";
export { BlkMqCtx } from "./block/ctx.ts";
export {
  BLK_MQ_CTX_ATTRS,
  BLK_MQ_HW_ATTRS,
  blkMqRegisterDisk,
  blkMqSysfsRegister,
  blkMqSysfsUnregister,
  blkMqUnregisterDisk,
} from "./block/mq_sysfs.ts";
export { BLK_QUEUE_ATTRS, blkRegisterQueue, blkUnregisterQueue } from "./block/blk_sysfs.ts";
export {
  addDisk,
  addDriverDisk,
  allocDisk,
  delGendisk,
  DISK_ATTRS,
  DISK_NAME_LEN,
  Gendisk,
  GENHD_FL_CD,
  GENHD_FL_EXT_DEVT,
  GENHD_FL_MEDIA_CHANGE_NOTIFY,
  GENHD_FL_REMOVABLE,
  GENHD_FL_SUPPRESS_PARTITION_INFO,
  GENHD_FL_UP,
  partRoundStats,
  putDisk,
  setCapacity,
} from "./block/genhd.ts";
export type { DriverDiskOptions, PartStats } from "./block/genhd.ts";
export { blkMqHctxNotify, blkMqQueueReinit, blkMqQueueReinitNotify } from "./block/hotplug.ts";
export type { KernelModule } from "./drivers/module.ts";
export { nullBlkDevices, nullBlkModule, nullBlkParams, Nullb, NULLB_CMD_SIZE, NULLB_MAX_DEVICES, nullCapacitySectors } from "./drivers/null_blk.ts";
export type { NullbQueue } from "./drivers/null_blk.ts";
export {
  kstrtoint,
  NULL_BLK_DEFAULTS,
  NULL_BLK_PARAM_NAMES,
  NULL_IRQ_NONE,
  NULL_IRQ_SOFTIRQ,
  NULL_IRQ_TIMER,
  NULL_Q_BIO,
  NULL_Q_MQ,
  NULL_Q_RQ,
  parseNullBlkParams,
} from "./drivers/null_blk_params.ts";
export type { NullBlkParams } from "./drivers/null_blk_params.ts";
export {
  BIO,
  BIO_BOUNCED,
  BIO_CHAIN,
  BIO_CLONED,
  BIO_END_IO_CHAIN,
  BIO_END_IO_NONE,
  BIO_INLINE_VECS,
  BIO_MAX_PAGES,
  BIO_NULL_MAPPED,
  BIO_OWNS_VEC,
  BIO_POOL_NONE,
  BIO_POOL_OFFSET,
  BIO_POOL_SIZE,
  BIO_QUIET,
  BIO_REFFED,
  BIO_RESET_BITS,
  BIO_SEG_VALID,
  BIO_SIZE,
  BIO_USER_MAPPED,
  bioAddPage,
  bioAdvance,
  BIO_ALLOC_WOULD_SLEEP,
  bioAlloc,
  bioAllocNowait,
  bioAllocTry,
  bioChain,
  bioDev,
  bioEndio,
  bioExit,
  bioField,
  bioGet,
  bioIoError,
  BioLayer,
  bioLayer,
  bioPut,
  bioReset,
  bioSectors,
  bioSegments,
  BioSet,
  bioSetCreate,
  bioSetCreateNobvec,
  bioSetDev,
  bioSetField,
  bioSetFree,
  bioSnapshot,
  bioSplit,
  bioSplitNowait,
  bioVec,
  BIOVEC_MAX_IDX,
  BIOVEC_NR_POOLS,
  BVEC_CLASSES,
  BVEC_SIZE,
  bvecIdx,
  fsBioSet,
  registerBioEndIo,
  REQ_ALLOCED,
  REQ_COPY_USER,
  REQ_DISCARD,
  REQ_DONTPREP,
  REQ_ELVPRIV,
  REQ_FAILED,
  REQ_FAILFAST_DEV,
  REQ_FAILFAST_DRIVER,
  REQ_FAILFAST_TRANSPORT,
  REQ_FLUSH,
  REQ_FLUSH_SEQ,
  REQ_FUA,
  REQ_INTEGRITY,
  REQ_IO_STAT,
  REQ_META,
  REQ_MIXED_MERGE,
  REQ_NOIDLE,
  REQ_NOMERGE,
  REQ_NOMERGE_FLAGS,
  REQ_PM,
  REQ_PREEMPT,
  REQ_PRIO,
  REQ_QUEUED,
  REQ_QUIET,
  REQ_RAHEAD,
  REQ_SECURE,
  REQ_SOFTBARRIER,
  REQ_SORTED,
  REQ_STARTED,
  REQ_SYNC,
  REQ_THROTTLED,
  REQ_WRITE,
  REQ_WRITE_SAME,
} from "./block/bio.ts";
export type { BioEndIo, BioField, BioVec } from "./block/bio.ts";
export {
  Dio,
  dioAlloc,
  dioAwaitCompletion,
  dioBioAlloc,
  dioBioComplete,
  dioBioEndIo,
  dioBioSubmit,
  dioFree,
  dioPrepare,
  DIO_PERSISTENT_DIO,
} from "./block/dio.ts";
export type { DioOptions, SubmitBio } from "./block/dio.ts";
export {
  __blkMqRunHwQueueDispatch,
  BLK_MQ_MERGE_CHECKED,
  BLK_QC_T_NONE,
  BLK_QC_T_SHIFT,
  blkMqCompleteRequest,
  blkMqEndRequest,
  blkMqFreeRequest,
  blkMqInsertRequest,
  blkMqMakeRequest,
  blkMqRequestStarted,
  blkMqStartRequest,
  blkSqMakeRequest,
  REQ_ATOM_COMPLETE,
  REQ_ATOM_STARTED,
  rqField,
  rwIsSync,
  SUBMIT_WOULD_SLEEP,
  submitBio,
  submitBioTry,
} from "./block/blk_mq_request.ts";
export {
  BLK_MAX_REQUEST_COUNT,
  blkFinishPlug,
  blkFlushPlugList,
  blkMqFlushPlugList,
  BlkPlug,
  blkPlugQueuedCount,
  BLK_PLUG_MAX,
  blkStartPlug,
} from "./block/blk_plug.ts";
export { __blkMqEndRequest, blkRqBytes, blkUpdateRequest } from "./block/blk_update_request.ts";
export { blkMqAddToRequeueList, blkMqCancelRequeueWork, blkMqKickRequeueList, blkMqRequeueRequest, blkMqRequeueWork } from "./block/blk_mq_requeue.ts";
export { blkMqStartHwQueue, blkMqStartHwQueues, blkMqStopHwQueue } from "./block/hctx.ts";
export {
  blkFlushCheckBio,
  blkFlushPolicy,
  blkInsertFlush,
  blkQueueFlush,
  FLUSH_PENDING_TIMEOUT_SECS,
  REQ_FSEQ_ACTIONS,
  REQ_FSEQ_DATA,
  REQ_FSEQ_DONE,
  REQ_FSEQ_POSTFLUSH,
  REQ_FSEQ_PREFLUSH,
} from "./block/blk_flush.ts";
export type { TaskPlug } from "./kernel/sched.ts";
export { BrdDevice, parseRamParams, RAM_DEFAULTS, RAM_MAX_DEVICES, RAM_MAX_SIZE_KB, RAMDISK_MAJOR, ramDevices, ramModule, ramPagesAllocated } from "./drivers/ram.ts";
export type { RamParams } from "./drivers/ram.ts";
export { Disk, openDisk, SECTOR_SIZE } from "./block/disk_io.ts";
export type { BatchOp, BatchResult } from "./block/disk_io.ts";
export { AIO_MAX_EVENTS, AioContext, IOCB_CMD_PREAD, IOCB_CMD_PWRITE, ioSetup } from "./block/aio.ts";
export type { AioOptions } from "./block/aio.ts";
export {
  BLK_EH_HANDLED,
  BLK_EH_NOT_HANDLED,
  BLK_EH_RESET_TIMER,
  BLK_MAX_TIMEOUT_SECS,
  blkAddTimer,
  blkMqQueueTagBusyIter,
  blkMqRqTimedOut,
  blkRqTimeout,
  REQ_NO_TIMEOUT,
  roundJiffiesUp,
  rqDeadline,
} from "./block/blk_timeout.ts";
export type { BusyIterFn } from "./block/blk_timeout.ts";
export { __blkMqCompleteRequest, clearRqComplete, markRqComplete } from "./block/blk_mq_request.ts";
export { blkPoll, blkQcTToQueueNum, blkQcTToTag, blkQcTValid } from "./block/blk_poll.ts";
export { fioCommand, parseFio, parseSize } from "./shell/fio.ts";
export type { FioJob } from "./shell/fio.ts";
export { ddCommand, ddNumber } from "./shell/dd.ts";
export { FileDisk, fileDiskCreate, fileDiskRemove, fileDisks, fileModule, LOOP_MAJOR, parseFileParams } from "./drivers/file.ts";
export type { FileDiskOptions, FileParams } from "./drivers/file.ts";
