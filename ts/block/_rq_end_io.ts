// SPDX-License-Identifier: GPL-2.0-only
/**
 * `rq->end_io` for request records: the record keeps a small integer in
 * `RQ.END_IO` (0: none), this table maps it to the function. Ids are handed
 * out once per function at module load, so they are the same for every
 * machine. Private to ts/block/.
 *
 * @module
 */

import type { Kernel } from "../kernel/kernel.ts";

/** Mirrors `rq_end_io_fn` (include/linux/blkdev.h, v4.4): `(rq, error)`. */
export type RqEndIo = (k: Kernel, rq: number, error: number) => void;

/** Index 0 is "no end_io". */
const TABLE: (RqEndIo | null)[] = [null];

/** Registers `fn` and returns its id for `RQ.END_IO`; the same function gets the same id. */
export function registerRqEndIo(fn: RqEndIo): number {
  const i = TABLE.indexOf(fn);
  if (i > 0) return i;
  TABLE.push(fn);
  return TABLE.length - 1;
}

/** The function of an `RQ.END_IO` id, or null for 0 or an unknown id. */
export function rqEndIoFn(id: number): RqEndIo | null {
  return TABLE[id] ?? null;
}
