// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { SH_USAGE } from "./_usage.ts";
import { runCli } from "./run.ts";
import { type ScriptInput, shCommand } from "./sh.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DIR = mkdtempSync(join(tmpdir(), "blkmq-sh-"));
const SCRIPT = "# a comment\necho hello\ncat /sys/devices/system/cpu/possible\n";

function script(name: string, text: string): string {
  const path = join(DIR, name);
  writeFileSync(path, text);
  return path;
}

/** Runs `blkmq sh ARGS` in-process with `stdin` as the script source. */
async function sh(args: string[], stdin: ScriptInput = { isTTY: false, read: () => Promise.resolve("") }) {
  let out = "";
  let err = "";
  const io = { out: (s: string) => (out += s), err: (s: string) => (err += s) };
  const code = args[0] === "via-runCli" ? await runCli(["sh", ...args.slice(1)], io) : await shCommand(args, io, stdin);
  return { code, out, err };
}

const pipe = (text: string): ScriptInput => ({ isTTY: false, read: () => Promise.resolve(text) });

test("blkmq sh FILE runs the script and prints exactly its output", async () => {
  assert.equal(await sh(["via-runCli", script("ok.sh", SCRIPT)]), { code: 0, out: "hello\n0-3\n", err: "" });
});

test("without FILE, or with -, the script comes from standard input", async () => {
  assert.equal(await sh([], pipe(SCRIPT)), { code: 0, out: "hello\n0-3\n", err: "" });
  assert.equal(await sh(["-"], pipe("echo dash\n")), { code: 0, out: "dash\n", err: "" });
});

test("a terminal on standard input and no FILE prints the usage and exits 2", async () => {
  const tty: ScriptInput = { isTTY: true, read: () => Promise.reject(new Error("must not read a terminal")) };
  assert.equal(await sh([], tty), { code: 2, out: "", err: SH_USAGE });
});

test("--cpus, --threads-per-core and --seed boot the machine", async () => {
  const r = await sh(["--cpus", "8", "--threads-per-core", "2", "--seed", "7"], pipe("cat /sys/devices/system/cpu/possible\n"));
  assert.equal(r, { code: 0, out: "0-7\n", err: "" });
});

test("a failing command exits 1, its message on standard error", async () => {
  assert.equal(await sh([], pipe("cat /nope\necho after\n")), {
    code: 1,
    out: "after\n",
    err: "cat: /nope: No such file or directory\n",
  });
});

test("--help prints the usage and exits 0", async () => {
  assert.equal(await sh(["via-runCli", "--help"]), { code: 0, out: SH_USAGE, err: "" });
});

test("bad flags and extra operands are usage errors: exit 2, nothing run", async () => {
  for (const argv of [["--bogus"], ["--cpus", "x"], ["--cpus", "0"], ["--seed", "-1"], ["--threads-per-core", "0"], ["a.sh", "b.sh"]]) {
    const r = await sh(["via-runCli", ...argv]);
    assert.is(r.code, 2, argv.join(" "));
    assert.ok(r.err.startsWith("blkmq: "), argv.join(" "));
    assert.ok(r.err.includes(SH_USAGE), argv.join(" "));
    assert.is(r.out, "", argv.join(" "));
  }
});

test("a FILE that cannot be read exits 1 with the reason", async () => {
  const missing = join(DIR, "missing.sh");
  assert.equal(await sh([missing]), { code: 1, out: "", err: `blkmq sh: ${missing}: No such file or directory\n` });
});

/** Runs the real CLI as a shell would: `CMD ARGS ts/cli/main.ts sh < file`. */
function child(cmd: string, args: readonly string[], file: string) {
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const line = `${[cmd, ...args, "ts/cli/main.ts", "sh"].map(q).join(" ")} < ${q(file)}`;
  return spawnSync("/bin/sh", ["-c", line], { cwd: ROOT, encoding: "utf8" });
}

const NODE = typeof (globalThis as { Deno?: unknown }).Deno === "undefined" ? process.execPath : "node";
const DENO = join(ROOT, "node_modules", ".bin", "deno");

test("the CLI reads a script from standard input under Node and under Deno", () => {
  const file = script("stdin.sh", `${SCRIPT}cat /nope\n`);
  for (const [cmd, args] of [[NODE, ["--import", "tsx"]], [DENO, ["run", "-A"]]] as const) {
    const r = child(cmd, args, file);
    assert.is(r.stdout, "hello\n0-3\n", cmd);
    assert.is(r.stderr, "cat: /nope: No such file or directory\n", cmd);
    assert.is(r.status, 1, cmd);
  }
});

test.after(() => rmSync(DIR, { recursive: true, force: true }));

test.run();
