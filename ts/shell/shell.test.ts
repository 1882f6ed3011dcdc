// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KernelError } from "../errors.ts";
import { Kernel } from "../kernel/kernel.ts";
import { type Sleepable, sleep } from "../kernel/sched.ts";
import { fakeShell } from "./_testkit.ts";
import { parseCommand, parseScript } from "./parse.ts";
import { KernelShell, type ShellCommand } from "./shell.ts";

/** Log lines without timestamps. */
const dmesg = (sh: KernelShell) => sh.kernel.log.lines().map((l) => l.replace(/^\[[ \d.]+\] /, ""));

test("runSync() prints exactly what the commands print: no prompt, no banner", () => {
  const sh = new KernelShell({ cpus: 2 });
  const r = sh.runSync("# hello\necho hello world\n\nsleep 1\necho -n bye\n");
  assert.equal(r, { status: 0, output: "hello world\nbye", stdout: "hello world\nbye", stderr: "", failed: 0 });
  sh.kernel.assertClean();
});

test("each command is a user task of its own: builtins are sh, programs carry their name", () => {
  const sh = new KernelShell({ cpus: 2 });
  const seen: string[] = [];
  const probe = (name: string, builtin: boolean): ShellCommand => ({
    name,
    builtin,
    // deno-lint-ignore require-yield
    *run(ctx) {
      const t = ctx.kernel.sched.current;
      seen.push(`${t.comm} kthread=${t.kthread} line=${ctx.line} argv=${ctx.argv.join(",")}`);
      return 0;
    },
  });
  sh.register(probe("prog", false));
  sh.register(probe("bi", true));
  assert.is(sh.runSync("prog a b\nbi c\n").status, 0);
  assert.equal(seen, ["prog kthread=false line=1 argv=prog,a,b", "sh kthread=false line=2 argv=bi,c"]);
});

test("commands sleep in virtual time while the machine's other tasks run", () => {
  const sh = new KernelShell({ cpus: 2 });
  sh.kernel.sched.spawn("ticker", function* () {
    yield sleep(500_000_000);
    sh.kernel.log.printk("info", "ticker: half a second");
  });
  const r = sh.runSync("sleep 2\ndmesg\n");
  assert.is(r.output, "[    0.500000] ticker: half a second\n");
  assert.is(sh.kernel.clock.now(), 2e9);
});

test("a failing command does not stop the script, but makes the status 1", () => {
  const sh = fakeShell();
  const r = sh.runSync("cat /nope\necho after\n");
  assert.equal(r, {
    status: 1,
    output: "cat: /nope: No such file or directory\nafter\n",
    stdout: "after\n",
    stderr: "cat: /nope: No such file or directory\n",
    failed: 1,
  });
});

test("an unknown command is bash's 'command not found', and the script goes on", () => {
  const r = fakeShell().runSync("frobnicate --hard\necho after\n");
  assert.is(r.output, "sh: line 1: frobnicate: command not found\nafter\n");
  assert.is(r.status, 1);
});

test("a syntax error stops the script, as bash does for a script", () => {
  const r = fakeShell().runSync("echo before\ncat /x | head\necho after\n");
  assert.is(r.output, "before\nsh: line 2: unsupported syntax: `|'\n");
  assert.is(r.failed, 1);
  assert.is(r.status, 1);
});

test("a finding in the kernel log makes the status 1, even once dmesg -C has cleared it", () => {
  const sh = fakeShell();
  const r = sh.runSync("modprobe fake_blk\necho now > /sys/fake_blk/warn\ndmesg -C\nrmmod fake_blk\n");
  assert.is(r.output, "");
  assert.is(r.failed, 0);
  assert.is(r.status, 1);
  assert.ok(sh.kernel.log.isClean(), "dmesg -C cleared the log");
  assert.is(sh.runSync("echo later\n").status, 1, "the finding stays counted for the shell's life");
});

test("a BUG() in a command kills its task: bash's 'Segmentation fault', and the script goes on", () => {
  const sh = fakeShell();
  const r = sh.runSync("modprobe fake_blk\necho 1 > /sys/fake_blk/bug\necho after\nrmmod fake_blk\n");
  assert.is(r.output, "Segmentation fault\nafter\n");
  assert.is(r.status, 1);
  assert.ok(dmesg(sh).includes("kernel BUG at drivers/block/fake_blk.c:42!"));
  assert.is(sh.kernel.liveObjects(), 0);
});

test("a command that can never finish is left blocked; the hung-task report lands in the log; the script goes on", () => {
  const sh = new KernelShell({ cpus: 2 });
  sh.register({
    name: "stuck",
    *run(ctx) {
      ctx.kernel.sched.blockCurrent("stuck_forever", false);
      yield;
      return 0;
    },
  });
  const r = sh.runSync("stuck\necho after\ndmesg -t -l err\n");
  assert.match(r.output, /^after\nINFO: task stuck:\d+ blocked for more than 120 seconds\.\n/);
  assert.is(r.status, 1);
  assert.is(r.failed, 1, "the stuck command counts as failed");
});

test("a command blocked in S state forever counts as failed without a log finding", () => {
  const sh = new KernelShell({ cpus: 2 });
  sh.register({
    name: "waitforever",
    *run(ctx) {
      ctx.kernel.sched.blockCurrent("pause", true);
      yield;
      return 0;
    },
  });
  const r = sh.runSync("waitforever\n");
  assert.equal([r.status, r.failed, r.output], [1, 1, ""]);
  assert.ok(sh.kernel.log.isClean());
});

test("a sleep longer than the shell's run slice still completes", () => {
  const sh = new KernelShell({ cpus: 2 });
  assert.is(sh.runSync("sleep 2h\n").status, 0);
  assert.is(sh.kernel.clock.now(), 7200e9);
  assert.ok(sh.kernel.log.isClean(), "an interruptible sleep is no hung task");
});

test("> writes the command's output to the file and prints nothing", () => {
  const sh = fakeShell();
  const r = sh.runSync("modprobe fake_blk\necho 128 > /sys/fake_blk/depth\ncat /sys/fake_blk/depth\nrmmod fake_blk\n");
  assert.is(r.output, "128\n");
  assert.is(r.status, 0);
});

test("a redirection to a missing file or a directory is the shell's error, and the command does not run", () => {
  const sh = fakeShell();
  const r = sh.runSync("echo 1 > /sys/nope\necho 1 > /sys/devices\necho 1 >> /x/y\n");
  assert.is(
    r.output,
    "sh: line 1: /sys/nope: No such file or directory\nsh: line 2: /sys/devices: Is a directory\nsh: line 3: /x/y: No such file or directory\n",
  );
  assert.is(r.failed, 3);
});

test("a failed write is bash's 'echo: write error' for builtins, the program's own for programs", () => {
  const sh = fakeShell();
  const r = sh.runSync([
    "modprobe fake_blk",
    "echo 0 > /sys/fake_blk/depth",
    "cat /sys/fake_blk/ro > /sys/fake_blk/broken",
    "echo 1 > /sys/fake_blk/ro",
    "echo -n > /sys/fake_blk/broken",
    "rmmod fake_blk",
  ].join("\n"));
  assert.is(
    r.output,
    "sh: line 2: echo: write error: Invalid argument\n" +
      "cat: write error: No such device\n" +
      "sh: line 4: /sys/fake_blk/ro: Permission denied\n",
  );
  assert.is(r.failed, 3, "an empty write never reaches the store");
});

test("a bare redirection only opens its file; `echo 1>f` writes an empty line, as in bash", () => {
  const bare = fakeShell().runSync("> /dev/null\n> /sys/nope\n");
  assert.equal([bare.output, bare.failed], ["sh: line 2: /sys/nope: No such file or directory\n", 1]);
  const r = fakeShell().runSync("modprobe fake_blk\necho 32>/sys/fake_blk/depth\necho 32 >/sys/fake_blk/depth\ncat /sys/fake_blk/depth\nrmmod fake_blk\n");
  assert.is(r.output, "32\n", "echo 32>f is `echo 32 > f`: 32 is no fd");
  const r1 = fakeShell().runSync("modprobe fake_blk\necho 1>/sys/fake_blk/depth\nrmmod fake_blk\n");
  assert.is(r1.output, "sh: line 2: echo: write error: Invalid argument\n", "kstrtoul() refuses the empty line");
});

test("2> redirects standard error; /dev/null swallows what it is given", () => {
  const r = fakeShell().runSync("cat /nope 2> /dev/null\necho gone > /dev/null\ncat /dev/null\n");
  assert.equal([r.output, r.failed], ["", 1]);
  const r2 = fakeShell().runSync("cat /nope 2> /sys/nope\n");
  assert.is(r2.output, "sh: line 1: /sys/nope: No such file or directory\n");
});

test("a short write is finished with more writes, as stdio does", () => {
  const sh = fakeShell();
  const r = sh.runSync("modprobe fake_blk\necho hello > /sys/fake_blk/short\ndmesg -t\nrmmod fake_blk\n");
  assert.is(r.status, 0);
  assert.match(r.output, /short took "he"\nfake_blk: short took "ll"\nfake_blk: short took "o\\n"\n$/);
});

test("a KernelError a command lets escape is printed as its error, with status 1", () => {
  const sh = new KernelShell({ cpus: 2 });
  sh.register({
    name: "eio",
    // deno-lint-ignore require-yield
    *run() {
      throw new KernelError("EIO", "submit_bio");
    },
  });
  assert.equal(sh.runSync("eio\n").output, "eio: Input/output error\n");
});

test("other exceptions are bugs of the port: they propagate out of the shell", () => {
  const sh = new KernelShell({ cpus: 2 });
  sh.register({
    name: "oops",
    // deno-lint-ignore require-yield
    *run() {
      throw new TypeError("broken");
    },
  });
  assert.throws(() => sh.runSync("oops\n"), /broken/);
});

test("run() and runSync() agree, and a parsed Script runs like its text", async () => {
  const script = "modprobe fake_blk depth=8\ncat /sys/fake_blk/depth\nls /sys/fake_blk\nrmmod fake_blk\ndmesg\n";
  const a = await fakeShell({ seed: 5 }).run(script);
  const b = fakeShell({ seed: 5 }).runSync(parseScript(script));
  assert.equal(a, b);
  assert.is(a.status, 0);
});

test("the same script and flags give byte-identical output", () => {
  const script = [
    "modprobe fake_blk",
    "echo 0 > /sys/devices/system/cpu/cpu1/online",
    "echo 7 > /sys/fake_blk/depth",
    "echo 1 > /sys/devices/system/cpu/cpu1/online",
    "cat /sys/devices/system/cpu/online /sys/fake_blk/depth",
    "rmmod fake_blk",
    "dmesg",
  ].join("\n");
  for (const seed of [1, 2, 3]) {
    const outs = [1, 2].map(() => fakeShell({ cpus: 4, threadsPerCore: 2, seed }).runSync(script));
    assert.equal(outs[0], outs[1], `seed ${seed}`);
    assert.is(outs[0].status, 0);
  }
});

test("exec() runs one command in the caller's task, redirections included, and returns its output", () => {
  const sh = fakeShell();
  const results: unknown[] = [];
  sh.kernel.sched.spawn("fuzzer", function* () {
    for (const line of ["modprobe fake_blk", "echo 8 > /sys/fake_blk/depth", "cat /sys/fake_blk/depth /nope", "nope x", "rmmod fake_blk"]) {
      results.push(yield* sh.exec(parseCommand(line), 3));
    }
  });
  sh.kernel.run();
  assert.equal(results, [
    { status: 0, stdout: "", stderr: "" },
    { status: 0, stdout: "", stderr: "" },
    { status: 1, stdout: "8\n", stderr: "cat: /nope: No such file or directory\n" },
    { status: 127, stdout: "", stderr: "sh: line 3: nope: command not found\n" },
    { status: 0, stdout: "", stderr: "" },
  ]);
  assert.is(sh.kernel.liveObjects(), 0);
});

test("onOutput sees every piece, by stream, in order", () => {
  const got: string[] = [];
  const sh = new KernelShell({ cpus: 1, onOutput: (fd, s) => got.push(`${fd}:${s}`) });
  sh.runSync("echo a\ncat /x\necho b\n");
  assert.equal(got, ["1:a\n", "2:cat: /x: No such file or directory\n", "1:b\n"]);
});

// deno-lint-ignore require-yield
function* echoless(): Sleepable<number> {
  return 0;
}

test("register() adds or replaces commands; a malformed one is a TypeError", () => {
  const sh = new KernelShell({ cpus: 1 });
  assert.equal(sh.commandNames(), ["cat", "dd", "dmesg", "echo", "fio", "kmemleak", "ls", "modprobe", "rmmod", "sleep"]);
  sh.register({
    name: "echo",
    builtin: true,
    // deno-lint-ignore require-yield
    *run(ctx) {
      ctx.out("mine\n");
      return 0;
    },
  });
  assert.is(sh.runSync("echo x\n").output, "mine\n");
  assert.throws(() => sh.register({ name: "", run: echoless }), TypeError);
  assert.throws(() => sh.register({ name: "x" } as unknown as ShellCommand), TypeError);
});

test("a shell can run on a given machine", () => {
  const kernel = new Kernel({ cpus: 3 });
  const sh = new KernelShell({ kernel });
  assert.is(sh.kernel, kernel);
  assert.is(sh.runSync("cat /sys/devices/system/cpu/possible\n").output, "0-2\n");
});

test("modules load and unload without leaking", () => {
  const sh = fakeShell();
  assert.is(sh.runSync("modprobe fake_blk\nrmmod fake_blk\nkmemleak\n").status, 0);
  assert.is(sh.kernel.liveObjects(), 0);
  sh.kernel.assertClean();
});

test.run();
