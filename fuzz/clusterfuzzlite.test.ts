// SPDX-License-Identifier: GPL-2.0-only
// The ClusterFuzzLite / OSS-Fuzz configuration cannot run here (no builder
// images); this checks its shape against what the OSS-Fuzz JavaScript
// guide and TOOLCHAIN.md §5 require.
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { TARGETS } from "./targets.ts";

const CFL = join(dirname(fileURLToPath(import.meta.url)), "..", ".clusterfuzzlite");
const read = (f: string) => readFileSync(join(CFL, f), "utf8");

test("project.yaml declares a JavaScript project on libFuzzer without sanitizers", () => {
  const y = read("project.yaml");
  assert.match(y, /^language: javascript$/m);
  assert.match(y, /^\s*- libfuzzer$/m);
  assert.match(y, /^\s*- none$/m);
});

test("the Dockerfile builds on the OSS-Fuzz JavaScript image and copies the project and build.sh", () => {
  const d = read("Dockerfile");
  assert.match(d, /^FROM gcr\.io\/oss-fuzz-base\/base-builder-javascript\s*$/m);
  assert.match(d, /^COPY \. \$SRC\/blkmq-wasm$/m);
  assert.match(d, /^WORKDIR \$SRC\/blkmq-wasm$/m);
  assert.match(d, /^COPY \.clusterfuzzlite\/build\.sh \$SRC\/$/m);
});

test("build.sh installs, compiles to JavaScript and registers every program target with seeds and dictionary", () => {
  const b = read("build.sh");
  assert.ok(b.startsWith("#!/bin/bash -eu\n"));
  assert.ok((statSync(join(CFL, "build.sh")).mode & 0o111) !== 0, "build.sh is executable");
  assert.match(b, /^npm ci\b/m);
  assert.match(b, /build\.ts/);
  assert.match(b, /compile_javascript_fuzzer blkmq-wasm "npm\/esm\/fuzz\/\$t\.fuzz\.js" --sync '--disableBugDetectors=\.\*'/);
  assert.match(b, /\$OUT\/\$t\.fuzz_seed_corpus\.zip/);
  assert.match(b, /\$OUT\/\$t\.fuzz\.dict/);
  const listed = /^TARGETS="([^"]+)"$/m.exec(b)![1].split(" ").sort();
  assert.equal(listed, TARGETS.map((t) => t.name).sort());
  for (const t of TARGETS) {
    assert.ok(existsSync(join(CFL, "..", "fuzz", `${t.module}.ts`)), `${t.module}.ts exists`);
    if (t.dict) assert.ok(existsSync(join(CFL, "..", "corpus", t.dict)), `corpus/${t.dict} exists`);
  }
});

test.run();
