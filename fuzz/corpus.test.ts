// SPDX-License-Identifier: GPL-2.0-only
// Regression mode: every file of corpus/<target>/ replays without a finding.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { dictPath, seedDir } from "./campaign.ts";
import { programDict } from "./dict.ts";
import { FuzzMachine } from "./machine.ts";
import { decodeProg, encodeProg } from "./prog/decode.ts";
import { parseProg } from "./prog/text.ts";
import type { Prog } from "./prog/types.ts";
import { runProg } from "./runner.ts";
import { runSmoke } from "./smoke.fuzz.ts";
import { TARGETS } from "./targets.ts";

const machine = new FuzzMachine();

function files(name: string): string[] {
  try {
    return readdirSync(seedDir(name)).filter((f) => statSync(join(seedDir(name), f)).isFile()).sort();
  } catch {
    return [];
  }
}

for (const t of TARGETS) {
  const profile = t.profile;
  if (profile === undefined) continue;
  const ignore = (t.known ?? []).map((k) => new RegExp(k.title));
  test(`corpus/${t.name}/: every seed replays without a finding`, () => {
    const all = files(t.name);
    assert.ok(all.length > 0, `corpus/${t.name}/ is empty`);
    for (const f of all) {
      const bytes = readFileSync(join(seedDir(t.name), f));
      const prog: Prog = f.endsWith(".txt") ? parseProg(bytes.toString()) : decodeProg(new Uint8Array(bytes), profile);
      // The campaign encodes text seeds into its working corpus: one it cannot encode stops it.
      if (f.endsWith(".txt")) assert.not.throws(() => encodeProg(prog, profile), `${t.name}/${f} does not encode`);
      const o = runProg(prog, { profile, machine, ignore });
      assert.is(o.finding, null, `${t.name}/${f}: ${o.finding?.title}\n${o.finding?.report}`);
    }
  });

  test(`corpus/${t.name}/: the seed programs use every op of the target`, () => {
    const used = new Set<string>();
    for (const f of files(t.name).filter((x) => x.endsWith(".txt"))) {
      for (const c of parseProg(readFileSync(join(seedDir(t.name), f), "utf8")).calls) used.add(c.op);
    }
    const missing = profile.ops.filter((o) => !used.has(o));
    assert.equal(missing, [], `ops without a seed in corpus/${t.name}/`);
  });

  if (t.dict !== undefined) {
    test(`corpus/${t.dict} matches the op registry (blkmq fuzz --write-dicts)`, () => {
      assert.is(readFileSync(dictPath(t.dict!), "utf8"), programDict(profile));
    });
  }
}

test("corpus/smoke/: no seed reaches the planted branch (only the fuzzer may)", () => {
  const all = files("smoke");
  assert.ok(all.length > 0);
  for (const f of all) assert.not.ok(runSmoke(new Uint8Array(readFileSync(join(seedDir("smoke"), f)))), f);
});

test.run();
