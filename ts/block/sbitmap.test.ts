// SPDX-License-Identifier: GPL-2.0-only
// The modern era of BlkMqTags: lib/sbitmap.c (v6.18) behind asm/sbitmap.ts.
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { CoreExports } from "../wasm/core.ts";
import {
  BLK_MQ_TAG_FAIL,
  BlkMqTags,
  getTagWait,
  type TagAllocData,
  type TagHctx,
  TagWaiter,
} from "./tags.ts";
import { getMany, tagsTestbed } from "./_tags_testkit.ts";

// ---- helpers ---------------------------------------------------------------

const setup = () => tagsTestbed({ era: "modern" });

/** Bits pending in word `index`'s `cleared` mask. */
const clearedBits = (core: CoreExports, t: BlkMqTags, index: number) => core.blk_mq_bt_word_stat(t.addr, 0, index, 2);
const setBits = (core: CoreExports, t: BlkMqTags, index: number) => core.blk_mq_bt_word_stat(t.addr, 0, index, 1);
/** completion_cnt and wakeup_cnt of the normal map. */
const counts = (core: CoreExports, t: BlkMqTags) => [core.blk_mq_bt_stat(t.addr, 0, 7), core.blk_mq_bt_stat(t.addr, 0, 8)];

/** `n` registered waiters, all on wait queue `q`. */
function waitersOn(t: BlkMqTags, q: number, n: number, name = "w"): TagWaiter[] {
  return Array.from({ length: n }, (_, i) => {
    const w = new TagWaiter(`${name}${i}`);
    t.prepareToWait(w, q);
    return w;
  });
}

// ---- geometry and hints ------------------------------------------------------

test("the sbitmap uses the 2015 shift rule and wake_batch = clamp(depth / 8, 1, 8)", () => {
  const s = setup();
  const b64 = s.make({ depth: 64 }).bitmap();
  assert.equal([b64.shift, b64.mapNr, b64.wordDepths, b64.wakeBatch], [4, 4, [16, 16, 16, 16], 8]);
  const b31 = s.make({ depth: 31 }).bitmap();
  assert.equal([b31.shift, b31.mapNr, b31.wordDepths.at(-1), b31.wakeBatch], [2, 8, 3, 3]);
  const b4 = s.make({ depth: 4 }).bitmap();
  assert.equal([b4.shift, b4.mapNr, b4.wakeBatch], [0, 4, 1]);
  s.done();
});

test("start hints are random below depth, the same for the same seed, and 0 for RR", () => {
  const s = setup();
  const hints = (seed: number, policy: "fifo" | "rr" = "fifo") => {
    const t = s.make({ depth: 64, reserved: 8, nrCtx: 8, seed, policy });
    return [0, 1, 2, 3, 4, 5, 6, 7].map((c) => [t.hint(c), t.hint(c, true)]);
  };
  const a = hints(1);
  assert.equal(hints(1), a);
  assert.not.equal(hints(2), a);
  assert.ok(a.every(([n, r]) => n < 56 && r < 8));
  assert.ok(new Set(a.map(([n]) => n)).size > 1, "not all the same");
  assert.ok(hints(1, "rr").every(([n, r]) => n === 0 && r === 0));
  s.done();
});

test("without RR the hint picks only the word; the search starts at its bit 0", () => {
  const s = setup();
  const t = s.make({ depth: 64 });
  t.setHint(0, 20);
  assert.is(t.getTag(0), 16);
  assert.is(t.hint(0), 20, "16 != 20: unchanged");
  t.setHint(0, 17);
  assert.is(t.getTag(0), 17);
  assert.is(t.hint(0), 18, "the tag was the hint: hint + 1");
  t.putTag(0, 16);
  t.putTag(0, 17);
  s.done();
});

test("with RR the hint keeps its in-word offset and does not wrap inside the word", () => {
  const s = setup();
  const t = s.make({ depth: 64, policy: "rr" });
  t.setHint(0, 20);
  assert.is(t.getTag(0), 20);
  assert.is(t.hint(0), 21);
  t.setHint(0, 62);
  assert.is(t.getTag(0), 62);
  assert.is(t.hint(0), 0, "63 >= depth - 1 wraps to 0");
  const word0 = getMany(t, 16).filter((x) => x < 16);
  t.putTag(0, 3);
  t.setHint(0, 8);
  assert.is(t.getTag(0), 16, "bit 3 lies below the offset: the next word wins");
  for (const x of [20, 62, 16, ...word0.filter((x) => x !== 3)]) t.putTag(0, x);
  s.done();
});

test("putTag() sets the freeing ctx's hint to the freed bit, except with RR", () => {
  for (const policy of ["fifo", "rr"] as const) {
    const s = setup();
    const t = s.make({ depth: 64, reserved: 4, nrCtx: 2, policy });
    t.setHint(1, 0);
    t.setHint(1, 0, true);
    const tag = t.getTag(0);
    const res = t.getTag(0, { reserved: true });
    t.putTag(1, tag);
    t.putTag(1, res);
    if (policy === "fifo") assert.equal([t.hint(1), t.hint(1, true)], [tag - 4, res]);
    else assert.equal([t.hint(1), t.hint(1, true)], [0, 0]);
    s.done();
  }
});

test("a failed get sets the hint to 0; a hint at or past depth is replaced by a random one", () => {
  const s = setup();
  const t = s.make({ depth: 64, seed: 9 });
  t.setHint(0, 50);
  t.resize(32);
  const tag = t.getTag(0);
  assert.ok(tag < 32 && t.hint(0) < 32, `tag ${tag}, hint ${t.hint(0)}`);
  const held = [tag, ...getMany(t, 31)];
  assert.is(t.getTag(0), BLK_MQ_TAG_FAIL);
  assert.is(t.hint(0), 0);
  for (const x of held) t.putTag(0, x);
  t.resize(64);
  s.done();
});

// ---- deferred clears -------------------------------------------------------------

test("a put is deferred: the bit stays set until a search of its word sweeps `cleared`", () => {
  const s = setup();
  const t = s.make({ depth: 64 });
  t.setHint(0, 0);
  const word0 = getMany(t, 16);
  t.putTag(0, 5);
  assert.equal([setBits(s.core, t, 0), clearedBits(s.core, t, 0)], [16, 1]);
  assert.is(t.bitmap().used, 15, "sbitmap_weight() subtracts the cleared bits");
  assert.not.ok(t.isAllocated(5));
  assert.is(t.hint(0), 5);
  assert.is(t.getTag(0), 5, "the full word is swept and retried");
  assert.equal([setBits(s.core, t, 0), clearedBits(s.core, t, 0)], [16, 0]);
  for (const x of word0) t.putTag(0, x);
  s.done();
});

test("resize() sweeps every word, sets map_nr from the new depth, and wakes nobody", () => {
  const s = setup();
  const t = s.make({ depth: 64 });
  const held = getMany(t, 64);
  for (const x of held.slice(0, 20)) t.putTag(0, x);
  const w = waitersOn(t, 0, 1);
  assert.is(t.resize(20), 0);
  const b = t.bitmap();
  assert.equal([b.depth, b.shift, b.mapNr, b.wordDepths, b.wakeBatch], [20, 4, 2, [16, 4], 2]);
  assert.equal([0, 1, 2, 3].map((i) => clearedBits(s.core, t, i)), [0, 0, 0, 0]);
  assert.not.ok(w[0].woken);
  t.finishWait(w[0]);
  for (const x of held.slice(20)) t.putTag(0, x);
  t.resize(64);
  s.done();
});

// ---- counted wake-ups ------------------------------------------------------------

test("every wake_batch completions wake wake_batch exclusive waiters, oldest first", () => {
  const s = setup();
  const t = s.make({ depth: 16 }); // wake_batch 2
  const held = getMany(t, 16);
  const ws = waitersOn(t, 0, 5);
  assert.is(t.bitmap().waiting, 5, "ws_active");
  assert.is(t.putTag(0, held[0]), 0);
  assert.equal(counts(s.core, t), [1, 0]);
  assert.is(t.putTag(0, held[1]), 1);
  assert.equal(counts(s.core, t), [2, 2]);
  assert.equal(s.woken.map((w) => w.task), ["w0", "w1"]);
  assert.is(t.bitmap().wakeIndex, 1, "advanced before looking at queue 0");
  assert.is(t.waitQueueState(0).waiters, 3);
  assert.is(t.bitmap().waiting, 5, "ws_active drops only in finishWait");
  t.putTag(0, held[2]);
  assert.is(t.putTag(0, held[3]), 1, "from wake_index 1 round to queue 0");
  assert.equal(s.woken.map((w) => w.task), ["w0", "w1", "w2", "w3"]);
  t.putTag(0, held[4]);
  t.putTag(0, held[5]);
  assert.is(t.waitQueueState(0).waiters, 0, "a batch of 2 with 1 waiter left wakes 1");
  for (const w of ws) t.finishWait(w);
  assert.is(t.bitmap().waiting, 0);
  t.putTag(0, held[6]);
  assert.equal(counts(s.core, t), [6, 6], "no registered waiter: completions are not counted");
  for (const x of held.slice(7)) t.putTag(0, x);
  s.done();
});

test("a wake-up continues across queues until wake_batch tasks woke", () => {
  const s = setup();
  const t = s.make({ depth: 16 });
  const held = getMany(t, 16);
  const ws = [...waitersOn(t, 2, 1, "a"), ...waitersOn(t, 5, 3, "b")];
  t.putTag(0, held[0]);
  assert.is(t.putTag(0, held[1]), (1 << 2) | (1 << 5));
  assert.equal(s.woken.map((w) => w.task), ["a0", "b0"]);
  assert.is(t.bitmap().wakeIndex, 6);
  for (const w of ws) t.finishWait(w);
  for (const x of held.slice(2)) t.putTag(0, x);
  s.done();
});

test("wakeupAll() wakes one exclusive waiter per queue", () => {
  const s = setup();
  const t = s.make({ depth: 16, reserved: 8 });
  const ws = [...waitersOn(t, 0, 3), ...waitersOn(t, 4, 1, "x"), ...waitersOn(t, 9, 2, "r")];
  assert.is(t.wakeupAll(), (1 << 0) | (1 << 4));
  assert.equal([t.waitQueueState(0).waiters, t.waitQueueState(4).waiters], [2, 0]);
  assert.is(t.wakeupAll(true), (1 << 0) | (1 << 9));
  assert.equal(s.woken.map((w) => w.task), ["w0", "x0", "w1", "r0"]);
  for (const w of ws) t.finishWait(w);
  s.done();
});

test("wakeUp() sends v6.18's compensating wake-up; v4.4 maps have none", () => {
  const s = setup();
  const t = s.make({ depth: 8 }); // wake_batch 1
  const [w] = waitersOn(t, 3, 1);
  assert.is(t.wakeUp(false, 1), 1 << 3);
  assert.ok(w.woken);
  t.finishWait(w);
  const old = s.make({ depth: 8, era: "v4.4" });
  assert.throws(() => old.wakeUp(false), (e: unknown) => e instanceof RangeError);
  s.done();
});

// ---- shared maps -----------------------------------------------------------------

test("wake_batch shrinks with the number of active users, for both maps", () => {
  const s = setup();
  const t = s.make({ depth: 80, reserved: 16 });
  const hs: TagHctx[] = [];
  const batch = () => [t.bitmap().wakeBatch, t.bitmap(true).wakeBatch];
  assert.equal(batch(), [8, 2]);
  for (let i = 0; i < 2; i++) t.tagBusy((hs[i] = t.createHctx({ shared: true })));
  assert.equal(batch(), [4, 1], "ceil(64 / 2) / 8 and ceil(16 / 2) / 8");
  for (let i = 2; i < 16; i++) t.tagBusy((hs[i] = t.createHctx({ shared: true })));
  assert.equal(batch(), [1, 1]);
  for (let i = 15; i >= 1; i--) t.tagIdle(hs[i]);
  assert.equal(batch(), [8, 2], "recomputed on idle while users > 0");
  t.tagIdle(hs[0]);
  assert.equal(batch(), [8, 2], "left alone at 0 users");
  s.done();
});

test("v6.18 marks the hctx busy before trying, so an hctx at its limit stays refused after an idle", () => {
  const s = setup();
  const t = s.make({ depth: 64 });
  const [h1, h2] = [t.createHctx({ shared: true }), t.createHctx({ shared: true })];
  t.putTag(0, t.getTag(0, { hctx: h2 }));
  const held: number[] = [];
  for (let tag; (tag = t.getTag(0, { hctx: h1 })) !== BLK_MQ_TAG_FAIL;) held.push(tag);
  assert.is(held.length, 32);
  t.tagIdle(h1);
  assert.is(t.getTag(0, { hctx: h1 }), BLK_MQ_TAG_FAIL, "busy first: 2 users, nr_active 32");
  assert.equal([h1.active, t.activeQueues], [true, 2]);
  for (const x of held) t.putTag(0, x);
  s.done();
});

test("modern reserved sleepers rotate through the hctx's wait_index too", () => {
  const s = setup();
  const t = s.make({ depth: 16, reserved: 2 });
  const h = t.createHctx();
  assert.equal([t.waitQueue(h, true), t.waitQueue(h, true), t.waitQueue(h)], [8, 9, 2]);
  assert.is(t.waitQueue(null, true), 8);
  s.done();
});

// ---- races and the sleeping allocation -----------------------------------------------

test("a lost race continues at nr + 1, reset to 0 at word depth - 1 (debug injection)", () => {
  const s = setup();
  const t = s.make({ depth: 64, policy: "rr" });
  t.setHint(0, 0);
  const word0 = getMany(t, 16);
  for (const b of [3, 12, 13, 14, 15]) t.putTag(0, b);
  t.setHint(0, 12);
  s.core.tags_debug_race(1 << 12, 0);
  assert.is(t.getTag(0), 13);
  t.setHint(0, 14);
  s.core.tags_debug_race(1 << 14, 0);
  assert.is(t.getTag(0), 3, "15 >= 15: restart at 0");
  assert.ok(t.isAllocated(12) && t.isAllocated(14));
  for (const x of word0) if (x !== 15) t.putTag(0, x);
  s.done();
});

test("getTagWait() (modern) moves to the new map after a migration and pokes the old one", () => {
  const s = setup();
  const runnable = new Set<unknown>();
  const mk = () => new BlkMqTags({ core: s.core, memory: s.memory, era: "modern", depth: 4, onWake: (w) => runnable.add(w.task) });
  const a = mk(), b = mk();
  a.setHint(0, 0);
  b.setHint(0, 0);
  const heldA = getMany(a, 4);
  const [ha, hb] = [a.createHctx(), b.createHctx()];
  const other = new TagWaiter("other");
  a.prepareToWait(other, 3);
  let where: TagAllocData = { tags: a, ctx: 0, hctx: ha };
  const gen = getTagWait(where, {}, {
    task: "me",
    runHwQueue: () => {},
    *ioSchedule(w) {
      while (!w.woken) yield "sleep";
    },
    remap: () => (where = { tags: b, ctx: 0, hctx: hb }),
  });
  assert.is(gen.next().value, "sleep");
  assert.is(a.bitmap().waiting, 2);
  a.putTag(0, heldA[0]); // wake_batch 1: wakes "me" on queue 0
  assert.ok(runnable.has("me"));
  const r = gen.next();
  assert.ok(r.done);
  assert.equal([(r.value as TagAllocData).tags === b, (r.value as { tag: number }).tag], [true, 0]);
  assert.ok(other.woken, "the fake wake-up on the old map woke the other sleeper");
  a.finishWait(other);
  b.putTag(0, 0);
  for (const x of heldA.slice(1)) a.putTag(0, x);
  a.destroy();
  b.destroy();
  s.done();
});

test.run();
