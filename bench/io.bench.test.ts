// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { run } from "./io.bench.ts";

test("the io bench's run() returns its five cases, well formed, and leaves the machine clean", async () => {
  const rs = await run(0.0005);
  assert.equal(rs.map((r) => r.case), ["sync_randread", "sync_dio_randread", "sync_batch_randread", "async_randread", "sync_latency"]);
  for (const r of rs) {
    assert.is(r.bench, "io");
    for (const [k, v] of Object.entries(r)) {
      if (typeof v === "number") assert.ok(Number.isFinite(v) && v >= 0, `${r.case}.${k} = ${v}`);
    }
  }
  assert.type(rs[0].iops, "number");
  assert.type(rs[0].debug_config_iops, "number");
  assert.type(rs[0].ratio, "number");
  assert.type(rs[1].iops, "number");
  assert.is(rs[1].baseline_ns, rs[0].io_ns, "the dio case's baseline is the bio API's read");
  assert.type(rs[2].iops, "number");
  assert.is(rs[2].batch, 128);
  assert.ok(rs[0].gcs === null || typeof rs[0].gcs === "number", "a count where the runtime reports collections");
  assert.type(rs[3].ratio_vs_pqueue, "number");
  assert.type(rs[3].fastq_rate, "number");
  assert.type(rs[3].iops_into, "number");
  assert.type(rs[3].ratio_into_vs_fastq, "number");
  assert.type(rs[3].result_alloc_ns, "number");
  assert.is(rs[3].rounds, 5);
  const [lo, mid, hi] = [rs[3].ratio_into_vs_pqueue_min, rs[3].ratio_into_vs_pqueue, rs[3].ratio_into_vs_pqueue_max] as number[];
  assert.ok(lo <= mid && mid <= hi, `readInto vs p-queue: the median ${mid} of the rounds lies within their spread ${lo}..${hi}`);
  assert.ok((rs[3].ratio_vs_fastq_min as number) <= (rs[3].ratio_vs_fastq as number));
  assert.is(rs[4].bytes_per_request, (rs[4].request_record_bytes as number) + (rs[4].bio_bytes as number));
  assert.is(rs[4].bio_bytes, 128, "bio (80 B) + 4 inline vecs (12 B each)");
});

test.run();
