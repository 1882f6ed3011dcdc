// SPDX-License-Identifier: GPL-2.0-only
/**
 * The program model: a fuzz input is a {@link Prog}, a list of calls over the
 * public surface, spread over a few tasks, plus the scheduler's choice bytes
 * that decide how those tasks interleave. syzkaller's prog/ is the model:
 * calls have typed arguments, and a call may produce a *resource* (a tag, a
 * slab object, a tag map) that later calls take as an argument.
 *
 * A Prog is plain data (numbers, booleans, strings, `{ ref }` objects), so it
 * compares with deep equality and serializes to JSON.
 *
 * @module
 */

/** Most tasks a program spreads its calls over. */
export const MAX_TASKS = 3;
/** Most calls a decoded program has. */
export const MAX_CALLS = 32;
/** Most scheduler choice bytes a decoded program carries. */
export const MAX_SCHED_BYTES = 64;

/** A reference to the resource produced by call number `ref` of the same program. */
export interface ResRef {
  readonly ref: number;
}

/** One argument value: an integer, a flag, an enum member, a resource or an absent optional resource. */
export type ArgValue = number | boolean | string | ResRef | null;

/** One call. */
export interface Call {
  /** Registered op name, e.g. "tags_get". */
  op: string;
  /** The task that runs it, 0 .. MAX_TASKS - 1 (`@task N`). */
  task: number;
  /** The CPU the task runs the call on (`@cpu N`), or null for wherever it is. */
  cpu: number | null;
  /** Arguments, in the order of the op's {@link ArgSpec}s. */
  args: ArgValue[];
}

/** A program. */
export interface Prog {
  /** Scheduler choice bytes (`sched 03 a1 ff`), consumed before any seeded continuation. */
  sched: number[];
  calls: Call[];
}

/** What kind of object a resource is; the name prefix it prints with comes from its spec. */
export type ResourceKind = string;

/** A resource argument. */
export interface ResArgSpec {
  readonly kind: "res";
  readonly name: string;
  readonly res: ResourceKind;
  /** The call frees it (on success). */
  readonly consume?: boolean;
  /** May be absent (`null`). */
  readonly optional?: boolean;
}

/** An integer argument in [min, max], printed `name=value`. */
export interface IntArgSpec {
  readonly kind: "int";
  readonly name: string;
  readonly min: number;
  readonly max: number;
  /** Values decoding prefers (boundaries, powers of two); each must lie in [min, max]. */
  readonly special?: readonly number[];
}

/** One of a few words, printed `name=value`. */
export interface EnumArgSpec {
  readonly kind: "enum";
  readonly name: string;
  readonly values: readonly string[];
}

/** A boolean printed as its bare name when true. */
export interface FlagArgSpec {
  readonly kind: "flag";
  readonly name: string;
}

export type ArgSpec = ResArgSpec | IntArgSpec | EnumArgSpec | FlagArgSpec;

/** Whether `v` is a resource reference. */
export function isRef(v: ArgValue): v is ResRef {
  return typeof v === "object" && v !== null;
}

/** A deep copy (programs are plain data). */
export function cloneProg(p: Prog): Prog {
  return {
    sched: [...p.sched],
    calls: p.calls.map((c) => ({ op: c.op, task: c.task, cpu: c.cpu, args: c.args.map((a) => (isRef(a) ? { ref: a.ref } : a)) })),
  };
}
