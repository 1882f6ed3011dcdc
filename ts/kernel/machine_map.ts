// SPDX-License-Identifier: GPL-2.0-only
/**
 * Per-machine state of a module that lives outside the Kernel class (a
 * driver's device list, the promise bridge, the DIO table): the API of a
 * `WeakMap<Kernel, V>`, but the value is stored on the machine itself
 * ({@link Kernel.slots}). A WeakMap keyed by machines is an ephemeron table
 * that only a full GC clears, so every short-lived machine (one per fuzz run)
 * kept its state alive through the minor GCs; a field dies with its machine.
 *
 * @module
 */

import type { Kernel } from "./kernel.ts";

/** A `WeakMap<Kernel, V>` whose entries live on the machines. */
export class MachineMap<V> {
  /** What the state is, for debugging. */
  readonly name: string;

  constructor(name: string) {
    this.name = name;
  }

  get(k: Kernel): V | undefined {
    return k.slots.get(this) as V | undefined;
  }

  set(k: Kernel, v: V): this {
    k.slots.set(this, v);
    return this;
  }

  has(k: Kernel): boolean {
    return k.slots.has(this);
  }

  delete(k: Kernel): boolean {
    return k.slots.delete(this);
  }
}
