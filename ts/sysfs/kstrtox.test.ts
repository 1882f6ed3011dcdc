// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { KernelError } from "../errors.ts";
import { kstrtouint, kstrtoul, kstrtoull, queueVarStore, strtobool } from "./kstrtox.ts";

/** The errno name fn throws, or "ok:<value>". */
function outcome(fn: () => unknown): string {
  try {
    return `ok:${String(fn())}`;
  } catch (e) {
    if (e instanceof KernelError) return e.code;
    throw e;
  }
}

test("kstrtoul() accepts decimal digits with at most one trailing newline", () => {
  const cases: [string, string][] = [
    ["0", "ok:0"],
    ["128", "ok:128"],
    ["128\n", "ok:128"],
    ["007", "ok:7"],
    ["4294967295", "ok:4294967295"],
    ["4294967296", "ok:4294967296"],
    ["128\n\n", "EINVAL"],
    ["128 ", "EINVAL"],
    ["128\t", "EINVAL"],
    ["12 8", "EINVAL"],
    ["", "EINVAL"],
    ["\n", "EINVAL"],
    [" 1", "EINVAL"],
    ["\t1", "EINVAL"],
    ["1a", "EINVAL"],
    ["abc", "EINVAL"],
    ["0x10", "EINVAL"],
    ["1.5", "EINVAL"],
    ["\u00e91", "EINVAL"],
  ];
  for (const [s, want] of cases) assert.is(outcome(() => kstrtoul(s)), want, JSON.stringify(s));
});

test("kstrtoul() takes one leading '+' but no '-' and no second sign", () => {
  assert.is(outcome(() => kstrtoul("+5")), "ok:5");
  assert.is(outcome(() => kstrtoul("+5\n")), "ok:5");
  assert.is(outcome(() => kstrtoul("-5")), "EINVAL");
  assert.is(outcome(() => kstrtoul("-0")), "EINVAL");
  assert.is(outcome(() => kstrtoul("++5")), "EINVAL");
  assert.is(outcome(() => kstrtoul("+-5")), "EINVAL");
  assert.is(outcome(() => kstrtoul("+")), "EINVAL");
  assert.is(outcome(() => kstrtoul(" +5")), "EINVAL");
});

test("kstrtoul() with base 0 detects 0x hex and 0 octal as _parse_integer_fixup_radix() does", () => {
  const cases: [string, string][] = [
    ["0x1f", "ok:31"],
    ["0X1F", "ok:31"],
    ["0xfF\n", "ok:255"],
    ["010", "ok:8"],
    ["0", "ok:0"],
    ["0\n", "ok:0"],
    ["08", "EINVAL"], // octal: the 8 is trailing junk
    ["0x", "EINVAL"], // no hex digit after 0x: octal "0" then junk "x"
    ["0xg", "EINVAL"],
    ["0x\n", "EINVAL"],
    ["19", "ok:19"],
    ["+0x10", "ok:16"],
  ];
  for (const [s, want] of cases) assert.is(outcome(() => kstrtoul(s, 0)), want, JSON.stringify(s));
});

test("kstrtoul() with base 16 skips one optional 0x and takes both letter cases", () => {
  assert.is(outcome(() => kstrtoul("ff", 16)), "ok:255");
  assert.is(outcome(() => kstrtoul("0xff", 16)), "ok:255");
  assert.is(outcome(() => kstrtoul("0XAbC", 16)), "ok:2748");
  assert.is(outcome(() => kstrtoul("0x", 16)), "EINVAL");
  assert.is(outcome(() => kstrtoul("0x0x1", 16)), "EINVAL");
  assert.is(outcome(() => kstrtoul("fg", 16)), "EINVAL");
});

test("kstrtoul() with base 8 and 2 stops at the first digit out of range", () => {
  assert.is(outcome(() => kstrtoul("777", 8)), "ok:511");
  assert.is(outcome(() => kstrtoul("778", 8)), "EINVAL");
  assert.is(outcome(() => kstrtoul("0x7", 8)), "EINVAL");
  assert.is(outcome(() => kstrtoul("1011", 2)), "ok:11");
  assert.is(outcome(() => kstrtoul("102", 2)), "EINVAL");
});

test("kstrtoull() returns values up to 2^64 - 1 exactly and ERANGE beyond", () => {
  assert.is(kstrtoull("18446744073709551615"), (1n << 64n) - 1n);
  assert.is(kstrtoull("0xffffffffffffffff", 0), (1n << 64n) - 1n);
  assert.is(kstrtoull("1777777777777777777777", 8), (1n << 64n) - 1n);
  assert.is(outcome(() => kstrtoull("18446744073709551616")), "ERANGE");
  assert.is(outcome(() => kstrtoull("0x10000000000000000", 16)), "ERANGE");
  assert.is(outcome(() => kstrtoull("99999999999999999999999")), "ERANGE");
  assert.is(outcome(() => kstrtoul("18446744073709551616\n")), "ERANGE");
  assert.is(kstrtoul("9007199254740993") > 0xffffffff, true, "order survives rounding");
});

test("kstrtoul() reports ERANGE before trailing junk, as the overflow bit is checked first", () => {
  assert.is(outcome(() => kstrtoul("99999999999999999999999x")), "ERANGE");
  assert.is(outcome(() => kstrtoul("18446744073709551615x")), "EINVAL");
});

test("kstrtoul() reads a C string: a NUL ends it", () => {
  assert.is(outcome(() => kstrtoul("42\0junk")), "ok:42");
  assert.is(outcome(() => kstrtoul("42\n\0junk")), "ok:42");
  assert.is(outcome(() => kstrtoul("\u00004")), "EINVAL");
});

test("kstrtoul() errors carry their op and leave nothing behind", () => {
  try {
    kstrtoul("x");
    assert.unreachable();
  } catch (e) {
    assert.instance(e, KernelError);
    assert.is((e as KernelError).op, "kstrtoul");
    assert.is((e as KernelError).errno, -22);
  }
});

test("kstrtoul() rejects a bad base or a non-string as misuse", () => {
  assert.throws(() => kstrtoul("1", 1), RangeError);
  assert.throws(() => kstrtoul("1", 17), RangeError);
  assert.throws(() => kstrtoul("1", 2.5), RangeError);
  assert.throws(() => kstrtoul(1 as unknown as string), TypeError);
});

test("kstrtouint() is ERANGE above UINT_MAX", () => {
  assert.is(kstrtouint("4294967295\n"), 4294967295);
  assert.is(outcome(() => kstrtouint("4294967296")), "ERANGE");
  assert.is(outcome(() => kstrtouint("-1")), "EINVAL");
});

test("strtobool() looks at the first character only", () => {
  for (const s of ["1", "1\n", "y", "Y", "yes", "1abc"]) assert.is(strtobool(s), true, s);
  for (const s of ["0", "0\n", "n", "N", "no", "0x1"]) assert.is(strtobool(s), false, s);
  for (const s of ["", "\n", "2", "on", "off", "t", " 1", "-1"]) assert.is(outcome(() => strtobool(s)), "EINVAL", JSON.stringify(s));
});

test("queueVarStore() is kstrtoul(page, 10) with every error and anything above UINT_MAX as -EINVAL", () => {
  assert.is(queueVarStore("128\n"), 128);
  assert.is(queueVarStore("+0"), 0);
  assert.is(queueVarStore("4294967295"), 4294967295);
  for (const s of ["4294967296", "18446744073709551616", "-1", "0x10", "", "abc", "1 "]) {
    assert.is(queueVarStore(s), -22, JSON.stringify(s));
  }
});

test.run();
