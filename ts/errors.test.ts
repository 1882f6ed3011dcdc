// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ERRNO, errnoName, KernelBug, KernelError } from "./errors.ts";

test("errnoName() maps -22 to EINVAL and every table entry back to itself", () => {
  assert.is(errnoName(-22), "EINVAL");
  for (const [name, n] of Object.entries(ERRNO)) assert.is(errnoName(-n), name);
});

test("errnoName() throws a RangeError for a value that is not a known -errno", () => {
  assert.throws(() => errnoName(22), (e: unknown) => e instanceof RangeError);
  assert.throws(() => errnoName(-9999), (e: unknown) => e instanceof RangeError);
});

test("KernelError carries a stable code, the kernel op and the negative errno", () => {
  const e = new KernelError("ENOENT", "queue_attr_show", "queue is dying");
  assert.instance(e, Error);
  assert.is(e.code, "ENOENT");
  assert.is(e.op, "queue_attr_show");
  assert.is(e.errno, -2);
  assert.is(e.name, "KernelError");
});

test("KernelBug has the code BUG and names where it happened", () => {
  const e = new KernelBug("assertion failed", "asm/slab.ts:10:3");
  assert.is(e.code, "BUG");
  assert.is(e.where, "asm/slab.ts:10:3");
  assert.match(e.message, /^kernel BUG at asm\/slab\.ts:10:3/);
});

test.run();
