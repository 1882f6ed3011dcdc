// SPDX-License-Identifier: GPL-2.0-only
// null_blk's `queue_rq` for irqmode 0 in the core: what `null_queue_rq()`
// (drivers/block/null_blk.c, v4.4) does when the command ends at once,
// `null_handle_cmd()` with NULL_IRQ_NONE → `end_cmd()` →
// `blk_mq_end_request(rq, 0)`. The driver itself is TypeScript
// (ts/drivers/null_blk.ts); it offers this function to the core as its
// inline `queue_rq` (BlkMqOps.inline), and the dispatch loop
// (asm/blk_mq_dispatch.ts) calls it instead of the host's `queue_rq` while
// the queue's ops still hold that driver's function. A request then starts,
// ends, is accounted and freed without leaving WASM, except for its bios'
// end_io callbacks (host calls).
//
// Time comes in as the caller read it: `now` in ns, the clock's ns per
// jiffy and HZ; jiffies are `floor(now / tick_ns)`, as the TS clock
// computes them.

import { blk_mq_start_request, BLK_MQ_RQ_QUEUE_OK } from "./blk_mq_dispatch";
import { blk_mq_end_request } from "./blk_mq_end";
import { host_blk_end_fault } from "./host";

/** The dispatch loop's driver code for the host's `queue_rq` (no inline driver). */
export const BLK_MQ_INLINE_NONE: u32 = 0;
/** The dispatch loop's driver code for {@link null_queue_rq_irq_none}. */
export const BLK_MQ_INLINE_NULL_IRQ_NONE: u32 = 1;

/**
 * Mirrors `null_queue_rq()` (v4.4) with irqmode 0: `blk_mq_start_request()`,
 * then `end_cmd()`: `blk_mq_end_request(rq, 0)` on the current CPU. The
 * data is not touched. A step of the end that refuses (a BUG on the TS side)
 * is raised by host_blk_end_fault(), which does not return.
 *
 * @param q the queue record (its timer arms `blk_add_timer()`)
 * @param cpu the current CPU
 * @param now the clock, ns
 * @param hz `HZ`
 * @param tick_ns ns per jiffy
 * @returns BLK_MQ_RQ_QUEUE_OK
 */
export function null_queue_rq_irq_none(q: usize, rq: usize, cpu: u32, now: f64, hz: u32, tick_ns: f64): i32 {
  const jiffies = Math.floor(now / tick_ns);
  if (blk_mq_start_request(q, rq, jiffies, cpu, hz) < 0) host_blk_end_fault(<u32>rq, -22);
  const rc = blk_mq_end_request(rq, 0, jiffies, tick_ns, cpu);
  if (rc < 0) host_blk_end_fault(<u32>rq, rc);
  return BLK_MQ_RQ_QUEUE_OK;
}
