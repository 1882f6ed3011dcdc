// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KernelError } from "../errors.ts";
import { CORE_VARIANTS, type CoreVariant, instantiateCore } from "../wasm/core.ts";
import { KasanBug } from "./kasan.ts";
import { Klog } from "./klog.ts";
import { FAIL_PAGE_ALLOC, MAX_ORDER, PAGE_SIZE, Slab } from "./slab.ts";

function setup(variant: CoreVariant = "debug") {
  const core = instantiateCore(variant);
  const log = new Klog();
  return { core, log, slab: new Slab(core, { log }) };
}

/** Ends a test: no page and no slab object may still be allocated. */
function assertClean(slab: Slab): void {
  assert.is(slab.nrPagesUsed, 0, "pages still allocated");
  assert.equal(slab.liveObjects(), [], "slab objects still live");
}

const isBug = (kind: string) => (e: unknown) => e instanceof KasanBug && e.code === "BUG" && e.report.kind === kind;

test("allocPages() returns naturally aligned blocks of every order, in every variant", () => {
  for (const v of CORE_VARIANTS) {
    const { slab } = setup(v);
    const blocks: [number, number][] = [];
    for (let order = 0; order < MAX_ORDER; order++) {
      const p = slab.allocPages(order);
      assert.is(p % (PAGE_SIZE << order), 0, `${v} order ${order} at ${p}`);
      blocks.push([p, order]);
    }
    assert.is(slab.nrPagesUsed, (1 << MAX_ORDER) - 1, v);
    for (const [p, order] of blocks) slab.freePages(p, order);
    assertClean(slab);
  }
});

test("allocPages() hands out disjoint blocks whose bytes the caller owns", () => {
  const { core, slab } = setup("release");
  const a = slab.allocPages(0);
  const b = slab.allocPages(1);
  assert.ok(a + PAGE_SIZE <= b || b + 2 * PAGE_SIZE <= a);
  const mem = new Uint8Array(core.memory.buffer);
  mem.fill(0xaa, a, a + PAGE_SIZE);
  mem.fill(0xbb, b, b + 2 * PAGE_SIZE);
  assert.is(mem[a + PAGE_SIZE - 1], 0xaa);
  assert.is(mem[b], 0xbb);
  slab.freePages(a, 0);
  slab.freePages(b, 1);
  assertClean(slab);
});

test("freePages() coalesces buddies, so freed memory serves a larger order without growing", () => {
  const { core, slab } = setup("release");
  const big = slab.allocPages(6);
  slab.freePages(big, 6);
  const managed = core.page_alloc_nr_managed();
  const small = Array.from({ length: 64 }, () => slab.allocPages(0));
  for (const p of small) slab.freePages(p, 0);
  assert.is(slab.allocPages(6), big, "the 64 order-0 pages merged back into one order-6 block");
  slab.freePages(big, 6);
  assert.is(core.page_alloc_nr_managed(), managed, "no memory.grow");
  assertClean(slab);
});

test("setPageLimit() makes allocations past the limit fail with ENOMEM, and freeing makes room again", () => {
  const { core, slab } = setup();
  slab.setPageLimit(4);
  const a = slab.allocPages(2);
  assert.throws(() => slab.allocPages(0), (e: unknown) => e instanceof KernelError && e.code === "ENOMEM");
  assert.is(core.mm_errno(), -12);
  slab.freePages(a, 2);
  const b = slab.allocPages(0);
  slab.freePages(b, 0);
  assert.is(slab.setPageLimit(1 << 19), 4);
  assertClean(slab);
});

test("alloc_pages() returns 0 with -EINVAL for an order out of range, and allocPages() throws RangeError", () => {
  const { core, slab } = setup();
  assert.is(core.alloc_pages(MAX_ORDER), 0);
  assert.is(core.mm_errno(), -22);
  assert.is(core.alloc_pages(-1), 0);
  assert.throws(() => slab.allocPages(MAX_ORDER), RangeError);
  assert.throws(() => slab.allocPages(1.5), RangeError);
  assertClean(slab);
});

test("failNth(fail_page_alloc) makes exactly the nth page allocation fail", () => {
  const { slab } = setup();
  slab.failNth(FAIL_PAGE_ALLOC, 3);
  const a = slab.allocPages(0);
  const b = slab.allocPages(0);
  assert.throws(() => slab.allocPages(0), (e: unknown) => e instanceof KernelError && e.code === "ENOMEM");
  const c = slab.allocPages(0);
  assert.is(slab.faultsInjected(FAIL_PAGE_ALLOC), 1);
  for (const p of [a, b, c]) slab.freePages(p, 0);
  assertClean(slab);
});

test("freePages() of a free block is a double-free BUG, not a trap, in every variant", () => {
  for (const v of CORE_VARIANTS) {
    const { slab, log } = setup(v);
    const p = slab.allocPages(1);
    slab.freePages(p, 1);
    assert.throws(() => slab.freePages(p, 1), isBug("double-free"), v);
    assert.ok(log.text().includes("BUG: KASAN: double-free or invalid-free in free_pages"), v);
    assertClean(slab);
  }
});

test("freePages() of a foreign pointer, an interior page or with the wrong order is an invalid-free BUG and frees nothing", () => {
  for (const v of CORE_VARIANTS) {
    const { core, slab } = setup(v);
    const p = slab.allocPages(2);
    assert.throws(() => slab.freePages(core.hostbuf_ptr(), 0), isBug("invalid-free"), `${v} foreign`);
    assert.throws(() => slab.freePages(p + PAGE_SIZE, 0), isBug("invalid-free"), `${v} interior`);
    assert.throws(() => slab.freePages(p, 1), isBug("invalid-free"), `${v} order`);
    assert.throws(() => slab.freePages(p + 12, 2), isBug("invalid-free"), `${v} unaligned`);
    assert.is(slab.nrPagesUsed, 4, `${v}: still allocated`);
    slab.freePages(p, 2);
    assertClean(slab);
  }
});

test("memory.grow detaches old views: a view taken before an allocation that grew memory is empty", () => {
  const { core, slab } = setup("release");
  const before = new Uint8Array(core.memory.buffer);
  const p = slab.allocPages(MAX_ORDER - 1);
  assert.is(before.byteLength, 0, "the old view was detached");
  assert.ok(new Uint8Array(core.memory.buffer).byteLength >= p + (PAGE_SIZE << (MAX_ORDER - 1)));
  slab.freePages(p, MAX_ORDER - 1);
  assertClean(slab);
});

test("memory stops at 2 GiB: every block handed out lies below 2^31, and then allocations fail with ENOMEM", () => {
  // JavaScript reads the core's i32 results signed; an address at 2^31 or above would come back negative.
  const { core, slab } = setup("release");
  const blocks: [number, number][] = [];
  let bytes = 0;
  /** Allocates blocks of `order` until ENOMEM. */
  const fill = (order: number) => {
    for (;;) {
      let p: number;
      try {
        p = slab.allocPages(order);
      } catch (e) {
        assert.instance(e, KernelError);
        assert.is((e as KernelError).code, "ENOMEM");
        return;
      }
      assert.ok(p > 0 && p + (PAGE_SIZE << order) <= 2 ** 31, `order ${order} block at ${p}`);
      blocks.push([p, order]);
      bytes += PAGE_SIZE << order;
    }
  };
  fill(MAX_ORDER - 1); // memory grows by the block: unaligned growth leaves smaller free blocks behind
  fill(0); // those, and whatever memory is left
  assert.ok(core.memory.buffer.byteLength <= 2 ** 31, `memory grew to ${core.memory.buffer.byteLength} bytes`);
  assert.ok(bytes >= 2 ** 31 - (32 << 20), `only ${bytes} bytes handed out before ENOMEM`);
  const [p, order] = blocks.pop()!;
  slab.freePages(p, order);
  blocks.push([slab.allocPages(order), order]); // a freed block serves again
  for (const [q, o] of blocks) slab.freePages(q, o);
  assertClean(slab);
});

test.run();
