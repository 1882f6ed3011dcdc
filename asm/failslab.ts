// Fault injection: failslab and fail_page_alloc (lib/fault-inject.c,
// mm/failslab.c, mm/page_alloc.c), fully deterministic.
//
// One `fault_attr` per target: target 1 .. MAX_CACHES - 1 is that slab cache
// (kmalloc caches included), FAULT_FAILSLAB (-1) every slab cache, and
// FAULT_PAGE_ALLOC (-2) the page allocator. A slab allocation consults the
// global failslab attr first, then its cache's. The kernel draws from
// prandom_u32(); here each attr carries its own xorshift32 state seeded by the
// caller, so a run (and a fuzz reproducer) replays bit-exactly.
//
// fail_nth mirrors /proc/<pid>/fail-nth (v4.14+), but per target: writing N
// makes the Nth call from now fail (1 = the very next), and while it counts
// down the probability/interval settings are bypassed, as in should_fail().

/** Target: every slab cache (the failslab attr). */
export const FAULT_FAILSLAB: i32 = -1;
/** Target: the page allocator (the fail_page_alloc attr). */
export const FAULT_PAGE_ALLOC: i32 = -2;
/** Targets 1 .. FAULT_MAX_CACHES - 1 are slab caches; equals MAX_CACHES in slab.ts. */
export const FAULT_MAX_CACHES: i32 = 256;

/**
 * Mirrors `struct fault_attr` (include/linux/fault-inject.h).
 *
 *   0            4          8       12         16     20      24        28
 *   +------------+----------+-------+----------+------+-------+---------+
 *   | probability| interval | times | fail_nth | count| prng  | injected|
 *   +------------+----------+-------+----------+------+-------+---------+
 *   probability in percent (0 = off); interval > 1 fails only every
 *   interval-th eligible call; times = failures left (-1 = no limit).
 */
@unmanaged
class FaultAttr {
  probability: u32;
  interval: u32;
  times: i32;
  fail_nth: u32;
  count: u32;
  prng: u32;
  injected: u32;
  reserved: u32;
}

const ATTR_SIZE: usize = 32;
/** Index 0 = fail_page_alloc, 1 = failslab, 1 + id = cache id. */
const ATTRS: usize = memory.data(<i32>(ATTR_SIZE * (FAULT_MAX_CACHES + 2)), 16);

/**
 * Whether any attr has ever been armed since the last full reset: the
 * kernel's static branch around should_failslab(), so allocations skip the
 * attr checks while fault injection is unused.
 */
let fault_armed: bool = false;

@inline
function attr_of(target: i32): usize {
  if (target == FAULT_PAGE_ALLOC) return ATTRS;
  if (target == FAULT_FAILSLAB) return ATTRS + ATTR_SIZE;
  if (target >= 1 && target < FAULT_MAX_CACHES) return ATTRS + ATTR_SIZE * <usize>(target + 1);
  return 0;
}

/** One xorshift32 step (Marsaglia 2003); never yields 0 from a non-zero state. */
@inline
function xorshift32(x: u32): u32 {
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return x;
}

/** Mirrors `should_fail()` (lib/fault-inject.c) with fail_nth and a seeded PRNG. */
function should_fail(a: FaultAttr): bool {
  const nth = a.fail_nth;
  if (nth != 0) {
    a.fail_nth = nth - 1;
    if (nth != 1) return false;
    a.injected++;
    return true;
  }
  if (a.probability == 0) return false;
  if (a.times == 0) return false;
  if (a.interval > 1) {
    a.count++;
    if (a.count % a.interval != 0) return false;
  }
  const r = xorshift32(a.prng);
  a.prng = r;
  if (a.probability <= r % 100) return false;
  if (a.times != -1) a.times--;
  a.injected++;
  return true;
}

/** @returns true when an allocation at `target` must fail now. */
export function fault_should_fail(target: i32): bool {
  if (!fault_armed) return false;
  const p = attr_of(target);
  return p != 0 && should_fail(changetype<FaultAttr>(p));
}

/** Mirrors `should_failslab()` (mm/failslab.c): the global attr, then the cache's. */
@inline
export function should_failslab(cache: i32): bool {
  if (!fault_armed) return false;
  return should_fail(changetype<FaultAttr>(ATTRS + ATTR_SIZE)) ||
    should_fail(changetype<FaultAttr>(ATTRS + ATTR_SIZE * <usize>(cache + 1)));
}

/** Clears a cache's attr (on create and destroy). */
export function fault_attr_reset(target: i32): void {
  const p = attr_of(target);
  if (p != 0) memory.fill(p, 0, ATTR_SIZE);
}

/**
 * Sets the probability/interval mode of a target, like writing the debugfs
 * files `probability`, `interval` and `times`, plus the PRNG seed.
 *
 * @param target cache id, FAULT_FAILSLAB (-1) or FAULT_PAGE_ALLOC (-2)
 * @param probability percent 0 .. 100 (0 disables this mode)
 * @param interval ≥ 1; fail at most every interval-th call
 * @param times failures allowed, -1 for no limit
 * @param seed PRNG seed (0 is replaced by 1)
 * @returns 0, or -22 for a bad argument
 */
export function fault_attr_set(target: i32, probability: i32, interval: i32, times: i32, seed: u32): i32 {
  const p = attr_of(target);
  if (p == 0 || probability < 0 || probability > 100 || interval < 1 || times < -1) return -22;
  const a = changetype<FaultAttr>(p);
  a.probability = <u32>probability;
  a.interval = <u32>interval;
  a.times = times;
  a.count = 0;
  a.prng = seed != 0 ? seed : 1;
  if (probability != 0) fault_armed = true;
  return 0;
}

/**
 * Makes the `nth` call at `target` from now fail (1 = the next one); 0 cancels.
 * @returns 0, or -22 for a bad target or a negative nth
 */
export function fault_fail_nth(target: i32, nth: i32): i32 {
  const p = attr_of(target);
  if (p == 0 || nth < 0) return -22;
  changetype<FaultAttr>(p).fail_nth = <u32>nth;
  if (nth != 0) fault_armed = true;
  return 0;
}

/** @returns calls still to go before fail_nth fires (0 = not armed), or -22 */
export function fault_fail_nth_pending(target: i32): i32 {
  const p = attr_of(target);
  if (p == 0) return -22;
  return <i32>changetype<FaultAttr>(p).fail_nth;
}

/** @returns how many failures `target` has injected so far, or -22 */
export function fault_injected(target: i32): i32 {
  const p = attr_of(target);
  if (p == 0) return -22;
  return <i32>changetype<FaultAttr>(p).injected;
}
