// SPDX-License-Identifier: GPL-2.0-only
/**
 * Timing helpers for benchmarks. Benchmarks report ratios against a baseline
 * measured in the same process and run, never absolute-time assertions.
 *
 * @module
 */

/**
 * Nanoseconds per iteration of `body`, the median of `rounds` timed rounds of
 * `iters` iterations each, after one untimed warm-up round.
 *
 * @param body runs `iters` iterations and returns a value that defeats dead-code elimination
 */
export function nsPerIter(body: (iters: number) => number, iters: number, rounds = 7): number {
  let sink = body(iters);
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    sink += body(iters);
    samples.push(((performance.now() - t0) * 1e6) / iters);
  }
  if (sink === -0.5) console.log(sink); // never true; keeps `sink` alive
  return median(samples);
}

/** The median of `xs` (the upper one of an even count); `xs` is left as it was. */
export function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[xs.length >> 1];
}

/** Rounds to two decimals for printing. */
export function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
