// SPDX-License-Identifier: GPL-2.0-only
// End-to-end checks of the fuzz pipeline: real Jazzer.js runs with fixed budgets.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { campaignJson, prepareCorpus, runCampaign, type TargetResult } from "./campaign.ts";
import { decodeProg } from "./prog/decode.ts";
import { formatProg, parseProg } from "./prog/text.ts";
import { findTarget } from "./targets.ts";

function withOutDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "blkmq-fuzz-test-"));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

test("runCampaign() reaches the smoke target's 4-byte-gated WASM branch with WASM coverage", async () => {
  const [r] = await withOutDir((outDir) =>
    runCampaign({ targets: ["smoke"], seconds: 60, seed: 1, outDir, log: () => {} })
  );
  assert.ok(r.ok, r.reason);
  assert.is(r.findings.length, 1);
  assert.ok(r.findings[0].expected);
  assert.match(r.findings[0].title, /^PlantedBranchReached/);
  assert.match(r.wasm_coverage ?? "", /^module-counters \d+ edges$/);
  assert.ok(r.execs > 0 && r.coverage > 0);
});

test("without WASM coverage the same campaign misses the branch and reports failure (with progress lines)", async () => {
  const lines: string[] = [];
  const [r] = await withOutDir((outDir) =>
    runCampaign({ targets: ["smoke"], seconds: 3, seed: 1, outDir, wasmCoverage: false, progressEvery: 1, log: (l) => lines.push(l) })
  );
  const progress = /^fuzz: smoke: \d+ s {2}execs \d+ {2}\d+\/s {2}cov \d+ {2}corpus \d+ {2}findings \d+$/;
  assert.ok(lines.some((l) => progress.test(l)), lines.join("\n"));
  assert.not.ok(r.ok);
  assert.is(r.findings.length, 0);
  assert.match(r.reason ?? "", /planted finding was not reached/);
  assert.match(r.wasm_coverage ?? "", /^disabled/);
});

test("a campaign rediscovers a planted regression and saves a replayable, minimized artifact folder", async () => {
  await withOutDir(async (outDir) => {
    const lines: string[] = [];
    const [r] = await runCampaign({
      targets: ["tags"],
      seconds: 15,
      seed: 1,
      outDir,
      regressions: ["tags_reserved_put_wrong_bitmap"],
      log: (l) => lines.push(l),
    });
    assert.ok(r.ok, `${r.reason}\n${lines.join("\n")}`);
    const f = r.findings.find((x) => x.expected)!;
    assert.is(f.title, "invariant: tag bitmap count mismatch");
    assert.is(f.detector, "invariant");
    assert.ok(f.reproduced);
    assert.ok(r.first_finding_s !== null && r.first_finding_s <= r.seconds);
    for (const file of ["input.bin", "repro.txt", "repro.json", "repro.ts", "report.txt"]) {
      assert.ok(existsSync(join(f.artifact, file)), file);
    }
    assert.ok(f.artifact.startsWith(join(outDir, "artifacts", "invariant-tag-bitmap-count-mismatch")));
    const json = JSON.parse(readFileSync(join(f.artifact, "repro.json"), "utf8"));
    assert.equal(json.regressions, ["tags_reserved_put_wrong_bitmap"]);
    assert.is(json.target, "tags");
    const small = parseProg(readFileSync(join(f.artifact, "repro.txt"), "utf8"));
    assert.ok(small.calls.length <= 6, formatProg(small));
  });
});

test("campaignJson() is the target's object for one target, totals plus a targets array for several", () => {
  const r = (target: string, execs: number): TargetResult => ({
    target,
    seconds: 10,
    execs,
    execs_per_s: execs / 10,
    coverage: 100,
    features: 1,
    corpus: 5,
    wasm_coverage: null,
    findings: [],
    first_finding_s: null,
    ignored: [],
    ok: true,
  });
  const one = campaignJson([r("tags", 1000)]);
  assert.equal(Object.keys(one).slice(0, 7), ["target", "seconds", "execs", "execs_per_s", "coverage", "corpus", "findings"]);
  const all = campaignJson([r("tags", 1000), r("mm", 3000)]);
  assert.is(all.target, "all");
  assert.is(all.execs, 4000);
  assert.is(all.execs_per_s, 200);
  assert.is((all.targets as unknown[]).length, 2);
});

test("prepareCorpus() encodes seed programs with the target's ops and keeps existing files", async () => {
  await withOutDir(async (dir) => {
    const t = findTarget("tags");
    const n = prepareCorpus(t, dir);
    assert.ok(n >= 3);
    const f = readdirSync(dir).find((x) => x.startsWith("seed-sleep-for-a-tag"))!;
    const prog = decodeProg(new Uint8Array(readFileSync(join(dir, f))), t.profile!);
    assert.is(prog.calls[0].op, "tags_init");
    assert.is(prepareCorpus(t, dir), 0);
  });
});

test("runCampaign() rejects an unknown target, regression and bad budgets with RangeError", async () => {
  for (const o of [{ targets: ["nope"] }, { seconds: 0 }, { jobs: 1.5 }, { seed: -1 }, { regressions: ["nope"] }]) {
    try {
      await runCampaign({ ...o, log: () => {} });
      assert.unreachable(`accepted ${JSON.stringify(o)}`);
    } catch (e) {
      assert.instance(e, RangeError, JSON.stringify(o));
    }
  }
});

test.run();
