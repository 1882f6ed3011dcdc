// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { hctxMayQueueLimit } from "./fairness.ts";

function throwsNaming(
  fn: () => unknown,
  cls: typeof TypeError | typeof RangeError,
  name: string,
): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, cls);
    assert.ok((e as Error).message.includes(name), `"${(e as Error).message}" names ${name}`);
    return;
  }
  assert.unreachable(`expected a ${cls.name} naming ${name}`);
}

test("hctxMayQueueLimit() gives the reference's examples for depth 64, 31 and 8", () => {
  assert.is(hctxMayQueueLimit(64, 2), 32);
  assert.is(hctxMayQueueLimit(64, 3), 22);
  assert.is(hctxMayQueueLimit(64, 16), 4);
  assert.is(hctxMayQueueLimit(31, 2), 16);
  for (const users of [2, 3, 8, 100]) assert.is(hctxMayQueueLimit(8, users), 4, `users ${users}`);
});

test("hctxMayQueueLimit() never goes below 4, even above the depth", () => {
  assert.is(hctxMayQueueLimit(2, 2), 4);
  assert.is(hctxMayQueueLimit(0, 3), 4);
  assert.is(hctxMayQueueLimit(64, 1), 64);
  assert.is(hctxMayQueueLimit(10240, 2147483647), 4);
});

test("hctxMayQueueLimit() equals max(ceil(depth / users), 4) everywhere", () => {
  for (let depth = 2; depth <= 300; depth++) {
    for (let users = 1; users <= 70; users++) {
      assert.is(
        hctxMayQueueLimit(depth, users),
        Math.max(Math.ceil(depth / users), 4),
        `${depth}/${users}`,
      );
    }
  }
});

test("hctxMayQueueLimit() returns null where v4.4 bypasses the check", () => {
  assert.is(hctxMayQueueLimit(64, 0), null);
  assert.is(hctxMayQueueLimit(1, 2), null);
  assert.is(hctxMayQueueLimit(64, 2, { shared: false }), null);
  assert.is(hctxMayQueueLimit(64, 2, { active: false }), null);
  assert.is(hctxMayQueueLimit(64, 2, { reserved: true }), null);
  assert.is(hctxMayQueueLimit(64, 2, { shared: true, active: true, reserved: false }), 32);
  assert.is(hctxMayQueueLimit(64, 2, {}), 32);
});

test("hctxMayQueueLimit() rejects bad arguments with a TypeError or RangeError naming them", () => {
  const call = (d: unknown, u: unknown, o?: unknown) => () =>
    hctxMayQueueLimit(d as number, u as number, o as Parameters<typeof hctxMayQueueLimit>[2]);
  throwsNaming(call(-1, 2), RangeError, "depth");
  throwsNaming(call(1.5, 2), RangeError, "depth");
  throwsNaming(call(10241, 2), RangeError, "depth");
  throwsNaming(call("64", 2), TypeError, "depth");
  throwsNaming(call(64, -1), RangeError, "activeUsers");
  throwsNaming(call(64, 2 ** 31), RangeError, "activeUsers");
  throwsNaming(call(64, NaN), RangeError, "activeUsers");
  throwsNaming(call(64, undefined), TypeError, "activeUsers");
  throwsNaming(call(64, 2, null), TypeError, "options");
  throwsNaming(call(64, 2, true), TypeError, "options");
  throwsNaming(call(64, 2, { shared: 1 }), TypeError, "options.shared");
  throwsNaming(call(64, 2, { active: "yes" }), TypeError, "options.active");
  throwsNaming(call(64, 2, { reserved: null }), TypeError, "options.reserved");
});

test.run();
