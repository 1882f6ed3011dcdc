// SPDX-License-Identifier: GPL-2.0-only
/**
 * The run queue: runnable tasks in FIFO order, as a ring buffer. Index 0 is
 * the task that has waited longest, so a scheduler that always picks 0 is
 * round-robin. Taking index i costs O(i). Private to ts/kernel/.
 *
 * @module
 */

/** A FIFO with removal at any index. */
export class RunQueue<T> {
  #buf: (T | undefined)[] = new Array(16);
  #mask = 15;
  #head = 0;
  #len = 0;

  get length(): number {
    return this.#len;
  }

  /** Appends at the tail. */
  push(x: T): void {
    if (this.#len > this.#mask) this.#grow();
    this.#buf[(this.#head + this.#len) & this.#mask] = x;
    this.#len++;
  }

  /** The element at index i (0 = head) without removing it. */
  at(i: number): T {
    return this.#buf[(this.#head + i) & this.#mask] as T;
  }

  /** Removes and returns the element at index i (0 = head); later elements keep their order. */
  take(i: number): T {
    const buf = this.#buf;
    const m = this.#mask;
    const h = this.#head;
    const x = buf[(h + i) & m] as T;
    for (let j = i; j > 0; j--) buf[(h + j) & m] = buf[(h + j - 1) & m];
    buf[h] = undefined;
    this.#head = (h + 1) & m;
    this.#len--;
    return x;
  }

  /** Removes x if present. @returns whether it was there */
  remove(x: T): boolean {
    for (let i = 0; i < this.#len; i++) {
      if (this.at(i) === x) {
        this.take(i);
        return true;
      }
    }
    return false;
  }

  #grow(): void {
    const old = this.#buf;
    const n = old.length;
    const next: (T | undefined)[] = new Array(n * 2);
    for (let i = 0; i < this.#len; i++) next[i] = old[(this.#head + i) & this.#mask];
    this.#buf = next;
    this.#head = 0;
    this.#mask = n * 2 - 1;
  }
}
