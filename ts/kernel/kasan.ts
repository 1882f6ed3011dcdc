// SPDX-License-Identifier: GPL-2.0-only
/**
 * KASAN, the TypeScript side: reads the report records the WASM core files
 * (asm/kasan.ts), formats them in the kernel's report shape
 * (mm/kasan/report.c), logs them, and raises {@link KasanBug}; plus checked
 * accessors for TS code that touches slab memory.
 *
 * The WASM side never corrupts memory on a bad access: a checked access that
 * fails returns -EFAULT and files a record `{kind, addr, size, is_write,
 * object, offset, cache, site}`; a bad free files one and changes nothing.
 * Access checks exist only in the debug and coverage builds; bad frees are
 * caught in every build.
 *
 * @module
 */

import { KernelBug } from "../errors.ts";
import type { CoreExports } from "../wasm/core.ts";
import { formatPointer, type Klog } from "./klog.ts";

/** What a report is about, by the kernel's bug-type names. */
export type KasanKind =
  | "slab-out-of-bounds"
  | "out-of-bounds"
  | "use-after-free"
  | "double-free"
  | "invalid-free"
  | "wrong-cache"
  | "null-ptr-deref"
  | "wild-memory-access";

/** Kind numbers of asm/kasan.ts (KASAN_KIND_*), index = number. */
const KINDS: readonly (KasanKind | null)[] = [
  null,
  "slab-out-of-bounds",
  "out-of-bounds",
  "use-after-free",
  "double-free",
  "invalid-free",
  "wrong-cache",
  "null-ptr-deref",
  "wild-memory-access",
];

/** One report as the WASM core filed it. Addresses are linear-memory offsets. */
export interface KasanRecord {
  readonly kind: KasanKind;
  /** The first bad byte (for frees: the pointer passed). */
  readonly addr: number;
  /** Access size in bytes; 0 for frees. */
  readonly size: number;
  readonly isWrite: boolean;
  /** Site id of the access or of the freeing function. */
  readonly site: number;
  /** The nearest object or page block, 0 when none. */
  readonly object: number;
  /** Its accessible size: the requested size (kmalloc), the guard size, or the block. */
  readonly objectSize: number;
  /** Its cache id; 0 for page blocks and unknown memory. */
  readonly cache: number;
  /** Site id that allocated the object (0 = untracked). */
  readonly allocSite: number;
  /** `addr - object` (negative: left of the object); 0 when there is no object. */
  readonly offset: number;
  /** Wrong-cache: the cache the caller named. Page blocks: the order. */
  readonly arg: number;
  /** Shadow byte that classified the access (debugging aid). */
  readonly shadow: number;
  /** Sequence number since the instance started. */
  readonly seq: number;
}

/** Names for the integer ids in records; {@link SlabNames} (slab.ts) implements it. */
export interface KasanNames {
  cacheName(id: number): string;
  siteName(id: number): string;
  /** The id of a site name, interned on first use. */
  siteId(name: string): number;
}

/**
 * A bad access or free caught by KASAN: a kernel-log BUG that is also thrown,
 * so the caller cannot carry on as if nothing happened. `code` is "BUG" as
 * for every {@link KernelBug}; `report.kind` says which.
 */
export class KasanBug extends KernelBug {
  readonly report: KasanRecord;

  constructor(report: KasanRecord, names: KasanNames) {
    super(`KASAN: ${bugType(report.kind)} in ${names.siteName(report.site)} at addr ${formatPointer(report.addr)}`);
    this.name = "KasanBug";
    this.report = report;
  }
}

const EFAULT = -14;
const REPORT_WORDS = 12;

/** The banner word of a kind: both free kinds print "double-free or invalid-free". */
function bugType(kind: KasanKind): string {
  return kind === "double-free" || kind === "invalid-free" ? "double-free or invalid-free" : kind;
}

/** Decodes the 48-byte record at `ptr` (layout: KasanReport in asm/kasan.ts). */
function decode(core: CoreExports, ptr: number): KasanRecord {
  const w = new Uint32Array(core.memory.buffer, ptr, REPORT_WORDS);
  const object = w[5];
  return {
    kind: KINDS[w[0]] ?? "wild-memory-access",
    addr: w[1],
    size: w[2],
    isWrite: w[3] !== 0,
    site: w[4],
    object,
    objectSize: w[6],
    cache: w[7],
    allocSite: w[8],
    arg: w[9] | 0,
    shadow: w[10],
    seq: w[11],
    offset: object === 0 ? 0 : w[1] - object,
  };
}

/**
 * Takes every pending record out of the core's report ring, oldest first.
 * Records are not logged; see {@link Kasan.drain} for that.
 */
export function readKasanReports(core: CoreExports): KasanRecord[] {
  const out: KasanRecord[] = [];
  for (let p = core.kasan_report_peek(); p !== 0; p = core.kasan_report_peek()) {
    out.push(decode(core, p));
    core.kasan_report_pop();
  }
  return out;
}

/**
 * Mirrors `describe_object_addr()` (mm/kasan/report.c): where the bad
 * address lies relative to the object's region.
 */
export function kasanLocation(r: KasanRecord): { rel: "to the left of" | "to the right of" | "inside of"; bytes: number } {
  if (r.addr < r.object) return { rel: "to the left of", bytes: r.object - r.addr };
  if (r.addr >= r.object + r.objectSize) return { rel: "to the right of", bytes: r.addr - (r.object + r.objectSize) };
  return { rel: "inside of", bytes: r.addr - r.object };
}

/** Who ran the access, for the "by task" line. */
export interface KasanTask {
  comm: string;
  pid: number;
}

/**
 * The report's lines, without the stack dump, in the kernel's shape:
 *
 * ```text
 * ==================================================================
 * BUG: KASAN: slab-out-of-bounds in my_site at addr 0000000000041a0d
 * Write of size 1 at addr 0000000000041a0d by task swapper/0
 *
 * Allocated in kmalloc_test
 *
 * The buggy address belongs to the object at 0000000000041a00
 *  which belongs to the cache kmalloc-32 of size 32
 * The buggy address is located 0 bytes to the right of
 *  13-byte region [0000000000041a00, 0000000000041a0d)
 * ==================================================================
 * ```
 *
 * @param cacheSize the object size of a cache id (the "of size N"), e.g. `core.kmem_cache_size`
 */
export function formatKasanReport(
  r: KasanRecord,
  names: KasanNames,
  task: KasanTask,
  cacheSize: (cache: number) => number,
): { head: string[]; tail: string[] } {
  const bar = "==================================================================";
  const p = formatPointer;
  const head = [bar, `BUG: KASAN: ${bugType(r.kind)} in ${names.siteName(r.site)} at addr ${p(r.addr)}`];
  const byTask = `by task ${task.comm}/${task.pid}`;
  if (r.kind === "double-free" || r.kind === "invalid-free" || r.kind === "wrong-cache") {
    head.push(`Free of addr ${p(r.addr)} ${byTask}`);
  } else {
    head.push(`${r.isWrite ? "Write" : "Read"} of size ${r.size} at addr ${p(r.addr)} ${byTask}`);
  }
  const tail: string[] = [];
  if (r.kind === "wrong-cache") {
    tail.push(`cache_from_obj: Wrong slab cache. ${names.cacheName(r.arg)} but object is from ${names.cacheName(r.cache)}`);
  }
  if (r.object !== 0) {
    if (r.allocSite !== 0) tail.push("", `Allocated in ${names.siteName(r.allocSite)}`);
    tail.push("");
    const loc = kasanLocation(r);
    if (r.cache !== 0) {
      tail.push(`The buggy address belongs to the object at ${p(r.object)}`);
      tail.push(` which belongs to the cache ${names.cacheName(r.cache)} of size ${cacheSize(r.cache)}`);
    } else {
      tail.push(`The buggy address belongs to the page block at ${p(r.object)} of order ${r.arg}`);
    }
    tail.push(`The buggy address is located ${loc.bytes} bytes ${loc.rel}`);
    tail.push(` ${r.objectSize}-byte region [${p(r.object)}, ${p(r.object + r.objectSize)})`);
  }
  tail.push(bar);
  return { head, tail };
}

/**
 * The KASAN reporter and checked accessors of one core instance.
 *
 * @example
 * const kasan = new Kasan(core, names, log);
 * const p = core.kmalloc(13, names.siteId("demo"));
 * kasan.writeBytes(p, new Uint8Array(13), "demo"); // fine
 * kasan.store(p + 13, 1, "demo");                  // debug build: logs BUG: KASAN and throws KasanBug
 */
export class Kasan {
  readonly core: CoreExports;
  readonly names: KasanNames;
  readonly log: Klog;

  constructor(core: CoreExports, names: KasanNames, log: Klog) {
    this.core = core;
    this.names = names;
    this.log = log;
  }

  /** Whether this core checks accesses (debug and coverage builds). */
  get enabled(): boolean {
    return this.core.kasan_enabled() === 1;
  }

  /**
   * Logs every pending report (taints the kernel with B) and returns them.
   * Reports filed by WASM code outside the TS wrappers surface here too.
   */
  drain(): KasanRecord[] {
    const recs = readKasanReports(this.core);
    for (const r of recs) this.#log(r);
    return recs;
  }

  /**
   * Drains, and throws the first new report as a {@link KasanBug}.
   * @throws {KasanBug} when a report was pending
   */
  raise(): void {
    const recs = this.drain();
    if (recs.length > 0) throw new KasanBug(recs[0], this.names);
  }

  /**
   * Mirrors `kasan_check_read()`: checks a read of `size` bytes at `addr`.
   * @throws {KasanBug} on a bad access (nothing is read)
   * @throws {RangeError} on a bad size
   */
  load(addr: number, size: number, site: string | number): void {
    this.#check(this.core.kasan_load(addr, size, this.#site(site)), "kasan_load", size);
  }

  /**
   * Mirrors `kasan_check_write()`: checks a write of `size` bytes at `addr`.
   * @throws {KasanBug} on a bad access (nothing is written)
   * @throws {RangeError} on a bad size
   */
  store(addr: number, size: number, site: string | number): void {
    this.#check(this.core.kasan_store(addr, size, this.#site(site)), "kasan_store", size);
  }

  /**
   * Checked write of `bytes` to linear memory at `addr`.
   * @throws {KasanBug} on a bad access (memory unchanged)
   */
  writeBytes(addr: number, bytes: Uint8Array, site: string | number): void {
    this.store(addr, bytes.length, site);
    new Uint8Array(this.core.memory.buffer).set(bytes, addr);
  }

  /**
   * Checked read of `n` bytes at `addr` (a copy).
   * @throws {KasanBug} on a bad access
   */
  readBytes(addr: number, n: number, site: string | number): Uint8Array {
    this.load(addr, n, site);
    return new Uint8Array(this.core.memory.buffer, addr, n).slice();
  }

  /**
   * Guards a bounded buffer (asm `kasan_guard()`): only [addr, addr + size)
   * of the allocation starting at `addr` stays accessible.
   * @throws {RangeError} when addr starts no live allocation or size does not fit
   */
  guard(addr: number, size: number): void {
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`kasan_guard: size must be a non-negative integer, got ${size}`);
    if (this.core.kasan_guard(addr, size) < 0) {
      throw new RangeError(`kasan_guard: ${formatPointer(addr)} does not start a live allocation of at least ${size} bytes`);
    }
  }

  #site(site: string | number): number {
    return typeof site === "number" ? site : this.names.siteId(site);
  }

  #check(rc: number, op: string, size: number): void {
    if (rc === EFAULT) this.raise();
    else if (rc < 0) throw new RangeError(`${op}: size must be a non-negative integer, got ${size}`);
  }

  #log(r: KasanRecord): void {
    const cur = this.log.current();
    const { head, tail } = formatKasanReport(r, this.names, cur, (c) => this.core.kmem_cache_size(c));
    for (const l of head) this.log.printk("err", l);
    this.log.printk("err", "");
    this.log.dumpStack(undefined, [this.names.siteName(r.site)]);
    for (const l of tail) this.log.printk("err", l);
    this.log.addTaint("B");
  }
}
