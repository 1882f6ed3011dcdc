// SPDX-License-Identifier: GPL-2.0-only
// Usage texts of the CLI, kept apart so tests can compare against them.

export const USAGE = `usage: blkmq <command> [options]

commands:
  fuzz        run a bounded fuzz campaign and print a summary
  sh          run a kernel-shell script (modprobe, cat, echo >) on a simulated machine
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
