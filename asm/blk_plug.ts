// SPDX-License-Identifier: GPL-2.0-only
// The records of `struct blk_plug` (include/linux/blkdev.h, v4.4): the
// `mq_list` head a task's plugged requests hang on, through their
// `queuelist`. In the kernel the plug lives on the stack of the function
// that plugs (`blk_start_plug(&plug)`) and cannot fail; the port's tasks
// have no stack in linear memory, so the records come from a static table
// of BLK_PLUG_MAX, one per task holding a plug, handed out and taken back
// by ts/block/blk_plug.ts. Nothing here allocates from the slab: starting a
// plug can neither fail under fault injection nor leak.

import { list_empty, list_init } from "./list";

/** Tasks that may hold a plug at once (a port limit; the kernel's plugs are on task stacks). */
export const BLK_PLUG_MAX: i32 = 1024;
/** `sizeof(struct blk_plug)` in the port: the `mq_list` head. */
const BLK_PLUG_SIZE: usize = 8;

const PLUGS: usize = memory.data(<i32>(BLK_PLUG_SIZE * <usize>BLK_PLUG_MAX), 8);
/** The free records' indexes, a stack, and how many are on it (-1 before the first use). */
const FREE: usize = memory.data(BLK_PLUG_MAX * 2, 2);
let nr_free: i32 = -1;
/** Per record: 1 while a plug holds it. */
const HELD: usize = memory.data(BLK_PLUG_MAX, 1);

/**
 * A plug record for `blk_start_plug()`: `mq_list` empty.
 *
 * @returns its address, or 0 when all BLK_PLUG_MAX are held
 */
export function blk_plug_alloc(): usize {
  if (nr_free < 0) {
    for (let i = 0; i < BLK_PLUG_MAX; i++) store<u16>(FREE + (<usize>i << 1), <u16>(BLK_PLUG_MAX - 1 - i));
    nr_free = BLK_PLUG_MAX;
  }
  if (nr_free == 0) return 0;
  nr_free--;
  const idx = <usize>load<u16>(FREE + (<usize>nr_free << 1));
  store<u8>(HELD + idx, 1);
  const plug = PLUGS + BLK_PLUG_SIZE * idx;
  list_init(plug);
  return plug;
}

/**
 * Gives back a record of {@link blk_plug_alloc} once its plug was finished.
 *
 * @returns 0; -22 for an address that is no plug record, or a record
 *          already free; -16 (EBUSY) while requests hang on its `mq_list`
 */
export function blk_plug_free(plug: usize): i32 {
  const off = plug - PLUGS;
  if (plug < PLUGS || off >= BLK_PLUG_SIZE * <usize>BLK_PLUG_MAX || off % BLK_PLUG_SIZE != 0) return -22;
  const idx = off / BLK_PLUG_SIZE;
  if (load<u8>(HELD + idx) == 0) return -22;
  if (!list_empty(plug)) return -16;
  store<u8>(HELD + idx, 0);
  store<u16>(FREE + (<usize>nr_free << 1), <u16>idx);
  nr_free++;
  return 0;
}
