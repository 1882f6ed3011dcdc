// SPDX-License-Identifier: GPL-2.0-only
import { Buffer } from "node:buffer";
import { createRequire } from "node:module";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Prng } from "../../ts/kernel/_prng.ts";
import { FuzzedData, FuzzedDataWriter, integralWidth } from "./_fdp.ts";

interface JazzerFdp {
  remainingBytes: number;
  consumeIntegralInRange(min: number, max: number): number;
  consumeBoolean(): boolean;
  consumeBytes(n: number): number[];
}

function jazzerFdp(): (new (b: Buffer) => JazzerFdp) | null {
  try {
    const require = createRequire(import.meta.url);
    return require("@jazzer.js/core/dist/FuzzedDataProvider.js").FuzzedDataProvider;
  } catch {
    return null;
  }
}

test("FuzzedData decodes exactly as Jazzer.js's FuzzedDataProvider", () => {
  const Fdp = jazzerFdp();
  if (Fdp === null) return; // @jazzer.js/core not installed: nothing to compare with
  const prng = new Prng(11);
  for (let round = 0; round < 300; round++) {
    const bytes = Uint8Array.from({ length: prng.below(40) }, () => prng.below(256));
    const ours = new FuzzedData(bytes);
    const theirs = new Fdp(Buffer.from(bytes));
    for (let k = 0; k < 30; k++) {
      const what = prng.below(3);
      if (what === 0) {
        const min = prng.below(100) - 50;
        const max = min + [0, 1, 7, 255, 256, 65535, 70000, 2 ** 31][prng.below(8)];
        assert.is(ours.consumeIntegralInRange(min, max), theirs.consumeIntegralInRange(min, max));
      } else if (what === 1) {
        assert.is(ours.consumeBoolean(), theirs.consumeBoolean());
      } else {
        const n = prng.below(5);
        assert.equal(Array.from(ours.consumeBytes(n)), Array.from(theirs.consumeBytes(n)));
      }
      assert.is(ours.remainingBytes, theirs.remainingBytes);
    }
  }
});

test("FuzzedDataWriter builds the input that decodes to the values written", () => {
  const prng = new Prng(5);
  for (let round = 0; round < 200; round++) {
    const w = new FuzzedDataWriter();
    const plan: [string, number, number, number][] = [];
    for (let k = 0; k < 20; k++) {
      const kind = prng.below(3);
      const min = prng.below(10);
      const max = min + [0, 3, 255, 256, 100000][prng.below(5)];
      const v = min + prng.below(max - min + 1);
      if (kind === 0) {
        w.writeIntegralInRange(v, min, max);
        plan.push(["int", v, min, max]);
      } else if (kind === 1) {
        w.writeBoolean(v % 2 === 1);
        plan.push(["bool", v % 2, 0, 0]);
      } else {
        w.writeBytes([v & 255]);
        plan.push(["byte", v & 255, 0, 0]);
      }
    }
    const d = new FuzzedData(w.bytes());
    for (const [kind, v, min, max] of plan) {
      if (kind === "int") assert.is(d.consumeIntegralInRange(min, max), v);
      else if (kind === "bool") assert.is(d.consumeBoolean(), v === 1);
      else assert.equal(Array.from(d.consumeBytes(1)), [v]);
    }
    assert.is(d.remainingBytes, 0);
  }
});

test("an exhausted FuzzedData returns minimums and empty byte strings", () => {
  const d = new FuzzedData(new Uint8Array());
  assert.is(d.consumeIntegralInRange(3, 9), 3);
  assert.is(d.consumeBoolean(), false);
  assert.is(d.consumeBytes(4).length, 0);
  assert.is(integralWidth(255), 1);
  assert.is(integralWidth(256), 2);
});

test("bad ranges and values are RangeErrors", () => {
  const d = new FuzzedData(new Uint8Array([1]));
  assert.throws(() => d.consumeIntegralInRange(5, 1), (e: unknown) => e instanceof RangeError);
  assert.throws(() => d.consumeIntegralInRange(0, 2 ** 49), (e: unknown) => e instanceof RangeError);
  assert.throws(() => new FuzzedDataWriter().writeIntegralInRange(7, 0, 5), (e: unknown) => e instanceof RangeError);
  assert.throws(() => new FuzzedDataWriter().writePick("x", ["a"]), (e: unknown) => e instanceof RangeError);
});

test.run();
