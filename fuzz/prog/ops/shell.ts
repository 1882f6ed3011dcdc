// SPDX-License-Identifier: GPL-2.0-only
/**
 * Ops that are kernel-shell lines (ts/shell/): `cat` and `ls` of sysfs,
 * `echo VALUE > FILE`, `modprobe null_blk PARAM=VALUE...`, `rmmod null_blk`.
 * Their text is exactly the shell line (formatCommand/parseCommand), so a
 * program made of them runs as-is with `blkmq sh`.
 *
 * Each line runs inside the program task that holds it (so it interleaves
 * with the other tasks) through `KernelShell.exec()`, the shell's own
 * command runner: the output of `echo` is written to the file once the
 * command ends, as in a script. A failing command (a typed error, a non-zero
 * status) is a refusal; what `cat` prints is measured for the sysfs
 * detector.
 *
 * Paths come from templates: the cpu files, and the block queue, hctx, ctx
 * and disk files of nullb devices (which exist once null_blk is loaded).
 *
 * @module
 */

import { KernelError } from "../../../ts/errors.ts";
import { NULL_BLK_PARAM_NAMES } from "../../../ts/drivers/null_blk_params.ts";
import { formatCommand, parseCommand } from "../../../ts/shell/parse.ts";
import { KernelShell } from "../../../ts/shell/shell.ts";
import { CPU_ROOT_ATTRS, CPU_SYSFS_PATH, CTX_ATTR_NAMES, HCTX_ATTR_NAMES, QUEUE_ATTRS } from "../../../ts/sysfs/sysfs.ts";
import type { Sleepable } from "../../../ts/kernel/sched.ts";
import { type ExecCtx, registerArea, registerOp } from "../registry.ts";
import type { ArgValue, IntArgSpec } from "../types.ts";

const AREA = "shell";
const MODULE = "null_blk";

/** A file (or folder) a template names once its placeholders are filled. */
interface Template {
  readonly path: string;
  readonly writable: boolean;
}

const NULLB = "/sys/block/nullb{dev}";

/** Every file template, readable ones and writable ones. */
export const FILE_TEMPLATES: readonly Template[] = [
  { path: `${CPU_SYSFS_PATH}/cpu{cpu}/online`, writable: true },
  ...CPU_ROOT_ATTRS.map((a) => ({ path: `${CPU_SYSFS_PATH}/${a.name}`, writable: false })),
  ...QUEUE_ATTRS.map((a) => ({ path: `${NULLB}/queue/${a.name}`, writable: (a.mode & 0o222) !== 0 })),
  ...HCTX_ATTR_NAMES.map((n) => ({ path: `${NULLB}/mq/{hctx}/${n}`, writable: false })),
  ...CTX_ATTR_NAMES.map((n) => ({ path: `${NULLB}/mq/{hctx}/cpu{cpu}/${n}`, writable: false })),
  ...["size", "stat", "inflight"].map((n) => ({ path: `${NULLB}/${n}`, writable: false })),
];
const READABLE = FILE_TEMPLATES.map((t) => t.path);
const WRITABLE = FILE_TEMPLATES.filter((t) => t.writable).map((t) => t.path);
const DIRS = [CPU_SYSFS_PATH, "/sys/block", NULLB, `${NULLB}/queue`, `${NULLB}/mq`, `${NULLB}/mq/{hctx}`, `${NULLB}/mq/{hctx}/cpu{cpu}`];

/** Values `echo` writes: booleans, boundaries, overflows, garbage. */
export const ECHO_VALUES = [
  "0", "1", "2", "3", "4", "5", "8", "16", "31", "32", "64", "128", "256", "1024", "4096", "10240",
  "-1", "4294967295", "4294967296", "18446744073709551616", "none", "abc", "",
];
/** Values modprobe passes to a parameter; "" leaves it out. */
export const PARAM_VALUES = ["", "0", "1", "2", "3", "4", "8", "16", "64", "-1", "4096"];

const PLACEHOLDERS: readonly IntArgSpec[] = [
  { kind: "int", name: "dev", min: 0, max: 3 },
  { kind: "int", name: "hctx", min: 0, max: 7 },
  { kind: "int", name: "cpu", min: 0, max: 7 },
];

/** The path of a template with its placeholders filled. */
function fill(template: string, dev: number, hctx: number, cpu: number): string {
  return template.replace("{dev}", String(dev)).replace("{hctx}", String(hctx)).replace("{cpu}", String(cpu));
}

/** Zeroes the placeholders a template lacks: [template, dev, hctx, cpu, ...rest]. */
function normalizePath(args: ArgValue[]): ArgValue[] {
  const t = args[0] as string;
  const out = [...args];
  ["{dev}", "{hctx}", "{cpu}"].forEach((p, i) => {
    if (!t.includes(p)) out[i + 1] = 0;
  });
  return out;
}

/** The [template, dev, hctx, cpu] a concrete path matches, or null. */
function matchPath(templates: readonly string[], path: string): ArgValue[] | null {
  for (const t of templates) {
    const re = new RegExp(`^${t.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{(dev|hctx|cpu)\}/g, "(?<$1>\\d+)")}$`);
    const m = re.exec(path);
    if (!m) continue;
    const g = m.groups ?? {};
    const vals = PLACEHOLDERS.map((p) => Number(g[p.name] ?? 0));
    if (vals.some((v, i) => v > PLACEHOLDERS[i].max)) return null;
    return [t, ...vals];
  }
  return null;
}

/** Parses one shell line into a command, or null when it is not one. */
function command(body: string): { argv: readonly string[]; redirects: readonly { fd: 1 | 2; op: ">" | ">>"; path: string }[] } | null {
  try {
    return parseCommand(body);
  } catch {
    return null;
  }
}

interface ShellState {
  shell: KernelShell | null;
}

registerArea({
  name: AREA,
  boot(): ShellState {
    return { shell: null };
  },
  *teardown(x) {
    const st = x.state<ShellState>(AREA);
    const sh = st.shell;
    if (sh !== null && sh.modules.has(MODULE) && sh.modules.loaded(MODULE)) yield* (sh.modules.unload(MODULE) as Sleepable);
  },
});

/** The run's shell if an op made one, else null. */
export function shellIfAny(x: ExecCtx): KernelShell | null {
  return x.state<ShellState | undefined>(AREA)?.shell ?? null;
}

/** The run's shell, created on first use (the I/O ops load `ram` through it too). */
export function shellOf(x: ExecCtx): KernelShell {
  const st = x.state<ShellState | undefined>(AREA);
  if (st === undefined) throw new TypeError(`the profile has no "${AREA}" op: its shell is not booted`);
  return (st.shell ??= new KernelShell({ kernel: x.kernel }));
}

/**
 * Runs one command line in the current task exactly as the shell runs a
 * script line (`KernelShell.exec()`: redirections opened first, `>` written
 * after the command). @returns what it printed on stdout
 * @throws {RangeError} when it failed (a refusal)
 */
export function* runLine(x: ExecCtx, line: string): Sleepable<string> {
  const r = yield* shellOf(x).exec(parseCommand(line));
  if (r.status !== 0) throw new RangeError(`${line}: exit status ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

const TEMPLATE_ARGS = (name: string, values: readonly string[]) => [{ kind: "enum", name, values }, ...PLACEHOLDERS] as const;

registerOp({
  name: "sh_cat",
  area: AREA,
  doc: "`cat FILE` of a sysfs file (what it prints is measured against PAGE_SIZE)",
  args: TEMPLATE_ARGS("file", READABLE),
  normalize: normalizePath,
  syntax: {
    format: ([t, d, h, c]) => formatCommand({ argv: ["cat", fill(t as string, d as number, h as number, c as number)], redirects: [] }),
    parse(body) {
      const cmd = command(body);
      if (cmd === null || cmd.argv[0] !== "cat" || cmd.argv.length !== 2 || cmd.redirects.length > 0) return null;
      return matchPath(READABLE, cmd.argv[1]);
    },
  },
  *exec(x, [t, d, h, c]) {
    const path = fill(t as string, d as number, h as number, c as number);
    const text = yield* runLine(x, formatCommand({ argv: ["cat", path], redirects: [] }));
    x.sysfsShow(path, new TextEncoder().encode(text).length);
  },
});

registerOp({
  name: "sh_ls",
  area: AREA,
  doc: "`ls DIR` of a sysfs folder",
  args: TEMPLATE_ARGS("dir", DIRS),
  normalize: normalizePath,
  syntax: {
    format: ([t, d, h, c]) => formatCommand({ argv: ["ls", fill(t as string, d as number, h as number, c as number)], redirects: [] }),
    parse(body) {
      const cmd = command(body);
      if (cmd === null || cmd.argv[0] !== "ls" || cmd.argv.length !== 2 || cmd.redirects.length > 0) return null;
      return matchPath(DIRS, cmd.argv[1]);
    },
  },
  *exec(x, [t, d, h, c]) {
    yield* runLine(x, formatCommand({ argv: ["ls", fill(t as string, d as number, h as number, c as number)], redirects: [] }));
  },
});

registerOp({
  name: "sh_echo",
  area: AREA,
  doc: "`echo VALUE > FILE` to a writable sysfs file (nr_requests, rq_affinity, cpuN/online, ...)",
  args: [...TEMPLATE_ARGS("file", WRITABLE), { kind: "enum", name: "value", values: ECHO_VALUES }],
  normalize: normalizePath,
  syntax: {
    format: ([t, d, h, c, v]) =>
      formatCommand({
        argv: ["echo", v as string],
        redirects: [{ fd: 1, op: ">", path: fill(t as string, d as number, h as number, c as number) }],
      }),
    parse(body) {
      const cmd = command(body);
      if (cmd === null || cmd.argv[0] !== "echo" || cmd.argv.length !== 2 || cmd.redirects.length !== 1) return null;
      const r = cmd.redirects[0];
      if (r.fd !== 1 || r.op !== ">" || !ECHO_VALUES.includes(cmd.argv[1])) return null;
      const m = matchPath(WRITABLE, r.path);
      return m === null ? null : [...m, cmd.argv[1]];
    },
  },
  *exec(x, [t, d, h, c, v]) {
    const path = fill(t as string, d as number, h as number, c as number);
    yield* runLine(x, formatCommand({ argv: ["echo", v as string], redirects: [{ fd: 1, op: ">", path }] }));
  },
});

registerOp({
  name: "sh_modprobe",
  area: AREA,
  doc: "`modprobe null_blk PARAM=VALUE...`; each parameter left out or given one of a few values",
  args: NULL_BLK_PARAM_NAMES.map((name) => ({ kind: "enum", name, values: PARAM_VALUES }) as const),
  syntax: {
    format(args) {
      const params = NULL_BLK_PARAM_NAMES.flatMap((n, i) => (args[i] === "" ? [] : [`${n}=${args[i]}`]));
      return formatCommand({ argv: ["modprobe", MODULE, ...params], redirects: [] });
    },
    parse(body) {
      const cmd = command(body);
      if (cmd === null || cmd.argv[0] !== "modprobe" || cmd.argv[1] !== MODULE || cmd.redirects.length > 0) return null;
      const vals: ArgValue[] = NULL_BLK_PARAM_NAMES.map(() => "");
      for (const kv of cmd.argv.slice(2)) {
        const eq = kv.indexOf("=");
        const i = NULL_BLK_PARAM_NAMES.indexOf(eq < 0 ? kv : kv.slice(0, eq));
        const v = eq < 0 ? "" : kv.slice(eq + 1);
        if (i < 0 || v === "" || !PARAM_VALUES.includes(v)) return null;
        vals[i] = v;
      }
      return vals;
    },
  },
  *exec(x, args) {
    const params = NULL_BLK_PARAM_NAMES.flatMap((n, i) => (args[i] === "" ? [] : [`${n}=${args[i]}`]));
    if (!shellOf(x).modules.has(MODULE)) throw new KernelError("ENOENT", "modprobe", `${MODULE} is not built yet`);
    yield* runLine(x, formatCommand({ argv: ["modprobe", MODULE, ...params], redirects: [] }));
  },
});

registerOp({
  name: "sh_rmmod",
  area: AREA,
  doc: "`rmmod null_blk`",
  args: [],
  syntax: {
    format: () => `rmmod ${MODULE}`,
    parse: (body) => (body.trim() === `rmmod ${MODULE}` ? [] : null),
  },
  *exec(x) {
    if (!shellOf(x).modules.has(MODULE)) throw new KernelError("ENOENT", "rmmod", `${MODULE} is not built yet`);
    yield* runLine(x, `rmmod ${MODULE}`);
  },
});
