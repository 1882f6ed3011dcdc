// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KernelError } from "../errors.ts";
import { boot, countingOps, dropDisk, inTask, makeDisk, makeSet, readSysfs, writeSysfs } from "./_testkit.ts";
import { blkMqInitQueue, blkMqQueueInvariantViolations, blkMqUpdateNrRequests, blkMqUpdateQueueMap } from "./blk_mq.ts";
import { blkMqHwQueueMapped } from "./hctx.ts";
import { blkCleanupQueue, Q } from "./request_queue.ts";
import { blkMqAllocTagSet, blkMqFreeTagSet, blkMqMapQueue } from "./tag_set.ts";

test("blkMqInitQueue() builds one hctx per hw queue and one ctx per possible CPU, mapped to the online CPUs", () => {
  const k = boot({ cpus: 8, threadsPerCore: 2 });
  const c = countingOps();
  const set = blkMqAllocTagSet(k.block, { ops: c.ops, nrHwQueues: 3, queueDepth: 16, cmdSize: 8 });
  inTask(k, function* () {
    const q = yield* blkMqInitQueue(set);
    assert.is(q.queueHwCtx.length, 3);
    assert.is(q.queueCtx.length, 8);
    assert.equal([...q.mqMap!], [0, 0, 1, 2, 0, 0, 1, 2], "the v4.4 map of 8 CPUs / 4 cores / 3 queues");
    assert.equal(q.queueHwCtx.map((h) => h.cpumask.toArray()), [[0, 1, 4, 5], [2, 6], [3, 7]]);
    assert.equal(q.queueHwCtx[0].ctxs.map((x) => [x.cpu, x.indexHw]), [[0, 0], [1, 1], [4, 2], [5, 3]]);
    assert.equal(q.queueHwCtx.map((h) => h.nextCpu), [0, 2, 3]);
    assert.equal(q.queueHwCtx.map((h) => h.ctxMap!.size), [1, 1, 1]);
    assert.is(c.calls.initHctx, 3);
    // Each flush request: init_request with tag queue_depth + hctx_idx.
    assert.is(c.calls.initRequest, 3 * 16 + 3);
    assert.ok(q.queueHwCtx.every((h) => h.fq !== null && c.live.has(h.fq.flushRq)));
    assert.equal(set.tags!.map((m) => m!.cpumask.toArray()), [[0, 1, 4, 5], [2, 6], [3, 7]]);
    yield* blkCleanupQueue(q);
    assert.is(c.calls.exitHctx, 3);
  });
  blkMqFreeTagSet(set);
  k.run();
  assert.is(c.live.size, 0, "every init_request got its exit_request");
  k.assertClean();
});

test("the queue record points at mq_map, the hctx record addresses and the ctx block; blkMqMapQueue() reads them in the core", () => {
  const k = boot({ cpus: 8, threadsPerCore: 2 });
  const set = makeSet(k, { nrHwQueues: 3 });
  const q = inTask(k, () => blkMqInitQueue(set));
  const dv = k.dv;
  assert.is(dv.getUint32(q.addr + Q.NR_HW_QUEUES, true), 3);
  const hctxs = dv.getUint32(q.addr + Q.QUEUE_HW_CTX, true);
  assert.equal([0, 1, 2].map((i) => dv.getUint32(hctxs + 4 * i, true)), q.queueHwCtx.map((h) => h.addr));
  assert.is(dv.getUint32(q.addr + Q.QUEUE_CTX, true), q.queueCtx[0].addr);
  const map = dv.getUint32(q.addr + Q.MQ_MAP, true);
  assert.is(map, q.mqMapAddr);
  assert.equal(Array.from({ length: 8 }, (_, c) => dv.getUint32(map + 4 * c, true)), [0, 0, 1, 2, 0, 0, 1, 2]);
  for (let cpu = 0; cpu < 8; cpu++) {
    assert.is(k.core.blk_mq_map_queue(q.addr, cpu), q.queueHwCtx[q.mqMap![cpu]].addr);
    assert.is(blkMqMapQueue(q, cpu), q.queueHwCtx[q.mqMap![cpu]]);
  }
  assert.is(k.core.blk_mq_map_queue(q.addr, 8), 0, "past nr_cpu_ids");
  assert.throws(() => blkMqMapQueue(q, 8), RangeError);
  assert.throws(() => blkMqMapQueue(q, -1), RangeError);
  q.mqMap![5] = 2; // the view writes the map in linear memory
  assert.is(blkMqMapQueue(q, 5), q.queueHwCtx[2]);
  q.mqMap![5] = 0;
  assert.throws(() => blkMqUpdateQueueMap(q, 0, 3, k.cpus.onlineMask), RangeError);
  const live = k.slab.liveObjects().filter((o) => o.addr === map || o.addr === hctxs || o.addr === q.addr);
  assert.equal(live.map((o) => o.site).sort(), ["blk_alloc_queue_node", "blk_mq_init_allocated_queue", "blk_mq_make_queue_map"]);
  inTask(k, () => blkCleanupQueue(q));
  assert.is(q.mqMap, null);
  assert.not.ok(k.slab.liveObjects().some((o) => o.addr === map || o.addr === hctxs));
  blkMqFreeTagSet(set);
  k.run();
  k.assertClean();
});

test("unmapped hctxs (4 CPUs, 6 queues) lose their request maps and have no mq/<n> directory", () => {
  const k = boot({ cpus: 4 });
  const set = makeSet(k, { nrHwQueues: 6, queueDepth: 8 });
  const d = inTask(k, () => makeDisk(set, "d0"));
  const q = d.queue!;
  assert.equal([...q.mqMap!], [0, 1, 3, 4]);
  assert.equal(q.queueHwCtx.map(blkMqHwQueueMapped), [true, true, false, true, true, false]);
  assert.equal(set.tags!.map((m) => m !== null), [true, true, false, true, true, false]);
  assert.is(q.queueHwCtx[2].tags, null);
  assert.equal(k.sysfs.ls("/sys/block/d0/mq"), ["0", "1", "3", "4"]);
  inTask(k, () => dropDisk(d, set));
  k.run();
  k.assertClean();
});

test("nr_requests accepts 4..depth (below 4 becomes 4), refuses depth+1 with EINVAL, and resizes every mapped hctx", () => {
  const k = boot({ cpus: 4 });
  const depth = 32;
  const set = makeSet(k, { nrHwQueues: 6, queueDepth: depth });
  const d = inTask(k, () => makeDisk(set, "d0"));
  const q = d.queue!;
  const path = "/sys/block/d0/queue/nr_requests";
  for (let v = 1; v <= depth + 1; v++) {
    const r = writeSysfs(k, path, `${v}\n`);
    if (v > depth) {
      assert.is(r, "EINVAL", `nr_requests=${v}`);
      continue;
    }
    const want = Math.max(v, 4);
    assert.is(r, `${v}\n`.length);
    assert.is(readSysfs(k, path), `${want}\n`);
    for (const h of q.queueHwCtx) if (h.tags !== null) assert.is(h.tags.tags.depth, want);
  }
  assert.is(readSysfs(k, path), `${depth}\n`, "the refused write changed nothing");
  assert.is(writeSysfs(k, path, "abc"), "EINVAL");
  assert.is(writeSysfs(k, path, "4294967296"), "EINVAL");
  inTask(k, () => dropDisk(d, set));
  k.run();
  k.assertClean();
});

test("an unmapped hctx gets a full-depth map back when the mapping changes; nr_requests skipped it meanwhile", () => {
  const k = boot({ cpus: 4 });
  const set = makeSet(k, { nrHwQueues: 6, queueDepth: 16 });
  const d = inTask(k, () => makeDisk(set, "d0"));
  const q = d.queue!;
  inTask(k, function* () {
    yield* k.hotplug.cpuDown(2);
    yield* k.hotplug.cpuDown(3);
  });
  // 2 CPUs online: i * 6 / 2 → CPU 0 → hctx 0, CPU 1 → hctx 3.
  assert.equal(q.queueHwCtx.map(blkMqHwQueueMapped), [true, false, false, true, false, false]);
  assert.equal(k.sysfs.ls("/sys/block/d0/mq"), ["0", "3"]);
  blkMqUpdateNrRequests(q, 8);
  assert.equal(q.queueHwCtx.map((h) => h.tags?.tags.depth ?? null), [8, null, null, 8, null, null]);
  inTask(k, function* () {
    yield* k.hotplug.cpuUp(2);
    yield* k.hotplug.cpuUp(3);
  });
  assert.equal(q.queueHwCtx.map(blkMqHwQueueMapped), [true, true, false, true, true, false]);
  assert.equal(k.sysfs.ls("/sys/block/d0/mq"), ["0", "1", "3", "4"]);
  // v4.4 rebuilds a remapped map at the set's depth, not at nr_requests. Only
  // hctx 0 kept its map: with 3 CPUs online on the way (i * 6 / 3) hctx 3 was
  // unmapped too.
  assert.equal(q.queueHwCtx.map((h) => h.tags?.tags.depth ?? null), [8, 16, null, 16, 16, null]);
  assert.is(readSysfs(k, "/sys/block/d0/queue/nr_requests"), "8\n");
  assert.is(readSysfs(k, "/sys/block/d0/mq/1/tags"), "nr_tags=16, reserved_tags=0, bits_per_word=2\nnr_free=16, nr_reserved=0\nactive_queues=0\n");
  inTask(k, () => dropDisk(d, set));
  k.run();
  k.assertClean();
});

test("blkMqUpdateNrRequests() without a tag set, or above its depth, is EINVAL", () => {
  const k = boot();
  const set = makeSet(k, { nrHwQueues: 1, queueDepth: 8 });
  inTask(k, function* () {
    const q = yield* blkMqInitQueue(set);
    assert.throws(() => blkMqUpdateNrRequests(q, 9), (e: unknown) => e instanceof KernelError && e.code === "EINVAL");
    yield* blkCleanupQueue(q);
  });
  blkMqFreeTagSet(set);
  k.run();
  k.assertClean();
});

test("a failing init_hctx fails the queue with ENOMEM and undoes every hctx before it", () => {
  const k = boot();
  const c = countingOps({ initHctx: 2 });
  const set = blkMqAllocTagSet(k.block, { ops: c.ops, nrHwQueues: 4, queueDepth: 8 });
  let err: unknown;
  inTask(k, function* () {
    try {
      yield* blkMqInitQueue(set);
    } catch (e) {
      err = e;
    }
  });
  assert.ok(err instanceof KernelError && err.code === "ENOMEM");
  assert.is(c.calls.initHctx, 3);
  assert.is(c.calls.exitHctx, 2, "hctx 0 and 1");
  assert.is(k.block.allQList.length, 0);
  assert.is(k.block.nrCpuNotifiers, 0);
  assert.equal(set.tagList, []);
  blkMqFreeTagSet(set);
  k.run();
  assert.is(c.live.size, 0);
  k.assertClean();
});

test("a failing init_request of the flush request fails the queue the same way", () => {
  const k = boot({ cpus: 1 });
  const c = countingOps({ initRequest: 8 + 2 }); // 8 tag requests, hctx 0's flush, then hctx 1's flush
  const set = blkMqAllocTagSet(k.block, { ops: c.ops, nrHwQueues: 2, queueDepth: 4 });
  let err: unknown;
  inTask(k, function* () {
    try {
      yield* blkMqInitQueue(set);
    } catch (e) {
      err = e;
    }
  });
  assert.ok(err instanceof KernelError && err.code === "ENOMEM");
  blkMqFreeTagSet(set);
  k.run();
  assert.is(c.live.size, 0);
  k.assertClean();
});

test("blkMqQueueInvariantViolations() is empty for a sound queue and names what is broken", () => {
  const k = boot({ cpus: 4 });
  const set = makeSet(k, { nrHwQueues: 2 });
  const d = inTask(k, () => makeDisk(set, "d0"));
  const q = d.queue!;
  assert.equal(blkMqQueueInvariantViolations(q), []);
  q.queueHwCtx[1].cpumask.set(0);
  q.queueHwCtx[0].setShared(true);
  const v = blkMqQueueInvariantViolations(q);
  assert.ok(v.some((x) => x.startsWith("cpu 0 is not attached to hctx 0 alone")), v.join("\n"));
  assert.ok(v.some((x) => x.includes("nr_ctx 2 but 3 CPUs")));
  assert.ok(v.some((x) => x.includes("TAG_SHARED")));
  assert.ok(blkMqQueueInvariantViolations(q, q.queueHwCtx[0].cpumask).length > 0);
  q.queueHwCtx[1].cpumask.clear(0);
  q.queueHwCtx[0].setShared(false);
  assert.equal(blkMqQueueInvariantViolations(q), []);
  inTask(k, () => dropDisk(d, set));
  k.run();
  k.assertClean();
});

test.run();
