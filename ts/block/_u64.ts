// SPDX-License-Identifier: GPL-2.0-only
/**
 * 64-bit record fields (`sector_t`) read and written as two 32-bit halves,
 * so the hot path makes no BigInt. Exact for values below 2^53, which every
 * sector the port addresses is (capacities are checked against that).
 *
 * @module
 */

const TWO_32 = 0x1_0000_0000;

/** The little-endian u64 at `at`, as a number. */
export function getU64(dv: DataView, at: number): number {
  return dv.getUint32(at, true) + dv.getUint32(at + 4, true) * TWO_32;
}

/** The little-endian i64 at `at`, as a number (exact within ±2^53). */
export function getI64(dv: DataView, at: number): number {
  return dv.getUint32(at, true) + dv.getInt32(at + 4, true) * TWO_32;
}

/** Stores `v` (an integer in [0, 2^53)) as a little-endian u64 at `at`. */
export function setU64(dv: DataView, at: number, v: number): void {
  dv.setUint32(at, v >>> 0, true);
  dv.setUint32(at + 4, Math.floor(v / TWO_32), true);
}

/** `counter++` of the u64 at `at` (below 2^53), without a BigInt. */
export function incU64(dv: DataView, at: number): void {
  const lo = dv.getUint32(at, true) + 1;
  if (lo <= 0xffff_ffff) dv.setUint32(at, lo, true);
  else setU64(dv, at, getU64(dv, at) + 1);
}
