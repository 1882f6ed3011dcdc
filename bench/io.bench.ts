// SPDX-License-Identifier: GPL-2.0-only
/**
 * Bench `io`: the whole I/O path on null_blk (queue_mode=2, irqmode=0,
 * hw_queue_depth=128, submit_queues=1, one CPU), wall clock, on the
 * production configuration: the release core (no KASAN checks, no
 * asserts) and no lock validation (`lockdep: false`). `sync_randread` also
 * reports the same loop on the default debug configuration
 * (`debug_config_iops`), which is what tests and the fuzzer run.
 *
 * - `sync_randread`: one task submits 4 KiB random reads one at a time
 *   (`bioAllocTry()` → `bioSetIo()` → `submitBioTry()` → inline completion
 *   → end_io → `bio_put`; the generators only if one would sleep). Baseline:
 *   the same loop without the submission (the bio is allocated, filled and
 *   put), so `ratio = baseline_ns / io_ns` is the share of an I/O's time
 *   spent on bio bookkeeping. `gcs`: V8 collections during the loop (Node;
 *   null elsewhere), which stay near zero while nothing is allocated per I/O.
 * - `sync_dio_randread`: the same reads as synchronous direct I/O through a
 *   persistent dio (ts/block/dio.ts): `dioRwTry()` per read, one core call
 *   that reuses the dio's cached bio, plugs, dispatches, and reaps the read
 *   null_blk ended inside (`dioRw()` only if it would sleep). `ratio =
 *   sync_randread io_ns / this io_ns` in the same run.
 * - `sync_batch_randread`: the same reads through the batch API
 *   (ts/block/aio.ts): 128 iocbs prepared, one `io_submit()` (one task, one
 *   plug), one `io_getevents()`, per round; `ratio = sync io_ns / batch
 *   io_ns` in the same run.
 * - `async_randread`: `Disk.read()` promises, a closed loop of 256
 *   submitters (each awaits its read, then issues the next) on the device of
 *   depth 128, against p-queue, p-limit and fastq running the same number of
 *   no-op async tasks at concurrency 128; `ratio_vs_pqueue = iops / pqueue_rate`. Then the
 *   same closed loop with `Disk.readInto()`, each worker reading into its
 *   own 4 KiB buffer (no result allocated per read): `iops_into`,
 *   `ratio_into_vs_pqueue`, `ratio_into_vs_fastq`. `result_alloc_ns`: what
 *   allocating one 4 KiB Uint8Array (a read()'s result, which readInto()
 *   does without) costs the runtime: a floor under read()'s time per I/O.
 *   Every contender runs once per round, back to back, for `rounds` rounds
 *   after a warm-up one; rates are medians over the rounds, ratios the
 *   medians of each round's own ratio, with their spread in `_min` / `_max`.
 * - `sync_latency`: per-I/O wall time of the sync path at depth 1 (p50, p99,
 *   from `performance.now()` around each submission), and the WASM memory
 *   an in-flight request holds: the request record (`requestRecordSize(cmd_size)`),
 *   the bio with its inline vecs (the bioset's slab object) and, for a
 *   4 KiB read, no external vecs.
 *
 * @module
 */

import fastq from "fastq";
import pLimit from "p-limit";
import PQueue from "p-queue";
import { Prng } from "../ts/kernel/_prng.ts";
import { Kernel } from "../ts/kernel/kernel.ts";
import { GFP_NOIO } from "../ts/kernel/mempool.ts";
import type { Sleepable } from "../ts/kernel/sched.ts";
import { PAGE_SIZE } from "../ts/kernel/slab.ts";
import { BlockMemory } from "../ts/block/_mem.ts";
import {
  BIO_ALLOC_WOULD_SLEEP,
  BIO_INLINE_VECS,
  BIO_SIZE,
  bioAddPage,
  bioAlloc,
  bioAllocTry,
  bioExit,
  bioPut,
  bioSetCreate,
  bioSetDev,
  bioSetIo,
  bioSetFree,
  BVEC_SIZE,
  registerBioEndIo,
} from "../ts/block/bio.ts";
import { SUBMIT_WOULD_SLEEP, submitBio, submitBioTry } from "../ts/block/blk_mq_request.ts";
import { IOCB_CMD_PREAD, ioSetup } from "../ts/block/aio.ts";
import { DIO_WOULD_SLEEP, dioAlloc, dioFree, dioRw, dioRwTry } from "../ts/block/dio.ts";
import { openDisk } from "../ts/block/disk_io.ts";
import { requestRecordSize } from "../ts/block/request_record.ts";
import { NULLB_CMD_SIZE } from "../ts/drivers/null_blk.ts";
import { KernelShell } from "../ts/shell/shell.ts";
import { median, round2 } from "./_timing.ts";

/** One result line. */
export type IoBenchResult = Record<string, string | number | null>;

const LOAD = "modprobe null_blk nr_devices=1 queue_mode=2 irqmode=0 hw_queue_depth=128 submit_queues=1\n";

/** Runs `body` as one task on `k` to completion; returns its value. */
function inTask<T>(k: Kernel, body: () => Sleepable<T>): T {
  let out: T | undefined;
  k.sched.spawn("io-bench", function* () {
    out = yield* body();
  });
  const r = k.run();
  if (r.kind !== "done") throw new Error(`io bench: the run ended "${r.kind}"`);
  return out as T;
}

interface SyncLoop {
  /** Wall ns for all `n` iterations. */
  ns: number;
  /** Per-iteration wall ns, when asked for. */
  lat: number[] | null;
}

/** Bios ended since the loop began. */
const ENDED = { n: 0 };

/** The bench bios' end_io: counts and puts (one function object, as registerBioEndIo() wants). */
function benchEndIo(bio: number, k: Kernel): void {
  ENDED.n++;
  bioPut(k, bio);
}

/** `n` random 4 KiB reads (or, with `submit` false, the same bios allocated and put). */
function syncLoop(k: Kernel, n: number, submit: boolean, perIo: boolean): SyncLoop {
  const disk = k.block.disk("nullb0")!;
  const qid = disk.queue!.id;
  const blocks = Math.floor(Number(disk.capacity) / 8);
  const mem = new BlockMemory(k.slab, k.kmemleak, "io-bench");
  const page = mem.allocPages(0);
  const set = bioSetCreate(k, 2, 0);
  const prng = new Prng(1);
  ENDED.n = 0;
  const endIo = registerBioEndIo(k, "io_bench_end_io", benchEndIo);
  const lat: number[] | null = perIo ? [] : null;
  const ns = inTask(k, function* () {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const s = perIo ? performance.now() : 0;
      let bio = bioAllocTry(set, GFP_NOIO, 1);
      if (bio === BIO_ALLOC_WOULD_SLEEP) bio = yield* bioAlloc(set, GFP_NOIO, 1);
      if (bio === 0) throw new Error("io bench: bio_alloc failed");
      bioAddPage(k, bio, page, PAGE_SIZE, 0);
      bioSetIo(k, bio, (prng.next() % blocks) * 8, 0, endIo, 0);
      bioSetDev(k, bio, qid);
      if (!submit) bioPut(k, bio);
      else if (submitBioTry(k, bio) === SUBMIT_WOULD_SLEEP) yield* submitBio(k, bio);
      if (lat !== null) lat.push((performance.now() - s) * 1e6);
    }
    return (performance.now() - t0) * 1e6;
  });
  if (submit && ENDED.n !== n) throw new Error(`io bench: ${ENDED.n} of ${n} reads completed inline`);
  bioSetFree(set);
  mem.freePages(page);
  return { ns, lat };
}

/**
 * `n` random 4 KiB reads as synchronous direct I/O of a persistent dio.
 * @returns wall ns for all `n`
 */
function dioLoop(k: Kernel, n: number): number {
  const disk = k.block.disk("nullb0")!;
  const q = disk.queue!;
  const blocks = Math.floor(Number(disk.capacity) / 8);
  const mem = new BlockMemory(k.slab, k.kmemleak, "io-bench");
  const page = mem.allocPages(0);
  const dio = dioAlloc(k, { persistent: true });
  const prng = new Prng(1);
  const ns = inTask(k, function* () {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const sector = (prng.next() % blocks) * 8;
      let r = dioRwTry(dio, q, false, sector, page, PAGE_SIZE);
      if (r === DIO_WOULD_SLEEP) r = yield* dioRw(dio, q, false, sector, page, PAGE_SIZE);
      if (r !== PAGE_SIZE) throw new Error(`io bench: a direct read ended with ${r}`);
    }
    return (performance.now() - t0) * 1e6;
  });
  dioFree(dio);
  mem.freePages(page);
  return ns;
}

/**
 * `n` random 4 KiB reads through the batch API: io_submit() of `batch`
 * prepared iocbs (one task, one plug), then io_getevents() of all of them.
 * @returns wall ns for all `n`
 */
function batchLoop(k: Kernel, n: number, batch: number): number {
  const ctx = ioSetup(k, "nullb0", { nrEvents: batch });
  const blocks = Math.floor(Number(k.block.disk("nullb0")!.capacity) / 8);
  const prng = new Prng(3);
  const out = new Int32Array(batch);
  let done = 0;
  const t0 = performance.now();
  while (done < n) {
    const m = Math.min(batch, n - done);
    for (let i = 0; i < m; i++) ctx.prep(IOCB_CMD_PREAD, (prng.next() % blocks) * 8, 4096);
    ctx.submit();
    const got = ctx.getEvents(out);
    if (got !== m) throw new Error(`io bench: ${got} of ${m} batched reads ended`);
    for (let i = 0; i < got; i++) if (ctx.res[out[i]] !== 4096) throw new Error(`io bench: a batched read ended with ${ctx.res[out[i]]}`);
    done += got;
  }
  const ns = (performance.now() - t0) * 1e6;
  ctx.destroy();
  return ns;
}

/**
 * Counts V8 garbage collections while `body` runs (Node's `gc` performance
 * entries, delivered after the synchronous body); null where the runtime
 * has none (Deno).
 */
async function countGcs<T>(body: () => T): Promise<{ value: T; gcs: number | null }> {
  let gcs = 0;
  let obs: { disconnect(): void } | null = null;
  try {
    const { PerformanceObserver } = await import("node:perf_hooks");
    const o = new PerformanceObserver((list) => void (gcs += list.getEntries().length));
    o.observe({ entryTypes: ["gc"] });
    obs = o;
  } catch {
    obs = null;
  }
  const value = body();
  if (obs === null) return { value, gcs: null };
  await new Promise((r) => setTimeout(r, 20));
  obs.disconnect();
  return { value, gcs };
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Timed rounds of the async case, after one warm-up round: every contender runs once per round, in turn. */
const ASYNC_ROUNDS = 5;

/**
 * The promise API against p-queue, p-limit and fastq. This box's speed
 * moves in steps of up to 2x within seconds, and the no-op queues' rates
 * with it (p-queue has run anywhere from 160k to 290k/s), so one timing
 * of each, seconds apart, gave ratios from 4x to 9x for the same code.
 * Each round therefore times every contender once, back to back; a rate
 * is the median over the rounds, and a ratio the median of the rounds'
 * own ratios (`_min` / `_max`: the spread of those).
 */
async function asyncCase(shell: KernelShell, n: number, depth: number, submitters: number): Promise<IoBenchResult> {
  const d = openDisk(shell.kernel, "nullb0");
  const blocks = Math.floor(d.capacity / 8);
  const prng = new Prng(2);
  let issued = 0;
  const worker = async () => {
    while (issued < n) {
      issued++;
      await d.read((prng.next() % blocks) * 8, 4096);
    }
  };
  const workerInto = async () => {
    const buf = new Uint8Array(4096);
    while (issued < n) {
      issued++;
      await d.readInto((prng.next() % blocks) * 8, buf);
    }
  };
  const noop = async () => {};
  const keep: Uint8Array[] = new Array(1024); // results live a little while, as awaited ones do
  /**
   * Each contender: `n` tasks (I/Os) per call, in this order every round.
   * A contender's rate includes collecting what the one before it left:
   * p-limit follows the two that leave 4 KiB buffers behind, readInto()
   * comes right after p-queue, its yardstick.
   */
  const contenders = {
    alloc: async () => {
      for (let i = 0; i < n; i++) keep[i & 1023] = new Uint8Array(4096);
    },
    read: () => Promise.all(Array.from({ length: submitters }, worker)),
    plimit: async () => {
      const limit = pLimit(depth);
      const ps: Promise<void>[] = [];
      for (let i = 0; i < n; i++) ps.push(limit(noop));
      await Promise.all(ps);
    },
    pqueue: async () => {
      const q = new PQueue({ concurrency: depth });
      for (let i = 0; i < n; i++) q.add(noop);
      await q.onIdle();
    },
    into: () => Promise.all(Array.from({ length: submitters }, workerInto)),
    fastq: async () => {
      const q = fastq.promise(noop, depth);
      const ps: Promise<void>[] = [];
      for (let i = 0; i < n; i++) ps.push(q.push(undefined));
      await Promise.all(ps);
    },
  };
  type Name = keyof typeof contenders;
  const rates = Object.fromEntries(Object.keys(contenders).map((c) => [c, [] as number[]])) as Record<Name, number[]>;
  for (let round = 0; round <= ASYNC_ROUNDS; round++) {
    for (const name of Object.keys(contenders) as Name[]) {
      issued = 0;
      const t0 = performance.now();
      await contenders[name]();
      if (round > 0) rates[name].push(n / ((performance.now() - t0) / 1e3));
    }
  }
  d.close();
  const rate = (c: Name) => Math.round(median(rates[c]));
  const ratios = (a: Name, b: Name) => rates[a].map((r, i) => r / rates[b][i]);
  const intoVsPqueue = ratios("into", "pqueue");
  const readVsFastq = ratios("read", "fastq");
  return {
    bench: "io",
    case: "async_randread",
    ios: n,
    depth,
    submitters,
    rounds: ASYNC_ROUNDS,
    iops: rate("read"),
    pqueue_rate: rate("pqueue"),
    plimit_rate: rate("plimit"),
    fastq_rate: rate("fastq"),
    ratio_vs_pqueue: round2(median(ratios("read", "pqueue"))),
    ratio_vs_fastq: round2(median(readVsFastq)),
    ratio_vs_fastq_min: round2(Math.min(...readVsFastq)),
    iops_into: rate("into"),
    ratio_into_vs_pqueue: round2(median(intoVsPqueue)),
    ratio_into_vs_pqueue_min: round2(Math.min(...intoVsPqueue)),
    ratio_into_vs_pqueue_max: round2(Math.max(...intoVsPqueue)),
    ratio_into_vs_fastq: round2(median(ratios("into", "fastq"))),
    result_alloc_ns: round2(1e9 / median(rates.alloc)),
  };
}

/**
 * A synchronous case measured against `sync_randread` of the same run:
 * `loop(n)` (ns for `n` reads) warmed up on up to 20,000 reads, then timed
 * on `n` with its garbage collections counted; `ratio` is the bio API's
 * time over this loop's.
 */
async function vsSyncRandread(
  name: string,
  n: number,
  syncNs: number,
  baseline: string,
  loop: (n: number) => number,
  extra: IoBenchResult = {},
): Promise<IoBenchResult> {
  loop(Math.min(n, 20_000)); // warm-up
  const t = await countGcs(() => loop(n));
  return {
    bench: "io",
    case: name,
    ios: n,
    ...extra,
    iops: Math.round(n / (t.value / 1e9)),
    io_ns: round2(t.value / n),
    baseline,
    baseline_ns: round2(syncNs / n),
    ratio: round2(syncNs / t.value),
    gcs: t.gcs,
  };
}

/**
 * Runs the cases. `scale` multiplies the I/O counts (1 for the
 * published figures; tests pass a tiny one).
 */
export async function run(scale = 1): Promise<IoBenchResult[]> {
  const syncN = Math.max(16, Math.round(200_000 * scale));
  const asyncN = Math.max(16, Math.round(50_000 * scale));
  const debug = loaded(new KernelShell({ cpus: 1 }));
  syncLoop(debug.kernel, Math.min(syncN, 20_000), true, false); // warm-up
  const dbg = syncLoop(debug.kernel, syncN, true, false);
  unload(debug);
  const shell = loaded(new KernelShell({ kernel: new Kernel({ cpus: 1, variant: "release", lockdep: false }) }));
  const k = shell.kernel;
  syncLoop(k, Math.min(syncN, 20_000), true, false); // warm-up
  syncLoop(k, Math.min(syncN, 20_000), false, false);
  const counted = await countGcs(() => syncLoop(k, syncN, true, false));
  const io = counted.value;
  const base = syncLoop(k, syncN, false, false);
  const lat = syncLoop(k, Math.max(16, syncN >> 2), true, true).lat!.sort((a, b) => a - b);
  const results: IoBenchResult[] = [];
  results.push({
    bench: "io",
    case: "sync_randread",
    ios: syncN,
    iops: Math.round(syncN / (io.ns / 1e9)),
    io_ns: round2(io.ns / syncN),
    baseline: "the same loop without submitBio(): bio_alloc, fill, bio_put",
    baseline_ns: round2(base.ns / syncN),
    ratio: round2(base.ns / io.ns),
    debug_config_iops: Math.round(syncN / (dbg.ns / 1e9)),
    gcs: counted.gcs,
  });
  results.push(await vsSyncRandread("sync_dio_randread", syncN, io.ns, "sync_randread (the bio API, one bio per call) in the same run", (n) => dioLoop(k, n)));
  results.push(await vsSyncRandread("sync_batch_randread", syncN, io.ns, "sync_randread (one bio per call) in the same run", (n) => batchLoop(k, n, 128), { batch: 128 }));
  results.push(await asyncCase(shell, asyncN, 128, 256));
  const bioBytes = BIO_SIZE + BIO_INLINE_VECS * BVEC_SIZE;
  const rqBytes = requestRecordSize(NULLB_CMD_SIZE);
  results.push({
    bench: "io",
    case: "sync_latency",
    depth: 1,
    p50_ns: round2(pct(lat, 50)),
    p99_ns: round2(pct(lat, 99)),
    baseline: "sync_randread's baseline loop, mean ns per iteration",
    baseline_ns: round2(base.ns / syncN),
    ratio: round2(pct(lat, 50) / (base.ns / syncN)),
    bytes_per_request: rqBytes + bioBytes,
    request_record_bytes: rqBytes,
    bio_bytes: bioBytes,
    external_vec_bytes: 0,
  });
  unload(shell);
  return results;
}

/** `shell` with null_blk loaded as {@link LOAD} says. */
function loaded(shell: KernelShell): KernelShell {
  const load = shell.runSync(LOAD);
  if (load.status !== 0) throw new Error(`io bench: ${load.output}`);
  return shell;
}

/** rmmod, then the leak check: the bench leaves its machine clean. */
function unload(shell: KernelShell): void {
  const un = shell.runSync("rmmod null_blk\n");
  bioExit(shell.kernel); // disk_io's bios come from fs_bio_set, which the kernel keeps
  const leaks = shell.runSync("kmemleak\n");
  if (un.status !== 0 || leaks.status !== 0) throw new Error(`io bench: ${un.output}${leaks.output}`);
}
