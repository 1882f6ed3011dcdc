// SPDX-License-Identifier: GPL-2.0-only
/**
 * `struct cpumask`: a fixed-size bitmap of CPU numbers in 32-bit words.
 * Private to ts/kernel/; re-exported by cpu.ts.
 *
 * @module
 */

/** The read-only view of a mask that {@link Cpus} hands out for its live masks. */
export interface ReadonlyCpuMask extends Iterable<number> {
  readonly nbits: number;
  test(cpu: number): boolean;
  weight(): number;
  first(): number;
  next(cpu: number): number;
  nth(k: number): number;
  isEmpty(): boolean;
  intersects(other: ReadonlyCpuMask): boolean;
  equals(other: ReadonlyCpuMask): boolean;
  copy(): CpuMask;
  toArray(): number[];
  toString(): string;
  toHex(): string;
  /** @internal the backing words; do not modify. */
  readonly words: Uint32Array;
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
}

/**
 * Mirrors `struct cpumask` and the `cpumask_*()` helpers (include/linux/cpumask.h).
 * Search functions return `nbits` (the kernel's `>= nr_cpu_ids`) when nothing is found.
 *
 * @example
 * const m = new CpuMask(8, [0, 1, 2, 5]);
 * m.weight();   // 4
 * m.toString(); // "0-2,5"  (cpulist, as /sys/devices/system/cpu/online prints)
 * m.toHex();    // "27"
 */
export class CpuMask implements ReadonlyCpuMask {
  readonly nbits: number;
  readonly words: Uint32Array;

  /**
   * @param nbits the number of CPU ids (`nr_cpu_ids`), 1 to 65536
   * @param cpus CPUs to set initially
   * @throws {RangeError} on a bad size or CPU number
   */
  constructor(nbits: number, cpus: Iterable<number> = []) {
    if (!(Number.isInteger(nbits) && nbits >= 1 && nbits <= 65536)) {
      throw new RangeError(`CpuMask: nbits must be an integer in [1, 65536], got ${nbits}`);
    }
    this.nbits = nbits;
    this.words = new Uint32Array((nbits + 31) >>> 5);
    for (const c of cpus) this.set(c);
  }

  #check(cpu: number, op: string): void {
    if (!(cpu >= 0 && cpu < this.nbits && Number.isInteger(cpu))) {
      throw new RangeError(`${op}: cpu ${cpu} out of range [0, ${this.nbits})`);
    }
  }

  /** Mirrors `cpumask_test_cpu()`. @throws {RangeError} on a bad CPU */
  test(cpu: number): boolean {
    this.#check(cpu, "cpumask_test_cpu");
    return (this.words[cpu >>> 5] & (1 << (cpu & 31))) !== 0;
  }

  /** Mirrors `cpumask_set_cpu()`. @throws {RangeError} on a bad CPU */
  set(cpu: number): this {
    this.#check(cpu, "cpumask_set_cpu");
    this.words[cpu >>> 5] |= 1 << (cpu & 31);
    return this;
  }

  /** Mirrors `cpumask_clear_cpu()`. @throws {RangeError} on a bad CPU */
  clear(cpu: number): this {
    this.#check(cpu, "cpumask_clear_cpu");
    this.words[cpu >>> 5] &= ~(1 << (cpu & 31));
    return this;
  }

  /** Mirrors `cpumask_clear()`. */
  clearAll(): this {
    this.words.fill(0);
    return this;
  }

  /** Mirrors `cpumask_copy()` into this mask. @throws {RangeError} on a size mismatch */
  assign(other: ReadonlyCpuMask): this {
    this.#same(other, "cpumask_copy");
    this.words.set(other.words);
    return this;
  }

  /** Mirrors `cpumask_and()` into this mask. @throws {RangeError} on a size mismatch */
  and(other: ReadonlyCpuMask): this {
    this.#same(other, "cpumask_and");
    for (let i = 0; i < this.words.length; i++) this.words[i] &= other.words[i];
    return this;
  }

  /** Mirrors `cpumask_or()` into this mask. @throws {RangeError} on a size mismatch */
  or(other: ReadonlyCpuMask): this {
    this.#same(other, "cpumask_or");
    for (let i = 0; i < this.words.length; i++) this.words[i] |= other.words[i];
    return this;
  }

  /** Mirrors `cpumask_weight()`. */
  weight(): number {
    let w = 0;
    for (let i = 0; i < this.words.length; i++) w += popcount(this.words[i]);
    return w;
  }

  /** Mirrors `cpumask_first()`; `nbits` when empty. */
  first(): number {
    return this.next(-1);
  }

  /** Mirrors `cpumask_next()`: the first set CPU after `cpu` (-1 starts the search); `nbits` when none. */
  next(cpu: number): number {
    let i = cpu + 1;
    while (i < this.nbits) {
      const w = this.words[i >>> 5] >>> (i & 31);
      if (w === 0) {
        i = (i | 31) + 1;
        continue;
      }
      const c = i + (31 - Math.clz32(w & -w));
      return c < this.nbits ? c : this.nbits;
    }
    return this.nbits;
  }

  /** The `k`-th set CPU (0-based), like `cpumask_nth()`; `nbits` when there are fewer. */
  nth(k: number): number {
    for (let i = 0; i < this.words.length; i++) {
      let w = this.words[i];
      const n = popcount(w);
      if (k >= n) {
        k -= n;
        continue;
      }
      while (k-- > 0) w &= w - 1;
      return (i << 5) + (31 - Math.clz32(w & -w));
    }
    return this.nbits;
  }

  /** Mirrors `cpumask_empty()`. */
  isEmpty(): boolean {
    for (let i = 0; i < this.words.length; i++) if (this.words[i] !== 0) return false;
    return true;
  }

  /** Mirrors `cpumask_intersects()`. */
  intersects(other: ReadonlyCpuMask): boolean {
    this.#same(other, "cpumask_intersects");
    for (let i = 0; i < this.words.length; i++) if ((this.words[i] & other.words[i]) !== 0) return true;
    return false;
  }

  /** Mirrors `cpumask_equal()`. */
  equals(other: ReadonlyCpuMask): boolean {
    if (other.nbits !== this.nbits) return false;
    for (let i = 0; i < this.words.length; i++) if (this.words[i] !== other.words[i]) return false;
    return true;
  }

  /** A new mask with the same bits. */
  copy(): CpuMask {
    const m = new CpuMask(this.nbits);
    m.words.set(this.words);
    return m;
  }

  /** The set CPUs in increasing order. */
  toArray(): number[] {
    return [...this];
  }

  /** Mirrors `for_each_cpu()`. */
  *[Symbol.iterator](): Iterator<number> {
    for (let c = this.next(-1); c < this.nbits; c = this.next(c)) yield c;
  }

  /** The cpulist form of `%*pbl` (`bitmap_print_to_pagebuf(true, ...)`): "0-3,8". */
  toString(): string {
    const parts: string[] = [];
    let c = this.first();
    while (c < this.nbits) {
      let end = c;
      while (end + 1 < this.nbits && this.test(end + 1)) end++;
      parts.push(end === c ? `${c}` : `${c}-${end}`);
      c = this.next(end);
    }
    return parts.join(",");
  }

  /** The hex form of `%*pb` (`bitmap_print_to_pagebuf(false, ...)`): 32-bit chunks, most significant first. */
  toHex(): string {
    const n = this.words.length;
    const topBits = this.nbits & 31 || 32;
    const parts: string[] = [];
    for (let i = n - 1; i >= 0; i--) {
      const width = i === n - 1 ? (topBits + 3) >>> 2 : 8;
      parts.push(this.words[i].toString(16).padStart(width, "0"));
    }
    return parts.join(",");
  }

  #same(other: ReadonlyCpuMask, op: string): void {
    if (other.nbits !== this.nbits) throw new RangeError(`${op}: masks of ${this.nbits} and ${other.nbits} bits`);
  }
}
