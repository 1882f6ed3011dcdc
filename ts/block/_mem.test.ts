// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { getOrder } from "./_mem.ts";

test("getOrder() is the smallest order whose block holds the size, also past 2 GiB", () => {
  assert.equal([getOrder(0), getOrder(1), getOrder(4096), getOrder(4097), getOrder(8192)], [0, 0, 0, 1, 1]);
  assert.is(getOrder(2 ** 31), 19);
  assert.is(getOrder(2 ** 31 + 1), 20);
  assert.is(getOrder(0xffffffff * 64), 26, "hw_queue_depth=-1 commands: no 32-bit wrap, no endless loop");
});

test.run();
