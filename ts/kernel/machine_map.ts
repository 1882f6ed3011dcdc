// SPDX-License-Identifier: GPL-2.0-only
/**
 * Per-machine state of a module that lives outside the Kernel class (a
 * driver's device list, the bio layer, the promise bridge, the DIO table):
 * the API of a `WeakMap<Kernel, V>`, but the value is stored on the machine
 * itself, in the slot ({@link Kernel.slots}) this map was given when it was
 * made. A WeakMap keyed by machines is an ephemeron table that only a full
 * GC clears, so every short-lived machine (one per fuzz run) kept its state
 * alive through the minor GCs; a slot dies with its machine, and reading it
 * is an array index, cheap enough for the I/O hot path.
 *
 * @module
 */

import type { Kernel } from "./kernel.ts";

/** Slots handed out so far, one per MachineMap of the process. */
let nextSlot = 0;

/** A `WeakMap<Kernel, V>` whose entries live on the machines. `V` excludes undefined (an empty slot). */
export class MachineMap<V> {
  /** What the state is, for debugging. */
  readonly name: string;
  readonly #slot = nextSlot++;

  constructor(name: string) {
    this.name = name;
  }

  get(k: Kernel): V | undefined {
    return k.slots[this.#slot] as V | undefined;
  }

  set(k: Kernel, v: V): this {
    k.slots[this.#slot] = v;
    return this;
  }

  has(k: Kernel): boolean {
    return k.slots[this.#slot] !== undefined;
  }

  delete(k: Kernel): boolean {
    const had = this.has(k);
    k.slots[this.#slot] = undefined;
    return had;
  }
}
