// SPDX-License-Identifier: GPL-2.0-only
/**
 * Virtual time: `advance 10ms` sleeps the calling task that long, so timers
 * fire and other tasks run meanwhile. Durations are bounded (1 s) so a
 * program cannot outwait the hung-task watchdog by itself.
 *
 * @module
 */

import { sleep } from "../../../ts/kernel/sched.ts";
import { registerArea, registerOp } from "../registry.ts";

const UNITS: readonly [string, number][] = [["s", 1e9], ["ms", 1e6], ["us", 1e3], ["ns", 1]];
const MAX_NS = 1e9;

/** "10ms" for 10_000_000: the largest unit that divides exactly. */
export function formatDuration(ns: number): string {
  for (const [u, n] of UNITS) if (ns !== 0 && ns % n === 0) return `${ns / n}${u}`;
  return `${ns}ns`;
}

/** The ns of "10ms", "1500us", "3ns", "1s"; null when malformed. */
export function parseDuration(s: string): number | null {
  const m = /^(\d+)(s|ms|us|ns)$/.exec(s);
  if (!m) return null;
  const ns = Number(m[1]) * UNITS.find(([u]) => u === m[2])![1];
  return Number.isSafeInteger(ns) ? ns : null;
}

registerArea({ name: "time" });

registerOp({
  name: "advance",
  area: "time",
  doc: "sleep the task for a virtual duration (at most 1 s): timers fire, others run",
  args: [{ kind: "int", name: "ns", min: 0, max: MAX_NS, special: [0, 1000, 1e6, 4e6, 10e6, 100e6, 1e9] }],
  syntax: {
    format: ([ns]) => `advance ${formatDuration(ns as number)}`,
    parse(body) {
      const m = /^advance\s+(\S+)$/.exec(body);
      if (!m) return null;
      const ns = parseDuration(m[1]);
      return ns === null || ns > MAX_NS ? null : [ns];
    },
  },
  *exec(_x, [ns]) {
    yield sleep(ns as number);
  },
});
