// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { CORE_VARIANTS, instantiateCore } from "../wasm/core.ts";
import { REQUEST_SIZE, RQ } from "./request_record.ts";

test("RQ's offsets are the core's struct request layout (asm/request.ts), field by field, in every variant", () => {
  const fields = Object.entries(RQ);
  for (const v of CORE_VARIANTS) {
    const core = instantiateCore(v);
    fields.forEach(([name, off], i) => assert.is(core.request_field_offset(i), off, `${v}: ${name}`));
    assert.is(core.request_field_offset(fields.length), -22, `${v}: no field past the last`);
    assert.is(core.request_field_offset(-1), -22, v);
  }
  const last = Math.max(...fields.map(([, off]) => off));
  assert.ok(last + 4 <= REQUEST_SIZE, "every field fits before the driver payload");
});

test.run();
