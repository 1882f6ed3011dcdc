// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KernelBug } from "../errors.ts";
import { CORE_FUNCTIONS, CORE_VARIANTS, coreBytes, coreHost, coreModule, HOST_IMPORTS, instantiateCore } from "./core.ts";

test("every variant exports each function that CoreExports declares, and its memory", () => {
  for (const v of CORE_VARIANTS) {
    const names = new Set(WebAssembly.Module.exports(coreModule(v)).map((e) => e.name));
    for (const f of CORE_FUNCTIONS) assert.ok(names.has(f), `${v} lacks ${f}`);
    assert.ok(names.has("memory"), `${v} lacks memory`);
  }
});

test("coreModule() compiles a variant once and caches it", () => {
  assert.is(coreModule("debug"), coreModule("debug"));
});

test("coreBytes() returns a fresh copy of the binary coreModule() compiles", () => {
  for (const v of CORE_VARIANTS) {
    const a = coreBytes(v);
    assert.equal([...a.subarray(0, 4)], [0x00, 0x61, 0x73, 0x6d], "\\0asm");
    assert.ok(WebAssembly.validate(a));
    a[0] = 1;
    assert.is(coreBytes(v)[0], 0, "a copy per call");
    const names = (b: Uint8Array<ArrayBuffer>) => WebAssembly.Module.exports(new WebAssembly.Module(b)).map((e) => e.name);
    assert.equal(names(coreBytes(v)), WebAssembly.Module.exports(coreModule(v)).map((e) => e.name));
  }
  // @ts-expect-error: not a variant
  assert.throws(() => coreBytes("fast"), (e: unknown) => e instanceof RangeError);
});

test("coreModule() rejects an unknown variant with a RangeError", () => {
  // @ts-expect-error: deliberately wrong variant
  assert.throws(() => coreModule("fast"), (e: unknown) => e instanceof RangeError);
});

test("instantiateCore() gives each call its own linear memory", () => {
  const a = instantiateCore("release");
  const b = instantiateCore("release");
  const p = a.hostbuf_ptr();
  new Uint8Array(a.memory.buffer)[p] = 42;
  assert.is(new Uint8Array(b.memory.buffer)[p], 0);
});

test("smoke_check() returns 1 only for inputs that start with FUZZ, in every variant", () => {
  for (const v of CORE_VARIANTS) {
    const core = instantiateCore(v);
    const p = core.hostbuf_ptr();
    const put = (s: string) => {
      new Uint8Array(core.memory.buffer).set(new TextEncoder().encode(s), p);
      return core.smoke_check(p, s.length);
    };
    assert.is(put("FUZZ"), 1, v);
    assert.is(put("FUZZY"), 1, v);
    assert.is(put("FUZ"), 0, v);
    assert.is(put("FUZA"), 0, v);
    assert.is(put("AUZZ"), 0, v);
  }
});

test("the coverage variant exports its edge-counter count and bumps counters", () => {
  const core = instantiateCore("coverage");
  const n = core.__edge_cov_count.value as number;
  assert.ok(n > 0 && n <= 65536, `count ${n}`);
  const counters = new Uint8Array(core.memory.buffer, 0, n);
  const lit = (s: string) => {
    counters.fill(0);
    const p = core.hostbuf_ptr();
    new Uint8Array(core.memory.buffer).set(new TextEncoder().encode(s), p);
    core.smoke_check(p, s.length);
    return counters.reduce((k, c) => k + (c > 0 ? 1 : 0), 0);
  };
  assert.ok(lit("FUZZ") > lit("FUAA"), "a longer matching prefix lights more edges");
});

test("every import of every variant is env.abort or a host call with a CoreHost slot", () => {
  for (const v of CORE_VARIANTS) {
    for (const imp of WebAssembly.Module.imports(coreModule(v))) {
      assert.is(imp.module, "env", `${v}: ${imp.module}.${imp.name}`);
      assert.ok(imp.name === "abort" || HOST_IMPORTS.includes(imp.name), `${v}: unexpected import ${imp.name}`);
    }
  }
  assert.ok(HOST_IMPORTS.includes("host_bio_end_io"));
});

test("a host call goes to the instance's slot; an unbound slot raises a KernelBug", () => {
  for (const v of CORE_VARIANTS) {
    const core = instantiateCore(v);
    const bio = core.kmalloc(core.bio_struct_size(), 0);
    assert.is(core.bio_init(bio), 0);
    new DataView(core.memory.buffer).setUint32(bio + 56, 7, true); // bi_end_io = 7
    assert.throws(() => core.bio_endio(bio), (e: unknown) => e instanceof KernelBug && /host call bioEndIo/.test(e.message), v);
    const calls: number[][] = [];
    coreHost(core).bioEndIo = (b, id) => void calls.push([b, id]);
    assert.is(core.bio_endio(bio), 0, v);
    assert.equal(calls, [[bio, 7]], v);
    assert.throws(() => coreHost(instantiateCore(v)).bioPut(bio), (e: unknown) => e instanceof KernelBug, "another instance is not bound");
    core.kfree(bio);
  }
  assert.throws(() => coreHost({}), (e: unknown) => e instanceof TypeError);
});

test.run();
