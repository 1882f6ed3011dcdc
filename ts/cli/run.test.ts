// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VERSION } from "../version.ts";
import { FUZZ_USAGE, USAGE } from "./_usage.ts";
import { runCli } from "./run.ts";

async function cli(...argv: string[]) {
  let out = "";
  let err = "";
  const code = await runCli(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

test("--version and version print the package version and exit 0", async () => {
  for (const flag of ["--version", "-V", "version"]) {
    assert.equal(await cli(flag), { code: 0, out: `blkmq ${VERSION}\n`, err: "" });
  }
});

test("--help prints the usage on stdout and exits 0", async () => {
  assert.equal(await cli("--help"), { code: 0, out: USAGE, err: "" });
  assert.equal(await cli("fuzz", "--help"), { code: 0, out: FUZZ_USAGE, err: "" });
});

test("no command prints the usage on stderr and exits 2", async () => {
  const r = await cli();
  assert.is(r.code, 2);
  assert.is(r.err, USAGE);
});

test("an unknown command gives a short usage message and exit 2", async () => {
  const r = await cli("frobnicate");
  assert.is(r.code, 2);
  assert.ok(r.err.startsWith("blkmq: unknown command: frobnicate\n"));
  assert.ok(r.err.includes(USAGE));
});

test("bad flags give a usage message and exit 2 without running anything", async () => {
  for (const argv of [["fuzz", "--bogus"], ["fuzz", "--seconds", "ten"], ["fuzz", "--seconds", "-3"], ["fuzz", "--target", "nope"]]) {
    const r = await cli(...argv);
    assert.is(r.code, 2, argv.join(" "));
    assert.ok(r.err.startsWith("blkmq: "), argv.join(" "));
    assert.is(r.out, "", argv.join(" "));
  }
});

test("fuzz --list names every target", async () => {
  const r = await cli("fuzz", "--list");
  assert.is(r.code, 0);
  assert.match(r.out, /^smoke\s+pipeline self-test/);
});

test.run();
