// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Klog } from "./klog.ts";
import { Kref, REFCOUNT_SATURATED } from "./kref.ts";

test("Kref starts at 1 and calls release exactly once on the last put", () => {
  const log = new Klog();
  const ref = new Kref(log);
  let released = 0;
  const release = () => released++;
  ref.get();
  assert.is(ref.read(), 2);
  assert.not.ok(ref.put(release));
  assert.is(released, 0);
  assert.ok(ref.put(release));
  assert.is(released, 1);
  assert.is(ref.read(), 0);
  assert.ok(log.isClean());
});

test("put() at zero WARNs refcount_t underflow once, saturates and does not release", () => {
  const log = new Klog();
  log.setContext(() => ({ cpu: 2, pid: 99, comm: "kworker/2:1" }));
  const ref = new Kref(log, 0);
  let released = 0;
  assert.not.ok(ref.put(() => released++));
  assert.is(released, 0);
  assert.is(ref.read(), REFCOUNT_SATURATED);
  assert.equal(log.lines().slice(0, 3).map((l) => l.slice(15)), [
    "------------[ cut here ]------------",
    "WARNING: CPU: 2 PID: 99 at lib/refcount.c:28 refcount_warn_saturate",
    "refcount_t: underflow; use-after-free.",
  ]);
  const n = log.lines().length;
  assert.not.ok(ref.put(() => released++));
  assert.is(log.lines().length, n, "WARN_ONCE: the second underflow is silent");
  assert.is(ref.read(), REFCOUNT_SATURATED);
});

test("get() from zero WARNs refcount_t addition on 0", () => {
  const log = new Klog();
  const ref = new Kref(log);
  ref.put(() => {});
  ref.get();
  assert.ok(log.lines().some((l) => l.endsWith("refcount_t: addition on 0; use-after-free.")));
  assert.ok(log.lines().some((l) => l.includes("at lib/refcount.c:25 refcount_warn_saturate")));
  assert.is(ref.read(), REFCOUNT_SATURATED);
  ref.get();
  assert.ok(log.lines().some((l) => l.endsWith("refcount_t: saturated; leaking memory.")));
});

test("getUnlessZero() fails at zero and takes a reference otherwise", () => {
  const log = new Klog();
  const ref = new Kref(log);
  assert.ok(ref.getUnlessZero());
  assert.is(ref.read(), 2);
  const dead = new Kref(log, 0);
  assert.not.ok(dead.getUnlessZero());
  assert.is(dead.read(), 0);
  dead.init();
  assert.is(dead.read(), 1);
  assert.ok(log.isClean());
});

test("Kref rejects a bad starting count and a missing release", () => {
  const log = new Klog();
  assert.throws(() => new Kref(log, -1), (e: unknown) => e instanceof RangeError);
  assert.throws(() => new Kref(log, 0.5), (e: unknown) => e instanceof RangeError);
  const ref = new Kref(log);
  assert.throws(() => ref.put(undefined as never), (e: unknown) => e instanceof TypeError);
  assert.is(ref.read(), 1);
});

test.run();
