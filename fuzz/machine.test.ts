// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { coreBytes } from "../ts/wasm/core.ts";
import { PrngChoices } from "../ts/kernel/sched.ts";
import { exportMutableGlobals, SNAPSHOT_GLOBAL_PREFIX } from "./_wasm_globals.ts";
import { FuzzMachine, MAX_WARM_BYTES, SnapshotCore } from "./machine.ts";

test("exportMutableGlobals() exports every mutable global and keeps the module valid", () => {
  const { bytes, globals } = exportMutableGlobals(coreBytes("coverage"));
  assert.ok(globals.length > 5);
  const mod = new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
  const names = WebAssembly.Module.exports(mod).map((e) => e.name);
  for (const g of globals) {
    assert.ok(g.startsWith(SNAPSHOT_GLOBAL_PREFIX));
    assert.ok(names.includes(g));
  }
  assert.ok(names.includes("kmalloc") && names.includes("memory"));
  assert.throws(() => exportMutableGlobals(new Uint8Array([1, 2, 3])), (e: unknown) => e instanceof RangeError);
});

test("restore() undoes allocations: the same calls give the same addresses", () => {
  const s = new SnapshotCore();
  const first = [s.core.kmalloc(64, 0), s.core.kmalloc(200, 0), s.core.alloc_pages(1)];
  assert.ok(s.core.kmemleak_first() !== 0);
  s.restore();
  assert.is(s.core.kmemleak_first(), 0);
  assert.is(s.core.page_alloc_nr_used(), 0);
  assert.equal([s.core.kmalloc(64, 0), s.core.kmalloc(200, 0), s.core.alloc_pages(1)], first);
  s.restore();
});

test("the image starts runs with zeroed edge counters", () => {
  const s = new SnapshotCore();
  const n = s.core.__edge_cov_count.value as number;
  s.core.kmalloc(64, 0);
  s.restore();
  assert.ok(new Uint8Array(s.core.memory.buffer, 0, n).every((b) => b === 0));
});

test("a run that outgrows the image gets a bigger instance, and boots stay clean", () => {
  const m = new FuzzMachine();
  const k = m.boot({ cpus: 2, choices: new PrngChoices(1) });
  const before = m.core.memory.buffer.byteLength;
  const blocks = [];
  for (let i = 0; i < 8; i++) blocks.push(k.slab.allocPages(8));
  assert.ok(m.core.memory.buffer.byteLength > before);
  const k2 = m.boot({ cpus: 2, choices: new PrngChoices(1) });
  assert.is(m.rebuilds, 1);
  assert.is(k2.core.page_alloc_nr_used(), 0);
  k2.kmemleak.clear();
  assert.is(k2.kmemleak.count(), 0);
});

test("a run past MAX_WARM_BYTES gets a fresh instance of the old image size, not a bigger image", () => {
  const m = new FuzzMachine();
  const image = m.imageBytes;
  const k = m.boot({ cpus: 2, choices: new PrngChoices(1) });
  // 2 MiB blocks (order 9) until memory is past the cap.
  while (m.core.memory.buffer.byteLength <= MAX_WARM_BYTES) k.slab.allocPages(9);
  const k2 = m.boot({ cpus: 2, choices: new PrngChoices(1) });
  assert.is(m.rebuilds, 1);
  assert.is(m.imageBytes, image);
  assert.is(m.core.memory.buffer.byteLength, image);
  assert.is(k2.core.page_alloc_nr_used(), 0);
  m.boot({ cpus: 2, choices: new PrngChoices(1) });
  assert.is(m.rebuilds, 1, "restored, not rebuilt");
});

test.run();
