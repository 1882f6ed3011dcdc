// SPDX-License-Identifier: GPL-2.0-only
/**
 * KASAN, the TypeScript side: reads the report records the WASM core files
 * (asm/kasan.ts), logs them, and raises {@link KasanBug}; plus checked
 * accessors for TS code that touches slab memory. {@link kasanReport} is the
 * one printer of KASAN reports in the port (mm/kasan/report.c, v4.4 layout),
 * for the WASM records and for TS-side reporters alike (kobject
 * use-after-free, kmemleak double-free).
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

/** Decodes the 48-byte record at `ptr` (layout: class KasanReport in asm/kasan.ts). */
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

/** What {@link Kasan.drain} returns when no report is pending (one frozen array). */
const NO_REPORTS: readonly KasanRecord[] = Object.freeze([]);

/** Where `addr` lies relative to the region [start, start + size). */
function locate(
  addr: bigint,
  start: bigint,
  size: bigint,
): { rel: "to the left of" | "to the right of" | "inside of"; bytes: number } {
  if (addr < start) return { rel: "to the left of", bytes: Number(start - addr) };
  if (addr >= start + size) return { rel: "to the right of", bytes: Number(addr - (start + size)) };
  return { rel: "inside of", bytes: Number(addr - start) };
}

/**
 * Mirrors `describe_object_addr()` (mm/kasan/report.c): where the bad
 * address lies relative to the object's region.
 */
export function kasanLocation(
  r: KasanRecord,
): { rel: "to the left of" | "to the right of" | "inside of"; bytes: number } {
  return locate(BigInt(r.addr), BigInt(r.object), BigInt(r.objectSize));
}

/** Who ran the access, for the "by task" line. */
export interface KasanTask {
  comm: string;
  pid: number;
}

/**
 * The object a {@link KasanReport} points into: a slab object (`cache` and
 * its object `size`, the "of size N") or a page block (`pageOrder`).
 */
export type KasanObject =
  | {
    addr: bigint | number;
    /** The slab cache or TS type, e.g. "kmalloc-64", "kobject". */
    cache: string;
    /** The cache's object size. */
    size: number;
    /** The accessible bytes from `addr` (the requested size); prints the "located" lines. */
    region?: number;
  }
  | {
    addr: bigint | number;
    pageOrder: number;
    /** The accessible bytes from `addr`; prints the "located" lines. */
    region?: number;
  };

/**
 * One KASAN report as plain data, from any reporter: the WASM slab (through
 * {@link Kasan}), kobject use-after-free, kmemleak double-free. Printed by
 * {@link kasanReport}.
 */
export interface KasanReport {
  kind: KasanKind;
  /** The function that made the bad access or free, e.g. "kobject_del". */
  where: string;
  addr: bigint | number;
  access: "read" | "write" | "free";
  /** Access size in bytes (read/write); default 8. */
  size?: number;
  /** The object the address belongs to. */
  object?: KasanObject;
  /** The site that allocated the object ("Allocated in <site>"). */
  allocatedIn?: string;
  /**
   * Lines after the stack dump, before the object, e.g. SLUB's
   * "cache_from_obj: Wrong slab cache. ...".
   */
  extra?: readonly string[];
  /** Frames under "Call Trace:" in the stack dump; default none. */
  trace?: readonly string[];
}

/**
 * The lines of a report, without the stack dump (which goes between `head`
 * and `tail`), in the v4.4 shape:
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
 */
export function kasanReportLines(
  r: KasanReport,
  task: KasanTask,
): { head: string[]; tail: string[] } {
  const bar = "==================================================================";
  const p = formatPointer;
  const head = [bar, `BUG: KASAN: ${bugType(r.kind)} in ${r.where} at addr ${p(r.addr)}`];
  const byTask = `by task ${task.comm}/${task.pid}`;
  if (r.access === "free") {
    head.push(`Free of addr ${p(r.addr)} ${byTask}`);
  } else {
    const verb = r.access === "write" ? "Write" : "Read";
    head.push(`${verb} of size ${r.size ?? 8} at addr ${p(r.addr)} ${byTask}`);
  }
  const tail: string[] = [...(r.extra ?? [])];
  if (r.allocatedIn !== undefined) tail.push("", `Allocated in ${r.allocatedIn}`);
  const o = r.object;
  if (o) {
    tail.push("");
    if ("cache" in o) {
      tail.push(`The buggy address belongs to the object at ${p(o.addr)}`);
      tail.push(` which belongs to the cache ${o.cache} of size ${o.size}`);
    } else {
      tail.push(
        `The buggy address belongs to the page block at ${p(o.addr)} of order ${o.pageOrder}`,
      );
    }
    if (o.region !== undefined) {
      const start = BigInt(o.addr);
      const end = start + BigInt(o.region);
      const loc = locate(BigInt(r.addr), start, BigInt(o.region));
      tail.push(`The buggy address is located ${loc.bytes} bytes ${loc.rel}`);
      tail.push(` ${o.region}-byte region [${p(start)}, ${p(end)})`);
    }
  }
  tail.push(bar);
  return { head, tail };
}

/**
 * Mirrors `kasan_report()` (mm/kasan/report.c, v4.4 layout): logs the
 * report's lines around a `dump_stack()` of the current task and taints the
 * kernel with B. The one printer of every KASAN report in the port.
 *
 * @example
 * kasanReport(log, { kind: "use-after-free", where: "kobject_del", addr, access: "read" });
 */
export function kasanReport(log: Klog, r: KasanReport): void {
  const { head, tail } = kasanReportLines(r, log.current());
  for (const l of head) log.printk("err", l);
  log.printk("err", "");
  log.dumpStack(undefined, r.trace ?? []);
  for (const l of tail) log.printk("err", l);
  log.addTaint("B");
}

/**
 * A WASM record as a {@link KasanReport}: ids become names, the kind picks the access.
 *
 * @param cacheSize the object size of a cache id (the "of size N"), e.g. `core.kmem_cache_size`
 */
function recordReport(
  r: KasanRecord,
  names: KasanNames,
  cacheSize: (cache: number) => number,
): KasanReport {
  const free = r.kind === "double-free" || r.kind === "invalid-free" || r.kind === "wrong-cache";
  const site = names.siteName(r.site);
  const report: KasanReport = {
    kind: r.kind,
    where: site,
    addr: r.addr,
    access: free ? "free" : r.isWrite ? "write" : "read",
    size: r.size,
    trace: [site],
  };
  if (r.kind === "wrong-cache") {
    const named = names.cacheName(r.arg);
    report.extra = [
      `cache_from_obj: Wrong slab cache. ${named} but object is from ${names.cacheName(r.cache)}`,
    ];
  }
  if (r.object !== 0) {
    if (r.allocSite !== 0) report.allocatedIn = names.siteName(r.allocSite);
    report.object = r.cache !== 0
      ? {
        addr: r.object,
        cache: names.cacheName(r.cache),
        size: cacheSize(r.cache),
        region: r.objectSize,
      }
      : { addr: r.object, pageOrder: r.arg, region: r.objectSize };
  }
  return report;
}

/**
 * {@link kasanReportLines} of a WASM record.
 *
 * @param cacheSize the object size of a cache id (the "of size N"), e.g. `core.kmem_cache_size`
 */
export function formatKasanReport(
  r: KasanRecord,
  names: KasanNames,
  task: KasanTask,
  cacheSize: (cache: number) => number,
): { head: string[]; tail: string[] } {
  return kasanReportLines(recordReport(r, names, cacheSize), task);
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
  drain(): readonly KasanRecord[] {
    // The common case, checked on every mempool_free() and slab free: nothing pending, nothing made.
    if (this.core.kasan_report_peek() === 0) return NO_REPORTS;
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
    kasanReport(this.log, recordReport(r, this.names, (c) => this.core.kmem_cache_size(c)));
  }
}
