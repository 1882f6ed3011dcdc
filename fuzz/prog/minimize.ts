// SPDX-License-Identifier: GPL-2.0-only
/**
 * Program minimization, syzkaller-style: keep a change whenever the
 * predicate (usually "the same finding: same detector, same title") still
 * holds.
 *
 * Passes, repeated until nothing changes:
 * 1. scheduler bytes: drop them all, then halve, then zero each;
 * 2. calls, last first: drop a call together with every call that uses the
 *    resource it produces;
 * 3. placement: move each call to task 0, then drop its `@cpu`;
 * 4. arguments: optional resources to none, flags off, enums to their first
 *    value, integers to their first special value or minimum, then halved.
 *
 * @module
 */

import { opSpec } from "./registry.ts";
import { type ArgValue, cloneProg, isRef, type Prog } from "./types.ts";
import { validateProg } from "./validate.ts";

/** Options of {@link minimizeProg}. */
export interface MinimizeOptions {
  /** CPUs of the machine, for validation. */
  cpus: number;
  /** Most predicate runs; default 2000. */
  maxRuns?: number;
  /** Wall-clock milliseconds to spend at most (a run that hangs can take a second); default none. */
  timeMs?: number;
}

/** Statistics of a minimization. */
export interface MinimizeResult {
  prog: Prog;
  /** Predicate runs spent. */
  runs: number;
}

/** Removes call `i` and, transitively, every call using a resource it produced. */
export function removeCall(prog: Prog, i: number): Prog {
  const drop = new Set([i]);
  for (let j = i + 1; j < prog.calls.length; j++) {
    const spec = opSpec(prog.calls[j].op);
    const uses = prog.calls[j].args.some((a, k) => {
      const arg = spec.args[k];
      return isRef(a) && drop.has(a.ref) && !(arg.kind === "res" && arg.optional === true);
    });
    if (uses) drop.add(j);
  }
  const remap = new Map<number, number>();
  let n = 0;
  prog.calls.forEach((_, j) => {
    if (!drop.has(j)) remap.set(j, n++);
  });
  const calls = prog.calls
    .filter((_, j) => !drop.has(j))
    .map((c) => ({
      ...c,
      args: c.args.map((a): ArgValue => {
        if (!isRef(a)) return a;
        const r = remap.get(a.ref);
        return r === undefined ? null : { ref: r };
      }),
    }));
  return { sched: [...prog.sched], calls };
}

/** Candidate simpler values for one argument, simplest first. */
function simpler(prog: Prog, ci: number, ai: number): ArgValue[] {
  const a = opSpec(prog.calls[ci].op).args[ai];
  const v = prog.calls[ci].args[ai];
  switch (a.kind) {
    case "res":
      return a.optional && v !== null ? [null] : [];
    case "flag":
      return v === true ? [false] : [];
    case "enum":
      return v !== a.values[0] ? [a.values[0]] : [];
    case "int": {
      const n = v as number;
      const out: number[] = [];
      const first = a.special?.[0] ?? a.min;
      if (n !== first) out.push(first);
      if (n !== a.min && first !== a.min) out.push(a.min);
      const half = Math.floor((n + a.min) / 2);
      if (half !== n && half !== a.min && half !== first) out.push(half);
      return out;
    }
  }
}

/**
 * Shrinks `prog` while `pred` keeps holding. The predicate must hold for
 * `prog` itself (it is not re-checked).
 */
export function minimizeProg(prog: Prog, pred: (p: Prog) => boolean, o: MinimizeOptions): MinimizeResult {
  const maxRuns = o.maxRuns ?? 2000;
  const until = o.timeMs === undefined ? Infinity : performance.now() + o.timeMs;
  let runs = 0;
  let best = cloneProg(prog);
  const attempt = (p: Prog): boolean => {
    if (runs >= maxRuns || performance.now() > until) return false;
    try {
      validateProg(p, o.cpus);
    } catch {
      return false;
    }
    runs++;
    if (!pred(p)) return false;
    best = p;
    return true;
  };
  for (let changed = true; changed && runs < maxRuns && performance.now() <= until;) {
    changed = false;
    // 1. scheduler bytes
    if (best.sched.length > 0) {
      if (attempt({ ...cloneProg(best), sched: [] })) changed = true;
      while (best.sched.length > 1 && attempt({ ...cloneProg(best), sched: best.sched.slice(0, best.sched.length >> 1) })) changed = true;
      for (let i = 0; i < best.sched.length; i++) {
        if (best.sched[i] === 0) continue;
        const s = [...best.sched];
        s[i] = 0;
        if (attempt({ ...cloneProg(best), sched: s })) changed = true;
      }
    }
    // 2. calls, last first
    for (let i = best.calls.length - 1; i >= 0; i--) {
      if (i < best.calls.length && attempt(removeCall(best, i))) changed = true;
    }
    // 3. placement
    for (let i = 0; i < best.calls.length; i++) {
      if (best.calls[i].task !== 0) {
        const p = cloneProg(best);
        p.calls[i].task = 0;
        if (attempt(p)) changed = true;
      }
      if (best.calls[i].cpu !== null) {
        const p = cloneProg(best);
        p.calls[i].cpu = null;
        if (attempt(p)) changed = true;
      }
    }
    // 4. arguments
    for (let i = 0; i < best.calls.length; i++) {
      for (let j = 0; j < best.calls[i].args.length; j++) {
        for (const v of simpler(best, i, j)) {
          const p = cloneProg(best);
          p.calls[i].args[j] = v;
          if (attempt(p)) {
            changed = true;
            break;
          }
        }
      }
    }
  }
  return { prog: best, runs };
}
