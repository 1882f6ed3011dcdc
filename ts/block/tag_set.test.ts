// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { boot, codeOf, countingOps, dropDisk, inTask, makeDisk, makeSet } from "./_testkit.ts";
import { blkMqInitQueue } from "./blk_mq.ts";
import { blkCleanupQueue } from "./request_queue.ts";
import { blkMqRqToPdu, REQUEST_SIZE, requestRecordSize } from "./request_record.ts";
import { blkMqAllocTagSet, blkMqFreeTagSet, blkMqMapQueue } from "./tag_set.ts";
import { BLK_MQ_MAX_DEPTH } from "./tags.ts";

test("blkMqAllocTagSet() refuses what v4.4 refuses with EINVAL", () => {
  const k = boot();
  const ops = countingOps().ops;
  const alloc = (o: object) => () => blkMqAllocTagSet(k.block, { ops, nrHwQueues: 1, queueDepth: 4, ...o });
  assert.is(codeOf(alloc({ nrHwQueues: 0 })), "EINVAL");
  assert.is(codeOf(alloc({ queueDepth: 0 })), "EINVAL");
  assert.is(codeOf(alloc({ queueDepth: 4, reservedTags: 4 })), "EINVAL", "queue_depth < reserved_tags + 1");
  assert.is(codeOf(alloc({ ops: { mapQueue: blkMqMapQueue } })), "EINVAL", "no queue_rq");
  assert.is(codeOf(alloc({ ops: { queueRq: () => 0 } })), "EINVAL", "no map_queue");
  assert.throws(alloc({ nrHwQueues: -1 }), (e: unknown) => e instanceof RangeError);
  assert.throws(alloc({ queueDepth: 1.5 }), (e: unknown) => e instanceof RangeError);
  assert.throws(() => blkMqAllocTagSet(k.block, null as never), (e: unknown) => e instanceof TypeError);
  k.assertClean();
});

test("a depth above BLK_MQ_MAX_DEPTH is capped with the kernel's line", () => {
  const k = boot({ cpus: 1 });
  const set = makeSet(k, { nrHwQueues: 1, queueDepth: 20000 });
  assert.is(set.queueDepth, BLK_MQ_MAX_DEPTH);
  assert.is(set.tags![0]!.nrTags, BLK_MQ_MAX_DEPTH);
  assert.ok(k.log.lines().some((l) => l.endsWith("blk-mq: reduced tag depth to 10240")));
  blkMqFreeTagSet(set);
  k.assertClean();
});

test("nr_hw_queues is not capped to the CPUs (v4.4): a map for every index", () => {
  const k = boot({ cpus: 2 });
  const set = makeSet(k, { nrHwQueues: 5 });
  assert.is(set.tags!.length, 5);
  assert.ok(set.tags!.every((m) => m !== null));
  blkMqFreeTagSet(set);
  k.assertClean();
});

test("request records are rq_size = round_up(128 + cmd_size, 64) apart, zeroed, and each is init_request'ed", () => {
  const k = boot();
  const { ops, calls, live } = countingOps();
  const set = blkMqAllocTagSet(k.block, { ops, nrHwQueues: 3, queueDepth: 100, cmdSize: 152 });
  assert.is(requestRecordSize(152), 320);
  assert.is(requestRecordSize(0), REQUEST_SIZE);
  assert.is(calls.initRequest, 300);
  const m = set.tags![1]!;
  assert.is(m.rqSize, 320);
  const rqs = Array.from({ length: 100 }, (_, i) => m.rq(i));
  assert.is(new Set(rqs).size, 100);
  // 100 × 320 = 32000 bytes: one order-3 block (32 KiB) holds all of them, in order.
  assert.is(m.pages.length, 1);
  rqs.forEach((rq, i) => assert.is(rq, m.pages[0] + i * 320));
  assert.is(blkMqRqToPdu(rqs[0]), rqs[0] + 128);
  assert.ok(new Uint8Array(k.core.memory.buffer, rqs[0], 320).every((b) => b === 0));
  blkMqFreeTagSet(set);
  assert.is(calls.exitRequest, 300);
  assert.is(live.size, 0);
  assert.is(set.tags, null);
  assert.throws(() => blkMqFreeTagSet(set), (e: unknown) => e instanceof RangeError);
  k.assertClean();
});

test("large maps come in order-4 blocks with smaller blocks for the rest", () => {
  const k = boot({ cpus: 1 });
  const set = makeSet(k, { nrHwQueues: 1, queueDepth: 1000, cmdSize: 0 });
  const m = set.tags![0]!;
  // 1000 × 128 = 128000 bytes: order 4 (64 KiB, 512 records) then 62976 bytes: order 4 again.
  assert.is(m.pages.length, 2);
  blkMqFreeTagSet(set);
  k.assertClean();
});

test("a failing allocation halves the depth and says so; a hopeless one is ENOMEM", () => {
  const k = boot({ cpus: 1 });
  const c = countingOps({ initRequest: 10 });
  const set = blkMqAllocTagSet(k.block, { ops: c.ops, nrHwQueues: 2, queueDepth: 64 });
  assert.is(set.queueDepth, 32);
  assert.ok(k.log.lines().some((l) => l.endsWith("blk-mq: reduced tag depth (64 -> 32)")));
  assert.is(c.live.size, 64, "the failed attempt's records were exit_request'ed");
  blkMqFreeTagSet(set);
  const d = countingOps();
  d.ops.initRequest = () => -12;
  assert.is(codeOf(() => blkMqAllocTagSet(k.block, { ops: d.ops, nrHwQueues: 1, queueDepth: 8 })), "ENOMEM");
  assert.ok(k.log.lines().some((l) => l.endsWith("blk-mq: failed to allocate request map")));
  k.assertClean();
});

test("a second queue makes the set shared: the first is frozen and flagged; the last one leaving unshares", () => {
  const k = boot({ cpus: 2, rcuGpNs: 1_000_000 });
  const set = makeSet(k, { nrHwQueues: 2 });
  inTask(k, function* () {
    const a = yield* blkMqInitQueue(set);
    assert.not.ok(set.shared);
    assert.ok(a.queueHwCtx.every((h) => !h.tagHctx!.shared));
    const freezesA = a.qUsageCounter.releases;
    const b = yield* blkMqInitQueue(set);
    assert.ok(set.shared);
    assert.is(a.qUsageCounter.releases, freezesA + 1, "queue a was frozen once");
    for (const q of [a, b]) assert.ok(q.queueHwCtx.every((h) => h.tagHctx!.shared && (h.flags & 2) !== 0));
    const c = yield* blkMqInitQueue(set);
    assert.is(a.qUsageCounter.releases, freezesA + 1, "joining a shared set freezes nobody (v4.4)");
    assert.ok(c.queueHwCtx.every((h) => h.tagHctx!.shared));
    yield* blkCleanupQueue(c);
    assert.ok(set.shared, "two queues remain");
    const freezesB = b.qUsageCounter.releases;
    yield* blkCleanupQueue(a);
    assert.not.ok(set.shared);
    assert.is(b.qUsageCounter.releases, freezesB + 1, "the remaining queue was frozen to unshare");
    assert.ok(b.queueHwCtx.every((h) => !h.tagHctx!.shared && (h.flags & 2) === 0));
    yield* blkCleanupQueue(b);
  });
  blkMqFreeTagSet(set);
  k.run();
  k.assertClean();
});

test("the unshare of a registered queue costs one grace period; of an unregistered one none", () => {
  for (const register of [false, true]) {
    const k = boot({ cpus: 2, rcuGpNs: 1_000_000 });
    const set = makeSet(k, { nrHwQueues: 1 });
    let took = -1;
    inTask(k, function* () {
      const d0 = register ? yield* makeDisk(set, "d0") : null;
      const q0 = d0?.queue ?? (yield* blkMqInitQueue(set));
      const t0 = k.clock.now();
      const q1 = yield* blkMqInitQueue(set); // 1 → 2: q0 is frozen
      took = k.clock.now() - t0;
      yield* blkCleanupQueue(q1);
      if (d0 !== null) yield* dropDisk(d0);
      else yield* blkCleanupQueue(q0);
    });
    assert.is(took, register ? 1_000_000 : 0);
    blkMqFreeTagSet(set);
    k.run();
    k.assertClean();
  }
});

test.run();
