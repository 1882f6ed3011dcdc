// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Kernel } from "../kernel/kernel.ts";
import { GFP_NOIO } from "../kernel/mempool.ts";
import type { Sleepable } from "../kernel/sched.ts";
import { boot, dropDisk, inTask, makeDisk, readSysfs } from "./_testkit.ts";
import { bioAddPage, bioAlloc, bioExit, bioField, bioPut, bioSetDev, bioSetField, fsBioSet, registerBioEndIo } from "./bio.ts";
import { blkMqCompleteRequest, blkMqEndRequest, blkMqRequestStarted, blkMqStartRequest, submitBio } from "./blk_mq_request.ts";
import { BLK_EH_HANDLED, BLK_EH_NOT_HANDLED, BLK_EH_RESET_TIMER, blkMqRqTimer, blkQueueModTimer, REQ_NO_TIMEOUT, roundJiffiesUp, rqDeadline } from "./blk_timeout.ts";
import { KernelBug } from "../errors.ts";
import { CORE_VARIANTS, coreHost, instantiateCore } from "../wasm/core.ts";
import type { Gendisk } from "./genhd.ts";
import { RQ } from "./request_record.ts";
import { blkQueueRqTimeout, blkSetQueueDying, Q, type RequestQueue } from "./request_queue.ts";
import { blkMqAllocTagSet, blkMqMapQueue, type BlkMqOps, BLK_MQ_RQ_QUEUE_BUSY, BLK_MQ_RQ_QUEUE_OK, type BlkMqTagSet } from "./tag_set.ts";

const PAGE = 0x100000;
const ETIMEDOUT = -110;

/** A driver that starts each request and keeps it until the test completes it. */
function stallDriver(k: Kernel, withTimeout = true) {
  const st = {
    inflight: [] as number[],
    /** jiffies of each `timeout` call, with the request. */
    timeouts: [] as { rq: number; at: number }[],
    /** What `timeout` returns next (then HANDLED). */
    eh: [] as number[],
    /** Run inside `timeout` before it returns (a racing completion). */
    inHandler: null as ((rq: number) => void) | null,
    startCpu: -1,
  };
  const ops: BlkMqOps = {
    queueRq: (_hctx, bd) => {
      st.startCpu = k.cpus.current;
      blkMqStartRequest(k, bd.rq);
      st.inflight.push(bd.rq);
      return BLK_MQ_RQ_QUEUE_OK;
    },
    mapQueue: blkMqMapQueue,
  };
  if (withTimeout) {
    ops.timeout = (rq) => {
      st.timeouts.push({ rq, at: k.clock.jiffies() });
      st.inHandler?.(rq);
      const ret = st.eh.shift() ?? BLK_EH_HANDLED;
      if (ret === BLK_EH_HANDLED) {
        new DataView(k.core.memory.buffer).setInt32(rq + RQ.ERRORS, ETIMEDOUT, true);
        st.inflight.splice(st.inflight.indexOf(rq), 1);
      }
      return ret;
    };
  }
  return { ops, st };
}

interface Done {
  bio: number;
  error: number;
  at: number;
}

function recorder(k: Kernel, done: Done[]): number {
  return registerBioEndIo(k, "timeout_test_end_io", (bio, kk) => {
    done.push({ bio, error: bioField(kk, bio, "bi_error"), at: kk.clock.jiffies() });
    bioPut(kk, bio);
  });
}

function* makeBio(k: Kernel, q: RequestQueue, sector: number, endIo: number): Sleepable<number> {
  const bio = yield* bioAlloc(fsBioSet(k), GFP_NOIO, 1);
  assert.is(bioAddPage(k, bio, PAGE, 4096, 0), 4096);
  bioSetField(k, bio, "bi_sector", sector);
  bioSetField(k, bio, "bi_end_io", endIo);
  bioSetDev(k, bio, q.id);
  return bio;
}

interface Rig {
  k: Kernel;
  set: BlkMqTagSet;
  disk: Gendisk;
  q: RequestQueue;
  st: ReturnType<typeof stallDriver>["st"];
  done: Done[];
  endIo: number;
}

function rig(opts: { timeout?: number; withTimeout?: boolean } = {}): Rig {
  const k = boot({ cpus: 2 });
  const { ops, st } = stallDriver(k, opts.withTimeout ?? true);
  const set = blkMqAllocTagSet(k.block, { ops, nrHwQueues: 1, queueDepth: 8, timeout: opts.timeout ?? 0 });
  const disk = inTask(k, () => makeDisk(set, "stall0"));
  const done: Done[] = [];
  return { k, set, disk, q: disk.queue!, st, done, endIo: recorder(k, done) };
}

/** Submits one read from a task (on `cpu` if given); @returns the run's jiffies at submission. */
function submit(r: Rig, sector = 0, cpu?: number): number {
  let at = -1;
  inTaskUntilIdle(r.k, function* () {
    at = r.k.clock.jiffies();
    yield* submitBio(r.k, yield* makeBio(r.k, r.q, sector, r.endIo));
  }, cpu);
  return at;
}

/** Spawns `body` and runs only until it finishes (timers left pending). */
function inTaskUntilIdle(k: Kernel, body: () => Generator<unknown, void>, cpu?: number): void {
  let finished = false;
  k.sched.spawn("submit", function* () {
    yield* body() as Sleepable;
    finished = true;
  }, cpu === undefined ? {} : { cpu, bound: true });
  k.run({ until: () => finished });
  assert.ok(finished, "the submitter finished");
}

/** Runs the machine until jiffy `j` (timers due up to it fire). */
function runTo(k: Kernel, j: number): void {
  const r = k.run({ deadline: j * k.clock.tickNs });
  assert.ok(r.kind === "deadline" || r.kind === "done", `run ended ${r.kind}`);
}

function teardown(r: Rig): void {
  inTask(r.k, () => dropDisk(r.disk, r.set));
  assert.is(r.q.timeout.pending, false, "blk_sync_queue stopped the timer");
  bioExit(r.k);
  assert.is(r.k.liveObjects(), 0, "no live objects");
  r.k.assertClean();
}

test("a request that never completes times out after the default 30 s; the handler runs once and HANDLED ends it with rq->errors", () => {
  const r = rig();
  const { k, q, st, done } = r;
  assert.is(q.rqTimeout, 30 * k.clock.HZ);
  const t0 = submit(r);
  assert.is(st.inflight.length, 1);
  const rq = st.inflight[0];
  assert.ok(blkMqRequestStarted(k, rq));
  assert.is(rqDeadline(k, rq), t0 + 30 * k.clock.HZ, "deadline = jiffies + rq_timeout at start");
  assert.ok(q.timeout.pending, "the queue timer is armed");
  runTo(k, t0 + 30 * k.clock.HZ - 1);
  assert.is(st.timeouts.length, 0, "not before the deadline");
  assert.is(done.length, 0);
  runTo(k, t0 + 40 * k.clock.HZ);
  assert.is(st.timeouts.length, 1, "the handler ran once");
  const at = st.timeouts[0].at;
  assert.ok(at >= t0 + 30 * k.clock.HZ && at <= t0 + 31 * k.clock.HZ, `timed out at ${at}`);
  assert.equal(done.map((d) => d.error), [ETIMEDOUT]);
  assert.is(done[0].at, at, "ended from the timer pass");
  assert.is(q.timeout.pending, false, "nothing pending: the timer is not re-armed");
  teardown(r);
});

test("BLK_EH_RESET_TIMER pushes the deadline by rq_timeout; without a handler the default is RESET_TIMER", () => {
  const r = rig({ timeout: 2000 });
  const { k, st, done } = r;
  st.eh.push(BLK_EH_RESET_TIMER);
  const t0 = submit(r);
  const rq = st.inflight[0];
  runTo(k, t0 + 10_000);
  assert.is(st.timeouts.length, 2, "timed out, reset, timed out again");
  const [a, b] = st.timeouts.map((t) => t.at);
  assert.ok(a >= t0 + 2000 && a <= t0 + 3000, `first at ${a}`);
  assert.ok(b >= a + 2000 && b <= a + 3000, `second at ${b}: a new deadline of jiffies + 2 s`);
  assert.is(st.timeouts[1].rq, rq);
  assert.equal(done.map((d) => d.error), [ETIMEDOUT]);
  teardown(r);

  const r2 = rig({ timeout: 2000, withTimeout: false });
  const s0 = submit(r2);
  const rq2 = r2.st.inflight[0];
  runTo(r2.k, s0 + 6500);
  assert.is(r2.done.length, 0, "no handler: never ended by the timer");
  assert.ok(rqDeadline(r2.k, rq2) >= s0 + 6000, `deadline pushed to ${rqDeadline(r2.k, rq2)}`);
  assert.ok(r2.q.timeout.pending, "still armed for the reset deadline");
  assert.ok(blkMqCompleteRequest(r2.k, rq2, 0), "COMPLETE was cleared by the reset: the completion is taken");
  assert.equal(r2.done.map((d) => d.error), [0]);
  teardown(r2);
});

test("a request completed just before the timer fires is not timed out, and the timer is not re-armed", () => {
  const r = rig({ timeout: 2000 });
  const { k, q, st, done } = r;
  const t0 = submit(r);
  const rq = st.inflight[0];
  const fire = q.timeout.expires;
  assert.ok(fire >= t0 + 2000);
  runTo(k, fire - 1);
  assert.ok(q.timeout.pending);
  assert.ok(blkMqCompleteRequest(k, rq, 0));
  runTo(k, t0 + 10_000);
  assert.is(st.timeouts.length, 0, "the handler never ran");
  assert.equal(done.map((d) => d.error), [0]);
  assert.is(q.timeout.pending, false);
  teardown(r);
});

test("a completion racing with the timeout is handled once (inside the handler, and after NOT_HANDLED)", () => {
  const r = rig({ timeout: 1000 });
  const { k, st, done } = r;
  const raced: boolean[] = [];
  st.inHandler = (rq) => raced.push(blkMqCompleteRequest(k, rq, 0));
  const t0 = submit(r);
  runTo(k, t0 + 5000);
  assert.equal(raced, [false], "the interrupt's completion was ignored: the timeout owns the request");
  assert.equal(done.map((d) => d.error), [ETIMEDOUT], "ended once, by HANDLED");

  st.inHandler = null;
  st.eh.push(BLK_EH_NOT_HANDLED);
  const t1 = submit(r, 8);
  const rq = st.inflight[0];
  runTo(k, t1 + 5000);
  assert.is(st.timeouts.length, 2);
  assert.is(done.length, 1, "NOT_HANDLED: the driver owns it");
  assert.is(blkMqCompleteRequest(k, rq, 0), false, "COMPLETE stays set: a late completion is ignored");
  assert.is(done.length, 1);
  const t2 = submit(r, 16); // arms the timer again while the driver still holds rq
  runTo(k, t2 + 5000);
  assert.equal(st.timeouts.slice(1).filter((t) => t.rq === rq).length, 1, "a request left COMPLETE by NOT_HANDLED is not timed out again");
  assert.is(st.timeouts.length, 3, "the new request timed out");
  assert.is(done.length, 2);
  blkMqEndRequest(k, rq, ETIMEDOUT); // the driver finishes its own error handling
  assert.equal(done.map((d) => d.error), [ETIMEDOUT, ETIMEDOUT, ETIMEDOUT]);
  runTo(k, t2 + 20_000);
  assert.is(st.timeouts.length, 3, "no further timeout");
  teardown(r);
});

test("the timer is armed at round_jiffies_up(deadline), moved only to an earlier expiry, and re-armed to the earliest pending deadline", () => {
  const r = rig({ timeout: 2000 });
  const { k, q, st } = r;
  const t0 = submit(r);
  const a = st.inflight[0];
  const expA = roundJiffiesUp(k, t0 + 2000, st.startCpu);
  assert.is(q.timeout.expires, expA, "rounded up to a whole second (with the CPU skew)");
  assert.is(expA % k.clock.HZ, (k.clock.HZ - 3 * st.startCpu % k.clock.HZ) % k.clock.HZ);
  blkQueueRqTimeout(q, 500);
  const t1 = submit(r, 8);
  const b = st.inflight[1];
  assert.is(rqDeadline(k, b), t1 + 500);
  const expB = roundJiffiesUp(k, t1 + 500, st.startCpu);
  assert.ok(expB < expA);
  assert.is(q.timeout.expires, expB, "an earlier expiry moves the timer");
  blkQueueRqTimeout(q, 3000);
  submit(r, 16);
  assert.is(q.timeout.expires, expB, "a later one does not");
  st.eh.push(BLK_EH_HANDLED);
  runTo(k, expB);
  assert.equal(st.timeouts.map((t) => t.rq), [b], "only b expired");
  assert.is(q.timeout.expires, roundJiffiesUp(k, rqDeadline(k, a), q.timeout.cpu), "re-armed to a's rounded deadline, the earliest");
  for (const rq of st.inflight.splice(0)) blkMqCompleteRequest(k, rq, 0);
  runTo(k, expA + 10_000);
  teardown(r);
});

/** The queue record's mirror of q->timeout (read from linear memory), and the timer itself. */
function timerStates(k: Kernel, q: RequestQueue): [[boolean, number], [boolean, number]] {
  const dv = k.dv;
  const mirror: [boolean, number] = [dv.getUint32(q.addr + Q.TIMEOUT_PENDING, true) === 1, dv.getFloat64(q.addr + Q.TIMEOUT_EXPIRES, true)];
  return [mirror, [q.timeout.pending, q.timeout.expires]];
}

test("the queue record's timeout_pending and timeout_expires equal q->timeout after an arm, an earlier re-arm, a fire and a del", () => {
  const r = rig({ timeout: 2000 });
  const { k, q, st } = r;
  const same = (what: string) => {
    const [mirror, timer] = timerStates(k, q);
    assert.equal(mirror, timer, what);
    return timer;
  };
  assert.equal(same("before any request"), [false, 0]);
  const t0 = submit(r);
  const expA = roundJiffiesUp(k, t0 + 2000, st.startCpu);
  assert.equal(same("armed"), [true, expA]);
  assert.is(q.timeoutPending, true);
  assert.is(q.timeoutExpires, expA);
  blkQueueRqTimeout(q, 500);
  const t1 = submit(r, 8);
  const expB = roundJiffiesUp(k, t1 + 500, st.startCpu);
  assert.ok(expB < expA);
  assert.equal(same("re-armed earlier"), [true, expB]);
  const inFire: [boolean, number][][] = [];
  st.inHandler = () => inFire.push(timerStates(k, q));
  st.eh.push(BLK_EH_HANDLED);
  runTo(k, expB);
  assert.equal(inFire, [[[false, expB], [false, expB]]], "inside the timer's callback: detached, in both");
  assert.equal(same("the fire re-armed it to the earliest deadline left"), [true, roundJiffiesUp(k, rqDeadline(k, st.inflight[0]), q.timeout.cpu)]);
  assert.ok(k.timers.delTimer(q.timeout));
  assert.equal(same("deleted")[0], false);
  for (const rq of st.inflight.splice(0)) blkMqCompleteRequest(k, rq, 0);
  submit(r, 16);
  assert.equal(same("armed again")[0], true);
  for (const rq of st.inflight.splice(0)) blkMqCompleteRequest(k, rq, 0);
  runTo(k, k.clock.jiffies() + 10_000);
  assert.equal(same("fired with nothing pending: not re-armed")[0], false);
  teardown(r);
});

test("an expiry earlier by less than HZ/2 (another CPU's round_jiffies_up skew) does not move the timer", () => {
  const r = rig({ timeout: 2000 });
  const { k, q, st } = r;
  const t0 = submit(r, 0, 0);
  assert.is(st.startCpu, 0);
  const exp0 = q.timeout.expires;
  assert.is(exp0, roundJiffiesUp(k, t0 + 2000, 0));
  const t1 = submit(r, 8, 1);
  assert.is(st.startCpu, 1);
  assert.is(t1, t0, "same jiffy, so the same deadline");
  assert.is(roundJiffiesUp(k, t1 + 2000, 1), exp0 - 3, "cpu 1's expiry is 3 jiffies earlier");
  assert.is(q.timeout.expires, exp0, "not moved: the difference is under HZ/2");
  for (const rq of st.inflight.splice(0)) blkMqCompleteRequest(k, rq, 0);
  runTo(k, exp0 + 10_000);
  teardown(r);
});

test("on a shared tag set, active_queues drops after the timer pass that finds nothing pending", () => {
  const k = boot({ cpus: 2 });
  const { ops, st } = stallDriver(k);
  const set = blkMqAllocTagSet(k.block, { ops, nrHwQueues: 1, queueDepth: 8, timeout: 1000 });
  const d0 = inTask(k, () => makeDisk(set, "stall0"));
  const d1 = inTask(k, () => makeDisk(set, "stall1"));
  const done: Done[] = [];
  const endIo = recorder(k, done);
  // Read in place: readSysfs runs the machine to idle, which would fire the timers.
  const activeQueues = () => d0.queue!.queueHwCtx[0].tags!.tags.activeQueues;
  for (const d of [d0, d1]) {
    inTaskUntilIdle(k, function* () {
      yield* submitBio(k, yield* makeBio(k, d.queue!, 0, endIo));
    });
  }
  assert.is(activeQueues(), 2, "both queues are active on the shared map");
  for (const rq of st.inflight.splice(0)) blkMqCompleteRequest(k, rq, 0);
  assert.is(done.length, 2);
  assert.is(activeQueues(), 2, "idling is lazy: still active after the completions");
  const until = Math.max(d0.queue!.timeout.expires, d1.queue!.timeout.expires);
  runTo(k, until);
  assert.is(activeQueues(), 0, "each queue's timer pass idled its hctx");
  assert.is(d0.queue!.timeout.pending || d1.queue!.timeout.pending, false);
  assert.match(readSysfs(k, "/sys/block/stall1/mq/0/tags"), /active_queues=0\n/);
  inTask(k, () => dropDisk(d1));
  inTask(k, () => dropDisk(d0, set));
  bioExit(k);
  assert.is(k.liveObjects(), 0);
  k.assertClean();
});

test("on a dying queue the timer pass ends a request that was never started with -EIO", () => {
  const k = boot({ cpus: 2 });
  const ops: BlkMqOps = {
    // virtio_blk-style: out of descriptors, stop the hw queue and report BUSY (the request is not started).
    queueRq: (hctx) => {
      hctx.setStopped(true);
      return BLK_MQ_RQ_QUEUE_BUSY;
    },
    mapQueue: blkMqMapQueue,
  };
  const set = blkMqAllocTagSet(k.block, { ops, nrHwQueues: 1, queueDepth: 8 });
  const disk = inTask(k, () => makeDisk(set, "busy0"));
  const q = disk.queue!;
  const done: Done[] = [];
  const endIo = recorder(k, done);
  inTaskUntilIdle(k, function* () {
    yield* submitBio(k, yield* makeBio(k, q, 0, endIo));
  });
  const hctx = q.queueHwCtx[0];
  assert.is(hctx.tags!.tags.bitmap().used, 1, "the request holds its tag");
  assert.is(q.timeout.pending, false, "never started: no timer armed");
  blkMqRqTimer(q); // the timer firing, on a live queue
  assert.is(done.length, 0, "a live queue leaves unstarted requests alone");
  blkSetQueueDying(q);
  blkMqRqTimer(q);
  assert.equal(done.map((d) => d.error), [-5], "ended with -EIO");
  assert.is(hctx.tags!.tags.bitmap().used, 0, "its tag was put back");
  // v4.4 leaves the ended request on the stopped hctx's lists; a real driver never restarts a
  // dying queue's hctx, and the port drops the stale entries so teardown does not see them.
  k.core.blk_list_init(hctx.dispatchHead);
  for (const ctx of hctx.ctxs) k.core.blk_list_init(ctx.rqListHead);
  inTask(k, () => dropDisk(disk, set));
  bioExit(k);
  assert.is(k.liveObjects(), 0);
  k.assertClean();
});

test("blkMqStartRequest() arms q->timeout through host_mod_timer with the deadline stored and before STARTED is set, once per new expiry", () => {
  const r = rig({ timeout: 2000 });
  const { k, q, st } = r;
  const host = coreHost(k.core);
  const modTimer = host.modTimer;
  const calls: { q: number; expires: number; deadline: number; started: boolean; cpu: number }[] = [];
  let lastRq = 0;
  host.modTimer = (qa, expires) => {
    calls.push({ q: qa, expires, deadline: rqDeadline(k, lastRq), started: blkMqRequestStarted(k, lastRq), cpu: k.cpus.current });
    modTimer(qa, expires);
  };
  const ops = q.mqOps!;
  const queueRq = ops.queueRq;
  ops.queueRq = (hctx, bd) => {
    lastRq = bd.rq;
    return queueRq(hctx, bd);
  };
  const t0 = submit(r);
  submit(r, 8); // the same expiry: no call
  assert.is(calls.length, 1);
  assert.equal(calls, [{ q: q.addr, expires: roundJiffiesUp(k, t0 + 2000, calls[0].cpu), deadline: t0 + 2000, started: false, cpu: calls[0].cpu }]);
  assert.ok(blkMqRequestStarted(k, st.inflight[0]) && blkMqRequestStarted(k, st.inflight[1]));
  host.modTimer = modTimer;
  ops.queueRq = queueRq;
  for (const rq of st.inflight.splice(0)) blkMqCompleteRequest(k, rq, 0);
  runTo(k, t0 + 10_000);
  teardown(r);
});

/**
 * The v4.4 blk_add_timer() decision as the TypeScript port computed it before
 * it moved into the core: the deadline, and the expiry mod_timer() gets (or null).
 */
function addTimerModel(now: number, timeout: number, cpu: number, HZ: number, pending: boolean, expires: number): { deadline: number; mod: number | null } {
  const round = (j: number) => {
    const original = j;
    j += cpu * 3;
    j = j - (j % HZ) + HZ;
    j -= cpu * 3;
    return j > now ? j : original;
  };
  const deadline = now + timeout;
  const maxt = round(now + 5 * HZ);
  let expiry = round(deadline);
  if (expiry > maxt) expiry = maxt;
  if (!pending || expiry < expires) {
    if (!pending || expires - expiry >= HZ / 2) return { deadline, mod: expiry };
  }
  return { deadline, mod: null };
}

test("the core's blk_add_timer() matches the v4.4 decision for any HZ, CPU, timeout and timer state", () => {
  let seed = 12345;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  for (const v of CORE_VARIANTS) {
    const core = instantiateCore(v);
    const mods: [number, number][] = [];
    coreHost(core).modTimer = (qa, expires) => mods.push([qa, expires]);
    const q = core.kzalloc(64, 0);
    const rq = core.kzalloc(128, 0);
    for (let i = 0; i < 3000; i++) {
      const dv = new DataView(core.memory.buffer);
      const HZ = [100, 250, 300, 1000, 1001, 1024, 7][rnd(7)];
      const cpu = rnd(64);
      const now = rnd(4) === 0 ? rnd(50) : rnd(2 ** 31) * 1000 + rnd(1000);
      const rqTimeout = rnd(3) === 0 ? 0 : 1 + rnd(20 * HZ);
      const qTimeout = 1 + rnd(60 * HZ);
      const pending = rnd(2) === 0;
      const timeout = rqTimeout !== 0 ? rqTimeout : qTimeout;
      // a pending expiry around the new one: at, just under and just over HZ/2 later, or at random
      const expiry = addTimerModel(now, timeout, cpu, HZ, false, 0).mod!;
      const near = [HZ / 2, Math.floor(HZ / 2), Math.ceil(HZ / 2), Math.floor(HZ / 2) - 1, 0, -1, 1];
      const expires = rnd(2) === 0 ? expiry + near[rnd(near.length)] : now + rnd(10 * HZ) - 2 * HZ;
      const noTimeout = rnd(10) === 0;
      dv.setUint32(rq + RQ.CMD_FLAGS, noTimeout ? REQ_NO_TIMEOUT >>> 0 : 1, true);
      dv.setUint32(rq + RQ.TIMEOUT, rqTimeout, true);
      dv.setFloat64(rq + RQ.DEADLINE, -1, true);
      dv.setUint32(q + Q.RQ_TIMEOUT, qTimeout, true);
      dv.setUint32(q + Q.TIMEOUT_PENDING, pending ? 1 : 0, true);
      dv.setFloat64(q + Q.TIMEOUT_EXPIRES, expires, true);
      mods.length = 0;
      assert.is(core.blk_add_timer(q, rq, now, cpu, HZ), 0);
      const what = `${v}: now=${now} timeout=${rqTimeout}/${qTimeout} cpu=${cpu} HZ=${HZ} pending=${pending} expires=${expires}`;
      if (noTimeout) {
        assert.equal([mods, dv.getFloat64(rq + RQ.DEADLINE, true), dv.getUint32(rq + RQ.TIMEOUT, true)], [[], -1, rqTimeout], what);
        continue;
      }
      const m = addTimerModel(now, timeout, cpu, HZ, pending, expires);
      assert.is(dv.getUint32(rq + RQ.TIMEOUT, true), timeout, what);
      assert.is(dv.getFloat64(rq + RQ.DEADLINE, true), m.deadline, what);
      assert.equal(mods, m.mod === null ? [] : [[q, m.mod]], what);
    }
    core.kfree(q);
    core.kfree(rq);
  }
});

test("the core's blk_add_timer() and blk_mq_start_request() refuse a null record with -22; a record no queue has is a KernelBug for mod_timer", () => {
  const k = boot({ cpus: 2 });
  const rq = k.core.kzalloc(128, 0);
  const q = k.core.kzalloc(64, 0);
  assert.is(k.core.blk_add_timer(0, rq, 0, 0, 1000), -22);
  assert.is(k.core.blk_add_timer(q, 0, 0, 0, 1000), -22);
  assert.is(k.core.blk_add_timer(q, rq, 0, 0, 0), -22);
  assert.is(k.core.blk_mq_start_request(q, 0, 0, 0, 1000), -22);
  assert.is(k.core.blk_mq_start_request(q, rq, 0, 0, 0), -22);
  assert.is(k.dv.getUint32(rq + RQ.ATOMIC_FLAGS, true), 0, "nothing started");
  assert.is(k.core.blk_mq_start_request(0, rq, 0, 0, 1000), 0, "q 0: no timer, only the flags");
  assert.is(k.dv.getUint32(rq + RQ.ATOMIC_FLAGS, true), 2, "STARTED");
  assert.is(k.dv.getUint32(rq + RQ.TIMEOUT, true), 0, "no timer work");
  k.dv.setUint32(q + Q.ID, 4000, true);
  assert.throws(() => blkQueueModTimer(k, q, 10), (e: unknown) => e instanceof KernelBug);
  k.log.clear();
  k.core.kfree(q);
  k.core.kfree(rq);
  assert.is(k.liveObjects(), 0);
});

test.run();
