// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Kernel } from "../kernel/kernel.ts";
import { sleep, type Sleepable } from "../kernel/sched.ts";
import { boot, inTask } from "./_testkit.ts";
import { bioEndio, bioExit, bioField, bioSetField, fsBioSet, REQ_WRITE } from "./bio.ts";
import {
  type Dio,
  DIO_PERSISTENT_DIO,
  dioAlloc,
  dioAwaitCompletion,
  dioBioAlloc,
  dioBioSubmit,
  dioFree,
  dioPrepare,
  type SubmitBio,
} from "./dio.ts";
import {
  blkAllocQueueNode,
  blkCleanupQueue,
  blkMqFreezeQueueStart,
  blkMqUnfreezeQueue,
  blkQueueEnter,
  blkQueueExit,
  blkQueueMakeRequest,
  type RequestQueue,
} from "./request_queue.ts";

/** Ends a test: fs_bio_set and the biovec slabs go, then nothing may be live and the log must be clean. */
function finish(k: Kernel): void {
  bioExit(k);
  k.run();
  assert.is(k.liveObjects(), 0, "live objects");
  k.assertClean();
}

/** A bio-based queue. */
function bioQueue(k: Kernel): RequestQueue {
  const q = blkAllocQueueNode(k.block);
  blkQueueMakeRequest(q, null);
  return q;
}

/**
 * A toy device: generic_make_request()'s blk_queue_enter() (sleeping while
 * the queue is frozen), then an "interrupt" task that ends the bio 10 µs
 * later, with `error` when given.
 */
function toyDevice(k: Kernel, q: RequestQueue, error: { next: number } = { next: 0 }): SubmitBio {
  return function* (bio: number) {
    yield* blkQueueEnter(q);
    const err = error.next;
    error.next = 0;
    k.sched.spawn(`irq-q${q.id}`, function* () {
      yield sleep(10_000);
      bioSetField(k, bio, "bi_error", err);
      bioEndio(k, bio);
    });
    blkQueueExit(q);
  };
}

/** One synchronous direct I/O of one bio: alloc, submit, wait. @returns dio->io_error */
function* oneIo(
  dio: Dio,
  q: RequestQueue,
  dev: SubmitBio,
  sector: number,
  nrVecs: number,
): Sleepable<number> {
  const bio = yield* dioBioAlloc(dio, q, sector, nrVecs);
  yield* dioBioSubmit(dio, bio, dev);
  return yield* dioAwaitCompletion(dio);
}

function* cleanup(...qs: RequestQueue[]): Sleepable {
  for (const q of qs) yield* blkCleanupQueue(q);
}

test("a persistent dio reuses its cached bio when it has bi_max_vecs >= nr_vecs, else allocates", () => {
  const k = boot();
  const bs = fsBioSet(k);
  const q = bioQueue(k);
  const dev = toyDevice(k, q);
  const dio = dioAlloc(k, { persistent: true, rw: REQ_WRITE });
  assert.is(dio.flags, DIO_PERSISTENT_DIO);
  const reserveOnly = bs.bioSlab.nrLive;
  let first = 0;
  inTask(k, function* () {
    first = yield* dioBioAlloc(dio, q, 8, 4);
    yield* dioBioSubmit(dio, first, dev);
    assert.is(yield* dioAwaitCompletion(dio), 0);
  });
  assert.is(dio.cacheBio, first, "the completed bio is kept");
  assert.is(bs.bioSlab.nrLive, reserveOnly + 1);
  inTask(k, function* () {
    dioPrepare(dio);
    const bio = yield* dioBioAlloc(dio, q, 4096, 2);
    assert.is(bio, first, "2 <= 4 vecs: the cached bio again");
    assert.is(dio.cacheBio, 0);
    assert.equal(
      [
        bioField(k, bio, "bi_sector"),
        bioField(k, bio, "bi_size"),
        bioField(k, bio, "bi_vcnt"),
        bioField(k, bio, "bi_max_vecs"),
      ],
      [4096, 0, 0, 4],
      "reset, allocation kept",
    );
    yield* dioBioSubmit(dio, bio, dev);
    assert.is(bioField(k, bio, "bi_rw") & REQ_WRITE, REQ_WRITE);
    yield* dioAwaitCompletion(dio);
  });
  assert.is(dio.cacheBio, first);
  let big = 0;
  inTask(k, function* () {
    dioPrepare(dio);
    big = yield* dioBioAlloc(dio, q, 0, 16);
    assert.ok(big !== first, "16 > 4 vecs: a new bio");
    assert.is(dio.cacheBio, first, "the small one stays cached meanwhile");
    yield* dioBioSubmit(dio, big, dev);
    yield* dioAwaitCompletion(dio);
  });
  assert.is(dio.cacheBio, big, "the larger completed bio replaced the cached one");
  assert.is(bs.bioSlab.nrLive, reserveOnly + 1, "the smaller one was put");
  inTask(k, function* () {
    dioPrepare(dio);
    const a = yield* dioBioAlloc(dio, q, 0, 8);
    const b = yield* dioBioAlloc(dio, q, 64, 2);
    assert.is(a, big);
    yield* dioBioSubmit(dio, a, dev);
    yield* dioBioSubmit(dio, b, dev);
    assert.is(dio.refcount, 3);
    yield* dioAwaitCompletion(dio);
    assert.is(dio.refcount, 1);
  });
  assert.is(dio.cacheBio, big, "of two completed bios the larger stays");
  assert.is(bioField(k, big, "bi_max_vecs"), 16);
  assert.is(bs.bioSlab.nrLive, reserveOnly + 1);
  dioFree(dio);
  assert.is(bs.bioSlab.nrLive, reserveOnly, "dio_free() puts the cached bio");
  assert.throws(() => dioFree(dio), TypeError);
  inTask(k, () => cleanup(q));
  finish(k);
});

test("a plain dio caches nothing; a failed bio makes io_error -EIO and a persistent dio still keeps it", () => {
  const k = boot();
  const bs = fsBioSet(k);
  const q = bioQueue(k);
  const error = { next: 0 };
  const dev = toyDevice(k, q, error);
  const plain = dioAlloc(k);
  const reserveOnly = bs.bioSlab.nrLive;
  error.next = -5;
  assert.is(inTask(k, () => oneIo(plain, q, dev, 0, 1)), -5);
  assert.is(plain.cacheBio, 0);
  assert.is(bs.bioSlab.nrLive, reserveOnly, "the bio was put");
  dioFree(plain);
  const p = dioAlloc(k, { persistent: true });
  error.next = -28;
  assert.is(inTask(k, () => oneIo(p, q, dev, 0, 1)), -5, "io_error is -EIO whatever bi_error was");
  assert.ok(p.cacheBio !== 0);
  assert.is(bioField(k, p.cacheBio, "bi_error"), -28);
  inTask(k, function* () {
    dioPrepare(p);
    assert.is(yield* oneIo(p, q, dev, 0, 1), 0, "a reused bio starts with bi_error 0");
  });
  dioFree(p);
  inTask(k, () => cleanup(q));
  finish(k);
});

test("dio_free() and dio_prepare() refuse a dio with bios in flight", () => {
  const k = boot();
  const q = bioQueue(k);
  const dio = dioAlloc(k, { persistent: true });
  let bio = 0;
  inTask(k, function* () {
    bio = yield* dioBioAlloc(dio, q, 0, 1);
    yield* dioBioSubmit(dio, bio, function* () {});
  });
  assert.throws(() => dioFree(dio), TypeError);
  assert.throws(() => dioPrepare(dio), TypeError);
  bioEndio(k, bio);
  assert.throws(() => dioFree(dio), TypeError, "ended but not reaped");
  inTask(k, () => dioAwaitCompletion(dio));
  dioFree(dio);
  inTask(k, () => cleanup(q));
  finish(k);
});

test("a frozen device cannot starve another device's persistent DIO of bios; a plain DIO there waits for the unfreeze", () => {
  const k = boot({ cpus: 2 });
  const bs = fsBioSet(k);
  const qa = bioQueue(k);
  const qb = bioQueue(k);
  const devA = toyDevice(k, qa);
  const devB = toyDevice(k, qb);
  // mdmon's persistent DIO on B does its first write while memory is plentiful.
  const mdmon = dioAlloc(k, { persistent: true, rw: REQ_WRITE });
  assert.is(inTask(k, () => oneIo(mdmon, qb, devB, 0, 1)), 0);
  assert.ok(mdmon.cacheBio !== 0);

  // Memory pressure: the bio slab fails every allocation, so fs_bio_set has only its reserve of 2.
  k.slab.setFaultAttr(bs.bioSlab, { probability: 100 });
  blkMqFreezeQueueStart(qa);
  const aDone: number[] = [];
  for (const i of [0, 1]) {
    k.sched.spawn(`dd-a${i}`, function* () {
      const d = dioAlloc(k, { rw: REQ_WRITE });
      assert.is(yield* oneIo(d, qa, devA, 8 * i, 1), 0);
      dioFree(d);
      aDone.push(k.clock.now());
    });
  }
  assert.is(k.run().kind, "done");
  assert.is(bs.bioPool.currNr, 0, "A's two writers hold the whole reserve");
  assert.equal(k.sched.tasks().map((t) => [t.comm, t.stateChar()]), [["dd-a0", "S"], [
    "dd-a1",
    "S",
  ]], "asleep in blk_queue_enter()");

  const cached = mdmon.cacheBio;
  const reserveUsed = bs.bioPool.nrReserveUsed;
  let writes = 0;
  let plainDoneAt = -1;
  k.sched.spawn("mdmon", function* () {
    for (let i = 0; i < 20; i++) {
      dioPrepare(mdmon);
      assert.is(yield* oneIo(mdmon, qb, devB, 100 + 8 * i, 1), 0);
      writes++;
    }
  });
  k.sched.spawn("dd-b", function* () {
    const d = dioAlloc(k);
    yield* oneIo(d, qb, devB, 4096, 1);
    dioFree(d);
    plainDoneAt = k.clock.now();
  });
  const r = k.run({ deadline: k.clock.now() + 60_000_000_000 });
  assert.is(r.kind, "deadline", "the plain DIO retries mempool_alloc() every 5 s for ever");
  assert.is(writes, 20, "the persistent DIO kept writing");
  assert.is(mdmon.cacheBio, cached, "always with its one cached bio");
  assert.is(bs.bioPool.nrReserveUsed, reserveUsed, "never touching fs_bio_set");
  assert.is(plainDoneAt, -1, "the plain DIO on B is starved by A");
  assert.is(bs.bioPool.nrWaiters, 1);
  assert.equal(aDone, []);

  // Unfreezing A lets its bios complete; the first free refills the reserve and wakes dd-b.
  const unfreezeAt = k.clock.now();
  k.sched.spawn("unfreeze", function* () {
    yield* blkMqUnfreezeQueue(qa);
  });
  assert.is(k.run().kind, "done");
  assert.is(aDone.length, 2);
  assert.ok(plainDoneAt >= unfreezeAt, "dd-b finished only after the unfreeze");
  assert.is(bs.bioPool.currNr, 2, "every reserve bio is back");

  k.slab.setFaultAttr(bs.bioSlab, { probability: 0 });
  dioFree(mdmon);
  inTask(k, () => cleanup(qa, qb));
  finish(k);
});

test.run();
