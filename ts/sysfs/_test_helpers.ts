// SPDX-License-Identifier: GPL-2.0-only
/**
 * Test helpers for ts/sysfs/: running sysfs generators, matching errors by
 * code, and the end-of-test cleanliness check. Private to ts/sysfs/ tests.
 *
 * @module
 */

import { KernelError } from "../errors.ts";
import type { Kernel } from "../kernel/kernel.ts";
import type { Sleepable } from "../kernel/sched.ts";

/**
 * Runs a generator that must not sleep, outside any task (as from the
 * idle task): fails when it yields.
 */
export function drive<T>(gen: Generator<unknown, T>): T {
  const r = gen.next();
  if (!r.done) {
    gen.return(undefined as T);
    throw new Error("drive: the generator tried to sleep; run it in a task");
  }
  return r.value;
}

/** Runs `body` as the only task "sh" until the machine is idle; returns its value or throws its error. */
export function inTask<T>(k: Kernel, body: () => Generator<unknown, T>): T {
  let out: { ok: true; v: T } | { ok: false; e: unknown } | undefined;
  k.sched.spawn("sh", function* () {
    try {
      out = { ok: true, v: yield* body() as Sleepable<T> };
    } catch (e) {
      out = { ok: false, e };
    }
  });
  const r = k.run();
  if (r.kind !== "done") throw new Error(`inTask: the run ended "${r.kind}"`);
  if (out === undefined) throw new Error("inTask: the task did not finish");
  if (!out.ok) throw out.e;
  return out.v;
}

/** The `code` of the KernelError fn throws ("ok" when it returns); other errors propagate. */
export function code(fn: () => unknown): string {
  try {
    fn();
    return "ok";
  } catch (e) {
    if (e instanceof KernelError) return e.code as string;
    throw e;
  }
}

/** The end of every test: a clean log, no live objects, and every page sysfs took is back. */
export function assertAllClean(k: Kernel): void {
  k.assertClean();
  k.slab.shrink();
  if (k.slab.nrPagesUsed !== 0) throw new Error(`${k.slab.nrPagesUsed} pages still allocated`);
}
