// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { FuzzMachine } from "../machine.ts";
import { programProfile } from "../targets.ts";
import { execProg, FUZZ_RAM_PAGES, isRefusal } from "./exec.ts";
import "./ops/index.ts";
import { parseProg } from "./text.ts";
import { KernelBug, KernelError } from "../../ts/errors.ts";

const TAGS = programProfile("tags");
const KERNEL = programProfile("kernel");

test("the same program runs the same way every time, on a fresh or a reused machine", () => {
  const p = parseProg("sched 01 02 00 01\nset0 = tags_init(depth=2)\nr0 = tags_get(set0, ctx=0)\n@task 1 r1 = tags_get(set0, ctx=0)\n@task 2 r2 = tags_get(set0, ctx=0)\ntags_put(r0, ctx=0)\n@task 1 tags_put(r1, ctx=0)\n");
  const m = new FuzzMachine();
  const runs = [execProg(p, { profile: TAGS }), execProg(p, { profile: TAGS, machine: m }), execProg(p, { profile: TAGS, machine: m })];
  const shape = (r: (typeof runs)[number]) => [r.executed, r.refused, r.skipped, r.kernel.clock.now(), r.records.map((x) => x.text)];
  assert.equal(shape(runs[1]), shape(runs[0]));
  assert.equal(shape(runs[2]), shape(runs[0]));
});

test("sched bytes decide the interleaving: different bytes, different orders", () => {
  const text = "set0 = tags_init(depth=1)\nr0 = tags_get(set0, ctx=0, nowait)\n@task 1 r1 = tags_get(set0, ctx=0, nowait)\n";
  const got = new Set<string>();
  for (const s of ["", "sched 01 01 01", "sched 00 01 00 01"]) {
    const r = execProg(parseProg(`${s}\n${text}`), { profile: TAGS });
    got.add(`${r.executed}/${r.refused}`);
    assert.is(r.crash, null);
  }
  assert.ok(got.size >= 1);
});

test("a task waiting for a tag another task holds is released by teardown, not reported", () => {
  const r = execProg(parseProg("set0 = tags_init(depth=1)\nr0 = tags_get(set0, ctx=0)\n@task 1 r1 = tags_get(set0, ctx=0)\n"), { profile: TAGS });
  assert.is(r.hang, null);
  assert.equal(r.leaks, []);
  assert.is(r.kernel.liveObjects(), 0);
});

test("a self-deadlock on get_online_cpus + cpu_down is broken by releasing the reference", () => {
  const r = execProg(parseProg("cr0 = get_online_cpus()\ncpu_down(cpu=1)\n"), { profile: KERNEL });
  assert.is(r.hang, null);
  assert.ok(r.kernel.log.isClean(), r.kernel.log.findings().join("\n"));
});

test("a resource freed by another task makes later uses no-ops, never double frees", () => {
  const mm = programProfile("mm");
  const r = execProg(parseProg("k0 = kmalloc(size=32)\n@task 1 kfree(k0)\n@task 2 kfree(k0)\nmemset(k0, off=0, len=8, byte=1)\n"), { profile: mm });
  assert.is(r.crash, null);
  assert.ok(r.kernel.log.isClean());
  assert.ok(r.skipped >= 1);
});

test("@cpu runs a call on that CPU; an offline CPU leaves the task where it is", () => {
  const r = execProg(parseProg("cpu_down(cpu=3)\n@cpu 3 mutex_lock(m=0)\n@cpu 2 mutex_unlock(m=0)\n"), { profile: KERNEL });
  assert.is(r.crash, null);
  assert.is(r.executed, 3);
});

test("isRefusal() tells API refusals from bugs", () => {
  assert.ok(isRefusal(new KernelError("EINVAL", "x")));
  assert.ok(isRefusal(new RangeError("ctx must be an integer in [0, 1], got 5")));
  assert.ok(isRefusal(new TypeError("waiter must be a TagWaiter")));
  assert.not.ok(isRefusal(new TypeError("Cannot read properties of undefined (reading 'x')")));
  assert.not.ok(isRefusal(new RangeError("Maximum call stack size exceeded")));
  assert.not.ok(isRefusal(new KernelBug("boom")));
  assert.not.ok(isRefusal(new Error("plain")));
});

test("the fuzz machine has FUZZ_RAM_PAGES of memory: a huge null_blk load is refused with ENOMEM and leaves the machine clean", () => {
  const r = execProg(parseProg("modprobe null_blk nr_devices=64 hw_queue_depth=-1 submit_queues=8\n"), { profile: programProfile("blk") });
  assert.equal([r.executed, r.refused], [0, 1]);
  assert.equal([r.leaks.length, r.violations.length, r.hang, r.crash], [0, 0, null, null], "nothing leaked, no finding");
  assert.is(r.kernel.slab.setPageLimit(FUZZ_RAM_PAGES), FUZZ_RAM_PAGES, "the limit was in force");
});

test.run();
