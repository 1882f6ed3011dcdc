// SPDX-License-Identifier: GPL-2.0-only
/**
 * Deterministic randomness for the scheduler and the fuzzer: a seeded PRNG
 * (xoshiro128**, seeded through splitmix32) and the {@link ChoiceSource}s the
 * scheduler draws every decision from. A seeded source and a byte-stream
 * source are interchangeable: {@link RecordingChoices} writes any run's
 * decisions as bytes that {@link ByteChoices} replays bit-exactly.
 *
 * Everything here is integer arithmetic on 32-bit words (`Math.imul`, `>>>`),
 * so Node and Deno produce the same streams.
 *
 * Private to ts/kernel/; re-exported by sched.ts.
 *
 * @module
 */

/**
 * Where every scheduling decision comes from.
 *
 * `choose(n)` returns an integer in `[0, n)`. A source returns 0 for `n === 1`
 * without consuming anything, so a recorded stream holds only real choices.
 * Index 0 is always the scheduler's default (FIFO order, stay on the same CPU),
 * so an exhausted byte stream degrades to a fair round-robin run.
 */
export interface ChoiceSource {
  choose(n: number): number;
}

/** One step of splitmix32; a good scrambler for seeding. */
function splitmix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  return (z ^ (z >>> 15)) >>> 0;
}

function checkN(n: number): void {
  if (!(n >= 1 && n <= 0x1_0000_0000 && Number.isInteger(n))) {
    throw new RangeError(`choose: n must be an integer in [1, 2^32], got ${n}`);
  }
}

/**
 * xoshiro128** by Blackman and Vigna: 128-bit state, 32-bit outputs.
 *
 * @example
 * const r = new Prng(42);
 * r.below(6); // the same value on every run and runtime
 */
export class Prng {
  #s0 = 0;
  #s1 = 0;
  #s2 = 0;
  #s3 = 0;

  /**
   * @param seed any safe integer; both 32-bit halves feed the state
   * @throws {RangeError} when the seed is not a safe integer
   */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`Prng: seed must be a safe integer, got ${seed}`);
    const lo = seed >>> 0;
    const hi = Math.floor(seed / 0x1_0000_0000) >>> 0;
    this.#s0 = splitmix32(lo);
    this.#s1 = splitmix32(this.#s0 ^ hi);
    this.#s2 = splitmix32(this.#s1 + 0x6a09e667);
    this.#s3 = splitmix32(this.#s2 ^ 0xbb67ae85);
    if ((this.#s0 | this.#s1 | this.#s2 | this.#s3) === 0) this.#s0 = 1; // the one forbidden state
  }

  /** The next 32-bit output, as an unsigned number. */
  next(): number {
    const s1 = this.#s1;
    const x = Math.imul(s1, 5);
    const result = Math.imul((x << 7) | (x >>> 25), 9) >>> 0;
    const t = s1 << 9;
    this.#s2 ^= this.#s0;
    this.#s3 ^= s1;
    this.#s1 ^= this.#s2;
    this.#s0 ^= this.#s3;
    this.#s2 ^= t;
    this.#s3 = (this.#s3 << 11) | (this.#s3 >>> 21);
    return result;
  }

  /**
   * A uniform integer in `[0, n)`, without modulo bias (rejection sampling).
   *
   * @throws {RangeError} when n is not an integer in [1, 2^32]
   */
  below(n: number): number {
    checkN(n);
    if ((n & (n - 1)) === 0 && n <= 0x8000_0000) return this.next() & (n - 1);
    const limit = 0x1_0000_0000 - (0x1_0000_0000 % n);
    for (;;) {
      const r = this.next();
      if (r < limit) return r % n;
    }
  }
}

/**
 * Decisions from a seeded {@link Prng}.
 *
 * @example
 * new PrngChoices(7).choose(3); // 0, 1 or 2, always the same for seed 7
 */
export class PrngChoices implements ChoiceSource {
  readonly #prng: Prng;

  constructor(seed: number) {
    this.#prng = new Prng(seed);
  }

  choose(n: number): number {
    return n === 1 ? 0 : this.#prng.below(n);
  }
}

/** Bytes one choice among `n` takes in a stream: 1 up to 256, 2 up to 65536, else 4. */
export function choiceWidth(n: number): number {
  return n <= 0x100 ? 1 : n <= 0x1_0000 ? 2 : 4;
}

/**
 * Decisions read from a byte array (a fuzzer's input): a choice among `n`
 * reads {@link choiceWidth}(n) little-endian bytes and takes them modulo `n`.
 * When the bytes run out every further choice is 0.
 *
 * @example
 * const c = new ByteChoices(new Uint8Array([5]));
 * c.choose(3); // 2 (5 % 3)
 * c.choose(3); // 0: exhausted
 */
export class ByteChoices implements ChoiceSource {
  readonly #bytes: Uint8Array;
  #pos = 0;

  constructor(bytes: Uint8Array) {
    if (!(bytes instanceof Uint8Array)) throw new TypeError("ByteChoices: bytes must be a Uint8Array");
    this.#bytes = bytes;
  }

  choose(n: number): number {
    if (n === 1) return 0;
    checkN(n);
    const w = choiceWidth(n);
    const b = this.#bytes;
    const p = this.#pos;
    if (p + w > b.length) {
      this.#pos = b.length;
      return 0;
    }
    this.#pos = p + w;
    let v = b[p];
    if (w >= 2) v |= b[p + 1] << 8;
    if (w === 4) v = (v | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
    return v % n;
  }

  /** Bytes consumed so far. */
  get consumed(): number {
    return this.#pos;
  }

  /** Whether every byte has been consumed. */
  get exhausted(): boolean {
    return this.#pos >= this.#bytes.length;
  }
}

/**
 * Wraps a source and records each real choice (n > 1) in the byte format of
 * {@link ByteChoices}, so a seeded run can be replayed from its bytes.
 *
 * @example
 * const rec = new RecordingChoices(new PrngChoices(1));
 * // ... run a scheduler with rec ...
 * const replay = new ByteChoices(rec.bytes()); // makes the same decisions
 */
export class RecordingChoices implements ChoiceSource {
  readonly #inner: ChoiceSource;
  #buf = new Uint8Array(64);
  #len = 0;
  #count = 0;

  constructor(inner: ChoiceSource) {
    this.#inner = inner;
  }

  choose(n: number): number {
    if (n === 1) return 0;
    const v = this.#inner.choose(n);
    const w = choiceWidth(n);
    if (this.#len + w > this.#buf.length) {
      const grown = new Uint8Array(this.#buf.length * 2);
      grown.set(this.#buf);
      this.#buf = grown;
    }
    for (let i = 0; i < w; i++) this.#buf[this.#len++] = (v >>> (8 * i)) & 0xff;
    this.#count++;
    return v;
  }

  /** The recorded decisions as a byte stream (a copy). */
  bytes(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }

  /** How many real choices were recorded. */
  get count(): number {
    return this.#count;
  }
}
