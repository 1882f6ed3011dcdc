// SPDX-License-Identifier: GPL-2.0-only
// Shared pieces of the CLI commands: output sink, usage errors, strict flag parsing.

import { parseArgs } from "node:util";

/** Where a command writes. */
export interface CliIo {
  out(s: string): void;
  err(s: string): void;
}

/** A usage error: the CLI prints the message and the usage text, and exits 2. */
export class UsageError extends Error {
  constructor(message: string, readonly usage: string) {
    super(message);
    this.name = "UsageError";
  }
}

type FlagSpec = NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>["options"]>;

/**
 * Parses flags strictly; an unknown or malformed flag, or a positional
 * argument when `allowPositionals` is false (the default), is a {@link UsageError}.
 */
export function parseFlags(args: string[], options: FlagSpec, usage: string, allowPositionals = false) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals });
  } catch (e) {
    throw new UsageError((e as Error).message, usage);
  }
}

/** A flag value as a whole number, `fallback` when absent; anything else is a usage error. */
export function wholeNumber(flag: string, value: unknown, fallback: number, usage: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== "string" || !/^\d+$/.test(value)) {
    throw new UsageError(`--${flag} needs a whole number, got "${String(value)}"`, usage);
  }
  return Number(value);
}
