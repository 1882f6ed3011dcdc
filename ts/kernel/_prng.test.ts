// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ByteChoices, choiceWidth, Prng, PrngChoices, RecordingChoices } from "./_prng.ts";

const seq = (p: Prng, n: number) => Array.from({ length: n }, () => p.next());

test("Prng gives the same stream for the same seed and a different one for another seed", () => {
  assert.equal(seq(new Prng(42), 16), seq(new Prng(42), 16));
  assert.not.equal(seq(new Prng(42), 16), seq(new Prng(43), 16));
  assert.not.equal(seq(new Prng(1), 16), seq(new Prng(1 + 2 ** 32), 16)); // the high half counts
});

test("Prng outputs are unsigned 32-bit integers and the seed 0 works", () => {
  for (const x of seq(new Prng(0), 1000)) assert.ok(Number.isInteger(x) && x >= 0 && x < 2 ** 32);
});

test("Prng.below(n) stays in [0, n) and hits every value for small n", () => {
  const p = new Prng(7);
  for (const n of [1, 2, 3, 7, 8, 100, 2 ** 31, 2 ** 31 + 1, 2 ** 32]) {
    for (let i = 0; i < 200; i++) {
      const v = p.below(n);
      assert.ok(Number.isInteger(v) && v >= 0 && v < n, `below(${n}) gave ${v}`);
    }
  }
  const seen = new Set<number>();
  for (let i = 0; i < 500; i++) seen.add(p.below(6));
  assert.is(seen.size, 6);
});

test("Prng rejects a seed that is not a safe integer and below() a bad n", () => {
  assert.throws(() => new Prng(1.5), (e: unknown) => e instanceof RangeError);
  assert.throws(() => new Prng(2 ** 60), (e: unknown) => e instanceof RangeError);
  assert.throws(() => new Prng(1).below(0), (e: unknown) => e instanceof RangeError);
  assert.throws(() => new Prng(1).below(2.5), (e: unknown) => e instanceof RangeError);
});

test("PrngChoices.choose(1) returns 0 without consuming the stream", () => {
  const a = new PrngChoices(9);
  const b = new PrngChoices(9);
  assert.is(a.choose(1), 0);
  assert.is(a.choose(1000), b.choose(1000));
});

test("choiceWidth() takes 1 byte up to 256 choices, 2 up to 65536, else 4", () => {
  assert.equal([2, 256, 257, 65536, 65537].map(choiceWidth), [1, 1, 2, 2, 4]);
});

test("ByteChoices consumes 1, 2 or 4 bytes per choice and degrades to 0", () => {
  const c = new ByteChoices(new Uint8Array([5, 0x34, 0x12, 1, 2, 3, 4, 9]));
  assert.is(c.choose(3), 5 % 3);
  assert.is(c.consumed, 1);
  assert.is(c.choose(1), 0);
  assert.is(c.consumed, 1);
  assert.is(c.choose(1000), 0x1234 % 1000);
  assert.is(c.consumed, 3);
  assert.is(c.choose(100000), 0x04030201 % 100000);
  assert.is(c.consumed, 7);
  assert.is(c.choose(300), 0); // one byte left, two needed
  assert.ok(c.exhausted);
  assert.is(c.choose(2), 0);
});

test("RecordingChoices records a run that ByteChoices replays exactly", () => {
  const rec = new RecordingChoices(new PrngChoices(1234));
  const ns = [2, 3, 1, 256, 257, 1000, 65536, 65537, 2 ** 32, 5, 1, 17];
  const first = Array.from({ length: 300 }, (_, i) => rec.choose(ns[i % ns.length]));
  assert.is(rec.count, 300 - 50);
  const replay = new ByteChoices(rec.bytes());
  const second = Array.from({ length: 300 }, (_, i) => replay.choose(ns[i % ns.length]));
  assert.equal(second, first);
  assert.ok(replay.exhausted);
});

test("ByteChoices rejects anything but a Uint8Array", () => {
  assert.throws(() => new ByteChoices([1, 2] as unknown as Uint8Array), (e: unknown) => e instanceof TypeError);
});

test.run();
