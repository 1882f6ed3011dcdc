// SPDX-License-Identifier: GPL-2.0-only
/**
 * The kernel shell: runs `blkmq sh` scripts (ts/shell/parse.ts) on a
 * simulated machine, the way a kernel developer drives a test box from a
 * root shell.
 *
 * Each command runs as a user task of its own (named `sh` for builtins such
 * as `echo`, after the program otherwise: `cat`, `modprobe`), and the
 * scheduler runs until that task exits, so commands sleep, take mutexes and
 * wait for hotplug notifiers like real processes, with every other task of
 * the machine interleaved by the seed. Output is exactly what the commands
 * print; diagnostics of the shell itself read `sh: line N: …` as bash prints
 * them for a script.
 *
 * A failing command does not stop the script (no `set -e`); a syntax error
 * does, as in bash. The result's status is 1 when any command failed or the
 * kernel log has shown a finding (WARN, BUG, lockdep, hung task, KASAN,
 * kmemleak) since the shell started, even if `dmesg -C` cleared it. Leaks
 * count only once a `kmemleak` command (or a write of `scan` to
 * /sys/kernel/debug/kmemleak) has reported them: the shell never scans on
 * its own.
 *
 * A command that never finishes (a deadlock) is left blocked and counts as
 * failed; the hung-task report lands in the log and the script goes on, so
 * a later `dmesg` shows it. A BUG() in a command's task kills that task
 * (`Segmentation fault`). {@link KernelShell.exec} runs one command inside
 * the caller's own task instead (the fuzzer's programs do).
 *
 * @module
 */

import { KernelBug, KernelError } from "../errors.ts";
import { Kernel, type KernelOptions } from "../kernel/kernel.ts";
import type { RunOptions, RunResult, Sleepable, Task } from "../kernel/sched.ts";
import type { KernelModule } from "../drivers/module.ts";
import { nullBlkModule } from "../drivers/null_blk.ts";
import { fileModule } from "../drivers/file.ts";
import { ramModule } from "../drivers/ram.ts";
import { ModuleList } from "./_modules.ts";
import { DEBUGFS, debugFs, devFs } from "./_pseudofs.ts";
import { strerror } from "./_strerror.ts";
import { type FileSystem, Vfs } from "./_vfs.ts";
import { SHELL_COMMANDS } from "./commands.ts";
export { SHELL_COMMANDS } from "./commands.ts";
import { type Command, parseScript, type Script } from "./parse.ts";

export type { KernelModule } from "../drivers/module.ts";
export type { ModuleList } from "./_modules.ts";
export { strerror } from "./_strerror.ts";
export type { FileKind, FileSystem, Vfs } from "./_vfs.ts";

/** What a command sees while it runs (inside its task). */
export interface CommandContext {
  readonly shell: KernelShell;
  readonly kernel: Kernel;
  /** The file tree: sysfs at /sys, debugfs at /sys/kernel/debug, /dev/null. */
  readonly fs: Vfs;
  readonly modules: ModuleList;
  /** The words, `argv[0]` being the command's name. */
  readonly argv: readonly string[];
  /** The script line the command is on. */
  readonly line: number;
  /** Writes to standard output (the terminal, or the redirection's buffer). */
  out(text: string): void;
  /** Writes to standard error. */
  err(text: string): void;
  /** A builtin's diagnostic on standard error: `sh: line N: TEXT`. */
  diag(text: string): void;
}

/**
 * A command of the shell. The registry is open: `shell.register()` adds one
 * (the I/O commands do).
 */
export interface ShellCommand {
  /** The name it is called by (`argv[0]`). */
  readonly name: string;
  /**
   * A shell builtin (runs in the shell's task `sh`; bash reports its write
   * errors as `sh: line N: NAME: write error: …`) rather than a program
   * (a task named NAME; `NAME: write error: …`). Default false.
   */
  readonly builtin?: boolean;
  /** Runs inside the command's task; may sleep. @returns the exit status */
  run(ctx: CommandContext): Sleepable<number>;
}

/** Boot options and wiring of a {@link KernelShell}. */
export interface KernelShellOptions extends Pick<KernelOptions, "cpus" | "threadsPerCore" | "seed"> {
  /** Run on this machine instead of booting one from cpus/threadsPerCore/seed. */
  kernel?: Kernel;
  /** The modules modprobe finds; default {@link DEFAULT_MODULES}. */
  modules?: Iterable<KernelModule>;
  /** What is mounted at /sys; default `kernel.sysfs`. */
  sysfs?: FileSystem;
  /** The commands; default {@link SHELL_COMMANDS}. */
  commands?: Iterable<ShellCommand>;
  /** Called with every piece of output as it is printed (fd 1 or 2). */
  onOutput?: (fd: 1 | 2, text: string) => void;
}

/** The result of one {@link KernelShell.run}. */
export interface ShellResult {
  /** 0, or 1 when a command failed or the kernel log has shown a finding. */
  readonly status: 0 | 1;
  /** Standard output and error interleaved, as a terminal shows them. */
  readonly output: string;
  readonly stdout: string;
  readonly stderr: string;
  /** Commands (and syntax errors) that failed in this run. */
  readonly failed: number;
}

/** The modules `modprobe` finds on a default shell. */
export const DEFAULT_MODULES: readonly KernelModule[] = [nullBlkModule, ramModule, fileModule];

/** What {@link KernelShell.exec} returns. */
export interface ExecResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** How a command's task ended. */
type Outcome = "exited" | "killed" | "hung" | "panic";

/** Virtual time one scheduler run may take before the shell looks at its command again. */
const SLICE_NS = 3600e9;
/** BUGs outside the command's own task within one command before the shell gives the machine up. */
const MAX_FOREIGN_BUGS = 64;

/**
 * A root shell on a fresh simulated machine.
 *
 * @example
 * const sh = new KernelShell({ cpus: 2 });
 * const r = sh.runSync("echo hello\nsleep 1\n");
 * r.output; // "hello\n"
 * r.status; // 0
 */
export class KernelShell {
  readonly kernel: Kernel;
  readonly fs: Vfs;
  readonly modules: ModuleList;
  readonly #commands = new Map<string, ShellCommand>();
  readonly #onOutput: KernelShellOptions["onOutput"];
  #findings = 0;
  #panicked = false;
  /** The output of the current run, per stream and interleaved. */
  #out = { all: "", 1: "", 2: "" };

  /** @throws {TypeError} / {RangeError} on bad options (see Kernel) */
  constructor(opts: KernelShellOptions = {}) {
    const { kernel, modules, sysfs, commands, onOutput, ...boot } = opts;
    this.kernel = kernel ?? new Kernel(boot);
    this.#onOutput = onOutput;
    this.kernel.log.subscribe((rec) => {
      if (rec.finding) this.#findings++;
    });
    this.fs = new Vfs();
    this.fs.mount("/dev", devFs());
    this.fs.mount("/sys", sysfs ?? this.kernel.sysfs);
    this.fs.mount(DEBUGFS, debugFs(this.kernel.kmemleak, this.kernel.rcu));
    this.modules = new ModuleList(this.kernel, modules ?? DEFAULT_MODULES);
    for (const c of commands ?? SHELL_COMMANDS) this.register(c);
  }

  /**
   * Adds a command, replacing one of the same name.
   *
   * @throws {TypeError} when it has no name or no run()
   */
  register(cmd: ShellCommand): void {
    if (typeof cmd?.name !== "string" || cmd.name === "" || typeof cmd.run !== "function") {
      throw new TypeError("KernelShell.register: a command needs a name and run()");
    }
    this.#commands.set(cmd.name, cmd);
  }

  /** The registered command of that name. */
  command(name: string): ShellCommand | undefined {
    return this.#commands.get(name);
  }

  /** The registered command names, sorted. */
  commandNames(): string[] {
    return [...this.#commands.keys()].sort();
  }

  /**
   * Runs a script (text or parsed) to its end, or to its first syntax error.
   * Commands that wait for host events (real I/O) need this async form.
   */
  async run(script: string | Script): Promise<ShellResult> {
    const steps = this.#begin(script);
    let r = steps.next();
    while (!r.done) r = steps.next(await this.#driveAsync(r.value));
    return r.value;
  }

  /**
   * {@link KernelShell.run} without a promise, for callers that cannot await
   * (a fuzz target). Every command runs on virtual time alone.
   *
   * @throws {TypeError} when a command waits for host events
   */
  runSync(script: string | Script): ShellResult {
    const steps = this.#begin(script);
    let r = steps.next();
    while (!r.done) r = steps.next(this.#driveSync(r.value));
    return r.value;
  }

  /**
   * Runs one command inside the current task (a fuzz program's, say) exactly
   * as a script line runs, redirections included, and returns what it
   * printed instead of printing it. Must be run by a task: it may sleep.
   *
   * @param line the line number its diagnostics name
   * @returns the exit status (127 for an unknown command) and the output
   * @example
   * k.sched.spawn("fuzz", function* () { yield* sh.exec(parseCommand("cat /sys/block/nullb0/size")); });
   */
  *exec(cmd: Command, line = 1): Sleepable<ExecResult> {
    const out: Record<1 | 2, string> = { 1: "", 2: "" };
    const write = (fd: 1 | 2, text: string) => void (out[fd] += text);
    const def = this.#resolve(cmd, line, write);
    const status = def === undefined ? 127 : yield* this.#execute(def, cmd, line, write);
    return { status, stdout: out[1], stderr: out[2] };
  }

  /** The script's steps: yields each command's task, receives how it ended. */
  *#begin(script: string | Script): Generator<Task, ShellResult, Outcome> {
    const lines = typeof script === "string" ? parseScript(script) : script;
    if (!Array.isArray(lines)) throw new TypeError("KernelShell.run: script must be text or a parsed Script");
    this.#out = { all: "", 1: "", 2: "" };
    let failed = 0;
    for (const l of lines) {
      if (this.#panicked) break;
      if (l.kind === "error") {
        for (const m of l.messages) this.#write(2, `sh: ${m}\n`);
        failed++;
        break;
      }
      if (l.kind === "command" && !(yield* this.#command(l.command, l.line))) failed++;
    }
    const clean = this.#findings === 0 && this.kernel.log.isClean();
    const { all, 1: stdout, 2: stderr } = this.#out;
    return { status: failed === 0 && clean ? 0 : 1, output: all, stdout, stderr, failed };
  }

  /** One command: its task, and how it ended. @returns whether it succeeded */
  *#command(cmd: Command, line: number): Generator<Task, boolean, Outcome> {
    const write = (fd: 1 | 2, text: string) => this.#write(fd, text);
    const def = this.#resolve(cmd, line, write);
    if (def === undefined) return false;
    let status = 0;
    const execute = () => this.#execute(def, cmd, line, write);
    const body = function* () {
      status = yield* execute();
    };
    const task = this.kernel.sched.spawn(def === null || def.builtin ? "sh" : def.name, body, { kthread: false });
    const outcome = yield task;
    if (outcome === "killed") this.#write(2, "Segmentation fault\n");
    return outcome === "exited" && status === 0;
  }

  /** A command's definition; null for a bare redirection; undefined, after bash's message, for an unknown name. */
  #resolve(cmd: Command, line: number, write: (fd: 1 | 2, text: string) => void): ShellCommand | null | undefined {
    const [name] = cmd.argv;
    if (name === undefined) return null;
    const def = this.#commands.get(name);
    if (def === undefined) write(2, `sh: line ${line}: ${name}: command not found\n`);
    return def;
  }

  /**
   * Inside the task: opens the redirections, runs the command, writes what
   * it printed to them; the rest goes to `write` (the terminal).
   */
  *#execute(
    def: ShellCommand | null,
    cmd: Command,
    line: number,
    write: (fd: 1 | 2, text: string) => void,
  ): Sleepable<number> {
    const sinks: Record<1 | 2, string | null> = { 1: null, 2: null };
    for (const r of cmd.redirects) {
      const kind = this.fs.kind(r.path);
      if (kind !== "file") {
        write(2, `sh: line ${line}: ${r.path}: ${strerror(kind === "dir" ? "EISDIR" : "ENOENT")}\n`);
        return 1;
      }
      sinks[r.fd] = r.path;
    }
    const bufs: Record<1 | 2, string> = { 1: "", 2: "" };
    const emit = (fd: 1 | 2, text: string) => {
      if (sinks[fd] === null) write(fd, text);
      else bufs[fd] += text;
    };
    const name = def?.name ?? "";
    const ctx: CommandContext = {
      shell: this,
      kernel: this.kernel,
      fs: this.fs,
      modules: this.modules,
      argv: cmd.argv,
      line,
      out: (text) => emit(1, text),
      err: (text) => emit(2, text),
      diag: (text) => emit(2, `sh: line ${line}: ${text}\n`),
    };
    let status = 0;
    if (def !== null) {
      try {
        status = yield* def.run(ctx);
      } catch (e) {
        if (!(e instanceof KernelError)) throw e;
        ctx.err(`${name}: ${strerror(e.code)}\n`);
        status = 1;
      }
    }
    for (const fd of [1, 2] as const) {
      const path = sinks[fd];
      if (path === null || bufs[fd] === "") continue;
      const code = yield* this.#flush(path, bufs[fd]);
      if (code === null) continue;
      status = 1;
      if (code === "EACCES") write(2, `sh: line ${line}: ${path}: ${strerror(code)}\n`);
      else if (fd === 1 && def?.builtin) ctx.diag(`${name}: write error: ${strerror(code)}`);
      else if (fd === 1) ctx.err(`${name}: write error: ${strerror(code)}\n`);
    }
    return status;
  }

  /**
   * Writes a redirection's buffer as stdio does: again with the rest after a
   * short write, stopping at a write of nothing.
   *
   * @returns null, or the errno name of the failed write
   */
  *#flush(path: string, text: string): Sleepable<string | null> {
    let rest = text;
    while (rest !== "") {
      let n: number;
      try {
        n = yield* this.fs.write(path, rest);
      } catch (e) {
        if (e instanceof KernelError) return e.code;
        throw e;
      }
      if (n <= 0 || n >= rest.length) break;
      rest = rest.slice(n);
    }
    return null;
  }

  /** Runs the machine until `task` exits, hangs or dies. */
  #driveSync(task: Task): Outcome {
    for (let bugs = 1;; bugs++) {
      let o: Outcome | "idle" | null;
      try {
        o = this.#judge(task, this.kernel.run(this.#runOptions(task)));
      } catch (e) {
        o = this.#judgeBug(task, e, bugs);
      }
      if (o === "idle") throw new TypeError("KernelShell.runSync: a command waits for host events; use run()");
      if (o !== null) return o;
    }
  }

  /** {@link KernelShell.#driveSync} that awaits host events (real clock, host I/O). */
  async #driveAsync(task: Task): Promise<Outcome> {
    for (let bugs = 1;; bugs++) {
      let o: Outcome | "idle" | null;
      try {
        o = this.#judge(task, await this.kernel.sched.runAsync(this.#runOptions(task)));
      } catch (e) {
        o = this.#judgeBug(task, e, bugs);
      }
      if (o !== null && o !== "idle") return o;
    }
  }

  #runOptions(task: Task): RunOptions {
    return { until: () => task.state === "exited", deadline: this.kernel.clock.now() + SLICE_NS };
  }

  /** After a scheduler run: how the command ended, "idle" (host events due), or null to run on. */
  #judge(task: Task, r: RunResult): Outcome | "idle" | null {
    if (task.state === "exited") return "exited";
    if (r.kind === "idle") return "idle";
    // A long `sleep` outlasts one slice; anything else still blocked at the end of a run is hung.
    if (r.kind === "deadline" && task.state === "blocked" && task.sleepTimer?.pending) return null;
    return "hung";
  }

  /**
   * After a scheduler run threw. A BUG() in the command's task killed it (the
   * kernel's `oops_end()` → `do_exit(SIGSEGV)`); one elsewhere killed that
   * task or interrupt and the machine runs on, until too many of them.
   */
  #judgeBug(task: Task, e: unknown, bugs: number): Outcome | null {
    if (!(e instanceof KernelBug)) throw e;
    if (task.state === "exited") return "killed";
    if (bugs < MAX_FOREIGN_BUGS) return null;
    this.kernel.log.printk("emerg", "Kernel panic - not syncing: Fatal exception");
    this.#panicked = true;
    return "panic";
  }

  #write(fd: 1 | 2, text: string): void {
    if (text === "") return;
    this.#out.all += text;
    this.#out[fd] += text;
    this.#onOutput?.(fd, text);
  }
}
