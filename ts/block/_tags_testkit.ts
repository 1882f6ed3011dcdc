// SPDX-License-Identifier: GPL-2.0-only
/**
 * Test helpers shared by tags.test.ts and sbitmap.test.ts: a bump allocator
 * over `memory.grow` that counts live allocations, and a testbed of tag maps
 * on one core whose `done()` puts nothing back silently. Private to tests.
 *
 * @module
 */

import * as assert from "uvu/assert";
import { type CoreExports, type CoreVariant, instantiateCore } from "../wasm/core.ts";
import { BlkMqTags, type BlkMqTagsOptions, type TagEra, type TagMemory, type TagWaiter } from "./tags.ts";

/** A bump allocator over memory.grow that counts live allocations. */
export function testMemory(core: CoreExports): TagMemory & { readonly live: number } {
  let top = 0;
  let end = 0;
  const live = new Set<number>();
  return {
    alloc(bytes: number): number {
      if (top + bytes > end) {
        const pages = Math.ceil(bytes / 65536) + 4;
        top = core.memory.grow(pages) * 65536;
        end = top + pages * 65536;
      }
      const p = top;
      top = (top + bytes + 63) & ~63;
      live.add(p);
      return p;
    },
    free(ptr: number): void {
      if (!live.delete(ptr)) throw new Error(`free of unknown pointer ${ptr}`);
    },
    get live() {
      return live.size;
    },
  };
}

/**
 * A core of `variant` (default debug), its memory, and a map factory whose
 * maps default to `era` (default the maps' own, v4.4); `done()` checks every
 * tag was put back, destroys the maps and checks for leaks.
 */
export function tagsTestbed(o: { variant?: CoreVariant; era?: TagEra } = {}) {
  const core = instantiateCore(o.variant ?? "debug");
  const memory = testMemory(core);
  const maps: BlkMqTags[] = [];
  const woken: TagWaiter[] = [];
  const era = o.era === undefined ? {} : { era: o.era };
  return {
    core,
    memory,
    woken,
    make(opts: Partial<BlkMqTagsOptions> & { depth: number }): BlkMqTags {
      const t = new BlkMqTags({ core, memory, ...era, onWake: (w) => woken.push(w), ...opts });
      maps.push(t);
      return t;
    },
    done(): void {
      for (const t of maps) {
        assert.is(t.bitmap().used, 0, "every normal tag was put back");
        if (t.nrReserved > 0) assert.is(t.bitmap(true).used, 0, "every reserved tag was put back");
        t.destroy();
      }
      assert.is(memory.live, 0, "no live allocations");
    },
  };
}

/** Gets `n` normal tags on `ctx`. */
export function getMany(t: BlkMqTags, n: number, ctx = 0): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(t.getTag(ctx));
  return out;
}
