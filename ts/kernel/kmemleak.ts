// SPDX-License-Identifier: GPL-2.0-only
/**
 * kmemleak, the TypeScript side: live-object tracking for everything the
 * port models in TypeScript (kobjects, sysfs nodes, queues, tag sets), plus
 * pluggable {@link LeakSource}s such as the WASM slab, so one scan covers
 * both worlds.
 *
 * The port has no pointers to scan, so every live, non-ignored object is a
 * suspect: scan at teardown, when everything should have been freed. As in the
 * kernel, each scan reports only objects it has not reported before.
 *
 * @module
 */

import { kasanReport } from "./kasan.ts";
import { formatPointer, type Klog } from "./klog.ts";

/** One live allocation, as kmemleak prints it. */
export interface LeakRecord {
  /** The object's address: synthetic for TS objects, a linear-memory offset for WASM. */
  addr: bigint | number;
  size: number;
  /** The slab cache or TS type, e.g. "kmalloc-64", "kobject", "request_queue". */
  cache: string;
  /** The allocation site, e.g. "blk_mq_init_queue". */
  site: string;
  comm?: string;
  pid?: number;
  jiffies?: number;
  /** First bytes of the object for the hex dump (WASM objects). */
  head?: Uint8Array;
}

/** A provider of live objects that the scan includes, e.g. the WASM slab allocator. */
export interface LeakSource {
  /** Unique among one kmemleak's sources. */
  name: string;
  live(): Iterable<LeakRecord>;
}

/** Construction options. */
export interface KmemleakOptions {
  /** The jiffies clock (pass the kernel's `Clock.jiffies`); default the log clock in milliseconds, i.e. HZ=1000 from 0 at boot like ts/kernel/clock.ts. */
  jiffies?: () => number;
  /** First synthetic address handed to TS objects; default 0xffff888001000000. */
  base?: bigint;
}

/** kmemleak prints at most 2 rows of 16 bytes (HEX_MAX_LINES × HEX_ROW_SIZE, mm/kmemleak.c). */
const HEX_MAX_BYTES = 32;
const KMALLOC_SIZES = [8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192];

interface Entry {
  readonly rec: LeakRecord;
  readonly seq: number;
  /** kmemleak_not_leak() or cleared: never reported. */
  gray: boolean;
}

interface Suspect {
  readonly key: string;
  readonly rec: LeakRecord;
}

/**
 * Mirrors `print_hex_dump(..., DUMP_PREFIX_NONE, 16, 1, buf, len, true)`
 * (lib/hexdump.c): 16 bytes a row, hex then ASCII from column 49.
 *
 * @example
 * hexDump(new TextEncoder().encode("kobj"), "    ");
 * // ["    6b 6f 62 6a                                      kobj"]
 */
export function hexDump(bytes: Uint8Array, prefix = ""): string[] {
  const rows: string[] = [];
  for (let off = 0; off < bytes.length; off += 16) {
    const row = bytes.subarray(off, off + 16);
    let hex = "";
    let ascii = "";
    for (let i = 0; i < row.length; i++) {
      hex += (i ? " " : "") + row[i].toString(16).padStart(2, "0");
      ascii += row[i] >= 0x20 && row[i] < 0x7f ? String.fromCharCode(row[i]) : ".";
    }
    rows.push(prefix + hex.padEnd(49, " ") + ascii);
  }
  return rows;
}

/** The size an allocation of `size` bytes occupies in the synthetic address space. */
function slotSize(size: number): number {
  for (const s of KMALLOC_SIZES) if (size <= s) return s;
  return Math.ceil(size / 4096) * 4096;
}

/**
 * Live-object tracker and leak reporter of one simulated kernel.
 *
 * @example
 * const log = new Klog();
 * const kml = new Kmemleak(log);
 * const q = {};
 * kml.track(q, { size: 1024, cache: "request_queue", site: "blk_alloc_queue_node" });
 * kml.scan().count; // 1
 * kml.untrack(q);
 * assertNoLeaks(kml);
 */
export class Kmemleak {
  readonly #log: Klog;
  readonly #jiffies: () => number;
  #next: bigint;
  /** Per TS object ever seen: its address, and its record once freed (one WeakMap: they are slow to fill). */
  readonly #meta = new WeakMap<object, { readonly addr: bigint; freed: LeakRecord | null }>();
  #live = new Map<object, Entry>();
  #seq = 0;
  #sources: LeakSource[] = [];
  /** Keys of suspects already reported (pruned to live ones at each scan). */
  #reported = new Set<string>();
  /** Keys of source objects marked not-a-leak by {@link Kmemleak.clear}. */
  #gray = new Set<string>();

  /**
   * @param log where scans and misuse (double free) are reported
   * @throws {TypeError} when `base` is not a bigint
   */
  constructor(log: Klog, opts: KmemleakOptions = {}) {
    this.#log = log;
    this.#jiffies = opts.jiffies ?? (() => Math.floor(log.now() / 1e6));
    const base = opts.base ?? 0xffff888001000000n;
    if (typeof base !== "bigint") throw new TypeError("Kmemleak: base must be a bigint");
    this.#next = base;
  }

  /**
   * The synthetic kernel address of a TS object, assigned on first use and
   * kept for the object's lifetime (an object re-tracked after a free gets
   * the same address, like a struct embedded in longer-lived memory).
   *
   * @param size bytes to reserve when the address is assigned now
   */
  addrOf(obj: object, size = 64): bigint {
    let addr = this.#meta.get(obj)?.addr;
    if (addr === undefined) {
      if (obj === null || (typeof obj !== "object" && typeof obj !== "function")) {
        throw new TypeError("kmemleak: obj must be an object");
      }
      const slot = slotSize(size);
      const align = BigInt(Math.min(slot, 64));
      addr = (this.#next + align - 1n) / align * align;
      this.#next = addr + BigInt(slot);
      this.#meta.set(obj, { addr, freed: null });
    }
    return addr;
  }

  /**
   * Mirrors `kmemleak_alloc()` (mm/kmemleak.c): starts tracking a TS object.
   * Tracking an object twice logs kmemleak's "overlaps existing" warning and
   * returns the first record.
   *
   * @returns the record, with the object's synthetic address and the current task
   * @throws {TypeError} / {RangeError} on a bad object or info
   */
  track(obj: object, info: { size: number; cache: string; site: string }): LeakRecord {
    if (!Number.isSafeInteger(info?.size) || info.size < 0) {
      throw new RangeError(`kmemleak: size ${info?.size} is not a byte count`);
    }
    if (typeof info.cache !== "string" || typeof info.site !== "string") {
      throw new TypeError("kmemleak: cache and site must be strings");
    }
    const addr = this.addrOf(obj, info.size);
    const old = this.#live.get(obj);
    if (old) {
      this.#log.warn(
        "mm/kmemleak.c:create_object",
        `kmemleak: Cannot insert 0x${
          formatPointer(addr)
        } into the object search tree (overlaps existing)`,
      );
      return old.rec;
    }
    const cur = this.#log.current();
    const rec: LeakRecord = {
      addr,
      size: info.size,
      cache: info.cache,
      site: info.site,
      comm: cur.comm,
      pid: cur.pid,
      jiffies: this.#jiffies(),
    };
    this.#live.set(obj, { rec, seq: this.#seq++, gray: false });
    return rec;
  }

  /**
   * Mirrors `kmemleak_free()` (mm/kmemleak.c): the object was freed. Freeing
   * an object twice logs a KASAN double-free report; freeing one never
   * tracked logs kmemleak's "Freeing unknown object" as a WARN.
   *
   * @param where the freeing function, for the report; default "kfree"
   */
  untrack(obj: object, where = "kfree"): void {
    const entry = this.#live.get(obj);
    if (entry) {
      this.#live.delete(obj);
      this.#meta.get(obj)!.freed = entry.rec;
      return;
    }
    const meta = this.#meta.get(obj);
    const freed = meta?.freed;
    if (freed) {
      const addr = freed.addr;
      kasanReport(this.#log, {
        kind: "double-free",
        where,
        addr,
        access: "free",
        object: { addr, cache: freed.cache, size: freed.size },
      });
      return;
    }
    const addr = meta?.addr;
    this.#log.warn(
      "mm/kmemleak.c:delete_object_full",
      `kmemleak: Freeing unknown object at 0x${
        addr === undefined ? "0000000000000000" : formatPointer(addr)
      }`,
    );
  }

  /** Whether a TS object is tracked now. */
  tracked(obj: object): boolean {
    return this.#live.has(obj);
  }

  /**
   * Mirrors `kmemleak_not_leak()` (mm/kmemleak.c): a long-lived object that is
   * never reported nor counted (a kernel-lifetime root, say).
   *
   * @throws {TypeError} when the object is not tracked
   */
  notLeak(obj: object): void {
    const entry = this.#live.get(obj);
    if (!entry) throw new TypeError("kmemleak.notLeak: object is not tracked");
    entry.gray = true;
  }

  /**
   * Adds a provider of live objects, e.g. the WASM slab allocator.
   *
   * @throws {TypeError} when a source of that name is already registered
   */
  addSource(src: LeakSource): void {
    if (typeof src?.name !== "string" || typeof src.live !== "function") {
      throw new TypeError("kmemleak: bad source");
    }
    if (this.#sources.some((s) => s.name === src.name)) {
      throw new TypeError(`kmemleak: source ${src.name} already added`);
    }
    this.#sources = [...this.#sources, src];
  }

  /** Removes a source added with {@link Kmemleak.addSource}; no-op if absent. */
  removeSource(src: LeakSource): void {
    this.#sources = this.#sources.filter((s) => s !== src);
  }

  /** Everything live now: TS objects in allocation order, then each source's, including not-leak ones. */
  live(): LeakRecord[] {
    const out: LeakRecord[] = [];
    for (const e of this.#live.values()) out.push(e.rec);
    for (const src of this.#sources) for (const r of src.live()) out.push(r);
    return out;
  }

  /** Live objects that count as leaks: all but not-leak and cleared ones. */
  count(): number {
    return this.#suspects().length;
  }

  /**
   * Mirrors `kmemleak_scan()` + `kmemleak_seq_show()` (mm/kmemleak.c): logs
   * `kmemleak: N new suspected memory leaks (see /sys/kernel/debug/kmemleak)`
   * when there are new ones, and returns their report.
   *
   * @returns count of new suspects and their report (empty when none)
   */
  scan(): { count: number; report: string } {
    const suspects = this.#suspects();
    const fresh = suspects.filter((s) => !this.#reported.has(s.key));
    this.#reported = new Set(suspects.map((s) => s.key));
    if (fresh.length > 0) {
      this.#log.printk(
        "info",
        `kmemleak: ${fresh.length} new suspected memory leaks (see /sys/kernel/debug/kmemleak)`,
      );
    }
    return { count: fresh.length, report: this.#format(fresh.map((s) => s.rec)) };
  }

  /** Mirrors reading /sys/kernel/debug/kmemleak: every reported suspect still live. */
  read(): string {
    return this.#format(
      this.#suspects().filter((s) => this.#reported.has(s.key)).map((s) => s.rec),
    );
  }

  /**
   * Mirrors `echo clear > /sys/kernel/debug/kmemleak` (`kmemleak_clear()`):
   * every current suspect becomes not-a-leak; later allocations are tracked as usual.
   */
  clear(): void {
    for (const e of this.#live.values()) e.gray = true;
    for (const s of this.#suspects()) this.#gray.add(s.key);
    this.#reported.clear();
  }

  /** Live suspects with their dedup keys; prunes cleared keys of dead source objects. */
  #suspects(): Suspect[] {
    const out: Suspect[] = [];
    for (const e of this.#live.values()) if (!e.gray) out.push({ key: `#${e.seq}`, rec: e.rec });
    if (this.#sources.length === 0) return out;
    const gray = new Set<string>();
    for (const src of this.#sources) {
      for (const rec of src.live()) {
        const key = `${src.name}\0${rec.addr}\0${rec.size}\0${rec.site}\0${rec.cache}\0${
          rec.jiffies ?? ""
        }`;
        if (this.#gray.has(key)) gray.add(key);
        else out.push({ key, rec });
      }
    }
    this.#gray = gray;
    return out;
  }

  /** Mirrors `print_unreferenced()` (mm/kmemleak.c), plus the port's cache/site line. */
  #format(recs: readonly LeakRecord[]): string {
    const lines: string[] = [];
    for (const r of recs) {
      lines.push(`unreferenced object 0x${formatPointer(r.addr)} (size ${r.size}):`);
      if (r.comm !== undefined || r.pid !== undefined || r.jiffies !== undefined) {
        lines.push(`  comm "${r.comm ?? ""}", pid ${r.pid ?? 0}, jiffies ${r.jiffies ?? 0}`);
      }
      lines.push(`  cache "${r.cache}", site "${r.site}"`);
      if (r.head && r.head.length > 0) {
        const len = Math.min(r.size, HEX_MAX_BYTES, r.head.length);
        lines.push(`  hex dump (first ${len} bytes):`);
        lines.push(...hexDump(r.head.subarray(0, len), "    "));
      }
      lines.push("  backtrace:");
      lines.push(`    [<0000000000000000>] ${r.site}`);
    }
    return lines.map((l) => `${l}\n`).join("");
  }
}

/**
 * Test helper: throws when anything is still live, with kmemleak's report of
 * every suspect. Runs a scan first, so the kernel log records the leak too.
 * Every test that builds queues, disks, tag sets or slab caches ends with it.
 *
 * @throws {Error} "kmemleak: N suspected memory leaks" followed by the report
 */
export function assertNoLeaks(kmemleak: Kmemleak): void {
  const n = kmemleak.count();
  if (n === 0) return;
  kmemleak.scan();
  throw new Error(`kmemleak: ${n} suspected memory leak${n === 1 ? "" : "s"}\n${kmemleak.read()}`);
}
