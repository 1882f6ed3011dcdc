// SPDX-License-Identifier: GPL-2.0-only
/**
 * Ops over the blk-mq queue life cycle (ts/block/): tag sets, queues,
 * freezes and q_usage_counter references, nr_requests updates. A small
 * driver ("fuzz_blk") supplies the ops a tag set needs. Resources: `ts` (a
 * tag set, container), `q` (a queue, container), `fz` (a freeze held),
 * `qr` (a blk_queue_enter() reference).
 *
 * Invariant (area "queue"): blkMqQueueInvariantViolations() of every live
 * queue is empty (q_usage_counter, freeze depth, CPU mapping, request maps,
 * shared flag, sysfs directories).
 *
 * @module
 */

import { blkMqInitQueue, blkMqQueueInvariantViolations, blkMqUpdateNrRequests } from "../../../ts/block/blk_mq.ts";
import {
  blkCleanupQueue,
  blkMqFreezeQueue,
  blkMqUnfreezeQueue,
  blkQueueEnter,
  blkQueueExit,
  type RequestQueue,
} from "../../../ts/block/request_queue.ts";
import {
  BLK_MQ_RQ_QUEUE_OK,
  blkMqAllocTagSet,
  blkMqFreeTagSet,
  blkMqMapQueue,
  type BlkMqOps,
  type BlkMqTagSet,
} from "../../../ts/block/tag_set.ts";
import type { Sleepable } from "../../../ts/kernel/sched.ts";
import { registerArea, registerOp, registerResource } from "../registry.ts";

const AREA = "queue";

/** The stand-in driver: every request completes at once. */
const FUZZ_OPS: BlkMqOps = {
  queueRq: () => BLK_MQ_RQ_QUEUE_OK,
  mapQueue: blkMqMapQueue,
};

interface SetRes {
  readonly set: BlkMqTagSet;
  queues: number;
}
interface QueueRes {
  readonly q: RequestQueue;
  readonly set: SetRes;
  /** Freezes and references the program holds on it. */
  held: number;
  alive: boolean;
}
interface QueueState {
  readonly queues: QueueRes[];
}

registerArea({
  name: AREA,
  boot: (): QueueState => ({ queues: [] }),
  invariants(x) {
    for (const r of x.state<QueueState>(AREA).queues) {
      if (!r.alive) continue;
      const v = blkMqQueueInvariantViolations(r.q);
      // The first violation, numbers as N, names the finding: one title per kind, not per hctx.
      if (v.length > 0) return { title: `blk-mq queue state: ${v[0].replace(/\d+/g, "N")}`, report: v.join("\n") };
    }
    return null;
  },
});

function* cleanup(r: QueueRes): Sleepable {
  r.alive = false;
  yield* blkCleanupQueue(r.q);
  r.set.queues--;
}

registerResource({
  kind: "blkset",
  prefix: "ts",
  final: true,
  *release(_x, v) {
    blkMqFreeTagSet((v as SetRes).set);
  },
});
registerResource({
  kind: "queue",
  prefix: "q",
  final: true,
  *release(_x, v) {
    yield* cleanup(v as QueueRes);
  },
});
registerResource({
  kind: "frozen",
  prefix: "fz",
  *release(_x, v) {
    const r = v as QueueRes;
    r.held--;
    yield* blkMqUnfreezeQueue(r.q);
  },
});
registerResource({
  kind: "qref",
  prefix: "qr",
  *release(_x, v) {
    const r = v as QueueRes;
    r.held--;
    blkQueueExit(r.q);
  },
});

function live(v: unknown): QueueRes {
  const r = v as QueueRes;
  if (!r.alive) throw new RangeError("the queue was cleaned up");
  return r;
}

registerOp({
  name: "blk_mq_alloc_tag_set",
  area: AREA,
  doc: "blk_mq_alloc_tag_set() for the fuzz_blk driver",
  args: [
    { kind: "int", name: "hw_queues", min: 0, max: 8, special: [1, 2, 4] },
    { kind: "int", name: "depth", min: 0, max: 512, special: [1, 2, 4, 8, 64, 128] },
    { kind: "int", name: "reserved", min: 0, max: 4, special: [0, 1] },
    { kind: "enum", name: "era", values: ["v4.4", "modern"] },
  ],
  produces: "blkset",
  *exec(x, [hw, depth, reserved, era]) {
    const set = blkMqAllocTagSet(x.kernel.block, {
      ops: FUZZ_OPS,
      nrHwQueues: hw as number,
      queueDepth: depth as number,
      reservedTags: reserved as number,
      era: era as "v4.4" | "modern",
    });
    return { set, queues: 0 } satisfies SetRes;
  },
});

registerOp({
  name: "blk_mq_free_tag_set",
  area: AREA,
  doc: "blk_mq_free_tag_set(); refused while queues use the set (the driver's contract)",
  args: [{ kind: "res", name: "set", res: "blkset", consume: true }],
  *exec(_x, [v]) {
    const s = v as SetRes;
    if (s.queues > 0) throw new RangeError("blk_mq_free_tag_set: queues still use the set");
    blkMqFreeTagSet(s.set);
  },
});

registerOp({
  name: "blk_mq_init_queue",
  area: AREA,
  doc: "blk_mq_init_queue() on a tag set (a second queue makes the tags shared)",
  args: [{ kind: "res", name: "set", res: "blkset" }],
  produces: "queue",
  *exec(x, [v]) {
    const s = v as SetRes;
    // Counted from the start: init sleeps, and the driver keeps its set alive
    // until every queue on it is gone, including one still being set up.
    s.queues++;
    let q;
    try {
      q = yield* blkMqInitQueue(s.set);
    } catch (e) {
      s.queues--;
      throw e;
    }
    const r: QueueRes = { q, set: s, held: 0, alive: true };
    x.state<QueueState>(AREA).queues.push(r);
    return r;
  },
});

registerOp({
  name: "blk_cleanup_queue",
  area: AREA,
  doc: "blk_cleanup_queue(): dying, drained, freed from the set",
  args: [{ kind: "res", name: "q", res: "queue", consume: true }],
  *exec(_x, [v]) {
    yield* cleanup(live(v));
  },
});

registerOp({
  name: "blk_mq_freeze_queue",
  area: AREA,
  doc: "blk_mq_freeze_queue(): held until unfrozen (waits for every q_usage_counter reference)",
  args: [{ kind: "res", name: "q", res: "queue" }],
  produces: "frozen",
  *exec(_x, [v]) {
    const r = live(v);
    yield* blkMqFreezeQueue(r.q);
    r.held++;
    return r;
  },
});

registerOp({
  name: "blk_mq_unfreeze_queue",
  area: AREA,
  doc: "blk_mq_unfreeze_queue() of a freeze the program holds",
  args: [{ kind: "res", name: "frozen", res: "frozen", consume: true }],
  *exec(_x, [v]) {
    const r = v as QueueRes;
    r.held--;
    yield* blkMqUnfreezeQueue(r.q);
  },
});

registerOp({
  name: "blk_queue_enter",
  area: AREA,
  doc: "blk_queue_enter(): a q_usage_counter reference (sleeps while frozen unless nowait)",
  args: [
    { kind: "res", name: "q", res: "queue" },
    { kind: "flag", name: "nowait" },
  ],
  produces: "qref",
  *exec(_x, [v, nowait]) {
    const r = live(v);
    yield* blkQueueEnter(r.q, { nowait: nowait as boolean });
    r.held++;
    return r;
  },
});

registerOp({
  name: "blk_queue_exit",
  area: AREA,
  doc: "blk_queue_exit() of a reference the program holds",
  args: [{ kind: "res", name: "ref", res: "qref", consume: true }],
  *exec(_x, [v]) {
    const r = v as QueueRes;
    r.held--;
    blkQueueExit(r.q);
  },
});

registerOp({
  name: "blk_mq_update_nr_requests",
  area: AREA,
  doc: "blk_mq_update_nr_requests() as the nr_requests store calls it (at least BLKDEV_MIN_RQ)",
  args: [
    { kind: "res", name: "q", res: "queue" },
    { kind: "int", name: "nr", min: 0, max: 600, special: [4, 8, 64, 128] },
  ],
  *exec(_x, [v, nr]) {
    blkMqUpdateNrRequests(live(v).q, Math.max(4, nr as number));
  },
});
