// SPDX-License-Identifier: GPL-2.0-only
// Backslash escapes as bash decodes them in $'...' (ANSI-C quoting) and in `echo -e`.

const NAMED: Readonly<Record<string, string>> = {
  a: "\x07",
  b: "\b",
  e: "\x1b",
  E: "\x1b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
  "\\": "\\",
};
/** $'...' also takes these; `echo -e` prints them with their backslash. */
const QUOTES: Readonly<Record<string, string>> = { "'": "'", '"': '"', "?": "?" };

/**
 * Mirrors bash's `ansicstr()` (lib/sh/strtrans.c). `"ansi-c"` is `$'...'`:
 * `\nnn` octal (1 to 3 digits), `\xHH`, the named escapes and `\' \" \?`.
 * `"echo"` is `echo -e`: octal only as `\0nnn` (0 to 3 digits), and `\c`
 * ends the output. Any other backslash stays as it is.
 *
 * @returns the text, and whether `\c` cut it short
 * @example
 * decodeEscapes("a\\tb\\101", "ansi-c"); // { text: "a\tbA", cut: false }
 * decodeEscapes("a\\101\\0101\\cz", "echo"); // { text: "a\\101A", cut: true }
 */
export function decodeEscapes(s: string, mode: "ansi-c" | "echo"): { text: string; cut: boolean } {
  let text = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    const n = s[i + 1];
    if (c !== "\\" || n === undefined) {
      text += c;
      continue;
    }
    if (n === "c" && mode === "echo") return { text, cut: true };
    const digits = n === "x"
      ? /^[0-9A-Fa-f]{1,2}/.exec(s.slice(i + 2, i + 4))
      : mode === "echo"
      ? n === "0" ? /^[0-7]{0,3}/.exec(s.slice(i + 2, i + 5)) : null
      : /^[0-7]{1,3}/.exec(s.slice(i + 1, i + 4));
    const named = NAMED[n] ?? (mode === "ansi-c" ? QUOTES[n] : undefined);
    if (digits !== null) {
      text += String.fromCharCode(parseInt(digits[0] || "0", n === "x" ? 16 : 8) & 0xff);
      i += digits[0].length + (n === "x" || mode === "echo" ? 1 : 0);
    } else if (named !== undefined) {
      text += named;
      i++;
    } else text += c;
  }
  return { text, cut: false };
}
