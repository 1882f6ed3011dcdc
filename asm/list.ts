// SPDX-License-Identifier: GPL-2.0-only
// Doubly linked lists in linear memory: mirrors include/linux/list.h (the
// circular `struct list_head` with next at offset 0 and prev at offset 4).
// A head points to itself when empty. Requests are linked through their
// `queuelist` (offset 0 of the request record), so an entry's address is its
// node's address. Nothing here allocates or checks: callers own the memory.

/** Offset of `next` in a `struct list_head`. */
export const LIST_NEXT: usize = 0;
/** Offset of `prev`. */
export const LIST_PREV: usize = 4;

/** Mirrors `INIT_LIST_HEAD()`. */
@inline
export function list_init(h: usize): void {
  store<u32>(h, <u32>h, LIST_NEXT);
  store<u32>(h, <u32>h, LIST_PREV);
}

/** Mirrors `list_empty()`. */
@inline
export function list_empty(h: usize): bool {
  return <usize>load<u32>(h, LIST_NEXT) == h;
}

/** Mirrors `__list_add()`: `e` between `prev` and `next`. */
@inline
function __list_add(e: usize, prev: usize, next: usize): void {
  store<u32>(next, <u32>e, LIST_PREV);
  store<u32>(e, <u32>next, LIST_NEXT);
  store<u32>(e, <u32>prev, LIST_PREV);
  store<u32>(prev, <u32>e, LIST_NEXT);
}

/** Mirrors `list_add()`: `e` right after the head. */
@inline
export function list_add(e: usize, h: usize): void {
  __list_add(e, h, <usize>load<u32>(h, LIST_NEXT));
}

/** Mirrors `list_add_tail()`: `e` right before the head. */
@inline
export function list_add_tail(e: usize, h: usize): void {
  __list_add(e, <usize>load<u32>(h, LIST_PREV), h);
}

/** Mirrors `list_del_init()`: `e` unlinked and pointing to itself. */
@inline
export function list_del_init(e: usize): void {
  const next = <usize>load<u32>(e, LIST_NEXT);
  const prev = <usize>load<u32>(e, LIST_PREV);
  store<u32>(next, <u32>prev, LIST_PREV);
  store<u32>(prev, <u32>next, LIST_NEXT);
  list_init(e);
}

/** Mirrors `__list_splice()`: the entries of the non-empty `list` between `prev` and `next`. */
@inline
function __list_splice(list: usize, prev: usize, next: usize): void {
  const first = <usize>load<u32>(list, LIST_NEXT);
  const last = <usize>load<u32>(list, LIST_PREV);
  store<u32>(first, <u32>prev, LIST_PREV);
  store<u32>(prev, <u32>first, LIST_NEXT);
  store<u32>(last, <u32>next, LIST_NEXT);
  store<u32>(next, <u32>last, LIST_PREV);
}

/** Mirrors `list_splice_init()`: `list`'s entries at the head of `h`, `list` left empty. */
@inline
export function list_splice_init(list: usize, h: usize): void {
  if (list_empty(list)) return;
  __list_splice(list, h, <usize>load<u32>(h, LIST_NEXT));
  list_init(list);
}

/** Mirrors `list_splice_tail_init()`: `list`'s entries at the tail of `h`, `list` left empty. */
@inline
export function list_splice_tail_init(list: usize, h: usize): void {
  if (list_empty(list)) return;
  __list_splice(list, <usize>load<u32>(h, LIST_PREV), h);
  list_init(list);
}
