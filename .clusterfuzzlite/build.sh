#!/bin/bash -eu
# SPDX-License-Identifier: GPL-2.0-only
#
# ClusterFuzzLite / OSS-Fuzz build: install, compile the targets to
# JavaScript, and register each program target with its seed corpus and
# dictionary. The wrapper compile_javascript_fuzzer writes cannot add
# `--import tsx`, so the targets run from the compiled npm/esm/ tree (the
# WASM is embedded in it; nothing else to ship).
#
# Notes for the images: their Jazzer.js may lack
# Fuzzer.coverageTracker.createModuleCounters (fuzz/_coverage.ts falls back
# to the legacy counter buffer), and an Ubuntu image older than glibc 2.38
# needs scripts/patch-jazzer.mjs, which `npm ci` runs as postinstall.

cd "$SRC/blkmq-wasm"
npm ci --no-audit --no-fund
# tsc → npm/esm/ (ts/, fuzz/ and corpus/); build.ts runs on the deno binary npm installed.
node_modules/.bin/deno run -A build.ts

TARGETS="tags mm kernel blk smoke"
SEEDS="$(mktemp -d)"
for t in $TARGETS; do
  compile_javascript_fuzzer blkmq-wasm "npm/esm/fuzz/$t.fuzz.js" --sync '--disableBugDetectors=.*'
  # Seeds: corpus/<t>/*.txt programs encoded with the target's ops, raw files as they are.
  node --import tsx --input-type=module -e \
    "import { prepareCorpus } from './fuzz/campaign.ts'; import { findTarget } from './fuzz/targets.ts'; prepareCorpus(findTarget('$t'), '$SEEDS/$t');"
  if [ -n "$(ls -A "$SEEDS/$t")" ]; then
    (cd "$SEEDS/$t" && zip -q -j "$OUT/$t.fuzz_seed_corpus.zip" ./*)
  fi
  if [ -f "corpus/$t.dict" ]; then
    cp "corpus/$t.dict" "$OUT/$t.fuzz.dict"
  fi
done
