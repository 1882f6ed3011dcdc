// SPDX-License-Identifier: GPL-2.0-only
/**
 * The text form of programs: the kernel-shell language plus a few
 * program-only lines.
 *
 * ```text
 * # comment
 * sched 03 a1 ff                         scheduler choice bytes (hex)
 * set0 = tags_init(depth=8, reserved=1, ctxs=2, era=v4.4, policy=fifo)
 * r0 = tags_get(set0, ctx=1, nowait)      name(args): resources positional,
 *                                         ints/enums key=value, flags bare
 * @task 1 @cpu 2 tags_put(r0, ctx=0)      where the call runs
 * advance 10ms                            ops with their own syntax
 * echo 4 > /sys/block/nullb0/queue/nr_requests    (shell ops: a shell line)
 * ```
 *
 * Line grammar: `[@task N] [@cpu N] [NAME = ] BODY`. Resource names are a
 * kind's prefix and a number; the canonical text numbers each prefix from 0
 * in order of creation. {@link formatProg} writes canonical text, and
 * `formatProg(parseProg(t)) === t` for canonical `t`.
 *
 * @module
 */

import { findOp, opSpec, resourceSpec, syntaxOps } from "./registry.ts";
import { type ArgValue, type Call, isRef, type Prog } from "./types.ts";

/** A line that does not parse. */
export class ProgParseError extends RangeError {
  constructor(readonly line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = "ProgParseError";
  }
}

/** Canonical names of the resources a program produces, by call index. */
export function resourceNames(prog: Prog): Map<number, string> {
  const counts = new Map<string, number>();
  const names = new Map<number, string>();
  prog.calls.forEach((c, i) => {
    const kind = opSpec(c.op).produces;
    if (kind === undefined) return;
    const prefix = resourceSpec(kind).prefix;
    const n = counts.get(prefix) ?? 0;
    counts.set(prefix, n + 1);
    names.set(i, `${prefix}${n}`);
  });
  return names;
}

function hex(b: number): string {
  return b.toString(16).padStart(2, "0");
}

/** One call's body text (no prefixes, no assignment). */
export function formatBody(c: Call, names: Map<number, string>): string {
  const spec = opSpec(c.op);
  if (spec.syntax) return spec.syntax.format(c.args);
  const parts: string[] = [];
  spec.args.forEach((a, j) => {
    const v = c.args[j];
    if (a.kind === "res") {
      if (isRef(v)) parts.push(names.get(v.ref) ?? `?${v.ref}`);
    } else if (a.kind === "flag") {
      if (v === true) parts.push(a.name);
    } else parts.push(`${a.name}=${String(v)}`);
  });
  return `${c.op}(${parts.join(", ")})`;
}

/** One call as a full line. */
export function formatCall(c: Call, i: number, names: Map<number, string>): string {
  let s = "";
  if (c.task !== 0) s += `@task ${c.task} `;
  if (c.cpu !== null) s += `@cpu ${c.cpu} `;
  const name = names.get(i);
  if (name !== undefined) s += `${name} = `;
  return s + formatBody(c, names);
}

/** The canonical text of a program, one line per call, ending in a newline. */
export function formatProg(prog: Prog): string {
  const names = resourceNames(prog);
  const lines: string[] = [];
  if (prog.sched.length > 0) lines.push(`sched ${prog.sched.map(hex).join(" ")}`);
  prog.calls.forEach((c, i) => lines.push(formatCall(c, i, names)));
  return lines.map((l) => `${l}\n`).join("");
}

const PREFIX = /^@(task|cpu)\s+(\d+)\s+/;
const ASSIGN = /^([a-z]+\d+)\s*=\s*(.*)$/;
const CALL = /^([a-z_][a-z0-9_]*)\((.*)\)$/;
const SCHED = /^sched((?:\s+[0-9a-fA-F]{2})*)$/;
const RESNAME = /^([a-z]+?)(\d+)$/;

function parseArgs(lineNo: number, c: Call, body: string, byName: Map<string, number>, prog: Prog): void {
  const spec = opSpec(c.op);
  const tokens = body.trim() === "" ? [] : body.split(",").map((t) => t.trim());
  const args: (ArgValue | undefined)[] = spec.args.map(() => undefined);
  for (const tok of tokens) {
    const eq = tok.indexOf("=");
    if (eq > 0) {
      const key = tok.slice(0, eq).trim();
      const val = tok.slice(eq + 1).trim();
      const j = spec.args.findIndex((a) => a.name === key && (a.kind === "int" || a.kind === "enum"));
      if (j < 0) throw new ProgParseError(lineNo, `${c.op} has no argument ${key}`);
      const a = spec.args[j];
      if (a.kind === "int") {
        if (!/^-?\d+$/.test(val)) throw new ProgParseError(lineNo, `${key} needs an integer, got ${val}`);
        args[j] = Number(val);
      } else args[j] = val;
      continue;
    }
    const flag = spec.args.findIndex((a) => a.kind === "flag" && a.name === tok);
    if (flag >= 0) {
      args[flag] = true;
      continue;
    }
    const ref = byName.get(tok);
    if (ref === undefined) {
      if (RESNAME.test(tok)) throw new ProgParseError(lineNo, `unknown resource ${tok}`);
      throw new ProgParseError(lineNo, `${c.op}: cannot read argument "${tok}"`);
    }
    const kind = opSpec(prog.calls[ref].op).produces;
    const j = spec.args.findIndex((a, k) => a.kind === "res" && a.res === kind && args[k] === undefined);
    if (j < 0) throw new ProgParseError(lineNo, `${c.op} takes no (more) ${kind} resources, got ${tok}`);
    args[j] = { ref };
  }
  c.args = spec.args.map((a, j) => {
    const v = args[j];
    if (v !== undefined) return v;
    if (a.kind === "flag") return false;
    if (a.kind === "res") {
      if (a.optional) return null;
      throw new ProgParseError(lineNo, `${c.op} needs a ${a.res} resource (${a.name})`);
    }
    if (a.kind === "int") return a.special?.[0] ?? a.min;
    return a.values[0];
  });
}

/**
 * Parses program text. Missing ints and enums take their first special value
 * (or minimum) and first member; missing flags are false.
 *
 * @throws {ProgParseError} naming the line
 */
export function parseProg(text: string): Prog {
  const prog: Prog = { sched: [], calls: [] };
  const byName = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, idx) => {
    const lineNo = idx + 1;
    let line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const sched = SCHED.exec(line);
    if (sched) {
      for (const h of sched[1].trim().split(/\s+/)) if (h !== "") prog.sched.push(parseInt(h, 16));
      return;
    }
    let task = 0;
    let cpu: number | null = null;
    for (let m; (m = PREFIX.exec(line));) {
      if (m[1] === "task") task = Number(m[2]);
      else cpu = Number(m[2]);
      line = line.slice(m[0].length);
    }
    let assign: string | null = null;
    const am = ASSIGN.exec(line);
    if (am && !line.startsWith("echo ")) {
      assign = am[1];
      line = am[2].trim();
    }
    const call: Call = { op: "", task, cpu, args: [] };
    const cm = CALL.exec(line);
    const spec = cm ? findOp(cm[1]) : undefined;
    if (cm && spec && !spec.syntax) {
      call.op = spec.name;
      parseArgs(lineNo, call, cm[2], byName, prog);
    } else {
      let found = false;
      for (const op of syntaxOps()) {
        const args = op.syntax!.parse(line);
        if (args !== null) {
          call.op = op.name;
          call.args = args;
          found = true;
          break;
        }
      }
      if (!found) throw new ProgParseError(lineNo, cm ? `unknown op ${cm[1]}` : `cannot parse "${line}"`);
    }
    const produces = opSpec(call.op).produces;
    if (assign !== null) {
      if (produces === undefined) throw new ProgParseError(lineNo, `${call.op} produces no resource to name ${assign}`);
      const prefix = resourceSpec(produces).prefix;
      const m = RESNAME.exec(assign);
      if (!m || m[1] !== prefix) throw new ProgParseError(lineNo, `a ${produces} resource is named ${prefix}<N>, not ${assign}`);
      byName.set(assign, prog.calls.length);
    }
    prog.calls.push(call);
  });
  return prog;
}
