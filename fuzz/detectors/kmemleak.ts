// SPDX-License-Identifier: GPL-2.0-only
/**
 * kmemleak: objects still live after the program's teardown released
 * everything it held (WASM slab objects and tracked TypeScript objects alike).
 *
 * Title: `memory leak in <allocation site> (<cache>)`, from the oldest leak.
 *
 * @module
 */

import type { Detector } from "./finding.ts";

export const kmemleakDetector: Detector = {
  name: "kmemleak",
  detect(r) {
    const first = r.leaks[0];
    if (first === undefined) return null;
    const lines = r.leaks.slice(0, 20).map((l) => `unreferenced object 0x${l.addr.toString(16)} (size ${l.size}): cache "${l.cache}", site "${l.site}"\n`);
    return {
      detector: "kmemleak",
      title: `memory leak in ${first.site} (${first.cache})`,
      report: `${r.leaks.length} object(s) live after teardown:\n${lines.join("")}`,
    };
  },
};
