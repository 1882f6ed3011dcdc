// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ddNumber } from "./dd.ts";
import { KernelShell } from "./shell.ts";

const LOAD = "modprobe null_blk nr_devices=1 irqmode=2 completion_nsec=10000\n";
const UNLOAD = "rmmod null_blk\nkmemleak\n";

test("dd from /dev/zero to a disk writes count records, each one bio, timed on the virtual clock", () => {
  const shell = new KernelShell({ cpus: 2 });
  const r = shell.runSync(LOAD + "dd if=/dev/zero of=/dev/nullb0 bs=4k count=16 oflag=direct\n");
  assert.is(r.output, "16+0 records in\n16+0 records out\n65536 bytes (66 kB, 64 KiB) copied, 0.00016 s, 410 MB/s\n");
  assert.is(r.status, 0);
  const st = shell.kernel.block.disk("nullb0")!.part0;
  assert.equal(st.ios, [0, 16]);
  assert.equal(st.sectors, [0, 128]);
  const r2 = shell.runSync("dd if=/dev/nullb0 of=/dev/null bs=1M count=2 skip=1 iflag=direct\n" + UNLOAD);
  assert.match(r2.output, /^2\+0 records in\n2\+0 records out\n2097152 bytes \(2\.1 MB, 2\.0 MiB\) copied, /);
  assert.is(r2.status, 0);
  assert.is(shell.kernel.liveObjects(), 0);
  shell.kernel.assertClean();
});

test("dd stops at the end of the input disk and copies nothing from /dev/null", () => {
  const shell = new KernelShell({ cpus: 1 });
  const r = shell.runSync("modprobe null_blk nr_devices=1 irqmode=0 gb=1\ndd if=/dev/nullb0 of=/dev/null bs=1M skip=1022\ndd if=/dev/null of=/dev/nullb0 bs=4k\n" + UNLOAD);
  assert.is(r.output, "2+0 records in\n2+0 records out\n2097152 bytes (2.1 MB, 2.0 MiB) copied, 0 s, Infinity B/s\n0+0 records in\n0+0 records out\n0 bytes copied, 0 s, Infinity B/s\n");
  assert.is(shell.kernel.liveObjects(), 0);
  shell.kernel.assertClean();
});

test("dd's operand errors are coreutils' texts, status 1", () => {
  const shell = new KernelShell({ cpus: 1 });
  for (const [cmd, text] of [
    ["dd if=/dev/zero of=/dev/null bs=4x count=1", "dd: invalid number: '4x'\n"],
    ["dd if=/dev/zero of=/dev/null bogus", "dd: unrecognized operand 'bogus'\nTry 'dd --help' for more information.\n"],
    ["dd if=/dev/sdz of=/dev/null count=1", "dd: failed to open '/dev/sdz': No such file or directory\n"],
  ] as const) {
    const r = shell.runSync(`${cmd}\n`);
    assert.is(r.output, text, cmd);
    assert.is(r.status, 1, cmd);
  }
  assert.is(shell.kernel.liveObjects(), 0);
  shell.kernel.assertClean();
});

test("ddNumber() takes dd's suffixes", () => {
  assert.is(ddNumber("4k"), 4096);
  assert.is(ddNumber("1M"), 1 << 20);
  assert.is(ddNumber("2kB"), 2000);
  assert.is(ddNumber("1x"), null);
});

test.run();
