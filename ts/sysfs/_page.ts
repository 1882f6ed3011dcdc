// SPDX-License-Identifier: GPL-2.0-only
/**
 * The page a sysfs show handler prints into: one PAGE_SIZE buffer in WASM
 * linear memory with a KASAN redzone behind it, and the printf family as
 * show handlers use it (`len += sprintf(page + len, ...)`). Private to
 * ts/sysfs/; sysfs.ts re-exports.
 *
 * Layout: an order-1 block from the page allocator (8 KiB), guarded with
 * `kasan_guard(buf, 4096)`, so the second page is all redzone:
 *
 * ```text
 *  addr                       addr+4096                    addr+8192
 *  |<--- the sysfs page ------>|<--- KASAN_PAGE_REDZONE --->|
 * ```
 *
 * - debug/coverage builds: the first byte written past 4096 (a `sprintf`'s
 *   NUL included) is a KASAN "out-of-bounds" report and a thrown KasanBug,
 *   as the kernel's KASAN reports the `pending` overflow of 596f5aad2a;
 * - release builds: no checks, but writes stop at the end of the block, so
 *   an overflow lands in the page's own second page or is dropped, and never
 *   corrupts a neighbour. The overflow still shows: the show handler returns
 *   a count ≥ PAGE_SIZE, which sysfs reports as "returned bad count".
 *
 * Nothing ever writes before `addr` (every write appends at `len` ≥ 0), so
 * there is no left redzone.
 *
 * @module
 */

import { PAGE_SIZE, type Slab } from "../kernel/slab.ts";

/** Page order of the block behind a sysfs page: the page and its redzone page. */
const ORDER = 1;
const BLOCK_BYTES = PAGE_SIZE << ORDER;
/** KASAN site of page writes: where the kernel's writes happen. */
const SITE = "vsnprintf";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * One PAGE_SIZE (4096) buffer a show handler fills, in WASM linear memory,
 * guarded by a KASAN redzone. The methods append at `len` and mirror the
 * kernel's `len += xprintf(page + len, ...)` idiom.
 */
export interface SysfsPage {
  /** The cursor: bytes written so far (the kernel's `len`), which snprintf may push past what was stored. */
  readonly len: number;
  /**
   * Mirrors `sprintf(page + len, ...)`: UNBOUNDED; writes the text and a NUL,
   * advances len by the text's byte length and returns it. Writing past 4096
   * hits the redzone: a KASAN report in debug/coverage builds.
   */
  sprintf(text: string): number;
  /**
   * Mirrors `scnprintf(page + len, PAGE_SIZE - len, ...)`: appends at most
   * `PAGE_SIZE - 1 - len` bytes (and a NUL) and returns the bytes appended.
   */
  scnprintf(text: string): number;
  /**
   * Mirrors `snprintf(page + len, size, ...)`: stores at most `size - 1`
   * bytes and a NUL (nothing when size is 0), advances len by the
   * UNTRUNCATED length and returns it. A negative size is the kernel's huge
   * `size_t`: vsnprintf's WARN_ON_ONCE(size > INT_MAX), nothing written, 0.
   */
  snprintf(text: string, size: number): number;
  /** Sets len back to `len` (≤ the current len): the fix's "back up one entry". */
  truncate(len: number): void;
}

/**
 * The {@link SysfsPage} sysfs hands to show handlers: allocated per read,
 * freed after it. Tests and tools may allocate one with
 * `Sysfs.allocPage()` and must `free()` it.
 */
export class SysfsPageBuffer implements SysfsPage {
  /** Linear-memory address of byte 0. */
  readonly addr: number;
  readonly #slab: Slab;
  #len = 0;
  #freed = false;

  private constructor(slab: Slab, addr: number) {
    this.#slab = slab;
    this.addr = addr;
  }

  /**
   * Allocates and zeroes a page (as `sysfs_kf_seq_show()` memsets it) and
   * guards the redzone behind it.
   *
   * @throws {KernelError} ENOMEM when the page allocator says no
   */
  static alloc(slab: Slab): SysfsPageBuffer {
    const addr = slab.allocPages(ORDER);
    slab.kasan.guard(addr, PAGE_SIZE);
    new Uint8Array(slab.core.memory.buffer, addr, PAGE_SIZE).fill(0);
    return new SysfsPageBuffer(slab, addr);
  }

  get len(): number {
    return this.#len;
  }

  /** Whether {@link SysfsPageBuffer.free} ran. */
  get freed(): boolean {
    return this.#freed;
  }

  sprintf(text: string): number {
    const b = this.#encode(text, "sprintf");
    this.#store(this.#len, b, b.length);
    this.#len += b.length;
    return b.length;
  }

  scnprintf(text: string): number {
    const b = this.#encode(text, "scnprintf");
    const size = PAGE_SIZE - this.#len;
    if (size <= 0) return 0;
    const n = Math.min(b.length, size - 1);
    this.#store(this.#len, b, n);
    this.#len += n;
    return n;
  }

  snprintf(text: string, size: number): number {
    const b = this.#encode(text, "snprintf");
    if (!Number.isSafeInteger(size)) throw new RangeError(`snprintf: size must be an integer, got ${size}`);
    if (size < 0) {
      this.#slab.log.warnOnce("lib/vsprintf.c:vsnprintf", "WARN_ON_ONCE(size > INT_MAX)");
      return 0;
    }
    if (size > 0) this.#store(this.#len, b, Math.min(b.length, size - 1));
    this.#len += b.length;
    return b.length;
  }

  truncate(len: number): void {
    this.#live("truncate");
    if (!Number.isSafeInteger(len) || len < 0 || len > this.#len) {
      throw new RangeError(`SysfsPage.truncate: len must be an integer in [0, ${this.#len}], got ${len}`);
    }
    this.#len = len;
  }

  /**
   * The first `count` bytes as text (a checked read: `count` ≤ PAGE_SIZE).
   * Bytes never written read as NUL, as in the zeroed kernel page.
   */
  text(count: number = Math.min(this.#len, PAGE_SIZE)): string {
    this.#live("text");
    if (!Number.isSafeInteger(count) || count < 0 || count > PAGE_SIZE) {
      throw new RangeError(`SysfsPage.text: count must be an integer in [0, ${PAGE_SIZE}], got ${count}`);
    }
    return decoder.decode(this.#slab.kasan.readBytes(this.addr, count, SITE));
  }

  /** Returns the block to the page allocator; a second free is a TypeError. */
  free(): void {
    this.#live("free");
    this.#freed = true;
    this.#slab.freePages(this.addr, ORDER);
  }

  #encode(text: string, op: string): Uint8Array {
    this.#live(op);
    if (typeof text !== "string") throw new TypeError(`${op}: text must be a string`);
    return encoder.encode(text);
  }

  #live(op: string): void {
    if (this.#freed) throw new TypeError(`SysfsPage.${op}: the page was freed`);
  }

  /**
   * Stores `bytes[0..n)` and a NUL at offset `off`: the in-page part checked,
   * the part past PAGE_SIZE a KASAN report (debug) or clipped to the block
   * (release).
   */
  #store(off: number, bytes: Uint8Array, n: number): void {
    const out = new Uint8Array(n + 1);
    out.set(bytes.subarray(0, n));
    const end = off + out.length;
    const kasan = this.#slab.kasan;
    if (off < PAGE_SIZE) kasan.writeBytes(this.addr + off, out.subarray(0, Math.min(end, PAGE_SIZE) - off), SITE);
    if (end <= PAGE_SIZE) return;
    const from = Math.max(off, PAGE_SIZE);
    if (kasan.enabled) {
      // The first byte past the page is redzone; a write starting beyond the
      // block is reported at the block's last byte (it is redzone too).
      const at = Math.min(from, BLOCK_BYTES - 1);
      kasan.store(this.addr + at, Math.max(1, Math.min(end, BLOCK_BYTES) - at), SITE);
    }
    if (from >= BLOCK_BYTES) return;
    const stop = Math.min(end, BLOCK_BYTES);
    new Uint8Array(this.#slab.core.memory.buffer).set(out.subarray(from - off, stop - off), this.addr + from);
  }
}
