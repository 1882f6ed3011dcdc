// SPDX-License-Identifier: GPL-2.0-only
/**
 * The grammar of `blkmq sh` scripts: the part of the POSIX shell language a
 * kernel developer types at a test machine: simple commands, quoting and
 * output redirection, one command a line.
 *
 * ```text
 * script    = { line "\n" }
 * line      = blank | "#" text | command [ "#" text ]
 * command   = { word | redirect }                  (at least one)
 * redirect  = [ "1" | "2" ] ( ">" | ">>" ) word     (no blank between the fd and ">")
 * word      = { bare-char | '...' | "..." | $'...' | "\" char }
 * ```
 *
 * Quoting follows bash: single quotes are literal; in double quotes a
 * backslash escapes only `$`, `` ` ``, `"`, `\` and a newline; `$'...'`
 * takes C escapes; a backslash-newline outside single quotes joins lines.
 * `#` starts a comment only at the start of a word. A word made only of the
 * digits 1 or 2 right before `>` is a file descriptor (`echo 1>f` writes an
 * empty line to f, as in bash).
 *
 * Not in the grammar: pipelines, lists (`;`, `&&`, `&`), input redirection,
 * subshells, command substitution and parameter expansion. They parse to an
 * error line (`unsupported syntax`). Globs, `~` and braces are not expanded:
 * such characters are literal.
 *
 * The canonical text of a script is what {@link formatScript} prints: one
 * line per node, single spaces, redirections after the words, words quoted
 * only when needed. `formatScript(parseScript(t)) === t` for canonical `t`,
 * and `parseScript(formatScript(s))` equals `s` for any script `s` whose
 * line numbers run 1, 2, 3, …
 *
 * @module
 */

import { decodeEscapes } from "./_escapes.ts";

/** An output redirection: `> path`, `>> path`, `2> path`, `2>> path`. */
export interface Redirect {
  /** 1 (standard output) or 2 (standard error). */
  readonly fd: 1 | 2;
  /** `>` truncates, `>>` appends; sysfs files treat both alike. */
  readonly op: ">" | ">>";
  readonly path: string;
}

/** A simple command after quote removal. `argv` is empty only for a bare redirection (`> f`). */
export interface Command {
  readonly argv: readonly string[];
  readonly redirects: readonly Redirect[];
}

/** One logical line of a script; `line` is the 1-based number of its first physical line. */
export type ScriptLine =
  | { readonly kind: "command"; readonly line: number; readonly command: Command; readonly comment: string | null }
  | { readonly kind: "comment"; readonly line: number; readonly text: string }
  | { readonly kind: "blank"; readonly line: number }
  | {
    readonly kind: "error";
    readonly line: number;
    /** bash's diagnostics without the shell name, e.g. "line 3: syntax error near unexpected token `newline'". */
    readonly messages: readonly string[];
    /** The offending text, verbatim. */
    readonly source: string;
  };

/** A parsed script: its lines in order. */
export type Script = readonly ScriptLine[];

/** Characters that a canonical word may hold without quotes. */
const BARE = /^[A-Za-z0-9_@%+=:,./-]+$/;
/** Characters that need `$'...'` quoting to stay on one line and stay visible. */
// deno-lint-ignore no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;
/** What may follow `$` to start an expansion bash would perform. */
const EXPANSION = /[A-Za-z0-9_{(@*#?$!-]/;
/** Operators of the full shell language that this grammar leaves out. */
const UNSUPPORTED = new Set(["|", "&", ";", "<", "(", ")", "`"]);
const C_NAMES: Readonly<Record<string, string>> = { "\n": "\\n", "\t": "\\t", "\r": "\\r", "\\": "\\\\", "'": "\\'" };

/** A syntax error inside one logical line; the parser turns it into an error line. */
class LineError extends Error {
  constructor(readonly messages: string[], readonly toEof = false) {
    super(messages.join("\n"));
  }
}

/**
 * Parses a whole script. Never throws: text outside the grammar becomes
 * `error` lines, which the shell reports (and stops at) like bash does.
 *
 * @example
 * parseScript("modprobe null_blk submit_queues=2\necho 1 > /sys/x\n");
 * // [{ kind: "command", line: 1, command: { argv: ["modprobe", "null_blk", "submit_queues=2"], redirects: [] }, comment: null },
 * //  { kind: "command", line: 2, command: { argv: ["echo", "1"], redirects: [{ fd: 1, op: ">", path: "/sys/x" }] }, comment: null }]
 */
export function parseScript(text: string): ScriptLine[] {
  if (typeof text !== "string") throw new TypeError("parseScript: text must be a string");
  return new Parser(text).script();
}

/**
 * Parses one line holding exactly one command.
 *
 * @throws {RangeError} when the text is blank, a comment, several lines, or outside the grammar
 * @example
 * parseCommand("cat /sys/block/nullb0/queue/nr_requests").argv; // ["cat", "/sys/block/nullb0/queue/nr_requests"]
 */
export function parseCommand(text: string): Command {
  const lines = parseScript(text);
  const [l] = lines;
  if (lines.length !== 1 || l.kind !== "command" || l.comment !== null) {
    const why = l?.kind === "error" ? l.messages.join("; ") : "not a single command";
    throw new RangeError(`parseCommand: ${JSON.stringify(text)}: ${why}`);
  }
  return l.command;
}

/**
 * The canonical text of one command (no newline).
 *
 * @throws {TypeError} when argv is empty with no redirection, or a word is not a string
 * @example
 * formatCommand({ argv: ["echo", "a b"], redirects: [{ fd: 1, op: ">", path: "/sys/x" }] }); // "echo 'a b' > /sys/x"
 */
export function formatCommand(cmd: Command): string {
  if (!Array.isArray(cmd?.argv) || !Array.isArray(cmd.redirects)) {
    throw new TypeError("formatCommand: cmd needs argv and redirects arrays");
  }
  if (cmd.argv.length === 0 && cmd.redirects.length === 0) throw new TypeError("formatCommand: empty command");
  const words = cmd.argv.map((w, i) => formatWord(w, i === 0));
  for (const r of cmd.redirects) {
    if (r.fd !== 1 && r.fd !== 2) throw new TypeError(`formatCommand: fd ${String(r.fd)} is not 1 or 2`);
    if (r.op !== ">" && r.op !== ">>") throw new TypeError(`formatCommand: op ${String(r.op)} is not > or >>`);
    words.push(`${r.fd === 2 ? "2" : ""}${r.op} ${formatWord(r.path, false)}`);
  }
  return words.join(" ");
}

/** The canonical text of one script line (no newline). */
export function formatLine(l: ScriptLine): string {
  switch (l.kind) {
    case "command":
      return l.comment === null ? formatCommand(l.command) : `${formatCommand(l.command)} #${l.comment}`;
    case "comment":
      return `#${l.text}`;
    case "blank":
      return "";
    case "error":
      return l.source;
  }
}

/** The canonical text of a script: each line followed by a newline. */
export function formatScript(script: Script): string {
  return script.map((l) => `${formatLine(l)}\n`).join("");
}

/**
 * Quotes a word so the shell reads it back unchanged: bare when safe,
 * `'...'` otherwise, `$'...'` when it holds control characters.
 *
 * @param first the word is a command name: `=` is quoted too (bash would read `a=b` as an assignment)
 */
export function formatWord(word: string, first = false): string {
  if (typeof word !== "string") throw new TypeError("formatWord: word must be a string");
  if (BARE.test(word) && !(first && word.includes("="))) return word;
  if (CONTROL.test(word)) {
    let s = "$'";
    for (const c of word) {
      const name = C_NAMES[c];
      if (name !== undefined) s += name;
      else if (CONTROL.test(c)) s += `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`;
      else s += c;
    }
    return `${s}'`;
  }
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Recursive-descent over the whole text; one instance per parse. */
class Parser {
  readonly #s: string;
  #i = 0;
  #line = 1;

  constructor(text: string) {
    this.#s = text;
  }

  script(): ScriptLine[] {
    const out: ScriptLine[] = [];
    while (this.#i < this.#s.length) out.push(this.#logicalLine());
    return out;
  }

  #logicalLine(): ScriptLine {
    const start = this.#i;
    const line = this.#line;
    try {
      this.#blanks();
      if (this.#atEol()) {
        this.#eol();
        return { kind: "blank", line };
      }
      if (this.#s[this.#i] === "#") return { kind: "comment", line, text: this.#commentText() };
      return this.#command(line);
    } catch (e) {
      if (!(e instanceof LineError)) throw e;
      if (e.toEof) this.#i = this.#s.length;
      else this.#skipLine();
      const end = this.#s.endsWith("\n", this.#i) ? this.#i - 1 : this.#i;
      return { kind: "error", line, messages: e.messages, source: this.#s.slice(start, end) };
    }
  }

  #command(line: number): ScriptLine {
    const argv: string[] = [];
    const redirects: Redirect[] = [];
    let comment: string | null = null;
    for (;;) {
      this.#blanks();
      if (this.#atEol()) break;
      const c = this.#s[this.#i];
      if (c === "#") {
        comment = this.#commentText();
        break;
      }
      if (c === ">") {
        redirects.push(this.#redirect(1));
        continue;
      }
      const w = this.#word();
      if (w === null) continue; // a backslash-newline between words
      if (this.#s[this.#i] === ">" && !w.quoted && (w.text === "1" || w.text === "2")) {
        redirects.push(this.#redirect(w.text === "1" ? 1 : 2));
        continue;
      }
      argv.push(w.text);
    }
    if (comment === null) this.#eol();
    return { kind: "command", line, command: { argv, redirects }, comment };
  }

  /** At `>` or `>>`: reads the operator and its target word. */
  #redirect(fd: 1 | 2): Redirect {
    this.#i++;
    let op: ">" | ">>" = ">";
    if (this.#s[this.#i] === ">") {
      op = ">>";
      this.#i++;
    }
    const next = this.#s[this.#i];
    if (next === "&" || next === "|") throw this.#unsupported(`${op}${next}`);
    this.#blanks();
    const c = this.#s[this.#i];
    if (this.#atEol() || c === "#" || c === ">") {
      const token = this.#atEol() || c === "#" ? "newline" : this.#s.startsWith(">>", this.#i) ? ">>" : ">";
      throw new LineError([`line ${this.#line}: syntax error near unexpected token \`${token}'`]);
    }
    const w = this.#word();
    if (w === null) throw new LineError([`line ${this.#line}: syntax error near unexpected token \`newline'`]);
    return { fd, op, path: w.text };
  }

  /**
   * Reads one word up to a blank, newline, `>` or EOF.
   *
   * @returns null when only a line continuation was consumed
   */
  #word(): { text: string; quoted: boolean } | null {
    const s = this.#s;
    let text = "";
    let quoted = false;
    let any = false;
    while (this.#i < s.length) {
      const c = s[this.#i];
      if (c === " " || c === "\t" || c === "\n" || c === ">") break;
      if (UNSUPPORTED.has(c)) throw this.#unsupported(c);
      any = true;
      if (c === "\\") {
        const n = s[this.#i + 1];
        if (n === "\n") {
          this.#i += 2;
          this.#line++;
          if (text === "" && !quoted) any = false;
          continue;
        }
        this.#i += n === undefined ? 1 : 2;
        text += n ?? "\\";
        quoted = true;
      } else if (c === "'") {
        text += this.#singleQuoted();
        quoted = true;
      } else if (c === '"') {
        text += this.#doubleQuoted();
        quoted = true;
      } else if (c === "$" && s[this.#i + 1] === "'") {
        this.#i++;
        text += this.#ansiQuoted();
        quoted = true;
      } else if (c === "$" && EXPANSION.test(s[this.#i + 1] ?? "")) {
        throw this.#unsupported(`$${s[this.#i + 1]}`);
      } else if (c === "$" && s[this.#i + 1] === '"') {
        throw this.#unsupported('$"');
      } else {
        text += c;
        this.#i++;
      }
    }
    return any ? { text, quoted } : null;
  }

  #singleQuoted(): string {
    const open = this.#line;
    const end = this.#s.indexOf("'", this.#i + 1);
    if (end < 0) throw this.#eof("'", open);
    const body = this.#s.slice(this.#i + 1, end);
    this.#line += count(body, "\n");
    this.#i = end + 1;
    return body;
  }

  #doubleQuoted(): string {
    const s = this.#s;
    const open = this.#line;
    let out = "";
    this.#i++;
    for (;;) {
      if (this.#i >= s.length) throw this.#eof('"', open);
      const c = s[this.#i];
      if (c === '"') {
        this.#i++;
        return out;
      }
      if (c === "\\" && this.#i + 1 < s.length) {
        const n = s[this.#i + 1];
        this.#i += 2;
        if (n === "\n") this.#line++;
        else if (n === "$" || n === "`" || n === '"' || n === "\\") out += n;
        else out += `\\${n}`;
        continue;
      }
      if (c === "`") throw this.#unsupported("`");
      if (c === "$" && EXPANSION.test(s[this.#i + 1] ?? "")) throw this.#unsupported(`$${s[this.#i + 1]}`);
      if (c === "\n") this.#line++;
      out += c;
      this.#i++;
    }
  }

  /** At the `'` of `$'...'`: bash's ANSI-C quoting, up to the first `'` no backslash escapes. */
  #ansiQuoted(): string {
    const s = this.#s;
    const open = this.#line;
    let end = this.#i + 1;
    while (end < s.length && s[end] !== "'") end += s[end] === "\\" ? 2 : 1;
    if (end >= s.length) throw this.#eof("'", open);
    const body = s.slice(this.#i + 1, end);
    this.#line += count(body, "\n");
    this.#i = end + 1;
    return decodeEscapes(body, "ansi-c").text;
  }

  #commentText(): string {
    const nl = this.#s.indexOf("\n", this.#i);
    const end = nl < 0 ? this.#s.length : nl;
    const text = this.#s.slice(this.#i + 1, end);
    this.#i = end;
    this.#eol();
    return text;
  }

  #blanks(): void {
    const s = this.#s;
    for (;;) {
      const c = s[this.#i];
      if (c === " " || c === "\t") this.#i++;
      else if (c === "\\" && s[this.#i + 1] === "\n") {
        this.#i += 2;
        this.#line++;
      } else return;
    }
  }

  #atEol(): boolean {
    return this.#i >= this.#s.length || this.#s[this.#i] === "\n";
  }

  /** Consumes the newline ending a logical line, if any. */
  #eol(): void {
    if (this.#s[this.#i] === "\n") {
      this.#i++;
      this.#line++;
    }
  }

  #skipLine(): void {
    const nl = this.#s.indexOf("\n", this.#i);
    this.#i = nl < 0 ? this.#s.length : nl;
    this.#eol();
  }

  #unsupported(token: string): LineError {
    return new LineError([`line ${this.#line}: unsupported syntax: \`${token}'`]);
  }

  /** bash's two diagnostics for a quote left open at the end of the script. */
  #eof(quote: string, open: number): LineError {
    const last = count(this.#s, "\n") + 1;
    return new LineError([
      `line ${open}: unexpected EOF while looking for matching \`${quote}'`,
      `line ${last}: syntax error: unexpected end of file`,
    ], true);
  }
}

function count(s: string, c: string): number {
  let n = 0;
  for (let i = s.indexOf(c); i >= 0; i = s.indexOf(c, i + 1)) n++;
  return n;
}
