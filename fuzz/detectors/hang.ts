// SPDX-License-Identifier: GPL-2.0-only
/**
 * A hang: after the program's resources were released, tasks still blocked
 * with nothing left to wake them; a task blocked past hung_task_timeout_secs
 * while others ran (the virtual-time watchdog); or the scheduler's step
 * limit (a livelock).
 *
 * Titles: `INFO: task hung in <wait point>` (e.g. `blk_mq_get_tag`,
 * `mutex_lock (cpu_hotplug.lock)`), `INFO: livelock: scheduler step limit reached`.
 *
 * @module
 */

import { type Detector, excerpt, findRecord } from "./finding.ts";

/** "mutex_lock(&q->sysfs_lock)" → "mutex_lock (&q->sysfs_lock)"; digits in task names go. */
function waitTitle(waitPoint: string): string {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)\((.*)\)$/.exec(waitPoint);
  return m ? `${m[1]} (${m[2]})` : waitPoint;
}

export const hangDetector: Detector = {
  name: "hang",
  detect(r) {
    const h = r.hang;
    if (h === null) return null;
    if (h.reason === "steps") {
      return { detector: "hang", title: "INFO: livelock: scheduler step limit reached", report: "the run did not finish within the scheduler's step limit\n" };
    }
    const first = [...h.tasks].sort((a, b) => a.pid - b.pid)[0];
    const title = `INFO: task hung in ${first === undefined ? "unknown" : waitTitle(first.waitPoint)}`;
    const i = findRecord(r.records, /^INFO: task .* blocked for more than/);
    const tasks = h.tasks.map((t) => `${t.comm}:${t.pid} on CPU ${t.cpu} in ${t.waitPoint}, holding [${t.locksHeld.join(", ")}]\n`).join("");
    return { detector: "hang", title, report: `${h.reason}:\n${tasks}${i >= 0 ? excerpt(r.records, i, 40) : ""}` };
  },
};
