// SPDX-License-Identifier: GPL-2.0-only
// The `pending` PAGE_SIZE overflow (seed 596f5aad2a) end to end: requests
// parked on a real null_blk hctx's dispatch list, read through sysfs.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { nullBlkDevices, nullBlkModule } from "../drivers/null_blk.ts";
import { formatKernelPointer } from "../sysfs/sysfs.ts";
import { boot, inTask } from "./_testkit.ts";
import type { BlkMqHwCtx } from "./hctx.ts";
import { listAdd } from "./_rq_list.ts";

const PENDING = "/sys/block/nullb0/mq/0/pending";

/** Loads null_blk with one queue of `depth` tags and parks `n` requests on hctx 0's dispatch list. */
function parkRequests(n: number, depth: number) {
  const k = boot({ cpus: 2 });
  inTask(k, () => nullBlkModule.init(k, { nr_devices: "1", submit_queues: "1", hw_queue_depth: String(depth) }));
  const hctx: BlkMqHwCtx = nullBlkDevices(k)[0].q!.queueHwCtx[0];
  const map = hctx.tags!;
  const tags: number[] = [];
  for (let i = 0; i < n; i++) {
    const tag = map.tags.getTag(0);
    assert.ok(tag >= 0, `tag ${i}`);
    tags.push(tag);
    listAdd(k, map.rq(tag), hctx.dispatchHead, true);
  }
  const release = () => {
    k.core.blk_list_init(hctx.dispatchHead);
    for (const tag of tags) map.tags.putTag(0, tag);
    inTask(k, () => nullBlkModule.exit(k));
  };
  return { k, hctx, release };
}

test("pending lists every request parked on the dispatch list while they fit the page", () => {
  const { k, hctx, release } = parkRequests(3, 64);
  const text = inTask(k, () => k.sysfs.read(PENDING));
  const lines = hctx.dispatch.map((rq) => `\t${formatKernelPointer(rq)}\n`).join("");
  assert.is(text, `HCTX pending:\n${lines}`);
  release();
  k.assertClean();
});

test("pending with 300 parked requests stops at 226 entries with \\t...\\n: 4087 bytes, never past the page", () => {
  const { k, hctx, release } = parkRequests(300, 512);
  const text = inTask(k, () => k.sysfs.read(PENDING));
  assert.is(text.length, 4087);
  assert.ok(text.startsWith("HCTX pending:\n"));
  assert.ok(text.endsWith("\t...\n"));
  const entries = text.slice("HCTX pending:\n".length, -"\t...\n".length).split("\n").filter((l) => l !== "");
  assert.is(entries.length, 226);
  assert.equal(entries, hctx.dispatch.slice(0, 226).map((rq) => `\t${formatKernelPointer(rq)}`));
  release();
  k.assertClean();
});

test.run();
