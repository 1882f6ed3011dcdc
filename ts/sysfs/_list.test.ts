// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KasanBug } from "../kernel/kasan.ts";
import { Kernel } from "../kernel/kernel.ts";
import { CTX_PENDING_HEADER, HCTX_PENDING_HEADER } from "./_format.ts";
import { sysfsListShow, sysfsListShowUnfixed } from "./_list.ts";
import type { SysfsPageBuffer } from "./_page.ts";
import { assertAllClean } from "./_test_helpers.ts";

/** n fake request addresses, 0x10000 apart, starting at 0x41a00. */
function rqs(n: number): number[] {
  return Array.from({ length: n }, (_, i) => 0x41a00 + i * 0x10000);
}

function line(p: number): string {
  return `\t${p.toString(16).padStart(16, "0")}\n`;
}

/** Runs a list show on a fresh page; returns its count and the page text of that many bytes. */
function show(k: Kernel, fn: (p: SysfsPageBuffer) => number): { n: number; text: string } {
  const page = k.sysfs.allocPage();
  try {
    const n = fn(page);
    return { n, text: page.text(Math.min(n, 4096)) };
  } finally {
    page.free();
  }
}

test("sysfsListShow() prints the header alone for an empty list and one 18-byte line per request", () => {
  const k = new Kernel();
  assert.equal(show(k, (p) => sysfsListShow(p, HCTX_PENDING_HEADER, [])), { n: 14, text: "HCTX pending:\n" });
  assert.equal(show(k, (p) => sysfsListShow(p, HCTX_PENDING_HEADER, [0x41a00])), {
    n: 32,
    text: "HCTX pending:\n\t0000000000041a00\n",
  });
  assertAllClean(k);
});

test("with the 14-byte hctx header 226 requests fit exactly (4082 bytes)", () => {
  const k = new Kernel();
  const ptrs = rqs(226);
  const { n, text } = show(k, (p) => sysfsListShow(p, HCTX_PENDING_HEADER, ptrs));
  assert.is(n, 4082);
  assert.is(text, HCTX_PENDING_HEADER + ptrs.map(line).join(""));
  assertAllClean(k);
});

test("a 227th hctx request becomes \"\\t...\\n\" (4087 bytes), and so do 300", () => {
  const k = new Kernel();
  for (const count of [227, 300]) {
    const ptrs = rqs(count);
    const { n, text } = show(k, (p) => sysfsListShow(p, HCTX_PENDING_HEADER, ptrs));
    assert.is(n, 4087, `${count} requests`);
    assert.is(text, HCTX_PENDING_HEADER + ptrs.slice(0, 226).map(line).join("") + "\t...\n");
  }
  assertAllClean(k);
});

test("with the 13-byte ctx header 226 requests make 4081 bytes and more make 4086", () => {
  const k = new Kernel();
  assert.is(show(k, (p) => sysfsListShow(p, CTX_PENDING_HEADER, rqs(226))).n, 4081);
  const { n, text } = show(k, (p) => sysfsListShow(p, CTX_PENDING_HEADER, rqs(300)));
  assert.is(n, 4086);
  assert.ok(text.startsWith("CTX pending:\n\t0000000000041a00\n"));
  assert.ok(text.endsWith(`${line(rqs(226)[225])}\t...\n`));
  assertAllClean(k);
});

test("a 5-byte header takes the back-up branch: the 227th line is overwritten by \"\\t...\\n\"", () => {
  const k = new Kernel();
  const ptrs = rqs(300);
  // 5 + 227 * 18 = 4091: the next line does not fit and neither would "\t...\n" (4096 > 4095).
  assert.is(show(k, (p) => sysfsListShow(p, "abc:\n", ptrs.slice(0, 227))).n, 4091);
  const { n, text } = show(k, (p) => sysfsListShow(p, "abc:\n", ptrs));
  assert.is(n, 4078);
  assert.is(text, "abc:\n" + ptrs.slice(0, 226).map(line).join("") + "\t...\n");
  assertAllClean(k);
});

test("a 9-byte header backs up from 4095 to 4082, never past PAGE_SIZE - 1", () => {
  const k = new Kernel();
  const { n, text } = show(k, (p) => sysfsListShow(p, "abcdefg:\n", rqs(300)));
  assert.is(n, 4082);
  assert.ok(text.endsWith(`${line(rqs(226)[225])}\t...\n`));
  assertAllClean(k);
});

test("when exactly 5 bytes remain, snprintf's NUL takes the ellipsis' newline and the count is 4095", () => {
  const k = new Kernel();
  // 4 + 227 * 18 = 4090: "\t...\n" fits by count (4095) but snprintf(size 5) stores "\t..." and a NUL.
  const { n, text } = show(k, (p) => sysfsListShow(p, "ab:\n", rqs(300)));
  assert.is(n, 4095);
  assert.ok(text.endsWith(`${line(rqs(227)[226])}\t...\0`), JSON.stringify(text.slice(-30)));
  assertAllClean(k);
});

test("sysfsListShow() wants an empty page", () => {
  const k = new Kernel();
  const page = k.sysfs.allocPage();
  page.sprintf("x");
  assert.throws(() => sysfsListShow(page, HCTX_PENDING_HEADER, []), RangeError);
  page.free();
  assertAllClean(k);
});

test("the unfixed v4.1.5 list matches the fixed one while it fits", () => {
  const k = new Kernel();
  const ptrs = rqs(226);
  assert.equal(
    show(k, (p) => sysfsListShowUnfixed(p, HCTX_PENDING_HEADER, ptrs)),
    show(k, (p) => sysfsListShow(p, HCTX_PENDING_HEADER, ptrs)),
  );
  assertAllClean(k);
});

test("the unfixed list overflowing the page is a KASAN out-of-bounds write at page + 4096 in the debug build", () => {
  for (const variant of ["debug", "coverage"] as const) {
    const k = new Kernel({ variant });
    const page = k.sysfs.allocPage();
    try {
      sysfsListShowUnfixed(page, HCTX_PENDING_HEADER, rqs(300));
      assert.unreachable("no KASAN report");
    } catch (e) {
      assert.instance(e, KasanBug);
      const r = (e as KasanBug).report;
      assert.is(r.kind, "out-of-bounds", variant);
      assert.is(r.addr, page.addr + 4096);
      assert.ok(r.isWrite);
      // The 227th line (4082..4100) and its NUL: 5 bytes past the page.
      assert.is(r.size, 5);
    }
    const log = k.log.text();
    assert.ok(log.includes("BUG: KASAN: out-of-bounds in vsnprintf"), log);
    assert.ok(log.includes("The buggy address belongs to the page block"), log);
    assert.ok(k.log.tainted().includes("B"));
    page.free();
    assert.is(k.liveObjects(), 0);
    k.slab.shrink();
    assert.is(k.slab.nrPagesUsed, 0);
  }
});

test("in the release build the unfixed list is not reported and leaves every other byte of memory alone", () => {
  const k = new Kernel({ variant: "release" });
  const neighbour = k.slab.kmalloc(4096, "neighbour");
  const page = k.sysfs.allocPage();
  const after = k.slab.allocPages(1);
  const before = new Uint8Array(k.core.memory.buffer).slice();
  const n = sysfsListShowUnfixed(page, HCTX_PENDING_HEADER, rqs(1000));
  assert.is(n, 14 + 1000 * 18);
  const mem = new Uint8Array(k.core.memory.buffer);
  for (let i = 0; i < before.length; i++) {
    if (i >= page.addr && i < page.addr + 8192) continue;
    if (mem[i] !== before[i]) assert.unreachable(`byte ${i} outside the page block changed`);
  }
  assert.ok(k.log.isClean());
  page.free();
  k.slab.freePages(after, 1);
  k.slab.kfree(neighbour);
  assertAllClean(k);
});

test.run();
