// SPDX-License-Identifier: GPL-2.0-only
/**
 * null_blk's module parameters (drivers/block/null_blk.c, v4.4, plus the
 * later `shared_tags` and `blocking`), parsed as `parse_args()`
 * (kernel/params.c) parses a module's arguments: each value through its
 * parameter's `set` op, unknown names ignored with a warning, a bad value
 * failing the load with "null_blk: `VALUE' invalid for parameter `NAME'".
 *
 * This file only parses. The driver's own treatment of the values (submit
 * queues clamped to the CPUs, block sizes above PAGE_SIZE reset, ...) is in
 * `null_init()` (ts/drivers/null_blk.ts).
 *
 * @module
 */

import { KernelError } from "../errors.ts";
import type { Klog } from "../kernel/klog.ts";
import { NUMA_NO_NODE } from "../block/hctx.ts";
import { kstrtoull, strtobool } from "../sysfs/sysfs.ts";

/** Mirrors `NULL_Q_BIO`, `NULL_Q_RQ`, `NULL_Q_MQ`: `queue_mode` values. */
export const NULL_Q_BIO = 0;
export const NULL_Q_RQ = 1;
export const NULL_Q_MQ = 2;
/** Mirrors `NULL_IRQ_NONE`, `NULL_IRQ_SOFTIRQ`, `NULL_IRQ_TIMER`: `irqmode` values. */
export const NULL_IRQ_NONE = 0;
export const NULL_IRQ_SOFTIRQ = 1;
export const NULL_IRQ_TIMER = 2;

/** The module parameters, by their kernel names, with the kernel's C types in the docs. */
export interface NullBlkParams {
  /** int, 0 bio / 1 rq / 2 mq; default 2. */
  queue_mode: number;
  /** int: hardware (or driver) queues; default 0, which null_init() makes 1. */
  submit_queues: number;
  /** int: the tag set's queue depth; default 64. */
  hw_queue_depth: number;
  /** int: devices nullb0..; default 2. */
  nr_devices: number;
  /** int: logical and physical block size; default 512. */
  bs: number;
  /** int: capacity in GiB; default 250. */
  gb: number;
  /** bool: one hardware queue per NUMA node; default false. */
  use_per_node_hctx: boolean;
  /** int, 0 none / 1 softirq / 2 timer; default 1. */
  irqmode: number;
  /** ulong: the timer mode's completion delay; default 10000. */
  completion_nsec: number;
  /** int: the NUMA node of the tag set and queues; default NUMA_NO_NODE. */
  home_node: number;
  /** bool (v4.12+): every device shares one tag set; default false. */
  shared_tags: boolean;
  /** bool (v4.13+): BLK_MQ_F_BLOCKING, queue_rq may sleep; default false. */
  blocking: boolean;
}

/** The parameters as the module starts (its static initializers). */
export const NULL_BLK_DEFAULTS: Readonly<NullBlkParams> = Object.freeze({
  queue_mode: NULL_Q_MQ,
  submit_queues: 0,
  hw_queue_depth: 64,
  nr_devices: 2,
  bs: 512,
  gb: 250,
  use_per_node_hctx: false,
  irqmode: NULL_IRQ_SOFTIRQ,
  completion_nsec: 10000,
  home_node: NUMA_NO_NODE,
  shared_tags: false,
  blocking: false,
});

const INT_MIN = -(2 ** 31);
const INT_MAX = 2 ** 31 - 1;

/**
 * Mirrors `kstrtoint()` (lib/kstrtox.c): an optional sign, digits in `base`
 * (0: auto-detect 0x / 0), an optional trailing newline, within int range.
 *
 * @throws {KernelError} EINVAL when unparsable, ERANGE when out of int range
 */
export function kstrtoint(s: string, base: number): number {
  const neg = s.startsWith("-");
  if (neg && s[1] === "+") throw new KernelError("EINVAL", "kstrtoint", s); // _kstrtoull() after the sign
  const v = kstrtoull(neg ? s.slice(1) : s, base);
  const n = neg ? -v : v;
  if (n < BigInt(INT_MIN) || n > BigInt(INT_MAX)) throw new KernelError("ERANGE", "kstrtoint", s);
  return Number(n);
}

/** One parameter: its `kernel_param_ops.set`. */
type Setter = (p: NullBlkParams, val: string | null) => void;

/** Mirrors `param_set_int()`: `kstrtoint(val, 0)`. */
function intParam(name: keyof NullBlkParams): Setter {
  return (p, val) => {
    if (val === null) throw new KernelError("EINVAL", "param_set_int");
    (p as unknown as Record<string, number>)[name] = kstrtoint(val, 0);
  };
}

/** Mirrors `param_set_bool()` (v4.4): no value means true; else `strtobool()`. */
function boolParam(name: keyof NullBlkParams): Setter {
  return (p, val) => {
    (p as unknown as Record<string, boolean>)[name] = val === null ? true : strtobool(val);
  };
}

/** Mirrors `null_param_store_val()` (v4.4): `kstrtoint(str, 10)` within [min, max], else -EINVAL. */
function rangeParam(name: "queue_mode" | "irqmode", min: number, max: number): Setter {
  return (p, val) => {
    let v: number;
    try {
      if (val === null) throw new KernelError("EINVAL", "null_param_store_val");
      v = kstrtoint(val, 10);
    } catch (e) {
      if (e instanceof KernelError) throw new KernelError("EINVAL", "null_param_store_val");
      throw e;
    }
    if (v < min || v > max) throw new KernelError("EINVAL", "null_param_store_val");
    p[name] = v;
  };
}

/** Mirrors `param_set_ulong()`: `kstrtoul(val, 0)` (a number here: exact to 2^53). */
const ulongParam: Setter = (p, val) => {
  if (val === null) throw new KernelError("EINVAL", "param_set_ulong");
  p.completion_nsec = Number(kstrtoull(val, 0));
};

/** null_blk's `__param` table, in the order the v4.4 source declares them. */
const PARAMS: ReadonlyMap<string, Setter> = new Map<string, Setter>([
  ["queue_mode", rangeParam("queue_mode", NULL_Q_BIO, NULL_Q_MQ)],
  ["gb", intParam("gb")],
  ["bs", intParam("bs")],
  ["nr_devices", intParam("nr_devices")],
  ["irqmode", rangeParam("irqmode", NULL_IRQ_NONE, NULL_IRQ_TIMER)],
  ["completion_nsec", ulongParam],
  ["hw_queue_depth", intParam("hw_queue_depth")],
  ["use_per_node_hctx", boolParam("use_per_node_hctx")],
  ["submit_queues", intParam("submit_queues")],
  ["home_node", intParam("home_node")],
  ["shared_tags", boolParam("shared_tags")],
  ["blocking", boolParam("blocking")],
]);

/** The names of null_blk's parameters (`/sys/module/null_blk/parameters/`). */
export const NULL_BLK_PARAM_NAMES: readonly string[] = [...PARAMS.keys()];

/**
 * Mirrors `parse_args("null_blk", ...)` (kernel/params.c, v4.4) over the
 * defaults: in the order given, each known parameter's set op (a dash and
 * an underscore are the same in names); an unknown one logs
 * "null_blk: unknown parameter 'NAME' ignored" (`unknown_module_param_cb()`).
 * The empty string stands for a bare name without "=" (no value): true for a
 * bool, -EINVAL for the others.
 *
 * @returns the parameters the module starts with
 * @throws {KernelError} the first failing set op's code (EINVAL, ERANGE),
 *   after logging "null_blk: `VALUE' invalid for parameter `NAME'"
 */
export function parseNullBlkParams(log: Klog, params: Record<string, string>): NullBlkParams {
  if (params === null || typeof params !== "object") throw new TypeError("null_blk: params must be an object");
  const p: NullBlkParams = { ...NULL_BLK_DEFAULTS };
  for (const [rawName, rawVal] of Object.entries(params)) {
    if (typeof rawVal !== "string") throw new TypeError(`null_blk: the value of ${rawName} must be a string`);
    const name = rawName.replaceAll("-", "_");
    const set = PARAMS.get(name);
    if (set === undefined) {
      log.printk("warning", `null_blk: unknown parameter '${rawName}' ignored`);
      continue;
    }
    const val = rawVal === "" ? null : rawVal;
    try {
      set(p, val);
    } catch (e) {
      if (!(e instanceof KernelError)) throw e;
      log.printk("err", `null_blk: \`${val ?? ""}' invalid for parameter \`${rawName}'`);
      throw new KernelError(e.code, "parse_args", `${rawName}=${rawVal}`);
    }
  }
  return p;
}
