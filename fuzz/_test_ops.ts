// SPDX-License-Identifier: GPL-2.0-only
/**
 * Test-only ops that misbehave on purpose, one per detector, so each
 * detector can be shown to fire on a constructed program. Registered under
 * area "test" with names test_*; never part of a real profile.
 *
 * @module
 */

import { KernelBug, KernelError } from "../ts/errors.ts";
import { sleep } from "../ts/kernel/sched.ts";
import "./prog/ops/index.ts";
import type { Profile } from "./prog/profile.ts";
import { findOp, registerArea, registerOp } from "./prog/registry.ts";
import type { OpSpec } from "./prog/registry.ts";

function op(spec: Omit<OpSpec, "area" | "args" | "doc"> & Partial<Pick<OpSpec, "args">>): void {
  if (findOp(spec.name) === undefined) registerOp({ area: "test", doc: spec.name, args: [], ...spec });
}

if (findOp("test_leak") === undefined) registerArea({ name: "test" });

op({
  name: "test_leak",
  *exec(x) {
    x.kernel.slab.kmalloc(48, "test_leak_site");
  },
});
op({
  name: "test_overflow",
  *exec(x) {
    const p = x.kernel.slab.kmalloc(13, "test_overflow_site");
    try {
      x.kernel.slab.kasan.writeBytes(p, new Uint8Array(14), "test_overflow");
    } finally {
      x.kernel.slab.kfree(p);
    }
  },
});
op({
  name: "test_forever",
  *exec(x) {
    x.kernel.sched.blockCurrent("test_forever", false);
    yield;
  },
});
op({
  name: "test_sleep_long",
  *exec() {
    yield sleep(200e9);
  },
});
op({
  name: "test_warn",
  *exec(x) {
    x.kernel.log.warn("kernel/test.c:test_warn_site");
  },
});
op({
  name: "test_bug",
  *exec(x) {
    x.kernel.log.bug("kernel/test.c:42");
  },
});
op({
  name: "test_assert",
  *exec() {
    throw new KernelBug("test_fn: an assertion failed", "asm/test.ts:12:3");
  },
});
op({
  name: "test_trap",
  *exec(x) {
    x.kernel.core.blk_mq_tags_stat(0xfffffff0, 0);
  },
});
op({
  name: "test_big_show",
  *exec(x) {
    x.sysfsShow("/sys/test/huge", 5000);
  },
});
op({
  name: "test_violate",
  *exec(x) {
    x.violate({ title: "test invariant", report: "broken on purpose" });
  },
});
op({
  name: "test_jserror",
  *exec() {
    const o = undefined as unknown as { f(): void };
    o.f();
  },
});
op({
  name: "test_oops",
  *exec(x) {
    x.kernel.log.printk("emerg", "Oops: 0000 [#1] SMP");
  },
});
op({
  name: "test_refuse_kernel",
  *exec() {
    throw new KernelError("EINVAL", "test_refuse");
  },
});
op({
  name: "test_refuse_range",
  *exec() {
    throw new RangeError("test_refuse: value out of range");
  },
});

/** A profile with every test op and a few real ones. */
export const TEST_PROFILE: Profile = {
  name: "test",
  ops: [
    "test_leak",
    "test_overflow",
    "test_forever",
    "test_sleep_long",
    "test_warn",
    "test_bug",
    "test_assert",
    "test_trap",
    "test_big_show",
    "test_violate",
    "test_jserror",
    "test_oops",
    "test_refuse_kernel",
    "test_refuse_range",
    "mutex_lock",
    "mutex_unlock",
    "advance",
    "tags_init",
    "tags_get",
    "tags_put",
    "kmalloc",
    "kfree",
  ],
  cpus: 2,
};
