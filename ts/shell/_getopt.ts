// SPDX-License-Identifier: GPL-2.0-only
// GNU getopt_long() for the shell's programs: options anywhere before "--", glibc's error texts.

/** Which options a program takes. */
export interface GetoptSpec {
  /** Short options in getopt(3) form: a letter, followed by `:` when it takes an argument (`"cCtl:"`). */
  short: string;
  /** Long option names (without `--`) and the short letter each stands for. */
  long?: Readonly<Record<string, string>>;
  /** End an error with coreutils' "Try 'NAME --help' for more information." */
  tryHelp?: boolean;
}

/** Parsed arguments: options in order (letter, argument or null) and operands. */
export interface Parsed {
  readonly options: readonly (readonly [letter: string, value: string | null])[];
  readonly operands: readonly string[];
}

/**
 * Mirrors glibc `getopt_long()` with GNU argument permutation.
 *
 * @returns the parsed arguments, or the error text (lines ending in newlines) to print
 * @example
 * getopt("dmesg", ["-l", "err", "-t"], { short: "cCtl:" }); // { options: [["l", "err"], ["t", null]], operands: [] }
 */
export function getopt(name: string, args: readonly string[], spec: GetoptSpec): Parsed | string {
  const options: [string, string | null][] = [];
  const operands: string[] = [];
  const takesArg = (c: string) => spec.short[spec.short.indexOf(c) + 1] === ":";
  const fail = (msg: string) => `${name}: ${msg}\n${spec.tryHelp ? `Try '${name} --help' for more information.\n` : ""}`;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") {
      operands.push(...args.slice(i + 1));
      break;
    }
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const long = a.slice(2, eq < 0 ? undefined : eq);
      const c = spec.long?.[long];
      if (c === undefined) return fail(`unrecognized option '${a}'`);
      if (!takesArg(c)) {
        if (eq >= 0) return fail(`option '--${long}' doesn't allow an argument`);
        options.push([c, null]);
      } else if (eq >= 0) options.push([c, a.slice(eq + 1)]);
      else if (i + 1 < args.length) options.push([c, args[++i]]);
      else return fail(`option '--${long}' requires an argument`);
      continue;
    }
    if (!a.startsWith("-") || a === "-") {
      operands.push(a);
      continue;
    }
    for (let j = 1; j < a.length; j++) {
      const c = a[j];
      if (c === ":" || !spec.short.includes(c)) return fail(`invalid option -- '${c}'`);
      if (!takesArg(c)) {
        options.push([c, null]);
        continue;
      }
      if (j + 1 < a.length) options.push([c, a.slice(j + 1)]);
      else if (i + 1 < args.length) options.push([c, args[++i]]);
      else return fail(`option requires an argument -- '${c}'`);
      break;
    }
  }
  return { options, operands };
}
