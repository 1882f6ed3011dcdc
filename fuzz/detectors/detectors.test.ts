// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { TEST_PROFILE } from "../_test_ops.ts";
import { parseProg } from "../prog/text.ts";
import { runProg } from "../runner.ts";
import { programProfile } from "../targets.ts";
import { detectAll } from "./index.ts";

function run(text: string, regressions: string[] = [], profile = TEST_PROFILE) {
  return runProg(parseProg(text), { profile, regressions });
}

function fires(text: string, detector: string, title: string | RegExp, regressions: string[] = [], profile = TEST_PROFILE) {
  const o = run(text, regressions, profile);
  assert.ok(o.finding, `no finding for:\n${text}`);
  assert.is(o.finding!.detector, detector, o.finding!.title);
  if (typeof title === "string") assert.is(o.finding!.title, title);
  else assert.match(o.finding!.title, title);
  assert.ok(o.finding!.report.length > 0);
}

test("kmemleak reports an object still live after teardown, by its allocation site", () => {
  fires("test_leak()\n", "kmemleak", "memory leak in test_leak_site (kmalloc-64)");
});

test("KASAN reports a write into a kmalloc redzone, through the kernel log", () => {
  fires("test_overflow()\n", "kasan", "KASAN: slab-out-of-bounds in test_overflow");
});

test("KASAN reports the planted short kmalloc when memset reaches the end of the object", () => {
  const text = "k0 = kmalloc(size=128)\nmemset(k0, off=120, len=8, byte=1)\n";
  fires(text, "kasan", "KASAN: slab-out-of-bounds in memset", ["kmalloc_short_alloc"], programProfile("mm"));
  assert.is(run(text, [], programProfile("mm")).finding, null);
});

test("a KASAN report ignored as known does not come back through the klog catch-all", () => {
  const o = runProg(parseProg("test_overflow()\n"), { profile: TEST_PROFILE, ignore: [/^KASAN: slab-out-of-bounds in test_overflow$/] });
  assert.is(o.finding, null);
});

test("lockdep reports the planted all_q_mutex / cpu_hotplug.lock inversion with a stable title", () => {
  const text = "aq0 = mq_init()\n@task 1 cpu_down(cpu=1)\n@task 1 cpu_up(cpu=1)\n";
  fires(text, "lockdep", "possible deadlock in mutex_lock (all_q_mutex / cpu_hotplug.lock)", ["all_q_mutex_inversion"], programProfile("kernel"));
  // The other order of the same two calls gives the same title.
  const swapped = "cpu_down(cpu=1)\ncpu_up(cpu=1)\n@task 1 aq0 = mq_init()\n";
  fires(swapped, "lockdep", "possible deadlock in mutex_lock (all_q_mutex / cpu_hotplug.lock)", ["all_q_mutex_inversion"], programProfile("kernel"));
  assert.is(run(text, [], programProfile("kernel")).finding, null);
});

test("the hang detector reports a task blocked with nothing left to wake it", () => {
  fires("test_forever()\n", "hang", "INFO: task hung in test_forever");
});

test("the virtual-time watchdog reports a task blocked past hung_task_timeout_secs", () => {
  const o = run("test_sleep_long()\n");
  assert.is(o.finding?.title, "INFO: task hung in schedule_timeout_uninterruptible");
  assert.is(o.exec.hang?.reason, "watchdog");
});

test("a WARN() in the log is a finding titled by its function", () => {
  fires("test_warn()\n", "warn", "WARNING in test_warn_site");
});

test("a BUG() is a finding titled by its site", () => {
  fires("test_bug()\n", "bug", "kernel BUG at kernel/test.c:42");
});

test("a failed assert inside WASM is a BUG titled by its file and message, not its line", () => {
  fires("test_assert()\n", "bug", "kernel BUG at asm/test.ts: test_fn: an assertion failed");
});

test("a raw WASM trap is a finding", () => {
  fires("test_trap()\n", "trap", /^WASM trap: memory access out of bounds in test_trap$/);
});

test("a sysfs show of more than 4095 bytes is a finding", () => {
  fires("test_big_show()\n", "sysfs", "sysfs: huge_show returned more than PAGE_SIZE - 1 bytes");
});

test("a broken invariant is a finding", () => {
  fires("test_violate()\n", "invariant", "invariant: test invariant");
});

test("the planted reserved-tag put breaks the tag bitmap invariant", () => {
  const text = [
    "set0 = tags_init(depth=2, reserved=1, ctxs=1, era=v4.4, policy=fifo)",
    "r0 = tags_get(set0, ctx=0, reserved)",
    "r1 = tags_get(set0, ctx=0)",
    "tags_put(r0, ctx=0)",
    "",
  ].join("\n");
  fires(text, "invariant", "invariant: tag bitmap count mismatch", ["tags_reserved_put_wrong_bitmap"], programProfile("tags"));
  assert.is(run(text, [], programProfile("tags")).finding, null);
});

test("an engine TypeError inside the model is a finding, not a refusal", () => {
  fires("test_jserror()\n", "jserror", /^TypeError: Cannot read properties of undefined/);
});

test("any other finding line of the kernel log is caught", () => {
  fires("test_oops()\n", "klog", "Oops: N [#N] SMP");
});

test("typed errors from the API are refusals, not findings", () => {
  const o = run("test_refuse_kernel()\ntest_refuse_range()\nset0 = tags_init(depth=4, reserved=0, ctxs=1, era=v4.4, policy=fifo)\nr0 = tags_get(set0, ctx=3, nowait)\n");
  assert.is(o.finding, null);
  assert.is(o.exec.refused, 3);
  assert.equal(detectAll(o.exec), []);
});

test("detectors stay silent on clean programs, held resources included", () => {
  const o = run([
    "mutex_lock(m=0)",
    "@task 1 mutex_lock(m=0)",
    "set0 = tags_init(depth=1, reserved=0, ctxs=1, era=v4.4, policy=fifo)",
    "r0 = tags_get(set0, ctx=0)",
    "@task 1 r1 = tags_get(set0, ctx=0)",
    "k0 = kmalloc(size=64)",
    "advance 1ms",
    "",
  ].join("\n"));
  assert.equal(detectAll(o.exec), []);
  assert.is(o.exec.kernel.liveObjects(), 0);
});

test.run();
