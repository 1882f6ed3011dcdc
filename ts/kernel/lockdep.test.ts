// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Klog } from "./klog.ts";
import { LockClass, Lockdep, MAX_LOCK_DEPTH } from "./lockdep.ts";

const T1 = { pid: 10, comm: "kworker/0:1" };
const T2 = { pid: 20, comm: "fio" };

function setup() {
  const log = new Klog(() => 5_000_000_000);
  log.setContext(() => ({ cpu: 1, pid: 20, comm: "fio" }));
  return { log, ld: new Lockdep(log) };
}

/** Takes the classes in order, then releases them in reverse. */
function nest(
  ld: Lockdep,
  task: { pid: number; comm: string },
  classes: LockClass[],
  site = "f",
): void {
  for (const c of classes) ld.acquire(task, c, site);
  for (const c of [...classes].reverse()) ld.release(task, c, site);
}

/** The golden report: every line stamped "[    5.000000] " as dmesg shows it. */
const ABBA_REPORT = [
  "",
  "======================================================",
  "WARNING: possible circular locking dependency detected",
  "4.4.0 #1 Not tainted",
  "------------------------------------------------------",
  "fio/20 is trying to acquire lock:",
  " (&set->tag_list_lock){+.+.}, at: blk_mq_update_tag_set_depth",
  "",
  "but task is already holding lock:",
  " (&q->sysfs_lock){+.+.}, at: queue_attr_store",
  "",
  "which lock already depends on the new lock.",
  "",
  "",
  "the existing dependency chain (in reverse order) is:",
  "",
  "-> #1 (&q->sysfs_lock){+.+.}:",
  "       blk_mq_realloc_hw_ctxs",
  "       by task kworker/0:1/10",
  "",
  "-> #0 (&set->tag_list_lock){+.+.}:",
  "       blk_mq_update_tag_set_depth",
  "       by task fio/20",
  "",
  "other info that might help us debug this:",
  "",
  " Possible unsafe locking scenario:",
  "",
  "       CPU0                    CPU1",
  "       ----                    ----",
  "  lock(&q->sysfs_lock);",
  "                               lock(&set->tag_list_lock);",
  "                               lock(&q->sysfs_lock);",
  "  lock(&set->tag_list_lock);",
  "",
  " *** DEADLOCK ***",
  "",
  "1 lock held by fio/20:",
  " #0:  (&q->sysfs_lock){+.+.}, at: queue_attr_store",
  "",
  "stack backtrace:",
  "CPU: 1 PID: 20 Comm: fio Not tainted 4.4.0 #1",
  "Call Trace:",
  " blk_mq_update_tag_set_depth",
].map((l) => `[    5.000000] ${l}\n`).join("");

test("ABBA across two tasks prints the kernel's circular dependency report, exactly", () => {
  const { log, ld } = setup();
  const tagList = new LockClass("&set->tag_list_lock");
  const sysfs = new LockClass("&q->sysfs_lock");
  ld.acquire(T1, tagList, "blk_mq_update_nr_hw_queues");
  ld.acquire(T1, sysfs, "blk_mq_realloc_hw_ctxs");
  ld.release(T1, sysfs, "blk_mq_realloc_hw_ctxs");
  ld.release(T1, tagList, "blk_mq_update_nr_hw_queues");
  assert.ok(log.isClean());
  ld.acquire(T2, sysfs, "queue_attr_store");
  ld.acquire(T2, tagList, "blk_mq_update_tag_set_depth");
  assert.is(log.text(), ABBA_REPORT);
  assert.not.ok(log.isClean());
  assert.not.ok(ld.debugLocks);
  assert.is(ld.reportCount(), 1);
  assert.not.ok(ld.dependsOn(sysfs, tagList), "the inverted edge is not recorded");
  assert.equal(ld.held(T2), [sysfs, tagList], "the lock is still recorded as held");
});

test("an inversion is reported once per class pair, even with checking turned back on", () => {
  const { log, ld } = setup();
  const a = new LockClass("A");
  const b = new LockClass("B");
  nest(ld, T1, [a, b]);
  nest(ld, T2, [b, a]);
  ld.enable();
  nest(ld, T2, [b, a]);
  nest(ld, T1, [b, a]);
  assert.is(ld.reportCount(), 1);
  assert.is(log.findings().filter((l) => l.includes("circular")).length, 1);
});

test("after a report debug_locks is off and a different inversion stays silent until reset()", () => {
  const { log, ld } = setup();
  const [a, b, c, d] = ["A", "B", "C", "D"].map((n) => new LockClass(n));
  nest(ld, T1, [a, b]);
  nest(ld, T2, [b, a]);
  nest(ld, T1, [c, d]);
  nest(ld, T2, [d, c]);
  assert.is(ld.reportCount(), 1);
  assert.not.ok(ld.dependsOn(c, d), "no dependencies are recorded while off");
  ld.reset();
  assert.ok(ld.debugLocks);
  log.clear();
  nest(ld, T1, [c, d]);
  nest(ld, T2, [d, c]);
  assert.is(ld.reportCount(), 1);
  assert.not.ok(log.isClean());
});

test("a longer cycle prints the whole chain and 'Chain exists of'", () => {
  const { log, ld } = setup();
  const [a, b, c] = ["A", "B", "C"].map((n) => new LockClass(n));
  ld.acquire(T1, a, "s1");
  ld.acquire(T1, c, "s2");
  ld.release(T1, c, "s2");
  ld.release(T1, a, "s1");
  nest(ld, T1, [c, b], "s4");
  ld.acquire(T2, b, "s5");
  ld.acquire(T2, a, "s6");
  const lines = log.lines().map((l) => l.slice(15));
  const at = lines.indexOf("the existing dependency chain (in reverse order) is:");
  assert.equal(lines.slice(at + 1, at + 13), [
    "",
    "-> #2 (B){+.+.}:",
    "       s4",
    "       by task kworker/0:1/10",
    "",
    "-> #1 (C){+.+.}:",
    "       s2",
    "       by task kworker/0:1/10",
    "",
    "-> #0 (A){+.+.}:",
    "       s6",
    "       by task fio/20",
  ]);
  const chain = lines.indexOf("Chain exists of:");
  assert.is(lines[chain + 1], "  A --> C --> B");
  assert.ok(lines.includes(`${" ".repeat(31)}lock(C);`));
});

test("acquiring a class the task already holds reports recursive locking", () => {
  const { log, ld } = setup();
  const q = new LockClass("&q->mq_freeze_lock");
  ld.acquire(T2, q, "blk_mq_freeze_queue_start");
  ld.acquire(T2, q, "blk_mq_freeze_queue_start");
  const lines = log.lines().map((l) => l.slice(15));
  const at = lines.indexOf("WARNING: possible recursive locking detected");
  assert.ok(at > 0);
  assert.equal(lines.slice(at - 2, at + 25), [
    "",
    "============================================",
    "WARNING: possible recursive locking detected",
    "4.4.0 #1 Not tainted",
    "--------------------------------------------",
    "fio/20 is trying to acquire lock:",
    " (&q->mq_freeze_lock){+.+.}, at: blk_mq_freeze_queue_start",
    "",
    "but task is already holding lock:",
    " (&q->mq_freeze_lock){+.+.}, at: blk_mq_freeze_queue_start",
    "",
    "other info that might help us debug this:",
    " Possible unsafe locking scenario:",
    "",
    "       CPU0",
    "       ----",
    "  lock(&q->mq_freeze_lock);",
    "  lock(&q->mq_freeze_lock);",
    "",
    " *** DEADLOCK ***",
    "",
    " May be due to missing lock nesting notation",
    "",
    "1 lock held by fio/20:",
    " #0:  (&q->mq_freeze_lock){+.+.}, at: blk_mq_freeze_queue_start",
    "",
    "stack backtrace:",
  ]);
  assert.not.ok(ld.debugLocks);
  assert.is(ld.held(T2).length, 2);
});

test("subclasses of one class nest without a recursive report", () => {
  const { log, ld } = setup();
  const q = new LockClass("&q->lock");
  assert.is(q.subclass(0), q);
  assert.is(q.subclass(1), q.subclass(1));
  assert.is(q.subclass(1).name, "&q->lock/1");
  ld.acquire(T1, q, "a");
  ld.acquire(T1, q.subclass(1), "b");
  assert.ok(log.isClean());
  assert.ok(ld.dependsOn(q, q.subclass(1)));
  assert.throws(() => q.subclass(8), (e: unknown) => e instanceof RangeError);
});

test("releasing a lock that is not held reports bad unlock balance", () => {
  const { log, ld } = setup();
  const a = new LockClass("&hctx->lock");
  ld.release(T2, a, "blk_mq_run_hw_queue");
  const lines = log.lines().map((l) => l.slice(15));
  const at = lines.indexOf("WARNING: bad unlock balance detected!");
  assert.equal(lines.slice(at - 2, at + 11), [
    "",
    "=====================================",
    "WARNING: bad unlock balance detected!",
    "4.4.0 #1 Not tainted",
    "-------------------------------------",
    "fio/20 is trying to release lock (&hctx->lock) at:",
    "[<0000000000000000>] blk_mq_run_hw_queue",
    "but there are no more locks to release!",
    "",
    "other info that might help us debug this:",
    "no locks held by fio/20.",
    "",
    "stack backtrace:",
  ]);
  assert.not.ok(log.isClean());
});

test("a released lock cannot be released twice", () => {
  const { log, ld } = setup();
  const a = new LockClass("A");
  ld.acquire(T1, a, "x");
  ld.release(T1, a, "x");
  assert.ok(log.isClean());
  ld.release(T1, a, "x");
  assert.match(log.text(), /bad unlock balance/);
});

test("a new lock depends only on the most recent held lock that is not a trylock", () => {
  const { log, ld } = setup();
  const [a, b, c] = ["A", "B", "C"].map((n) => new LockClass(n));
  nest(ld, T1, [a, b, c]);
  assert.ok(ld.dependsOn(a, b));
  assert.ok(ld.dependsOn(b, c));
  assert.not.ok(ld.dependsOn(a, c));
  assert.ok(ld.reachable(a, c));
  assert.not.ok(ld.reachable(c, a));
  assert.is(ld.dependencies().length, 2);
  assert.ok(log.isClean());
});

test("a trylock adds no dependency to itself, but locks taken under it depend on it", () => {
  const { log, ld } = setup();
  const [a, b, c] = ["A", "B", "C"].map((n) => new LockClass(n));
  ld.acquire(T1, a, "x");
  ld.acquire(T1, b, "x", { trylock: true });
  assert.not.ok(ld.dependsOn(a, b));
  assert.equal(ld.held(T1), [a, b]);
  ld.acquire(T1, c, "x");
  assert.ok(ld.dependsOn(b, c), "from the trylock");
  assert.ok(ld.dependsOn(a, c), "and from the lock below it");
  ld.release(T1, c, "x");
  ld.release(T1, b, "x");
  ld.release(T1, a, "x");
  ld.acquire(T2, b, "y");
  ld.acquire(T2, a, "y", { trylock: true });
  assert.ok(log.isClean(), "B then trylock A is no inversion");
});

test("dependencies remember the first site and task that created them", () => {
  const { ld } = setup();
  const [a, b] = ["A", "B"].map((n) => new LockClass(n));
  nest(ld, T1, [a, b], "first");
  nest(ld, T2, [a, b], "second");
  assert.equal(ld.dependencies().map((d) => [d.from.name, d.to.name, d.where, d.pid, d.comm]), [
    ["A", "B", "first", 10, "kworker/0:1"],
  ]);
});

test("locks may be released out of order; held() lists the rest oldest first", () => {
  const { log, ld } = setup();
  const [a, b, c] = ["A", "B", "C"].map((n) => new LockClass(n));
  for (const l of [a, b, c]) ld.acquire(T1, l, "x");
  ld.release(T1, b, "x");
  assert.equal(ld.held(T1), [a, c]);
  assert.ok(ld.isHeld(T1, a));
  assert.not.ok(ld.isHeld(T2, a));
  assert.equal(ld.held(T2), []);
  assert.ok(log.isClean());
});

test("holding more than MAX_LOCK_DEPTH locks turns lockdep off with a BUG line", () => {
  const { log, ld } = setup();
  for (let i = 0; i <= MAX_LOCK_DEPTH; i++) ld.acquire(T1, new LockClass(`L${i}`), "loop");
  assert.ok(log.lines().some((l) => l.endsWith("BUG: MAX_LOCK_DEPTH too low!")));
  assert.ok(
    log.lines().some((l) => l.endsWith(`depth: ${MAX_LOCK_DEPTH}  max: ${MAX_LOCK_DEPTH}!`)),
  );
  assert.not.ok(ld.debugLocks);
});

test("checkNoLocksHeld() reports a task that still holds locks", () => {
  const { log, ld } = setup();
  const a = new LockClass("&q->sysfs_lock");
  assert.ok(ld.checkNoLocksHeld(T1));
  ld.acquire(T1, a, "queue_attr_show");
  assert.not.ok(ld.checkNoLocksHeld(T1));
  assert.ok(log.lines().some((l) => l.endsWith("WARNING: kworker/0:1/10 still has locks held!")));
  assert.ok(
    log.lines().some((l) => l.endsWith(" #0:  (&q->sysfs_lock){+.+.}, at: queue_attr_show")),
  );
});

test("assertHeld() WARNs when the lock is not held", () => {
  const { log, ld } = setup();
  const a = new LockClass("A");
  ld.acquire(T1, a, "x");
  assert.ok(ld.assertHeld(T1, a, "block/blk-mq.c:blk_mq_hctx_has_pending"));
  assert.ok(log.isClean());
  assert.not.ok(ld.assertHeld(T2, a, "block/blk-mq.c:blk_mq_hctx_has_pending"));
  assert.ok(
    log.lines().some((l) =>
      l.endsWith("WARNING: CPU: 1 PID: 20 at block/blk-mq.c:blk_mq_hctx_has_pending")
    ),
  );
});

test("acquire() and release() throw a TypeError on bad arguments and change nothing", () => {
  const { ld } = setup();
  const a = new LockClass("A");
  assert.throws(
    () => ld.acquire({ pid: 1.5, comm: "x" }, a, "w"),
    (e: unknown) => e instanceof TypeError,
  );
  assert.throws(() => ld.acquire(T1, {} as LockClass, "w"), (e: unknown) => e instanceof TypeError);
  assert.throws(() => ld.release(T1, a, 3 as never), (e: unknown) => e instanceof TypeError);
  assert.throws(() => new LockClass(""), (e: unknown) => e instanceof TypeError);
  assert.equal(ld.held(T1), []);
  assert.is(ld.reportCount(), 0);
});

test.run();
