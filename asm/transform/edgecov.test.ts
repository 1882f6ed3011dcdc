// SPDX-License-Identifier: GPL-2.0-only
/**
 * Tests for the edge-coverage transform (edgecov.mjs). A small AssemblyScript
 * program is compiled in memory with asc's JS API and the transform's path,
 * the way build.ts builds the coverage variant, then run: the counters that
 * light up must tell its branches apart.
 *
 * @module
 */

import { test } from "uvu";
import * as assert from "uvu/assert";
import asc from "assemblyscript/asc";
import { fileURLToPath } from "node:url";

const TRANSFORM = fileURLToPath(new URL("./edgecov.mjs", import.meta.url));

/** Branches, a switch (br_table into nested blocks), a loop, and a call into ~lib. */
const SOURCE = `
export function classify(x: i32): i32 {
  if (x > 10) return 2;
  if (x < 0) return 1;
  return 0;
}

export function pick(x: i32): i32 {
  let r = 0;
  switch (x) {
    case 0: r = 10; break;
    case 1: r = 20; break;
    default: r = 30;
  }
  return r;
}

export function sum(n: i32): i32 {
  let s = 0;
  for (let i = 0; i < n; i++) s += i;
  return s;
}

export function digits(x: i32): i32 {
  return x.toString().length;
}
`;

interface Exports {
  classify(x: number): number;
  pick(x: number): number;
  sum(n: number): number;
  digits(x: number): number;
  memory: WebAssembly.Memory;
  __edge_cov_count: WebAssembly.Global;
}

/** Flags of the build's coverage variant that matter here. */
const COVERAGE_OPTIONS = {
  optimizeLevel: 3,
  runtime: "stub",
  noAssert: true,
  memoryBase: 65536,
  transform: TRANSFORM,
};

interface Compiled {
  error: Error | null;
  stderr: string;
  binary: Uint8Array | null;
}

/** Compiles `source` in memory with the transform. */
async function compile(source: string, options: Record<string, unknown>): Promise<Compiled> {
  const result = await asc.compileString({ "cov.ts": source }, options);
  return { error: result.error, stderr: result.stderr.toString(), binary: result.binary };
}

/** A fresh instance of the program; the stub runtime's only import is abort. */
async function instantiate(binary: Uint8Array): Promise<Exports> {
  const imports = {
    env: {
      abort() {
        throw new Error("abort called");
      },
    },
  };
  const { instance } = await WebAssembly.instantiate(binary as Uint8Array<ArrayBuffer>, imports);
  return instance.exports as unknown as Exports;
}

/** The program compiled once (-O3, like the coverage variant) and shared by the tests. */
let compiled: Promise<Uint8Array> | undefined;

function coverageBinary(): Promise<Uint8Array> {
  compiled ??= compile(SOURCE, COVERAGE_OPTIONS).then((r) => {
    if (r.error || !r.binary) throw new Error(`asc failed:\n${r.stderr}`);
    return r.binary;
  });
  return compiled;
}

async function program(): Promise<Exports> {
  return await instantiate(await coverageBinary());
}

function counterCount(e: Exports): number {
  return e.__edge_cov_count.value as number;
}

/** The live counters: bytes [0, N) of linear memory. */
function counters(e: Exports): Uint8Array {
  return new Uint8Array(e.memory.buffer, 0, counterCount(e));
}

/** Zeroes the counters, runs `body`, and lists the counters it lit. */
function lit(e: Exports, body: () => void): number[] {
  counters(e).fill(0);
  body();
  const indices: number[] = [];
  counters(e).forEach((value, index) => {
    if (value !== 0) indices.push(index);
  });
  return indices;
}

test("the module exports a positive __edge_cov_count as an immutable i32 global", async () => {
  const e = await program();
  assert.ok(e.__edge_cov_count instanceof WebAssembly.Global);
  assert.ok(counterCount(e) > 0);
  assert.throws(() => {
    e.__edge_cov_count.value = 1;
  });
});

test("taking the other arm of an if lights a different counter", async () => {
  const e = await program();
  const big = lit(e, () => e.classify(50));
  const negative = lit(e, () => e.classify(-5));
  const zero = lit(e, () => e.classify(0));
  assert.not.equal(big, negative);
  assert.not.equal(negative, zero);
  assert.not.equal(big, zero);
});

test("each switch case lights a join counter of its own", async () => {
  const e = await program();
  const first = lit(e, () => e.pick(0));
  const second = lit(e, () => e.pick(1));
  const fallback = lit(e, () => e.pick(7));
  assert.not.equal(first, second);
  assert.not.equal(second, fallback);
  assert.not.equal(first, fallback);
});

test("a loop that iterates lights counters that an empty loop leaves dark", async () => {
  const e = await program();
  const empty = lit(e, () => e.sum(0));
  const five = lit(e, () => e.sum(5));
  assert.ok(five.some((i) => !empty.includes(i)), `sum(5) ${five} vs sum(0) ${empty}`);
  assert.ok(counters(e).some((value) => value > 1), "the loop header counts every iteration");
});

test("the same input lights the same counters every time", async () => {
  const e = await program();
  assert.equal(lit(e, () => e.pick(1)), lit(e, () => e.pick(1)));
});

test("a counter taken 256 times reads 1 rather than wrapping to 0", async () => {
  const e = await program();
  const once = lit(e, () => e.classify(50));
  const many = lit(e, () => {
    for (let i = 0; i < 256; ++i) e.classify(50);
  });
  assert.equal(many, once);
  for (const i of many) assert.is(counters(e)[i], 1);
});

test("code in ~lib is not instrumented, so a call into itoa lights only the caller's entry", async () => {
  const e = await program();
  const hits = lit(e, () => e.digits(-1234567));
  assert.is(hits.length, 1, `digits() lit ${hits}`);
  assert.is(counters(e)[hits[0]], 1, "the entry counter is bumped once per call");
});

test("the build fails with a clear message when --memoryBase leaves no room for the counters", async () => {
  const r = await compile("export function f(x: i32): i32 { return x > 0 ? 1 : 2; }", {
    ...COVERAGE_OPTIONS,
    optimizeLevel: 0,
    memoryBase: 2,
  });
  assert.ok(r.error);
  assert.match(r.stderr, "edgecov:");
  assert.match(r.stderr, "--memoryBase 65536");
});

test.run();
