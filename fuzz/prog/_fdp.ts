// SPDX-License-Identifier: GPL-2.0-only
/**
 * The byte reader programs are decoded with, and its exact inverse.
 *
 * {@link FuzzedData} follows Jazzer.js's `FuzzedDataProvider` (and LLVM's,
 * which it copies) bit for bit for the methods the decoder uses: integers are
 * taken little-endian from the **end** of the input, raw bytes from the
 * **front**, and a call on an exhausted input returns the minimum. It is
 * reimplemented here so that decoding needs neither `@jazzer.js/core` nor
 * Node's `Buffer` (repro runs under Deno and from the npm package); a test
 * checks it against Jazzer's own class.
 *
 * {@link FuzzedDataWriter} builds the input that decodes to given values, so
 * a program written as text becomes a seed and a minimized program becomes
 * a raw reproducer.
 *
 * @module
 */

/** Bytes `consumeIntegralInRange(min, max)` takes for a range of `max - min`. */
export function integralWidth(range: number): number {
  return Math.ceil(Math.log2(range + 1) / 8);
}

function checkRange(min: number, max: number): void {
  if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || min > max) {
    throw new RangeError(`integral range [${min}, ${max}] is not a safe integer range`);
  }
  if (integralWidth(max - min) > 6) throw new RangeError(`integral range [${min}, ${max}] exceeds 2^48`);
}

/**
 * Mirrors Jazzer.js `FuzzedDataProvider` (consumeIntegralInRange,
 * consumeBoolean, pickValue, consumeBytes, remainingBytes).
 *
 * @example
 * const d = new FuzzedData(new Uint8Array([7, 1, 2]));
 * d.consumeIntegralInRange(0, 9); // 2: the last byte, modulo 10
 * d.consumeBytes(2);              // [7, 1]
 */
export class FuzzedData {
  readonly #data: Uint8Array;
  #ptr = 0;
  #remaining: number;

  constructor(data: Uint8Array) {
    if (!(data instanceof Uint8Array)) throw new TypeError("FuzzedData: data must be a Uint8Array");
    this.#data = data;
    this.#remaining = data.length;
  }

  /** Bytes not consumed yet. */
  get remainingBytes(): number {
    return this.#remaining;
  }

  /**
   * An integer in [min, max] from up to 6 bytes at the end of the input.
   * @throws {RangeError} on a bad or too wide range
   */
  consumeIntegralInRange(min: number, max: number): number {
    checkRange(min, max);
    if (min === max || this.#remaining === 0) return min;
    const range = max - min;
    const n = Math.min(this.#remaining, integralWidth(range));
    this.#remaining -= n;
    const at = this.#ptr + this.#remaining;
    let v = 0;
    for (let i = n - 1; i >= 0; i--) v = v * 256 + this.#data[at + i];
    return min + (v % (range + 1));
  }

  /** One byte from the end; its low bit. */
  consumeBoolean(): boolean {
    return (this.consumeIntegralInRange(0, 255) & 1) === 1;
  }

  /** An element of `values` chosen by an integer in [0, length). */
  pickValue<T>(values: readonly T[]): T {
    if (values.length === 0) throw new RangeError("pickValue: empty array");
    return values[this.consumeIntegralInRange(0, values.length - 1)];
  }

  /** Up to `max` bytes from the front. */
  consumeBytes(max: number): Uint8Array {
    if (!Number.isInteger(max) || max < 0) throw new RangeError(`consumeBytes: max must be a whole number, got ${max}`);
    const n = Math.min(this.#remaining, max);
    const out = this.#data.slice(this.#ptr, this.#ptr + n);
    this.#ptr += n;
    this.#remaining -= n;
    return out;
  }
}

/**
 * Builds the input that a {@link FuzzedData} decodes to the values written,
 * in the same order of calls.
 *
 * @example
 * const w = new FuzzedDataWriter();
 * w.writeIntegralInRange(2, 0, 9);
 * w.writeBytes(new Uint8Array([7, 1]));
 * new FuzzedData(w.bytes()).consumeIntegralInRange(0, 9); // 2
 */
export class FuzzedDataWriter {
  #front: number[] = [];
  /** Integer chunks in consumption order; they are laid out back to front. */
  #back: number[][] = [];

  /** @throws {RangeError} when `value` is outside [min, max] */
  writeIntegralInRange(value: number, min: number, max: number): void {
    checkRange(min, max);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new RangeError(`value ${value} is outside [${min}, ${max}]`);
    }
    if (min === max) return;
    const n = integralWidth(max - min);
    let v = value - min;
    const chunk: number[] = [];
    for (let i = 0; i < n; i++) {
      chunk.push(v % 256);
      v = Math.floor(v / 256);
    }
    this.#back.push(chunk);
  }

  writeBoolean(b: boolean): void {
    this.writeIntegralInRange(b ? 1 : 0, 0, 255);
  }

  /** Writes the index of `value` in `values` (first match). */
  writePick<T>(value: T, values: readonly T[]): void {
    const i = values.indexOf(value);
    if (i < 0) throw new RangeError(`writePick: ${String(value)} is not among the values`);
    this.writeIntegralInRange(i, 0, values.length - 1);
  }

  writeBytes(bytes: Uint8Array | readonly number[]): void {
    for (const b of bytes) this.#front.push(b & 0xff);
  }

  /** The input: front bytes, then the integer chunks last-written first. */
  bytes(): Uint8Array {
    const out: number[] = [...this.#front];
    for (let i = this.#back.length - 1; i >= 0; i--) out.push(...this.#back[i]);
    return Uint8Array.from(out);
  }
}
