// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { replay, reproOptions } from "../repro.ts";
import { minimizeProg, removeCall } from "./minimize.ts";
import { formatProg, parseProg } from "./text.ts";

const NOISY = [
  "sched 03 01 02 00 05",
  "k0 = kmalloc(size=48, zero)",
  "@task 1 c0 = kmem_cache_create(size=96, align=16, hwcache)",
  "@task 1 p0 = kmem_cache_alloc(c0)",
  "@task 2 @cpu 1 k1 = kmalloc(size=192)",
  "advance 4ms",
  "@task 1 memset_obj(p0, off=8, len=64)",
  "@cpu 1 memset(k1, off=64, len=4096, byte=255)",
  "@task 2 pg0 = alloc_pages(order=2)",
  "kfree(k0)",
  "",
].join("\n");

test("minimize keeps the finding (same detector and title) and shrinks the program", () => {
  const o = reproOptions({ target: "mm", regressions: ["kmalloc_short_alloc"] });
  const prog = parseProg(NOISY);
  const f = replay(prog, o).finding!;
  assert.is(f.title, "KASAN: slab-out-of-bounds in memset");
  const pred = (p: typeof prog) => {
    const g = replay(p, o).finding;
    return g !== null && g.title === f.title && g.detector === f.detector;
  };
  const { prog: small, runs } = minimizeProg(prog, pred, { cpus: o.cpus });
  assert.ok(runs > 0);
  assert.ok(pred(small));
  assert.equal(small.calls.map((c) => c.op), ["kmalloc", "memset"]);
  assert.equal(small.sched, []);
  assert.ok(small.calls.every((c) => c.task === 0 && c.cpu === null));
  assert.is(small.calls[1].args[3], 0, "byte simplified");
});

test("minimize leaves a program alone when nothing smaller keeps the finding", () => {
  const o = reproOptions({ target: "mm", regressions: ["kmalloc_short_alloc"] });
  const prog = parseProg("k0 = kmalloc(size=64)\nmemset(k0, off=56, len=8, byte=0)\n");
  const want = replay(prog, o).finding!.title;
  const { prog: small } = minimizeProg(prog, (p) => replay(p, o).finding?.title === want, { cpus: o.cpus });
  assert.is(small.calls.length, 2);
});

test("removeCall() drops the calls that use the removed call's resource and renumbers references", () => {
  const p = parseProg("k0 = kmalloc(size=8)\nk1 = kmalloc(size=16)\nkfree(k0)\nkfree(k1)\n");
  assert.is(formatProg(removeCall(p, 0)), "k0 = kmalloc(size=16)\nkfree(k0)\n");
  const t = parseProg("set0 = tags_init(depth=4)\nh0 = tags_hctx(set0)\nset1 = tags_init(depth=4)\nr0 = tags_get(set1, h0, ctx=0)\n");
  assert.is(formatProg(removeCall(t, 1)).split("\n")[2], "r0 = tags_get(set1, ctx=0)");
});

test.run();
