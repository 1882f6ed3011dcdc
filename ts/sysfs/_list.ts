// SPDX-License-Identifier: GPL-2.0-only
/**
 * `sysfs_list_show()` (block/blk-mq-sysfs.c): the `pending` (hctx) and
 * `rq_list` (ctx) attributes, one `"\t%p\n"` line per queued request, in the
 * PAGE_SIZE-bounded form of v4.2.8+/v4.3+ and the unbounded v4.1.5 form whose
 * overflow 596f5aad2a fixed. Private to ts/sysfs/; sysfs.ts re-exports.
 *
 * @module
 */

import { PAGE_SIZE } from "../kernel/slab.ts";
import { formatKernelPointer } from "./_format.ts";
import type { SysfsPage } from "./_page.ts";

/** `2 * sizeof(void *) + 2`: tab, 16 hex digits, newline. */
const RQ_LEN = 18;
const ELLIPSIS = "\t...\n";

function checkArgs(op: string, page: SysfsPage, header: string, ptrs: readonly number[]): void {
  if (typeof header !== "string") throw new TypeError(`${op}: header must be a string`);
  if (!Array.isArray(ptrs)) throw new TypeError(`${op}: ptrs must be an array of addresses`);
  if (page.len !== 0) throw new RangeError(`${op}: the page must be empty (len ${page.len})`);
}

/**
 * Mirrors `sysfs_list_show()` after the fix (v4.2.8, v4.3+): the header
 * bounded by PAGE_SIZE - 1, then per entry: if `len + 18 > 4095`, back up one
 * entry when even `"\t...\n"` would not fit (`len + 5 > 4095`), append
 * `"\t...\n"` and stop; otherwise append `"\t%p\n"`. Never returns more
 * than 4095.
 *
 * With the 14-byte {@link HCTX_PENDING_HEADER}, 226 entries fit (4082 bytes)
 * and a 227th gives `"\t...\n"` (4087); with the 13-byte ctx header, 226
 * entries and 4086. The back-up branch needs a header of 5..9 bytes modulo 18.
 *
 * @param header the whole header, e.g. "HCTX pending:\n" (the kernel's "%s:\n")
 * @param ptrs request addresses in list order
 * @returns the count the show handler returns (page.len)
 * @throws {RangeError} when the page is not empty; {@link KasanBug} never (bounded)
 * @example
 * sysfsListShow(page, "HCTX pending:\n", [0x41a00]); // 32: "HCTX pending:\n\t0000000000041a00\n"
 */
export function sysfsListShow(page: SysfsPage, header: string, ptrs: readonly number[]): number {
  checkArgs("sysfs_list_show", page, header, ptrs);
  page.snprintf(header, PAGE_SIZE - 1);
  for (const p of ptrs) {
    const line = `\t${formatKernelPointer(p)}\n`;
    if (PAGE_SIZE - 1 < page.len + RQ_LEN) {
      if (PAGE_SIZE - 1 < page.len + ELLIPSIS.length) page.truncate(page.len - RQ_LEN);
      page.snprintf(ELLIPSIS, PAGE_SIZE - 1 - page.len);
      break;
    }
    page.snprintf(line, PAGE_SIZE - 1 - page.len);
  }
  return page.len;
}

/**
 * Mirrors `sysfs_list_show()` of v4.1.5, before 596f5aad2a: the header and
 * every `"\t%p\n"` line with unbounded `sprintf`. Past 226 entries it writes
 * beyond the page: a KASAN report and {@link KasanBug} in debug/coverage
 * builds; in release the writes are clipped to the page's own guard page and
 * the returned count (> 4095) is what sysfs then reports as a bad count.
 * For the bug zoo.
 *
 * @returns the count the show handler returns, possibly > 4095
 * @throws {KasanBug} in debug/coverage builds when the text runs past the page
 */
export function sysfsListShowUnfixed(page: SysfsPage, header: string, ptrs: readonly number[]): number {
  checkArgs("sysfs_list_show", page, header, ptrs);
  page.sprintf(header);
  for (const p of ptrs) page.sprintf(`\t${formatKernelPointer(p)}\n`);
  return page.len;
}
