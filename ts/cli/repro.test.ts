// SPDX-License-Identifier: GPL-2.0-only
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { encodeProg } from "../../fuzz/prog/decode.ts";
import { parseProg } from "../../fuzz/prog/text.ts";
import { programProfile } from "../../fuzz/targets.ts";
import { MERGE_USAGE, MINIMIZE_USAGE, REPRO_USAGE } from "./_usage.ts";
import { runCli } from "./run.ts";

async function cli(...argv: string[]) {
  let out = "";
  let err = "";
  const code = await runCli(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

const PLANTED = [
  "set0 = tags_init(depth=2, reserved=1, ctxs=1, era=v4.4, policy=fifo)",
  "r0 = tags_get(set0, ctx=0, reserved)",
  "r1 = tags_get(set0, ctx=0)",
  "r2 = tags_get(set0, ctx=0, nowait)",
  "tags_put(r0, ctx=0)",
  "",
].join("\n");

function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "blkmq-repro-test-"));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

test("repro exits 1 when a .txt program's finding reproduces and 0 when it does not", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "p.txt");
    writeFileSync(file, PLANTED);
    const hit = await cli("repro", "--target", "tags", "--regression", "tags_reserved_put_wrong_bitmap", file);
    assert.is(hit.code, 1, hit.out + hit.err);
    assert.match(hit.out, /^set0 = tags_init/);
    assert.match(hit.out, /invariant: tag bitmap count mismatch \[invariant\]/);
    const miss = await cli("repro", "--target", "tags", file);
    assert.is(miss.code, 0, miss.out);
    assert.match(miss.out, /repro: no finding/);
  });
});

test("repro reads a raw input with the options of the repro.json beside it", async () => {
  await withDir(async (dir) => {
    writeFileSync(join(dir, "input.bin"), encodeProg(parseProg(PLANTED), programProfile("tags")));
    const json = { target: "tags", cpus: 4, seed: 0, regressions: ["tags_reserved_put_wrong_bitmap"], detector: "invariant", title: "invariant: tag bitmap count mismatch" };
    writeFileSync(join(dir, "repro.json"), JSON.stringify(json));
    assert.is((await cli("repro", "-q", join(dir, "input.bin"))).code, 1);
    assert.is((await cli("repro", "-q", dir)).code, 1, "an artifact folder");
    const fixed = await cli("repro", "-q", "--regression", "kmalloc_short_alloc", join(dir, "input.bin"));
    assert.is(fixed.code, 0);
    assert.match(fixed.out, /did not reproduce: invariant: tag bitmap count mismatch/);
  });
});

test("minimize writes a smaller program that keeps the finding", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "p.txt");
    writeFileSync(file, `sched 01 02 03\nk0 = kmalloc(size=64)\n${PLANTED}`);
    const r = await cli("minimize", "--target", "tags", "--regression", "tags_reserved_put_wrong_bitmap", file);
    assert.is(r.code, 0, r.out + r.err);
    const small = readFileSync(join(dir, "p.min.txt"), "utf8");
    assert.ok(parseProg(small).calls.length <= 4, small);
    assert.ok(readdirSync(dir).includes("p.min.bin"));
    assert.is((await cli("repro", "--target", "tags", "--regression", "tags_reserved_put_wrong_bitmap", join(dir, "p.min.txt"))).code, 1);
    assert.is((await cli("minimize", "--target", "tags", file)).code, 1, "no finding without the regression");
  });
});

test("repro, minimize and merge print their usage and refuse bad arguments with exit 2", async () => {
  assert.equal(await cli("repro", "--help"), { code: 0, out: REPRO_USAGE, err: "" });
  assert.equal(await cli("minimize", "--help"), { code: 0, out: MINIMIZE_USAGE, err: "" });
  assert.equal(await cli("merge", "--help"), { code: 0, out: MERGE_USAGE, err: "" });
  for (const argv of [["repro"], ["repro", "a", "b"], ["repro", "--bogus", "x"], ["repro", "/no/such/file"], ["minimize"], ["merge", "out"], ["merge", "--target", "tags", "out"]]) {
    const r = await cli(...argv);
    assert.is(r.code, 2, argv.join(" "));
    assert.ok(r.err.startsWith("blkmq: "), argv.join(" "));
  }
  await withDir(async (dir) => {
    const file = join(dir, "x.bin");
    writeFileSync(file, new Uint8Array([1, 2, 3]));
    const r = await cli("repro", file);
    assert.is(r.code, 2, "a raw input needs a target");
    assert.match(r.err, /which target/);
  });
});

test("merge keeps the inputs that add coverage (libFuzzer -merge=1)", async () => {
  await withDir(async (dir) => {
    const a = join(dir, "a");
    const out = join(dir, "out");
    const { mkdirSync } = await import("node:fs");
    mkdirSync(a);
    writeFileSync(join(a, "one.txt"), "set0 = tags_init(depth=4)\n");
    writeFileSync(join(a, "same.txt"), "set0 = tags_init(depth=4)\n");
    writeFileSync(join(a, "two.txt"), "set0 = tags_init(depth=4)\nr0 = tags_get(set0, ctx=0, nowait)\ntags_put(r0, ctx=0)\n");
    const r = await cli("merge", "--target", "tags", out, a);
    assert.is(r.code, 0, r.out + r.err);
    const kept = readdirSync(out).length;
    assert.ok(kept >= 1 && kept <= 2, `${kept} kept\n${r.out}`);
  });
});

test.run();
