#!/usr/bin/env python3
"""An independent oracle for dadar's market patterns (docs/patterns.md), and its conformance tests.

Written from docs/patterns.md alone, never from the C engine (ops/cep/, ops/window/): its own
parser of the pattern language, its own expression evaluator and a matcher that is a plain
depth-first search over the records (see "How the matcher works" below), not an automaton run.

usage:
  cep_oracle.py RULES STREAM                  print the alerts of RULES over the text STREAM
  cep_oracle.py --selftest                    check the oracle against tests/ops/cep_cases/*.case
  cep_oracle.py --cases DIR --dadar-rules BIN check `BIN run` against the hand-written cases
  cep_oracle.py --fuzz N --seed S --dadar-rules BIN
                                              N random (rules, stream) pairs, oracle against BIN

A case (tests/ops/cep_cases/NAME.case) is a rule file, a `--- stream` line, a text stream, a
`--- expect` line and the expected alert lines (JSON, compared as below), or the one word `error`
when the rules must be refused. An expected line's `"matched"` (the stream lines of the records the
alert lists, see "The records an alert lists" below) is compared only when the line gives it;
between the oracle and dadar-rules (--fuzz) it always is.

Exit status: 0 all agreed, 1 a disagreement or error (printed with the rules, the stream and both
outputs), 2 usage or rule errors, 77 (loudly) when BIN is missing or has no `run` command.

Supported: `RULESET` (ignored) and `PATTERN ... END` with every clause of docs/patterns.md.
`WINDOW ... END` is refused with a clear error (this oracle does not compute windows), and so is a
pattern reading a window's stream.

Alerts of different (pattern, symbol) partitions are compared as separate sequences: within a
partition the order is defined by the spec; across partitions (at a `wm` line, several symbols)
it is not. This program prints them pattern by pattern in file order, symbols in first-seen order.

How the matcher works
---------------------
MATCH's regex is compiled into a small program (STEP var, SPLIT, JMP, SKIP for `->`, NEG for `!x`,
MATCH), only to read off, for the point after each step, its ordered list of *edges*: the steps
(or the end of the pattern) reachable without consuming a record, in preference order (greedy
quantifiers prefer one more, alternation its left branch), each with the attributes of the
boundaries it crosses: `skip` (some `->` crossed) and `negs` (the `!x` crossed).

A *path* is the records matched so far, each with the step it matched; a *way* is a path and the
one edge after its last step that it waits at. A start is a record that satisfies a first step.
For a start and the records that have arrived, a depth-first search enumerates its ways in
preference order. From a path whose last record m matched step s: if an edge after s reaches the
end of the pattern with no `!x` crossed, the path completes on m (R11). Otherwise, for each edge
after s in preference order, the way waiting at it looks at the records after m in order:
  1. a record that satisfies one of the edge's negated variables drops the way (Negate);
  2. a record that satisfies the edge's step extends the path with it, and the search goes on
     from the longer path; this way is done (Advance);
  3. otherwise the way is kept if its edge is skip-till-next or the end across a `!x` (an
     absence), and dropped if it is strict (it needed the very next record).
A way still waiting after the last record is live; one waiting at the end across `!x` is *pending
an absence*: it completes when its start expires (first time + WITHIN < a record's time or the
watermark) with no such `!x` record seen.

Why this is the spec's "Matching, exactly": the spec holds, per start, a list of ways each waiting
at one next step; a record that satisfies a way replaces it by the ways to every step after it,
in preference order; a way it does not satisfy is kept or dropped by its own step's contiguity;
a way behind a `!x` that the record satisfies is dropped. The path and the edge of a way fix the
records it takes (the first record that satisfies the edge, if nothing drops it first), so the
spec's ways of a live start are exactly the leaves of this search. They are in the same order:
two ways of a start first differ at the edge they took after a common path, which preference
orders, and replacing a way in place by its successors in preference order keeps that
(lexicographic) order. Hence, for every live start, at every record j: it completes at j iff the
search finds a path completing at j, and the way reported is the first such path in search order.

Readings of docs/patterns.md (where it is or was ambiguous; the C engine should agree or the
spec say)
---------------------------------------------------------------------------------------------
R1  `->` is the attribute of the boundary between two terms of a sequence: `a -> b+` skips till
    the first b, then the b's are strict. An edge that crosses several boundaries (through terms
    that matched nothing: `a -> b? c` from a to c) is skip-till-next if any of them is. An empty
    iteration of a loop is never taken. Two routes from a step to one next step, through
    different terms that match nothing, are two ways ("two ways that end in the same place are
    both kept"): in `a (e? | c? -> f?) d` one way waits for d strictly (through e?), another
    skipping (through c? -> f?), so a, y, d matches.
R2  (settled in docs/patterns.md) A partial match is a set of ways, each waiting at ONE next
    step. A record that satisfies a way's step moves that way on, to one new way per step
    after it; a way the record does not satisfy is kept iff its own step is skip-till-next (or
    the end across `!x`, an absence). So `a -> (b c | d)` over a, b, x, d completes at d: the
    way waiting for d skips b and x, although the way through b died at x; and `a c? -> b`
    after a waits both for a c (strict: the very next record only) and for a b (skipping). The
    successors of a way take its place in the list of ways, in preference order (so the list
    is in the search's order; the "first way" of a start is the first in that order).
R3  A negation belongs to the ways waiting behind it, not to the whole partial match: in
    `a b+ !x c`, a record that is both an x and a b moves on the way waiting for another b
    (b -> b crosses no `!x`); it only drops the way waiting for c. "A record that is an x ends
    the partial match, whatever else it is" holds when every way of it waits behind the `!x`
    (`a -> !x b`: an x that is also a b ends it).
R4  In a predicate, `v.field`, FIRST/LAST/COUNT/SUM/MIN/MAX/AVG(v...) are over the records matched
    *before* the current one ("so far"): the record being tested is not yet matched to v. PREV is
    the way's last record. In MEASURES (settled) they are over the whole match, a bare field and
    `v.field` read the last record (of v), PREV(field) the record before the last one.
R5  (settled) COUNT(v) is 0 before v matched anything. Every other reference to an unmatched v
    (v.field, FIRST, LAST, SUM, MIN, MAX, AVG), PREV with no record before, and a division or
    modulo by zero are *undefined*: if any part of a predicate is undefined the whole predicate
    is false, whatever AND/OR would make of the rest (no short-circuit, no three-valued logic).
    An undefined MEASURE is reported as JSON null.
R6  Division truncates toward zero, `%` takes the sign of the dividend (C99); arithmetic wraps at
    64 bits.
R7  A string literal compared with (or IN a list tested against) a `reason` value is packed as
    `reason` is: its characters space padded to 4 bytes, read as a little-endian integer ('T1' is
    0x20203154). Elsewhere a 1-character literal is its character code ('B' is 66) and a longer
    one is packed. The text stream packs `reason=` the same way; `side`, `state` and `aggressor`
    take a letter (its code) or an integer.
R8  Absence at the end: the completion's `last_ns` is the time of the last matched record (the
    JSON's definition), not the deadline (the spec's "event time" is dadar's `event_ns`).
R9  (settled) Expiry is per start (all ways of a start share its first record): if some way of an
    expiring start is pending an absence, the first such way completes and the start emits no
    timeout; otherwise, with EMIT TIMEOUTS, the start is reported once with `"timeout":true`,
    from its first way (`events`, `last_ns` and measures of that way's path). Expiring starts are
    handled oldest first; with PAST LAST ROW a completion among them drops every other start
    (the younger expiring ones without a timeout report). A completion at expiry does not keep
    the expiring record from starting a match (only a step-3 completion does, as the spec says).
R10 A single-step start that completes on its own record (`MATCH (s)`) is step 4's; with PAST LAST
    ROW it drops every other partial match, like any completion.
R11 A way that reaches the end of the pattern completes there even if a greedy quantifier could
    go on (`a b*` completes on a; `a b+` on the first b).
R12 (settled) Keywords are case-insensitive (`within 1 s` is `WITHIN 1 S`); names (patterns,
    variables, streams, fields, measures) are case-sensitive. The spec does not say keywords are
    reserved; this oracle reads a name by its position, so a variable may be called `s` or
    `min` and `match` is the trade field (dadar-rules accepts these too). Comments are `#` or
    `--` to the end of the line. A negation cannot be quantified and cannot be the first step; a
    pattern that can match no record is an error.
R13 (settled) Every order, cancel, trade and halt line of the text stream is also an `any`
    record: one record in two streams (a pattern reading `trade` and `any` sees it once); a
    `bbo` line is not. A record matched to an `any` variable keeps its own fields (PREV(price)
    after it, or a bare `price` measure, read a trade's price). Fields a record's line does not
    give are 0, and so is a field its stream does not have (PREV(price) after a cancel).
R14 (settled) A variable used both as a step and as a negated step (`a -> !a`) is an error.

The records an alert lists ("matched")
--------------------------------------
(The rules of the listing as given with the engine change that added it, for docs/patterns.md.)
An alert (a completion, an absence completing at expiry, or an EMIT TIMEOUTS report) lists the
records of the path it reports, in the order the path took them (time order), as `"matched"`:
their line numbers in the text stream. `dadar-rules run` prints the alert with `"refs":N` and then
N refs on `"type":"matched"` lines of 7 refs each (`part` 0..parts-1, the same pattern and symbol),
a ref being {"feed":F,"seq":S}; run_tool folds them into the alert as `"matched":[S, ...]`.
L1  A record's `seq` is its line number in the stream file: 1-based, every line counted (comments,
    blank lines, `wm` lines and comment-only continuation lines too); a case's stream starts on
    the line after `--- stream`. `feed` is the record's `source` field, set by `src=` (0 when
    absent); the line number names the record, so only `seq` is compared.
L2  A pattern's limit L is the most records one match of it can take: the longest path through
    its MATCH tree, read off the tree itself (a variable 1, a negated step 0, a sequence the sum,
    an alternation the largest branch, `{n,m}` m times its body, `?` once), or 16 when that is
    over 16 or unbounded (`*`, `+`, `{n,}` over a body that takes a record). `a b? c{2,3}` is 5,
    `a | b c` 2, `m !x` 1, `a b+` 16.
L3  A path of E records lists them all when E <= L; otherwise (only when L is 16) its first L-1
    records and then its last one. A timeout report lists its first way's path the same way.
"""
import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
CASES_DIR = os.path.join(HERE, "cep_cases")

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1

COMMON_FIELDS = ("time", "source")
STREAM_FIELDS = {
    "order": ("ref", "side", "shares", "price"),
    "cancel": ("ref", "shares", "deleted"),
    "trade": ("ref", "match", "shares", "price", "side", "aggressor"),
    "bbo": ("bid", "ask", "bid_shares", "ask_shares", "other_bid", "other_ask"),
    "halt": ("state", "reason"),
    "any": (),
}
ANY_STREAMS = ("order", "cancel", "trade", "halt")  # their lines are also `any` records (R13)
LETTER_FIELDS = ("side", "state", "aggressor")

NS_PER_UNIT = {
    "MILLISECONDS": 10**6, "MS": 10**6,
    "SECONDS": 10**9, "S": 10**9,
    "MINUTES": 60 * 10**9, "MIN": 60 * 10**9,
    "HOURS": 3600 * 10**9,
}
KEYWORDS = {
    "RULESET", "VERSION", "WINDOW", "PATTERN", "PARTITION", "BY", "MATCH", "DEFINE", "AS", "WHERE",
    "WITHIN", "AFTER", "SKIP", "PAST", "LAST", "ROW", "TO", "NEXT", "MAX", "PARTIAL", "EMIT",
    "TIMEOUTS", "MEASURES", "END", "AND", "OR", "NOT", "IN", "PREV", "FIRST", "COUNT", "SUM",
    "MIN", "AVG", "ABS",
} | set(NS_PER_UNIT)
AGGREGATES = ("FIRST", "LAST", "SUM", "MIN", "MAX", "AVG")
FUNCTIONS = AGGREGATES + ("PREV", "COUNT", "ABS")
ALERT_KEYS = ("type", "pattern", "symbol", "first_ns", "last_ns", "events", "timeout")
MAX_LISTED = 16  # the most records an alert lists (L2)
REFS_PER_PART = 7  # refs per `matched` line of dadar-rules run
LINE = "#line"  # a record's line number in its stream (L1): no field name can start with `#`
MAX_WAYS_EXPLORED = 200_000  # a search bigger than this is given up (TooManyWays)
MAX_ROUTES = 20_000  # routes from one step to its next steps (a bigger MATCH is refused)


class RulesError(Exception):
    """An error in a rule file, as LINE:COLUMN: message."""


class StreamError(Exception):
    """An error in a text stream, as LINE: message."""


class TooManyWays(Exception):
    """The search found more ways than this oracle is willing to enumerate."""


class Undefined(Exception):
    """An expression has no value (R5): the predicate is false, the measure null."""


def wrap64(v):
    """Reduces v to a signed 64-bit integer, as C's two's complement arithmetic does."""
    return (v - INT64_MIN) % (1 << 64) + INT64_MIN


def c_div(a, b):
    """C99 `/` on int64: truncates toward zero; division by zero is undefined."""
    if b == 0:
        raise Undefined("division by zero")
    q = abs(a) // abs(b)
    return wrap64(q if (a < 0) == (b < 0) else -q)


def c_mod(a, b):
    """C99 `%` on int64: the remainder takes the dividend's sign; modulo zero is undefined."""
    if b == 0:
        raise Undefined("modulo by zero")
    return wrap64(a - b * c_div(a, b))


def pack_reason(text):
    """A reason code as an integer: up to 4 characters, space padded, little-endian (R7)."""
    if len(text) > 4:
        raise ValueError(f"reason {text!r} is longer than 4 characters")
    return int.from_bytes(text.ljust(4).encode("ascii"), "little")


def literal_value(text, as_reason):
    """The integer value of the string literal 'text' (R7)."""
    if not as_reason and len(text) == 1:
        return ord(text)
    return pack_reason(text)


# ---------------------------------------------------------------------------------------------
# Lexer


@dataclass
class Token:
    kind: str  # "int", "ident", "str", "op", "eof"
    text: str
    line: int
    col: int

    def is_kw(self, word):
        """Is this the keyword `word` (upper case), in any case (R12)?"""
        return self.kind == "ident" and self.text.upper() == word

    @property
    def word(self):
        """The token as a keyword would be compared: identifiers upper cased (R12)."""
        return self.text.upper() if self.kind == "ident" else self.text


TOKEN_RE = re.compile(r"""
    (?P<space>[ \t\r]+) | (?P<newline>\n) | (?P<comment>\#[^\n]*|--[^\n]*)
  | (?P<int>\d+(?:_\d+)*) | (?P<ident>[A-Za-z_][A-Za-z0-9_]*) | (?P<str>'[^'\n]*')
  | (?P<op>->|!=|<>|<=|>=|[-+*/%()<>=,.{}?|!])
""", re.X)


def tokenize(text):
    """Splits rule text into tokens with their line and column (1-based)."""
    tokens, line, line_start, pos = [], 1, 0, 0
    while pos < len(text):
        m = TOKEN_RE.match(text, pos)
        if not m:
            raise RulesError(f"{line}:{pos - line_start + 1}: unexpected character {text[pos]!r}")
        kind, col = m.lastgroup, pos - line_start + 1
        if kind == "newline":
            line, line_start = line + 1, m.end()
        elif kind not in ("space", "comment"):
            tokens.append(Token(kind, m.group(), line, col))
        pos = m.end()
    tokens.append(Token("eof", "", line, pos - line_start + 1))
    return tokens


class TokenReader:
    """A cursor over tokens with the small helpers a recursive-descent parser needs."""

    def __init__(self, tokens):
        self.tokens, self.pos = tokens, 0

    def peek(self, ahead=0):
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def next(self):
        tok = self.peek()
        self.pos += 1
        return tok

    def error(self, message, tok=None):
        tok = tok or self.peek()
        return RulesError(f"{tok.line}:{tok.col}: {message}")

    def accept(self, text):
        """Consumes the next token if it is the operator or keyword `text`."""
        tok = self.peek()
        if tok.kind in ("op", "ident") and tok.word == text:
            self.pos += 1
            return True
        return False

    def expect(self, text):
        if not self.accept(text):
            raise self.error(f"expected {text!r}, found {self.peek().text or 'end of file'!r}")

    def expect_words(self, *words):
        for w in words:
            self.expect(w)

    def name(self, what):
        """Consumes an identifier: a name is read by its position, keywords are not reserved
        (R12)."""
        tok = self.next()
        if tok.kind != "ident":
            raise self.error(f"expected {what}, found {tok.text or 'end of file'!r}", tok)
        return tok.text

    def integer(self, what):
        tok = self.next()
        if tok.kind != "int":
            raise self.error(f"expected {what} (an integer)", tok)
        return int(tok.text.replace("_", ""))

    def duration(self):
        n = self.integer("a duration")
        tok = self.next()
        if tok.kind != "ident" or tok.word not in NS_PER_UNIT:
            raise self.error("expected a unit: MILLISECONDS, SECONDS, MINUTES, HOURS, MS, S or MIN",
                             tok)
        return n * NS_PER_UNIT[tok.word]


# ---------------------------------------------------------------------------------------------
# Expressions: parsed into tuples, type checked ("int" or "bool"), evaluated against a context.
#
#   ("int", v) ("field", f) ("varfield", v, f) ("prev", f) ("agg", FN, v, f) ("count", v)
#   ("abs", e) ("neg", e) ("arith", op, l, r) ("cmp", op, l, r) ("in", e, values)
#   ("and", l, r) ("or", l, r) ("not", e)


@dataclass
class Scope:
    """What an expression may name: the pattern's variables and the fields it may read."""
    var_streams: dict          # variable -> stream
    current_fields: set        # fields of the current record (bare `field`)
    prev_fields: set           # fields PREV(field) may read
    lenient: bool = False      # only find where the expression ends (names checked later)


LENIENT = Scope({}, set(), set(), lenient=True)


class ExprParser:
    """Recursive descent over the expression grammar of docs/patterns.md."""

    COMPARISONS = ("=", "!=", "<>", "<", "<=", ">", ">=")

    def __init__(self, reader, scope):
        self.r, self.scope = reader, scope

    def predicate(self):
        tok = self.r.peek()
        e = self.disjunction()
        self.require(e, "bool", tok)
        return e

    def measure(self):
        tok = self.r.peek()
        e = self.disjunction()
        self.require(e, "int", tok)
        return e

    def require(self, e, typ, tok):
        if expr_type(e) != typ:
            want = "a condition" if typ == "bool" else "an integer expression"
            raise self.r.error(f"expected {want}", tok)

    def require_both(self, lhs, rhs, typ, tok):
        self.require(lhs, typ, tok)
        self.require(rhs, typ, tok)

    def disjunction(self):
        e = self.conjunction()
        while self.r.peek().is_kw("OR"):
            tok = self.r.next()
            rhs = self.conjunction()
            self.require_both(e, rhs, "bool", tok)
            e = ("or", e, rhs)
        return e

    def conjunction(self):
        e = self.negation()
        while self.r.peek().is_kw("AND"):
            tok = self.r.next()
            rhs = self.negation()
            self.require_both(e, rhs, "bool", tok)
            e = ("and", e, rhs)
        return e

    def negation(self):
        if self.r.peek().is_kw("NOT"):
            tok = self.r.next()
            e = self.negation()
            self.require(e, "bool", tok)
            return ("not", e)
        return self.comparison()

    def comparison(self):
        lhs_tok = self.r.peek()
        lhs = self.additive()
        tok = self.r.peek()
        if tok.kind == "op" and tok.text in self.COMPARISONS:
            self.r.next()
            rhs = self.additive()
            self.require_both(lhs, rhs, "int", tok)
            lhs, rhs = resolve_literal(lhs, rhs), resolve_literal(rhs, lhs)
            return ("cmp", "!=" if tok.text == "<>" else tok.text, lhs, rhs)
        if tok.is_kw("IN"):
            self.r.next()
            self.require(lhs, "int", lhs_tok)
            return ("in", resolve_literal(lhs, None), self.in_list(is_reason(lhs)))
        return lhs

    def in_list(self, as_reason):
        self.r.expect("(")
        values = [self.list_literal(as_reason)]
        while self.r.accept(","):
            values.append(self.list_literal(as_reason))
        self.r.expect(")")
        return tuple(values)

    def list_literal(self, as_reason):
        tok = self.r.peek()
        if tok.kind == "str":
            self.r.next()
            return literal_value(tok.text[1:-1], as_reason)
        sign = -1 if self.r.accept("-") else 1
        if self.r.peek().kind != "int":
            raise self.r.error("expected a literal in the IN list")
        return sign * self.number()[1]

    def additive(self):
        e = self.multiplicative()
        while self.r.peek().kind == "op" and self.r.peek().text in ("+", "-"):
            tok = self.r.next()
            rhs = self.multiplicative()
            self.require_both(e, rhs, "int", tok)
            e = ("arith", tok.text, resolve_literal(e, None), resolve_literal(rhs, None))
        return e

    def multiplicative(self):
        e = self.unary()
        while self.r.peek().kind == "op" and self.r.peek().text in ("*", "/", "%"):
            tok = self.r.next()
            rhs = self.unary()
            self.require_both(e, rhs, "int", tok)
            e = ("arith", tok.text, resolve_literal(e, None), resolve_literal(rhs, None))
        return e

    def unary(self):
        if self.r.peek().kind == "op" and self.r.peek().text == "-":
            tok = self.r.next()
            e = self.unary()
            self.require(e, "int", tok)
            return ("neg", resolve_literal(e, None))
        return self.primary()

    def number(self):
        """An integer, or a duration in ns when a unit follows (MIN( is the function)."""
        n = self.r.integer("a number")
        unit = self.r.peek()
        if unit.kind == "ident" and unit.word in NS_PER_UNIT and not (
                unit.word == "MIN" and self.r.peek(1).text == "("):
            self.r.next()
            return ("int", n * NS_PER_UNIT[unit.word])
        return ("int", n)

    def primary(self):
        tok = self.r.peek()
        if tok.kind == "int":
            return self.number()
        if tok.kind == "str":
            self.r.next()
            return ("str", tok.text[1:-1])
        if self.r.accept("("):
            e = self.disjunction()
            self.r.expect(")")
            return e
        if tok.kind == "ident" and tok.word in FUNCTIONS and self.r.peek(1).text == "(":
            return self.function()
        return self.reference()

    def function(self):
        fn = self.r.next().word
        self.r.expect("(")
        if fn == "ABS":
            arg_tok = self.r.peek()
            e = self.disjunction()
            self.require(e, "int", arg_tok)
            node = ("abs", resolve_literal(e, None))
        elif fn == "PREV":
            f = self.r.name("a field")
            self.check_field(f, self.scope.prev_fields, "PREV")
            node = ("prev", f)
        elif fn == "COUNT":
            node = ("count", self.variable())
        else:
            v = self.variable()
            self.r.expect(".")
            node = ("agg", fn, v, self.var_field(v))
        self.r.expect(")")
        return node

    def reference(self):
        """`field` (the current record's) or `v.field`."""
        name = self.r.name("a field or a variable")
        if self.r.accept("."):
            if name not in self.scope.var_streams and not self.scope.lenient:
                raise self.r.error(f"unknown variable {name!r}")
            return ("varfield", name, self.var_field(name))
        self.check_field(name, self.scope.current_fields, "the record")
        return ("field", name)

    def variable(self):
        v = self.r.name("a variable")
        if v not in self.scope.var_streams and not self.scope.lenient:
            raise self.r.error(f"unknown variable {v!r}")
        return v

    def var_field(self, v):
        f = self.r.name("a field")
        if not self.scope.lenient:
            self.check_field(f, fields_of(self.scope.var_streams[v]), f"variable {v}")
        return f

    def check_field(self, f, allowed, owner):
        if f not in allowed and not self.scope.lenient:
            raise self.r.error(f"{owner} has no field {f!r}")


def in_stream(rec, stream):
    """Is the record one of `stream`'s? A line of order, cancel, trade or halt is also an `any`
    record (R13)."""
    return rec["stream"] == stream or (stream == "any" and rec["stream"] in ANY_STREAMS)


def fields_of(stream):
    return set(COMMON_FIELDS) | set(STREAM_FIELDS[stream])


def expr_type(e):
    return "bool" if e[0] in ("cmp", "in", "and", "or", "not") else "int"


def is_reason(e):
    """True if e reads a `reason` value (so string literals against it are packed, R7)."""
    return (e[0] in ("field", "prev") and e[1] == "reason") or \
        (e[0] == "varfield" and e[2] == "reason") or \
        (e[0] == "agg" and e[3] == "reason")


def resolve_literal(e, other):
    """Turns a string literal into its integer, packed if `other` is a reason (R7)."""
    if e[0] != "str":
        return e
    return ("int", literal_value(e[1], other is not None and is_reason(other)))


class EvalContext:
    """What an expression reads: the current record, the records matched so far with their
    variables, and the record PREV reads (R4)."""

    def __init__(self, current, matched, prev):
        self.current, self.matched, self.prev_record = current, matched, prev

    @classmethod
    def for_predicate(cls, record, matched):
        """Testing `record` against a step, `matched` being the way's (variable, record)s."""
        return cls(record, matched, matched[-1][1] if matched else None)

    @classmethod
    def for_measures(cls, matched):
        """A whole (or timed-out partial) match."""
        return cls(matched[-1][1], matched, matched[-2][1] if len(matched) > 1 else None)

    def values(self, v, f):
        return [rec.get(f, 0) for var, rec in self.matched if var == v]


def evaluate(e, ctx):
    """The value of expression e (an int, or a bool for conditions); raises Undefined (R5)."""
    match e:
        case ("int", v):
            return v
        case ("field", f):
            return ctx.current.get(f, 0)
        case ("varfield", v, f):
            vals = ctx.values(v, f)
            if not vals:
                raise Undefined(f"{v} matched nothing")
            return vals[-1]
        case ("prev", f):
            if ctx.prev_record is None:
                raise Undefined("no previous record")
            return ctx.prev_record.get(f, 0)
        case ("count", v):
            return len(ctx.values(v, "time"))
        case ("agg", fn, v, f):
            return aggregate(fn, ctx.values(v, f))
        case ("abs", x):
            return wrap64(abs(evaluate(x, ctx)))
        case ("neg", x):
            return wrap64(-evaluate(x, ctx))
        case ("arith", op, lhs, rhs):
            return arithmetic(op, evaluate(lhs, ctx), evaluate(rhs, ctx))
        case ("cmp", op, lhs, rhs):
            return compare(op, evaluate(lhs, ctx), evaluate(rhs, ctx))
        case ("in", x, values):
            return evaluate(x, ctx) in values
        case ("and", lhs, rhs):
            a, b = evaluate(lhs, ctx), evaluate(rhs, ctx)  # both: no short-circuit (R5)
            return a and b
        case ("or", lhs, rhs):
            a, b = evaluate(lhs, ctx), evaluate(rhs, ctx)
            return a or b
        case ("not", x):
            return not evaluate(x, ctx)
    raise AssertionError(f"bad expression {e!r}")


def aggregate(fn, vals):
    if not vals:
        raise Undefined(f"{fn} over no record")
    if fn == "SUM":
        return wrap64(sum(vals))
    if fn == "AVG":
        return c_div(sum(vals), len(vals))
    return {"FIRST": vals[0], "LAST": vals[-1], "MIN": min(vals), "MAX": max(vals)}[fn]


def arithmetic(op, a, b):
    if op == "+":
        return wrap64(a + b)
    if op == "-":
        return wrap64(a - b)
    if op == "*":
        return wrap64(a * b)
    return c_div(a, b) if op == "/" else c_mod(a, b)


def compare(op, a, b):
    return {"=": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


# ---------------------------------------------------------------------------------------------
# MATCH's regex: parsed into a tree, compiled into a program, read off as ordered edges.
#
#   ("var", v)  ("neg", v)  ("seq", [item...], [skip-before...])  ("alt", [branch...])
#   ("rep", node, lo, hi)   (hi None: unbounded)


class RegexParser:
    """regex := seq ('|' seq)* ; seq := item (['->'] item)* ; item := '!' var | atom [quantifier]"""

    def __init__(self, reader, variables):
        self.r, self.variables = reader, variables  # variables: set, filled as they are seen
        self.steps, self.negated = set(), set()

    def note(self, v, negated, tok):
        """Records a use of v; a variable both a step and a negated step is an error (R14)."""
        mine, other = (self.negated, self.steps) if negated else (self.steps, self.negated)
        if v in other:
            raise self.r.error(f"variable {v} is both a step and a negated step", tok)
        mine.add(v)
        self.variables.add(v)

    def alternation(self):
        branches = [self.sequence()]
        while self.r.accept("|"):
            branches.append(self.sequence())
        return branches[0] if len(branches) == 1 else ("alt", branches)

    def sequence(self):
        items, skips = [self.item()], [False]
        while True:
            skip = self.r.accept("->")
            tok = self.r.peek()
            if tok.kind == "op" and tok.text in ("|", ")"):
                if skip:
                    raise self.r.error("`->` must be followed by a step")
                break
            items.append(self.item())
            skips.append(skip)
        return items[0] if len(items) == 1 else ("seq", items, skips)

    def item(self):
        if self.r.accept("!"):
            tok = self.r.peek()
            v = self.r.name("a variable after `!`")
            self.note(v, True, tok)
            if self.quantifier_follows():
                raise self.r.error("a negated step cannot be quantified")
            return ("neg", v)
        if self.r.accept("("):
            atom = self.alternation()
            self.r.expect(")")
        else:
            tok = self.r.peek()
            atom = ("var", self.r.name("a variable"))
            self.note(atom[1], False, tok)
        return self.quantified(atom)

    def quantifier_follows(self):
        tok = self.r.peek()
        return tok.kind == "op" and tok.text in ("?", "*", "+", "{")

    def quantified(self, atom):
        if self.r.accept("?"):
            return ("rep", atom, 0, 1)
        if self.r.accept("*"):
            return ("rep", atom, 0, None)
        if self.r.accept("+"):
            return ("rep", atom, 1, None)
        if not self.r.accept("{"):
            return atom
        tok = self.r.peek()
        lo = self.r.integer("a repetition count")
        hi = lo
        if self.r.accept(","):
            hi = None if self.r.peek().text == "}" else self.r.integer("a repetition bound")
        self.r.expect("}")
        if hi is not None and (hi > 16 or lo > hi or hi < 1):
            raise self.r.error("a repetition {n,m} needs 1 <= m <= 16 and n <= m", tok)
        if hi is None and lo > 16:
            raise self.r.error("a repetition {n,} needs n <= 16", tok)
        return ("rep", atom, lo, hi)


@dataclass(frozen=True)
class Edge:
    """Where a way can go next: the step at `pc` (matching `var`), or the end of the pattern
    (`pc` None); `skip` if a `->` is crossed, `negs` the negated variables crossed."""
    pc: int
    var: str
    skip: bool
    negs: frozenset

    @property
    def final(self):
        return self.pc is None


class Program:
    """MATCH compiled into instructions: ("step", v) ("split", x, y) ("jmp", x) ("skip",)
    ("neg", v) ("match",). Only used to derive the ordered edges after each step."""

    def __init__(self, tree):
        self.code = []
        self.emit_node(tree)
        self.code.append(("match",))

    def emit(self, ins):
        self.code.append(ins)
        return len(self.code) - 1

    def patch(self, at, *targets):
        self.code[at] = (self.code[at][0], *targets)

    def emit_node(self, node):
        kind = node[0]
        if kind == "var":
            self.emit(("step", node[1]))
        elif kind == "neg":
            self.emit(("neg", node[1]))
        elif kind == "seq":
            for item, skip in zip(node[1], node[2]):
                if skip:
                    self.emit(("skip",))
                self.emit_node(item)
        elif kind == "alt":
            self.emit_alt(node[1])
        else:
            self.emit_rep(node[1], node[2], node[3])

    def emit_alt(self, branches):
        """split(b1, split(b2, ...)): each branch jumps to the end."""
        jumps = []
        for k, branch in enumerate(branches):
            if k < len(branches) - 1:
                split = self.emit(("split", None, None))
                self.emit_node(branch)
                jumps.append(self.emit(("jmp", None)))
                self.patch(split, split + 1, len(self.code))
            else:
                self.emit_node(branch)
        for j in jumps:
            self.patch(j, len(self.code))

    def emit_rep(self, body, lo, hi):
        """lo copies, then a greedy star (hi None) or hi-lo nested greedy optionals."""
        for _ in range(lo):
            self.emit_node(body)
        if hi is None:
            loop = self.emit(("split", None, None))
            self.emit_node(body)
            self.emit(("jmp", loop))
            self.patch(loop, loop + 1, len(self.code))
            return
        splits = []
        for _ in range(hi - lo):
            splits.append(self.emit(("split", None, None)))
            self.emit_node(body)
        for s in splits:
            self.patch(s, s + 1, len(self.code))

    def edges_from(self, pc):
        """The ordered edges reachable from instruction pc without consuming a record (R1): one
        per route, a route that comes back to an instruction it passed (an empty iteration of a
        loop) being cut; of routes with the same step and attributes the first is kept."""
        edges, routes = [], [0]

        def walk(pc, skip, negs, passed):
            if pc in passed:
                return
            routes[0] += 1
            if routes[0] > MAX_ROUTES:
                raise RulesError(f"1:1: MATCH has over {MAX_ROUTES} routes (too big for this oracle)")
            passed = passed | {pc}
            ins = self.code[pc]
            if ins[0] in ("step", "match"):
                edge = Edge(pc if ins[0] == "step" else None, ins[1] if ins[0] == "step" else None,
                            skip, negs)
                if edge not in edges:
                    edges.append(edge)
            elif ins[0] == "jmp":
                walk(ins[1], skip, negs, passed)
            elif ins[0] == "split":
                walk(ins[1], skip, negs, passed)
                walk(ins[2], skip, negs, passed)
            elif ins[0] == "skip":
                walk(pc + 1, True, negs, passed)
            else:
                walk(pc + 1, skip, negs | {ins[1]}, passed)

        walk(pc, False, frozenset(), frozenset())
        return tuple(edges)


def longest_match(node):
    """The most records one match of the regex tree `node` can take: an int, or None when
    unbounded (L2). Read off the tree, not the program: a quantifier is its count times its body."""
    kind = node[0]
    if kind == "var":
        return 1
    if kind == "neg":
        return 0  # a negated step takes no record
    if kind in ("seq", "alt"):
        parts = [longest_match(item) for item in node[1]]
        if None in parts:
            return None
        return sum(parts) if kind == "seq" else max(parts)
    body, hi = longest_match(node[1]), node[3]
    if body == 0:
        return 0
    if body is None or hi is None:
        return None
    return hi * body


def listing_limit(tree):
    """L of L2: how many records an alert of this MATCH lists at most."""
    n = longest_match(tree)
    return MAX_LISTED if n is None or n > MAX_LISTED else n


def listed(items, limit):
    """The items (a path's records, in match order) an alert lists (L3): all of them when they
    are at most `limit`, else the first limit-1 and the last."""
    items = list(items)
    return items if len(items) <= limit else items[:limit - 1] + items[-1:]


# ---------------------------------------------------------------------------------------------
# Rule files


@dataclass
class Pattern:
    """One PATTERN ... END, ready to match."""
    name: str
    tree: tuple
    defines: dict                # variable -> (stream, predicate or None)
    within: int
    past_last_row: bool = True
    max_partial: int = 8
    emit_timeouts: bool = False
    measures: list = field(default_factory=list)  # (name, expression)
    first_edges: tuple = ()
    limit: int = MAX_LISTED  # the most records an alert lists (L2)
    edges_after: dict = field(default_factory=dict)  # step pc -> edges after it
    streams: frozenset = frozenset()

    def prepare(self, reader, tok):
        """Derives the edges, and checks what only the whole pattern shows."""
        program = Program(self.tree)
        self.first_edges = program.edges_from(0)
        if any(e.final for e in self.first_edges):
            raise reader.error(f"pattern {self.name}: MATCH can match no record", tok)
        if any(e.negs for e in self.first_edges):
            raise reader.error(f"pattern {self.name}: MATCH cannot start with a negated step", tok)
        self.edges_after = {pc: program.edges_from(pc + 1)
                            for pc, ins in enumerate(program.code) if ins[0] == "step"}
        self.streams = frozenset(stream for stream, _ in self.defines.values())
        self.limit = listing_limit(self.tree)


class RulesParser:
    """A rule file: RULESET lines and PATTERN blocks (WINDOW blocks are refused)."""

    def __init__(self, text):
        self.r = TokenReader(tokenize(text))

    def parse(self):
        patterns = []
        while self.r.peek().kind != "eof":
            tok = self.r.peek()
            if self.r.accept("RULESET"):
                self.r.name("a rule set name")
                if self.r.accept("VERSION"):
                    self.r.integer("a version")
            elif tok.is_kw("WINDOW"):
                raise self.r.error("WINDOW is not supported by this oracle (patterns only)")
            elif self.r.accept("PATTERN"):
                patterns.append(self.pattern())
            else:
                raise self.r.error(f"expected RULESET or PATTERN, found {tok.text!r}")
        names = [p.name for p in patterns]
        if len(set(names)) != len(names):
            raise RulesError("two patterns have one name")
        return patterns

    def pattern(self):
        start = self.r.peek()
        name = self.r.name("a pattern name")
        seen, clauses = set(), {}
        while not self.r.accept("END"):
            tok = self.r.peek()
            if tok.kind == "eof":
                raise self.r.error(f"pattern {name}: missing END")
            clause = tok.word
            if clause in seen:
                raise self.r.error(f"pattern {name}: {clause} given twice")
            seen.add(clause)
            self.clause(clauses)
        for required in ("PARTITION", "MATCH", "DEFINE", "WITHIN"):
            if required not in clauses:
                raise self.r.error(f"pattern {name}: {required} is required", start)
        return self.build(name, clauses, start)

    def clause(self, clauses):
        """Reads one clause into `clauses`, keyed by its first keyword."""
        tok = self.r.next()
        readers = {
            "PARTITION": self.partition_clause, "MATCH": self.match_clause,
            "DEFINE": lambda tok: self.defines(), "WITHIN": self.within_clause,
            "AFTER": self.after_clause, "MAX": self.max_partial_clause,
            "EMIT": lambda tok: self.r.expect_words("TIMEOUTS") or True,
            "MEASURES": lambda tok: self.skip_list(),
        }
        if tok.word not in readers or tok.kind != "ident":
            raise self.r.error(f"unexpected {tok.text!r} in a pattern", tok)
        clauses[tok.word] = readers[tok.word](tok)

    def partition_clause(self, tok):
        self.r.expect_words("BY")
        if self.r.name("symbol") != "symbol":
            raise self.r.error("only PARTITION BY symbol is supported", tok)
        return True

    def match_clause(self, tok):
        """MATCH ( regex ): the tree, the variables it names and where it is."""
        self.r.expect("(")
        used = set()
        tree = RegexParser(self.r, used).alternation()
        self.r.expect(")")
        return (tree, used, tok)

    def within_clause(self, tok):
        ns = self.r.duration()
        if ns <= 0:
            raise self.r.error("WITHIN must be positive", tok)
        return ns

    def after_clause(self, tok):
        """AFTER MATCH SKIP PAST LAST ROW (True) or TO NEXT ROW (False)."""
        self.r.expect_words("MATCH", "SKIP")
        if self.r.accept("PAST"):
            self.r.expect_words("LAST", "ROW")
            return True
        self.r.expect_words("TO", "NEXT", "ROW")
        return False

    def max_partial_clause(self, tok):
        self.r.expect_words("PARTIAL")
        n = self.r.integer("MAX PARTIAL's count")
        if not 1 <= n <= 64:
            raise self.r.error("MAX PARTIAL is 1..64", tok)
        return n

    def defines(self):
        """v AS stream [WHERE <tokens>], ...: predicates are parsed once every variable is known."""
        defines = {}
        while True:
            tok = self.r.peek()
            v = self.r.name("a variable")
            self.r.expect("AS")
            stream_tok = self.r.peek()
            stream = self.r.name("a stream")
            if stream not in STREAM_FIELDS:
                raise self.r.error(f"unknown stream {stream!r} (window streams are not supported "
                                   "by this oracle)", stream_tok)
            if v in defines:
                raise self.r.error(f"variable {v} defined twice", tok)
            where = self.skip_expression() if self.r.accept("WHERE") else None
            defines[v] = (stream, where)
            if not self.r.accept(","):
                return defines

    def skip_list(self):
        """MEASURES e AS name, ...: the position of each expression, parsed later."""
        items = []
        while True:
            at = self.skip_expression()
            self.r.expect("AS")
            items.append((at, self.r.name("a measure name")))
            if not self.r.accept(","):
                return items

    def skip_expression(self):
        """Reads past an expression, returning where it starts: it is parsed for its syntax only
        (it ends where the grammar does), and again once every variable is known."""
        start = self.r.pos
        ExprParser(self.r, LENIENT).disjunction()
        return start

    def parse_at(self, pos, scope, kind):
        saved, self.r.pos = self.r.pos, pos
        parser = ExprParser(self.r, scope)
        e = parser.predicate() if kind == "predicate" else parser.measure()
        self.r.pos = saved
        return e

    def build(self, name, clauses, start):
        tree, used, match_tok = clauses["MATCH"]
        raw = clauses["DEFINE"]
        undefined, unused = sorted(used - set(raw)), sorted(set(raw) - used)
        if undefined:
            raise self.r.error(f"pattern {name}: variable {undefined[0]} is not defined", match_tok)
        if unused:
            raise self.r.error(f"pattern {name}: variable {unused[0]} is defined but not in MATCH",
                               start)
        var_streams = {v: s for v, (s, _) in raw.items()}
        all_fields = set().union(*(fields_of(s) for s in var_streams.values()))
        defines = {}
        for v, (stream, where) in raw.items():
            scope = Scope(var_streams, fields_of(stream), all_fields)
            defines[v] = (stream, None if where is None else self.parse_at(where, scope, "predicate"))
        measures = []
        for at, mname in clauses.get("MEASURES", []):
            if mname in ALERT_KEYS + ("matched",) or mname in (m for m, _ in measures):
                raise self.r.error(f"pattern {name}: measure name {mname!r} is taken", start)
            measures.append((mname, self.parse_at(at, Scope(var_streams, all_fields, all_fields),
                                                  "measure")))
        if len(measures) > 4:
            raise self.r.error(f"pattern {name}: at most 4 MEASURES", start)
        pattern = Pattern(name, tree, defines, clauses["WITHIN"], clauses.get("AFTER", True),
                          clauses.get("MAX", 8), clauses.get("EMIT", False), measures)
        pattern.prepare(self.r, match_tok)
        return pattern


def parse_rules(text):
    """The patterns of a rule file; raises RulesError."""
    return RulesParser(text).parse()


# ---------------------------------------------------------------------------------------------
# Text streams


def parse_stream(text):
    """The events of a text stream: ("record", dict) or ("wm", t). A record dict has `stream`,
    `sym`, `time`, its fields (R7 for letters and reasons) and its line number under LINE (L1:
    lines end at a newline only, as a file is read line by line)."""
    events = []
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for lineno, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, *pairs = line.split()
        values = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep:
                raise StreamError(f"{lineno}: expected name=value, found {pair!r}")
            values[key] = value
        try:
            event = stream_event(name, values)
        except ValueError as e:
            raise StreamError(f"{lineno}: {e}") from None
        if event[0] == "record":
            event[1][LINE] = lineno
        events.append(event)
    return events


def stream_event(name, values):
    if name == "wm":
        if "t" not in values:
            raise ValueError("wm needs t=")
        return ("wm", int(values["t"]))
    rec = {"stream": name, "sym": values.pop("sym", ""), "time": int(values.pop("t", "0"))}
    for key, value in values.items():
        key = "source" if key == "src" else key  # `src=` is the `source` field (its feed, L1)
        rec[key] = field_value(key, value)
    return ("record", rec)


def field_value(key, value):
    if key == "reason":
        return pack_reason(value)
    if key in LETTER_FIELDS and not re.fullmatch(r"-?\d+", value):
        if len(value) != 1:
            raise ValueError(f"{key} takes one letter, not {value!r}")
        return ord(value)
    return int(value)


# ---------------------------------------------------------------------------------------------
# The matcher: a depth-first search over the ways of a start (see the docstring at the top).


@dataclass(frozen=True)
class Step:
    """One matched record of a way: its index in the partition, the step's pc and variable."""
    index: int
    pc: int
    var: str


@dataclass
class Found:
    """A leaf of the search: a way that completed on its last record, or is still live."""
    path: tuple
    completed: bool
    pending_absence: bool = False


class Partition:
    """One pattern over one symbol's records of the pattern's streams."""

    def __init__(self, pattern, symbol):
        self.pattern, self.symbol = pattern, symbol
        self.records = []
        self.starts = []        # indices of live starts, oldest first
        self.explored = 0

    # -- predicates over a way

    def matched(self, path):
        return [(s.var, self.records[s.index]) for s in path]

    def satisfies(self, var, rec, path):
        """Is rec a `var` given the way's path so far (R4, R5)?"""
        stream, predicate = self.pattern.defines[var]
        if not in_stream(rec, stream):
            return False
        if predicate is None:
            return True
        try:
            return evaluate(predicate, EvalContext.for_predicate(rec, self.matched(path)))
        except Undefined:
            return False

    def kills(self, edge, rec, path):
        return any(self.satisfies(x, rec, path) for x in edge.negs)

    # -- the search

    def search(self, start, horizon):
        """Every way of the start at index `start` over records up to `horizon`, in preference
        order: the completed ones (on their last record) and the live ones."""
        self.explored = 0
        rec = self.records[start]
        for e in self.pattern.first_edges:
            if self.satisfies(e.var, rec, ()):
                yield from self.extend((Step(start, e.pc, e.var),), horizon)

    def extend(self, path, horizon):
        """The ways after `path` (its last record matched), in preference order."""
        self.explored += 1
        if self.explored > MAX_WAYS_EXPLORED:
            raise TooManyWays(f"{self.pattern.name}/{self.symbol}: over {MAX_WAYS_EXPLORED} ways")
        edges = self.pattern.edges_after[path[-1].pc]
        if any(e.final and not e.negs for e in edges):
            yield Found(path, completed=True)  # R11
            return
        for e in edges:
            yield from self.wait(path, e, horizon)

    def wait(self, path, edge, horizon):
        """The way waiting at `edge` after `path`, over the records up to `horizon` (R2, R3)."""
        for k in range(path[-1].index + 1, horizon + 1):
            rec = self.records[k]
            if self.kills(edge, rec, path):
                return  # Negate
            if not edge.final and self.satisfies(edge.var, rec, path):
                yield from self.extend(path + (Step(k, edge.pc, edge.var),), horizon)
                return  # Advance: the way has moved on
            if not (edge.skip or edge.final):
                return  # strict: it needed this record
        yield Found(path, completed=False, pending_absence=edge.final)

    def can_start(self, index):
        rec = self.records[index]
        return any(self.satisfies(e.var, rec, ()) for e in self.pattern.first_edges)

    # -- the spec's four steps

    def on_record(self, rec):
        """Feeds one record of the pattern's streams; returns the alerts it produces, in order."""
        self.records.append(rec)
        j = len(self.records) - 1
        alerts = self.expire(rec["time"], horizon=j - 1)
        completions = self.advance(j)
        alerts += completions
        if not (completions and self.pattern.past_last_row) and self.can_start(j):
            self.starts.append(j)
            alerts += self.settle([j], j)
        return alerts

    def on_watermark(self, t):
        return self.expire(t, horizon=len(self.records) - 1)

    def expire(self, now, horizon):
        """Step 1 (R9): starts whose first record is more than WITHIN before `now`."""
        alerts = []
        for i in list(self.starts):
            if i not in self.starts:  # dropped by a completion just before
                continue
            if self.records[i]["time"] + self.pattern.within >= now:
                continue
            self.starts.remove(i)
            leaves = list(self.search(i, horizon))
            assert not any(f.completed for f in leaves), "a completion was missed"
            pending = [f for f in leaves if f.pending_absence]
            if pending:
                alerts.append(self.alert(pending[0].path, timeout=False))
                if self.pattern.past_last_row:
                    self.starts.clear()
            elif self.pattern.emit_timeouts and leaves:
                alerts.append(self.alert(leaves[0].path, timeout=True))  # once, its first way
        return alerts

    def advance(self, j):
        """Steps 2 and 3: the completions on record j of the live starts."""
        return self.settle(list(self.starts), j)

    def settle(self, starts, j):
        """Which of `starts` complete on record j (reported per the skip mode, oldest first);
        starts with no way left are forgotten."""
        done = []
        for i in starts:
            leaves = list(self.search(i, j))
            first = next((f for f in leaves if f.completed), None)
            if first is not None:
                assert first.path[-1].index == j, "a completion was missed"
                done.append(self.alert(first.path, timeout=False))
                self.starts.remove(i)
            elif not leaves:
                self.starts.remove(i)
        if done and self.pattern.past_last_row:
            self.starts.clear()
            return done[:1]
        return done

    def alert(self, path, timeout):
        matched = self.matched(path)
        out = {"type": "alert", "pattern": self.pattern.name, "symbol": self.symbol,
               "first_ns": matched[0][1]["time"], "last_ns": matched[-1][1]["time"],
               "events": len(path), "timeout": timeout,
               "matched": [rec[LINE] for _, rec in listed(matched, self.pattern.limit)]}  # L3
        ctx = EvalContext.for_measures(matched)
        for name, e in self.pattern.measures:
            try:
                out[name] = evaluate(e, ctx)
            except Undefined:
                out[name] = None  # R5
        return out


class Oracle:
    """Every pattern of a rule file over a text stream."""

    def __init__(self, patterns):
        self.patterns = patterns
        self.partitions = {}   # (pattern name, symbol) -> Partition, in creation order
        self.symbols = []

    def partition(self, pattern, symbol):
        key = (pattern.name, symbol)
        if key not in self.partitions:
            self.partitions[key] = Partition(pattern, symbol)
        return self.partitions[key]

    def feed(self, event):
        kind, value = event
        if kind == "wm":
            return self.watermark(value)
        if value["sym"] not in self.symbols:
            self.symbols.append(value["sym"])
        alerts = []
        for p in self.patterns:
            if any(in_stream(value, s) for s in p.streams):
                alerts += self.partition(p, value["sym"]).on_record(value)
        return alerts

    def watermark(self, t):
        alerts = []
        for p in self.patterns:
            for sym in self.symbols:
                if (p.name, sym) in self.partitions:
                    alerts += self.partitions[(p.name, sym)].on_watermark(t)
        return alerts

    def run(self, events):
        alerts = []
        for ev in events:
            alerts += self.feed(ev)
        return alerts


def run_oracle(rules_text, stream_text):
    return Oracle(parse_rules(rules_text)).run(parse_stream(stream_text))


def alert_line(alert):
    return json.dumps(alert, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------
# Comparing alert lists


def alert_key(alert, measure_names, with_matched=True):
    """What two implementations must agree on for one alert: as (name, value) pairs."""
    return tuple((k, alert.get(k)) for k in ALERT_KEYS[1:]) + \
        ((("matched", alert.get("matched")),) if with_matched else ()) + \
        tuple((m, alert.get(m)) for m in measure_names.get(alert.get("pattern"), ()))


def by_partition(alerts):
    groups = {}
    for a in alerts:
        groups.setdefault((a.get("pattern"), a.get("symbol")), []).append(a)
    return groups


def compare_alerts(expected, actual, measure_names, by_hand=False):
    """None if the two lists agree partition by partition, else a description of the first
    difference. `by_hand`: `expected` are a case's hand-written lines, whose `matched` is
    compared only where the line gives it (cases written before alerts listed records)."""
    exp, act = by_partition(expected), by_partition(actual)
    for key in list(exp) + [k for k in act if k not in exp]:
        e, a = exp.get(key, []), act.get(key, [])
        for n in range(max(len(e), len(a))):
            if n >= len(e) or n >= len(a):
                return (f"pattern {key[0]} symbol {key[1]}: alert #{n + 1} differs "
                        f"(expected {len(e)} alerts, got {len(a)})")
            with_matched = "matched" in e[n] or not by_hand
            ke = alert_key(e[n], measure_names, with_matched)
            ka = alert_key(a[n], measure_names, with_matched)
            if ke != ka:
                keys = ", ".join(k for (k, v), (_, w) in zip(ke, ka) if v != w)
                return (f"pattern {key[0]} symbol {key[1]}: alert #{n + 1} differs in {keys} "
                        f"(expected {len(e)} alerts, got {len(a)})")
    return None


def measure_names_of(rules_text):
    return {p.name: [m for m, _ in p.measures] for p in parse_rules(rules_text)}


# ---------------------------------------------------------------------------------------------
# dadar-rules run


class ToolMissing(Exception):
    """dadar-rules is missing or has no `run` command: the checks against it are skipped."""


def run_tool(tool, rules_text, stream_text):
    """Runs `tool run RULES STREAM`; returns (alerts, evicted, raw stdout+stderr)."""
    if not os.access(tool, os.X_OK):
        raise ToolMissing(f"{tool} does not exist (build it first)")
    with tempfile.TemporaryDirectory(prefix="cep-oracle-") as d:
        rules, stream = os.path.join(d, "case.rules"), os.path.join(d, "case.txt")
        with open(rules, "w") as f:
            f.write(rules_text)
        with open(stream, "w") as f:
            f.write(stream_text)
        p = subprocess.run([tool, "run", rules, stream], capture_output=True, text=True,
                           timeout=60)
    raw = p.stdout + p.stderr
    if p.returncode == 2 and "usage" in p.stderr.lower():
        raise ToolMissing(f"{tool} has no `run` command yet")
    if p.returncode != 0:
        raise RuntimeError(f"{tool} run exited {p.returncode}:\n{raw}")
    alerts, evicted = [], 0
    listing = Listing(raw)
    for line in raw.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if not isinstance(obj, dict):
            continue
        if obj.get("type") == "alert":
            listing.alert(obj)
            alerts.append(obj)
        elif obj.get("type") == "matched":
            listing.part(obj, line)
        else:
            listing.done()
            if obj.get("type") == "counters":
                evicted += int(obj.get("cep_evicted") or 0)
    listing.done()
    return alerts, evicted, raw


class ListingError(RuntimeError):
    """dadar-rules' `matched` lines do not fit the alert before them."""


class Listing:
    """Folds the `matched` lines after an alert into it as `"matched": [seq, ...]` (L1), checking
    that they are the alert's: same pattern and symbol, `part` 0..parts-1 in order, 7 refs on each
    but the last (1..7 on it), as many refs in all as the alert's `refs`."""

    def __init__(self, raw):
        self.raw, self.current = raw, None

    def fail(self, why):
        raise ListingError(f"dadar-rules' matched lines: {why}\n{self.raw}")

    def alert(self, obj):
        self.done()
        obj["matched"] = []
        self.current, self.parts = obj, None
        if not isinstance(obj.get("refs"), int) or obj["refs"] < 0:
            self.fail(f"an alert without a count of refs: {alert_line(obj)}")

    def part(self, obj, line):
        a = self.current
        if a is None:
            self.fail(f"a matched line after no alert: {line}")
        if (obj.get("pattern"), obj.get("symbol")) != (a["pattern"], a["symbol"]):
            self.fail(f"a matched line of another pattern or symbol than its alert's: {line}")
        if self.parts is None:
            self.parts = obj.get("parts")
            if not isinstance(self.parts, int) or self.parts < 1:
                self.fail(f"a matched line without a count of parts: {line}")
        n_parts, k = len(a["matched"]) // REFS_PER_PART, obj.get("part")
        refs = obj.get("matched")
        if obj.get("parts") != self.parts or k != n_parts or k >= self.parts or \
                len(a["matched"]) % REFS_PER_PART or not isinstance(refs, list):
            self.fail(f"matched line out of order or past the last part (part {n_parts} of "
                      f"{self.parts} expected): {line}")
        if not 1 <= len(refs) <= REFS_PER_PART or (len(refs) < REFS_PER_PART and k != self.parts - 1):
            self.fail(f"matched line with {len(refs)} refs (7 on each part but the last): {line}")
        for ref in refs:
            if not isinstance(ref, dict) or set(ref) != {"feed", "seq"}:
                self.fail(f"a ref that is not a record's {{feed, seq}}: {line}")
            a["matched"].append(ref["seq"])

    def done(self):
        """The alert before has all its parts."""
        a = self.current
        if a is not None and (len(a["matched"]) != a["refs"] or
                              (a["refs"] and self.parts != -(-a["refs"] // REFS_PER_PART))):
            self.fail(f"an alert of {a['refs']} refs followed by {len(a['matched'])} refs in "
                      f"{self.parts or 0} parts: {alert_line(a)}")
        self.current = None


# ---------------------------------------------------------------------------------------------
# Hand-written cases: RULES, `--- stream`, STREAM, `--- expect`, then the expected alert lines,
# or the one word `error` when the rules must be refused.

RULE_ERROR = re.compile(r":\d+:\d+: ")  # dadar-rules' FILE:LINE:COLUMN: message


@dataclass
class Case:
    name: str
    rules: str
    stream: str
    expected: list
    error: bool = False


def read_case(path):
    text = open(path).read()
    m = re.fullmatch(r"(?s)(.*?)^--- stream[ \t]*\n(.*?)^--- expect[ \t]*\n(.*)", text, re.M)
    if not m:
        raise ValueError(f"{path}: needs `--- stream` and `--- expect` lines")
    expected, error = [], False
    for lineno, line in enumerate(m.group(3).splitlines(), 1):
        line = line.strip()
        if line == "error" and not expected:
            error = True
        elif line and not line.startswith("#"):
            if error:
                raise ValueError(f"{path}: expect line {lineno}: nothing may follow `error`")
            try:
                expected.append(json.loads(line))
            except ValueError as e:
                raise ValueError(f"{path}: expect line {lineno}: {e}") from None
    return Case(os.path.basename(path)[:-len(".case")], m.group(1), m.group(2), expected, error)


def read_cases(directory):
    names = sorted(n for n in os.listdir(directory) if n.endswith(".case"))
    if not names:
        raise ValueError(f"no .case file in {directory}")
    return [read_case(os.path.join(directory, n)) for n in names]


def show_mismatch(case_name, rules, stream, expected, actual, why, labels):
    print(f"--- {case_name}: {why}")
    print("--- rules\n" + rules.rstrip())
    print("--- stream\n" + stream.rstrip())
    for label, alerts in zip(labels, (expected, actual)):
        print(f"--- {label}")
        for a in alerts:
            print(alert_line(a))


def check_cases(directory, tool=None):
    """Checks the oracle (tool None) or `tool run` against every case; returns the exit status."""
    failed = 0
    cases = read_cases(directory)
    for case in cases:
        if case.error:
            why = check_error_case(case, tool)
            if why == "skip":
                return 77
            failed += bool(why)
            print(f"  {'FAIL' if why else 'PASS'}  {case.name}" + (f": {why}" if why else ""))
            continue
        try:
            names = measure_names_of(case.rules)
            if tool is None:
                actual = run_oracle(case.rules, case.stream)
            else:
                actual, _, _ = run_tool(tool, case.rules, case.stream)
            why = compare_alerts(case.expected, actual, names, by_hand=True)
        except ToolMissing as e:
            print(f"SKIP: {e}")
            return 77
        except (RulesError, StreamError, RuntimeError, TooManyWays) as e:
            actual, why = [], f"error: {e}"
        if why:
            failed += 1
            print(f"  FAIL  {case.name}")
            show_mismatch(case.name, case.rules, case.stream, case.expected, actual, why,
                          ("expected (by hand)", "oracle" if tool is None else "dadar-rules"))
        else:
            print(f"  PASS  {case.name}")
    who = "oracle" if tool is None else tool
    print(f"cases ({who}): {len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


def check_error_case(case, tool):
    """None if the oracle (tool None) or `tool run` refuses the case's rules, else why not."""
    if tool is None:
        try:
            parse_rules(case.rules)
        except RulesError:
            return None
        return "the oracle accepts the rules"
    try:
        run_tool(tool, case.rules, case.stream)
    except ToolMissing as e:
        print(f"SKIP: {e}")
        return "skip"
    except RuntimeError as e:
        return None if RULE_ERROR.search(str(e)) else f"not a rule error: {e}"
    return f"{tool} accepts the rules"


def expression_selftest():
    """The evaluator's C semantics on a few values (R5, R6, R7); returns failures."""
    scope = Scope({"v": "trade"}, fields_of("trade"), fields_of("trade"))
    rec = {"stream": "trade", "time": 5, "price": -7, "shares": 2, "side": ord("B")}
    checks = [
        ("price / shares = -3", True), ("price % shares = -1", True), ("7 % -2 = 1", True),
        ("-7 / -2 = 3", True), ("price / (shares - 2) = 0", False),
        ("price / (shares - 2) = 0 OR shares = 2", False), ("NOT (shares % 0 = 1)", False),
        ("side = 'B' AND side IN ('S', 'B')", True), ("ABS(price) = 7", True),
        ("1_000 MS = 1 S AND 2 MIN = 120 SECONDS", True), ("COUNT(v) = 0", True),
        ("SUM(v.price) = 0 OR shares = 2", False),
        ("v.price = 0 OR shares = 2", False), ("PREV(price) = 0 OR shares = 2", False),
        ("price * -1 + shares * 3 - 13 = 0", True), ("(price <> 1) = (shares < 1)", None),
        ("count(v) = 0 and not (2 min <> 120 s) Or abs(price) = 0", True),  # R12
        ("1 s = 1_000 Ms AND max(v.price) = 0", False), ("price IN (-7) and v.match = 0", False),
    ]
    failures = 0
    for text, want in checks:
        try:
            reader = TokenReader(tokenize(text))
            e = ExprParser(reader, scope).predicate()
            if reader.peek().kind != "eof":
                raise reader.error("trailing input")
            try:
                got = evaluate(e, EvalContext.for_predicate(rec, []))
            except Undefined:
                got = False
        except RulesError:
            got = None
        if got != want:
            failures += 1
            print(f"  FAIL  expression {text!r}: {got}, expected {want}")
    if pack_reason("T1") != 0x20203154:
        failures += 1
        print("  FAIL  'T1' packs to 0x20203154")
    print(f"  {'PASS' if not failures else 'FAIL'}  expressions ({len(checks) + 1} checks)")
    return failures


def listing_selftest():
    """The limit L of a few MATCH expressions (L2) and what a long path lists (L3); returns
    failures."""
    checks = [
        ("a b? c{2,3}", 5), ("a | b c", 2), ("m !x", 1), ("a -> !x b", 2), ("a b+", 16),
        ("a*", 16), ("a{2,} b", 16), ("a{15}", 15), ("a{16}", 16), ("a{16} b", 16),
        ("(a b){8}", 16), ("(a b?){1,7}", 14), ("(a | b c d)? e", 4), ("a (b | (c d)+)", 16),
        ("(a b c d e f g h i)? (j k l m n o p q)", 16), ("(a b c d e f g h)? (i j k l m n o p)", 16),
        ("(a b c d e f g h)? (i j k l m n o)", 15),
    ]
    failures = 0
    for text, want in checks:
        reader = TokenReader(tokenize(text + ")"))  # a MATCH's regex ends at its `)`
        got = listing_limit(RegexParser(reader, set()).alternation())
        if got != want:
            failures += 1
            print(f"  FAIL  limit of ({text}): {got}, expected {want}")
    for n, limit, want in ((5, 5, [0, 1, 2, 3, 4]), (16, 16, list(range(16))),
                           (20, 16, list(range(15)) + [19]), (17, 16, list(range(15)) + [16])):
        if listed(range(n), limit) != want:
            failures += 1
            print(f"  FAIL  a path of {n} records with L {limit} lists {listed(range(n), limit)}")
    print(f"  {'PASS' if not failures else 'FAIL'}  listing limits ({len(checks) + 4} checks)")
    return failures


# ---------------------------------------------------------------------------------------------
# Random rules and streams


FUZZ_VARS = ("a", "b", "c", "d")
FUZZ_SYMBOLS = ("AAA", "BBB", "CCC")
# the small-valued fields the fuzzer reads, per stream a variable may read
FUZZ_FIELDS = {"trade": ("price", "shares"), "order": ("price", "shares"),
               "cancel": ("shares", "deleted"), "bbo": ("bid", "ask"), "any": ()}
FUZZ_STREAMS = ("trade", "trade", "trade", "order", "order", "any", "cancel", "bbo")
SECOND = 10**9


@dataclass
class FuzzScope:
    """What a random expression may read: bare fields, variables with their fields, PREV."""
    current: tuple      # bare fields (the current record's, or in MEASURES the last's)
    var_fields: dict    # variable -> its small fields (may be empty: `any`)
    prev: tuple         # fields PREV may read
    sides: bool         # `side` is a field of the current record


class Fuzzer:
    """Random (rules, stream) pairs over trade, order, cancel, halt and bbo lines with small
    fields, and patterns over trade, order, cancel, bbo and any."""

    def __init__(self, rng):
        self.rng = rng

    def chance(self, p):
        return self.rng.random() < p

    # -- MATCH

    def quantifier(self):
        r = self.rng
        if self.chance(0.06):  # a long count: matches of up to and over 16 records (L2, L3)
            return r.choice([f"{{{r.randint(4, 16)}}}", f"{{{r.randint(0, 3)},{r.randint(6, 16)}}}"])
        lo = r.randint(0, 2)
        return r.choice(["?", "*", "+", f"{{{lo + 1}}}", f"{{{lo},}}",
                         f"{{{lo},{r.randint(max(lo, 1), 3)}}}"])

    def term(self, pool, depth):
        if depth < 2 and self.chance(0.25):
            branches = [self.sequence(pool, depth + 1) for _ in range(self.rng.choice((1, 2, 2, 3)))]
            atom = "(" + " | ".join(branches) + ")"
        else:
            atom = self.rng.choice(pool)
        return atom + self.quantifier() if self.chance(0.35) else atom

    def sequence(self, pool, depth):
        parts = [self.term(pool, depth)]
        for _ in range(self.rng.randint(0, 2 if depth == 0 else 1)):
            parts.append("->" if self.chance(0.4) else "")
            parts.append(self.term(pool, depth))
        return " ".join(p for p in parts if p)

    def next_steps(self, pool):
        """A term with several first steps, to follow a `->` (R2): `(b c | d)`, `b? c`, ..."""
        r = self.rng
        x, y, z = (r.choice(pool) for _ in range(3))
        return r.choice([
            f"({x} {y} | {z})", f"({x} -> {y} | {z})", f"({x} | {y} {z})", f"({x} | {y})",
            f"{x}? {y}", f"{x}* {y}", f"{x}? -> {y}", f"({x} {y})? {z}", f"({x} | {y} -> {z})+",
        ])

    def regex(self, pool, negated):
        """A top-level sequence of terms, with negations between them and maybe at the end."""
        n = self.rng.randint(1, 3)
        parts = []
        for k in range(n):
            if k:
                skip = self.chance(0.5)
                if skip:
                    parts.append("->")
                if negated and self.chance(0.3):
                    parts.append("!" + self.rng.choice(negated))
                if skip and self.chance(0.5):
                    parts.append(self.next_steps(pool))
                    continue
            parts.append(self.term(pool, 0) if self.chance(0.7) else
                         "(" + self.sequence(pool, 1) + ")")
        if negated and self.chance(0.4):
            parts.append("!" + self.rng.choice(negated))
        return " ".join(parts)

    # -- expressions

    def int_expr(self, sc, depth):
        r = self.rng
        if depth > 0 and self.chance(0.3):
            op = r.choice("+-*/%")
            return f"({self.int_expr(sc, depth - 1)} {op} {self.int_expr(sc, depth - 1)})"
        if depth > 0 and self.chance(0.1):
            return f"ABS({self.int_expr(sc, depth - 1)} - {self.int_expr(sc, depth - 1)})"
        choices = [lambda: str(r.randint(0, 6))]
        if sc.current:
            choices += [lambda: r.choice(sc.current)] * 2
        if sc.prev:
            choices.append(lambda: f"PREV({r.choice(sc.prev)})")
        if sc.var_fields:
            choices.append(lambda: f"COUNT({r.choice(list(sc.var_fields))})")
        with_fields = [v for v, fs in sc.var_fields.items() if fs]
        if with_fields:
            def var_ref():
                v = r.choice(with_fields)
                f = r.choice(sc.var_fields[v])
                return r.choice([f"{v}.{f}", f"{r.choice(AGGREGATES)}({v}.{f})"])
            choices += [var_ref] * 2
        return r.choice(choices)()

    def condition(self, sc, depth):
        r = self.rng
        if depth > 0 and self.chance(0.35):
            lhs, rhs = self.condition(sc, depth - 1), self.condition(sc, depth - 1)
            return r.choice([f"({lhs} AND {rhs})", f"({lhs} OR {rhs})", f"NOT ({lhs})"])
        choices = [
            lambda: f"{self.int_expr(sc, 1)} {r.choice(['=', '!=', '<>', '<', '<=', '>', '>='])} "
                    f"{self.int_expr(sc, 1)}",
        ]
        if sc.var_fields:
            v = r.choice(list(sc.var_fields))
            choices.append(lambda: f"time - {v}.time <= {r.choice([500, 1000, 2000])} MILLISECONDS")
        if sc.current:
            f = r.choice(sc.current)
            choices += [
                lambda: f"{f} {r.choice(['<', '>', '<=', '>='])} {r.randint(1, 6)}",
                lambda: f"{f} IN ({', '.join(str(x) for x in r.sample(range(0, 7), 3))})",
            ]
            if f in sc.prev:
                choices.append(lambda: f"{f} > PREV({f})")
        if sc.sides:
            choices.append(lambda: f"side = '{r.choice('BS')}'")
            sided = [v for v, fs in sc.var_fields.items() if "price" in fs]  # trade, order
            if sided:
                choices.append(lambda: f"side != {r.choice(sided)}.side")
        return r.choice(choices)()

    # -- a pattern, a rule file, a stream

    def pattern(self, name):
        r = self.rng
        pool = list(FUZZ_VARS[:r.randint(1, 4)])
        negated = [] if self.chance(0.4) else (["n"] if self.chance(0.7) else ["n", "m"])
        text = self.regex(pool, negated)
        used = sorted(set(re.findall(r"[a-z]", text)))
        streams = {v: r.choice(FUZZ_STREAMS) for v in used}
        refs = {v: FUZZ_FIELDS[streams[v]] for v in used if v in pool}  # can have matched
        every = tuple(sorted({f for v in used for f in FUZZ_FIELDS[streams[v]]}))
        defines = []
        for v in used:
            d = f"{v} AS {streams[v]}"
            if self.chance(0.6):
                sc = FuzzScope(FUZZ_FIELDS[streams[v]], refs, every,
                               streams[v] in ("trade", "order"))
                d += f" WHERE {self.condition(sc, r.choice((0, 1, 1, 2)))}"
            defines.append(d)
        lines = [f"PATTERN {name}", "  PARTITION BY symbol", f"  MATCH ({text})",
                 "  DEFINE " + ",\n         ".join(defines),
                 f"  WITHIN {r.choice(['750 MS', '1 S', '1500 MILLISECONDS', '2 SECONDS', '3 S', '5 S'])}",
                 "  AFTER MATCH SKIP " + r.choice(["PAST LAST ROW", "TO NEXT ROW"]),
                 "  MAX PARTIAL 64"]
        if self.chance(0.5):
            lines.append("  EMIT TIMEOUTS")
        n_measures = r.randint(0, 4)
        if n_measures:
            sc = FuzzScope(every, refs, every, False)
            measures = [f"PREV({r.choice(every)})" if every and self.chance(0.3) else
                        self.int_expr(sc, 1) for _ in range(n_measures)]
            lines.append("  MEASURES " + ", ".join(f"{m} AS m{k}" for k, m in enumerate(measures)))
        return self.recase("\n".join(lines + ["END"]) + "\n")

    def recase(self, text):
        """Keywords in upper, lower or mixed case (R12): the names are all lower case."""
        mode = self.rng.choice(("upper", "upper", "lower", "mixed"))
        if mode == "upper":
            return text

        def one(m):
            w = m.group()
            if w not in KEYWORDS:
                return w
            if mode == "lower":
                return w.lower()
            return "".join(c.lower() if self.chance(0.5) else c for c in w)
        return re.sub(r"\b[A-Z]+\b", one, text)

    def rules(self):
        """A rule file this oracle accepts (regex shapes that match nothing are redrawn)."""
        while True:
            n = 2 if self.chance(0.25) else 1
            text = "".join(self.pattern(f"p{k + 1}") for k in range(n))
            try:
                patterns = parse_rules(text)
            except RulesError:
                continue
            if all(len(p.edges_after) <= 24 for p in patterns):
                return text

    def stream(self):
        """Records, watermarks, now and then a comment or blank line (they count as lines, L1)
        and, in some streams, bursts of one record repeated (matches of over 16 records, L3)."""
        r = self.rng
        symbols = FUZZ_SYMBOLS[:r.randint(1, 3)]
        bursts = 1 if self.chance(0.5) else 0  # few: MAX PARTIAL bounds a symbol's ways (evictions)
        t = 34_200 * SECOND
        lines = []
        for _ in range(r.randint(10, 40)):
            t += r.choice([0, 100, 250, 250, 500, 500, 1000]) * 10**6
            if self.chance(0.05):
                lines.append(r.choice(["", "# a comment", "  "]))
                continue
            if self.chance(0.08):
                wm = t + r.choice([0, 0, 1, 3]) * SECOND
                lines.append(f"wm t={wm}")
                t = wm
                continue
            sym = r.choice(symbols)
            stream = r.choice(("trade", "trade", "trade", "order", "order", "cancel", "bbo", "halt"))
            small = lambda: r.randint(1, 6)
            fields = {
                "trade": lambda: f"price={small()} shares={small()} side={r.choice('BS')}",
                "order": lambda: f"price={small()} shares={small()} side={r.choice('BS')}",
                "cancel": lambda: f"ref={small()} shares={small()} deleted={r.randint(0, 1)}",
                "bbo": lambda: f"bid={small()} ask={small()}",
                "halt": lambda: f"state={r.choice('HT')} reason=T1",
            }[stream]()
            lines.append(f"{stream} sym={sym} t={t} {fields}")
            if bursts and self.chance(0.15):
                bursts -= 1
                for _ in range(r.randint(16, 24)):
                    t += r.choice([0, 10, 30]) * 10**6
                    lines.append(f"{stream} sym={sym} t={t} {fields}")
        if self.chance(0.7):
            lines.append(f"wm t={t + 10 * SECOND}")
        return "\n".join(lines) + "\n"


def fuzz(n, seed, tool, show=3):
    """Runs n random cases against `tool run`, printing the first `show` disagreements in full;
    returns the exit status."""
    if not os.access(tool, os.X_OK):
        print(f"SKIP: {tool} does not exist (build it first)")
        return 77
    agreed = evicted = too_big = 0
    failed, alerts, timeouts, cut = [], 0, 0, 0
    for k in range(n):
        fz = Fuzzer(random.Random(f"{seed}:{k}"))
        rules, stream = fz.rules(), fz.stream()
        try:
            expected = run_oracle(rules, stream)
        except TooManyWays:
            too_big += 1
            continue
        try:
            actual, n_evicted, raw = run_tool(tool, rules, stream)
            why = None if n_evicted else compare_alerts(expected, actual, measure_names_of(rules))
        except ToolMissing as e:
            print(f"SKIP: {e}")
            return 77
        except RuntimeError as e:
            actual, n_evicted, why = [], 0, str(e)
        if n_evicted:
            evicted += 1
            continue
        if why:
            failed.append(k)
            if len(failed) <= show:
                show_mismatch(f"fuzz case {k} (seed {seed})", rules, stream, expected, actual, why,
                              ("oracle", "dadar-rules"))
            continue
        agreed += 1
        alerts += len(expected)
        timeouts += sum(1 for a in expected if a["timeout"])
        cut += sum(1 for a in expected if len(a["matched"]) < a["events"])
    print(f"fuzz: {n} cases (seed {seed}): {agreed} agreed ({alerts} alerts, {timeouts} of them "
          f"timeouts, {cut} listing first 15 and last of a longer match), "
          f"{len(failed)} disagreed{' ' + str(failed[:20]) if failed else ''}, "
          f"{evicted} skipped (cep_evicted), {too_big} skipped (too many ways for the oracle)")
    return 1 if failed else 0


# ---------------------------------------------------------------------------------------------


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rules", nargs="?")
    ap.add_argument("stream", nargs="?")
    ap.add_argument("--selftest", action="store_true", help="check the oracle against the cases")
    ap.add_argument("--cases", metavar="DIR", help="check --dadar-rules against DIR's cases")
    ap.add_argument("--fuzz", type=int, metavar="N", help="N random cases against --dadar-rules")
    ap.add_argument("--seed", default="1", help="the fuzz seed (default 1)")
    ap.add_argument("--dadar-rules", metavar="PATH", help="the dadar-rules binary")
    args = ap.parse_args(argv)
    if args.selftest:
        failures = expression_selftest() + listing_selftest()
        return check_cases(CASES_DIR) or (1 if failures else 0)
    if args.cases or args.fuzz is not None:
        if not args.dadar_rules:
            ap.error("--cases and --fuzz need --dadar-rules PATH")
        if args.cases:
            return check_cases(args.cases, args.dadar_rules)
        return fuzz(args.fuzz, args.seed, args.dadar_rules)
    if not (args.rules and args.stream):
        ap.error("give RULES STREAM, --selftest, --cases or --fuzz")
    try:
        with open(args.rules) as f:
            rules = f.read()
        with open(args.stream) as f:
            stream = f.read()
        for alert in run_oracle(rules, stream):
            print(alert_line(alert))
    except RulesError as e:
        print(f"{args.rules}:{e}", file=sys.stderr)
        return 2
    except StreamError as e:
        print(f"{args.stream}:{e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
