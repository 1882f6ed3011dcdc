// SPDX-License-Identifier: GPL-2.0-only
/**
 * `fio` in the kernel shell: the subset of fio(1) that blktests uses, run on
 * the virtual clock against a block disk behind /dev/NAME.
 *
 * `fio --name=NAME --filename=/dev/DISK --rw=read|write|randread|randwrite|randrw
 * --bs=4k --iodepth=N --numjobs=N (--size=64m | --number_ios=N)
 * [--ioengine=libaio|psync|io_uring] [--direct=1] [--rwmixread=N] [--randseed=N]`
 *
 * Each job is a task (spread over the online CPUs) that keeps up to
 * `iodepth` single-page bios in flight with `submitBio()`, waiting on a
 * completion that each bio's end_io signals. The engines all map to that
 * one path: `libaio` and `io_uring` are asynchronous submission at
 * `iodepth`; `psync` is synchronous, so fio itself caps its depth at 1 (as
 * fio does for sync engines). `--direct` is accepted: every I/O is direct
 * (there is no page cache). Latencies are completion latencies (submit to
 * end_io) in virtual nanoseconds; the percentiles are exact order
 * statistics of all samples (fio buckets them, so its values are
 * approximate). The bios come from a bioset of fio's own, freed when the
 * run ends (the kernel's direct I/O uses `fs_bio_set`, which would outlive
 * the command and show in kmemleak). Numbers are scaled as fio's
 * `num2str()` does (at most 4 digits, then k/M/G or Ki/Mi/Gi).
 * Output is fio's "normal" format minus the wall-clock date, so it is
 * deterministic for a seed.
 *
 * @module
 */

import { KernelError } from "../errors.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { Completion } from "../kernel/_waitqueue.ts";
import { Prng } from "../kernel/_prng.ts";
import { GFP_NOIO } from "../kernel/mempool.ts";
import type { Sleepable } from "../kernel/sched.ts";
import { PAGE_SIZE } from "../kernel/slab.ts";
import { BlockMemory } from "../block/_mem.ts";
import { bioAddPage, bioAlloc, bioField, bioPut, bioSetDev, bioSetCreate, bioSetField, bioSetFree, type BioSet, REQ_SYNC, REQ_WRITE } from "../block/bio.ts";
import { submitBio } from "../block/blk_mq_request.ts";
import type { Gendisk } from "../block/genhd.ts";
import { shellBioEndIo, shellBioForget } from "./_bio_wait.ts";
import { getopt } from "./_getopt.ts";
import type { CommandContext, ShellCommand } from "./shell.ts";

const SECTOR = 512;
const RW_MODES = ["read", "write", "randread", "randwrite", "randrw"] as const;
const ENGINES = ["libaio", "psync", "io_uring", "sync"] as const;
const PERCENTILES = [1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 99.5, 99.9, 99.95, 99.99];

/** The long options (getopt wants a letter for each). */
const LONG: Record<string, string> = {
  name: "n",
  filename: "f",
  rw: "r",
  readwrite: "r",
  bs: "b",
  iodepth: "d",
  numjobs: "j",
  size: "s",
  number_ios: "N",
  ioengine: "e",
  direct: "D",
  rwmixread: "m",
  randseed: "R",
  group_reporting: "g",
};

/** A job's options after parsing. */
export interface FioJob {
  name: string;
  filename: string;
  rw: (typeof RW_MODES)[number];
  bs: number;
  iodepth: number;
  numjobs: number;
  /** Bytes of the device each job covers; null: all of it (fio's default for a block device). */
  size: number | null;
  numberIos: number | null;
  ioengine: string;
  rwmixread: number;
  randseed: number;
}

/** Mirrors fio's `str_to_decimal()` with `kb_base=1024`: `4k`, `64m`, `1g`, plain bytes. */
export function parseSize(s: string): number | null {
  const m = /^(\d+)([kKmMgGtT]?)(i?[bB])?$/.exec(s);
  if (m === null) return null;
  const mult: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
  const v = Number(m[1]) * mult[m[2].toLowerCase()];
  return Number.isSafeInteger(v) ? v : null;
}

/** Parses fio's command line; the error text to print, or the job. */
export function parseFio(argv: readonly string[]): FioJob | string {
  const spec = { short: "n:f:r:b:d:j:s:N:e:D:m:R:g", long: LONG };
  const r = getopt("fio", argv, spec);
  if (typeof r === "string") return r;
  const job: FioJob = { name: "", filename: "", rw: "read", bs: 4096, iodepth: 1, numjobs: 1, size: null, numberIos: null, ioengine: "psync", rwmixread: 50, randseed: 0x89 };
  const int = (opt: string, v: string, min: number, max: number): number | string => {
    const n = /^\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n)) return `fio: failed parsing ${opt}=${v}\n`;
    if (n < min || n > max) return `fio: value out of range: ${n} (${min} max: ${max})\nfio: failed parsing ${opt}=${v}\n`;
    return n;
  };
  for (const [c, v] of r.options) {
    const val = v ?? "";
    switch (c) {
      case "n": job.name = val; break;
      case "f": job.filename = val; break;
      case "r":
        if (!(RW_MODES as readonly string[]).includes(val)) return `fio: failed parsing rw=${val}\n`;
        job.rw = val as FioJob["rw"];
        break;
      case "b": {
        const n = parseSize(val);
        if (n === null || n === 0 || n % SECTOR !== 0 || n > 256 * PAGE_SIZE) return `fio: failed parsing bs=${val}\n`;
        job.bs = n;
        break;
      }
      case "s": {
        const n = parseSize(val);
        if (n === null) return `fio: failed parsing size=${val}\n`;
        job.size = n;
        break;
      }
      case "e":
        if (!(ENGINES as readonly string[]).includes(val)) return `fio: engine ${val} not loadable\nfio: failed to load engine\n`;
        job.ioengine = val;
        break;
      case "g": break;
      default: {
        const [opt, min, max] = ({ d: ["iodepth", 1, 65536], j: ["numjobs", 1, 4096], N: ["number_ios", 1, 2 ** 40], D: ["direct", 0, 1], m: ["rwmixread", 0, 100], R: ["randseed", 0, 2 ** 52] } as Record<string, [string, number, number]>)[c];
        const n = int(opt, val, min, max);
        if (typeof n === "string") return n;
        if (c === "d") job.iodepth = n;
        else if (c === "j") job.numjobs = n;
        else if (c === "N") job.numberIos = n;
        else if (c === "m") job.rwmixread = n;
        else if (c === "R") job.randseed = n;
      }
    }
  }
  if (r.operands.length > 0) return `fio: unrecognized job file or option '${r.operands[0]}'\n`;
  if (job.name === "") return "fio: need a job name (--name)\n";
  if (job.filename === "") job.filename = job.name; // fio's default file is named after the job
  if (job.ioengine === "psync" || job.ioengine === "sync") job.iodepth = 1; // sync engines: fio caps the depth at 1
  return job;
}

/** Per-direction results of a job (index 0 read, 1 write). */
interface DirStats {
  lat: number[];
  bytes: number;
}

interface JobState {
  dirs: [DirStats, DirStats];
  startNs: number;
  endNs: number;
  pid: number;
}

/** One job: keeps up to iodepth bios in flight until its I/O count is done. */
function* runJob(k: Kernel, disk: Gendisk, job: FioJob, index: number, st: JobState, mem: BlockMemory, bs: BioSet): Sleepable<number> {
  const q = disk.queue;
  if (q === null) throw new KernelError("ENXIO", "submit_bio");
  const capacity = Number(disk.capacity) * SECTOR;
  const span = Math.min(job.size ?? capacity, capacity);
  const blocks = Math.floor(span / job.bs);
  const total = job.numberIos ?? blocks;
  const prng = new Prng(job.randseed + index);
  const done = new Completion(k.sched, `fio/${job.name}.${index}`);
  const pages: number[] = [];
  const nPages = Math.ceil(job.bs / PAGE_SIZE);
  for (let i = 0; i < nPages; i++) pages.push(mem.allocPages(0));
  const started = new Map<number, [number, number]>();
  let inflight = 0;
  let error = 0;
  const onEnd = (bio: number, kk: Kernel) => {
    const s = started.get(bio)!;
    started.delete(bio);
    const err = bioField(kk, bio, "bi_error");
    if (err !== 0 && error === 0) error = err;
    st.dirs[s[1]].lat.push(kk.clock.now() - s[0]);
    st.dirs[s[1]].bytes += job.bs;
    bioPut(kk, bio);
    inflight--;
    done.complete();
  };
  st.startNs = k.clock.now();
  let seq = 0;
  try {
    for (let issued = 0; issued < total || inflight > 0;) {
      while (issued < total && inflight < job.iodepth && error === 0) {
        const rand = job.rw.startsWith("rand");
        const block = rand ? prng.next() % Math.max(1, blocks) : seq++ % Math.max(1, blocks);
        const write = job.rw === "write" || job.rw === "randwrite" || (job.rw === "randrw" && prng.next() % 100 >= job.rwmixread);
        const bio = yield* bioAlloc(bs, GFP_NOIO, nPages);
        if (bio === 0) throw new KernelError("ENOMEM", "bio_alloc");
        for (let i = 0; i < nPages; i++) bioAddPage(k, bio, pages[i], Math.min(PAGE_SIZE, job.bs - i * PAGE_SIZE), 0);
        bioSetField(k, bio, "bi_sector", (block * job.bs) / SECTOR);
        bioSetField(k, bio, "bi_rw", write ? REQ_WRITE | REQ_SYNC : 0);
        bioSetField(k, bio, "bi_end_io", shellBioEndIo(k, bio, onEnd));
        bioSetDev(k, bio, q.id);
        started.set(bio, [k.clock.now(), write ? 1 : 0]);
        inflight++;
        issued++;
        try {
          yield* submitBio(k, bio);
        } catch (e) {
          if (!(e instanceof KernelError)) throw e;
          if (started.delete(bio)) { // refused before the queue took it: nobody will end it
            shellBioForget(k, bio);
            bioPut(k, bio);
            inflight--;
          }
          if (error === 0) error = e.errno;
        }
      }
      if (error !== 0 && inflight === 0) break;
      if (inflight > 0) yield* done.waitForCompletion();
    }
  } finally {
    st.endNs = k.clock.now();
    for (const p of pages) mem.freePages(p);
  }
  return error;
}

function resolveDisk(k: Kernel, filename: string): Gendisk | null {
  const m = /^\/dev\/([^/]+)$/.exec(filename);
  if (m === null) return null;
  const d = k.block.disk(m[1]);
  return d === undefined || d.queue === null ? null : d;
}

/** fio's `num2str()` in spirit: at most 4 integer digits, else scaled to k/M/G (or Ki/Mi/Gi) with 3 significant digits. */
function num2str(n: number, base: 1000 | 1024): string {
  const units = base === 1024 ? ["", "Ki", "Mi", "Gi", "Ti"] : ["", "k", "M", "G", "T"];
  let i = 0;
  while (Math.round(n) >= 10000 && i < units.length - 1) {
    n /= base;
    i++;
  }
  const v = i === 0 || n >= 100 ? String(Math.round(n)) : n.toPrecision(3);
  return `${v}${units[i]}`;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

/** The fio summary of one group. */
function report(job: FioJob, states: JobState[], disk: Gendisk): string {
  const lines: string[] = [];
  lines.push(`${job.name}: (groupid=0, jobs=${job.numjobs}): err= 0: pid=${states[0].pid}`);
  const start = Math.min(...states.map((s) => s.startNs));
  const end = Math.max(...states.map((s) => s.endNs));
  const runMs = Math.max(1, Math.round((end - start) / 1e6));
  const runSec = Math.max(end - start, 1) / 1e9;
  const summary: string[] = [];
  for (const dir of [0, 1] as const) {
    const lat = states.flatMap((s) => s.dirs[dir].lat).sort((a, b) => a - b);
    const bytes = states.reduce((a, s) => a + s.dirs[dir].bytes, 0);
    if (lat.length === 0) continue;
    const iops = lat.length / runSec;
    const bw = bytes / runSec;
    const us = lat.map((v) => v / 1000);
    const avg = us.reduce((a, b) => a + b, 0) / us.length;
    const stdev = us.length > 1 ? Math.sqrt(us.reduce((a, b) => a + (b - avg) ** 2, 0) / (us.length - 1)) : 0;
    const label = dir === 0 ? "read" : "write";
    lines.push(`  ${dir === 0 ? " read" : "write"}: IOPS=${num2str(iops, 1000)}, BW=${num2str(bw, 1024)}B/s (${num2str(bw, 1000)}B/s)(${(bytes / 1024 ** 2).toFixed(1)}MiB/${runMs}msec)`.replace(/^ {3}read/, "  read"));
    lines.push(`    clat (usec): min=${Math.round(us[0])}, max=${Math.round(us[us.length - 1])}, avg=${avg.toFixed(2)}, stdev=${stdev.toFixed(2)}`);
    lines.push("    clat percentiles (usec):");
    const cells = PERCENTILES.map((p) => `${p.toFixed(2).padStart(5)}th=[${String(Math.round(pct(lat, p) / 1000)).padStart(5)}]`);
    for (let i = 0; i < cells.length; i += 4) lines.push(`     | ${cells.slice(i, i + 4).join(", ")}${i + 4 < cells.length ? "," : ""}`);
    summary.push(`  ${label.toUpperCase().padStart(5)}: bw=${num2str(bw, 1024)}B/s (${num2str(bw, 1000)}B/s), io=${(bytes / 1024 ** 2).toFixed(1)}MiB (${(bytes / 1e6).toFixed(1)}MB), run=${runMs}-${runMs}msec`);
  }
  lines.push("", "Run status group 0 (all jobs):", ...summary, "", "Disk stats (read/write):");
  const s = disk.part0;
  const [ios, merges, ticks] = [s.ios, s.merges, s.ticks];
  lines.push(`  ${disk.diskName}: ios=${ios[0]}/${ios[1]}, merge=${merges[0]}/${merges[1]}, ticks=${ticks[0]}/${ticks[1]}, in_queue=${s.timeInQueue}, util=${runMs > 0 ? Math.min(100, (s.ioTicks / runMs) * 100).toFixed(2) : "0.00"}%`);
  return `${lines.join("\n")}\n`;
}

/** The shell's `fio`. */
export const fioCommand: ShellCommand = {
  name: "fio",
  *run(ctx: CommandContext) {
    const job = parseFio(ctx.argv.slice(1));
    if (typeof job === "string") {
      ctx.err(job);
      return 1;
    }
    const k = ctx.kernel;
    const disk = resolveDisk(k, job.filename);
    if (disk === null) {
      ctx.err(`${job.name}: No such file or directory\nfio: pid=0, err=2/file:filesetup.c:174, func=open, error=No such file or directory\n`);
      return 1;
    }
    const mem = new BlockMemory(k.slab, k.kmemleak, "fio");
    const set = bioSetCreate(k, 2, 0);
    const cpus = [...k.cpus.onlineMask];
    const states: JobState[] = [];
    const tasks = [];
    const errors: number[] = [];
    for (let j = 0; j < job.numjobs; j++) {
      const st: JobState = { dirs: [{ lat: [], bytes: 0 }, { lat: [], bytes: 0 }], startNs: 0, endNs: 0, pid: 0 };
      states.push(st);
      const t = k.sched.spawn(`fio/${j}`, function* () {
        errors[j] = yield* runJob(k, disk, job, j, st, mem, set);
      }, { cpu: cpus[j % cpus.length], kthread: false });
      st.pid = t.pid;
      tasks.push(t);
    }
    for (const t of tasks) yield* k.sched.waitTaskExit(t);
    bioSetFree(set);
    const err = errors.find((e) => e !== 0 && e !== undefined);
    if (err !== undefined) {
      ctx.err(`fio: io_u error on file ${job.filename}: errno ${-err}\n`);
      return 1;
    }
    ctx.out(report(job, states, disk));
    return 0;
  },
};
