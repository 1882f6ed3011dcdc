// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KernelError } from "../errors.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { type Sleepable, sleep } from "../kernel/sched.ts";
import { boot, inTask, readSysfs, submitWrites } from "../block/_testkit.ts";
import { bioExit, bioField, bioPut, registerBioEndIo } from "../block/bio.ts";
import { BLK_MQ_F_BLOCKING, BLK_MQ_F_SHOULD_MERGE } from "../block/hctx.ts";
import { blkQueueEnter, blkQueueExit } from "../block/request_queue.ts";
import { nullBlkDevices, nullBlkModule, nullBlkParams, nullCapacitySectors, NULLB_CMD_SIZE } from "./null_blk.ts";

/** modprobe: the error code, or "ok". */
function load(k: Kernel, params: Record<string, string> = {}): string {
  try {
    inTask(k, () => nullBlkModule.init(k, params), "modprobe");
    return "ok";
  } catch (e) {
    if (e instanceof KernelError) return e.code;
    throw e;
  }
}

/** rmmod: the error code, or "ok". */
function unload(k: Kernel): string {
  try {
    inTask(k, () => nullBlkModule.exit(k), "rmmod");
    return "ok";
  } catch (e) {
    if (e instanceof KernelError) return e.code;
    throw e;
  }
}

function logText(k: Kernel): string[] {
  return k.log.lines().map((l) => l.replace(/^\[[ \d.]+\] /, ""));
}

test("modprobe null_blk makes nullb0 and nullb1 (blk-mq, one hw queue, depth 64); rmmod leaves nothing", () => {
  const k = boot({ cpus: 4 });
  assert.is(load(k), "ok");
  assert.equal(k.sysfs.ls("/sys/block"), ["nullb0", "nullb1"]);
  const [a, b] = nullBlkDevices(k);
  assert.is(a.diskName, "nullb0");
  assert.is(b.disk!.firstMinor, 1);
  assert.is(a.disk!.major, 254);
  assert.is(k.block.majorName(254), "nullb");
  assert.is(a.tagSet!.nrHwQueues, 1);
  assert.is(a.tagSet!.queueDepth, 64);
  assert.is(a.tagSet!.cmdSize, NULLB_CMD_SIZE);
  assert.is(a.tagSet!.flags, BLK_MQ_F_SHOULD_MERGE);
  assert.is(a.tagSet!.driverData, a);
  assert.is(a.nrQueues, 1);
  assert.is(a.q!.queueHwCtx[0].driverData, a.queues[0]);
  assert.is(a.queues[0].queueDepth, 64);
  assert.equal(k.sysfs.ls("/sys/block/nullb0/mq"), ["0"]);
  assert.is(readSysfs(k, "/sys/block/nullb0/mq/0/cpu_list"), "0, 1, 2, 3\n");
  assert.is(readSysfs(k, "/sys/block/nullb0/size"), "524288000\n");
  assert.is(readSysfs(k, "/sys/block/nullb0/queue/rotational"), "0\n", "NONROT");
  assert.is(readSysfs(k, "/sys/block/nullb0/queue/add_random"), "0\n");
  assert.is(readSysfs(k, "/sys/block/nullb0/queue/logical_block_size"), "512\n");
  assert.is(unload(k), "ok");
  assert.equal(k.sysfs.ls("/sys/block"), []);
  assert.is(k.block.majorName(254), undefined);
  k.run();
  assert.equal(logText(k), ["null: module loaded"], "a clean log");
  k.assertClean();
});

test("loading twice is EEXIST, unloading when not loaded ENOENT; it loads again after rmmod from nullb0", () => {
  const k = boot({ cpus: 2 });
  assert.is(unload(k), "ENOENT");
  assert.is(load(k, { nr_devices: "1" }), "ok");
  assert.is(load(k, { nr_devices: "1" }), "EEXIST");
  assert.is(nullBlkDevices(k).length, 1);
  assert.is(unload(k), "ok");
  assert.is(unload(k), "ENOENT");
  assert.is(load(k, { nr_devices: "1" }), "ok");
  assert.equal(k.sysfs.ls("/sys/block"), ["nullb0"]);
  assert.is(unload(k), "ok");
  k.run();
  k.assertClean();
});

test("submit_queues is clamped to nr_cpu_ids silently, 0 becomes 1 (v4.4 null_init())", () => {
  const k = boot({ cpus: 4 });
  assert.is(load(k, { nr_devices: "1", submit_queues: "16" }), "ok");
  assert.is(nullBlkParams(k)!.submit_queues, 4);
  assert.equal(k.sysfs.ls("/sys/block/nullb0/mq"), ["0", "1", "2", "3"]);
  assert.is(unload(k), "ok");
  assert.is(load(k, { nr_devices: "1", submit_queues: "0" }), "ok");
  assert.is(nullBlkParams(k)!.submit_queues, 1);
  assert.is(unload(k), "ok");
  k.run();
  assert.equal(logText(k).filter((l) => !l.includes("module loaded")), []);
  k.assertClean();
});

test("use_per_node_hctx forces one hw queue per node, warning only when submit_queues was below", () => {
  const k = boot({ cpus: 4 });
  assert.is(load(k, { nr_devices: "1", use_per_node_hctx: "1" }), "ok");
  assert.ok(logText(k).includes("null_blk: submit_queues param is set to 1."));
  assert.is(unload(k), "ok");
  k.log.clear();
  assert.is(load(k, { nr_devices: "1", use_per_node_hctx: "1", submit_queues: "3" }), "ok");
  assert.is(nullBlkDevices(k)[0].tagSet!.nrHwQueues, 1);
  assert.equal(logText(k), ["null: module loaded"]);
  assert.is(unload(k), "ok");
  k.run();
  k.assertClean();
});

test("use_per_node_hctx with shared_tags sizes the shared set like the devices (fuzzer find: TypeError in null_init_hctx)", () => {
  const k = boot({ cpus: 4 });
  assert.is(load(k, { nr_devices: "2", use_per_node_hctx: "1", submit_queues: "16", shared_tags: "1" }), "ok");
  for (const d of nullBlkDevices(k)) assert.is(d.tagSet!.nrHwQueues, 1);
  assert.is(unload(k), "ok");
  k.run();
  k.assertClean();
});

test("bs above PAGE_SIZE (or negative) is reset to 4096 with the kernel's two warnings; smaller sizes are kept", () => {
  for (const [bs, want, warned] of [["8192", 4096, true], ["-1", 4096, true], ["4096", 4096, false], ["1024", 1024, false]] as const) {
    const k = boot({ cpus: 2 });
    assert.is(load(k, { nr_devices: "1", bs }), "ok");
    assert.is(nullBlkParams(k)!.bs, want);
    for (const f of ["logical_block_size", "physical_block_size", "minimum_io_size"]) {
      assert.is(readSysfs(k, `/sys/block/nullb0/queue/${f}`), `${want}\n`, `${bs}: ${f}`);
    }
    const lines = logText(k);
    assert.is(lines.includes("null_blk: invalid block size"), warned);
    assert.is(lines.includes("null_blk: defaults block size to 4096"), warned);
    assert.is(unload(k), "ok");
    k.run();
    assert.is(k.liveObjects(), 0);
  }
});

test("the capacity is gb GiB in sectors, with C's int overflow for large gb", () => {
  assert.is(nullCapacitySectors(250), 524288000n);
  assert.is(nullCapacitySectors(1), 2097152n);
  assert.is(nullCapacitySectors(4096), 0n, "4096 * 1024 * 1024 wraps to 0 as an int");
  assert.is(nullCapacitySectors(3000), BigInt.asUintN(64, -1149239296n * 1024n) >> 9n);
  const k = boot({ cpus: 1 });
  assert.is(load(k, { nr_devices: "1", gb: "2" }), "ok");
  assert.is(readSysfs(k, "/sys/block/nullb0/size"), "4194304\n");
  assert.is(unload(k), "ok");
  k.run();
  k.assertClean();
});

test("bad values fail the load with nothing left behind", () => {
  const cases: [Record<string, string>, string, string | null][] = [
    [{ queue_mode: "5" }, "EINVAL", "null_blk: `5' invalid for parameter `queue_mode'"],
    [{ irqmode: "3" }, "EINVAL", "null_blk: `3' invalid for parameter `irqmode'"],
    [{ queue_mode: "1" }, "EINVAL", "null_blk: legacy IO path is no longer available"],
    [{ hw_queue_depth: "0" }, "EINVAL", null],
    [{ submit_queues: "-1" }, "ENOMEM", null],
    [{ nr_devices: "-1" }, "ENOMEM", "null_blk: nr_devices 4294967295 is beyond the port's 1024"],
  ];
  for (const [params, code, line] of cases) {
    const k = boot({ cpus: 2 });
    assert.is(load(k, params), code, JSON.stringify(params));
    if (line !== null) assert.ok(logText(k).includes(line), line);
    assert.is(nullBlkParams(k), null, "not loaded");
    assert.equal(k.sysfs.ls("/sys/block"), []);
    assert.is(k.block.majorName(254), undefined);
    k.run();
    assert.is(k.liveObjects(), 0, JSON.stringify(params));
  }
});

test("a negative hw_queue_depth is a huge unsigned depth: capped at 10240", () => {
  const k = boot({ cpus: 1 });
  assert.is(load(k, { nr_devices: "1", hw_queue_depth: "-1" }), "ok");
  assert.is(nullBlkDevices(k)[0].tagSet!.queueDepth, 10240);
  assert.ok(logText(k).includes("blk-mq: reduced tag depth to 10240"));
  assert.is(readSysfs(k, "/sys/block/nullb0/queue/nr_requests"), "10240\n");
  assert.is(unload(k), "ok");
  k.run();
  k.assertClean();
});

test("queue_mode=0 with hw_queue_depth=-1 fails at once with ENOMEM (v4.4 setup_commands(): a kzalloc past MAX_ORDER)", () => {
  const k = boot({ cpus: 1 });
  assert.is(load(k, { queue_mode: "0", nr_devices: "1", hw_queue_depth: "-1" }), "ENOMEM");
  assert.is(nullBlkParams(k), null, "not loaded");
  assert.equal(k.sysfs.ls("/sys/block"), []);
  k.run();
  assert.is(k.liveObjects(), 0);
});

test("nr_devices=0 loads a module without devices", () => {
  const k = boot();
  assert.is(load(k, { nr_devices: "0" }), "ok");
  assert.equal(k.sysfs.ls("/sys/block"), []);
  assert.is(unload(k), "ok");
  k.run();
  k.assertClean();
});

test("queue_mode=0 makes bio-based disks whose queues still count submitters (3ef28e83ab)", () => {
  const k = boot({ cpus: 2 });
  assert.is(load(k, { queue_mode: "0", submit_queues: "2", hw_queue_depth: "100" }), "ok");
  const [a] = nullBlkDevices(k);
  assert.not.ok(a.q!.isMq);
  assert.is(a.tagSet, null);
  assert.equal(k.sysfs.ls("/sys/block/nullb0"), ["inflight", "queue", "size", "stat"]);
  assert.is(readSysfs(k, "/sys/block/nullb0/queue/nr_requests"), "128\n");
  assert.is(a.nrQueues, 2);
  assert.ok(a.queues.every((nq) => nq.cmds !== 0 && nq.tagMap !== 0));
  // A submitter inside the queue holds rmmod's blk_cleanup_queue() until it leaves.
  let left = -1;
  let unloaded = -1;
  inTask(k, function* () {
    yield* blkQueueEnter(a.q!);
    k.sched.spawn("rmmod", function* () {
      yield* nullBlkModule.exit(k) as Sleepable;
      unloaded = k.clock.now();
    });
    yield sleep(4_000_000);
    left = k.clock.now();
    blkQueueExit(a.q!);
  });
  assert.ok(unloaded >= left && left === 4_000_000);
  k.run();
  k.assertClean();
});

test("shared_tags=1 gives every device one tag set, shared; blocking=1 sets BLK_MQ_F_BLOCKING", () => {
  const k = boot({ cpus: 2 });
  assert.is(load(k, { shared_tags: "1", blocking: "1", submit_queues: "2" }), "ok");
  const [a, b] = nullBlkDevices(k);
  assert.is(a.tagSet, b.tagSet);
  const set = a.tagSet!;
  assert.is(set.flags & BLK_MQ_F_BLOCKING, BLK_MQ_F_BLOCKING);
  assert.ok(set.shared);
  assert.equal(set.tagList, [a.q, b.q]);
  assert.ok([a, b].every((n) => n.q!.queueHwCtx.every((h) => h.tagHctx!.shared)));
  assert.is(a.nrQueues, 2);
  assert.is(b.nrQueues, 2);
  assert.is(readSysfs(k, "/sys/block/nullb1/mq/1/tags"), "nr_tags=64, reserved_tags=0, bits_per_word=4\nnr_free=64, nr_reserved=0\nactive_queues=0\n");
  assert.is(unload(k), "ok");
  assert.is(set.tags, null, "freed after the devices");
  k.run();
  k.assertClean();
});

test("loading and unloading with CPUs going and coming in between stays clean", () => {
  const k = boot({ cpus: 4 });
  assert.is(load(k, { submit_queues: "3" }), "ok");
  inTask(k, function* () {
    yield* k.hotplug.cpuDown(3);
    yield* k.hotplug.cpuDown(1);
  });
  assert.equal(k.sysfs.ls("/sys/block/nullb1/mq"), ["0", "1"], "CPUs 0 and 2 map to hctx 0 and 1");
  inTask(k, () => k.hotplug.cpuUp(3));
  assert.equal(k.sysfs.ls("/sys/block/nullb1/mq"), ["0", "1", "2"]);
  assert.is(unload(k), "ok");
  inTask(k, () => k.hotplug.cpuUp(1));
  k.run();
  k.assertClean();
});

test("rmmod with a request in flight (irqmode=2): the request completes after del_gendisk() and nothing is left (fuzzer find)", () => {
  const k = boot();
  assert.is(load(k, { nr_devices: "1", irqmode: "2", completion_nsec: "1000000" }), "ok");
  const q = nullBlkDevices(k)[0].q!;
  const ended: number[] = [];
  const endIo = registerBioEndIo(k, "null_test_end_io", (bio, kk) => {
    ended.push(bioField(kk, bio, "bi_error"));
    bioPut(kk, bio);
  });
  let rmmod = "";
  k.sched.spawn("rmmod", function* () {
    yield sleep(10_000); // 10 µs: after the write was submitted, before its timer fires
    yield* nullBlkModule.exit(k) as Sleepable;
    rmmod = "ok";
  });
  submitWrites(k, q, [0], endIo);
  assert.equal([rmmod, ended], ["ok", [0]]);
  assert.not.ok(logText(k).some((l) => l.includes("BUG")), k.log.text());
  bioExit(k);
  k.assertClean();
});

test.run();
