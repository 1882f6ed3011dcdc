// SPDX-License-Identifier: GPL-2.0-only
/**
 * The kernel log: printk's ring buffer, WARN()/BUG() and the taint flags,
 * with the line patterns blktests treats as a failed test.
 *
 * One {@link Klog} per simulated kernel. Every line carries a virtual-time
 * stamp in printk's format (`[    1.234567] `). Lines that match
 * {@link KLOG_FINDING_PATTERNS} are kept apart as findings, so
 * {@link Klog.isClean} stays false even after the ring buffer has dropped them.
 *
 * @module
 */

import { KernelBug } from "../errors.ts";

/** printk levels, KERN_EMERG (0) to KERN_DEBUG (7) (include/linux/kern_levels.h). */
export type KlogLevel =
  | "emerg"
  | "alert"
  | "crit"
  | "err"
  | "warning"
  | "notice"
  | "info"
  | "debug";

/** Every level; the index is the kernel's loglevel number. */
export const KLOG_LEVELS: readonly KlogLevel[] = [
  "emerg",
  "alert",
  "crit",
  "err",
  "warning",
  "notice",
  "info",
  "debug",
];

const LEVEL_SET: ReadonlySet<string> = new Set(KLOG_LEVELS);

/**
 * Lines that fail a test. blktests' `_check_dmesg` greps for the first ten;
 * the port adds hung tasks, kmemleak's suspected leaks and KASAN.
 * The fuzzer matches its output against the same list.
 */
export const KLOG_FINDING_PATTERNS: readonly RegExp[] = [
  /kernel BUG at/,
  /WARNING:/,
  /BUG:/,
  /Oops:/,
  /possible recursive locking detected/,
  /Internal error/,
  /INFO: suspicious RCU usage/,
  /INFO: possible circular locking dependency detected/,
  /general protection fault/,
  /blktests failure/,
  /INFO: task .* blocked for more than/,
  /kmemleak: \d+ new suspected memory leaks?/,
  /BUG: KASAN:/,
  // SLUB's object/cache reports (mm/slub.c slab_bug()): "BUG <cache> (<taint>): <what>",
  // e.g. kmem_cache_destroy() of a cache that still has objects.
  /^BUG \S+ \([^)]*\): /,
];

const FINDING = new RegExp(KLOG_FINDING_PATTERNS.map((p) => `(?:${p.source})`).join("|"));

/**
 * Whether one log line (with or without its timestamp) is a finding.
 *
 * @example
 * isFindingLine("WARNING: CPU: 0 PID: 1 at block/blk-mq.c:42"); // true
 */
export function isFindingLine(text: string): boolean {
  return FINDING.test(text);
}

/**
 * Formats a kernel address as printk's `%p` does on 64-bit: 16 lowercase hex
 * digits, no `0x` (kmemleak adds its own `0x`).
 *
 * @throws {RangeError} when a number is not a non-negative safe integer
 *
 * @example
 * formatPointer(0xffff888000a1b2c0n); // "ffff888000a1b2c0"
 */
export function formatPointer(addr: bigint | number): string {
  if (typeof addr === "number" && !(Number.isSafeInteger(addr) && addr >= 0)) {
    throw new RangeError(`formatPointer: ${addr} is not an address`);
  }
  return BigInt.asUintN(64, BigInt(addr)).toString(16).padStart(16, "0");
}

/**
 * Mirrors `print_time()` (kernel/printk/printk.c): `[%5lu.%06lu] `.
 *
 * @param ns virtual nanoseconds since boot
 */
export function formatTimestamp(ns: number): string {
  const sec = Math.floor(ns / 1e9);
  const usec = Math.floor((ns - sec * 1e9) / 1000);
  return `[${String(sec).padStart(5, " ")}.${String(usec).padStart(6, "0")}] `;
}

/** One line of the log. */
export interface KlogRecord {
  /** Sequence number since boot, also counting dropped lines. */
  readonly seq: number;
  readonly level: KlogLevel;
  /** Virtual nanoseconds when it was logged. */
  readonly ns: number;
  /** The text, without timestamp or newline. */
  readonly text: string;
  /** Whether it matches {@link KLOG_FINDING_PATTERNS}. */
  readonly finding: boolean;
}

/** Who is running, for WARN headers and `dump_stack()`. */
export interface KlogTask {
  cpu: number;
  pid: number;
  comm: string;
}

/** Construction options beyond the clock. */
export interface KlogOptions {
  /** Ring size in bytes, like the `log_buf_len=` boot parameter; default 1 << 17 (CONFIG_LOG_BUF_SHIFT=17). */
  logBufLen?: number;
  /** `uname -r`; default "4.4.0". */
  release?: string;
  /** `uname -v` (only the first word is printed); default "#1". */
  version?: string;
}

/** `struct printk_log` is 16 bytes in front of each record's text. */
const RECORD_HEADER = 16;
const MAX_FINDINGS = 256;
const DEFAULT_TASK: KlogTask = Object.freeze({ cpu: 0, pid: 1, comm: "swapper/0" });
/** v4.4 taint letters in `tnts[]` order; an unset flag prints ' ', except P which prints 'G'. */
const TAINT_ORDER = "PFSRMBUDAWCIOELK";

/**
 * A simulated kernel's log buffer.
 *
 * @example
 * const log = new Klog(() => 1_234_567_000);
 * log.printk("info", "null_blk: module loaded");
 * log.lines(); // ["[    1.234567] null_blk: module loaded"]
 * log.isClean(); // true
 */
export class Klog {
  readonly #now: () => number;
  readonly #logBufLen: number;
  readonly #release: string;
  readonly #version: string;
  #ctx: () => KlogTask = () => DEFAULT_TASK;
  /** Ring: records[head..] are live. */
  #records: KlogRecord[] = [];
  #head = 0;
  #bytes = 0;
  #seq = 0;
  #dropped = 0;
  #findings: string[] = [];
  #findingCount = 0;
  #warnedOnce = new Set<string>();
  #taint = new Set<string>();
  #dieCounter = 0;
  #subscribers: ((rec: KlogRecord) => void)[] = [];

  /**
   * @param now virtual clock in nanoseconds since boot; default always 0
   * @param opts ring size and the kernel identity printed in reports
   * @throws {RangeError} when `logBufLen` is not a positive integer
   */
  constructor(now: () => number = () => 0, opts: KlogOptions = {}) {
    if (typeof now !== "function") throw new TypeError("Klog: now must be a function");
    const len = opts.logBufLen ?? 1 << 17;
    if (!Number.isInteger(len) || len <= 0) {
      throw new RangeError(`Klog: logBufLen ${len} is not a positive integer`);
    }
    this.#now = now;
    this.#logBufLen = len;
    this.#release = opts.release ?? "4.4.0";
    this.#version = (opts.version ?? "#1").split(" ")[0];
  }

  /** Virtual nanoseconds since boot, from the clock given at construction. */
  now(): number {
    return this.#now();
  }

  /** Sets who is running, for WARN headers and stack dumps. */
  setContext(ctx: () => KlogTask): void {
    if (typeof ctx !== "function") throw new TypeError("Klog.setContext: ctx must be a function");
    this.#ctx = ctx;
  }

  /** The running task (`current` and `raw_smp_processor_id()`). */
  current(): KlogTask {
    return this.#ctx();
  }

  /**
   * Mirrors `printk()` (kernel/printk/printk.c): one record per line of `msg`;
   * a single trailing newline is dropped as the kernel does.
   *
   * @throws {TypeError} on an unknown level or a non-string message
   */
  printk(level: KlogLevel, msg: string): void {
    if (!LEVEL_SET.has(level)) throw new TypeError(`printk: unknown level ${String(level)}`);
    if (typeof msg !== "string") throw new TypeError("printk: msg must be a string");
    const body = msg.endsWith("\n") ? msg.slice(0, -1) : msg;
    const ns = this.#now();
    if (body.indexOf("\n") < 0) this.#store(level, ns, body);
    else for (const line of body.split("\n")) this.#store(level, ns, line);
  }

  /**
   * Mirrors `WARN()` / `warn_slowpath_common()` (kernel/panic.c, v4.4): the
   * cut-here marker, `WARNING: CPU: c PID: p at <where>`, the message, a stack
   * dump header and the end-of-trace marker; then taints the kernel with W.
   *
   * @param where the site, e.g. "block/blk-mq.c:blk_mq_run_hw_queue"
   */
  warn(where: string, msg?: string): void {
    const cur = this.#ctx();
    this.printk("warning", "------------[ cut here ]------------");
    this.printk("warning", `WARNING: CPU: ${cur.cpu} PID: ${cur.pid} at ${where}`);
    if (msg !== undefined) this.printk("warning", msg);
    this.printk("warning", "Modules linked in:");
    this.dumpStack();
    this.#endTrace();
    this.addTaint("W");
  }

  /**
   * Mirrors `WARN_ON_ONCE()` (include/asm-generic/bug.h): warns the first
   * time `where` is seen by this kernel.
   *
   * @returns true when this call printed the warning
   */
  warnOnce(where: string, msg?: string): boolean {
    if (this.#warnedOnce.has(where)) return false;
    this.#warnedOnce.add(where);
    this.warn(where, msg);
    return true;
  }

  /**
   * Mirrors `BUG()` (x86 `die()`, arch/x86/kernel/dumpstack.c, v4.4): logs
   * `kernel BUG at <where>!` and the oops, taints with D, then throws.
   *
   * @throws {KernelBug} always
   */
  bug(where: string, msg?: string): never {
    this.printk("warning", "------------[ cut here ]------------");
    this.printk("crit", `kernel BUG at ${where}!`);
    if (msg !== undefined) this.printk("crit", msg);
    this.printk("warning", `invalid opcode: 0000 [#${++this.#dieCounter}] SMP`);
    this.printk("warning", "Modules linked in:");
    this.dumpStack();
    this.#endTrace();
    this.addTaint("D");
    throw new KernelBug(msg ?? "BUG()", where);
  }

  /**
   * Mirrors `dump_stack()` (lib/dump_stack.c): the `CPU: PID: Comm:` header
   * and, when given, the frames under `Call Trace:`.
   *
   * @param task the task to name; default {@link Klog.current}
   */
  dumpStack(task?: { pid: number; comm: string }, frames: readonly string[] = []): void {
    const cur = this.#ctx();
    const t = task ?? cur;
    this.printk(
      "warning",
      `CPU: ${cur.cpu} PID: ${t.pid} Comm: ${
        t.comm.slice(0, 20)
      } ${this.tainted()} ${this.#release} ${this.#version}`,
    );
    if (frames.length > 0) {
      this.printk("warning", "Call Trace:");
      for (const f of frames) this.printk("warning", ` ${f}`);
    }
  }

  /** Mirrors `print_kernel_ident()` (kernel/locking/lockdep.c): `4.4.0 #1 Not tainted`. */
  kernelIdent(): string {
    return `${this.#release} ${this.#version} ${this.tainted()}`;
  }

  /** Mirrors `print_tainted()` (kernel/panic.c): "Not tainted" or "Tainted: G        W      ". */
  tainted(): string {
    if (this.#taint.size === 0) return "Not tainted";
    let s = "Tainted: ";
    for (const c of TAINT_ORDER) s += this.#taint.has(c) ? c : c === "P" ? "G" : " ";
    return s;
  }

  /**
   * Mirrors `add_taint()` (kernel/panic.c).
   *
   * @param flag a taint letter of v4.4 (W = warning, D = died, B = bad page/KASAN, ...)
   * @throws {RangeError} on an unknown letter
   */
  addTaint(flag: string): void {
    if (flag.length !== 1 || !TAINT_ORDER.includes(flag)) {
      throw new RangeError(`addTaint: unknown taint flag ${flag}`);
    }
    this.#taint.add(flag);
  }

  /**
   * The log as `dmesg` prints it, oldest first.
   *
   * @param opts.levels like `dmesg -l`: keep only these levels
   */
  lines(opts: { levels?: readonly KlogLevel[] } = {}): readonly string[] {
    const keep = opts.levels ? new Set<string>(opts.levels) : undefined;
    const out: string[] = [];
    for (let i = this.#head; i < this.#records.length; i++) {
      const r = this.#records[i];
      if (!keep || keep.has(r.level)) out.push(formatTimestamp(r.ns) + r.text);
    }
    return out;
  }

  /** The live records, oldest first. */
  records(): readonly KlogRecord[] {
    return this.#records.slice(this.#head);
  }

  /** {@link Klog.lines} joined, each ending in a newline. */
  text(opts: { levels?: readonly KlogLevel[] } = {}): string {
    return this.lines(opts).map((l) => `${l}\n`).join("");
  }

  /** True until a line matching {@link KLOG_FINDING_PATTERNS} is logged (or since the last {@link Klog.clear}). */
  isClean(): boolean {
    return this.#findingCount === 0;
  }

  /** The finding lines with timestamps, the first 256 of them; they survive ring-buffer overwrite. */
  findings(): readonly string[] {
    return this.#findings.slice();
  }

  /** How many finding lines were logged since the last clear, including those beyond the first 256. */
  findingCount(): number {
    return this.#findingCount;
  }

  /** Lines the ring buffer has overwritten since the last clear. */
  dropped(): number {
    return this.#dropped;
  }

  /**
   * Mirrors `dmesg -C` (`SYSLOG_ACTION_CLEAR`): empties the buffer and the
   * findings. Taint and WARN_ON_ONCE state stay, as in the kernel.
   */
  clear(): void {
    this.#records = [];
    this.#head = 0;
    this.#bytes = 0;
    this.#dropped = 0;
    this.#findings = [];
    this.#findingCount = 0;
  }

  /**
   * Calls `fn` with every record logged from now on (tests, the fuzzer's
   * detectors, echo to a console). An exception from `fn` propagates to the
   * code that logged, after the record is stored.
   *
   * @returns a function that unsubscribes
   */
  subscribe(fn: (rec: KlogRecord) => void): () => void {
    if (typeof fn !== "function") throw new TypeError("Klog.subscribe: fn must be a function");
    this.#subscribers = [...this.#subscribers, fn];
    return () => {
      this.#subscribers = this.#subscribers.filter((f) => f !== fn);
    };
  }

  #store(level: KlogLevel, ns: number, text: string): void {
    const finding = FINDING.test(text);
    const rec: KlogRecord = { seq: this.#seq++, level, ns, text, finding };
    this.#records.push(rec);
    this.#bytes += RECORD_HEADER + text.length;
    while (this.#bytes > this.#logBufLen && this.#head < this.#records.length - 1) {
      this.#bytes -= RECORD_HEADER + this.#records[this.#head].text.length;
      this.#head++;
      this.#dropped++;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#records.length) {
      this.#records = this.#records.slice(this.#head);
      this.#head = 0;
    }
    if (finding) {
      this.#findingCount++;
      if (this.#findings.length < MAX_FINDINGS) this.#findings.push(formatTimestamp(ns) + text);
    }
    for (const fn of this.#subscribers) fn(rec);
  }

  /** Mirrors `print_oops_end_marker()` (kernel/panic.c); the oops id is 0 so runs replay. */
  #endTrace(): void {
    this.printk("warning", "---[ end trace 0000000000000000 ]---");
  }
}
