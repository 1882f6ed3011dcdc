// SPDX-License-Identifier: GPL-2.0-only
/**
 * The commands of `blkmq sh`, each printing what its Linux original prints
 * (bash builtins, coreutils, util-linux dmesg, kmod), errors included.
 *
 * | command | does | fails with |
 * |---|---|---|
 * | `modprobe MOD [k=v]…` | loads MOD with the parameters; nothing when already loaded | `modprobe: FATAL: Module MOD not found in directory /lib/modules/4.4.0`, `modprobe: ERROR: could not insert 'MOD': <strerror>` |
 * | `rmmod MOD…` | unloads | `rmmod: ERROR: Module MOD is not currently loaded`, `… is in use`, `could not remove module MOD: <strerror>` |
 * | `cat PATH…` | prints files | `cat: PATH: <strerror>` |
 * | `ls [-1] [PATH…]` | one name a line (`ls -1`: output is not a terminal), C-locale order | `ls: cannot access 'PATH': No such file or directory` (status 2) |
 * | `echo [-neE] WORD…` | bash's builtin | `sh: line N: echo: write error: <strerror>` when a redirection's write fails |
 * | `dmesg [-c\|-C\|-t\|-l LEVELS]` | the kernel log with timestamps; -c print and clear, -C clear, -t no timestamps, -l only these levels | |
 * | `kmemleak` | `echo scan > /sys/kernel/debug/kmemleak; cat /sys/kernel/debug/kmemleak` | |
 * | `sleep N[smhd]…` | sleeps in virtual time, interruptibly (`hrtimer_nanosleep()`) | `sleep: invalid time interval 'X'` |
 *
 * @module
 */

import { formatTimestamp, type KlogLevel } from "../kernel/klog.ts";
import { decodeEscapes } from "./_escapes.ts";
import { getopt, type GetoptSpec, type Parsed } from "./_getopt.ts";
import { DEBUGFS } from "./_pseudofs.ts";
import { errnoOf, strerror } from "./_strerror.ts";
import type { CommandContext, ShellCommand } from "./shell.ts";
import { ddCommand } from "./dd.ts";
import { fioCommand } from "./fio.ts";

/** Parses the options; on bad ones, prints glibc's error and returns null. */
function options(ctx: CommandContext, spec: GetoptSpec): Parsed | null {
  const p = getopt(ctx.argv[0], ctx.argv.slice(1), spec);
  if (typeof p !== "string") return p;
  ctx.err(p);
  return null;
}

/** `uname -r` of the machine, from the log's kernel identity ("4.4.0 #1 Not tainted"). */
function release(ctx: CommandContext): string {
  return ctx.kernel.log.kernelIdent().split(" ")[0];
}

/** bash's builtin `echo` (builtins/echo.def): `-n`, `-e`, `-E`, only as leading words. */
export const echoCommand: ShellCommand = {
  name: "echo",
  builtin: true,
  // deno-lint-ignore require-yield
  *run(ctx) {
    const args = ctx.argv.slice(1);
    let newline = true;
    let escapes = false;
    while (args.length > 0 && /^-[neE]+$/.test(args[0])) {
      for (const c of args.shift()!.slice(1)) {
        if (c === "n") newline = false;
        else escapes = c === "e";
      }
    }
    const { text, cut } = escapes ? decodeEscapes(args.join(" "), "echo") : { text: args.join(" "), cut: false };
    ctx.out(newline && !cut ? `${text}\n` : text);
    return 0;
  },
};

/** coreutils `cat`: each file in turn; a failed one is reported and skipped. */
export const catCommand: ShellCommand = {
  name: "cat",
  *run(ctx) {
    const p = options(ctx, { short: "", tryHelp: true });
    if (p === null) return 1;
    let status = 0;
    for (const path of p.operands) {
      if (path === "-") continue; // standard input: the shell gives commands none
      try {
        ctx.out(yield* ctx.fs.read(path));
      } catch (e) {
        const code = errnoOf(e);
        if (code === null) throw e;
        const why = ctx.fs.kind(path) === "dir" ? "EISDIR" : code;
        ctx.err(`cat: ${path}: ${strerror(why)}\n`);
        status = 1;
      }
    }
    return status;
  },
};

/**
 * coreutils `ls` as `ls -1` prints when its output is not a terminal: errors
 * first, then file operands, then each directory (with a `DIR:` header when
 * there are several operands).
 */
export const lsCommand: ShellCommand = {
  name: "ls",
  // deno-lint-ignore require-yield
  *run(ctx) {
    const p = options(ctx, { short: "1", tryHelp: true });
    if (p === null) return 2;
    const operands = p.operands.length > 0 ? p.operands : ["."];
    let status = 0;
    const files: string[] = [];
    const dirs: string[] = [];
    for (const path of operands) {
      const kind = ctx.fs.kind(path);
      if (kind === null) {
        ctx.err(`ls: cannot access '${path}': No such file or directory\n`);
        status = 2;
      } else (kind === "dir" ? dirs : files).push(path);
    }
    const sections: string[] = [];
    if (files.length > 0) sections.push(files.sort().map((f) => `${f}\n`).join(""));
    for (const dir of dirs.sort()) {
      let names: string[];
      try {
        names = ctx.fs.ls(dir);
      } catch (e) {
        const code = errnoOf(e);
        if (code === null) throw e;
        ctx.err(`ls: cannot open directory '${dir}': ${strerror(code)}\n`);
        status = 2;
        continue;
      }
      const header = operands.length > 1 ? `${dir}:\n` : "";
      sections.push(header + names.map((n) => `${n}\n`).join(""));
    }
    ctx.out(sections.join("\n"));
    return status;
  },
};

/** util-linux `dmesg` level names, by the kernel's level. */
const DMESG_LEVELS: Readonly<Record<string, KlogLevel>> = {
  emerg: "emerg",
  alert: "alert",
  crit: "crit",
  err: "err",
  warn: "warning",
  notice: "notice",
  info: "info",
  debug: "debug",
};

/** util-linux `dmesg`: `-c`/`--read-clear`, `-C`/`--clear`, `-t`/`--notime`, `-l`/`--level LIST`. */
export const dmesgCommand: ShellCommand = {
  name: "dmesg",
  // deno-lint-ignore require-yield
  *run(ctx) {
    const p = options(ctx, {
      short: "cCtl:",
      long: { "read-clear": "c", clear: "C", notime: "t", level: "l" },
      tryHelp: true,
    });
    if (p === null) return 1;
    if (p.operands.length > 0) {
      ctx.err(`dmesg: bad usage\nTry 'dmesg --help' for more information.\n`);
      return 1;
    }
    const log = ctx.kernel.log;
    let levels: KlogLevel[] | undefined;
    let mode: "print" | "read-clear" | "clear" = "print";
    let notime = false;
    for (const [c, v] of p.options) {
      if (c === "c") mode = "read-clear";
      else if (c === "C") mode = "clear";
      else if (c === "t") notime = true;
      else {
        levels ??= [];
        for (const name of v!.split(",")) {
          const l = DMESG_LEVELS[name];
          if (l === undefined) {
            ctx.err(`dmesg: unknown level '${name}'\n`);
            return 1;
          }
          levels.push(l);
        }
      }
    }
    if (mode !== "clear") {
      const keep = levels === undefined ? null : new Set<string>(levels);
      for (const r of log.records()) {
        if (keep !== null && !keep.has(r.level)) continue;
        ctx.out(notime ? `${r.text}\n` : `${formatTimestamp(r.ns)}${r.text}\n`);
      }
    }
    if (mode !== "print") log.clear();
    return 0;
  },
};

/**
 * `kmemleak`: a scan, then the report, exactly as
 * `echo scan > /sys/kernel/debug/kmemleak; cat /sys/kernel/debug/kmemleak`.
 * The scan logs `kmemleak: N new suspected memory leaks` when it finds new
 * ones, which makes the script's status 1.
 */
export const kmemleakCommand: ShellCommand = {
  name: "kmemleak",
  builtin: true,
  *run(ctx) {
    if (ctx.argv.length > 1) {
      ctx.diag("kmemleak: usage: kmemleak");
      return 2;
    }
    yield* ctx.fs.write(`${DEBUGFS}/kmemleak`, "scan\n");
    ctx.out(yield* ctx.fs.read(`${DEBUGFS}/kmemleak`));
    return 0;
  },
};

/**
 * kmod `modprobe MOD [param=value]…`: nothing when MOD is already loaded
 * (whatever the parameters); otherwise the kernel's `load_module()` through
 * the module's init. A word without `=` is passed with the value "".
 */
export const modprobeCommand: ShellCommand = {
  name: "modprobe",
  *run(ctx) {
    const p = options(ctx, { short: "" });
    if (p === null) return 1;
    const [mod, ...words] = p.operands;
    if (mod === undefined) {
      ctx.err("modprobe: ERROR: missing parameters. See -h.\n");
      return 1;
    }
    if (!ctx.modules.has(mod)) {
      ctx.err(`modprobe: FATAL: Module ${mod} not found in directory /lib/modules/${release(ctx)}\n`);
      return 1;
    }
    if (ctx.modules.loaded(mod)) return 0;
    const params: Record<string, string> = {};
    for (const w of words) {
      const eq = w.indexOf("=");
      params[eq < 0 ? w : w.slice(0, eq)] = eq < 0 ? "" : w.slice(eq + 1);
    }
    try {
      yield* ctx.modules.load(mod, params);
    } catch (e) {
      const code = errnoOf(e);
      if (code === null) throw e;
      ctx.err(`modprobe: ERROR: could not insert '${mod.replaceAll("-", "_")}': ${strerror(code)}\n`);
      return 1;
    }
    return 0;
  },
};

/** kmod `rmmod MOD…`. */
export const rmmodCommand: ShellCommand = {
  name: "rmmod",
  *run(ctx) {
    const p = options(ctx, { short: "" });
    if (p === null) return 1;
    if (p.operands.length === 0) {
      ctx.err("rmmod: ERROR: missing module name.\n");
      return 1;
    }
    let status = 0;
    for (const arg of p.operands) {
      const mod = arg.replaceAll("-", "_");
      const notLoaded = `rmmod: ERROR: Module ${mod} is not currently loaded\n`;
      if (!ctx.modules.has(mod) || !ctx.modules.loaded(mod)) {
        ctx.err(notLoaded);
        status = 1;
        continue;
      }
      try {
        yield* ctx.modules.unload(mod);
      } catch (e) {
        const code = errnoOf(e);
        if (code === null) throw e;
        if (code === "ENOENT") ctx.err(notLoaded);
        else if (code === "EBUSY") ctx.err(`rmmod: ERROR: Module ${mod} is in use\n`);
        else ctx.err(`rmmod: ERROR: could not remove module ${mod}: ${strerror(code)}\n`);
        status = 1;
      }
    }
    return status;
  },
};

const SLEEP_UNITS: Readonly<Record<string, number>> = { "": 1, s: 1, m: 60, h: 3600, d: 86400 };

/** coreutils `sleep NUMBER[SUFFIX]…`: the sum, in virtual time, as an interruptible sleep. */
export const sleepCommand: ShellCommand = {
  name: "sleep",
  *run(ctx) {
    const p = options(ctx, { short: "", tryHelp: true });
    if (p === null) return 1;
    if (p.operands.length === 0) {
      ctx.err("sleep: missing operand\nTry 'sleep --help' for more information.\n");
      return 1;
    }
    let ns = 0;
    for (const a of p.operands) {
      const m = /^(\d+\.?\d*|\.\d+)([smhd]?)$/.exec(a);
      if (m === null) {
        ctx.err(`sleep: invalid time interval '${a}'\nTry 'sleep --help' for more information.\n`);
        return 1;
      }
      ns += Math.ceil(Number(m[1]) * SLEEP_UNITS[m[2]] * 1e9);
    }
    if (!Number.isSafeInteger(ns)) {
      ctx.err(`sleep: invalid time interval '${p.operands.join(" ")}'\n`);
      return 1;
    }
    // Mirrors do_nanosleep() (kernel/time/hrtimer.c): TASK_INTERRUPTIBLE, woken by an hrtimer.
    const s = ctx.kernel.sched;
    s.mightSleep("kernel/time/hrtimer.c");
    s.blockCurrent("hrtimer_nanosleep", true);
    s.armWakeup(ctx.kernel.clock.now() + ns);
    yield;
    return 0;
  },
};

/** The commands every shell starts with. */
export const SHELL_COMMANDS: readonly ShellCommand[] = [
  catCommand,
  ddCommand,
  dmesgCommand,
  echoCommand,
  fioCommand,
  kmemleakCommand,
  lsCommand,
  modprobeCommand,
  rmmodCommand,
  sleepCommand,
];
