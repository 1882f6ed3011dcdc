// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KernelBug, KernelError } from "../errors.ts";
import { KasanBug } from "../kernel/kasan.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { GFP_ATOMIC, GFP_KERNEL, GFP_NOIO, GFP_NOWAIT } from "../kernel/mempool.ts";
import { sleep } from "../kernel/sched.ts";
import { CORE_VARIANTS } from "../wasm/core.ts";
import { boot, inTask } from "./_testkit.ts";
import {
  BIO,
  BIO_CHAIN,
  BIO_CLONED,
  BIO_INLINE_VECS,
  BIO_OWNS_VEC,
  BIO_POOL_NONE,
  BIO_POOL_OFFSET,
  BIO_REFFED,
  BIO_SIZE,
  bioAddPage,
  bioAdvance,
  bioAlloc,
  BIO_ALLOC_WOULD_SLEEP,
  bioAllocNowait,
  bioAllocTry,
  bioChain,
  bioDev,
  bioEndio,
  bioExit,
  bioField,
  bioGet,
  bioIoError,
  bioLayer,
  bioPut,
  bioReset,
  bioSectors,
  bioSegments,
  bioSetCreate,
  bioSetCreateNobvec,
  bioSetDev,
  bioSetField,
  bioSetFree,
  bioSnapshot,
  bioSplit,
  bioSplitNowait,
  bioVec,
  BIOVEC_MAX_IDX,
  BVEC_CLASSES,
  BVEC_SIZE,
  bvecIdx,
  fsBioSet,
  registerBioEndIo,
  REQ_NOMERGE,
  REQ_SYNC,
  REQ_WRITE,
} from "./bio.ts";

/** Ends a test: fs_bio_set and the biovec slabs go, then nothing may be live and the log must be clean. */
function finish(k: Kernel): void {
  bioExit(k);
  k.run();
  assert.is(k.liveObjects(), 0, "live objects");
  k.assertClean();
}

const bugAt = (where: string) => (e: unknown) => e instanceof KernelBug && e.where === where;
const PAGE = 0x40000;

test("every struct bio field round-trips between the TS views and asm/bio.ts", () => {
  for (const v of CORE_VARIANTS) {
    const k = boot({ variant: v });
    assert.is(k.core.bio_struct_size(), BIO_SIZE, v);
    assert.is(k.core.bio_vec_size(), BVEC_SIZE, v);
    const bs = fsBioSet(k);
    const bio = bioAllocNowait(bs, GFP_ATOMIC, 2);
    const s = bioSnapshot(k, bio);
    assert.equal(
      { ...s, bi_io_vec: s.bi_io_vec - bio, bi_pool: s.bi_pool - bs.ptr },
      {
        ...Object.fromEntries(Object.keys(BIO).map((f) => [f, 0])),
        bi_flags: BIO_POOL_NONE << BIO_POOL_OFFSET >>> 0,
        __bi_remaining: 1,
        __bi_cnt: 1,
        bi_max_vecs: 2,
        bi_io_vec: BIO_SIZE,
      },
      `bio_alloc_init() (${v})`,
    );
    // TS writes, asm reads: sector above 2^32 and the iterator move with bio_advance().
    bioSetField(k, bio, "bi_sector", 2 ** 40 + 7);
    assert.is(bioAddPage(k, bio, PAGE, 4096, 0), 4096);
    assert.is(bioAddPage(k, bio, PAGE * 2, 1024, 512), 1024);
    assert.equal(bioVec(k, bio, 1), { bvPage: PAGE * 2, bvLen: 1024, bvOffset: 512 });
    bioAdvance(k, bio, 4096 + 512);
    assert.equal(
      [
        bioField(k, bio, "bi_sector"),
        bioField(k, bio, "bi_size"),
        bioField(k, bio, "bi_idx"),
        bioField(k, bio, "bi_bvec_done"),
      ],
      [2 ** 40 + 7 + 9, 512, 1, 512],
    );
    // bio_reset() zeroes exactly the fields before bi_max_vecs and keeps the high flag bits.
    const before: Record<string, number> = {};
    for (const f of Object.keys(BIO) as (keyof typeof BIO)[]) {
      if (f === "bi_sector" || f.startsWith("__") || BIO[f] >= BIO.bi_max_vecs) continue;
      bioSetField(k, bio, f, BIO[f] + 1);
      before[f] = BIO[f] + 1;
    }
    assert.is(bioField(k, bio, "bi_error"), BIO.bi_error + 1);
    bioSetField(
      k,
      bio,
      "bi_flags",
      (0xf << BIO_POOL_OFFSET | 1 << BIO_OWNS_VEC | 1 << BIO_CHAIN) >>> 0,
    );
    bioSetField(k, bio, "bi_end_io", 0);
    bioSetField(k, bio, "bi_private", 0);
    bioReset(k, bio);
    const r = bioSnapshot(k, bio);
    assert.is(
      r.bi_flags,
      (0xf << BIO_POOL_OFFSET | 1 << BIO_OWNS_VEC) >>> 0,
      "flags from BIO_RESET_BITS up survive",
    );
    assert.equal([r.bi_next, r.bi_size, r.bi_sector, r.bi_vcnt, r.__bi_remaining], [0, 0, 0, 0, 1]);
    assert.equal([r.bi_max_vecs, r.__bi_cnt, r.bi_io_vec, r.bi_pool], [
      2,
      1,
      bio + BIO_SIZE,
      bs.ptr,
    ]);
    bioSetField(k, bio, "bi_flags", BIO_POOL_NONE << BIO_POOL_OFFSET >>> 0);
    bioSetDev(k, bio, 0);
    assert.is(bioField(k, bio, "bi_bdev"), 1, "queue 0 is stored as 1: 0 stays NULL");
    assert.is(bioDev(k, bio), 0);
    assert.throws(() => bioSetField(k, bio, "bi_vcnt", 0x10000), RangeError);
    bioPut(k, bio);
    finish(k);
  }
});

test("bvec_alloc() classes: 1..256 vecs map to biovec-1/4/16/64/128/256; 0 and > 256 are EINVAL", () => {
  const k = boot();
  const want = (n: number) =>
    n === 1 ? 0 : n <= 4 ? 1 : n <= 16 ? 2 : n <= 64 ? 3 : n <= 128 ? 4 : 5;
  for (let n = 1; n <= 256; n++) {
    assert.is(bvecIdx(k, n), want(n), `nr ${n}`);
    assert.ok(BVEC_CLASSES[bvecIdx(k, n)] >= n);
  }
  for (let i = 0; i < 6; i++) assert.is(k.core.bvec_nr_vecs(i), BVEC_CLASSES[i]);
  assert.is(k.core.bvec_nr_vecs(6), -22);
  for (const n of [0, -1, 257, 1 << 20]) {
    assert.is(k.core.bvec_idx(n), -22);
    assert.throws(
      () => bvecIdx(k, n),
      (e: unknown) => e instanceof KernelError && e.code === "EINVAL",
    );
  }
  assert.equal(bioLayer(k).bvecSlabs.map((c) => c.name), BVEC_CLASSES.map((n) => `biovec-${n}`));
  finish(k);
});

test("bio_alloc() keeps up to 4 vecs inline and takes bigger arrays from their class, 256 from the bvec mempool", () => {
  const k = boot();
  const bs = fsBioSet(k);
  const l = bioLayer(k);
  const none = bioAllocNowait(bs, GFP_ATOMIC, 0);
  assert.is(bioField(k, none, "bi_io_vec"), 0);
  const inline = bioAllocNowait(bs, GFP_ATOMIC, BIO_INLINE_VECS);
  assert.is(bioField(k, inline, "bi_io_vec"), inline + BIO_SIZE);
  const cases: [number, number][] = [[5, 2], [16, 2], [17, 3], [100, 4], [129, 5], [256, 5]];
  const bios = cases.map(([n]) => bioAllocNowait(bs, GFP_ATOMIC, n));
  cases.forEach(([n, idx], i) => {
    const flags = bioField(k, bios[i], "bi_flags");
    assert.is(flags >>> BIO_POOL_OFFSET, idx, `class of ${n}`);
    assert.ok(flags & (1 << BIO_OWNS_VEC));
    assert.is(
      bioField(k, bios[i], "bi_max_vecs"),
      n,
      "v4.4 records the count asked, not the class size",
    );
  });
  assert.equal(
    l.bvecSlabs.map((c) => c.nrLive),
    [0, 0, 2, 1, 1, 2 + 2],
    "two biovec-256 are the bvec pool's reserve",
  );
  assert.is(bs.bvecPool!.currNr, 2, "the reserve is untouched while the slab serves");
  for (const b of [none, inline, ...bios]) bioPut(k, b);
  assert.equal(l.bvecSlabs.map((c) => c.nrLive), [0, 0, 0, 0, 0, 2]);
  assert.is(bs.bioSlab.nrLive, 2);
  finish(k);
});

test("bio_alloc() takes the reserve only after the allocator fails, and a free refills the reserve first", () => {
  const k = boot();
  const bs = fsBioSet(k);
  const a = bioAllocNowait(bs, GFP_ATOMIC, 1);
  assert.is(bs.bioPool.nrReserveUsed, 0);
  k.slab.failNth(bs.bioSlab, 1);
  const b = bioAllocNowait(bs, GFP_ATOMIC, 1);
  assert.ok(b !== 0);
  assert.is(bs.bioPool.nrReserveUsed, 1);
  assert.is(bs.bioPool.currNr, 1);
  const c = bioAllocNowait(bs, GFP_NOWAIT, 1);
  assert.is(bs.bioPool.currNr, 1, "the allocator works again");
  bioPut(k, c);
  assert.is(bs.bioPool.currNr, 2, "the first free refills the reserve");
  bioPut(k, a);
  bioPut(k, b);
  assert.is(bs.bioPool.currNr, 2);
  assert.is(bs.bioSlab.nrLive, 2, "only the reserve is left");
  finish(k);
});

test("GFP_ATOMIC gets 0 (ENOMEM) once allocator and reserve are exhausted; a failed bvec gives the bio back", () => {
  const k = boot();
  const bs = fsBioSet(k);
  k.slab.setFaultAttr(bs.bioSlab, { probability: 100 });
  const held = [bioAllocNowait(bs, GFP_ATOMIC, 1), bioAllocNowait(bs, GFP_ATOMIC, 1)];
  assert.ok(held.every((b) => b !== 0));
  assert.is(bioAllocNowait(bs, GFP_ATOMIC, 1), 0);
  assert.is(k.core.mm_errno(), -12);
  assert.throws(() => bioAllocNowait(bs, GFP_NOIO, 1), RangeError, "a sleeping mask needs a task");
  k.slab.setFaultAttr(bs.bioSlab, { probability: 0 });
  const l = bioLayer(k);
  k.slab.failNth(l.bvecSlabs[2], 1);
  assert.is(
    bioAllocNowait(bs, GFP_ATOMIC, 16),
    0,
    "no mempool fallback below biovec-256 without direct reclaim",
  );
  assert.is(bs.bioSlab.nrLive, 3, "the bio went back");
  assert.is(bioAllocNowait(bs, GFP_ATOMIC, 257), 0, "more than BIO_MAX_PAGES: NULL");
  for (const b of held) bioPut(k, b);
  finish(k);
});

test("a sleeping bio_alloc() waits on the exhausted pool and is woken by the free that refills it", () => {
  const k = boot({ cpus: 2 });
  const bs = fsBioSet(k);
  k.slab.setFaultAttr(bs.bioSlab, { probability: 100 });
  const held = [bioAllocNowait(bs, GFP_ATOMIC, 1), bioAllocNowait(bs, GFP_ATOMIC, 1)];
  let got = 0;
  let gotAt = -1;
  k.sched.spawn("dio", function* () {
    got = yield* bioAlloc(bs, GFP_NOIO, 1);
    gotAt = k.clock.now();
  });
  k.sched.spawn("endio", function* () {
    yield sleep(2_000_000);
    assert.is(bs.bioPool.nrWaiters, 1, "the allocation sleeps on pool->wait");
    bioPut(k, held[1]);
  });
  assert.is(k.run().kind, "done");
  assert.is(got, held[1], "it got the freed bio");
  assert.is(gotAt, 2_000_000, "woken by the free, not the 5 s timeout");
  k.slab.setFaultAttr(bs.bioSlab, { probability: 0 });
  bioPut(k, got);
  bioPut(k, held[0]);
  finish(k);
});

test("a sleeping bio_alloc() of 16 vecs falls back to the biovec-256 pool when biovec-16 fails", () => {
  const k = boot();
  const bs = fsBioSet(k);
  const l = bioLayer(k);
  k.slab.setFaultAttr(l.bvecSlabs[2], { probability: 100 });
  const bio = inTask(k, () => bioAlloc(bs, GFP_KERNEL, 16));
  assert.is(bioField(k, bio, "bi_flags") >>> BIO_POOL_OFFSET, BIOVEC_MAX_IDX);
  assert.is(bioField(k, bio, "bi_max_vecs"), 16);
  assert.is(l.bvecSlabs[BIOVEC_MAX_IDX].nrLive, 3, "a biovec-256 array for 16 vecs");
  bioPut(k, bio);
  k.slab.setFaultAttr(l.bvecSlabs[2], { probability: 0 });
  assert.is(l.bvecSlabs[BIOVEC_MAX_IDX].nrLive, 2);
  finish(k);
});

test("bioAllocTry() gives a bio while the pool serves and BIO_ALLOC_WOULD_SLEEP, with nothing taken, where bio_alloc() would sleep", () => {
  const k = boot();
  const bs = fsBioSet(k);
  const l = bioLayer(k);
  const a = bioAllocTry(bs, GFP_NOIO, 1);
  assert.ok(a > 0);
  assert.is(bioField(k, a, "bi_max_vecs"), 1);
  k.slab.setFaultAttr(bs.bioSlab, { probability: 100 });
  const held = [bioAllocTry(bs, GFP_NOIO, 1), bioAllocTry(bs, GFP_NOIO, 1)];
  assert.ok(held.every((b) => b > 0), "the reserve serves a blocking mask too");
  const live = bs.bioSlab.nrLive;
  assert.is(bioAllocTry(bs, GFP_NOIO, 1), BIO_ALLOC_WOULD_SLEEP);
  assert.is(bioAllocTry(bs, GFP_NOWAIT, 1), 0, "a mask that cannot sleep gets NULL");
  assert.is(bs.bioSlab.nrLive, live, "nothing was taken");
  assert.is(bs.bioPool.nrWaiters, 0, "and nobody sleeps");
  k.slab.setFaultAttr(bs.bioSlab, { probability: 0 });
  // 16 vecs with biovec-16 and the biovec-256 reserve exhausted: the bio goes back before the answer.
  k.slab.setFaultAttr(l.bvecSlabs[2], { probability: 100 });
  k.slab.setFaultAttr(l.bvecSlabs[BIOVEC_MAX_IDX], { probability: 100 });
  const big = [bioAllocTry(bs, GFP_NOIO, 16), bioAllocTry(bs, GFP_NOIO, 16)];
  assert.ok(big.every((b) => b > 0), "two from the biovec-256 reserve");
  const out = bs.bioSlab.nrLive - bs.bioPool.currNr;
  assert.is(bioAllocTry(bs, GFP_NOIO, 16), BIO_ALLOC_WOULD_SLEEP);
  assert.is(bs.bioSlab.nrLive - bs.bioPool.currNr, out, "the bio went back (into the bio reserve)");
  assert.is(bioAllocTry(bs, GFP_NOIO, 257), 0, "more than BIO_MAX_PAGES: NULL, not a sleep");
  k.slab.setFaultAttr(l.bvecSlabs[2], { probability: 0 });
  k.slab.setFaultAttr(l.bvecSlabs[BIOVEC_MAX_IDX], { probability: 0 });
  for (const b of [a, ...held, ...big]) bioPut(k, b);
  finish(k);
});

test("a chained parent ends once, after every child; the first error wins and the children are put", () => {
  const k = boot();
  const bs = fsBioSet(k);
  const ended: [number, number][] = [];
  const id = registerBioEndIo(
    k,
    "test_end_io",
    (bio, kk) => ended.push([bio, bioField(kk, bio, "bi_error")]),
  );
  assert.is(
    registerBioEndIo(k, "test_end_io", bioLayer(k).endIo(id)!),
    id,
    "same name, same function: same id",
  );
  assert.throws(() => registerBioEndIo(k, "test_end_io", () => {}), TypeError);
  const parent = bioAllocNowait(bs, GFP_ATOMIC, 1);
  bioSetField(k, parent, "bi_end_io", id);
  const kids = [1, 2, 3].map(() => bioAllocNowait(bs, GFP_ATOMIC, 1));
  for (const c of kids) bioChain(k, c, parent);
  assert.is(bioField(k, parent, "__bi_remaining"), 4);
  assert.ok(bioField(k, parent, "bi_flags") & (1 << BIO_CHAIN));
  const live = bs.bioSlab.nrLive;
  bioEndio(k, parent);
  bioIoError(k, kids[1]);
  bioSetField(k, kids[0], "bi_error", -28);
  bioEndio(k, kids[0]);
  assert.equal(ended, [], "two children still out");
  assert.is(bioField(k, parent, "bi_error"), -5, "the first error stays");
  assert.is(bs.bioSlab.nrLive, live - 2, "ended children are put");
  bioEndio(k, kids[2]);
  assert.equal(ended, [[parent, -5]], "end_io once, with the first error");
  assert.is(bioField(k, parent, "bi_flags") & (1 << BIO_CHAIN), 0);
  assert.throws(
    () => bioChain(k, kids[2], parent),
    (e: unknown) => e instanceof KernelBug,
    "a child that was put",
  );
  k.log.clear();
  bioPut(k, parent);
  finish(k);
});

test("bio_chain() of a bio that already has an end_io or private is a BUG", () => {
  const k = boot();
  const bs = fsBioSet(k);
  const a = bioAllocNowait(bs, GFP_ATOMIC, 0);
  const b = bioAllocNowait(bs, GFP_ATOMIC, 0);
  bioSetField(k, a, "bi_private", 1234);
  assert.throws(() => bioChain(k, a, b), bugAt("block/bio.c:bio_chain"));
  assert.match(k.log.text(), "kernel BUG at block/bio.c:bio_chain!");
  assert.is(bioField(k, b, "__bi_remaining"), 1, "nothing changed");
  k.log.clear();
  bioPut(k, a);
  bioPut(k, b);
  finish(k);
});

test("bio_split(): the split covers the first sectors, the bio keeps the rest, and the chain ends the bio once", () => {
  const k = boot();
  const bs = fsBioSet(k);
  const splits = bioSetCreateNobvec(k, 2, 0);
  const bio = bioAllocNowait(bs, GFP_ATOMIC, 4);
  for (let i = 0; i < 4; i++) assert.is(bioAddPage(k, bio, PAGE * (i + 1), 4096, 0), 4096);
  bioSetField(k, bio, "bi_sector", 1000);
  bioSetField(k, bio, "bi_rw", REQ_WRITE | REQ_SYNC);
  bioSetDev(k, bio, 3);
  let ends = 0;
  bioSetField(k, bio, "bi_end_io", registerBioEndIo(k, "count", () => ends++));
  assert.is(bioSectors(k, bio), 32);
  assert.is(bioSegments(k, bio), 4);
  const split = inTask(k, () => bioSplit(k, bio, 10, GFP_NOIO, splits));
  const s = bioSnapshot(k, split);
  const b = bioSnapshot(k, bio);
  assert.equal([s.bi_sector, s.bi_size, s.bi_idx, s.bi_bvec_done], [1000, 5120, 0, 0]);
  assert.equal([b.bi_sector, b.bi_size, b.bi_idx, b.bi_bvec_done], [1010, 11264, 1, 1024]);
  assert.is(s.bi_sector + bioSectors(k, split), b.bi_sector, "the pieces meet");
  assert.is(bioSectors(k, split) + bioSectors(k, bio), 32, "and add up");
  assert.equal([bioSegments(k, split), bioSegments(k, bio)], [2, 3]);
  assert.equal(
    [s.bi_io_vec, s.bi_rw, bioDev(k, split)],
    [b.bi_io_vec, REQ_WRITE | REQ_SYNC, 3],
    "the clone shares vecs, rw and bdev",
  );
  assert.ok(s.bi_flags & (1 << BIO_CLONED));
  assert.is(bioAddPage(k, split, PAGE, 512, 0), 0, "no pages on a clone (WARN_ON_ONCE)");
  assert.match(k.log.text(), "WARN_ON_ONCE(bio_flagged(bio, BIO_CLONED))");
  k.log.clear();
  // blk_queue_split(): the split is marked REQ_NOMERGE and chained to the rest.
  bioSetField(k, split, "bi_rw", s.bi_rw | REQ_NOMERGE);
  bioChain(k, split, bio);
  bioEndio(k, bio);
  assert.is(ends, 0);
  bioEndio(k, split);
  assert.is(ends, 1);
  assert.is(splits.bioSlab, bs.bioSlab, "same size: one bio-0 slab");
  assert.is(splits.bioPool.currNr, 2, "the split went back to its reserve");
  assert.is(bs.bioSlab.nrLive, 2 + 2 + 1, "two reserves and the bio");
  assert.throws(
    () => bioSplitNowait(k, bio, 22, GFP_ATOMIC, splits),
    bugAt("block/bio.c:bio_split"),
    "sectors >= bio_sectors",
  );
  assert.throws(
    () => bioSplitNowait(k, bio, 0, GFP_ATOMIC, splits),
    bugAt("block/bio.c:bio_split"),
  );
  k.log.clear();
  bioPut(k, bio);
  bioSetFree(splits);
  finish(k);
});

test("bio_get()/bio_put() count references and the last put frees the bio", () => {
  const k = boot();
  const bs = fsBioSet(k);
  const bio = bioAllocNowait(bs, GFP_ATOMIC, 1);
  const live = bs.bioSlab.nrLive;
  bioGet(k, bio);
  bioGet(k, bio);
  assert.is(bioField(k, bio, "__bi_cnt"), 3);
  assert.ok(bioField(k, bio, "bi_flags") & (1 << BIO_REFFED));
  bioPut(k, bio);
  bioPut(k, bio);
  assert.is(bs.bioSlab.nrLive, live, "still referenced");
  bioPut(k, bio);
  assert.is(bs.bioSlab.nrLive, live - 1);
  finish(k);
});

test("a put of a freed bio is a KASAN double-free in every build, and changes nothing", () => {
  for (const v of CORE_VARIANTS) {
    const k = boot({ variant: v });
    const bs = fsBioSet(k);
    const bio = bioAllocNowait(bs, GFP_ATOMIC, 16);
    bioPut(k, bio);
    const live = [bs.bioSlab.nrLive, bioLayer(k).bvecSlabs[2].nrLive, bs.bioPool.currNr];
    assert.throws(
      () => bioPut(k, bio),
      (e: unknown) => e instanceof KasanBug && e.report.kind === "double-free",
      v,
    );
    assert.match(k.log.text(), "BUG: KASAN: double-free or invalid-free in bio_put");
    assert.equal([bs.bioSlab.nrLive, bioLayer(k).bvecSlabs[2].nrLive, bs.bioPool.currNr], live, v);
    assert.throws(() => bioGet(k, bio), bugAt("block/bio.c:bio_get"), v);
    assert.throws(() => bioEndio(k, bio), bugAt("block/bio.c:bio_endio"), v);
    assert.throws(
      () => bioPut(k, 0xfffffff0),
      (e: unknown) => e instanceof KasanBug,
      "outside memory: reported, no trap",
    );
    k.log.clear();
    finish(k);
  }
});

test("bio_put() of an inline-vec bio frees it in the core: to its own set's pool, the reserve first; a second put is a double free; a bi_pool naming no live set is a BUG", () => {
  for (const v of CORE_VARIANTS) {
    const k = boot({ variant: v });
    const bs = bioSetCreate(k, 2, 0);
    k.slab.setFaultAttr(bs.bioSlab, { probability: 100 });
    const fromReserve = [bioAllocNowait(bs, GFP_ATOMIC, 1), bioAllocNowait(bs, GFP_ATOMIC, BIO_INLINE_VECS)];
    assert.is(bs.bioPool.currNr, 0, v);
    k.slab.setFaultAttr(bs.bioSlab, { probability: 0 });
    const fresh = [bioAllocTry(bs, GFP_NOIO, 1), bioAllocTry(bs, GFP_NOIO, 2)];
    assert.is(bs.bioPool.currNr, 0, `${v}: the allocator first`);
    bioPut(k, fromReserve[0]);
    assert.is(bs.bioPool.currNr, 1, `${v}: the put refills the reserve`);
    bioPut(k, fromReserve[1]);
    assert.is(bs.bioPool.currNr, 2, v);
    const live = bs.bioSlab.nrLive;
    bioPut(k, fresh[0]);
    assert.is(bs.bioPool.currNr, 2, `${v}: the reserve is full`);
    assert.is(bs.bioSlab.nrLive, live - 1, `${v}: so the bio went to the slab`);
    assert.throws(() => bioPut(k, fresh[0]), (e: unknown) => e instanceof KasanBug && e.report.kind === "double-free", v);
    assert.is(bs.bioPool.currNr, 2, `${v}: the double free changed nothing`);

    const orphan = fresh[1];
    const scratch = k.slab.kzalloc(16, "bio.test");
    bioSetField(k, orphan, "bi_pool", scratch); // a record whose bio_pool word names no mempool
    assert.throws(() => bioPut(k, orphan), (e: unknown) => e instanceof KernelBug && /is not a live bio_set/.test(e.message), v);
    assert.is(bs.bioPool.currNr, 2, `${v}: no pool was touched`);
    k.slab.kfree(scratch);
    bs.bioPool.free(orphan); // by hand: the failed put left it to its caller
    k.log.clear();
    bioSetFree(bs);
    finish(k);
  }
});

test("bio_add_page() grows the last vec for a contiguous range and returns 0 when full; bio_advance() past the end WARNs", () => {
  const k = boot();
  const bio = bioAllocNowait(fsBioSet(k), GFP_ATOMIC, 2);
  assert.is(bioAddPage(k, bio, PAGE, 1024, 0), 1024);
  assert.is(bioAddPage(k, bio, PAGE, 1024, 1024), 1024, "continues vec 0");
  assert.is(bioField(k, bio, "bi_vcnt"), 1);
  assert.is(bioAddPage(k, bio, PAGE * 2, 100, 0), 100);
  assert.is(bioAddPage(k, bio, PAGE * 3, 100, 0), 0, "full");
  assert.equal([bioField(k, bio, "bi_size"), bioSegments(k, bio)], [2148, 2]);
  bioAdvance(k, bio, 5000);
  assert.match(k.log.text(), "Attempted to advance past end of bvec iter");
  assert.is(bioField(k, bio, "bi_size"), 2148, "nothing moved");
  k.log.clear();
  bioAdvance(k, bio, 2148);
  assert.equal([bioField(k, bio, "bi_size"), bioField(k, bio, "bi_idx"), bioSegments(k, bio)], [
    0,
    2,
    0,
  ]);
  bioPut(k, bio);
  finish(k);
});

test("bioset_create() with front_pad shares a bio-N slab by size; a nobvec set refuses vecs", () => {
  const k = boot();
  const a = bioSetCreate(k, 4, 64);
  const b = bioSetCreate(k, 1, 64);
  assert.is(a.bioSlab, b.bioSlab);
  assert.is(a.bioSlab.name, "bio-0");
  assert.is(fsBioSet(k).bioSlab.name, "bio-1");
  const bio = bioAllocNowait(a, GFP_ATOMIC, 1);
  assert.is(
    k.core.slab_obj_cache(bio - 64),
    a.bioSlab.id,
    "the bio sits front_pad into its object",
  );
  bioPut(k, bio);
  assert.throws(() => bioExit(k), TypeError, "biosets still live");
  bioSetFree(a);
  assert.ok(!b.bioSlab.destroyed, "b still uses the slab");
  bioSetFree(b);
  assert.ok(b.bioSlab.destroyed);
  assert.throws(() => bioSetFree(b), TypeError);
  const nb = bioSetCreateNobvec(k, 1, 0);
  assert.is(bioAllocNowait(nb, GFP_ATOMIC, 1), 0);
  assert.match(k.log.text(), "WARN_ON_ONCE(!bs->bvec_pool && nr_iovecs > 0)");
  k.log.clear();
  bioSetFree(nb);
  finish(k);
});

test.run();
