// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { CORE_VARIANTS, type CoreExports, instantiateCore } from "../wasm/core.ts";
import {
  mapQueues,
  mapSwqueue,
  MAX_HW_QUEUES,
  NR_CPUS,
  type SiblingLayout,
  updateQueueMap,
} from "./cpumap.ts";

// ---------------------------------------------------------------------------
// A straightforward reference, written from BLKMQ-REFERENCE.md §3 with
// explicit sibling sets and masks, to cross-check the WASM.

/** The sibling set of `cpu` with every CPU up, increasing. */
function siblingsOf(cpu: number, nrCpus: number, threads: number, layout: SiblingLayout): number[] {
  const ncores = nrCpus / threads;
  const out: number[] = [];
  for (let c = 0; c < nrCpus; c++) {
    const same = layout === "split"
      ? c % ncores === cpu % ncores
      : Math.floor(c / threads) === Math.floor(cpu / threads);
    if (same) out.push(c);
  }
  return out;
}

/** get_first_sibling(): lowest CPU of the (linked) sibling mask, or the CPU itself if empty. */
function refFirstSibling(
  cpu: number,
  nrCpus: number,
  threads: number,
  layout: SiblingLayout,
  linked: Set<number>,
) {
  const mask = linked.has(cpu)
    ? siblingsOf(cpu, nrCpus, threads, layout).filter((c) => linked.has(c))
    : [];
  return mask.length > 0 ? mask[0] : cpu;
}

/** blk_mq_update_queue_map(), v4.4, as the reference describes it. */
function refUpdateQueueMap(
  nrCpus: number,
  nrQueues: number,
  threads: number,
  layout: SiblingLayout,
  online: Set<number>,
  linked: Set<number> = online,
): number[] {
  const first = (i: number) => refFirstSibling(i, nrCpus, threads, layout, linked);
  const cpus = new Set<number>();
  let nr = 0;
  let uniq = 0;
  for (let i = 0; i < nrCpus; i++) {
    if (!online.has(i)) continue;
    nr++;
    if (!cpus.has(first(i))) uniq++;
    cpus.add(i);
  }
  const map: number[] = [];
  let queue = 0;
  for (let i = 0; i < nrCpus; i++) {
    if (!online.has(i)) map[i] = 0;
    else if (nrQueues >= nr || nr === uniq) map[i] = Math.floor((queue++ * nrQueues) / nr);
    else if (first(i) === i) map[i] = Math.floor((queue++ * nrQueues) / uniq);
    else map[i] = map[first(i)];
  }
  return map;
}

/** blk_mq_map_queues() over group_cpus_evenly(), v6.18, one node, all CPUs present. */
function refModernMap(
  nrCpus: number,
  nrQueues: number,
  threads: number,
  layout: SiblingLayout,
): number[] {
  const all = Array.from({ length: nrCpus }, (_, i) => i);
  const masks: number[][] = [];
  if (nrQueues === 1) {
    masks.push(all);
  } else {
    const ngroups = Math.min(nrCpus, nrQueues);
    const nmsk = new Set(all);
    let extra = nrCpus - ngroups * Math.floor(nrCpus / ngroups);
    for (let v = 0; v < ngroups; v++) {
      let quota = Math.floor(nrCpus / ngroups);
      if (extra > 0) {
        quota++;
        extra--;
      }
      const grp: number[] = [];
      while (quota > 0 && nmsk.size > 0) {
        const cpu = Math.min(...nmsk);
        nmsk.delete(cpu);
        grp.push(cpu);
        quota--;
        for (const s of siblingsOf(cpu, nrCpus, threads, layout)) {
          if (quota === 0) break;
          if (!nmsk.delete(s)) continue;
          grp.push(s);
          quota--;
        }
      }
      masks.push(grp);
    }
  }
  const nrMasks = Math.min(masks.length, nrQueues);
  const map = new Array<number>(nrCpus).fill(-1);
  for (let q = 0; q < nrQueues; q++) for (const cpu of masks[q % nrMasks]) map[cpu] = q;
  return map;
}

// ---------------------------------------------------------------------------
// Helpers

/** mulberry32: a small seeded PRNG, so failures reproduce. */
function rng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

interface Config {
  nrCpus: number;
  nrQueues: number;
  threadsPerCore: number;
  siblings: SiblingLayout;
}

/** A random machine: at most 256 CPUs, 1, 2 or 4 threads per core, up to 2 × nrCpus queues. */
function randomConfig(rand: (n: number) => number): Config {
  const threadsPerCore = [1, 2, 4][rand(3)];
  const nrCpus = threadsPerCore * (1 + rand(256 / threadsPerCore));
  return {
    nrCpus,
    nrQueues: 1 + rand(2 * nrCpus),
    threadsPerCore,
    siblings: rand(2) === 0 ? "split" : "adjacent",
  };
}

/** A random subset of [0, nrCpus), with a random density. */
function randomMask(rand: (n: number) => number, nrCpus: number): number[] {
  const p = rand(101);
  return Array.from({ length: nrCpus }, (_, i) => i).filter(() => rand(100) < p);
}

function label(c: Config): string {
  return JSON.stringify(c);
}

function unmapped(map: number[], nrQueues: number): number[] {
  return mapSwqueue(map, map.map((_, i) => i), nrQueues).hctxs.flatMap((
    h,
    i,
  ) => (h.mapped ? [] : [i]));
}

function throwsNaming(
  fn: () => unknown,
  cls: typeof TypeError | typeof RangeError,
  name: string,
): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, cls);
    assert.ok((e as Error).message.includes(name), `"${(e as Error).message}" names ${name}`);
    return;
  }
  assert.unreachable(`expected a ${cls.name} naming ${name}`);
}

// ---------------------------------------------------------------------------
// Worked examples (BLKMQ-REFERENCE.md §3)

test("mapQueues() v4.4 gives the reference's worked examples", () => {
  assert.equal(mapQueues({ nrCpus: 8, nrQueues: 3, threadsPerCore: 2, siblings: "split" }), [
    0,
    0,
    1,
    2,
    0,
    0,
    1,
    2,
  ]);
  assert.equal(mapQueues({ nrCpus: 8, nrQueues: 6, threadsPerCore: 2 }), [0, 1, 3, 4, 0, 1, 3, 4]);
  assert.equal(mapQueues({ nrCpus: 4, nrQueues: 6 }), [0, 1, 3, 4]);
  assert.equal(mapQueues({ nrCpus: 4, nrQueues: 6, algorithm: "v4.4" }), [0, 1, 3, 4]);
});

test("mapQueues() v4.4 leaves hctx 2 and 5 unmapped where the reference says so", () => {
  assert.equal(unmapped(mapQueues({ nrCpus: 8, nrQueues: 6, threadsPerCore: 2 }), 6), [2, 5]);
  assert.equal(unmapped(mapQueues({ nrCpus: 4, nrQueues: 6 }), 6), [2, 5]);
  assert.equal(unmapped(mapQueues({ nrCpus: 8, nrQueues: 3, threadsPerCore: 2 }), 3), []);
});

test("mapQueues() v4.4 folds adjacent siblings onto their first sibling too", () => {
  // Cores {0,1} {2,3} {4,5} {6,7}: core k takes k * 3 / 4.
  assert.equal(mapQueues({ nrCpus: 8, nrQueues: 3, threadsPerCore: 2, siblings: "adjacent" }), [
    0,
    0,
    0,
    0,
    1,
    1,
    2,
    2,
  ]);
  // Enough queues: siblings are ignored and CPUs go 1:1.
  assert.equal(mapQueues({ nrCpus: 4, nrQueues: 4, threadsPerCore: 2, siblings: "adjacent" }), [
    0,
    1,
    2,
    3,
  ]);
});

test("mapQueues() modern gives the reference's worked examples", () => {
  const modern = { algorithm: "modern" } as const;
  assert.equal(
    mapQueues({ nrCpus: 8, nrQueues: 3, threadsPerCore: 2, siblings: "split", ...modern }),
    [0, 0, 1, 1, 0, 2, 1, 2],
  );
  assert.equal(mapQueues({ nrCpus: 6, nrQueues: 4, ...modern }), [0, 0, 1, 1, 2, 3]);
  assert.equal(
    mapQueues({ nrCpus: 8, nrQueues: 3, threadsPerCore: 2, siblings: "adjacent", ...modern }),
    [0, 0, 0, 1, 1, 1, 2, 2],
  );
});

test("mapQueues() modern wraps queues past nr_cpus onto the first groups (v6.18)", () => {
  const m = mapQueues({ nrCpus: 4, nrQueues: 6, algorithm: "modern" });
  assert.equal(m, [4, 5, 2, 3]);
  assert.equal(unmapped(m, 6), [0, 1]);
  assert.equal(mapQueues({ nrCpus: 1, nrQueues: 3, algorithm: "modern" }), [2]);
  assert.equal(mapQueues({ nrCpus: 5, nrQueues: 1, threadsPerCore: 5, algorithm: "modern" }), [
    0,
    0,
    0,
    0,
    0,
  ]);
});

test("updateQueueMap() maps offline CPUs to 0 and spreads over the online CPUs and cores", () => {
  // CPU 0 offline: CPU 4 has no linked sibling left, so it is a core of its own.
  const online = [1, 2, 3, 4, 5, 6, 7];
  assert.equal(updateQueueMap({ nrCpus: 8, nrQueues: 3, threadsPerCore: 2, onlineMask: online }), [
    0,
    0,
    0,
    1,
    2,
    0,
    0,
    1,
  ]);
  assert.equal(updateQueueMap({ nrCpus: 4, nrQueues: 2, onlineMask: [0, 1, 3] }), [0, 0, 0, 1]);
  assert.equal(updateQueueMap({ nrCpus: 4, nrQueues: 2, onlineMask: new Set<number>() }), [
    0,
    0,
    0,
    0,
  ]);
});

test("updateQueueMap() makes a CPU outside linkedMask its own first sibling (CPU_UP_PREPARE)", () => {
  const all = [0, 1, 2, 3, 4, 5, 6, 7];
  const base = { nrCpus: 8, nrQueues: 3, threadsPerCore: 2, onlineMask: all };
  assert.equal(updateQueueMap(base), [0, 0, 1, 2, 0, 0, 1, 2]);
  assert.equal(updateQueueMap({ ...base, linkedMask: all }), [0, 0, 1, 2, 0, 0, 1, 2]);
  assert.equal(updateQueueMap({ ...base, linkedMask: [0, 1, 2, 3, 5, 6, 7] }), [
    0,
    0,
    1,
    1,
    2,
    0,
    1,
    1,
  ]);
});

// ---------------------------------------------------------------------------
// Properties and cross-checks

test("mapQueues() v4.4 keeps every entry in range and siblings together when queues are short", () => {
  const rand = rng(0x44);
  for (let run = 0; run < 1500; run++) {
    const c = randomConfig(rand);
    const m = mapQueues(c);
    assert.is(m.length, c.nrCpus, label(c));
    for (const q of m) assert.ok(Number.isInteger(q) && q >= 0 && q < c.nrQueues, label(c));
    if (c.nrQueues < c.nrCpus && c.threadsPerCore > 1) {
      for (let cpu = 0; cpu < c.nrCpus; cpu++) {
        const first = siblingsOf(cpu, c.nrCpus, c.threadsPerCore, c.siblings)[0];
        assert.is(m[cpu], m[first], `${label(c)} cpu ${cpu}`);
      }
    }
  }
});

test("mapQueues() modern maps every CPU, uses every queue up to nr_cpus, and balances groups", () => {
  const rand = rng(0x618);
  for (let run = 0; run < 1500; run++) {
    const c = randomConfig(rand);
    const m = mapQueues({ ...c, algorithm: "modern" });
    assert.is(m.length, c.nrCpus, label(c));
    for (const q of m) assert.ok(Number.isInteger(q) && q >= 0 && q < c.nrQueues, label(c));
    if (c.nrQueues <= c.nrCpus) {
      const sizes = new Array<number>(c.nrQueues).fill(0);
      for (const q of m) sizes[q]++;
      assert.ok(Math.min(...sizes) >= 1, `${label(c)} holes`);
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `${label(c)} sizes ${sizes}`);
    } else {
      assert.is(new Set(m).size, c.nrCpus, `${label(c)} one CPU per queue`);
    }
  }
});

test("the WASM v4.4 map equals the reference on thousands of random machines and online masks", () => {
  const rand = rng(2015);
  for (let run = 0; run < 4000; run++) {
    const c = randomConfig(rand);
    const all = new Set(Array.from({ length: c.nrCpus }, (_, i) => i));
    assert.equal(
      mapQueues(c),
      refUpdateQueueMap(c.nrCpus, c.nrQueues, c.threadsPerCore, c.siblings, all),
      label(c),
    );
    const online = randomMask(rand, c.nrCpus);
    const linked = rand(4) === 0 ? randomMask(rand, c.nrCpus) : undefined;
    const got = updateQueueMap({ ...c, onlineMask: online, linkedMask: linked });
    const want = refUpdateQueueMap(
      c.nrCpus,
      c.nrQueues,
      c.threadsPerCore,
      c.siblings,
      new Set(online),
      linked && new Set(linked),
    );
    assert.equal(got, want, `${label(c)} online ${online} linked ${linked}`);
  }
});

test("the WASM modern map equals the reference on thousands of random machines", () => {
  const rand = rng(2025);
  for (let run = 0; run < 2000; run++) {
    const c = randomConfig(rand);
    const want = refModernMap(c.nrCpus, c.nrQueues, c.threadsPerCore, c.siblings);
    assert.equal(mapQueues({ ...c, algorithm: "modern" }), want, label(c));
  }
});

test("mapSwqueue() attaches each online CPU to exactly its hctx, in increasing CPU order", () => {
  const rand = rng(0x5e);
  for (let run = 0; run < 1500; run++) {
    const c = randomConfig(rand);
    const online = randomMask(rand, c.nrCpus);
    const isOnline = new Set(online);
    const map = rand(2) === 0
      ? updateQueueMap({ ...c, onlineMask: online })
      : mapQueues({ ...c, algorithm: "modern" });
    const { hctxs, ctxs } = mapSwqueue(map, online, c.nrQueues);
    assert.is(hctxs.length, c.nrQueues, label(c));
    assert.is(ctxs.length, c.nrCpus, label(c));
    const seen = new Map<number, number>();
    hctxs.forEach((h, i) => {
      assert.is(h.nrCtx, h.cpus.length, label(c));
      assert.is(h.mapped, h.nrCtx > 0, label(c));
      h.cpus.forEach((cpu, k) => {
        assert.ok(!seen.has(cpu), `${label(c)} cpu ${cpu} in hctx ${seen.get(cpu)} and ${i}`);
        seen.set(cpu, i);
        assert.ok(isOnline.has(cpu), `${label(c)} offline cpu ${cpu} attached`);
        assert.is(map[cpu], i, label(c));
        assert.equal(ctxs[cpu], { hctx: i, indexHw: k }, label(c));
        if (k > 0) assert.ok(h.cpus[k - 1] < cpu, `${label(c)} index_hw order`);
      });
    });
    assert.is(seen.size, isOnline.size, `${label(c)} every online CPU attached`);
    ctxs.forEach((x, cpu) => assert.is(x === null, !isOnline.has(cpu), `${label(c)} cpu ${cpu}`));
  }
});

test("mapSwqueue() attaches no offline CPU to hctx 0 although offline CPUs map to 0", () => {
  const { hctxs, ctxs } = mapSwqueue([0, 0, 1, 1], [2, 3, 3], 2);
  assert.equal(hctxs, [{ cpus: [], nrCtx: 0, mapped: false }, {
    cpus: [2, 3],
    nrCtx: 2,
    mapped: true,
  }]);
  assert.equal(ctxs, [null, null, { hctx: 1, indexHw: 0 }, { hctx: 1, indexHw: 1 }]);
});

test("mapQueues() and mapSwqueue() handle NR_CPUS CPUs and MAX_HW_QUEUES queues", () => {
  const identity = Array.from({ length: NR_CPUS }, (_, i) => i);
  assert.is(NR_CPUS, 4096);
  assert.is(MAX_HW_QUEUES, 4096);
  assert.equal(
    mapQueues({ nrCpus: NR_CPUS, nrQueues: MAX_HW_QUEUES, threadsPerCore: 2 }),
    identity,
  );
  assert.equal(
    mapQueues({ nrCpus: NR_CPUS, nrQueues: MAX_HW_QUEUES, algorithm: "modern" }),
    identity,
  );
  const { hctxs } = mapSwqueue(identity, identity, MAX_HW_QUEUES);
  assert.ok(hctxs.every((h, i) => h.nrCtx === 1 && h.cpus[0] === i));
  const folded = mapQueues({
    nrCpus: NR_CPUS,
    nrQueues: 3,
    threadsPerCore: 4,
    siblings: "adjacent",
  });
  assert.equal(folded, refUpdateQueueMap(NR_CPUS, 3, 4, "adjacent", new Set(identity)));
});

// ---------------------------------------------------------------------------
// The WASM functions themselves

/** Host-window scratch of a core: a mask at 0, a map at 1024, nr_ctx at 20480, index_hw at 40960. */
function scratch(core: CoreExports) {
  const base = core.hostbuf_ptr();
  const mem = () => new Uint8Array(core.memory.buffer);
  return {
    mask: base,
    map: base + 1024,
    nrCtx: base + 20480,
    indexHw: base + 40960,
    setMask(cpus: number[]) {
      mem().fill(0, base, base + 512);
      for (const c of cpus) mem()[base + (c >> 3)] |= 1 << (c & 7);
    },
    u32(at: number, n: number) {
      return Array.from(new Uint32Array(core.memory.buffer, at, n));
    },
    poison() {
      mem().fill(0xab, base + 1024, base + 65536);
    },
    poisoned() {
      return mem().subarray(base + 1024, base + 65536).every((b) => b === 0xab);
    },
  };
}

test("every core variant computes the same maps", () => {
  const rand = rng(7);
  const configs = Array.from({ length: 50 }, () => randomConfig(rand));
  for (const v of CORE_VARIANTS) {
    const core = instantiateCore(v);
    const s = scratch(core);
    for (const c of configs) {
      const sib = c.siblings === "split" ? 0 : 1;
      s.setMask(Array.from({ length: c.nrCpus }, (_, i) => i));
      assert.is(
        core.cpumap_update_queue_map(s.map, c.nrCpus, c.nrQueues, s.mask, c.threadsPerCore, sib, 0),
        0,
      );
      assert.equal(s.u32(s.map, c.nrCpus), mapQueues(c), `${v} ${label(c)}`);
      assert.is(core.cpumap_map_queues(s.map, c.nrCpus, c.nrQueues, c.threadsPerCore, sib), 0);
      assert.equal(
        s.u32(s.map, c.nrCpus),
        mapQueues({ ...c, algorithm: "modern" }),
        `${v} ${label(c)}`,
      );
      assert.is(
        core.cpumap_map_swqueue(s.map, c.nrCpus, c.nrQueues, s.mask, s.nrCtx, s.indexHw),
        c.nrCpus,
      );
    }
  }
});

test("cpumap_map_swqueue() writes nr_ctx, index_hw and -1 for offline CPUs", () => {
  const core = instantiateCore("debug");
  const s = scratch(core);
  new Uint32Array(core.memory.buffer, s.map, 8).set([0, 1, 3, 4, 0, 1, 3, 4]);
  s.setMask([0, 1, 2, 4, 5, 7]);
  assert.is(core.cpumap_map_swqueue(s.map, 8, 6, s.mask, s.nrCtx, s.indexHw), 6);
  assert.equal(s.u32(s.nrCtx, 6), [2, 2, 0, 1, 1, 0]);
  assert.equal(Array.from(new Int32Array(core.memory.buffer, s.indexHw, 8)), [
    0,
    0,
    0,
    -1,
    1,
    1,
    -1,
    0,
  ]);
});

test("cpumap_first_sibling() gives the lowest CPU of the core in both layouts", () => {
  const core = instantiateCore("debug");
  assert.equal([0, 1, 2, 3, 4, 5, 6, 7].map((c) => core.cpumap_first_sibling(c, 8, 2, 0)), [
    0,
    1,
    2,
    3,
    0,
    1,
    2,
    3,
  ]);
  assert.equal([0, 1, 2, 3, 4, 5, 6, 7].map((c) => core.cpumap_first_sibling(c, 8, 2, 1)), [
    0,
    0,
    2,
    2,
    4,
    4,
    6,
    6,
  ]);
  assert.equal([8, -1].map((c) => core.cpumap_first_sibling(c, 8, 2, 0)), [-22, -22]);
  assert.is(core.cpumap_first_sibling(0, 8, 3, 0), -22);
  assert.is(core.cpumap_nr_cpus(), NR_CPUS);
  assert.is(core.cpumap_max_hw_queues(), MAX_HW_QUEUES);
});

test("the cpumap WASM functions return -EINVAL for bad arguments and write nothing", () => {
  const core = instantiateCore("debug");
  const s = scratch(core);
  const end = core.memory.buffer.byteLength;
  s.setMask([0, 1, 2, 3, 4, 5, 6, 7]);
  // The poison (0xabababab) is also an hctx index far above 2 for every online CPU.
  s.poison();
  const update = (
    map: number,
    n: number,
    q: number,
    online: number,
    t: number,
    sib: number,
    linked = 0,
  ) => core.cpumap_update_queue_map(map, n, q, online, t, sib, linked);
  const bad = [
    update(s.map, 0, 2, s.mask, 1, 0),
    update(s.map, NR_CPUS + 1, 2, s.mask, 1, 0),
    update(s.map, 8, 0, s.mask, 1, 0),
    update(s.map, 8, MAX_HW_QUEUES + 1, s.mask, 1, 0),
    update(s.map, 8, 2, s.mask, 0, 0),
    update(s.map, 8, 2, s.mask, 3, 0),
    update(s.map, 8, 2, s.mask, 2, 2),
    update(0, 8, 2, s.mask, 1, 0),
    update(s.map + 2, 8, 2, s.mask, 1, 0),
    update(end - 16, 8, 2, s.mask, 1, 0),
    update(s.map, 8, 2, 0, 1, 0),
    update(s.map, 8, 2, s.mask, 1, 0, end),
    core.cpumap_map_queues(s.map, 0, 2, 1, 0),
    core.cpumap_map_queues(s.map, 8, 0, 1, 0),
    core.cpumap_map_queues(s.map, 8, 2, 3, 0),
    core.cpumap_map_queues(s.map, 8, 2, 1, -1),
    core.cpumap_map_queues(s.map + 1, 8, 2, 1, 0),
    core.cpumap_map_swqueue(s.map, 0, 2, s.mask, s.nrCtx, s.indexHw),
    core.cpumap_map_swqueue(s.map, 8, 0, s.mask, s.nrCtx, s.indexHw),
    core.cpumap_map_swqueue(s.map, 8, 2, s.mask, 0, s.indexHw),
    core.cpumap_map_swqueue(s.map, 8, 2, s.mask, s.nrCtx, end - 4),
    core.cpumap_map_swqueue(s.map, 8, 2, s.mask, s.nrCtx, s.indexHw),
  ];
  assert.ok(bad.every((r) => r === -22), `${bad}`);
  assert.ok(s.poisoned(), "nothing written");
});

// ---------------------------------------------------------------------------
// Argument validation

test("mapQueues() rejects bad arguments with a TypeError or RangeError naming the argument", () => {
  const ok = { nrCpus: 8, nrQueues: 2 };
  const call = (o: unknown) => () => mapQueues(o as Parameters<typeof mapQueues>[0]);
  throwsNaming(call(undefined), TypeError, "options");
  throwsNaming(call(8), TypeError, "options");
  throwsNaming(call([8, 2]), TypeError, "options");
  throwsNaming(call({ ...ok, nrCpus: 0 }), RangeError, "nrCpus");
  throwsNaming(call({ ...ok, nrCpus: -4 }), RangeError, "nrCpus");
  throwsNaming(call({ ...ok, nrCpus: 2.5 }), RangeError, "nrCpus");
  throwsNaming(call({ ...ok, nrCpus: NaN }), RangeError, "nrCpus");
  throwsNaming(call({ ...ok, nrCpus: NR_CPUS + 1 }), RangeError, "nrCpus");
  throwsNaming(call({ ...ok, nrCpus: "8" }), TypeError, "nrCpus");
  throwsNaming(call({ nrCpus: 8 }), TypeError, "nrQueues");
  throwsNaming(call({ ...ok, nrQueues: 0 }), RangeError, "nrQueues");
  throwsNaming(call({ ...ok, nrQueues: 1.5 }), RangeError, "nrQueues");
  throwsNaming(call({ ...ok, nrQueues: MAX_HW_QUEUES + 1 }), RangeError, "nrQueues");
  throwsNaming(call({ ...ok, threadsPerCore: 3 }), RangeError, "threadsPerCore");
  throwsNaming(call({ ...ok, threadsPerCore: 0 }), RangeError, "threadsPerCore");
  throwsNaming(call({ ...ok, threadsPerCore: 16 }), RangeError, "threadsPerCore");
  throwsNaming(call({ ...ok, threadsPerCore: null }), TypeError, "threadsPerCore");
  throwsNaming(call({ ...ok, siblings: "interleaved" }), RangeError, "siblings");
  throwsNaming(call({ ...ok, siblings: 0 }), TypeError, "siblings");
  throwsNaming(call({ ...ok, algorithm: "v6.3" }), RangeError, "algorithm");
  throwsNaming(call({ ...ok, algorithm: true }), TypeError, "algorithm");
});

test("updateQueueMap() rejects masks that are not iterables of CPU numbers in range", () => {
  const ok = { nrCpus: 8, nrQueues: 2, onlineMask: [0, 1] };
  const call = (o: unknown) => () => updateQueueMap(o as Parameters<typeof updateQueueMap>[0]);
  throwsNaming(call(null), TypeError, "options");
  throwsNaming(call({ nrCpus: 8, nrQueues: 2 }), TypeError, "onlineMask");
  throwsNaming(call({ ...ok, onlineMask: "01" }), TypeError, "onlineMask");
  throwsNaming(call({ ...ok, onlineMask: [0, 8] }), RangeError, "onlineMask");
  throwsNaming(call({ ...ok, onlineMask: [-1] }), RangeError, "onlineMask");
  throwsNaming(call({ ...ok, onlineMask: [true] }), TypeError, "onlineMask");
  throwsNaming(call({ ...ok, linkedMask: 3 }), TypeError, "linkedMask");
  throwsNaming(call({ ...ok, linkedMask: [0.5] }), RangeError, "linkedMask");
  throwsNaming(call({ ...ok, nrCpus: 0 }), RangeError, "nrCpus");
});

test("mapSwqueue() rejects bad maps, masks and queue counts naming the argument", () => {
  const call = (map: unknown, online: unknown, q: unknown) => () =>
    mapSwqueue(map as number[], online as number[], q as number);
  throwsNaming(call([0, 1], [0, 1], 0), RangeError, "nrQueues");
  throwsNaming(call([0, 1], [0, 1], "2"), TypeError, "nrQueues");
  throwsNaming(call(new Uint32Array(2), [0, 1], 2), TypeError, "map");
  throwsNaming(call([], [], 2), RangeError, "map.length");
  throwsNaming(call(new Array(NR_CPUS + 1).fill(0), [], 2), RangeError, "map.length");
  throwsNaming(call([0, 2], [0, 1], 2), RangeError, "map[1]");
  throwsNaming(call([0, -1], [0, 1], 2), RangeError, "map[1]");
  throwsNaming(call([0, undefined], [0], 2), TypeError, "map[1]");
  throwsNaming(call([0, 1], [2], 2), RangeError, "onlineMask");
  throwsNaming(call([0, 1], 1, 2), TypeError, "onlineMask");
});

test.run();
