// SPDX-License-Identifier: GPL-2.0-only
/**
 * Fuzzer bytes → program, and back.
 *
 * Layout, in FuzzedDataProvider terms (integers from the end, bytes from the
 * front; see _fdp.ts):
 *
 * ```text
 * n      = integral [0, MAX_SCHED_BYTES]        scheduler choice bytes
 * sched  = bytes(n)                              (front)
 * repeat while bytes remain and calls < maxCalls:
 *   op     = integral [0, ops - 1]               index into the profile
 *   where  = integral [0, MAX_TASKS * (cpus+1) - 1]: task = where % MAX_TASKS,
 *            cpu = floor(where / MAX_TASKS) - 1 (-1: no @cpu)
 *   args, by spec:
 *     int   = integral [0, specials] picks a special value, or (= specials) integral [min, max]
 *     enum  = integral [0, values - 1]
 *     flag  = boolean
 *     res   = integral [0, live - 1] among live resources of the kind (optional: 0 = none)
 *   a call needing a resource when none is live is dropped
 * ```
 *
 * {@link encodeProg} writes the same fields, so `decodeProg(encodeProg(p))`
 * deep-equals `p` for every valid program within the limits.
 *
 * @module
 */

import { FuzzedData, FuzzedDataWriter } from "./_fdp.ts";
import type { Profile } from "./profile.ts";
import { opSpec, type OpSpec } from "./registry.ts";
import { type ArgSpec, type ArgValue, type Call, isRef, MAX_CALLS, MAX_SCHED_BYTES, MAX_TASKS, type Prog } from "./types.ts";
import { liveTracker, ProgError, validateProg } from "./validate.ts";

const opCache = new WeakMap<Profile, OpSpec[]>();

function profileOps(p: Profile): OpSpec[] {
  let ops = opCache.get(p);
  if (ops === undefined) opCache.set(p, (ops = p.ops.map(opSpec)));
  return ops;
}

function decodeInt(d: FuzzedData, a: ArgSpec & { kind: "int" }): number {
  const sp = a.special;
  if (sp !== undefined && sp.length > 0) {
    const sel = d.consumeIntegralInRange(0, sp.length);
    if (sel < sp.length) return sp[sel];
  }
  return d.consumeIntegralInRange(a.min, a.max);
}

function encodeInt(w: FuzzedDataWriter, a: ArgSpec & { kind: "int" }, v: number): void {
  const sp = a.special;
  if (sp !== undefined && sp.length > 0) {
    const i = sp.indexOf(v);
    w.writeIntegralInRange(i >= 0 ? i : sp.length, 0, sp.length);
    if (i >= 0) return;
  }
  w.writeIntegralInRange(v, a.min, a.max);
}

/**
 * Decodes fuzzer bytes into a program of the profile. Never throws on any
 * input; the same bytes always give the same program.
 */
export function decodeProg(data: Uint8Array, profile: Profile): Prog {
  const ops = profileOps(profile);
  const maxCalls = profile.maxCalls ?? MAX_CALLS;
  const whereMax = MAX_TASKS * (profile.cpus + 1) - 1;
  const d = new FuzzedData(data);
  const sched = Array.from(d.consumeBytes(d.consumeIntegralInRange(0, MAX_SCHED_BYTES)));
  const prog: Prog = { sched, calls: [] };
  const tracker = liveTracker(prog);
  while (d.remainingBytes > 0 && prog.calls.length < maxCalls) {
    const op = ops[d.consumeIntegralInRange(0, ops.length - 1)];
    const where = d.consumeIntegralInRange(0, whereMax);
    const args: ArgValue[] = [];
    let ok = true;
    for (const a of op.args) {
      switch (a.kind) {
        case "int":
          args.push(decodeInt(d, a));
          break;
        case "enum":
          args.push(d.pickValue(a.values));
          break;
        case "flag":
          args.push(d.consumeBoolean());
          break;
        case "res": {
          const live = tracker.live(a.res);
          if (a.optional) {
            const i = d.consumeIntegralInRange(0, live.length);
            args.push(i === 0 ? null : { ref: live[i - 1] });
          } else if (live.length === 0) {
            ok = false;
            args.push(null);
          } else {
            args.push({ ref: live[d.consumeIntegralInRange(0, live.length - 1)] });
          }
          break;
        }
      }
    }
    if (!ok) continue;
    const cpu = Math.floor(where / MAX_TASKS) - 1;
    prog.calls.push({ op: op.name, task: where % MAX_TASKS, cpu: cpu < 0 ? null : cpu, args: op.normalize ? op.normalize(args) : args });
    tracker.apply(prog.calls.length - 1);
  }
  return prog;
}

/**
 * Encodes a program as the bytes that decode to it.
 *
 * @throws {ProgError} when the program is invalid, uses an op outside the
 *   profile, or exceeds the decoder's limits (calls, sched bytes)
 */
export function encodeProg(prog: Prog, profile: Profile): Uint8Array {
  validateProg(prog, profile.cpus);
  const maxCalls = profile.maxCalls ?? MAX_CALLS;
  if (prog.calls.length > maxCalls) throw new ProgError(-1, `at most ${maxCalls} calls encode for ${profile.name}`);
  if (prog.sched.length > MAX_SCHED_BYTES) throw new ProgError(-1, `at most ${MAX_SCHED_BYTES} sched bytes encode`);
  const w = new FuzzedDataWriter();
  w.writeIntegralInRange(prog.sched.length, 0, MAX_SCHED_BYTES);
  w.writeBytes(prog.sched);
  const tracker = liveTracker(prog);
  const whereMax = MAX_TASKS * (profile.cpus + 1) - 1;
  prog.calls.forEach((c: Call, i) => {
    const opIndex = profile.ops.indexOf(c.op);
    if (opIndex < 0) throw new ProgError(i, `op ${c.op} is not in profile ${profile.name}`);
    w.writeIntegralInRange(opIndex, 0, profile.ops.length - 1);
    w.writeIntegralInRange(((c.cpu ?? -1) + 1) * MAX_TASKS + c.task, 0, whereMax);
    opSpec(c.op).args.forEach((a, j) => {
      const v = c.args[j];
      switch (a.kind) {
        case "int":
          encodeInt(w, a, v as number);
          break;
        case "enum":
          w.writePick(v as string, a.values);
          break;
        case "flag":
          w.writeBoolean(v as boolean);
          break;
        case "res": {
          const live = tracker.live(a.res);
          if (a.optional) w.writeIntegralInRange(isRef(v) ? live.indexOf(v.ref) + 1 : 0, 0, live.length);
          else w.writeIntegralInRange(live.indexOf((v as { ref: number }).ref), 0, live.length - 1);
          break;
        }
      }
    });
    tracker.apply(i);
  });
  return w.bytes();
}
