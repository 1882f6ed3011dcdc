// SPDX-License-Identifier: GPL-2.0-only
/**
 * The registry of fuzz targets: what `blkmq fuzz` runs, how it judges the
 * outcome, and, for program targets, their op vocabulary (profile).
 *
 * A program target is `fuzz/<name>.fuzz.ts` exporting
 * `fuzz = programTarget("<name>")`, with seeds in `corpus/<name>/` and a
 * dictionary `corpus/<name>.dict` (beside the corpus so the npm package
 * carries it).
 *
 * @module
 */

import type { Profile } from "./prog/profile.ts";

/** One Jazzer.js target in fuzz/. */
export interface FuzzTarget {
  /** Name on the command line and of its corpus folder `corpus/<name>/`. */
  readonly name: string;
  /** Module file in fuzz/, without extension (Jazzer appends `.js`; tsx maps it to `.ts`). */
  readonly module: string;
  /** One line for `blkmq fuzz --list`. */
  readonly description: string;
  /**
   * What a healthy run looks like. `"clean"`: any finding is a bug.
   * `"planted"`: the target hides a known finding and the campaign fails if
   * it is *not* found in budget (a self-test of the pipeline).
   */
  readonly expect: "clean" | "planted";
  /** Title prefix of the planted finding, for `expect: "planted"`. */
  readonly plantedTitle?: string;
  /** Dictionary file, relative to corpus/, if any. */
  readonly dict?: string;
  /** Program targets: the op vocabulary and machine. */
  readonly profile?: Profile;
  /**
   * Path substrings whose JavaScript Jazzer instruments for coverage (its
   * `-i`); default all but node_modules. JS edge counters cost about half
   * the exec rate, so program targets instrument the code they test and
   * leave the substrate (scheduler, log, lockdep) and the harness out.
   */
  readonly instrument?: readonly string[];
  /** The regression (fuzz/regressions.ts) whose rediscovery time is this target's figure. */
  readonly planted?: string;
  /**
   * Known issues: findings already reported and not fixed yet, ignored by
   * campaigns unless `--all-findings` (title regexps, with why).
   */
  readonly known?: readonly KnownIssue[];
}

/** A finding the campaign ignores by default. */
export interface KnownIssue {
  /** A regexp matched against finding titles. */
  readonly title: string;
  /** What it is and where it was reported. */
  readonly note: string;
}

const TAGS_KNOWN: readonly KnownIssue[] = [
  {
    title: "^kernel BUG at asm/tags\\.ts: __bt_get: last_tag is past bt->map",
    note: "a resize to a normal depth of 0 (nr_requests = BLKDEV_MIN_RQ on a map with as many " +
      "reserved tags) leaves a hint past the map; v4.4 reads out of bounds, DEBUG builds BUG (docs/MAPPING.md)",
  },
  {
    title: "^INFO: task hung in blk_mq_get_tag$",
    note: "v4.4 blk_mq_tag_update_depth() keeps each wait queue's wait_cnt: after a shrink below " +
      "the old wake batch a sleeper needs more frees than there are tags (faithful to v4.4; a bug-zoo entry)",
  },
];

const BLK_KNOWN: readonly KnownIssue[] = [
  ...TAGS_KNOWN,
  {
    title: "^KASAN: use-after-free in blk_mq_tag_wakeup_all$",
    note: "v4.4 uses hctx->tags after another queue of a shared set freed set->tags[i] in a hotplug " +
      "remap; reproduced on purpose (hctxLiveTags(), docs/MAPPING.md)",
  },
  {
    title: "^invariant: blk-mq queue state: hctx N: hctx->tags is not set->tags\\[N\\]$",
    note: "v4.4 blk_mq_init_allocated_queue() builds q->mq_map from cpu_online_mask before " +
      "get_online_cpus(): a CPU going down in between leaves a stale map, and on a shared set the " +
      "queues disagree on which hctx keeps set->tags[i] (faithful; fixed upstream in v4.9 by per-set maps " +
      "over possible CPUs). Reproducer: `ts0 = blk_mq_alloc_tag_set(hw_queues=3, depth=1, " +
      "reserved=0, era=v4.4)`, `q0 = blk_mq_init_queue(ts0)`, `q1 = blk_mq_init_queue(ts0)`, `@task 2 cpu_down(cpu=3)`",
  },
  {
    // Also the klog detector's form of the same report line, seen once the kasan detector's is ignored.
    title: "^(BUG: )?KASAN: use-after-free in (blk_mq_get_tag|blk_mq_tag_update_depth|blk_mq_queue_tag_busy_iter)( at addr [Na-f]+)?$",
    note: "the hotplug remap of one queue of a shared tag set (null_blk shared_tags=1) frees set->tags[i] " +
      "while another queue's hctx still allocates from it (or an nr_requests write resizes it, or the timeout " +
      "timer walks its busy tags): the " +
      "blk_mq_tag_wakeup_all entry's cause, reached through bio_submit. Reproducer: modprobe null_blk submit_queues=4 shared_tags=1 / @task 2 echo 0 > " +
      "/sys/devices/system/cpu/cpu1/online / @task 2 ck0 = bio_submit(disk=nullb0, op=read, sector=0, sectors=8) / " +
      "@task 1 echo 0 > /sys/devices/system/cpu/cpu0/online (sched 00 00 07 a1 00)",
  },
  {
    title: "^WARNING in blk_mq_map_swqueue$",
    note: "v4.4 blk_mq_map_swqueue(): WARN_ON(!hctx->tags) when the request map of a hotplug remap cannot " +
      "be allocated (failslab / fail_page_alloc; in the port also the hctx's tag fields); the hctx stays " +
      "without tags until a later remap (faithful; later kernels map such an hctx's CPUs to hctx 0). " +
      "Reproducer: modprobe null_blk submit_queues=4 / failslab(nth=4) / cpu_down(cpu=1) / cpu_up(cpu=1) / cpu_up(cpu=1)",
  },
  {
    title: "^invariant: blk-mq queue state: hctx N: N ctxs but no request map$",
    note: "the state the blk_mq_map_swqueue WARN above leaves behind, seen by the queue check",
  },
  {
    title: "^INFO: task hung in bt_get$",
    note: "v4.4 bt_get(): a waiter woken on hctx A that runs on another CPU afterwards remaps to hctx B and " +
      "takes its tag there, so A's wake-up is spent and the next waiter on A sleeps with A's tag free (null_blk " +
      "irqmode=2 hw_queue_depth=1 submit_queues=4, sync bios from three tasks). Faithful to v4.4; upstream " +
      "later wakes the old queue when the hctx changed, as the port's modern era does (getTagWait())",
  },
  {
    title: "^INFO: task hung in blk_mq_freeze_queue_wait$",
    note: "the bt_get entry's lost wake-up seen from CPU hotplug: blk_mq_queue_reinit_notify() freezes the " +
      "queue and waits for the q_usage_counter reference of the task stuck in bt_get",
  },
];

const TAGS_OPS = [
  "tags_init",
  "tags_exit",
  "tags_hctx",
  "tags_hctx_exit",
  "tags_get",
  "tags_put",
  "tags_resize",
  "tags_busy",
  "tags_idle",
  "tags_shared",
  "tags_may_queue",
  "tags_wakeup_all",
  "tags_wake_up",
  "tags_hint",
  "tags_stat",
];
const MM_OPS = [
  "kmem_cache_create",
  "kmem_cache_destroy",
  "kmem_cache_shrink",
  "kmem_cache_alloc",
  "kmem_cache_free",
  "kmalloc",
  "kfree",
  "ksize",
  "memset",
  "memset_obj",
  "alloc_pages",
  "free_pages",
  "mempool_create",
  "mempool_destroy",
  "mempool_alloc",
  "mempool_free",
  "failslab",
  "fail_page_alloc",
  "slab_shrink",
];
const CPU_OPS = [
  "cpu_down",
  "cpu_up",
  "cpu_hotplug_disable",
  "cpu_hotplug_enable",
  "get_online_cpus",
  "put_online_cpus",
  "mutex_lock",
  "mutex_trylock",
  "mutex_unlock",
  "synchronize_rcu",
  "call_rcu",
  "rcu_barrier",
  "mq_init",
  "mq_exit",
];
const TIME_OPS = ["advance"];
const QUEUE_OPS = [
  "blk_mq_alloc_tag_set",
  "blk_mq_free_tag_set",
  "blk_mq_init_queue",
  "blk_cleanup_queue",
  "blk_mq_freeze_queue",
  "blk_mq_unfreeze_queue",
  "blk_queue_enter",
  "blk_queue_exit",
  "blk_mq_update_nr_requests",
];
const SHELL_OPS = ["sh_cat", "sh_ls", "sh_echo", "sh_modprobe", "sh_rmmod"];
const IO_OPS = [
  "bio_submit",
  "blk_poll",
  "blk_start_plug",
  "blk_finish_plug",
  "dio_alloc",
  "dio_wait",
  "dio_free",
  "ram_modprobe",
  "ram_rmmod",
  "aio_setup",
  "aio_submit",
  "aio_getevents",
  "aio_destroy",
  "block_core_path",
  "dio_rw",
];

/** Every target, in the order a full campaign runs them. */
export const TARGETS: readonly FuzzTarget[] = [
  {
    name: "smoke",
    module: "smoke.fuzz",
    description: "pipeline self-test: a 4-byte-gated branch inside WASM, found only with WASM coverage",
    expect: "planted",
    plantedTitle: "PlantedBranchReached",
  },
  {
    name: "tags",
    module: "tags.fuzz",
    description: "tag maps of both eras: get (sleeping or not), put, resize, shared hctxs, wake-ups",
    expect: "clean",
    dict: "tags.dict",
    profile: { name: "tags", ops: [...TAGS_OPS, ...TIME_OPS], cpus: 4 },
    instrument: ["/ts/block/"],
    planted: "tags_reserved_put_wrong_bitmap",
    known: TAGS_KNOWN,
  },
  {
    name: "mm",
    module: "mm.fuzz",
    description: "slab caches, kmalloc, pages, mempools and fault injection, under KASAN and kmemleak",
    expect: "clean",
    dict: "mm.dict",
    profile: { name: "mm", ops: [...MM_OPS, ...TIME_OPS], cpus: 2 },
    instrument: ["/ts/kernel/slab", "/ts/kernel/mempool", "/ts/kernel/kasan", "/ts/kernel/kmemleak"],
    planted: "kmalloc_short_alloc",
  },
  {
    name: "kernel",
    module: "kernel.fuzz",
    description: "CPU hotplug, mutexes, RCU and queue registration racing under lockdep",
    expect: "clean",
    dict: "kernel.dict",
    profile: { name: "kernel", ops: [...CPU_OPS, ...TIME_OPS], cpus: 4 },
    instrument: ["/ts/kernel/"],
    planted: "all_q_mutex_inversion",
  },
  {
    name: "blk",
    module: "blk.fuzz",
    description: "full stack: every op of every area in one machine, shell lines (sysfs, modprobe) and bio I/O included",
    expect: "clean",
    dict: "blk.dict",
    // IO before SHELL: areas tear down in this order, so in-flight bios are drained
    // and judged before the shell's teardown unloads null_blk.
    profile: {
      name: "blk",
      ops: [...QUEUE_OPS, ...IO_OPS, ...SHELL_OPS, ...TAGS_OPS, ...CPU_OPS, ...MM_OPS, ...TIME_OPS],
      cpus: 4,
    },
    instrument: ["/ts/block/", "/ts/sysfs/", "/ts/shell/", "/ts/drivers/"],
    planted: "all_q_mutex_inversion",
    known: BLK_KNOWN,
  },
];

/**
 * Looks a target up by name.
 *
 * @throws {RangeError} naming the known targets when there is none such
 */
export function findTarget(name: string): FuzzTarget {
  const t = TARGETS.find((x) => x.name === name);
  if (t === undefined) {
    throw new RangeError(`unknown fuzz target "${name}"; known: ${TARGETS.map((x) => x.name).join(", ")}`);
  }
  return t;
}

/**
 * A program target by name.
 *
 * @throws {RangeError} when unknown or not a program target
 */
export function programProfile(name: string): Profile {
  const p = findTarget(name).profile;
  if (p === undefined) throw new RangeError(`fuzz target "${name}" does not run programs`);
  return p;
}
