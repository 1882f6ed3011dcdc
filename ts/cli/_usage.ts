// SPDX-License-Identifier: GPL-2.0-only
// Usage texts of the CLI, kept apart so tests can compare against them.

export const USAGE = `usage: blkmq <command> [options]

commands:
  fuzz        run a bounded fuzz campaign and print a summary
  help        show this help (also --help, -h)
  merge       minimize a fuzz corpus (libFuzzer -merge=1)
  minimize    shrink a fuzz reproducer while its finding persists
  repro       replay a fuzz input or program without Jazzer
  sh          run a kernel-shell script (modprobe, cat, echo >) on a simulated machine
  version     print the version (also --version, -V)

Run \`blkmq <command> --help\` for a command's options.
`;

export const FUZZ_USAGE = `usage: blkmq fuzz [--target T]... [--seconds N] [--jobs J] [--seed S]
                  [--out DIR] [--regression R]... [--ignore RE]... [--all-findings] [--no-seeds]
                  [--keep-going]
                  [--json] [--verbose] [--list] [--no-wasm-coverage]

Runs Jazzer.js on each target for N seconds (default 30) and prints a
progress line every 5 s and a summary. Each finding is replayed without
Jazzer and saved under DIR/artifacts/<title-slug>/ (input.bin, repro.txt,
repro.json, repro.ts, report.txt). Exit 0 when every target behaved as
expected (no finding; for a self-test target, its planted finding found;
with --regression, the regression rediscovered), 1 otherwise.

  --target T      a target to run (repeatable; default: all)
  --seconds N     seconds per target (default 30)
  --jobs J        parallel processes per target, libFuzzer -fork (default 1)
  --seed S        libFuzzer seed (default: chosen by libFuzzer)
  --out DIR       working corpus, crashes and artifacts (default ./fuzz-out)
  --regression R  switch a known bug back on; the run must rediscover it
  --ignore RE     do not report findings whose title matches RE (repeatable)
  --all-findings  report the targets' known issues too
  --no-seeds      start from an empty corpus instead of corpus/<target>/
  --keep-going    go on after a finding (libFuzzer fork mode, -ignore_crashes=1)
  --json          end with one JSON line: the target's figures, or for several
                  targets their totals with a "targets" array
  --verbose       echo libFuzzer's own output
  --list          list the targets and regressions and exit
  --write-dicts   regenerate corpus/<target>.dict from the op registry and exit
  --no-wasm-coverage
                  control run: keep WASM edge counters from libFuzzer
`;

export const SH_USAGE = `usage: blkmq sh [--cpus N] [--threads-per-core T] [--seed S] [FILE]

Runs a script of shell commands, from FILE or (when FILE is absent or -)
standard input, as root on a fresh simulated machine, and prints exactly
what the commands print. One command a line; # starts a comment;
> and >> redirect; no pipes, variables or loops.

  modprobe MOD [param=value]...   rmmod MOD...
  cat PATH...   ls [PATH...]      echo [-neE] [WORD...] [> PATH]
  dmesg [-c | -C] [-t] [-l LEVELS]   kmemleak   sleep SECONDS
  fio --name=N --filename=/dev/DISK --rw=read|write|randread|randwrite|randrw
      --bs=4k --iodepth=N --numjobs=N (--size=64m | --number_ios=N)
      [--ioengine=libaio|io_uring|psync] [--direct=1] [--rwmixread=N] [--randseed=N]
  dd if=/dev/zero|/dev/DISK of=/dev/null|/dev/DISK bs=B count=N [skip=N] [seek=N]
      [iflag=direct] [oflag=direct]

Exit 0 when every command succeeded and the kernel log shows no finding
(WARN, BUG, lockdep, hung task, KASAN, a kmemleak report), 1 otherwise,
2 on a usage error.

  --cpus N              possible CPUs (default 4)
  --threads-per-core T  SMT threads per core (default 1)
  --seed S              scheduler seed (default 1)
`;

export const REPRO_USAGE = `usage: blkmq repro [--target T] [--regression R]... [--seed S] [--cpus N] [-q] FILE

Replays FILE without Jazzer, under Node or Deno: a raw fuzz input, a
program text (*.txt) or an artifact folder. Options come from repro.json
beside FILE; flags override them. Prints the program and the report.
Exit 1 when the finding reproduces (the recorded one, if repro.json names
it), 0 when it does not, 2 on a usage error.

  --target T      the target whose ops a raw input decodes to
  --regression R  switch a known bug on (repeatable)
  --seed S        scheduler continuation after the program's sched bytes (0: none)
  --cpus N        possible CPUs of the machine
  -q, --quiet     do not print the program
`;

export const MINIMIZE_USAGE = `usage: blkmq minimize [--target T] [--regression R]... [--seed S] [--cpus N]
                      [--out BASE] [--runs N] FILE

Shrinks FILE (as for repro) while the same finding (same detector, same
title) persists: drops scheduler bytes and calls, moves calls to task 0,
simplifies arguments. Writes BASE.txt and BASE.bin (default: FILE with
.min). Exit 0 when done, 1 when FILE shows no finding, 2 on a usage error.

  --out BASE      where to write (without extension)
  --runs N        most replays to spend (default 2000)
`;

export const MERGE_USAGE = `usage: blkmq merge --target T OUT IN...

Corpus minimization: copies into OUT the smallest set of inputs from the IN
folders that keeps their coverage (libFuzzer -merge=1 through Jazzer.js).
Program texts (*.txt) in an IN folder are encoded first. Exit 0 on
success, 1 when Jazzer failed, 2 on a usage error.
`;
