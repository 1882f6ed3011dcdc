// SPDX-License-Identifier: GPL-2.0-only
/**
 * Registers every op area. Import this once before decoding, parsing or
 * running programs.
 *
 * @module
 */

import "./cpu.ts";
import "./mm.ts";
import "./tags.ts";
import "./time.ts";
import "./shell.ts";
import "./queue.ts";
import "./io.ts";
