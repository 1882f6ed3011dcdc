// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { emptyStats, parseLine } from "./_libfuzzer_log.ts";

// Lines captured from a real `blkmq fuzz --verbose` run of the smoke target.
const LOG = [
  "blkmq-fuzz: coverage module-counters 13 edges",
  "#3\tINITED cov: 6 ft: 6 corp: 1/7b exec/s: 0 rss: 164Mb",
  "#12\tNEW    cov: 7 ft: 7 corp: 2/9b lim: 7 exec/s: 0 rss: 164Mb L: 2/7 MS: 4 CrossOver-",
  "#85689\tREDUCE cov: 13 ft: 14 corp: 5/17b lim: 827 exec/s: 0 rss: 185Mb L: 4/4 MS: 2 ChangeByte-",
  "==6734== Uncaught Exception: PlantedBranchReached: smoke: planted branch reached (input starts with FUZZ)",
  "    at fuzz (file:///work/main/fuzz/smoke.fuzz.ts:46:11)",
  "artifact_prefix='/tmp/fz2/artifacts/smoke/'; Test unit written to /tmp/fz2/artifacts/smoke/crash-aea2e392",
  "stat::number_of_executed_units: 86185",
  "Done 86185 runs in 0 second(s)",
];

test("parseLine() reads status, finding, artifact and final stats from libFuzzer output", () => {
  const s = emptyStats();
  for (const line of LOG) parseLine(s, line);
  assert.equal(s, {
    execs: 86185,
    coverage: 13,
    features: 14,
    corpus: 5,
    artifacts: ["/tmp/fz2/artifacts/smoke/crash-aea2e392"],
    title: "PlantedBranchReached: smoke: planted branch reached (input starts with FUZZ)",
    wasmCoverage: "module-counters 13 edges",
  });
});

test("parseLine() keeps the first finding title and takes libFuzzer's own errors as titles", () => {
  const s = emptyStats();
  parseLine(s, "==1== ERROR: libFuzzer: timeout after 5 seconds");
  parseLine(s, "==1== Uncaught Exception: Error: later");
  assert.is(s.title, "timeout after 5 seconds");
});

test("parseLine() reads fork mode's status lines", () => {
  const s = emptyStats();
  parseLine(s, "#41373: cov: 987 ft: 2824 corp: 170 exec/s: 3948 oom/timeout/crash: 0/0/1 time: 17s job: 3 dft_time: 0");
  assert.equal([s.execs, s.coverage, s.features, s.corpus], [41373, 987, 2824, 170]);
});

test("parseLine() ignores lines it does not know", () => {
  const s = emptyStats();
  parseLine(s, "INFO: Seed: 7");
  parseLine(s, "Error: not a finding line");
  assert.equal(s, emptyStats());
});

test.run();
