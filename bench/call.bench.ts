// SPDX-License-Identifier: GPL-2.0-only
/**
 * Bench `call`: the cost of one JS → WASM call, the unit every design choice
 * on the I/O path counts ("cross into WASM a small, fixed number of times per
 * I/O"). It times `smoke_check` on a 4-byte input through the release core
 * against the same check written in JS, measured in the same run.
 *
 * @module
 */

import { instantiateCore } from "../ts/wasm/core.ts";
import { nsPerIter, round2 } from "./_timing.ts";

/** One result line. */
export interface CallBenchResult {
  bench: "call";
  wasm_call_ns: number;
  js_call_ns: number;
  ratio: number;
}

function jsCheck(mem: Uint8Array, p: number, len: number): number {
  if (len < 4) return 0;
  return mem[p] === 0x46 && mem[p + 1] === 0x55 && mem[p + 2] === 0x5a && mem[p + 3] === 0x5a ? 1 : 0;
}

export function run(): CallBenchResult[] {
  const core = instantiateCore("release");
  const p = core.hostbuf_ptr();
  const mem = new Uint8Array(core.memory.buffer);
  mem.set([0x46, 0x55, 0x5a, 0x5a], p);
  const iters = 2_000_000;
  const wasm = nsPerIter((n) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += core.smoke_check(p, 4 + (i & 1));
    return s;
  }, iters);
  const js = nsPerIter((n) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += jsCheck(mem, p, 4 + (i & 1));
    return s;
  }, iters);
  return [{ bench: "call", wasm_call_ns: round2(wasm), js_call_ns: round2(js), ratio: round2(wasm / js) }];
}
