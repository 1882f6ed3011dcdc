// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KernelError } from "../errors.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { GFP_NOIO } from "../kernel/mempool.ts";
import { bioAddPage, bioAlloc, bioExit, bioField, bioPut, bioSetDev, bioSetField, fsBioSet, REQ_WRITE, registerBioEndIo } from "../block/bio.ts";
import { submitBio } from "../block/blk_mq_request.ts";
import { openDisk } from "../block/disk_io.ts";
import { boot, codeOf, inTask, readSysfs } from "../block/_testkit.ts";
import { KernelShell } from "../shell/shell.ts";
import { RAM_DEFAULTS, ramDevices, ramModule, ramPagesAllocated } from "./ram.ts";

function load(k: Kernel, params: Record<string, string> = {}): void {
  inTask(k, () => ramModule.init(k, params), "modprobe");
}

function unload(k: Kernel): void {
  inTask(k, () => ramModule.exit(k), "rmmod");
}

function finish(k: Kernel): void {
  unload(k);
  bioExit(k);
  assert.is(k.liveObjects(), 0);
  k.assertClean();
}

test("modprobe ram makes rd_nr disks ram0.. of rd_size KiB; rmmod removes them", () => {
  const k = boot();
  load(k, { rd_nr: "3", rd_size: "64" });
  assert.equal(k.sysfs.ls("/sys/block").filter((n) => n.startsWith("ram")), ["ram0", "ram1", "ram2"]);
  assert.is(readSysfs(k, "/sys/block/ram1/size"), "128\n");
  assert.is(readSysfs(k, "/sys/block/ram0/queue/physical_block_size"), "4096\n");
  assert.is(readSysfs(k, "/sys/block/ram0/queue/rotational"), "0\n");
  assert.is(k.block.majorName(1), "ramdisk");
  assert.is(ramDevices(k).length, 3);
  finish(k);
  assert.equal(k.sysfs.ls("/sys/block"), []);
  assert.is(k.block.majorName(1), undefined);
});

test("the defaults are one disk of 4096 KiB (brd's CONFIG_BLK_DEV_RAM_SIZE)", () => {
  const k = boot();
  load(k);
  assert.is(RAM_DEFAULTS.rd_size, 4096);
  assert.equal(k.sysfs.ls("/sys/block"), ["ram0"]);
  assert.is(readSysfs(k, "/sys/block/ram0/size"), "8192\n");
  finish(k);
});

test("a second load is EEXIST, rmmod while unloaded ENOENT, a bad parameter EINVAL with nothing left behind", () => {
  const k = boot();
  assert.is(codeOf(() => inTask(k, () => ramModule.exit(k))), "ENOENT");
  assert.is(codeOf(() => load(k, { rd_size: "lots" })), "EINVAL");
  assert.is(codeOf(() => load(k, { rd_nr: "-1" })), "EINVAL");
  assert.equal(k.sysfs.ls("/sys/block"), []);
  assert.is(k.liveObjects(), 0);
  load(k, { bogus: "1" });
  assert.ok(k.log.text().includes("ram: unknown parameter 'bogus' ignored"));
  assert.is(codeOf(() => load(k)), "EEXIST");
  finish(k);
});

test("backing pages are allocated on first write only, one per 4 KiB touched, and rmmod frees them all", async () => {
  const k = boot();
  load(k, { rd_size: "256" });
  const d = openDisk(k, "ram0");
  assert.equal(await d.read(0, 8192), new Uint8Array(8192), "never written: zeros");
  assert.is(ramPagesAllocated(k), 0, "a read allocates nothing");
  const data = new Uint8Array(4096).map((_, i) => (i * 7 + 3) & 0xff);
  await d.write(5, data); // sectors 5..12: pages 0 and 1
  assert.is(ramPagesAllocated(k), 2);
  assert.equal(await d.read(5, 4096), data);
  const head = await d.read(0, 512 * 5);
  assert.equal(head, new Uint8Array(512 * 5), "the rest of page 0 stays zero");
  await d.write(6, data.subarray(0, 512));
  assert.is(ramPagesAllocated(k), 2, "an existing page is reused");
  d.close();
  assert.ok(k.liveObjects() > 0);
  finish(k);
  assert.is(ramPagesAllocated(k), 0);
});

test("a bio beyond the capacity ends with -EIO from the driver; the disk's data is untouched", () => {
  const k = boot();
  load(k, { rd_size: "4" }); // 8 sectors
  const q = ramDevices(k)[0].q!;
  const errors: number[] = [];
  const endIo = registerBioEndIo(k, "ram_test_end_io", (bio, kk) => {
    errors.push(bioField(kk, bio, "bi_error"));
    bioPut(kk, bio);
  });
  const page = k.slab.allocPages(0);
  new Uint8Array(k.core.memory.buffer, page, 4096).fill(0xab);
  inTask(k, function* () {
    for (const [sector, rw] of [[0, REQ_WRITE], [4, REQ_WRITE], [4, 0]]) {
      const bio = yield* bioAlloc(fsBioSet(k), GFP_NOIO, 1);
      bioAddPage(k, bio, page, 4096, 0);
      bioSetField(k, bio, "bi_sector", sector);
      bioSetField(k, bio, "bi_rw", rw);
      bioSetField(k, bio, "bi_end_io", endIo);
      bioSetDev(k, bio, q.id);
      yield* submitBio(k, bio);
    }
  });
  assert.equal(errors, [0, -5, -5]);
  assert.ok(k.log.text().includes("I/O error, dev ram0, sector 4"));
  assert.is(ramPagesAllocated(k), 1, "the failed write inserted no page");
  k.slab.freePages(page, 0);
  finish(k);
});

test("a write whose backing page cannot be allocated fails with EIO and copies nothing", async () => {
  const k = boot();
  load(k, { rd_size: "64" });
  const old = new Uint8Array(4096).fill(0x11);
  const first = openDisk(k, "ram0");
  await first.write(0, old);
  first.close(); // the last handle: the bridge gives its cached data pages back
  const d = openDisk(k, "ram0");
  const limit = k.slab.setPageLimit(k.slab.nrPagesUsed + 2); // the bridge's two data pages fit, the backing page does not
  let err: unknown;
  try {
    await d.write(0, new Uint8Array(8192).fill(0x22)); // page 0 exists, page 1 cannot be had
  } catch (e) {
    err = e;
  }
  k.slab.setPageLimit(limit);
  assert.instance(err, KernelError);
  assert.is((err as KernelError).code, "EIO");
  assert.equal(await d.read(0, 4096), old, "page 0 keeps its old data");
  assert.equal(await d.read(8, 4096), new Uint8Array(4096));
  d.close();
  finish(k);
});

test("a default shell loads ram next to null_blk", () => {
  const shell = new KernelShell({ cpus: 2 });
  const r = shell.runSync("modprobe ram rd_nr=2 rd_size=8\nls /sys/block\ncat /sys/block/ram1/size\nrmmod ram\nkmemleak\n");
  assert.equal([r.output, r.status], ["ram0\nram1\n16\n", 0]);
  assert.is(shell.kernel.liveObjects(), 0);
});

test.run();
