// SPDX-License-Identifier: GPL-2.0-only
/**
 * Lists of request records in linear memory (`struct list_head` through the
 * request's `queuelist`, include/linux/list.h): `ctx->rq_list` and
 * `hctx->dispatch`. The list operations are the core's (asm/list.ts through
 * asm/blk_mq_ctx.ts); this file adds the TypeScript-side reads. Private to
 * ts/block/.
 *
 * @module
 */

import type { Kernel } from "../kernel/kernel.ts";

/** Offset of `prev` in a list head and in a request's `queuelist` (`next` is at 0). */
export const LIST_PREV = 4;

/** Mirrors `list_empty()` of the head at `head`. */
export function listEmpty(k: Kernel, head: number): boolean {
  return k.dv.getUint32(head, true) === head;
}

/** The entries of the list at `head`, first to last (a copy). */
export function listEntries(k: Kernel, head: number): number[] {
  const out: number[] = [];
  listAppendTo(k, head, out);
  return out;
}

/** Pushes the entries of the list at `head`, first to last, onto `out` (the list is left as it is). */
export function listAppendTo(k: Kernel, head: number, out: number[]): void {
  const dv = k.dv;
  for (let e = dv.getUint32(head, true); e !== head; e = dv.getUint32(e, true)) out.push(e);
}

/** Mirrors `list_add_tail(rq, head)` (`tail`) or `list_add(rq, head)`. */
export function listAdd(k: Kernel, rq: number, head: number, tail: boolean): void {
  k.core.blk_list_add(rq, head, tail ? 1 : 0);
}

/** Mirrors `list_del_init(rq)`. */
export function listDelInit(k: Kernel, rq: number): void {
  k.core.blk_list_del_init(rq);
}

/** The first entry of `head` taken off, or 0 when the list is empty. */
export function listPop(k: Kernel, head: number): number {
  return k.core.blk_list_pop(head);
}
