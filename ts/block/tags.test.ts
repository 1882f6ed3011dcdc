// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KernelBug, KernelError } from "../errors.ts";
import { VirtualClock } from "../kernel/clock.ts";
import { Cpus } from "../kernel/cpu.ts";
import { Klog } from "../kernel/klog.ts";
import { Lockdep } from "../kernel/lockdep.ts";
import { Scheduler, type Task } from "../kernel/sched.ts";
import { Softirq } from "../kernel/softirq.ts";
import { TimerBase } from "../kernel/timer.ts";
import { type CoreExports, type CoreVariant, instantiateCore } from "../wasm/core.ts";
import {
  BLK_MQ_TAG_FAIL,
  BlkMqTags,
  getTagWait,
  kmallocTagMemory,
  type TagAllocData,
  type TagHctx,
  TagWaiter,
  tagSetDepth,
} from "./tags.ts";
import { getMany, tagsTestbed, testMemory } from "./_tags_testkit.ts";

// ---- helpers ---------------------------------------------------------------

const setup = (variant: CoreVariant = "debug") => tagsTestbed({ variant });

/** mulberry32: a seeded PRNG for property tests. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A hook that must not run. */
function never(what: string): never {
  assert.unreachable(what);
  throw new Error(what);
}

const isKernelError = (code: string) => (e: unknown) => e instanceof KernelError && e.code === code;
const isRangeError = (e: unknown) => e instanceof RangeError;

// ---- depth rules and geometry ---------------------------------------------

test("tagSetDepth() applies blk_mq_alloc_tag_set()'s depth rules", () => {
  const { core } = setup();
  assert.throws(() => tagSetDepth(core, 0, 0), isKernelError("EINVAL"));
  assert.throws(() => tagSetDepth(core, 4, 4), isKernelError("EINVAL"));
  assert.is(tagSetDepth(core, 5, 4), 5);
  assert.is(tagSetDepth(core, 64), 64);
  assert.is(tagSetDepth(core, 20000, 1), 10240);
  assert.throws(() => tagSetDepth(core, 20000, 15000), isKernelError("ENOMEM"));
  assert.throws(() => tagSetDepth(core, -1), isRangeError);
});

test("a map of depth 64 has shift 4, 4 words of 16 and wake_cnt 8", () => {
  const s = setup();
  const b = s.make({ depth: 64 }).bitmap();
  assert.equal([b.shift, b.mapNr, b.wordDepths, b.wakeBatch, b.free], [4, 4, [16, 16, 16, 16], 8, 64]);
  s.done();
});

test("a map of depth 31 has shift 2, 8 words (the last holding 3) and wake_cnt 3", () => {
  const s = setup();
  const b = s.make({ depth: 31 }).bitmap();
  assert.equal([b.shift, b.mapNr, b.wordDepths, b.wakeBatch], [2, 8, [4, 4, 4, 4, 4, 4, 4, 3], 3]);
  s.done();
});

test("a map of depth 4 has shift 0 and 4 one-bit words; below 4 the shift stays 6", () => {
  const s = setup();
  const b4 = s.make({ depth: 4 }).bitmap();
  assert.equal([b4.shift, b4.mapNr, b4.wordDepths, b4.wakeBatch], [0, 4, [1, 1, 1, 1], 1]);
  const b3 = s.make({ depth: 3 }).bitmap();
  assert.equal([b3.shift, b3.mapNr, b3.wordDepths], [6, 1, [3]]);
  const b100 = s.make({ depth: 100 }).bitmap();
  assert.equal([b100.shift, b100.mapNr, b100.wordDepths.at(-1), b100.wakeBatch], [4, 7, 4, 8]);
  const b1024 = s.make({ depth: 1024 }).bitmap();
  assert.equal([b1024.shift, b1024.mapNr], [6, 16]);
  s.done();
});

test("reserved tags are numbered 0..reserved-1 in their own bitmap, normal tags from reserved on", () => {
  const s = setup();
  const t = s.make({ depth: 8, reserved: 2 });
  assert.equal([t.nrTags, t.nrReserved, t.depth], [8, 2, 6]);
  assert.equal([t.bitmap(true).depth, t.bitmap(true).shift, t.bitmap(true).mapNr], [2, 6, 1]);
  const res = [t.getTag(0, { reserved: true }), t.getTag(0, { reserved: true }), t.getTag(0, { reserved: true })];
  assert.equal(res, [0, 1, BLK_MQ_TAG_FAIL]);
  const normal = getMany(t, 7);
  assert.equal(normal, [2, 3, 4, 5, 6, 7, BLK_MQ_TAG_FAIL]);
  assert.is(t.bitmap().used, 6);
  assert.is(t.bitmap(true).used, 2);
  for (const tag of [...res.slice(0, 2), ...normal.slice(0, 6)]) t.putTag(0, tag);
  s.done();
});

test("getTag() of a reserved tag returns -1 when the map has none", () => {
  const s = setup();
  const t = s.make({ depth: 8 });
  assert.is(t.getTag(0, { reserved: true }), BLK_MQ_TAG_FAIL);
  s.done();
});

// ---- hint rules ------------------------------------------------------------

test("putTag() with FIFO makes the freed bit the ctx's hint, so that ctx reuses it first", () => {
  const s = setup();
  const t = s.make({ depth: 64, nrCtx: 2 });
  const got = getMany(t, 4);
  assert.equal(got, [0, 1, 2, 3]);
  assert.is(t.hint(0), 4);
  t.putTag(1, 2);
  assert.is(t.hint(1), 2);
  assert.is(t.hint(0), 4, "the other ctx's hint is untouched");
  assert.is(t.getTag(1), 2);
  assert.is(t.hint(1), 3, "the tag equalled the hint: hint = tag + 1");
  assert.is(t.getTag(0), 4);
  for (const tag of [0, 1, 2, 3, 4]) t.putTag(0, tag);
  s.done();
});

test("getTag() moves the hint only when the tag equals the starting hint", () => {
  const s = setup();
  const t = s.make({ depth: 64 });
  getMany(t, 6); // 0..5, hint 6
  t.putTag(0, 2); // hint 2
  assert.is(t.getTag(0), 2);
  assert.is(t.hint(0), 3);
  assert.is(t.getTag(0), 6, "bits 3-5 are taken: the search moves on within the word");
  assert.is(t.hint(0), 3, "6 != 3: the hint stays");
  for (let tag = 0; tag <= 6; tag++) t.putTag(0, tag);
  s.done();
});

test("getTag() wraps the hint to 0 once tag + 1 >= depth - 1", () => {
  const s = setup();
  const t = s.make({ depth: 64 });
  t.setHint(0, 61);
  assert.is(t.getTag(0), 61);
  assert.is(t.hint(0), 62);
  assert.is(t.getTag(0), 62);
  assert.is(t.hint(0), 0, "63 >= 63");
  t.putTag(0, 61);
  t.putTag(0, 62);
  s.done();
});

test("a failed getTag() sets the hint to 0", () => {
  const s = setup();
  const t = s.make({ depth: 4 });
  const got = getMany(t, 4);
  t.setHint(0, 2);
  assert.is(t.getTag(0), BLK_MQ_TAG_FAIL);
  assert.is(t.hint(0), 0);
  for (const tag of got) t.putTag(0, tag);
  s.done();
});

test("the in-word restart from bit 0 happens in the first word only, and never for RR", () => {
  for (const policy of ["fifo", "rr"] as const) {
    const s = setup();
    const t = s.make({ depth: 64, policy });
    t.setHint(0, 0);
    const word0 = getMany(t, 16); // fills word 0 (RR moves the hint along)
    t.putTag(0, 3); // FIFO: hint 3; RR: hint untouched
    t.setHint(0, 8);
    const tag = t.getTag(0);
    if (policy === "fifo") {
      assert.is(tag, 3, "fifo: nothing in 8..15, restart at 0 finds 3");
      assert.is(t.hint(0), 8, "3 != 8: hint unchanged");
    } else {
      assert.is(tag, 16, "rr: bit 3 lies below the offset and is skipped");
      assert.is(t.hint(0), 17, "rr always moves the hint");
    }
    for (const x of word0) if (x !== 3) t.putTag(0, x);
    t.putTag(0, tag);
    s.done();
  }
});

test("RR does not touch the hint on putTag()", () => {
  const s = setup();
  const t = s.make({ depth: 64, policy: "rr" });
  const got = getMany(t, 3);
  assert.is(t.hint(0), 3);
  t.putTag(0, got[0]);
  assert.is(t.hint(0), 3);
  assert.is(t.getTag(0), 3, "rr keeps going forward");
  for (const tag of [1, 2, 3]) t.putTag(0, tag);
  s.done();
});

test("the search wraps from the last word back to word 0", () => {
  const s = setup();
  const t = s.make({ depth: 64 });
  const all = getMany(t, 64);
  t.putTag(0, 5);
  t.setHint(0, 50);
  assert.is(t.getTag(0), 5);
  for (const tag of all) t.putTag(0, tag);
  s.done();
});

test("v4.4 reserved allocations always search from a zero hint", () => {
  const s = setup();
  const t = s.make({ depth: 16, reserved: 4 });
  assert.equal([0, 1, 2].map(() => t.getTag(0, { reserved: true })), [0, 1, 2]);
  t.putTag(0, 0);
  t.putTag(0, 2);
  assert.is(t.getTag(0, { reserved: true }), 0);
  assert.is(t.getTag(0, { reserved: true }), 2);
  assert.is(t.hint(0), 0, "the normal hint is untouched");
  for (const tag of [0, 1, 2]) t.putTag(0, tag);
  s.done();
});

test("a lost test-and-set race continues at bit + 1, reset to 0 at word depth - 1 (debug injection)", () => {
  const s = setup();
  const t = s.make({ depth: 64 });
  const word0 = getMany(t, 16);
  for (const b of [3, 12, 13, 14, 15]) t.putTag(0, b);
  // Lost race on 12: continue at 13.
  t.setHint(0, 12);
  assert.is(s.core.tags_debug_race(1 << 12, 0), 0);
  assert.is(t.getTag(0), 13);
  assert.is(t.hint(0), 12, "13 != the starting hint 12");
  // Lost race on 14: 15 >= 16 - 1, so the scan restarts at 0 and finds 3, not 15.
  t.setHint(0, 14);
  s.core.tags_debug_race(1 << 14, 0);
  assert.is(t.getTag(0), 3);
  assert.ok(t.isAllocated(12) && t.isAllocated(14), "the racing 'CPU' holds 12 and 14");
  for (const x of word0) if (x !== 15) t.putTag(0, x);
  s.done();
  const r = setup("release");
  assert.is(r.core.tags_debug_race(1, 0), -38, "release builds have no injection");
});

// ---- wake batching -----------------------------------------------------------

/** A full map with one waiter on each of the 8 queues (taken round-robin from an hctx). */
function fullWithWaiters(s: ReturnType<typeof setup>, depth: number) {
  const t = s.make({ depth });
  const held = getMany(t, depth);
  const h = t.createHctx();
  const waiters: TagWaiter[] = [];
  for (let i = 0; i < 8; i++) {
    const w = new TagWaiter(`task${i}`);
    const q = t.waitQueue(h);
    assert.is(q, i, "hctx->wait_index hands out the queues round-robin");
    t.prepareToWait(w, q);
    waiters.push(w);
  }
  return { t, held, waiters };
}

test("every wake_cnt frees wake one whole wait queue, round-robin from wake_index", () => {
  const s = setup();
  const { t, held, waiters } = fullWithWaiters(s, 64);
  assert.is(t.bitmap().waiting, 8);
  const masks = held.map((tag) => t.putTag(0, tag));
  for (let i = 0; i < 64; i++) {
    assert.is(masks[i], (i + 1) % 8 === 0 ? 1 << ((i + 1) / 8 - 1) : 0, `put #${i + 1}`);
  }
  assert.equal(s.woken.map((w) => w.task), waiters.map((w) => w.task));
  assert.ok(waiters.every((w) => w.woken && w.queue === -1));
  for (let q = 0; q < 8; q++) assert.equal(t.waitQueueState(q), { waitCnt: 8, waiters: 0 });
  for (const w of waiters) t.finishWait(w);
  assert.is(t.bitmap().waiting, 0);
  s.done();
});

test("wake_cnt is clamp(depth / 8, 1, 8): depth 31 wakes a queue every 3 frees", () => {
  const s = setup();
  const { t, held, waiters } = fullWithWaiters(s, 31);
  const masks = held.slice(0, 9).map((tag) => t.putTag(0, tag));
  assert.equal(masks, [0, 0, 1, 0, 0, 2, 0, 0, 4]);
  for (const tag of held.slice(9)) t.putTag(0, tag);
  for (const w of waiters) t.finishWait(w);
  s.done();
});

test("bt_wake_ptr skips queues without waiters and moves wake_index to the one it wakes", () => {
  const s = setup();
  const t = s.make({ depth: 16 });
  const held = getMany(t, 16);
  const w = new TagWaiter("only");
  t.prepareToWait(w, 5);
  assert.is(t.putTag(0, held[0]), 0);
  assert.is(t.bitmap().wakeIndex, 5);
  assert.equal(t.waitQueueState(5), { waitCnt: 1, waiters: 1 }, "wake_cnt 2: one free counted");
  assert.is(t.putTag(0, held[1]), 1 << 5);
  assert.is(t.bitmap().wakeIndex, 6);
  assert.is(t.waitQueueState(5).waitCnt, 2, "wait_cnt is refilled by wake_cnt");
  assert.ok(w.woken);
  t.finishWait(w);
  for (const tag of held.slice(2)) assert.is(t.putTag(0, tag), 0, "nobody waits: no accounting");
  assert.is(t.waitQueueState(5).waitCnt, 2);
  s.done();
});

test("wakeupAll() wakes every queue with waiters, and reserved queue 8 only when asked", () => {
  const s = setup();
  const t = s.make({ depth: 16, reserved: 2 });
  const a = new TagWaiter("a"), b = new TagWaiter("b"), r = new TagWaiter("r");
  t.prepareToWait(a, 1);
  t.prepareToWait(b, 6);
  assert.is(t.waitQueue(null, true), 8, "v4.4 reserved allocations use the reserved map's bs[0]");
  t.prepareToWait(r, 8);
  assert.is(t.wakeupAll(), (1 << 1) | (1 << 6));
  assert.ok(!r.woken);
  assert.is(t.wakeupAll(true), 1 << 8);
  assert.ok(a.woken && b.woken && r.woken);
  for (const w of [a, b, r]) t.finishWait(w);
  s.done();
});

test("finishWait() takes a waiter that was not woken off its queue", () => {
  const s = setup();
  const t = s.make({ depth: 8 });
  const w = new TagWaiter();
  t.prepareToWait(w, 3);
  t.prepareToWait(w, 3);
  assert.is(t.waitQueueState(3).waiters, 1, "prepare_to_wait does not queue twice");
  assert.throws(() => t.prepareToWait(w, 4), isRangeError);
  t.finishWait(w);
  assert.equal([w.queue, w.tags, t.waitQueueState(3).waiters, t.bitmap().waiting], [-1, null, 0, 0]);
  t.finishWait(w);
  s.done();
});

// ---- NOWAIT and the sleeping allocation ----------------------------------------

/** A minimal generator scheduler for getTagWait(). */
function toyScheduler() {
  type Task = { gen: Generator<unknown, unknown, unknown>; runnable: boolean; result?: unknown; done: boolean };
  const tasks: Task[] = [];
  let current: Task | null = null;
  return {
    spawn(make: (self: Task) => Generator<unknown, unknown, unknown>): Task {
      const task: Task = { gen: undefined as never, runnable: true, done: false };
      task.gen = make(task);
      tasks.push(task);
      return task;
    },
    wake(task: unknown): void {
      (task as Task).runnable = true;
    },
    *ioSchedule(w: TagWaiter): Generator<string, void, unknown> {
      while (!w.woken) {
        current!.runnable = false;
        yield "sleep";
      }
    },
    run(): number {
      let steps = 0;
      for (let progress = true; progress;) {
        progress = false;
        for (const task of tasks) {
          if (task.done || !task.runnable) continue;
          current = task;
          const r = task.gen.next();
          current = null;
          steps++;
          progress = true;
          if (r.done) {
            task.done = true;
            task.result = r.value;
          }
        }
      }
      return steps;
    },
  };
}

test("getTag() and getTagWait() with nowait fail at once when the map is full", () => {
  const s = setup();
  const t = s.make({ depth: 4 });
  const held = getMany(t, 4);
  assert.is(t.getTag(0), BLK_MQ_TAG_FAIL);
  const gen = getTagWait({ tags: t, ctx: 0, hctx: null }, { nowait: true }, {
    runHwQueue: () => never("must not run the queue"),
    ioSchedule: () => never("must not sleep"),
    remap: () => never("must not remap"),
  });
  const r = gen.next();
  assert.ok(r.done);
  assert.is((r.value as { tag: number }).tag, BLK_MQ_TAG_FAIL);
  assert.is(t.bitmap().waiting, 0);
  for (const tag of held) t.putTag(0, tag);
  s.done();
});

test("getTagWait(): a remap that throws after the sleep leaves no waiter behind, in both eras", () => {
  for (const era of ["v4.4", "modern"] as const) {
    const s = setup();
    const t = s.make({ depth: 4, era });
    const held = getMany(t, 4);
    const gen = getTagWait({ tags: t, ctx: 0, hctx: null }, {}, {
      runHwQueue: () => {},
      *ioSchedule(w: TagWaiter) {
        yield "sleep";
        assert.ok(w, "slept once");
      },
      remap: () => {
        throw new KernelError("EIO", "blk_mq_map_request");
      },
    });
    assert.is(gen.next().done, false, `${era}: it sleeps while the map is full`);
    assert.ok(t.bitmap().waiting > 0 || era === "modern", "a v4.4 waiter is queued while it sleeps");
    assert.throws(() => gen.next(), (e: unknown) => e instanceof KernelError && e.code === "EIO");
    assert.is(t.bitmap().waiting, 0, `${era}: no waiter left`);
    for (const tag of held) t.putTag(0, tag);
    s.done();
  }
});

test("getTagWait() fails at once with a WARN for a reserved tag of a map without any, in both eras", () => {
  for (const era of ["v4.4", "modern"] as const) {
    for (const nowait of [false, true]) {
      const s = setup();
      const t = s.make({ depth: 4, era });
      const warns: string[] = [];
      const gen = getTagWait({ tags: t, ctx: 0, hctx: null }, { reserved: true, nowait }, {
        runHwQueue: () => never("must not run the queue"),
        ioSchedule: () => never("must not sleep"),
        remap: () => never("must not remap"),
        warnOnce: (where) => warns.push(where),
      });
      const r = gen.next();
      assert.ok(r.done, `${era}: no sleep`);
      assert.is((r.value as { tag: number }).tag, BLK_MQ_TAG_FAIL);
      assert.equal(warns, [era === "v4.4" ? "block/blk-mq-tag.c:__blk_mq_get_reserved_tag" : "block/blk-mq-tag.c:blk_mq_get_tag"]);
      assert.is(t.bitmap(true).waiting, 0);
      s.done();
    }
  }
});

test("getTagWait() sleeps on a wait queue and gets the tag a later putTag() frees", () => {
  for (const era of ["v4.4", "modern"] as const) {
    const sched = toyScheduler();
    const s = setup();
    const t = new BlkMqTags({ core: s.core, memory: s.memory, depth: 8, era, onWake: (w) => sched.wake(w.task) });
    const held = getMany(t, 8);
    const h = t.createHctx();
    const data: TagAllocData = { tags: t, ctx: 0, hctx: h };
    let runs = 0;
    const task = sched.spawn((self) =>
      getTagWait(data, {}, { task: self, runHwQueue: () => runs++, ioSchedule: (w) => sched.ioSchedule(w), remap: () => data })
    );
    sched.run();
    assert.not.ok(task.done, `${era}: asleep`);
    assert.is(t.bitmap().waiting, 1);
    assert.is(runs, 1, "the hw queue was kicked before sleeping");
    assert.is(t.putTag(0, held[5]), 1 << 0, `${era}: wake_cnt 1 wakes queue 0 on the first free`);
    sched.run();
    assert.ok(task.done);
    assert.is((task.result as { tag: number }).tag, held[5]);
    assert.is(t.bitmap().waiting, 0, "finishWait ran");
    assert.is(h.waitIndex, 2, "one queue per sleep round");
    for (const tag of held) t.putTag(0, tag);
    t.destroy();
    assert.is(s.memory.live, 0);
  }
});

test("getTagWait() retries after running the hw queue, which may complete a request", () => {
  const s = setup();
  const t = s.make({ depth: 4 });
  const held = getMany(t, 4);
  const h = t.createHctx();
  const gen = getTagWait({ tags: t, ctx: 0, hctx: h }, {}, {
    runHwQueue: () => void t.putTag(0, held[2]),
    ioSchedule: () => never("must not sleep"),
    remap: () => never("must not remap"),
  });
  const r = gen.next();
  assert.ok(r.done);
  assert.is((r.value as { tag: number }).tag, held[2]);
  assert.is(t.bitmap().waiting, 0);
  for (const tag of held) t.putTag(0, tag);
  s.done();
});

test("getTagWait() re-selects map and queue after a sleep (the task may have migrated)", () => {
  const sched = toyScheduler();
  const s = setup();
  const mk = () => new BlkMqTags({ core: s.core, memory: s.memory, depth: 4, onWake: (w) => sched.wake(w.task) });
  const a = mk(), b = mk();
  const heldA = getMany(a, 4);
  const ha = a.createHctx(), hb = b.createHctx();
  let where: TagAllocData = { tags: a, ctx: 0, hctx: ha };
  const task = sched.spawn((self) =>
    getTagWait(where, {}, {
      task: self,
      runHwQueue: () => {},
      ioSchedule: (w) => sched.ioSchedule(w),
      remap: () => (where = { tags: b, ctx: 0, hctx: hb }),
    })
  );
  sched.run();
  a.putTag(0, heldA[0]); // wakes the sleeper on a; it now runs on b's CPU
  sched.run();
  assert.ok(task.done);
  const r = task.result as TagAllocData & { tag: number };
  assert.is(r.tags, b);
  assert.is(r.tag, 0);
  assert.is(a.bitmap().waiting, 0);
  b.putTag(0, 0);
  for (const tag of heldA.slice(1)) a.putTag(0, tag);
  a.destroy();
  b.destroy();
  assert.is(s.memory.live, 0);
});

test("getTagWait() runs under the kernel Scheduler: a task sleeps in bt_get until a completion frees a tag", () => {
  const clock = new VirtualClock({});
  const log = new Klog(() => clock.now());
  const cpus = new Cpus({ nrCpuIds: 2 });
  const timers = new TimerBase({ clock, cpus, log });
  const sched = new Scheduler({ cpus, clock, timers, log, lockdep: new Lockdep(log), softirq: new Softirq({ cpus, log }), seed: 1 });
  const s = setup();
  const t = s.make({ depth: 2, nrCtx: 2, onWake: (w) => void sched.wakeUpProcess(w.task as Task) });
  const held = getMany(t, 2);
  const got: number[] = [];
  let sleeps = 0;
  for (const comm of ["io0", "io1"]) {
    sched.spawn(comm, function* (task) {
      const where = () => ({ tags: t, ctx: task.cpu, hctx: null });
      const r = yield* getTagWait(where(), {}, {
        task,
        runHwQueue: () => {},
        *ioSchedule(w) {
          if (w.woken) return;
          sched.blockCurrent("bt_get", false);
          sleeps++;
          yield;
        },
        remap: where,
      });
      got.push(r.tag);
      yield;
      t.putTag(r.ctx, r.tag);
    });
  }
  sched.spawn("irq", function* () {
    yield;
    t.putTag(0, held[0]);
    yield;
    t.putTag(0, held[1]);
  });
  assert.is(sched.run().kind, "done");
  assert.equal(got.sort(), [...held].sort());
  assert.ok(sleeps >= 2, "both tasks slept");
  assert.is(t.bitmap().waiting, 0);
  s.done();
});

// ---- shared maps and fairness ----------------------------------------------------

/** Marks `n` shared hctxs active (each gets and puts back one tag). */
function activeHctxs(t: BlkMqTags, n: number): TagHctx[] {
  const hs: TagHctx[] = [];
  for (let i = 0; i < n; i++) {
    const h = t.createHctx({ shared: true });
    t.putTag(0, t.getTag(0, { hctx: h }));
    hs.push(h);
  }
  return hs;
}

/** How many normal tags `h` gets before hctx_may_queue says no. */
function fill(t: BlkMqTags, h: TagHctx, out: number[]): number {
  let n = 0;
  for (let tag; (tag = t.getTag(0, { hctx: h })) !== BLK_MQ_TAG_FAIL; n++) out.push(tag);
  return n;
}

test("hctx_may_queue limits an active shared hctx to max(ceil(depth / users), 4) (§2 examples)", () => {
  const cases: [number, number, number][] = [[64, 2, 32], [64, 3, 22], [64, 16, 4], [31, 2, 16], [8, 2, 4], [8, 5, 4]];
  for (const [depth, users, limit] of cases) {
    const s = setup();
    const t = s.make({ depth });
    const hs = activeHctxs(t, users);
    assert.is(t.activeQueues, users);
    const held: number[] = [];
    assert.is(fill(t, hs[0], held), limit, `depth ${depth}, ${users} users`);
    assert.is(hs[0].nrActive, limit);
    assert.not.ok(t.mayQueue(hs[0]));
    assert.ok(t.mayQueue(hs[1]), "another hctx still may");
    for (const tag of held) t.putTag(0, tag);
    assert.is(hs[0].nrActive, 0, "putTag() undoes nr_active");
    s.done();
  }
});

test("depth 2 is not limited in practice: the limit 4 exceeds the depth", () => {
  const s = setup();
  const t = s.make({ depth: 2 });
  const hs = activeHctxs(t, 2);
  const held: number[] = [];
  assert.is(fill(t, hs[0], held), 2);
  for (const tag of held) t.putTag(0, tag);
  s.done();
});

test("hctx_may_queue does not limit unshared or inactive hctxs, reserved tags, depth 1, or zero users", () => {
  const s = setup();
  const t = s.make({ depth: 64, reserved: 8 });
  activeHctxs(t, 15);
  const plain = t.createHctx();
  const held: number[] = [];
  assert.is(fill(t, plain, held), 56, "not shared: no limit, no nr_active");
  assert.is(plain.nrActive, 0);
  for (const tag of held.splice(0)) t.putTag(0, tag);
  const h = t.createHctx({ shared: true });
  assert.not.ok(h.active);
  assert.ok(t.mayQueue(h), "an inactive hctx passes");
  let n = 0;
  for (let tag; (tag = t.getTag(0, { hctx: h, reserved: true })) !== BLK_MQ_TAG_FAIL; n++) held.push(tag);
  assert.is(n, 8, "reserved tags bypass the check (NULL hctx) but are still counted");
  assert.is(h.nrActive, 8);
  assert.ok(h.active);
  assert.not.ok(t.mayQueue(h), "16 users on depth 56: limit 4, nr_active 8");
  assert.ok(t.mayQueue(h, true));
  for (const tag of held) t.putTag(0, tag);
  s.done();
  const s1 = setup();
  const one = s1.make({ depth: 2, reserved: 1 }); // bitmap depth 1
  const [h1] = activeHctxs(one, 1);
  activeHctxs(one, 1);
  assert.ok(one.mayQueue(h1), "depth 1: don't try dividing an ant");
  s1.done();
});

test("v4.4 marks an hctx busy after it won a tag, so one allocation passes after an idle", () => {
  const s = setup();
  const t = s.make({ depth: 64 });
  const [h1] = activeHctxs(t, 2);
  const held: number[] = [];
  assert.is(fill(t, h1, held), 32);
  t.tagIdle(h1);
  assert.equal([h1.active, t.activeQueues], [false, 1]);
  const tag = t.getTag(0, { hctx: h1 });
  assert.ok(tag !== BLK_MQ_TAG_FAIL, "not active: hctx_may_queue passes");
  held.push(tag);
  assert.equal([h1.active, t.activeQueues, h1.nrActive], [true, 2, 33]);
  assert.is(t.getTag(0, { hctx: h1 }), BLK_MQ_TAG_FAIL);
  for (const x of held) t.putTag(0, x);
  s.done();
});

test("tagBusy() counts an hctx once; tagIdle() uncounts it and wakes every normal waiter", () => {
  const s = setup();
  const t = s.make({ depth: 16 });
  const h = t.createHctx({ shared: true });
  const u = t.createHctx();
  assert.not.ok(t.tagBusy(u), "unshared hctxs are never busy");
  assert.ok(t.tagBusy(h));
  assert.ok(t.tagBusy(h));
  assert.is(t.activeQueues, 1);
  const w = new TagWaiter("x");
  t.prepareToWait(w, t.waitQueue(h));
  assert.is(t.tagIdle(h), 1 << 0);
  assert.ok(w.woken);
  assert.is(t.activeQueues, 0);
  assert.is(t.tagIdle(h), 0, "already idle");
  t.finishWait(w);
  t.setShared(u, true);
  assert.ok(u.shared && t.tagBusy(u));
  assert.is(t.destroyHctx(u), 0);
  assert.is(t.activeQueues, 0, "destroyHctx idles first");
  s.done();
});

// ---- resize ---------------------------------------------------------------------

test("resize() recomputes word depths and wake_cnt but keeps shift and map_nr", () => {
  const s = setup();
  const t = s.make({ depth: 64 });
  t.resize(31);
  const b = t.bitmap();
  assert.equal([b.depth, b.shift, b.mapNr, b.wordDepths, b.wakeBatch], [31, 4, 4, [16, 15, 0, 0], 3]);
  const held = getMany(t, 32);
  assert.is(held[31], BLK_MQ_TAG_FAIL);
  assert.is(Math.max(...held), 30);
  for (const tag of held.slice(0, 31)) t.putTag(0, tag);
  t.resize(64);
  assert.equal(t.bitmap().wordDepths, [16, 16, 16, 16]);
  s.done();
});

test("resize() rejects a depth above nr_tags or above the depth the map was built with", () => {
  const s = setup();
  const t = s.make({ depth: 64, reserved: 4 });
  assert.throws(() => t.resize(69), isKernelError("EINVAL"));
  assert.throws(() => t.resize(65), isKernelError("EINVAL"));
  assert.throws(() => t.resize(3), isKernelError("EINVAL"), "nr < reserved wraps");
  assert.is(t.depth, 60, "state unchanged");
  assert.is(t.resize(64), 0);
  assert.throws(() => t.resize(-1), isRangeError);
  s.done();
});

test("resize() of a modern map rejects leaving no normal tag (v4.11+ tdepth <= nr_reserved_tags)", () => {
  const s = setup();
  const t = s.make({ depth: 8, reserved: 4, era: "modern" });
  assert.throws(() => t.resize(4), isKernelError("EINVAL"));
  assert.throws(() => t.resize(0), isKernelError("EINVAL"));
  assert.is(t.depth, 4, "state unchanged");
  assert.is(t.resize(5), 0);
  assert.is(t.depth, 1);
  const tag = t.getTag(0);
  assert.is(tag, 4, "the one normal tag is still there");
  t.putTag(0, tag);
  s.done();
});

test("resize() wakes every waiter and leaves each wait_cnt as it was", () => {
  const s = setup();
  const { t, held, waiters } = fullWithWaiters(s, 64);
  for (const tag of held.slice(0, 3)) t.putTag(0, tag);
  assert.is(t.waitQueueState(0).waitCnt, 5);
  assert.is(t.resize(32), 0xff);
  assert.ok(waiters.every((w) => w.woken));
  assert.equal([t.waitQueueState(0).waitCnt, t.waitQueueState(1).waitCnt, t.bitmap().wakeBatch], [5, 8, 4]);
  for (const w of waiters) t.finishWait(w);
  for (const tag of held.slice(3)) t.putTag(0, tag);
  s.done();
});

test("tags beyond a reduced depth can still be put and are not counted as used", () => {
  const s = setup();
  const t = s.make({ depth: 64 });
  const held = getMany(t, 48);
  t.resize(32);
  const b = t.bitmap();
  assert.equal([b.used, b.free], [32, 0]);
  for (const tag of held.slice(32)) t.putTag(0, tag);
  assert.is(t.getTag(0), BLK_MQ_TAG_FAIL);
  for (const tag of held.slice(0, 32)) t.putTag(0, tag);
  s.done();
});

test("resize() to depth 0 keeps v4.4's word depths; the hint then walks past the map (BUG in debug)", () => {
  for (const variant of ["debug", "release"] as const) {
    const s = setup(variant);
    const t = s.make({ depth: 8, reserved: 4 });
    t.resize(4);
    const b = t.bitmap();
    assert.equal([b.depth, b.wordDepths, b.wakeBatch], [0, [1, 1, 1, 1], 1], "bt_update_count skips the words");
    const held = getMany(t, 4);
    assert.equal(held, [4, 5, 6, 7], "allocation goes on with the old word depths");
    assert.is(t.hint(0), 4, "tag + 1 never reaches depth - 1 = UINT_MAX: the hint leaves the map");
    assert.is(t.bitmap().free, 2 ** 32 - 4, "bt_unused_tags() underflows as in v4.4");
    if (variant === "debug") {
      assert.throws(() => t.getTag(0), (e: unknown) => e instanceof KernelBug);
    } else {
      assert.is(t.getTag(0), BLK_MQ_TAG_FAIL, "release restarts from bit 0 instead of reading past the map");
    }
    for (const tag of held) t.putTag(0, tag);
    t.resize(8);
    s.done();
  }
});

// ---- misuse and memory -------------------------------------------------------------

test("putTag() of a tag that is not allocated is a RangeError with every core, and changes nothing", () => {
  for (const variant of ["debug", "release"] as const) {
    const s = setup(variant);
    const t = s.make({ depth: 8, reserved: 1 });
    const a = t.getTag(0);
    const hint = t.hint(0);
    assert.throws(() => t.putTag(0, a + 1), isRangeError);
    assert.throws(() => t.putTag(0, 8), isRangeError);
    assert.throws(() => t.putTag(0, 0), isRangeError);
    assert.throws(() => t.putTag(1, a), isRangeError, "no ctx 1");
    assert.equal([t.hint(0), t.bitmap().used], [hint, 1]);
    t.putTag(0, a);
    assert.throws(() => t.putTag(0, a), isRangeError, "double put");
    s.done();
  }
});

test("the WASM put of an unallocated tag is a KernelBug in debug builds and -EINVAL in release", () => {
  const d = setup("debug");
  const td = d.make({ depth: 8 });
  assert.throws(() => d.core.blk_mq_put_tag(td.addr, 3, td.addr), (e: unknown) => e instanceof KernelBug);
  d.done();
  const r = setup("release");
  const tr = r.make({ depth: 8 });
  const hint = tr.hint(0);
  assert.is(r.core.blk_mq_put_tag(tr.addr, 3, tr.addr), -22);
  assert.equal([tr.hint(0), tr.bitmap().used], [hint, 0]);
  r.done();
});

test("new BlkMqTags() checks its options and reports allocation failure as ENOMEM", () => {
  const s = setup();
  const bad = (o: object, check: (e: unknown) => boolean) =>
    assert.throws(() => new BlkMqTags({ core: s.core, memory: s.memory, depth: 8, ...o }), check);
  bad({ era: "v3" }, isRangeError);
  bad({ policy: "lifo" }, isRangeError);
  bad({ depth: 1.5 }, isRangeError);
  bad({ depth: 0 }, isKernelError("EINVAL"));
  bad({ reserved: 8 }, isKernelError("EINVAL"));
  bad({ nrCtx: 0 }, isRangeError);
  bad({ memory: {} }, (e) => e instanceof TypeError);
  bad({ memory: { alloc: () => 0, free: () => {} } }, isKernelError("ENOMEM"));
  let n = 0;
  bad({ memory: { alloc: (b: number) => (n++ === 0 ? s.memory.alloc(b) : 0), free: (p: number) => s.memory.free(p) } },
    isKernelError("ENOMEM"));
  s.done();
});

test("a destroyed map refuses further use", () => {
  const s = setup();
  const t = s.make({ depth: 8 });
  t.destroy();
  assert.throws(() => t.getTag(0), isRangeError);
  t.destroy();
  assert.is(s.memory.live, 0);
});

test("kmallocTagMemory() (the default) takes small maps from kmalloc and large ones from pages, and gives all back", () => {
  const core = instantiateCore("debug");
  const live = () => {
    let n = 0;
    for (const size of [32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192]) {
      n += core.kmem_cache_nr_live(core.kmalloc_cache_id(size));
    }
    return [n, core.page_alloc_nr_used()];
  };
  const memory = kmallocTagMemory(core);
  const cycle = () => {
    for (const [depth, reserved] of [[64, 1], [10240, 16]]) {
      const t = new BlkMqTags({ core, memory: depth === 64 ? undefined : memory, depth, reserved, nrCtx: 4 });
      const h = t.createHctx({ shared: true });
      const a = t.getTag(0, { hctx: h }), r = t.getTag(1, { reserved: true });
      t.putTag(0, a);
      t.putTag(1, r);
      t.destroy();
    }
  };
  cycle(); // the kmalloc caches keep their (now empty) slab pages
  const before = live();
  assert.is(before[0], 0, "no live kmalloc objects");
  cycle();
  assert.equal(live(), before, "no live kmalloc objects, the large map's pages freed");
});

test("blk_mq_tags_bench() leaves the map exactly as getTag()/putTag() steps would", () => {
  for (const [depth, policy, waiters] of [[4, "fifo", 0], [64, "fifo", 1], [64, "rr", 0], [31, "rr", 2]] as const) {
    const s = setup();
    const a = s.make({ depth, policy }), b = s.make({ depth, policy });
    const out = depth >> 1;
    // Waiters through the raw accounting: the bench loop bypasses the wrapper's task lists.
    for (const t of [a, b]) for (let q = 0; q < waiters; q++) s.core.blk_mq_tag_wait_account(t.addr, q, 1, 0);
    const ringA = s.memory.alloc(16 + 4 * out);
    const mem = () => new Uint32Array(s.core.memory.buffer);
    mem().fill(0, ringA / 4, ringA / 4 + 4);
    const ringB: number[] = [];
    for (let i = 0; i < out; i++) {
      mem()[ringA / 4 + 4 + i] = a.getTag(0);
      ringB.push(b.getTag(0));
    }
    const hint = s.memory.alloc(8);
    mem()[hint / 4] = a.hint(0);
    const iters = 3 * depth + 7;
    assert.ok(s.core.blk_mq_tags_bench(a.addr, hint, ringA, out, iters) >= 0);
    let head = 0;
    for (let i = 0; i < iters; i++) {
      const tag = b.getTag(0);
      b.putTag(0, ringB[head]);
      ringB[head] = tag;
      head = head + 1 === out ? 0 : head + 1;
    }
    const ring = Array.from(mem().subarray(ringA / 4 + 4, ringA / 4 + 4 + out));
    const label = `depth ${depth} ${policy} ${waiters} waiters`;
    assert.equal(ring, ringB, label);
    assert.is(mem()[ringA / 4], head, label);
    assert.is(mem()[hint / 4], b.hint(0), label);
    assert.equal(a.bitmap(), b.bitmap(), label);
    for (let q = 0; q < 8; q++) {
      const stat = (t: BlkMqTags, st: number) => s.core.blk_mq_bt_queue_stat(t.addr, q, st);
      assert.equal([stat(a, 0), stat(a, 1)], [stat(b, 0), stat(b, 1)], `${label}: queue ${q}`);
      for (const t of [a, b]) while (stat(t, 1) > 0) s.core.blk_mq_tag_wait_account(t.addr, q, -1, 0);
    }
    for (const x of ring) a.putTag(0, x);
    for (const x of ringB) b.putTag(0, x);
    s.memory.free(ringA);
    s.memory.free(hint);
    s.done();
  }
});

// ---- property tests ------------------------------------------------------------------

interface PropConfig {
  depth: number;
  reserved: number;
  nrCtx: number;
}

/**
 * Random get/put/resize sequences: no tag is handed out twice, reserved and
 * normal numbers never overlap, the bitmap's counts match the tags held, and
 * (FIFO) a get fails only when every tag within depth is held. At the end
 * every tag can be got again.
 */
function propertyRun(core: CoreExports, era: "v4.4" | "modern", policy: "fifo" | "rr", cfg: PropConfig, seed: number) {
  const memory = testMemory(core);
  const rand = prng(seed);
  const t = new BlkMqTags({ core, memory, era, policy, seed, ...cfg });
  const held = new Set<number>();
  const label = `${era}/${policy} depth ${cfg.depth} reserved ${cfg.reserved} seed ${seed}`;
  const normalDepth = () => t.depth;
  const inDepth = () => [...held].filter((x) => x >= cfg.reserved && x - cfg.reserved < normalDepth()).length;
  const reservedHeld = () => [...held].filter((x) => x < cfg.reserved).length;
  for (let step = 0; step < 1500; step++) {
    const r = rand();
    const ctx = Math.floor(rand() * cfg.nrCtx);
    if (r < 0.5) {
      const reserved = cfg.reserved > 0 && rand() < 0.25;
      const tag = t.getTag(ctx, { reserved });
      if (tag === BLK_MQ_TAG_FAIL) {
        if (policy === "fifo") {
          if (reserved) assert.is(reservedHeld(), cfg.reserved, `${label}: false reserved failure at ${step}`);
          else assert.is(inDepth(), normalDepth(), `${label}: false failure at ${step}`);
        }
      } else {
        assert.not.ok(held.has(tag), `${label}: tag ${tag} handed out twice at ${step}`);
        if (reserved) assert.ok(tag < cfg.reserved, `${label}: reserved tag ${tag}`);
        else assert.ok(tag >= cfg.reserved && tag - cfg.reserved < normalDepth(), `${label}: normal tag ${tag}`);
        held.add(tag);
      }
    } else if (r < 0.93) {
      if (held.size === 0) continue;
      const list = [...held];
      const tag = list[Math.floor(rand() * list.length)];
      t.putTag(ctx, tag);
      held.delete(tag);
    } else {
      const nr = cfg.reserved + 1 + Math.floor(rand() * (cfg.depth - cfg.reserved));
      t.resize(nr);
    }
    const b = t.bitmap();
    assert.is(b.used, inDepth(), `${label}: used at ${step}`);
    assert.is(b.free, b.depth - b.used, `${label}: free at ${step}`);
    if (cfg.reserved > 0) assert.is(t.bitmap(true).used, reservedHeld(), `${label}: reserved used at ${step}`);
  }
  for (const tag of held) t.putTag(0, tag);
  held.clear();
  t.resize(cfg.depth);
  // Every tag can be got again (RR may miss below-offset bits once; a failure resets the hint).
  for (const reserved of [false, true]) {
    const got = new Set<number>();
    for (let fails = 0; fails < 2;) {
      const tag = t.getTag(0, { reserved });
      if (tag === BLK_MQ_TAG_FAIL) fails++;
      else {
        fails = 0;
        assert.not.ok(got.has(tag), `${label}: drain got ${tag} twice`);
        got.add(tag);
      }
    }
    const want = reserved ? cfg.reserved : cfg.depth - cfg.reserved;
    assert.is(got.size, want, `${label}: drained ${reserved ? "reserved" : "normal"}`);
    for (const tag of got) t.putTag(0, tag);
  }
  assert.is(t.bitmap().used, 0);
  t.destroy();
  assert.is(memory.live, 0, `${label}: leak`);
}

const PROP_CONFIGS: PropConfig[] = [
  { depth: 64, reserved: 0, nrCtx: 4 },
  { depth: 31, reserved: 3, nrCtx: 2 },
  { depth: 5, reserved: 1, nrCtx: 1 },
  { depth: 200, reserved: 8, nrCtx: 4 },
];

test("property: random get/put/resize keeps the v4.4 bitmap consistent (debug core)", () => {
  const core = instantiateCore("debug");
  for (const policy of ["fifo", "rr"] as const) {
    for (const cfg of PROP_CONFIGS) for (const seed of [1, 2]) propertyRun(core, "v4.4", policy, cfg, seed);
  }
});

test("property: random get/put/resize keeps the modern sbitmap consistent (debug core)", () => {
  const core = instantiateCore("debug");
  for (const policy of ["fifo", "rr"] as const) {
    for (const cfg of PROP_CONFIGS) for (const seed of [3, 4]) propertyRun(core, "modern", policy, cfg, seed);
  }
});

test("property: the release core behaves the same", () => {
  const core = instantiateCore("release");
  for (const era of ["v4.4", "modern"] as const) {
    for (const policy of ["fifo", "rr"] as const) propertyRun(core, era, policy, PROP_CONFIGS[3], 5);
  }
});

test.run();
