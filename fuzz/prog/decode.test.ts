// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Prng } from "../../ts/kernel/_prng.ts";
import { TARGETS } from "../targets.ts";
import { decodeProg, encodeProg } from "./decode.ts";
import "./ops/index.ts";
import { parseProg } from "./text.ts";
import { MAX_CALLS, type Prog } from "./types.ts";
import { ProgError, validateProg } from "./validate.ts";

const PROFILES = TARGETS.flatMap((t) => (t.profile ? [t.profile] : []));

test("decoding is deterministic and always yields a valid program", () => {
  const prng = new Prng(7);
  for (const profile of PROFILES) {
    for (let i = 0; i < 300; i++) {
      const bytes = Uint8Array.from({ length: prng.below(300) }, () => prng.below(256));
      const a = decodeProg(bytes, profile);
      assert.equal(decodeProg(bytes.slice(), profile), a);
      validateProg(a, profile.cpus);
      assert.ok(a.calls.length <= MAX_CALLS);
    }
  }
});

test("decode(encode(prog)) deep-equals prog for decoded programs", () => {
  const prng = new Prng(8);
  for (const profile of PROFILES) {
    for (let i = 0; i < 300; i++) {
      const bytes = Uint8Array.from({ length: prng.below(300) }, () => prng.below(256));
      const prog = decodeProg(bytes, profile);
      assert.equal(decodeProg(encodeProg(prog, profile), profile), prog);
    }
  }
});

test("the empty input is the empty program; a truncated input still decodes", () => {
  const tags = PROFILES.find((p) => p.name === "tags")!;
  assert.equal(decodeProg(new Uint8Array(), tags), { sched: [], calls: [] });
  const full = encodeProg(parseProg("set0 = tags_init(depth=8)\nr0 = tags_get(set0, ctx=1, nowait)\n"), tags);
  for (let n = 0; n < full.length; n++) validateProg(decodeProg(full.subarray(0, n), tags), tags.cpus);
});

test("encodeProg() refuses invalid programs with ProgError", () => {
  const tags = PROFILES.find((p) => p.name === "tags")!;
  const bad: Prog[] = [
    { sched: [], calls: [{ op: "tags_put", task: 0, cpu: null, args: [{ ref: 0 }, 0] }] },
    { sched: [], calls: [{ op: "kmalloc", task: 0, cpu: null, args: [8, false] }] },
    { sched: [], calls: [{ op: "tags_stat", task: 5, cpu: null, args: [null] }] },
    { sched: [300], calls: [] },
    parseProg("set0 = tags_init(depth=8)\nr0 = tags_get(set0, ctx=0)\ntags_put(r0, ctx=0)\ntags_put(r0, ctx=0)\n"),
  ];
  for (const p of bad) {
    try {
      encodeProg(p, tags);
      assert.unreachable(JSON.stringify(p));
    } catch (e) {
      assert.instance(e, ProgError);
    }
  }
});

test.run();
