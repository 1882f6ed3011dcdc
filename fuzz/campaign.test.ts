// SPDX-License-Identifier: GPL-2.0-only
// End-to-end checks of the fuzz pipeline: real Jazzer.js runs with fixed budgets.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { runCampaign } from "./campaign.ts";

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

test("without WASM coverage the same campaign misses the branch and reports failure", async () => {
  const [r] = await withOutDir((outDir) =>
    runCampaign({ targets: ["smoke"], seconds: 3, seed: 1, outDir, wasmCoverage: false, log: () => {} })
  );
  assert.not.ok(r.ok);
  assert.is(r.findings.length, 0);
  assert.match(r.reason ?? "", /planted finding was not reached/);
  assert.match(r.wasm_coverage ?? "", /^disabled/);
});

test("runCampaign() rejects an unknown target and bad budgets with RangeError", async () => {
  for (const o of [{ targets: ["nope"] }, { seconds: 0 }, { jobs: 1.5 }, { seed: -1 }]) {
    try {
      await runCampaign({ ...o, log: () => {} });
      assert.unreachable(`accepted ${JSON.stringify(o)}`);
    } catch (e) {
      assert.instance(e, RangeError, JSON.stringify(o));
    }
  }
});

test.run();
