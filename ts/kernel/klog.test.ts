// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KernelBug } from "../errors.ts";
import { kasanReport } from "./kasan.ts";
import {
  formatPointer,
  formatTimestamp,
  isFindingLine,
  Klog,
  KLOG_FINDING_PATTERNS,
  KLOG_LEVELS,
  type KlogRecord,
} from "./klog.ts";

test("printk() stamps each line with printk's [%5lu.%06lu] virtual time", () => {
  let ns = 1_234_567_890;
  const log = new Klog(() => ns);
  log.printk("info", "null_blk: module loaded");
  ns = 123_456_000_000_000;
  log.printk("info", "later");
  assert.equal(log.lines(), ["[    1.234567] null_blk: module loaded", "[123456.000000] later"]);
});

test("printk() splits a multi-line message and drops one trailing newline", () => {
  const log = new Klog();
  log.printk("err", "first\nsecond\n");
  log.printk("err", "\n");
  assert.equal(log.lines(), ["[    0.000000] first", "[    0.000000] second", "[    0.000000] "]);
});

test("printk() throws a TypeError for an unknown level or a non-string message", () => {
  const log = new Klog();
  assert.throws(() => log.printk("loud" as never, "x"), (e: unknown) => e instanceof TypeError);
  assert.throws(() => log.printk("info", 42 as never), (e: unknown) => e instanceof TypeError);
  assert.equal(log.lines(), []);
});

test("isClean() flips on every blktests pattern", () => {
  const samples = [
    "kernel BUG at block/blk-mq.c:42!",
    "WARNING: CPU: 0 PID: 1 at block/blk-mq.c:42",
    "BUG: unable to handle kernel NULL pointer dereference at 0000000000000008",
    "Oops: 0002 [#1] SMP",
    "WARNING: possible recursive locking detected",
    "Internal error: Oops: 96000004 [#1] SMP",
    "INFO: suspicious RCU usage.",
    "[ INFO: possible circular locking dependency detected ]",
    "general protection fault: 0000 [#1] SMP KASAN",
    "blktests failure",
    "INFO: task kworker/0:1:25 blocked for more than 120 seconds.",
    "kmemleak: 3 new suspected memory leaks (see /sys/kernel/debug/kmemleak)",
    "BUG: KASAN: use-after-free in blk_mq_free_request+0x1a/0x80",
    "BUG request (Not tainted): Objects remaining in request on kmem_cache_close()",
  ];
  for (const line of samples) {
    const log = new Klog();
    log.printk("warning", line);
    assert.not.ok(log.isClean(), line);
    assert.ok(isFindingLine(line), line);
    assert.equal(log.findings(), [`[    0.000000] ${line}`]);
  }
  assert.ok(KLOG_FINDING_PATTERNS.length >= 13);
});

test("isClean() stays true for ordinary lines at every level", () => {
  const log = new Klog();
  for (const level of KLOG_LEVELS) log.printk(level, `blk-mq: reduced tag depth to 64 (${level})`);
  log.printk("info", "kmemleak: Kernel memory leak detector initialized");
  log.printk("warning", "null_blk: warning free text without the colon pattern");
  log.printk("info", "BUGS are not findings: only SLUB's \"BUG <cache> (<taint>): \" shape is");
  assert.ok(log.isClean());
  assert.equal(log.findings(), []);
});

test("warn() prints the v4.4 __warn() shape with the current task and taints the kernel", () => {
  const log = new Klog(() => 2_000_000);
  log.setContext(() => ({ cpu: 3, pid: 42, comm: "fio" }));
  log.warn("block/blk-mq.c:blk_mq_run_hw_queue", "hctx 0 not mapped");
  assert.is(
    log.text(),
    [
      "[    0.002000] ------------[ cut here ]------------",
      "[    0.002000] WARNING: CPU: 3 PID: 42 at block/blk-mq.c:blk_mq_run_hw_queue",
      "[    0.002000] hctx 0 not mapped",
      "[    0.002000] Modules linked in:",
      "[    0.002000] CPU: 3 PID: 42 Comm: fio Not tainted 4.4.0 #1",
      "[    0.002000] ---[ end trace 0000000000000000 ]---",
      "",
    ].join("\n"),
  );
  assert.not.ok(log.isClean());
  assert.is(log.tainted(), "Tainted: G        W      ");
  assert.is(log.kernelIdent(), "4.4.0 #1 Tainted: G        W      ");
});

test("warnOnce() prints once per site and says whether it printed", () => {
  const log = new Klog();
  assert.ok(log.warnOnce("a.c:f"));
  assert.not.ok(log.warnOnce("a.c:f"));
  assert.ok(log.warnOnce("b.c:g"));
  assert.is(log.lines().filter((l) => l.includes("WARNING:")).length, 2);
});

test("bug() logs kernel BUG at <where>! and throws KernelBug", () => {
  const log = new Klog();
  assert.throws(
    () => log.bug("block/blk-mq-tag.c:120", "tag out of range"),
    (e: unknown) =>
      e instanceof KernelBug && e.code === "BUG" && e.where === "block/blk-mq-tag.c:120",
  );
  const lines = log.lines();
  assert.ok(lines.includes("[    0.000000] kernel BUG at block/blk-mq-tag.c:120!"));
  assert.ok(lines.includes("[    0.000000] invalid opcode: 0000 [#1] SMP"));
  assert.not.ok(log.isClean());
  assert.match(log.tainted(), /D/);
});

test("lines() filters by level like dmesg -l", () => {
  const log = new Klog();
  log.printk("err", "an error");
  log.printk("info", "some info");
  log.printk("debug", "noise");
  assert.equal(log.lines({ levels: ["err", "info"] }), [
    "[    0.000000] an error",
    "[    0.000000] some info",
  ]);
  assert.is(log.records().length, 3);
});

test("the ring buffer drops the oldest lines, counts them, and keeps findings", () => {
  const log = new Klog(undefined, { logBufLen: 100 });
  log.printk("warning", "WARNING: early finding");
  for (let i = 0; i < 10; i++) log.printk("info", `line ${i}`);
  assert.ok(log.dropped() > 0);
  assert.is(log.lines().length + log.dropped(), 11);
  assert.equal(log.lines().at(-1), "[    0.000000] line 9");
  assert.not.ok(log.lines().some((l) => l.includes("early")));
  assert.not.ok(log.isClean());
  assert.equal(log.findings(), ["[    0.000000] WARNING: early finding"]);
});

test("clear() empties the buffer and the findings, like dmesg -C", () => {
  const log = new Klog();
  log.warn("x.c:f");
  log.clear();
  assert.ok(log.isClean());
  assert.equal(log.lines(), []);
  assert.is(log.findingCount(), 0);
  assert.is(log.tainted(), "Tainted: G        W      ");
});

test("subscribe() sees each record until unsubscribed", () => {
  const log = new Klog();
  const seen: KlogRecord[] = [];
  const off = log.subscribe((r) => seen.push(r));
  log.printk("info", "a\nWARNING: b");
  off();
  log.printk("info", "c");
  assert.equal(seen.map((r) => [r.seq, r.text, r.finding]), [[0, "a", false], [
    1,
    "WARNING: b",
    true,
  ]]);
});

test("the constructor rejects a bad clock or buffer size", () => {
  assert.throws(() => new Klog(1 as never), (e: unknown) => e instanceof TypeError);
  assert.throws(
    () => new Klog(undefined, { logBufLen: 0 }),
    (e: unknown) => e instanceof RangeError,
  );
  assert.throws(
    () => new Klog(undefined, { logBufLen: 1.5 }),
    (e: unknown) => e instanceof RangeError,
  );
});

test("formatPointer() and formatTimestamp() match printk", () => {
  assert.is(formatPointer(0xffff888000a1b2c0n), "ffff888000a1b2c0");
  assert.is(formatPointer(0x10040), "0000000000010040");
  assert.throws(() => formatPointer(-1), (e: unknown) => e instanceof RangeError);
  assert.is(formatTimestamp(0), "[    0.000000] ");
  assert.is(formatTimestamp(99_999_999_999), "[   99.999999] ");
});

test("kasanReport() prints a KASAN report that is a finding and taints with B", () => {
  const log = new Klog();
  kasanReport(log, {
    kind: "use-after-free",
    where: "kobject_del",
    addr: 0xffff888000000040n,
    access: "read",
    size: 8,
    object: { addr: 0xffff888000000040n, cache: "kobject", size: 64 },
  });
  assert.ok(
    log.lines().includes(
      "[    0.000000] BUG: KASAN: use-after-free in kobject_del at addr ffff888000000040",
    ),
  );
  assert.ok(
    log.lines().includes(
      "[    0.000000] Read of size 8 at addr ffff888000000040 by task swapper/0/1",
    ),
  );
  assert.not.ok(log.isClean());
  assert.match(log.tainted(), /B/);
});

test.run();
