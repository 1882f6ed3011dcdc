// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { DEFAULT_HZ, NSEC_PER_MSEC, RealClock, VirtualClock } from "./clock.ts";

const isRange = (e: unknown) => e instanceof RangeError;

test("VirtualClock starts at 0 and moves only when advanced", () => {
  const c = new VirtualClock();
  assert.is(c.kind, "virtual");
  assert.is(c.HZ, DEFAULT_HZ);
  assert.is(c.now(), 0);
  c.advance(1500);
  c.advanceTo(2_000_000);
  assert.is(c.now(), 2_000_000);
  assert.is(c.jiffies(), 2);
});

test("VirtualClock refuses to go back, to leave the safe integers or to take fractions", () => {
  const c = new VirtualClock({ startNs: 10 });
  assert.throws(() => c.advanceTo(9), isRange);
  assert.throws(() => c.advance(-1), isRange);
  assert.throws(() => c.advanceTo(1.5), isRange);
  assert.throws(() => c.advanceTo(2 ** 53), isRange);
  assert.is(c.now(), 10);
  assert.throws(() => new VirtualClock({ startNs: -1 }), isRange);
});

test("jiffies follow HZ: 250 Hz ticks every 4 ms", () => {
  const c = new VirtualClock({ HZ: 250 });
  assert.is(c.tickNs, 4 * NSEC_PER_MSEC);
  c.advance(10 * NSEC_PER_MSEC);
  assert.is(c.jiffies(), 2);
  assert.is(c.jiffiesToNs(3), 12 * NSEC_PER_MSEC);
});

test("msecs_to_jiffies and usecs_to_jiffies round up, nsecs_to_jiffies rounds down", () => {
  const c = new VirtualClock({ HZ: 250 });
  assert.is(c.msecsToJiffies(0), 0);
  assert.is(c.msecsToJiffies(1), 1);
  assert.is(c.msecsToJiffies(4), 1);
  assert.is(c.msecsToJiffies(5), 2);
  assert.is(c.usecsToJiffies(4001), 2);
  assert.is(c.nsecsToJiffies(7_999_999), 1);
  assert.is(c.jiffiesToMsecs(3), 12);
  assert.is(c.jiffiesToUsecs(3), 12_000);
  const k = new VirtualClock();
  assert.is(k.msecsToJiffies(30_000), 30_000);
});

test("a bad HZ is a RangeError", () => {
  assert.throws(() => new VirtualClock({ HZ: 0 }), isRange);
  assert.throws(() => new RealClock({ HZ: 1.5 }), isRange);
});

test("RealClock counts integer nanoseconds from its creation and never goes back", () => {
  const c = new RealClock();
  assert.is(c.kind, "real");
  let prev = c.now();
  assert.ok(Number.isInteger(prev) && prev >= 0);
  for (let i = 0; i < 1000; i++) {
    const t = c.now();
    assert.ok(t >= prev);
    prev = t;
  }
  assert.ok(c.jiffies() <= Math.floor(c.now() / c.tickNs));
});

test.run();
