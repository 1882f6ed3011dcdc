// SPDX-License-Identifier: GPL-2.0-only
// Usage texts of the CLI, kept apart so tests can compare against them.

export const USAGE = `usage: blkmq <command> [options]

commands:
  fuzz        run a bounded fuzz campaign and print a summary
  help        show this help (also --help, -h)
  version     print the version (also --version, -V)

Run \`blkmq <command> --help\` for a command's options.
`;

export const FUZZ_USAGE = `usage: blkmq fuzz [--target T]... [--seconds N] [--jobs J] [--seed S]
                  [--out DIR] [--json] [--verbose] [--list] [--no-wasm-coverage]

Runs Jazzer.js on each target for N seconds (default 30) and prints a
progress line every 5 s and a summary. Exit 0 when every target behaved as
expected (no finding; for a self-test target, its planted finding found),
1 otherwise.

  --target T    a target to run (repeatable; default: all)
  --seconds N   seconds per target (default 30)
  --jobs J      parallel processes per target, libFuzzer -fork (default 1)
  --seed S      libFuzzer seed (default: chosen by libFuzzer)
  --out DIR     working corpus and artifacts (default ./fuzz-out)
  --json        end with one JSON line per target
  --verbose     echo libFuzzer's own output
  --list        list the targets and exit
  --no-wasm-coverage
                control run: keep WASM edge counters from libFuzzer
`;
