// SPDX-License-Identifier: GPL-2.0-only
/**
 * The op registry. Each subsystem's ops live in one small file under
 * fuzz/prog/ops/ and register here at import: their typed arguments, the
 * resource they produce, their text syntax and how they run. Decoding,
 * printing, parsing, execution and minimization all work from these specs,
 * so adding an op is one entry in one file.
 *
 * @module
 */

import type { Kernel } from "../../ts/kernel/kernel.ts";
import type { Sleepable, Task } from "../../ts/kernel/sched.ts";
import type { ArgSpec, ArgValue, ResourceKind } from "./types.ts";

/** A broken invariant, reported as a finding titled `invariant: <title>`. */
export interface Violation {
  readonly title: string;
  readonly report: string;
}

/** What a running op sees: the machine, its task and the run's shared state. */
export interface ExecCtx {
  readonly kernel: Kernel;
  /** The task running the call (the teardown task during teardown). */
  readonly task: Task;
  /** The program task number, or -1 for teardown. */
  readonly taskNo: number;
  /** Per-area state of this run, created by {@link Area.boot}. */
  state<T>(area: string): T;
  /** Whether a named regression (fuzz/regressions.ts) is switched on for this run. */
  regression(name: string): boolean;
  /** Reports a broken invariant; the run continues and the finding is kept. */
  violate(v: Violation): void;
  /** Records the output of a sysfs show (for the PAGE_SIZE detector). */
  sysfsShow(path: string, bytes: number): void;
}

/** Text syntax for an op that does not print as `name(args)`: shell lines, `advance 10ms`. */
export interface OpSyntax {
  /** The body of the line (without `@task`/`@cpu` prefixes). */
  format(args: readonly ArgValue[]): string;
  /** The arguments of a body this op owns, or null when it is not this op's. */
  parse(body: string): ArgValue[] | null;
}

/** One operation of the program language. */
export interface OpSpec {
  /** Name in text and in profiles, e.g. "tags_get". */
  readonly name: string;
  /** The area (subsystem) it belongs to, e.g. "tags". */
  readonly area: string;
  /** One line for docs. */
  readonly doc: string;
  readonly args: readonly ArgSpec[];
  /** The kind of resource a successful call produces. */
  readonly produces?: ResourceKind;
  /** Custom syntax; default `name(args)`. Ops with custom syntax take no resources. */
  readonly syntax?: OpSyntax;
  /**
   * Canonical arguments: zeroes values the text form cannot show (a path
   * placeholder a template lacks), so decoded programs print and parse back
   * unchanged. Decoding applies it.
   */
  normalize?(args: ArgValue[]): ArgValue[];
  /**
   * Runs the call as part of a task. Resource arguments arrive as their live
   * values (absent optionals as null). The return value becomes the produced
   * resource. Throwing KernelError, RangeError or TypeError is an API refusal,
   * not a finding.
   */
  exec(x: ExecCtx, args: unknown[]): Sleepable<unknown>;
}

/** A kind of resource. */
export interface ResourceSpec {
  readonly kind: ResourceKind;
  /** Name prefix in text: `set` gives set0, set1, ... */
  readonly prefix: string;
  /**
   * A container (tag map, slab cache, hctx): released only by the final
   * teardown, after every program task has ended. Other resources are also
   * released early when every program task is stuck, since a task may be
   * waiting for one of them (a tag another task holds).
   */
  readonly final?: boolean;
  /**
   * Frees a live resource at teardown, from the teardown task (in reverse
   * order of creation). A typed error here is ignored.
   */
  release(x: ExecCtx, value: unknown): Sleepable<void>;
}

/** A subsystem's hooks around a run. */
export interface Area {
  readonly name: string;
  /** Per-run state, before any task starts (may register notifiers). */
  boot?(kernel: Kernel, regression: (name: string) => boolean): unknown;
  /** End of every program task, in that task: release what only the owner may (held mutexes). */
  taskExit?(x: ExecCtx): Sleepable<void>;
  /** After every resource is released, in the teardown task (rmmod, re-enable hotplug). */
  teardown?(x: ExecCtx): Sleepable<void>;
  /**
   * Invariants that must hold after every call (`full` false: cheap checks)
   * and once all program tasks have ended, before teardown (`full` true).
   */
  invariants?(x: ExecCtx, full: boolean): Violation | null;
}

const ops = new Map<string, OpSpec>();
const resources = new Map<ResourceKind, ResourceSpec>();
const areas = new Map<string, Area>();

function checkName(what: string, name: string): void {
  if (!/^[a-z][a-z0-9_]*$/.test(name)) throw new TypeError(`${what} name must be lower_snake_case, got "${name}"`);
}

/** @throws {TypeError} on a duplicate or malformed op */
export function registerOp(spec: OpSpec): OpSpec {
  checkName("op", spec.name);
  if (ops.has(spec.name)) throw new TypeError(`op ${spec.name} registered twice`);
  for (const a of spec.args) {
    if (a.kind === "int" && (a.special ?? []).some((v) => v < a.min || v > a.max)) {
      throw new TypeError(`op ${spec.name}: special value of ${a.name} outside [${a.min}, ${a.max}]`);
    }
    if (a.kind === "res" && spec.syntax) throw new TypeError(`op ${spec.name}: custom syntax cannot take resources`);
  }
  ops.set(spec.name, spec);
  return spec;
}

/** @throws {TypeError} on a duplicate kind or prefix */
export function registerResource(spec: ResourceSpec): ResourceSpec {
  checkName("resource prefix", spec.prefix);
  if (resources.has(spec.kind)) throw new TypeError(`resource ${spec.kind} registered twice`);
  for (const r of resources.values()) {
    if (r.prefix === spec.prefix) throw new TypeError(`resource prefix ${spec.prefix} used by ${r.kind} already`);
  }
  resources.set(spec.kind, spec);
  return spec;
}

/** @throws {TypeError} on a duplicate area */
export function registerArea(area: Area): Area {
  if (areas.has(area.name)) throw new TypeError(`area ${area.name} registered twice`);
  areas.set(area.name, area);
  return area;
}

/** @throws {RangeError} for an unknown op */
export function opSpec(name: string): OpSpec {
  const s = ops.get(name);
  if (s === undefined) throw new RangeError(`unknown op "${name}"`);
  return s;
}

/** The op, or undefined. */
export function findOp(name: string): OpSpec | undefined {
  return ops.get(name);
}

/** @throws {RangeError} for an unknown resource kind */
export function resourceSpec(kind: ResourceKind): ResourceSpec {
  const s = resources.get(kind);
  if (s === undefined) throw new RangeError(`unknown resource kind "${kind}"`);
  return s;
}

/** Every resource spec. */
export function allResources(): ResourceSpec[] {
  return [...resources.values()];
}

/** Every registered op, in registration order. */
export function allOps(): OpSpec[] {
  return [...ops.values()];
}

/** The area, or undefined. */
export function findArea(name: string): Area | undefined {
  return areas.get(name);
}

/** The ops with a custom syntax, for the parser. */
export function syntaxOps(): OpSpec[] {
  return allOps().filter((o) => o.syntax !== undefined);
}
