// CPU → hardware-queue maps (block/blk-mq-cpumap.c) and the attachment of
// per-CPU software queues (ctx) to hardware queues (hctx) done by
// blk_mq_map_swqueue() (block/blk-mq.c).
//
// Three maps are modelled:
//   - v4.4 blk_mq_update_queue_map(): i * nr_queues / nr_cpus over the online
//     CPUs, SMT siblings folded onto their first sibling (holes possible);
//   - the modern (v6.18) blk_mq_map_queues() over group_cpus_evenly(), one NUMA
//     node, every possible CPU present, with the `masks[q % nr_masks]` wrap;
//   - v4.4 blk_mq_map_swqueue(): online CPUs only, ctx->index_hw in increasing
//     CPU order, an hctx with nr_ctx == 0 is unmapped.
//
// No allocation: every array lives at a caller-supplied address (the TS layer
// uses the host window). The CPU topology is not stored anywhere; it is
// computed from (nr_cpu_ids, threads_per_core, siblings layout):
//
//   SIBLINGS_SPLIT (x86 enumeration), ncores = nr_cpu_ids / threads_per_core:
//     cpu c belongs to core c % ncores; siblings are core, core + ncores, ...
//   SIBLINGS_ADJACENT (threads numbered together):
//     cpu c belongs to core c / threads_per_core; siblings are consecutive.
//
// Memory formats at the boundary:
//   cpumask  ceil(nr_cpu_ids / 8) bytes; CPU i is bit (i & 7) of byte i >> 3,
//            which is the kernel's little-endian unsigned long bitmap layout.
//   map      nr_cpu_ids u32 words, 4-byte aligned: map[cpu] = hctx index
//            (the kernel's `unsigned int *mq_map`).
//
// Every export validates its arguments before writing anything and returns
// -EINVAL (-22) for a bad one, leaving the caller's memory untouched.

/**
 * The most CPUs (nr_cpu_ids) a map covers. At 4096 CPUs and 4096 queues the
 * tables of the largest call (two cpumasks, map, index_hw, nr_ctx: 50176
 * bytes) still fit the 64 KiB host window the TS layer passes them through;
 * 8192 (x86 MAXSMP) would not.
 */
export const NR_CPUS: i32 = 4096;

/** The most hardware queues a map may name (nr_hw_queues). */
export const MAX_HW_QUEUES: i32 = 4096;

/** x86 enumeration: CPU c and c + ncores are siblings. */
export const SIBLINGS_SPLIT: i32 = 0;

/** Sibling threads numbered together: CPUs t*k .. t*k + t - 1 share core k. */
export const SIBLINGS_ADJACENT: i32 = 1;

const EINVAL: i32 = 22;

/** Marks a CPU still in group_cpus_evenly()'s `nmsk` (not yet in any group). */
const UNGROUPED: u32 = 0xffffffff;

/** ctx->index_hw reported for an offline CPU, whose ctx is attached nowhere. */
const DETACHED: u32 = 0xffffffff;

// ---------------------------------------------------------------------------
// Memory helpers

/** Whether [ptr, ptr + bytes) is a non-NULL, `align`-aligned region of linear memory. */
@inline
function region_ok(ptr: usize, bytes: usize, align: usize): bool {
  return ptr != 0 && (ptr & (align - 1)) == 0 &&
    <u64>ptr + <u64>bytes <= (<u64>memory.size() << 16);
}

@inline
function cpumask_bytes(nr_cpu_ids: u32): usize {
  return <usize>((nr_cpu_ids + 7) >> 3);
}

/** Mirrors `cpumask_test_cpu()`. */
@inline
function cpumask_test_cpu(mask: usize, cpu: u32): bool {
  return ((load<u8>(mask + (cpu >> 3)) >> (cpu & 7)) & 1) != 0;
}

@inline
function get_u32(base: usize, i: u32): u32 {
  return load<u32>(base + (<usize>i << 2));
}

@inline
function set_u32(base: usize, i: u32, v: u32): void {
  store<u32>(base + (<usize>i << 2), v);
}

// ---------------------------------------------------------------------------
// Topology

/** Whether (nr_cpu_ids, threads_per_core, siblings) describes a machine. */
function topology_ok(nr_cpu_ids: i32, threads_per_core: i32, siblings: i32): bool {
  if (nr_cpu_ids < 1 || nr_cpu_ids > NR_CPUS) return false;
  if (threads_per_core < 1 || nr_cpu_ids % threads_per_core != 0) return false;
  return siblings == SIBLINGS_SPLIT || siblings == SIBLINGS_ADJACENT;
}

/** Lowest-numbered CPU of `cpu`'s core in the static topology. */
@inline
function core_first(cpu: u32, nr_cpu_ids: u32, threads: u32, siblings: i32): u32 {
  return siblings == SIBLINGS_SPLIT ? cpu % (nr_cpu_ids / threads) : cpu - cpu % threads;
}

/** Thread `k` (0-based, increasing CPU order) of the core whose first CPU is `first`. */
@inline
function core_thread(first: u32, k: u32, nr_cpu_ids: u32, threads: u32, siblings: i32): u32 {
  return siblings == SIBLINGS_SPLIT ? first + k * (nr_cpu_ids / threads) : first + k;
}

/**
 * Mirrors `get_first_sibling()` (block/blk-mq-cpumap.c, v4.4): the lowest CPU
 * of `topology_sibling_cpumask(cpu)`, or `cpu` itself when that mask is empty.
 *
 * The sibling mask only holds CPUs in `linked` (x86 links a CPU into its
 * siblings' masks when it boots and unlinks it when it goes down), so a CPU
 * outside `linked` has an empty mask and is its own first sibling.
 */
function get_first_sibling(
  cpu: u32,
  nr_cpu_ids: u32,
  threads: u32,
  siblings: i32,
  linked: usize,
): u32 {
  if (!cpumask_test_cpu(linked, cpu)) return cpu;
  const first = core_first(cpu, nr_cpu_ids, threads, siblings);
  for (let k: u32 = 0; k < threads; k++) {
    const s = core_thread(first, k, nr_cpu_ids, threads, siblings);
    if (cpumask_test_cpu(linked, s)) return s;
  }
  if (DEBUG) assert(false, "cpu is in its own sibling mask");
  return cpu;
}

/**
 * The first sibling of `cpu` when every CPU is up: the lowest CPU of its core.
 *
 * @returns the CPU number, or -EINVAL for a bad topology or `cpu` out of range
 */
export function cpumap_first_sibling(
  cpu: i32,
  nr_cpu_ids: i32,
  threads_per_core: i32,
  siblings: i32,
): i32 {
  if (!topology_ok(nr_cpu_ids, threads_per_core, siblings)) return -EINVAL;
  if (cpu < 0 || cpu >= nr_cpu_ids) return -EINVAL;
  return <i32>core_first(<u32>cpu, <u32>nr_cpu_ids, <u32>threads_per_core, siblings);
}

/** @returns NR_CPUS, the most CPUs a map covers. */
export function cpumap_nr_cpus(): i32 {
  return NR_CPUS;
}

/** @returns MAX_HW_QUEUES, the most hardware queues a map may name. */
export function cpumap_max_hw_queues(): i32 {
  return MAX_HW_QUEUES;
}

// ---------------------------------------------------------------------------
// v4.4: blk_mq_update_queue_map()

/** Mirrors `cpu_to_queue_index()` (block/blk-mq-cpumap.c, v4.4). */
@inline
function cpu_to_queue_index(nr_cpus: u32, nr_queues: u32, i: u32): u32 {
  return i * nr_queues / nr_cpus;
}

/**
 * Mirrors `blk_mq_update_queue_map()` (block/blk-mq-cpumap.c, v4.4).
 *
 * Offline CPUs map to 0. With at least as many queues as online CPUs, or no
 * online SMT sibling pairs, the online CPUs are spread as
 * `i * nr_queues / nr_cpus` in increasing order; otherwise each core's first
 * sibling takes `i * nr_queues / nr_uniq_cpus` and the other threads follow it.
 *
 * @param map        nr_cpu_ids u32 words (output)
 * @param nr_cpu_ids number of possible CPUs, 1..NR_CPUS
 * @param nr_queues  number of hardware queues, 1..MAX_HW_QUEUES
 * @param online     cpumask of the online CPUs (the mask about to be in effect)
 * @param threads_per_core SMT threads per core; must divide nr_cpu_ids
 * @param siblings   SIBLINGS_SPLIT or SIBLINGS_ADJACENT
 * @param linked     cpumask of CPUs linked into their sibling masks, or 0 for
 *                   `online` (differs during CPU_UP_PREPARE, when the arriving
 *                   CPU is online for the map but not yet linked)
 * @returns 0, or -EINVAL for a bad argument (nothing written)
 */
export function cpumap_update_queue_map(
  map: usize,
  nr_cpu_ids: i32,
  nr_queues: i32,
  online: usize,
  threads_per_core: i32,
  siblings: i32,
  linked: usize,
): i32 {
  if (!topology_ok(nr_cpu_ids, threads_per_core, siblings)) return -EINVAL;
  if (nr_queues < 1 || nr_queues > MAX_HW_QUEUES) return -EINVAL;
  const n = <u32>nr_cpu_ids;
  const nq = <u32>nr_queues;
  const threads = <u32>threads_per_core;
  if (!region_ok(map, <usize>n << 2, 4) || !region_ok(online, cpumask_bytes(n), 1)) return -EINVAL;
  if (linked == 0) linked = online;
  else if (!region_ok(linked, cpumask_bytes(n), 1)) return -EINVAL;

  // The kernel accumulates every visited online CPU in a scratch mask `cpus`
  // and counts a CPU as unique when its first sibling is not in it yet. At
  // the test, `cpus` is exactly the online CPUs below i, and the first
  // sibling is never above i, so the mask reduces to this comparison.
  let nr_cpus: u32 = 0;
  let nr_uniq_cpus: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    if (!cpumask_test_cpu(online, i)) continue;
    nr_cpus++;
    const first = get_first_sibling(i, n, threads, siblings, linked);
    if (!(first < i && cpumask_test_cpu(online, first))) nr_uniq_cpus++;
  }

  let queue: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    if (!cpumask_test_cpu(online, i)) {
      set_u32(map, i, 0);
      continue;
    }
    // Easy case: enough queues, or no thread siblings to take into account.
    if (nq >= nr_cpus || nr_cpus == nr_uniq_cpus) {
      set_u32(map, i, cpu_to_queue_index(nr_cpus, nq, queue));
      queue++;
      continue;
    }
    // Fewer queues than CPUs, and SMT: sibling threads share a queue.
    const first = get_first_sibling(i, n, threads, siblings, linked);
    if (first == i) {
      set_u32(map, i, cpu_to_queue_index(nr_uniq_cpus, nq, queue));
      queue++;
    } else {
      set_u32(map, i, get_u32(map, first));
    }
    if (DEBUG) assert(get_u32(map, i) < nq, "v4.4 map entry out of range");
  }
  return 0;
}

// ---------------------------------------------------------------------------
// Modern: blk_mq_map_queues() over group_cpus_evenly()

/**
 * Mirrors `grp_spread_init_one()` (lib/group_cpus.c, v6.18): moves
 * `cpus_per_grp` CPUs from `nmsk` into group `grp`, taking the lowest CPU
 * left, then its siblings left in increasing order, until the quota is met.
 *
 * `nmsk` is every CPU whose map entry is still UNGROUPED; `first` is a lower
 * bound of its first CPU (CPUs only ever leave it).
 *
 * @returns the new lower bound of the first CPU of `nmsk`
 */
function grp_spread_init_one(
  map: usize,
  grp: u32,
  cpus_per_grp: u32,
  first: u32,
  n: u32,
  threads: u32,
  siblings: i32,
): u32 {
  let cpu = first;
  while (cpus_per_grp > 0) {
    while (cpu < n && get_u32(map, cpu) != UNGROUPED) cpu++;
    if (cpu >= n) break; // "Should not happen" (the kernel's own comment)
    set_u32(map, cpu, grp);
    cpus_per_grp--;
    // If the cpu has siblings, use them first; a core may be split.
    const core = core_first(cpu, n, threads, siblings);
    for (let k: u32 = 0; k < threads && cpus_per_grp > 0; k++) {
      const sibl = core_thread(core, k, n, threads, siblings);
      if (get_u32(map, sibl) != UNGROUPED) continue;
      set_u32(map, sibl, grp);
      cpus_per_grp--;
    }
  }
  return cpu;
}

/**
 * Mirrors `group_cpus_evenly()` (lib/group_cpus.c, v6.18) for one NUMA node
 * with every possible CPU present: writes each CPU's group into `map`.
 *
 * @returns nr_masks, the number of groups: min(nr_cpu_ids, numgrps)
 */
function group_cpus_evenly(map: usize, numgrps: u32, n: u32, threads: u32, siblings: i32): u32 {
  for (let i: u32 = 0; i < n; i++) set_u32(map, i, UNGROUPED);
  // numgrps <= nodes: one group per node, here group 0 takes every CPU.
  if (numgrps == 1) {
    for (let i: u32 = 0; i < n; i++) set_u32(map, i, 0);
    return 1;
  }
  // alloc_nodes_groups() gives the single node min(ncpus, numgrps) groups;
  // __group_cpus_evenly() spreads the rounding remainder over the first ones.
  const ngroups = min(n, numgrps);
  let extra_grps = n - ngroups * (n / ngroups);
  let cursor: u32 = 0;
  for (let v: u32 = 0; v < ngroups; v++) {
    let cpus_per_grp = n / ngroups;
    if (extra_grps > 0) {
      cpus_per_grp++;
      extra_grps--;
    }
    cursor = grp_spread_init_one(map, v, cpus_per_grp, cursor, n, threads, siblings);
  }
  if (DEBUG) {
    for (let i: u32 = 0; i < n; i++) assert(get_u32(map, i) < ngroups, "every CPU grouped");
  }
  // Stage 2 (possible but not present CPUs) is empty: nr_others = 0.
  return ngroups;
}

/**
 * Mirrors `blk_mq_map_queues()` (block/blk-mq-cpumap.c, v6.18) with
 * `queue_offset` 0, on one NUMA node with every possible CPU present.
 *
 * Queue q takes every CPU of `masks[q % nr_masks]`, later queues overwriting
 * earlier ones, so with more queues than CPUs the last queues win
 * (4 CPUs, 6 queues → [4,5,2,3]). group_cpus_evenly() cannot fail here, so the
 * kernel's "everything to queue_offset" fallback never applies.
 *
 * @param map        nr_cpu_ids u32 words (output)
 * @param nr_cpu_ids number of possible (= present = online) CPUs, 1..NR_CPUS
 * @param nr_queues  number of hardware queues, 1..MAX_HW_QUEUES
 * @param threads_per_core SMT threads per core; must divide nr_cpu_ids
 * @param siblings   SIBLINGS_SPLIT or SIBLINGS_ADJACENT
 * @returns 0, or -EINVAL for a bad argument (nothing written)
 */
export function cpumap_map_queues(
  map: usize,
  nr_cpu_ids: i32,
  nr_queues: i32,
  threads_per_core: i32,
  siblings: i32,
): i32 {
  if (!topology_ok(nr_cpu_ids, threads_per_core, siblings)) return -EINVAL;
  if (nr_queues < 1 || nr_queues > MAX_HW_QUEUES) return -EINVAL;
  const n = <u32>nr_cpu_ids;
  const nq = <u32>nr_queues;
  if (!region_ok(map, <usize>n << 2, 4)) return -EINVAL;

  const nr_masks = group_cpus_evenly(map, nq, n, <u32>threads_per_core, siblings);
  // for (q = 0; q < nr_queues; q++) for_each_cpu(cpu, &masks[q % nr_masks])
  //         map[cpu] = q;
  // leaves each CPU of group g with the last such q: the largest
  // q < nr_queues with q % nr_masks == g.
  for (let i: u32 = 0; i < n; i++) {
    const g = get_u32(map, i);
    set_u32(map, i, g + nr_masks * ((nq - 1 - g) / nr_masks));
  }
  return 0;
}

// ---------------------------------------------------------------------------
// v4.4: blk_mq_map_swqueue()

/**
 * Mirrors the ctx attachment of `blk_mq_map_swqueue()` (block/blk-mq.c, v4.4):
 * every online CPU's ctx joins hctx `map[cpu]` with
 * `ctx->index_hw = hctx->nr_ctx++`, in increasing CPU order. Offline CPUs'
 * ctxs are attached nowhere. An hctx left with nr_ctx == 0 is unmapped (the
 * kernel then frees its request map); hctx->cpumask is the set of CPUs with
 * map[cpu] == hctx among the online ones, and hctx->ctxs[k] is the ctx whose
 * index_hw is k.
 *
 * @param map        nr_cpu_ids u32 words, e.g. from cpumap_update_queue_map()
 * @param nr_cpu_ids number of possible CPUs, 1..NR_CPUS
 * @param nr_queues  number of hctxs, 1..MAX_HW_QUEUES
 * @param online     cpumask of the online CPUs
 * @param nr_ctx     nr_queues u32 words (output): hctx->nr_ctx
 * @param index_hw   nr_cpu_ids u32 words (output): ctx->index_hw, or
 *                   0xffffffff (-1) for an offline CPU
 * @returns the number of ctxs attached (online CPUs), or -EINVAL for a bad
 *          argument, including an online CPU mapped to an hctx >= nr_queues
 *          (nothing written). The outputs must not overlap the inputs.
 */
export function cpumap_map_swqueue(
  map: usize,
  nr_cpu_ids: i32,
  nr_queues: i32,
  online: usize,
  nr_ctx: usize,
  index_hw: usize,
): i32 {
  if (nr_cpu_ids < 1 || nr_cpu_ids > NR_CPUS) return -EINVAL;
  if (nr_queues < 1 || nr_queues > MAX_HW_QUEUES) return -EINVAL;
  const n = <u32>nr_cpu_ids;
  const nq = <u32>nr_queues;
  if (!region_ok(map, <usize>n << 2, 4) || !region_ok(online, cpumask_bytes(n), 1)) return -EINVAL;
  if (!region_ok(nr_ctx, <usize>nq << 2, 4) || !region_ok(index_hw, <usize>n << 2, 4)) {
    return -EINVAL;
  }
  for (let i: u32 = 0; i < n; i++) {
    if (cpumask_test_cpu(online, i) && get_u32(map, i) >= nq) return -EINVAL;
  }

  for (let h: u32 = 0; h < nq; h++) set_u32(nr_ctx, h, 0);
  let attached: i32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    if (!cpumask_test_cpu(online, i)) {
      set_u32(index_hw, i, DETACHED);
      continue;
    }
    const hctx = get_u32(map, i);
    const k = get_u32(nr_ctx, hctx);
    set_u32(index_hw, i, k);
    set_u32(nr_ctx, hctx, k + 1);
    attached++;
  }
  return attached;
}
