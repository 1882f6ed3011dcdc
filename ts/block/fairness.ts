// SPDX-License-Identifier: GPL-2.0-only
/**
 * Fair sharing of a tag set between the hardware queues that use it: the
 * per-queue limit of `hctx_may_queue()`.
 *
 * @module
 */

/** Mirrors `BLK_MQ_MAX_DEPTH` (include/linux/blk-mq.h, v4.4): the deepest tag map. */
const BLK_MQ_MAX_DEPTH = 10240;

/** Largest `atomic_t` value: the bound of `tags->active_queues`. */
const INT_MAX = 0x7fffffff;

/** Floor of the fair share: "Allow at least some tags". */
const MIN_SHARE = 4;

/**
 * The caller's state that decides whether `hctx_may_queue()` limits at all.
 * Each defaults to the limited case.
 */
export interface HctxMayQueueOptions {
  /** The hctx has `BLK_MQ_F_TAG_SHARED` (its tag set serves more than one queue). Default true. */
  shared?: boolean;
  /** The hctx is marked `BLK_MQ_S_TAG_ACTIVE` (counted in `active_queues`). Default true. */
  active?: boolean;
  /** A reserved-tag allocation, for which v4.4 passes a NULL hctx. Default false. */
  reserved?: boolean;
}

/**
 * The most requests one hctx may have in flight on a shared tag map.
 * Mirrors the limit of `hctx_may_queue()` (block/blk-mq-tag.c, v4.4).
 *
 * Returns `max(ceil(depth / activeUsers), 4)`, computed as the kernel does
 * (`max((depth + users - 1) / users, 4U)`); allocation is allowed while the
 * hctx's `nr_active` is below it. The limit can exceed `depth` (depth 2 gives
 * 4), so the effective ceiling is `min(limit, depth)`.
 *
 * Returns `null` where v4.4 returns "allowed" before any arithmetic:
 * - `depth === 1` ("Don't try dividing an ant");
 * - `activeUsers === 0`;
 * - the hctx is NULL, which happens for reserved tags: `options.reserved`;
 * - the hctx is not tag-shared: `options.shared === false`;
 * - the hctx is not marked active: `options.active === false`.
 * The last three are the caller's state, not numbers, so they arrive through
 * `options`; by default the hctx is shared, active and allocating a normal tag.
 *
 * @param depth the bitmap depth of the normal tags (after any `nr_requests`
 *   change), an integer in [0, 10240] (`BLK_MQ_MAX_DEPTH`)
 * @param activeUsers `tags->active_queues`, an integer in [0, 2^31 - 1]
 * @param options the hctx's state; see {@link HctxMayQueueOptions}
 * @returns the limit, or `null` when the check is bypassed
 * @throws {TypeError} when an argument or option has the wrong type, or
 *   `options` is not an object
 * @throws {RangeError} when `depth` or `activeUsers` is not an integer in range
 * @example
 * hctxMayQueueLimit(64, 3); // 22
 * hctxMayQueueLimit(8, 16); // 4
 * hctxMayQueueLimit(64, 0); // null
 * hctxMayQueueLimit(64, 2, { shared: false }); // null
 */
export function hctxMayQueueLimit(
  depth: number,
  activeUsers: number,
  options: HctxMayQueueOptions = {},
): number | null {
  checkInt("depth", depth, 0, BLK_MQ_MAX_DEPTH);
  checkInt("activeUsers", activeUsers, 0, INT_MAX);
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new TypeError(`hctxMayQueueLimit: options must be an object, got ${describe(options)}`);
  }
  const shared = checkBool("shared", options.shared, true);
  const active = checkBool("active", options.active, true);
  const reserved = checkBool("reserved", options.reserved, false);

  if (reserved || !shared) return null;
  if (!active) return null;
  if (depth === 1) return null;
  if (activeUsers === 0) return null;
  return Math.max(Math.floor((depth + activeUsers - 1) / activeUsers), MIN_SHARE);
}

function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? "an object" : typeof v === "function" ? "a function" : String(v);
}

function checkInt(name: string, v: unknown, min: number, max: number): void {
  if (typeof v !== "number") {
    throw new TypeError(`hctxMayQueueLimit: ${name} must be a number, got ${describe(v)}`);
  }
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(
      `hctxMayQueueLimit: ${name} must be an integer in [${min}, ${max}], got ${v}`,
    );
  }
}

function checkBool(name: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== "boolean") {
    throw new TypeError(`hctxMayQueueLimit: options.${name} must be a boolean, got ${describe(v)}`);
  }
  return v;
}
