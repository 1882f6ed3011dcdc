// SPDX-License-Identifier: GPL-2.0-only
// One end_io for the shell's I/O programs (fio, dd): it dispatches each bio to the callback its submitter set. Private to ts/shell/.

import type { Kernel } from "../kernel/kernel.ts";
import { registerBioEndIo } from "../block/bio.ts";
import { MachineMap } from "../kernel/machine_map.ts";

const HANDLERS = new MachineMap<Map<number, (bio: number, k: Kernel) => void>>("shell bio waiters");

/** The shared end_io: calls the bio's callback once, then forgets it. */
function shellEndIo(bio: number, k: Kernel): void {
  const m = HANDLERS.get(k);
  const h = m?.get(bio);
  if (h === undefined) return k.log.bug("shell:end_io", `bio ${bio} has no end_io callback`);
  m!.delete(bio);
  h(bio, k);
}

/**
 * Registers the shared end_io (again: bioExit() drops the table) and
 * returns its id; `onEnd` runs when `bio` ends.
 */
export function shellBioEndIo(k: Kernel, bio: number, onEnd: (bio: number, k: Kernel) => void): number {
  let m = HANDLERS.get(k);
  if (m === undefined) HANDLERS.set(k, m = new Map());
  m.set(bio, onEnd);
  return registerBioEndIo(k, "shell_end_io", shellEndIo);
}

/** Forgets `bio`'s callback (a submission the queue refused). */
export function shellBioForget(k: Kernel, bio: number): void {
  HANDLERS.get(k)?.delete(bio);
}
