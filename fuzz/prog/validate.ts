// SPDX-License-Identifier: GPL-2.0-only
/**
 * Static checks of a program: argument types and ranges, and resource
 * references that point back to an earlier call producing the right kind,
 * not yet consumed in program order. Decoding only ever yields valid
 * programs; parsed and minimized ones are checked before encoding.
 *
 * (At run time, tasks interleave, so a resource may still be gone when a call
 * wants it; the executor then skips the call.)
 *
 * @module
 */

import { opSpec } from "./registry.ts";
import { type ArgSpec, type ArgValue, isRef, MAX_TASKS, type Prog } from "./types.ts";

/** A program that breaks the static rules. */
export class ProgError extends RangeError {
  constructor(readonly call: number, message: string) {
    super(call >= 0 ? `call ${call}: ${message}` : message);
    this.name = "ProgError";
  }
}

/** The resources live just before each call, in creation order, by kind (static view). */
export interface LiveTracker {
  /** Producers of `kind` live now, in creation order. */
  live(kind: string): number[];
  /** Applies call `i` (after its arguments were read). */
  apply(i: number): void;
}

/** Tracks static liveness over a program's calls. */
export function liveTracker(prog: Prog): LiveTracker {
  const byKind = new Map<string, number[]>();
  return {
    live: (kind) => byKind.get(kind) ?? [],
    apply(i) {
      const c = prog.calls[i];
      const spec = opSpec(c.op);
      spec.args.forEach((a, j) => {
        const v = c.args[j];
        if (a.kind === "res" && a.consume && isRef(v)) {
          const list = byKind.get(a.res);
          const k = list?.indexOf(v.ref) ?? -1;
          if (k >= 0) list!.splice(k, 1);
        }
      });
      if (spec.produces !== undefined) {
        let list = byKind.get(spec.produces);
        if (list === undefined) byKind.set(spec.produces, (list = []));
        list.push(i);
      }
    },
  };
}

/** Checks one argument value against its spec (not resource liveness). */
export function checkArg(a: ArgSpec, v: ArgValue): string | null {
  switch (a.kind) {
    case "int":
      return typeof v === "number" && Number.isInteger(v) && v >= a.min && v <= a.max ? null : `${a.name} must be an integer in [${a.min}, ${a.max}]`;
    case "enum":
      return typeof v === "string" && a.values.includes(v) ? null : `${a.name} must be one of ${a.values.join(", ")}`;
    case "flag":
      return typeof v === "boolean" ? null : `${a.name} must be a boolean`;
    case "res":
      if (v === null) return a.optional ? null : `${a.name} is required`;
      return isRef(v) && Number.isInteger(v.ref) ? null : `${a.name} must be a resource`;
  }
}

/**
 * Checks the whole program.
 *
 * @param cpus CPUs of the machine, bounding `@cpu`
 * @throws {ProgError} at the first broken rule
 */
export function validateProg(prog: Prog, cpus: number): void {
  if (!Array.isArray(prog.sched) || prog.sched.some((b) => !Number.isInteger(b) || b < 0 || b > 255)) {
    throw new ProgError(-1, "sched must be bytes");
  }
  const tracker = liveTracker(prog);
  prog.calls.forEach((c, i) => {
    const spec = opSpec(c.op);
    if (!Number.isInteger(c.task) || c.task < 0 || c.task >= MAX_TASKS) throw new ProgError(i, `task must be in [0, ${MAX_TASKS})`);
    if (c.cpu !== null && (!Number.isInteger(c.cpu) || c.cpu < 0 || c.cpu >= cpus)) throw new ProgError(i, `cpu must be in [0, ${cpus})`);
    if (c.args.length !== spec.args.length) throw new ProgError(i, `${c.op} takes ${spec.args.length} arguments, got ${c.args.length}`);
    spec.args.forEach((a, j) => {
      const v = c.args[j];
      const bad = checkArg(a, v);
      if (bad !== null) throw new ProgError(i, `${c.op}: ${bad}`);
      if (a.kind === "res" && isRef(v)) {
        if (v.ref < 0 || v.ref >= i || opSpec(prog.calls[v.ref].op).produces !== a.res) {
          throw new ProgError(i, `${c.op}: ${a.name} must refer to an earlier call producing ${a.res}`);
        }
        if (!tracker.live(a.res).includes(v.ref)) throw new ProgError(i, `${c.op}: ${a.name} was already freed`);
      }
    });
    tracker.apply(i);
  });
}
