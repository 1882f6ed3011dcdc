// SPDX-License-Identifier: GPL-2.0-only
// Starting a request: `blk_mq_start_request()` with `blk_add_timer()`
// (block/blk-mq.c, block/blk-timeout.c, v4.4) over the request and queue
// records.
//
// Arming the queue timer (`mod_timer()`) is TypeScript's, a host call
// (asm/host.ts); the decision is made here from the queue record's mirror of
// the timer. Jiffies are f64 (safe integers that never wrap), passed in by
// the caller with the current CPU and HZ. Nothing here allocates.

import { RequestQueue } from "./blk_queue";
import { EINVAL } from "./page_alloc";
import { host_mod_timer } from "./host";

// ---------------------------------------------------------------------------
// Records (the request record is ts/block/request_record.ts's layout)
// ---------------------------------------------------------------------------

const RQ_CMD_FLAGS: usize = 16;
const RQ_ATOMIC_FLAGS: usize = 20;
const RQ_DEADLINE: usize = 56;
const RQ_TIMEOUT: usize = 64;

/** `REQ_ATOM_COMPLETE`, `REQ_ATOM_STARTED`: bits of `rq->atomic_flags`. */
const REQ_ATOM_COMPLETE: u32 = 0;
const REQ_ATOM_STARTED: u32 = 1;
/** `REQ_NO_TIMEOUT` (include/linux/blk_types.h, v4.4: bit 31 of the low word). */
const REQ_NO_TIMEOUT: u32 = 1 << 31;
/** `BLK_MAX_TIMEOUT` (block/blk.h): 5 * HZ. */
const BLK_MAX_TIMEOUT_SECS: i64 = 5;

// ---------------------------------------------------------------------------
// Starting a request
// ---------------------------------------------------------------------------

/**
 * Mirrors `round_jiffies_up()` → `round_jiffies_common(j, cpu, true)`
 * (kernel/time/timer.c, v4.4): skewed by `cpu * 3`, up to the next whole
 * second (one already on a second still moves on), unskewed; `j` itself
 * when that would not be after `now`.
 */
@inline
function round_jiffies_up(j: f64, cpu: u32, now: f64, hz: u32): f64 {
  const skew = <i64>cpu * 3;
  let r = <i64>j + skew;
  r = r - r % <i64>hz + <i64>hz;
  const v = <f64>(r - skew);
  return v > now ? v : j;
}

/** Mirrors `blk_rq_timeout()` (block/blk-timeout.c, v4.4): capped at `round_jiffies_up(jiffies + BLK_MAX_TIMEOUT)`. */
@inline
function blk_rq_timeout(timeout: f64, cpu: u32, now: f64, hz: u32): f64 {
  const maxt = round_jiffies_up(now + <f64>(BLK_MAX_TIMEOUT_SECS * <i64>hz), cpu, now, hz);
  return timeout > maxt ? maxt : timeout;
}

/** The work of {@link blk_add_timer} on trusted arguments. */
function __blk_add_timer(q: usize, rq: usize, now: f64, cpu: u32, hz: u32): void {
  if ((load<u32>(rq + RQ_CMD_FLAGS) & REQ_NO_TIMEOUT) != 0) return;
  const r = changetype<RequestQueue>(q);
  let timeout = load<u32>(rq + RQ_TIMEOUT);
  if (timeout == 0) {
    timeout = r.rq_timeout;
    store<u32>(rq + RQ_TIMEOUT, timeout);
  }
  const deadline = now + <f64>timeout;
  store<f64>(rq + RQ_DEADLINE, deadline);
  const expiry = blk_rq_timeout(round_jiffies_up(deadline, cpu, now, hz), cpu, now, hz);
  const pending = r.timeout_pending != 0;
  if (!pending || expiry < r.timeout_expires) {
    const diff = r.timeout_expires - expiry;
    if (!pending || diff >= <f64>hz / 2) host_mod_timer(<u32>q, expiry);
  }
}

/**
 * Mirrors `blk_add_timer()` (block/blk-timeout.c, v4.4) for blk-mq: nothing
 * for a REQ_NO_TIMEOUT request; `rq->timeout` defaults to `q->rq_timeout`;
 * `rq->deadline = jiffies + rq->timeout`; the queue timer is armed
 * (host_mod_timer) at the rounded, capped expiry when it is not pending, or
 * when that is earlier by at least HZ/2. Whether it is pending and when it
 * expires come from the queue record's mirror of the timer.
 *
 * @param now jiffies, read once by the caller (the kernel's one `jiffies`)
 * @param cpu the current CPU (`round_jiffies_up()` skews by it)
 * @returns 0, or -22 for a null record or HZ 0
 */
export function blk_add_timer(q: usize, rq: usize, now: f64, cpu: u32, hz: u32): i32 {
  if (q == 0 || rq == 0 || hz == 0) return -EINVAL;
  __blk_add_timer(q, rq, now, cpu, hz);
  return 0;
}

/**
 * Mirrors `blk_mq_start_request()` (block/blk-mq.c, v4.4): `blk_add_timer()`,
 * then REQ_ATOM_STARTED set and REQ_ATOM_COMPLETE cleared (a requeue may
 * have raced with the timeout). `q` 0 stands for a queue without `mq_ops`,
 * which the port's `blk_add_timer()` does not serve.
 *
 * @returns 0, or -22 for a null request or HZ 0 (nothing done)
 */
export function blk_mq_start_request(q: usize, rq: usize, now: f64, cpu: u32, hz: u32): i32 {
  if (rq == 0 || hz == 0) return -EINVAL;
  if (q != 0) __blk_add_timer(q, rq, now, cpu, hz);
  const p = rq + RQ_ATOMIC_FLAGS;
  store<u32>(p, (load<u32>(p) | (1 << REQ_ATOM_STARTED)) & ~(<u32>1 << REQ_ATOM_COMPLETE));
  return 0;
}
