// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KernelError } from "../errors.ts";
import { CPU_UP_PREPARE, notifierFromErrno, NOTIFY_OK } from "../kernel/cpu.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { FAILSLAB } from "../kernel/slab.ts";
import { Prng, sleep } from "../kernel/sched.ts";
import { boot, dropDisk, inTask, makeDisk, makeSet } from "./_testkit.ts";
import { blkMqQueueInvariantViolations } from "./blk_mq.ts";
import { delGendisk, type Gendisk, putDisk } from "./genhd.ts";
import { blkMqHctxHasPending, blkMqHwQueueMapped } from "./hctx.ts";
import { blkCleanupQueue, blkQueueEnter, blkQueueExit, type RequestQueue } from "./request_queue.ts";
import { RQ } from "./request_record.ts";
import { blkMqMapQueue, type BlkMqTagSet } from "./tag_set.ts";
import { listAdd, listDelInit } from "./_rq_list.ts";

const GP = 1_000_000;

/** The queue is consistent, and its mq/ directories are those of its mapped hctxs. */
function checkMapping(k: Kernel, q: RequestQueue, disk: Gendisk | null): void {
  assert.equal(blkMqQueueInvariantViolations(q), []);
  if (disk !== null && q.mqSysfsInitDone) {
    const want = q.queueHwCtx.filter((h) => blkMqHwQueueMapped(h)).map((h) => `${h.queueNum}`).sort();
    assert.equal(k.sysfs.ls(`/sys/block/${disk.diskName}/mq`), want);
  }
}

test("at CPU_UP_PREPARE the arriving CPU is already mapped, before it can queue I/O", () => {
  const k = boot({ cpus: 4 });
  const set = makeSet(k, { nrHwQueues: 4 });
  inTask(k, () => k.hotplug.cpuDown(3));
  const d = inTask(k, () => makeDisk(set, "d0"));
  const q = d.queue!;
  let seen: number[] | null = null;
  k.cpus.hotcpuNotifier((action, cpu) => {
    if (action === CPU_UP_PREPARE && cpu === 3) seen = q.queueHwCtx[q.mqMap![3]].cpumask.toArray();
    return NOTIFY_OK;
  }, -1, "observer");
  inTask(k, () => k.hotplug.cpuUp(3));
  assert.equal(seen, [3]);
  checkMapping(k, q, d);
  inTask(k, () => dropDisk(d, set));
  k.run();
  k.assertClean();
});

test("the mq_map in linear memory follows each remap, and blkMqMapQueue() with it", () => {
  const k = boot({ cpus: 4 });
  const set = makeSet(k, { nrHwQueues: 2 });
  const d = inTask(k, () => makeDisk(set, "d0"));
  const q = d.queue!;
  const map = q.mqMapAddr;
  const inMemory = () => [0, 1, 2, 3].map((c) => k.dv.getUint32(map + 4 * c, true));
  assert.equal(inMemory(), [0, 0, 1, 1]);
  inTask(k, () => k.hotplug.cpuDown(1));
  assert.is(q.mqMapAddr, map, "remapped in place");
  assert.equal(inMemory(), [0, 0, 0, 1], "CPUs 0, 2, 3 online: CPU 2 moves to queue 0 (an offline CPU maps to 0)");
  assert.equal([...q.mqMap!], inMemory());
  for (const cpu of [0, 2, 3]) assert.ok(blkMqMapQueue(q, cpu).cpumask.test(cpu), `cpu ${cpu} maps to the hctx it is attached to`);
  inTask(k, () => k.hotplug.cpuDown(2));
  inTask(k, () => k.hotplug.cpuUp(1));
  assert.equal(inMemory(), [0, 0, 0, 1]);
  inTask(k, () => k.hotplug.cpuUp(2));
  assert.equal(inMemory(), [0, 0, 1, 1], "all four online again: the boot map");
  for (let cpu = 0; cpu < 4; cpu++) assert.ok(blkMqMapQueue(q, cpu).cpumask.test(cpu));
  checkMapping(k, q, d);
  inTask(k, () => dropDisk(d, set));
  k.run();
  k.assertClean();
});

test("a vetoed cpu_up (CPU_UP_CANCELED) maps the queues back to the CPUs that stay online", () => {
  const k = boot({ cpus: 4 });
  const set = makeSet(k, { nrHwQueues: 4 });
  inTask(k, () => k.hotplug.cpuDown(2));
  const d = inTask(k, () => makeDisk(set, "d0"));
  const q = d.queue!;
  const before = [...q.mqMap!];
  k.cpus.hotcpuNotifier((action, cpu) => (action === CPU_UP_PREPARE && cpu === 2 ? notifierFromErrno("EBUSY") : NOTIFY_OK), -1, "veto");
  assert.throws(() => inTask(k, () => k.hotplug.cpuUp(2)), (e: unknown) => e instanceof KernelError && e.code === "EBUSY");
  assert.equal([...q.mqMap!], before);
  checkMapping(k, q, d);
  inTask(k, () => dropDisk(d, set));
  k.run();
  k.assertClean();
});

test("at CPU_DEAD the dead CPU's queued requests move to the current CPU's ctx", () => {
  const k = boot({ cpus: 4 });
  const set = makeSet(k, { nrHwQueues: 2 });
  const d = inTask(k, () => makeDisk(set, "d0"));
  const q = d.queue!;
  const rqs = [set.tags![1]!.rq(0), set.tags![1]!.rq(1)];
  const dead = q.queueCtx[3];
  for (const rq of rqs) listAdd(k, rq, dead.rqListHead, true);
  let cur = -1;
  k.sched.spawn("hotplug", function* () {
    cur = k.sched.smpProcessorId();
    yield* k.hotplug.cpuDown(3);
  }, { cpu: 0, bound: true });
  k.run();
  assert.is(cur, 0);
  assert.equal(dead.rqList, []);
  assert.equal(q.queueCtx[0].rqList, rqs);
  const mem = new DataView(k.core.memory.buffer);
  for (const rq of rqs) assert.is(mem.getInt32(rq + RQ.MQ_CTX, true), 0, "rq->mq_ctx rewritten");
  assert.ok(blkMqHctxHasPending(q.queueHwCtx[q.mqMap![0]]));
  for (const rq of rqs) listDelInit(k, rq);
  inTask(k, () => dropDisk(d, set));
  k.run();
  k.assertClean();
});

test("hotplug freezes every queue at once: N registered queues cost one grace period per event, not N", () => {
  const cost = (n: number) => {
    const k = boot({ cpus: 4, rcuGpNs: GP });
    const sets: BlkMqTagSet[] = [];
    const disks: Gendisk[] = [];
    inTask(k, function* () {
      for (let i = 0; i < n; i++) {
        const s = makeSet(k, { nrHwQueues: 2 });
        sets.push(s);
        disks.push(yield* makeDisk(s, `d${i}`));
      }
    });
    let took = 0;
    inTask(k, function* () {
      const t0 = k.clock.now();
      yield* k.hotplug.cpuDown(2);
      yield* k.hotplug.cpuUp(2);
      took = k.clock.now() - t0;
    });
    inTask(k, function* () {
      for (let i = 0; i < n; i++) yield* dropDisk(disks[i], sets[i]);
    });
    k.run();
    k.assertClean();
    return took;
  };
  const base = cost(0);
  assert.is(cost(1) - base, 2 * GP, "CPU_DEAD and CPU_UP_PREPARE each freeze once");
  assert.is(cost(5) - base, 2 * GP, "the five queues' grace periods overlap");
});

test("registration, hotplug cycles, unregistration and cleanup leave nothing behind (8515736604)", () => {
  const k = boot({ cpus: 4 });
  const set = makeSet(k, { nrHwQueues: 3 });
  const d = inTask(k, () => makeDisk(set, "d0"));
  inTask(k, function* () {
    for (const c of [1, 2, 3, 1, 2]) {
      yield* k.hotplug.cpuDown(c);
      checkMapping(k, d.queue!, d);
      yield* k.hotplug.cpuUp(c);
      checkMapping(k, d.queue!, d);
    }
    yield* k.hotplug.cpuDown(2); // offline at unregistration: its ctx kobject is never put by v4.4's unregister
    yield* dropDisk(d, set);
    yield* k.hotplug.cpuUp(2);
  });
  k.run();
  k.assertClean();
});

test("a slab failure in the hotplug remap leaves the hctx without tags (v4.4's WARN) and all_q_mutex free: the next cpu_up works (fuzzer find)", () => {
  let warned = 0;
  for (let nth = 1; nth <= 16; nth++) {
    const k = boot({ cpus: 4 });
    const set = makeSet(k, { nrHwQueues: 4 });
    const d = inTask(k, () => makeDisk(set, "d0"));
    k.slab.failNth(FAILSLAB, nth);
    for (const ev of [() => k.hotplug.cpuDown(1), () => k.hotplug.cpuUp(1)]) {
      try {
        inTask(k, ev);
      } catch (e) {
        if (!(e instanceof KernelError)) throw e; // a notifier's own allocation may veto the event
      }
    }
    k.slab.failNth(FAILSLAB, 0);
    assert.is(k.block.allQMutex.owner, null, `nth=${nth}: all_q_mutex released`);
    inTask(k, function* () {
      if (!k.cpus.cpuOnline(1)) yield* k.hotplug.cpuUp(1);
      yield* k.hotplug.cpuDown(2);
      yield* k.hotplug.cpuUp(2);
    });
    assert.equal(blkMqQueueInvariantViolations(d.queue!), [], `nth=${nth}: the later remaps repair the queue`);
    if (k.log.text().includes("WARN_ON(!hctx->tags)")) warned++;
    inTask(k, () => dropDisk(d, set));
    k.run();
    assert.is(k.liveObjects(), 0, `nth=${nth}`);
  }
  assert.ok(warned > 0, "some nth hit the remap's allocation");
});

/**
 * A storm: random CPUs go down and up while disks (each with its own tag
 * set, as null_blk makes them) come and go, sysfs is read and submitters
 * enter and leave the queues. Everything must end consistent,
 * lockdep-silent and leak-free.
 */
function storm(seed: number): void {
  const k = boot({ cpus: 4, seed, rcuGpNs: 200_000 });
  const rnd = new Prng(seed);
  let stop = false;
  const live = new Map<string, Gendisk>();
  k.sched.spawn("hotplug", function* () {
    for (let i = 0; i < 12; i++) {
      const c = 1 + rnd.below(3);
      try {
        if (k.cpus.cpuOnline(c)) yield* k.hotplug.cpuDown(c);
        else yield* k.hotplug.cpuUp(c);
      } catch (e) {
        if (!(e instanceof KernelError)) throw e;
      }
      for (const d of live.values()) if (!d.queue!.dying) checkMapping(k, d.queue!, null);
      yield sleep(rnd.below(500_000));
    }
    stop = true;
  });
  for (const name of ["a", "b", "c"]) {
    k.sched.spawn(`udev-${name}`, function* () {
      for (let i = 0; !stop; i++) {
        const set = makeSet(k, { nrHwQueues: 1 + rnd.below(6), queueDepth: 16 });
        const d = yield* makeDisk(set, `${name}${i}`);
        live.set(d.diskName, d);
        yield sleep(rnd.below(800_000));
        live.delete(d.diskName);
        yield* dropDisk(d, set);
      }
    });
  }
  k.sched.spawn("cat", function* () {
    while (!stop) {
      for (const d of [...live.values()]) {
        for (const f of ["mq/0/cpu_list", "mq/0/tags", "queue/nr_requests"]) {
          try {
            yield* k.sysfs.read(`/sys/block/${d.diskName}/${f}`);
          } catch (e) {
            if (!(e instanceof KernelError)) throw e;
          }
        }
      }
      yield sleep(100_000);
    }
  });
  k.sched.spawn("dd", function* () {
    while (!stop) {
      const d = [...live.values()][0];
      if (d !== undefined && !d.queue!.dying) {
        try {
          yield* blkQueueEnter(d.queue!);
          yield sleep(rnd.below(300_000));
          blkQueueExit(d.queue!);
        } catch (e) {
          if (!(e instanceof KernelError && e.code === "ENODEV")) throw e;
        }
      }
      yield sleep(50_000);
    }
  });
  const r = k.run();
  assert.is(r.kind, "done", `seed ${seed}: ${r.kind}`);
  assert.ok(k.log.isClean(), `seed ${seed}:\n${k.log.findings().join("\n")}`);
  assert.is(k.block.allQList.length, 0);
  k.assertClean();
}

for (const seed of [1, 2, 3, 4, 5]) {
  test(`a hotplug storm with disks coming and going, readers and submitters stays consistent (seed ${seed})`, () => storm(seed));
}

test("v4.4's shared-set window: a queue torn down while a remap of its set is in progress wakes freed tags (KASAN)", () => {
  // Three queues share a set. Hotplug unmaps hctx 3: the first queue's remap
  // frees set->tags[3]; the second's sysfs removal waits for a slow reader;
  // meanwhile the third queue (unregistered already) is cleaned up, and
  // blk_mq_wake_waiters() still sees its hctx 3 mapped to the freed map.
  const k = boot({ cpus: 4, rcuGpNs: GP });
  const set = makeSet(k, { nrHwQueues: 4, queueDepth: 8 });
  const [a, c, b] = inTask(k, function* () {
    return [yield* makeDisk(set, "a"), yield* makeDisk(set, "c"), yield* makeDisk(set, "b")];
  });
  inTask(k, () => delGendisk(b));
  const h = c.queue!.queueHwCtx[0];
  k.sysfs.createFiles(h.kobj, h, [{ name: "slow", mode: 0o444, *show() {
    yield sleep(10 * GP);
    return 0;
  } }]);
  k.sched.spawn("cat", function* () {
    yield* k.sysfs.read("/sys/block/c/mq/0/slow");
  });
  k.sched.spawn("hotplug", function* () {
    yield* k.hotplug.cpuDown(3);
  });
  k.sched.spawn("teardown", function* () {
    yield sleep(5 * GP);
    yield* blkCleanupQueue(b.queue!);
    putDisk(b);
  });
  assert.is(k.run().kind, "done");
  assert.ok(k.log.lines().some((l) => l.includes("BUG: KASAN: use-after-free in blk_mq_tag_wakeup_all")));
  inTask(k, function* () {
    yield* dropDisk(c);
    yield* dropDisk(a, set);
  });
  k.run();
  assert.is(k.liveObjects(), 0);
});

test("a mapping checked in the middle of a storm is consistent", () => {
  const k = boot({ cpus: 4, seed: 9 });
  const set = makeSet(k, { nrHwQueues: 6 });
  const d = inTask(k, () => makeDisk(set, "d0"));
  const rnd = new Prng(9);
  inTask(k, function* () {
    for (let i = 0; i < 10; i++) {
      const c = 1 + rnd.below(3);
      if (k.cpus.cpuOnline(c)) yield* k.hotplug.cpuDown(c);
      else yield* k.hotplug.cpuUp(c);
      checkMapping(k, d.queue!, d);
    }
  });
  inTask(k, () => dropDisk(d, set));
  k.run();
  k.assertClean();
});

test.run();
