// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseFio, parseSize } from "./fio.ts";
import { KernelShell } from "./shell.ts";

const LOAD = "modprobe null_blk nr_devices=1 irqmode=2 completion_nsec=10000 hw_queue_depth=2\n";
const UNLOAD = "rmmod null_blk\nkmemleak\n";
const MIX = "fio --name=mix --filename=/dev/nullb0 --rw=randrw --rwmixread=70 --bs=4k --iodepth=4 --numjobs=2 --number_ios=50 --ioengine=io_uring --randseed=7\n";

/** Runs `script` on a fresh 2-CPU shell; checks the machine is clean afterwards. */
function run(script: string): [string, number] {
  const shell = new KernelShell({ cpus: 2 });
  const r = shell.runSync(script);
  assert.is(shell.kernel.liveObjects(), 0, "live objects");
  shell.kernel.assertClean();
  return [r.output, r.status];
}

const MIX_GOLDEN = `mix: (groupid=0, jobs=2): err= 0: pid=3
  read: IOPS=160k, BW=625MiB/s (655MB/s)(0.3MiB/1msec)
    clat (usec): min=10, max=70, avg=19.50, stdev=12.62
    clat percentiles (usec):
     |  1.00th=[   10],  5.00th=[   10], 10.00th=[   10], 20.00th=[   10],
     | 30.00th=[   10], 40.00th=[   10], 50.00th=[   20], 60.00th=[   20],
     | 70.00th=[   20], 80.00th=[   30], 90.00th=[   40], 95.00th=[   40],
     | 99.00th=[   70], 99.50th=[   70], 99.90th=[   70], 99.95th=[   70],
     | 99.99th=[   70]
  write: IOPS=40.0k, BW=156MiB/s (164MB/s)(0.1MiB/1msec)
    clat (usec): min=10, max=50, avg=18.00, stdev=12.40
    clat percentiles (usec):
     |  1.00th=[   10],  5.00th=[   10], 10.00th=[   10], 20.00th=[   10],
     | 30.00th=[   10], 40.00th=[   10], 50.00th=[   10], 60.00th=[   10],
     | 70.00th=[   20], 80.00th=[   20], 90.00th=[   40], 95.00th=[   40],
     | 99.00th=[   50], 99.50th=[   50], 99.90th=[   50], 99.95th=[   50],
     | 99.99th=[   50]

Run status group 0 (all jobs):
   READ: bw=625MiB/s (655MB/s), io=0.3MiB (0.3MB), run=1-1msec
  WRITE: bw=156MiB/s (164MB/s), io=0.1MiB (0.1MB), run=1-1msec

Disk stats (read/write):
  nullb0: ios=80/20, merge=0/0, ticks=0/0, in_queue=0, util=0.00%
`;

test("fio randrw on null_blk irqmode=2 prints the golden summary (virtual-clock latencies, queueing at depth 2)", () => {
  assert.equal(run(LOAD + MIX + UNLOAD), [MIX_GOLDEN, 0]);
});

test("fio's output is the same for the same seed, and numjobs × number_ios I/Os reach the disk", () => {
  const [a] = run(LOAD + MIX + UNLOAD);
  const [b] = run(LOAD + MIX + UNLOAD);
  assert.is(a, b);
  const [out, status] = run(LOAD + "fio --name=s --filename=/dev/nullb0 --rw=write --bs=8k --iodepth=2 --numjobs=3 --number_ios=10\n" + UNLOAD);
  assert.is(status, 0);
  assert.match(out, /ios=0\/30, /);
  assert.match(out, /\(0\.2MiB\//, "30 × 8 KiB");
});

test("fio without --size covers the whole device, as fio does for a block device", () => {
  const [out, status] = run("modprobe null_blk nr_devices=1 irqmode=0 gb=1\nfio --name=all --filename=/dev/nullb0 --rw=read --bs=1m --iodepth=8 --ioengine=libaio\n" + UNLOAD);
  assert.is(status, 0);
  assert.match(out, /ios=1024\/0, /);
});

test("fio --size runs size/bs I/Os per job; psync caps the depth at 1", () => {
  const [out, status] = run(LOAD + "fio --name=z --filename=/dev/nullb0 --rw=read --bs=4k --iodepth=32 --ioengine=psync --size=64k\n" + UNLOAD);
  assert.is(status, 0);
  assert.match(out, /ios=16\/0, /);
  assert.match(out, /clat \(usec\): min=10, max=10, /, "depth 1: no queueing behind the 2 tags");
});

test("fio rejects bad options with status 1", () => {
  for (const [args, re] of [
    ["--name=x --filename=/dev/nullb0 --rw=bogus --size=1m", /^fio: failed parsing rw=bogus\n$/],
    ["--name=x --filename=/dev/nullb0 --bogus=1", /^fio: unrecognized option '--bogus=1'\n$/],
    ["--name=x --filename=/dev/nullb0 --size=1m --rwmixread=101", /fio: failed parsing rwmixread=101/],
    ["--name=x --size=1m", /err=2\/file:filesetup\.c/],
    ["--name=x --filename=/dev/nullb0 --size=1m --iodepth=0", /fio: failed parsing iodepth=0/],
    ["--name=x --filename=/dev/nullb0 --size=1m --ioengine=posixaio", /fio: engine posixaio not loadable/],
    ["--name=x --filename=/dev/nullb7 --size=1m", /err=2\/file:filesetup\.c/],
  ] as const) {
    const [out, status] = run(LOAD + `fio ${args}\n` + UNLOAD);
    assert.match(out, re, args);
    assert.is(status, 1, args);
  }
});

test("parseSize() takes fio's 1024-based suffixes; parseFio() maps the engines' depths", () => {
  assert.is(parseSize("4k"), 4096);
  assert.is(parseSize("64m"), 64 << 20);
  assert.is(parseSize("x"), null);
  const j = parseFio(["--name=a", "--filename=/dev/nullb0", "--size=1m", "--iodepth=16", "--ioengine=libaio"]);
  assert.is(typeof j === "string" ? j : j.iodepth, 16);
  const s = parseFio(["--name=a", "--filename=/dev/nullb0", "--size=1m", "--iodepth=16", "--ioengine=psync"]);
  assert.is(typeof s === "string" ? s : s.iodepth, 1);
});

test.run();
