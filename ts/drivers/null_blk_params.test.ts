// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KernelError } from "../errors.ts";
import { Klog } from "../kernel/klog.ts";
import { kstrtoint, NULL_BLK_DEFAULTS, NULL_BLK_PARAM_NAMES, parseNullBlkParams } from "./null_blk_params.ts";

function parse(params: Record<string, string>) {
  const log = new Klog();
  try {
    return { p: parseNullBlkParams(log, params), code: "ok", lines: log.lines().map((l) => l.replace(/^\[[ \d.]+\] /, "")) };
  } catch (e) {
    if (!(e instanceof KernelError)) throw e;
    return { p: null, code: e.code as string, lines: log.lines().map((l) => l.replace(/^\[[ \d.]+\] /, "")) };
  }
}

test("no parameters give the v4.4 defaults", () => {
  assert.equal(parse({}).p, {
    queue_mode: 2,
    submit_queues: 0,
    hw_queue_depth: 64,
    nr_devices: 2,
    bs: 512,
    gb: 250,
    use_per_node_hctx: false,
    irqmode: 1,
    completion_nsec: 10000,
    home_node: -1,
    shared_tags: false,
    blocking: false,
  });
  assert.equal(NULL_BLK_PARAM_NAMES.length, Object.keys(NULL_BLK_DEFAULTS).length);
});

test("int parameters parse as param_set_int(): base 0, a sign, a trailing newline", () => {
  const { p } = parse({ gb: "0x10", bs: "010", nr_devices: "-3", hw_queue_depth: "128\n", home_node: "+0" });
  assert.is(p!.gb, 16);
  assert.is(p!.bs, 8, "a leading 0 is octal");
  assert.is(p!.nr_devices, -3);
  assert.is(p!.hw_queue_depth, 128);
  assert.is(p!.home_node, 0);
  assert.is(parse({ gb: "2147483648" }).code, "ERANGE");
  assert.is(parse({ gb: "-2147483648" }).p!.gb, -2147483648);
  assert.is(parse({ bs: "12k" }).code, "EINVAL");
  assert.is(parse({ bs: "-+1" }).code, "EINVAL");
  assert.is(parse({ submit_queues: "" }).code, "EINVAL", "a bare int name has no value");
});

test("queue_mode and irqmode take base-10 values in [0, 2]; others fail the load with the kernel's line", () => {
  assert.is(parse({ queue_mode: "0", irqmode: "2" }).p!.queue_mode, 0);
  const bad = parse({ queue_mode: "3" });
  assert.is(bad.code, "EINVAL");
  assert.equal(bad.lines, ["null_blk: `3' invalid for parameter `queue_mode'"]);
  assert.is(parse({ queue_mode: "0x1" }).code, "EINVAL", "null_param_store_val() parses base 10");
  assert.is(parse({ irqmode: "-1" }).code, "EINVAL");
});

test("bool parameters take strtobool() values; a bare name is true", () => {
  assert.is(parse({ use_per_node_hctx: "Y" }).p!.use_per_node_hctx, true);
  assert.is(parse({ use_per_node_hctx: "no" }).p!.use_per_node_hctx, false);
  assert.is(parse({ shared_tags: "" }).p!.shared_tags, true);
  assert.is(parse({ blocking: "1" }).p!.blocking, true);
  assert.is(parse({ blocking: "on" }).code, "EINVAL", "v4.4's strtobool() has no on/off");
});

test("unknown parameters are ignored with a warning; dashes and underscores are the same", () => {
  const r = parse({ foo: "1", "hw-queue-depth": "8" });
  assert.is(r.code, "ok");
  assert.is(r.p!.hw_queue_depth, 8);
  assert.equal(r.lines, ["null_blk: unknown parameter 'foo' ignored"]);
});

test("completion_nsec is an unsigned long", () => {
  assert.is(parse({ completion_nsec: "0x100000000" }).p!.completion_nsec, 2 ** 32);
  assert.is(parse({ completion_nsec: "-1" }).code, "EINVAL");
});

test("kstrtoint() mirrors lib/kstrtox.c", () => {
  assert.is(kstrtoint("-0x10", 0), -16);
  assert.throws(() => kstrtoint("2147483648", 10), (e: unknown) => e instanceof KernelError && e.code === "ERANGE");
  assert.throws(() => kstrtoint(" 1", 10), (e: unknown) => e instanceof KernelError && e.code === "EINVAL");
});

test.run();
