// SPDX-License-Identifier: GPL-2.0-only
import { readFileSync } from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { VERSION } from "./version.ts";

const root = new URL("../", import.meta.url);
const json = (name: string) => JSON.parse(readFileSync(new URL(name, root), "utf8"));

test("VERSION equals the version in package.json and deno.json", () => {
  assert.is(json("package.json").version, VERSION);
  assert.is(json("deno.json").version, VERSION);
});

test("package.json and deno.json declare the GPL-2.0-only licence", () => {
  assert.is(json("package.json").license, "GPL-2.0-only");
  assert.is(json("deno.json").license, "GPL-2.0-only");
});

test("CHANGELOG.md has a section for the current version", () => {
  const changelog = readFileSync(new URL("CHANGELOG.md", root), "utf8");
  assert.ok(changelog.includes(`## [${VERSION}]`) || changelog.includes("## [Unreleased]"));
});

test.run();
