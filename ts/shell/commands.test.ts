// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ERRNO } from "../errors.ts";
import { getopt } from "./_getopt.ts";
import { strerror, strerrorNames } from "./_strerror.ts";
import { fakeShell } from "./_testkit.ts";
import { KernelShell, type ShellResult } from "./shell.ts";

/** Runs a script on a fresh fake_blk shell; returns [output, status]. */
function sh(script: string, shell = fakeShell()): [string, number] {
  const r: ShellResult = shell.runSync(script);
  return [r.output, r.status];
}

const LOADED = "modprobe fake_blk\n";
const UNLOAD = "rmmod fake_blk\n";

// ---------------------------------------------------------------- echo

test("echo prints its words with one blank between and a newline", () => {
  assert.equal(sh("echo\necho a   b 'c  d'\n"), ["\na b c  d\n", 0]);
});

test("echo -n, -e and -E are options only as leading words, as in bash", () => {
  assert.equal(sh("echo -n a\necho -e 'x\\ty\\n'\necho -E 'x\\ty'\n"), ["ax\ty\n\nx\\ty\n", 0]);
  // echo takes octal only as \0nnn (\101 stays as it is), hex as \xHH
  assert.equal(sh("echo -ne 'a\\101\\x42\\0103'\n"), ["a\\101BC", 0]);
  assert.equal(sh("echo -e 'cut\\chere'\necho a -n\necho -x\necho --\n"), ["cuta -n\n-x\n--\n", 0]);
  assert.equal(sh("echo -e '\\q \\\\'\n"), ["\\q \\\n", 0]);
});

// ---------------------------------------------------------------- cat

test("cat prints files one after another", () => {
  assert.equal(sh(`${LOADED}cat /sys/fake_blk/depth /sys/fake_blk/ro\n${UNLOAD}`), ["64\nro\n", 0]);
});

test("cat reports each file it cannot read, with strerror, and goes on", () => {
  const [out, status] = sh(
    `${LOADED}cat /sys/fake_blk/nope /sys/fake_blk/ro /sys/fake_blk /sys/fake_blk/wo /sys/fake_blk/broken\n${UNLOAD}`,
  );
  assert.is(
    out,
    "cat: /sys/fake_blk/nope: No such file or directory\nro\ncat: /sys/fake_blk: Is a directory\n" +
      "cat: /sys/fake_blk/wo: Permission denied\ncat: /sys/fake_blk/broken: Input/output error\n",
  );
  assert.is(status, 1);
});

test("cat with no file reads an empty standard input; a bad option is coreutils' message", () => {
  assert.equal(sh("cat\ncat -\n"), ["", 0]);
  assert.equal(sh("cat -A /x\n"), ["cat: invalid option -- 'A'\nTry 'cat --help' for more information.\n", 1]);
});

// ---------------------------------------------------------------- ls

test("ls prints one name a line, in C-locale order, as `ls -1`", () => {
  assert.equal(sh(`${LOADED}ls /sys/fake_blk\n${UNLOAD}`), ["broken\nbug\ndepth\nro\nshort\nwarn\nwo\n", 0]);
  assert.equal(sh("ls -1 /\nls\n"), ["dev\nsys\ndev\nsys\n", 0]);
  assert.equal(sh("ls /sys/kernel\n"), ["debug\n", 0]);
});

test("ls of a file prints its name as given; several operands: files first, then each directory with a header", () => {
  assert.equal(sh("ls /sys/devices/system/cpu/cpu1/online\n"), ["/sys/devices/system/cpu/cpu1/online\n", 0]);
  assert.equal(
    sh("ls /sys/devices/system/cpu/cpu1 /dev/null /dev //sys/kernel/debug/\n"),
    ["/dev/null\n\n//sys/kernel/debug/:\nkmemleak\n\n/dev:\nnull\nzero\n\n/sys/devices/system/cpu/cpu1:\nonline\n", 0],
  );
});

test("ls reports a missing operand first and exits 2; a bad option exits 2", () => {
  const shell = fakeShell();
  const r = shell.runSync("ls /dev/null /nope\n");
  assert.is(r.stderr, "ls: cannot access '/nope': No such file or directory\n");
  assert.is(r.stdout, "/dev/null\n");
  assert.is(r.status, 1);
  assert.equal(sh("ls -l /\n"), ["ls: invalid option -- 'l'\nTry 'ls --help' for more information.\n", 1]);
});

// ---------------------------------------------------------------- dmesg

test("dmesg prints the log with printk timestamps; -t drops them; -l keeps some levels", () => {
  const shell = fakeShell();
  shell.kernel.log.printk("err", "boom");
  const [out] = sh(`${LOADED}dmesg\ndmesg -t -l err,warn\ndmesg --level=info --notime\n${UNLOAD}`, shell);
  assert.is(
    out,
    "[    0.000000] boom\n[    0.000010] fake_blk: module loaded, depth 64\n" +
      "boom\n" +
      "fake_blk: module loaded, depth 64\n",
  );
});

test("dmesg -c prints then clears; -C clears silently", () => {
  const shell = fakeShell();
  shell.kernel.log.printk("info", "one");
  assert.equal(sh("dmesg -c -t\ndmesg\n", shell), ["one\n", 0]);
  shell.kernel.log.printk("info", "two");
  assert.equal(sh("dmesg --clear\ndmesg\n", shell), ["", 0]);
});

test("dmesg's errors are util-linux's", () => {
  assert.equal(sh("dmesg -l bogus\n"), ["dmesg: unknown level 'bogus'\n", 1]);
  assert.equal(sh("dmesg -z\n"), ["dmesg: invalid option -- 'z'\nTry 'dmesg --help' for more information.\n", 1]);
  assert.equal(sh("dmesg -l\n"), ["dmesg: option requires an argument -- 'l'\nTry 'dmesg --help' for more information.\n", 1]);
  assert.equal(sh("dmesg now\n"), ["dmesg: bad usage\nTry 'dmesg --help' for more information.\n", 1]);
});

// ---------------------------------------------------------------- kmemleak

test("kmemleak on a clean machine prints nothing and succeeds", () => {
  assert.equal(sh("kmemleak\n"), ["", 0]);
});

test("kmemleak reports a leak, logs the scan's line, and fails the script", () => {
  const shell = fakeShell();
  const leaked = {};
  shell.kernel.kmemleak.track(leaked, { size: 96, cache: "request_queue", site: "blk_alloc_queue_node" });
  const r = shell.runSync("kmemleak\n");
  assert.match(r.output, /^unreferenced object 0x[0-9a-f]{16} \(size 96\):\n/);
  assert.match(r.output, /cache "request_queue", site "blk_alloc_queue_node"\n/);
  assert.is(r.status, 1);
  assert.ok(shell.kernel.log.lines().some((l) => l.endsWith("kmemleak: 1 new suspected memory leaks (see /sys/kernel/debug/kmemleak)")));
  // As reading the file again does: the same report, no new log line.
  const again = shell.runSync("kmemleak\n");
  assert.is(again.output, r.output);
  assert.is(shell.kernel.log.lines().filter((l) => l.includes("new suspected")).length, 1);
  shell.kernel.kmemleak.untrack(leaked);
});

test("kmemleak waits for queued RCU callbacks before it scans: an object being freed is no leak", () => {
  const shell = fakeShell();
  const obj = {};
  shell.register({
    name: "defer-free",
    // deno-lint-ignore require-yield
    *run(ctx) {
      ctx.kernel.kmemleak.track(obj, { size: 64, cache: "kmalloc-64", site: "test" });
      ctx.kernel.rcu.callRcu(() => ctx.kernel.kmemleak.untrack(obj));
      return 0;
    },
  });
  assert.equal(sh("defer-free\nkmemleak\n", shell), ["", 0]);
  assert.is(shell.kernel.liveObjects(), 0);
});

test("kmemleak is `echo scan > /sys/kernel/debug/kmemleak; cat /sys/kernel/debug/kmemleak`", () => {
  const leakOne = (shell: KernelShell) => shell.kernel.kmemleak.track({}, { size: 8, cache: "kmalloc-8", site: "x" });
  const a = fakeShell();
  const b = fakeShell();
  leakOne(a);
  leakOne(b);
  assert.equal(a.runSync("kmemleak\n"), b.runSync("echo scan > /sys/kernel/debug/kmemleak\ncat /sys/kernel/debug/kmemleak\n"));
  assert.equal(sh("echo clear > /sys/kernel/debug/kmemleak\nkmemleak\n", a), ["", 1], "cleared; the earlier report still counts");
});

test("the kmemleak file takes v4.4's commands by prefix; the rest is EINVAL", () => {
  const ok = ["scan=on", "scan=off", "scan=600", "stack=on", "stack=off", "scanning"];
  assert.equal(sh(ok.map((c) => `echo ${c} > /sys/kernel/debug/kmemleak\n`).join("")), ["", 0]);
  for (const bad of ["off", "dump=0xffff", "scan=x", "hello"]) {
    assert.equal(sh(`echo ${bad} > /sys/kernel/debug/kmemleak\n`), ["sh: line 1: echo: write error: Invalid argument\n", 1], bad);
  }
  assert.equal(sh("kmemleak now\n"), ["sh: line 1: kmemleak: usage: kmemleak\n", 1]);
});

// ---------------------------------------------------------------- modprobe / rmmod

test("modprobe loads a module with its parameters; rmmod unloads it", () => {
  const shell = fakeShell();
  const [out, status] = sh("modprobe fake_blk depth=16\ncat /sys/fake_blk/depth\nrmmod fake_blk\nls /sys/fake_blk\n", shell);
  assert.is(out, "16\nls: cannot access '/sys/fake_blk': No such file or directory\n");
  assert.is(status, 1);
  assert.is(shell.kernel.liveObjects(), 0);
});

test("modprobe of a loaded module succeeds silently, whatever the parameters (kmod)", () => {
  const shell = fakeShell();
  assert.equal(sh("modprobe fake_blk\nmodprobe fake_blk depth=x bogus=1\nmodprobe fake-blk\ncat /sys/fake_blk/depth\nrmmod fake-blk\n", shell), ["64\n", 0]);
  assert.ok(!shell.kernel.log.lines().some((l) => l.includes("bogus")), "the kernel never saw the second load");
});

test("a default shell loads null_blk", () => {
  const shell = new KernelShell({ cpus: 2 });
  assert.equal(sh("modprobe null_blk nr_devices=1\nls /sys/block\nrmmod null_blk\nkmemleak\n", shell), ["nullb0\n", 0]);
  assert.is(shell.kernel.liveObjects(), 0);
});

test("modprobe's failures are kmod's texts", () => {
  assert.equal(sh("modprobe nvme\n"), ["modprobe: FATAL: Module nvme not found in directory /lib/modules/4.4.0\n", 1]);
  assert.equal(sh("modprobe\n"), ["modprobe: ERROR: missing parameters. See -h.\n", 1]);
  assert.equal(sh("modprobe -r fake_blk\n"), ["modprobe: invalid option -- 'r'\n", 1]);
  const shell = fakeShell();
  assert.equal(sh("modprobe fake-blk depth=0\nls /sys/fake_blk\n", shell), [
    "modprobe: ERROR: could not insert 'fake_blk': Invalid argument\nls: cannot access '/sys/fake_blk': No such file or directory\n",
    1,
  ]);
  assert.ok(shell.kernel.log.lines().some((l) => l.endsWith("fake_blk: `0' invalid for parameter `depth'")));
});

test("an unknown module parameter is the module loader's warning, and the load goes on", () => {
  const shell = fakeShell();
  assert.equal(sh("modprobe fake_blk colour=blue\ndmesg -t\nrmmod fake_blk\n", shell), [
    "fake_blk: unknown parameter 'colour' ignored\nfake_blk: module loaded, depth 64\n",
    0,
  ]);
});

test("rmmod's failures are kmod's texts", () => {
  assert.equal(sh("rmmod fake_blk\n"), ["rmmod: ERROR: Module fake_blk is not currently loaded\n", 1]);
  assert.equal(sh("rmmod nvme\n"), ["rmmod: ERROR: Module nvme is not currently loaded\n", 1]);
  assert.equal(sh("rmmod\n"), ["rmmod: ERROR: missing module name.\n", 1]);
  const shell = fakeShell();
  assert.equal(sh("modprobe fake_blk busy=1\nrmmod fake_blk\ncat /sys/fake_blk/ro\n", shell), [
    "rmmod: ERROR: Module fake_blk is in use\nro\n",
    1,
  ]);
});

// ---------------------------------------------------------------- sleep

test("sleep takes coreutils' numbers and suffixes, and adds them up", () => {
  const shell = fakeShell();
  assert.equal(sh("sleep 1\nsleep 0.5 .25\nsleep 1m 1s\nsleep 0\n", shell), ["", 0]);
  assert.is(shell.kernel.clock.now(), 62.75e9);
});

test("sleep's errors are coreutils'", () => {
  const tryHelp = "Try 'sleep --help' for more information.\n";
  assert.equal(sh("sleep\n"), [`sleep: missing operand\n${tryHelp}`, 1]);
  assert.equal(sh("sleep 1x\n"), [`sleep: invalid time interval '1x'\n${tryHelp}`, 1]);
  assert.equal(sh("sleep -1\n"), [`sleep: invalid option -- '1'\n${tryHelp}`, 1]);
});

// ---------------------------------------------------------------- helpers

test("strerror() knows every errno the port uses, in glibc's words", () => {
  for (const name of Object.keys(ERRNO)) assert.ok(strerrorNames().includes(name), name);
  assert.is(strerror("EINVAL"), "Invalid argument");
  assert.is(strerror("EBUSY"), "Device or resource busy");
  assert.is(strerror("EWHAT"), "Unknown error EWHAT");
});

test("getopt() permutes like GNU, and reports long options as glibc does", () => {
  const spec = { short: "cl:", long: { clear: "c", level: "l" } };
  assert.equal(getopt("x", ["a", "-cl", "err", "b", "--level=warn", "--", "-c"], spec), {
    options: [["c", null], ["l", "err"], ["l", "warn"]],
    operands: ["a", "b", "-c"],
  });
  assert.is(getopt("x", ["--colour"], spec), "x: unrecognized option '--colour'\n");
  assert.is(getopt("x", ["--clear=1"], spec), "x: option '--clear' doesn't allow an argument\n");
  assert.is(getopt("x", ["--level"], spec), "x: option '--level' requires an argument\n");
});

test.run();
