// SPDX-License-Identifier: GPL-2.0-only
/**
 * Ops over tag maps (ts/block/tags.ts): create maps of any era, depth and
 * policy, take tags with or without sleeping, put them back from any ctx,
 * resize, mark hctxs busy/idle/shared, wake waiters. Resources: `set` (a map,
 * a container), `h` (an hctx's tag fields, a container), `r` (a held tag).
 *
 * Invariants (area "tags"): every tag the program holds is allocated, no
 * other tag is, the bitmap's count agrees with its bits, and no hctx's
 * `nr_active` went below zero.
 *
 * @module
 */

import { BlkMqTags, getTagWait, kmallocTagMemory, type TagHctx, type TagWaiter } from "../../../ts/block/tags.ts";
import type { Sleepable, Task } from "../../../ts/kernel/sched.ts";
import { registerArea, registerOp, registerResource, type Violation } from "../registry.ts";

/** A tag map and what the program holds of it. */
export interface TagSet {
  readonly tags: BlkMqTags;
  readonly held: Set<HeldTag>;
  /** Tasks sleeping in blk_mq_get_tag on this map. */
  waiters: number;
  alive: boolean;
}

/** A tag the program holds. */
export interface HeldTag {
  readonly set: TagSet;
  readonly tag: number;
}

/** An hctx's tag fields. */
export interface HctxRes {
  readonly set: TagSet;
  readonly hctx: TagHctx;
  alive: boolean;
}

interface TagsState {
  readonly sets: TagSet[];
  readonly hctxs: HctxRes[];
}

const AREA = "tags";
/** Where a sleeping allocation waits (hang titles): v4.4's blk_mq_get_tag() and its reserved path. */
export const TAG_WAIT_POINT = "blk_mq_get_tag";
export const RESERVED_TAG_WAIT_POINT = "__blk_mq_get_reserved_tag";

registerArea({
  name: AREA,
  boot(): TagsState {
    return { sets: [], hctxs: [] };
  },
  invariants(x, full) {
    const st = x.state<TagsState>(AREA);
    for (const s of st.sets) {
      if (!s.alive) continue;
      const v = checkSet(s, full);
      if (v !== null) return v;
    }
    for (const h of st.hctxs) {
      if (h.alive && h.set.alive && h.hctx.nrActive > h.set.tags.nrTags) {
        return { title: "tag nr_active underflow", report: `hctx nr_active ${h.hctx.nrActive} exceeds nr_tags ${h.set.tags.nrTags}` };
      }
    }
    return null;
  },
});

function checkSet(s: TagSet, full: boolean): Violation | null {
  const t = s.tags;
  for (const h of s.held) {
    if (!t.isAllocated(h.tag)) {
      return { title: "tag bitmap count mismatch", report: `tag ${h.tag} is held by the program but not allocated in the map` };
    }
  }
  if (!full) return null;
  for (const reserved of [false, true]) {
    // Count allocated bits the way bt_used()/sbitmap_weight() do: within each word's depth.
    const b = t.bitmap(reserved);
    const base = reserved ? 0 : t.nrReserved;
    const n = reserved ? t.nrReserved : t.nrTags - t.nrReserved;
    let inDepth = 0;
    for (let bit = 0; bit < n; bit++) {
      const tag = base + bit;
      if (!t.isAllocated(tag)) continue;
      if (!heldTag(s, tag)) return { title: "tag bitmap count mismatch", report: `tag ${tag} is allocated but nobody holds it` };
      const w = bit >>> b.shift;
      if (w < b.mapNr && bit - (w << b.shift) < b.wordDepths[w]) inDepth++;
    }
    if (b.used !== inDepth) {
      const which = reserved ? "reserved" : "normal";
      return { title: "tag bitmap count mismatch", report: `${which} bitmap counts ${b.used} used, its bits say ${inDepth}` };
    }
  }
  return null;
}

function heldTag(s: TagSet, tag: number): boolean {
  for (const h of s.held) if (h.tag === tag) return true;
  return false;
}

registerResource({
  kind: "tagset",
  prefix: "set",
  final: true,
  *release(_x, v) {
    const s = v as TagSet;
    s.alive = false;
    s.tags.destroy();
  },
});

registerResource({
  kind: "hctx",
  prefix: "h",
  final: true,
  *release(_x, v) {
    const h = v as HctxRes;
    if (!h.set.alive) return;
    h.set.tags.destroyHctx(h.hctx);
    h.alive = false;
  },
});

registerResource({
  kind: "tag",
  prefix: "r",
  *release(_x, v) {
    putHeld(v as HeldTag, 0);
  },
});

function putHeld(h: HeldTag, ctx: number): void {
  h.set.tags.putTag(Math.min(ctx, h.set.tags.nrCtx - 1), h.tag);
  h.set.held.delete(h);
}

function setOf(v: unknown): TagSet {
  const s = v as TagSet;
  if (!s.alive) throw new RangeError("the tag map was destroyed");
  return s;
}

/** Mirrors `BLKDEV_MIN_RQ`: queue_requests_store() never asks for fewer. */
const BLKDEV_MIN_RQ = 4;

const DEPTHS = [0, 1, 2, 3, 4, 8, 16, 31, 32, 33, 63, 64, 65, 128, 256, 1024];

registerOp({
  name: "tags_init",
  area: AREA,
  doc: "blk_mq_init_tags(): a tag map of queue depth `depth` with `reserved` reserved tags and `ctxs` software queues",
  args: [
    { kind: "int", name: "depth", min: 0, max: 1024, special: DEPTHS },
    { kind: "int", name: "reserved", min: 0, max: 8, special: [0, 1] },
    { kind: "int", name: "ctxs", min: 1, max: 4 },
    { kind: "enum", name: "era", values: ["v4.4", "modern"] },
    { kind: "enum", name: "policy", values: ["fifo", "rr"] },
  ],
  produces: "tagset",
  *exec(x, [depth, reserved, ctxs, era, policy]) {
    const st = x.state<TagsState>(AREA);
    const k = x.kernel;
    const sched = k.sched;
    const tags = new BlkMqTags({
      core: k.core,
      memory: kmallocTagMemory(k.core, k.slab.names.siteId("blk_mq_init_tags")),
      depth: depth as number,
      reserved: reserved as number,
      nrCtx: ctxs as number,
      era: era as "v4.4" | "modern",
      policy: policy as "fifo" | "rr",
      onWake: (w: TagWaiter) => void sched.wakeUpProcess(w.task as Task),
    });
    const s: TagSet = { tags, held: new Set(), waiters: 0, alive: true };
    st.sets.push(s);
    return s;
  },
});

registerOp({
  name: "tags_exit",
  area: AREA,
  doc: "blk_mq_free_tags(); refused while the program holds tags of the map or sleeps on it",
  args: [{ kind: "res", name: "set", res: "tagset", consume: true }],
  *exec(_x, [v]) {
    const s = setOf(v);
    if (s.held.size > 0 || s.waiters > 0) throw new RangeError("tags_exit: the map still has tags held or waiters");
    s.alive = false;
    s.tags.destroy();
  },
});

registerOp({
  name: "tags_hctx",
  area: AREA,
  doc: "the tag fields of a new hctx on the map (blk_mq_init_hctx), tag-shared or not",
  args: [
    { kind: "res", name: "set", res: "tagset" },
    { kind: "flag", name: "shared" },
  ],
  produces: "hctx",
  *exec(x, [v, shared]) {
    const s = setOf(v);
    const h: HctxRes = { set: s, hctx: s.tags.createHctx({ shared: shared as boolean }), alive: true };
    x.state<TagsState>(AREA).hctxs.push(h);
    return h;
  },
});

registerOp({
  name: "tags_hctx_exit",
  area: AREA,
  doc: "blk_mq_exit_hctx()'s tag part: idle, then free the fields",
  args: [{ kind: "res", name: "hctx", res: "hctx", consume: true }],
  *exec(_x, [v]) {
    const h = v as HctxRes;
    setOf(h.set).tags.destroyHctx(h.hctx);
    h.alive = false;
  },
});

registerOp({
  name: "tags_get",
  area: AREA,
  doc: "blk_mq_get_tag() from software queue `ctx`, on an hctx or none; sleeps for a tag unless nowait",
  args: [
    { kind: "res", name: "set", res: "tagset" },
    { kind: "res", name: "hctx", res: "hctx", optional: true },
    { kind: "int", name: "ctx", min: 0, max: 3 },
    { kind: "flag", name: "reserved" },
    { kind: "flag", name: "nowait" },
  ],
  produces: "tag",
  *exec(x, [v, hv, ctx, reserved, nowait]) {
    const s = setOf(v);
    const h = hv as HctxRes | null;
    const sched = x.kernel.sched;
    const data = { tags: s.tags, ctx: ctx as number, hctx: h === null ? null : h.hctx };
    s.waiters++;
    let r;
    try {
      r = yield* getTagWait(data, { reserved: reserved as boolean, nowait: nowait as boolean }, {
        task: x.task,
        runHwQueue: () => {},
        *ioSchedule(w: TagWaiter): Sleepable {
          if (w.woken) return;
          sched.blockCurrent(reserved ? RESERVED_TAG_WAIT_POINT : TAG_WAIT_POINT, false);
          yield;
        },
        remap: () => data,
      });
    } finally {
      s.waiters--;
    }
    if (r.tag < 0) return undefined;
    if (!s.alive) return undefined;
    const held: HeldTag = { set: s, tag: r.tag };
    s.held.add(held);
    return held;
  },
});

registerOp({
  name: "tags_put",
  area: AREA,
  doc: "blk_mq_put_tag() of a held tag from software queue `ctx`",
  args: [
    { kind: "res", name: "tag", res: "tag", consume: true },
    { kind: "int", name: "ctx", min: 0, max: 3 },
  ],
  *exec(x, [v, ctx]) {
    const h = v as HeldTag;
    const t = setOf(h.set).tags;
    const wrong = h.tag + t.nrReserved;
    if (x.regression("tags_reserved_put_wrong_bitmap") && h.tag < t.nrReserved && wrong < t.nrTags && t.isAllocated(wrong)) {
      // Planted: the reserved tag's bit offset is cleared in the normal bitmap.
      t.putTag(ctx as number, wrong);
    } else {
      t.putTag(ctx as number, h.tag);
    }
    h.set.held.delete(h);
  },
});

registerOp({
  name: "tags_resize",
  area: AREA,
  doc: "blk_mq_tag_update_depth() as an nr_requests write of `nr` calls it: at least BLKDEV_MIN_RQ (4); " +
    "modern maps only while nobody sleeps on them (v6.18 freezes the queue first)",
  args: [
    { kind: "res", name: "set", res: "tagset" },
    { kind: "int", name: "nr", min: 0, max: 1100, special: [0, 4, 5, 8, 16, 32, 64, 128] },
  ],
  *exec(_x, [v, nr]) {
    const s = setOf(v);
    const n = Math.max(nr as number, BLKDEV_MIN_RQ);
    if (s.tags.era === "modern") {
      if (s.waiters > 0) throw new RangeError("tags_resize: a modern map resizes under a queue freeze");
    }
    s.tags.resize(n);
  },
});

registerOp({
  name: "tags_busy",
  area: AREA,
  doc: "blk_mq_tag_busy(): mark a tag-shared hctx active",
  args: [{ kind: "res", name: "hctx", res: "hctx" }],
  *exec(_x, [v]) {
    const h = v as HctxRes;
    setOf(h.set).tags.tagBusy(h.hctx);
  },
});

registerOp({
  name: "tags_idle",
  area: AREA,
  doc: "blk_mq_tag_idle(): the hctx leaves active_queues and waiters are woken",
  args: [{ kind: "res", name: "hctx", res: "hctx" }],
  *exec(_x, [v]) {
    const h = v as HctxRes;
    setOf(h.set).tags.tagIdle(h.hctx);
  },
});

registerOp({
  name: "tags_shared",
  area: AREA,
  doc: "queue_set_hctx_shared(): set or clear BLK_MQ_F_TAG_SHARED on an hctx",
  args: [
    { kind: "res", name: "hctx", res: "hctx" },
    { kind: "flag", name: "on" },
  ],
  *exec(_x, [v, on]) {
    const h = v as HctxRes;
    setOf(h.set).tags.setShared(h.hctx, on as boolean);
  },
});

registerOp({
  name: "tags_may_queue",
  area: AREA,
  doc: "hctx_may_queue(): the shared-tag fairness check",
  args: [
    { kind: "res", name: "hctx", res: "hctx" },
    { kind: "flag", name: "reserved" },
  ],
  *exec(_x, [v, reserved]) {
    const h = v as HctxRes;
    setOf(h.set).tags.mayQueue(h.hctx, reserved as boolean);
  },
});

registerOp({
  name: "tags_wakeup_all",
  area: AREA,
  doc: "blk_mq_tag_wakeup_all(), optionally the reserved queue too",
  args: [
    { kind: "res", name: "set", res: "tagset" },
    { kind: "flag", name: "reserved" },
  ],
  *exec(_x, [v, reserved]) {
    setOf(v).tags.wakeupAll(reserved as boolean);
  },
});

registerOp({
  name: "tags_wake_up",
  area: AREA,
  doc: "sbitmap_queue_wake_up(bt, nr) (modern maps only)",
  args: [
    { kind: "res", name: "set", res: "tagset" },
    { kind: "flag", name: "reserved" },
    { kind: "int", name: "nr", min: 1, max: 16 },
  ],
  *exec(_x, [v, reserved, nr]) {
    setOf(v).tags.wakeUp(reserved as boolean, nr as number);
  },
});

registerOp({
  name: "tags_hint",
  area: AREA,
  doc: "overwrite a ctx's allocation hint (where its next search starts)",
  args: [
    { kind: "res", name: "set", res: "tagset" },
    { kind: "int", name: "ctx", min: 0, max: 3 },
    { kind: "int", name: "value", min: 0, max: 1024, special: [0, 1, 31, 32, 63, 64] },
    { kind: "flag", name: "reserved" },
  ],
  *exec(_x, [v, ctx, value, reserved]) {
    setOf(v).tags.setHint(ctx as number, value as number, reserved as boolean);
  },
});

registerOp({
  name: "tags_stat",
  area: AREA,
  doc: "read the map as sysfs `tags` would: bitmaps, wait queues, hints",
  args: [{ kind: "res", name: "set", res: "tagset" }],
  *exec(_x, [v]) {
    const t = setOf(v).tags;
    t.bitmap(false);
    t.bitmap(true);
    for (let q = 0; q < 16; q++) t.waitQueueState(q);
    for (let c = 0; c < t.nrCtx; c++) t.hint(c);
    void t.activeQueues;
  },
});
