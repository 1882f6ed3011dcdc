// SPDX-License-Identifier: GPL-2.0-only
/**
 * Block-layer memory in the core's linear memory: `kmalloc()` for what fits
 * a kmalloc class, whole page blocks above it (the kernel's
 * `kmalloc_large()`), each page block registered with kmemleak under its
 * allocation site as `kmemleak_alloc()` does. Private to ts/block/.
 *
 * @module
 */

import { KernelError } from "../errors.ts";
import type { Kmemleak } from "../kernel/kmemleak.ts";
import { KMALLOC_MAX_SIZE, MAX_ORDER, PAGE_SIZE, type Slab } from "../kernel/slab.ts";
import type { TagMemory } from "./tags.ts";

/** A page block handed out by {@link BlockMemory.allocPages}, tracked by kmemleak. */
interface PageBlock {
  readonly addr: number;
  readonly order: number;
}

/**
 * Mirrors `get_order()`: the smallest order whose block holds `bytes`. In
 * floating point, not `PAGE_SIZE << order`: the 32-bit shift wraps from
 * order 20 on, so a size past 2 GiB (a 64-bit `size_t` product) never fit
 * and the loop never ended.
 */
export function getOrder(bytes: number): number {
  let order = 0;
  while (PAGE_SIZE * 2 ** order < bytes) order++;
  return order;
}

/**
 * Allocations of one site, in WASM memory. Also a {@link TagMemory} (alloc
 * returns 0 on failure) for the tag maps.
 */
export class BlockMemory implements TagMemory {
  readonly #slab: Slab;
  readonly #kmemleak: Kmemleak;
  readonly #site: string;
  readonly #blocks = new Map<number, PageBlock>();

  constructor(slab: Slab, kmemleak: Kmemleak, site: string) {
    this.#slab = slab;
    this.#kmemleak = kmemleak;
    this.#site = site;
  }

  /**
   * Mirrors `kzalloc()` (and `kmalloc_large()` above KMALLOC_MAX_SIZE).
   *
   * @throws {KernelError} ENOMEM when memory (or an injected fault) says no
   */
  kzalloc(bytes: number): number {
    if (bytes <= KMALLOC_MAX_SIZE) return this.#slab.kzalloc(bytes, this.#site);
    const p = this.allocPages(getOrder(bytes));
    new Uint8Array(this.#slab.core.memory.buffer, p, bytes).fill(0);
    return p;
  }

  /** Mirrors `kfree()` of a {@link BlockMemory.kzalloc} result. 0 is ignored. */
  kfree(ptr: number): void {
    if (ptr === 0) return;
    const b = this.#blocks.get(ptr);
    if (b === undefined) this.#slab.kfree(ptr);
    else this.freePages(ptr);
  }

  /**
   * Mirrors `alloc_pages()` + `kmemleak_alloc()`: a block of 2^order pages, zeroed
   * (`__GFP_ZERO`).
   *
   * @throws {KernelError} ENOMEM
   */
  allocPages(order: number): number {
    if (order >= MAX_ORDER) throw new KernelError("ENOMEM", "alloc_pages", `order ${order}`);
    const addr = this.#slab.allocPages(order);
    new Uint8Array(this.#slab.core.memory.buffer, addr, PAGE_SIZE << order).fill(0);
    const b: PageBlock = { addr, order };
    this.#blocks.set(addr, b);
    this.#kmemleak.track(b, { size: PAGE_SIZE << order, cache: `pages-order${order}`, site: this.#site });
    return addr;
  }

  /** Mirrors `kmemleak_free()` + `__free_pages()` of an {@link BlockMemory.allocPages} block. */
  freePages(addr: number): void {
    const b = this.#blocks.get(addr);
    if (b === undefined) throw new RangeError(`freePages: ${addr} is not a page block of ${this.#site}`);
    this.#blocks.delete(addr);
    this.#kmemleak.untrack(b, "__free_pages");
    this.#slab.freePages(addr, b.order);
  }

  /** {@link TagMemory}: 0 when out of memory. */
  alloc(bytes: number): number {
    try {
      return this.kzalloc(bytes);
    } catch (e) {
      if (e instanceof KernelError && e.code === "ENOMEM") return 0;
      throw e;
    }
  }

  /** {@link TagMemory}. */
  free(ptr: number): void {
    this.kfree(ptr);
  }
}
