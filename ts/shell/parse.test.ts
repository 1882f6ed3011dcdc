// SPDX-License-Identifier: GPL-2.0-only
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Prng } from "../kernel/sched.ts";
import {
  type Command,
  formatCommand,
  formatScript,
  formatWord,
  parseCommand,
  parseScript,
  type Redirect,
  type ScriptLine,
} from "./parse.ts";

const out = (path: string, op: ">" | ">>" = ">"): Redirect => ({ fd: 1, op, path });
const cmd = (argv: string[], redirects: Redirect[] = []): Command => ({ argv, redirects });
const argvOf = (text: string) => parseCommand(text).argv;
const messagesOf = (l: ScriptLine) => (l.kind === "error" ? l.messages : []);
const argvAt = (l: ScriptLine) => (l.kind === "command" ? l.command.argv : []);

test("parseScript() splits a script into commands, comments and blank lines, numbered from 1", () => {
  const lines = parseScript("# set up\nmodprobe null_blk\n\n  rmmod null_blk  \n");
  assert.equal(lines, [
    { kind: "comment", line: 1, text: " set up" },
    { kind: "command", line: 2, command: cmd(["modprobe", "null_blk"]), comment: null },
    { kind: "blank", line: 3 },
    { kind: "command", line: 4, command: cmd(["rmmod", "null_blk"]), comment: null },
  ]);
  assert.equal(parseScript(""), []);
  assert.equal(parseScript("dmesg"), parseScript("dmesg\n"), "the last newline is optional");
  assert.equal(parseScript("\t \n").map((l) => l.kind), ["blank"]);
});

test("module parameters are plain key=value words", () => {
  assert.equal(argvOf("modprobe null_blk queue_mode=2 submit_queues=4 irqmode=0"), [
    "modprobe",
    "null_blk",
    "queue_mode=2",
    "submit_queues=4",
    "irqmode=0",
  ]);
  assert.equal(argvOf(`modprobe m name="a b" empty= 'x=1'`), ["modprobe", "m", "name=a b", "empty=", "x=1"]);
});

test("quotes: single quotes are literal, double quotes escape only $ ` \" \\, $'' takes C escapes", () => {
  assert.equal(argvOf(`echo 'a  b' "c  d" e\\ f`), ["echo", "a  b", "c  d", "e f"]);
  assert.equal(argvOf(`echo '\\n$x' "\\$ \\" \\\\ \\n"`), ["echo", "\\n$x", '$ " \\ \\n']);
  assert.equal(argvOf(`echo $'a\\tb\\n' $'\\x41\\101\\'' $'\\q'`), ["echo", "a\tb\n", "AA'", "\\q"]);
  assert.equal(argvOf(`echo '' "" x''y`), ["echo", "", "", "xy"]);
  assert.equal(argvOf(`echo a'b'"c"`), ["echo", "abc"]);
  assert.equal(argvOf("echo 5$ a$.b"), ["echo", "5$", "a$.b"], "a $ that starts no expansion is literal");
});

test("globs, braces and tildes are not expanded", () => {
  assert.equal(argvOf("cat /sys/block/*/size ~ {a,b} [x]"), ["cat", "/sys/block/*/size", "~", "{a,b}", "[x]"]);
});

test("> and >> redirect with or without blanks, anywhere among the words", () => {
  for (const text of ["echo 4 > /sys/x", "echo 4 >/sys/x", "echo 4 >   /sys/x", "> /sys/x echo 4", "echo > /sys/x 4"]) {
    assert.equal(parseCommand(text), cmd(["echo", "4"], [out("/sys/x")]), text);
  }
  assert.equal(parseCommand("echo a>/sys/x"), cmd(["echo", "a"], [out("/sys/x")]));
  assert.equal(parseCommand("echo 4 >> /sys/x"), cmd(["echo", "4"], [out("/sys/x", ">>")]));
  assert.equal(parseCommand("echo 4 >'/sys/a b'"), cmd(["echo", "4"], [out("/sys/a b")]));
  assert.equal(parseCommand("> /sys/x"), cmd([], [out("/sys/x")]), "a bare redirection");
});

test("a 1 or 2 right before > is a file descriptor, as in bash", () => {
  assert.equal(parseCommand("echo 1>/sys/x"), cmd(["echo"], [out("/sys/x")]), "echo 1>f writes an empty line");
  assert.equal(parseCommand("echo 1 >/sys/x"), cmd(["echo", "1"], [out("/sys/x")]));
  assert.equal(parseCommand("cat /x 2>/dev/null"), cmd(["cat", "/x"], [{ fd: 2, op: ">", path: "/dev/null" }]));
  assert.equal(parseCommand("cat /x 2>> /dev/null"), cmd(["cat", "/x"], [{ fd: 2, op: ">>", path: "/dev/null" }]));
  assert.equal(parseCommand("echo '1'>/x"), cmd(["echo", "1"], [out("/x")]), "a quoted digit is a word");
  assert.equal(parseCommand("echo 3>/x"), cmd(["echo", "3"], [out("/x")]), "other digits are words");
});

test("# starts a comment only at the start of a word", () => {
  assert.equal(parseScript("echo a#b # note\n"), [
    { kind: "command", line: 1, command: cmd(["echo", "a#b"]), comment: " note" },
  ]);
  assert.equal(parseScript("echo 1 > /x #\n")[0], { kind: "command", line: 1, command: cmd(["echo", "1"], [out("/x")]), comment: "" });
  assert.equal(parseScript("   #indented\n"), [{ kind: "comment", line: 1, text: "indented" }]);
  assert.equal(argvOf("echo '#' \\#"), ["echo", "#", "#"]);
});

test("a backslash-newline joins lines; a multi-line quote keeps its newline; line numbers follow", () => {
  const lines = parseScript("modprobe null_blk \\\n  nr_devices=1\necho 'a\nb'\ndmesg\n");
  assert.equal(lines.map((l) => [l.kind, l.line]), [["command", 1], ["command", 3], ["command", 5]]);
  assert.equal(argvAt(lines[0]), ["modprobe", "null_blk", "nr_devices=1"]);
  assert.equal(argvAt(lines[1]), ["echo", "a\nb"]);
});

test("a quote left open is bash's two EOF diagnostics and swallows the rest", () => {
  const lines = parseScript("echo ok\necho 'abc\ndmesg\n");
  assert.is(lines.length, 2);
  assert.equal(lines[1], {
    kind: "error",
    line: 2,
    messages: ["line 2: unexpected EOF while looking for matching `''", "line 4: syntax error: unexpected end of file"],
    source: "echo 'abc\ndmesg",
  });
  assert.equal(messagesOf(parseScript('echo "x')[0])[0], "line 1: unexpected EOF while looking for matching `\"'");
});

test("a redirection without a target is a syntax error near `newline'", () => {
  for (const text of ["echo 1 >", "echo 1 >  # c", "echo 1 2>"]) {
    assert.equal(parseScript(text)[0], {
      kind: "error",
      line: 1,
      messages: ["line 1: syntax error near unexpected token `newline'"],
      source: text,
    });
  }
  assert.equal(messagesOf(parseScript("echo > > x")[0]), ["line 1: syntax error near unexpected token `>'"]);
});

test("pipes, lists, input redirection, substitutions and expansions are unsupported syntax", () => {
  const cases: [string, string][] = [
    ["cat /x | head", "|"],
    ["echo a; echo b", ";"],
    ["sleep 1 &", "&"],
    ["cat < /x", "<"],
    ["(echo)", "("],
    ["echo `uname`", "`"],
    ["echo $(uname)", "$("],
    ["echo $HOME", "$H"],
    ['echo "${x}"', "${"],
    ["echo 1 >&2", ">&"],
  ];
  for (const [text, token] of cases) {
    const [l] = parseScript(`${text}\necho next\n`);
    assert.equal(l, { kind: "error", line: 1, messages: [`line 1: unsupported syntax: \`${token}'`], source: text }, text);
  }
  assert.is(parseScript("echo a | b\necho next\n")[1].kind, "command", "parsing goes on after the line");
});

test("parseCommand() rejects anything but exactly one command", () => {
  for (const text of ["", "# c", "a\nb", "a | b", "echo x # c"]) {
    assert.throws(() => parseCommand(text), (e: unknown) => e instanceof RangeError, JSON.stringify(text));
  }
});

test("formatWord() quotes only when needed, and $'' for control characters", () => {
  assert.is(formatWord("/sys/block/nullb0/queue/nr_requests"), "/sys/block/nullb0/queue/nr_requests");
  assert.is(formatWord("submit_queues=2"), "submit_queues=2");
  assert.is(formatWord("a=b", true), "'a=b'", "a command name with = would be an assignment");
  assert.is(formatWord(""), "''");
  assert.is(formatWord("a b"), "'a b'");
  assert.is(formatWord("it's"), `'it'\\''s'`);
  assert.is(formatWord("#x"), "'#x'");
  assert.is(formatWord("*"), "'*'");
  assert.is(formatWord("a\nb\t\\'\x01"), `$'a\\nb\\t\\\\\\'\\x01'`);
});

test("formatCommand() puts redirections after the words; it refuses an empty command", () => {
  assert.is(formatCommand(cmd(["echo", "a b"], [out("/sys/x"), { fd: 2, op: ">>", path: "/dev/null" }])), "echo 'a b' > /sys/x 2>> /dev/null");
  assert.is(formatCommand(cmd([], [out("/x")])), "> /x");
  assert.throws(() => formatCommand(cmd([])), TypeError);
  assert.throws(() => formatCommand({ argv: ["x"], redirects: [{ fd: 3 as 1, op: ">", path: "y" }] }), TypeError);
});

test("parse ∘ format is the identity on canonical text", () => {
  const canonical = [
    "# reproducer",
    "modprobe null_blk queue_mode=2 submit_queues=2 'home_node=a b'",
    "",
    "echo 0 > /sys/devices/system/cpu/cpu1/online",
    "echo -n $'4\\n' >> /sys/block/nullb0/queue/nr_requests # tail",
    "cat /x 2> /dev/null",
    "> /x",
    "echo '' 'it'\\''s' '*'",
    "#",
  ].map((l) => `${l}\n`).join("");
  assert.is(formatScript(parseScript(canonical)), canonical);
});

test("format ∘ parse is the identity on scripts of arbitrary words", () => {
  const rng = new Prng(42);
  const alphabet = [..."ab09_=-./:%@+,", " ", "\t", "\n", "'", '"', "\\", "$", "#", "*", "|", ";", ">", "<", "&", "(", "`", "~", "\x01", "\x7f", "é", "ü"];
  const word = () => {
    let w = "";
    for (let n = rng.next() % 6; n > 0; n--) w += alphabet[rng.next() % alphabet.length];
    return w;
  };
  for (let i = 0; i < 300; i++) {
    const argv = Array.from({ length: 1 + (rng.next() % 4) }, word);
    const redirects: Redirect[] = rng.next() % 3 === 0 ? [{ fd: rng.next() % 2 ? 1 : 2, op: rng.next() % 2 ? ">" : ">>", path: word() || "/x" }] : [];
    const script: ScriptLine[] = [
      { kind: "command", line: 1, command: { argv, redirects }, comment: null },
      { kind: "comment", line: 2, text: word().replaceAll("\n", "") },
      { kind: "blank", line: 3 },
    ];
    const text = formatScript(script);
    assert.equal(parseScript(text), script, JSON.stringify(text));
    assert.is(formatScript(parseScript(text)), text);
  }
});

test.run();
