// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KasanBug } from "../kernel/kasan.ts";
import { Kernel } from "../kernel/kernel.ts";
import { assertAllClean } from "./_test_helpers.ts";

function bytes(k: Kernel, addr: number, n: number): number[] {
  return [...new Uint8Array(k.core.memory.buffer, addr, n)];
}

test("sprintf() appends the text and a NUL and advances len by the text's length", () => {
  const k = new Kernel();
  const page = k.sysfs.allocPage();
  assert.is(page.sprintf("ab"), 2);
  assert.is(page.sprintf("c\n"), 2);
  assert.is(page.len, 4);
  assert.equal(bytes(k, page.addr, 6), [0x61, 0x62, 0x63, 0x0a, 0, 0]);
  assert.is(page.text(), "abc\n");
  page.free();
  assertAllClean(k);
});

test("a fresh page is zeroed, so bytes never written read as NUL", () => {
  const k = new Kernel();
  const a = k.sysfs.allocPage();
  new Uint8Array(k.core.memory.buffer, a.addr, 4096).fill(0x55);
  a.free();
  const b = k.sysfs.allocPage();
  assert.is(b.text(3), "\0\0\0");
  b.free();
  assertAllClean(k);
});

test("scnprintf() appends at most PAGE_SIZE - 1 - len bytes and returns what it appended", () => {
  const k = new Kernel();
  const page = k.sysfs.allocPage();
  page.sprintf("x".repeat(4090));
  assert.is(page.scnprintf("0123456789"), 5);
  assert.is(page.len, 4095);
  assert.is(page.scnprintf("more"), 0);
  assert.is(page.len, 4095);
  assert.is(page.text(4096).slice(4088), "xx01234\0");
  page.free();
  assertAllClean(k);
});

test("snprintf() stores size - 1 bytes and a NUL but advances by the untruncated length", () => {
  const k = new Kernel();
  const page = k.sysfs.allocPage();
  assert.is(page.snprintf("hello", 3), 5);
  assert.is(page.len, 5);
  assert.equal(bytes(k, page.addr, 4), [0x68, 0x65, 0, 0]);
  assert.is(page.snprintf("zz", 0), 2, "size 0 stores nothing");
  assert.is(page.len, 7);
  assert.equal(bytes(k, page.addr + 5, 2), [0, 0]);
  page.truncate(0);
  assert.is(page.snprintf("ok", 100), 2);
  assert.is(page.text(), "ok");
  page.free();
  assertAllClean(k);
});

test("snprintf() with a negative size is vsnprintf's WARN_ON_ONCE(size > INT_MAX): nothing written", () => {
  const k = new Kernel();
  const page = k.sysfs.allocPage();
  assert.is(page.snprintf("x", -1), 0);
  assert.is(page.len, 0);
  assert.ok(k.log.text().includes("WARN_ON_ONCE(size > INT_MAX)"));
  page.free();
  assert.is(k.liveObjects(), 0);
});

test("truncate() moves len back and rejects moving it forward", () => {
  const k = new Kernel();
  const page = k.sysfs.allocPage();
  page.sprintf("abcdef");
  page.truncate(2);
  page.sprintf("Z\n");
  assert.is(page.text(), "abZ\n");
  assert.throws(() => page.truncate(10), RangeError);
  assert.throws(() => page.truncate(-1), RangeError);
  page.free();
  assertAllClean(k);
});

test("a sprintf() ending exactly at 4096 overflows by its NUL: KASAN out-of-bounds at page + 4096", () => {
  const k = new Kernel();
  const page = k.sysfs.allocPage();
  page.sprintf("x".repeat(4095));
  try {
    page.sprintf("y");
    assert.unreachable();
  } catch (e) {
    assert.instance(e, KasanBug);
    const r = (e as KasanBug).report;
    assert.is(r.kind, "out-of-bounds");
    assert.is(r.addr, page.addr + 4096);
    assert.is(r.size, 1);
    assert.ok(r.isWrite);
  }
  assert.ok(k.log.text().includes("BUG: KASAN: out-of-bounds in vsnprintf"), k.log.text());
  assert.is(page.text(4096).slice(-1), "y", "the in-page byte was written, as the kernel's sprintf writes it");
  page.free();
  k.log.clear();
  assertAllClean(k);
});

test("in a release build the overflow is not checked but stays inside the page's own block", () => {
  const k = new Kernel({ variant: "release" });
  const page = k.sysfs.allocPage();
  const mem = () => new Uint8Array(k.core.memory.buffer);
  const before = mem().slice();
  page.sprintf("x".repeat(20_000));
  assert.is(page.len, 20_000);
  const after = mem();
  for (let i = 0; i < before.length; i++) {
    if (i >= page.addr && i < page.addr + 8192) continue;
    if (after[i] !== before[i]) assert.unreachable(`byte ${i} outside the page block changed`);
  }
  assert.is(after[page.addr + 8191], 0x78);
  page.free();
  assertAllClean(k);
});

test("a freed page cannot be used", () => {
  const k = new Kernel();
  const page = k.sysfs.allocPage();
  page.free();
  assert.ok(page.freed);
  assert.throws(() => page.sprintf("x"), TypeError);
  assert.throws(() => page.free(), TypeError);
  assertAllClean(k);
});

test.run();
