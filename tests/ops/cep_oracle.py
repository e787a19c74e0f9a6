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

A *way* is a path: the records matched so far, each with the step it matched. A start is a record
that satisfies a first step. For a start and the records that have arrived, a depth-first search
enumerates its ways in preference order. From a way whose last record is m, the records after m
are looked at in order (offset k = 1, 2, ...), with the set of *live* edges:
  1. an edge is killed by a record that satisfies one of its negated variables (Negate);
  2. the live edges into steps that the record satisfies are the way's next branches, in
     preference order; if there is one the way has moved on and is not kept (Advance);
  3. otherwise only the skip-till-next edges and the absence-at-end edges stay live (a strict
     edge needs the very next record); no live edge left: the way is dead.
A way that reaches a step after which the end of the pattern is reachable with no `!x` crossed
completes on that record. A way whose live edges include an end reached across `!x` is *pending
an absence*: it completes when its start expires (first time + WITHIN < a record's time or the
watermark) with no such `!x` record seen.

Why this is the spec's "Matching, exactly": the spec keeps every way of every start as a partial
match, and removes a way only when a record makes its path impossible (steps 2 and 3 of the spec,
mirrored by 1-3 above) or the whole start goes (expiry, completion of it, or with PAST LAST ROW of
any start). So the ways the spec holds for a live start are exactly the paths the search finds,
and in the same order: two ways of one start first differ at one record (a way that advances is
not kept, so both took that record), where the spec orders them by edge preference like the
search does. Hence, for every live start, at every record j: it completes at j iff the search
finds a path completing at j, and the way reported is the first such path in search order.

Readings of docs/patterns.md (where it is ambiguous; the C engine should agree or the spec say)
---------------------------------------------------------------------------------------------
R1  `->` is the attribute of the boundary between two terms of a sequence: `a -> b+` skips till
    the first b, then the b's are strict. An edge that crosses several boundaries (through terms
    that matched nothing: `a -> b? c` from a to c) is skip-till-next if any of them is. An empty
    iteration of a loop is never taken; of two routes to one step the preferred one's attributes
    count.
R2  A way whose next steps mix strict and skip-till-next edges (`a c? -> b` after a) is kept by a
    record it does not advance on if any live next edge is skip-till-next (or an absence); from
    then on only those edges remain (the strict `c` needed the very next record).
R3  A negation belongs to the edges that cross it, not to the whole way: in `a b+ !x c`, a record
    that is both an x and a b continues the b's (b -> b crosses no `!x`), it only kills b -> c.
    "A record that is an x ends the partial match, whatever else it is" holds when every live
    next edge crosses the `!x` (`a -> !x b`: an x that is also a b ends it).
R4  In a predicate, `v.field`, FIRST/LAST/COUNT/SUM/MIN/MAX/AVG(v...) are over the records matched
    *before* the current one ("so far"): the record being tested is not yet matched to v. PREV is
    the way's last record. In MEASURES they are over the whole match, a bare field and
    `v.field` read the last record (of v), PREV(field) the record before the last one.
R5  COUNT(v) is 0 and SUM(v.field) is 0 before v matched anything; the other references to an
    unmatched v (v.field, FIRST, LAST, MIN, MAX, AVG), PREV with no record before, and a division
    or modulo by zero are *undefined*: if any part of a predicate is undefined the whole predicate
    is false, whatever AND/OR would make of the rest (no short-circuit, no three-valued logic).
    An undefined MEASURE is reported as 0.
R6  Division truncates toward zero, `%` takes the sign of the dividend (C99); arithmetic wraps at
    64 bits.
R7  A string literal compared with (or IN a list tested against) a `reason` value is packed as
    `reason` is: its characters space padded to 4 bytes, read as a little-endian integer ('T1' is
    0x20203154). Elsewhere a 1-character literal is its character code ('B' is 66) and a longer
    one is packed. The text stream packs `reason=` the same way; `side`, `state` and `aggressor`
    take a letter (its code) or an integer.
R8  Absence at the end: the completion's `last_ns` is the time of the last matched record (the
    JSON's definition), not the deadline (the spec's "event time" is dadar's `event_ns`).
R9  Expiry is per start (all ways of a start share its first record): if some way of an expiring
    start is pending an absence, the first such way completes and the start emits no timeout;
    otherwise, with EMIT TIMEOUTS, *each* of its ways (each is "a partial match of its own") is
    reported with `"timeout":true`, in way order, `events`/`last_ns`/measures of that way.
    Expiring starts are handled oldest first; with PAST LAST ROW a completion among them drops
    every other start (the younger expiring ones without a timeout report). A completion at
    expiry does not keep the expiring record from starting a match (only a step-3 completion
    does, as the spec says).
R10 A single-step start that completes on its own record (`MATCH (s)`) is step 4's; with PAST LAST
    ROW it drops every other partial match, like any completion.
R11 A way that reaches the end of the pattern completes there even if a greedy quantifier could
    go on (`a b*` completes on a; `a b+` on the first b).
R12 Keywords are upper case and case sensitive (so `s` can be a variable while `S` is a unit);
    comments are `#` or `--` to the end of the line. A negation cannot be quantified and cannot
    be the first step; a pattern that can match no record is an error.
R13 A record is of exactly the stream named on its line: a `trade` line is not an `any` record
    (docs/patterns.md does not say how `dadar-rules run` maps lines to `any`). Fields a record's
    line does not give are 0, and so is a field its stream does not have (PREV(price) read from
    a record of a stream without `price`).
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
ALERT_KEYS = ("type", "pattern", "symbol", "first_ns", "last_ns", "events", "timeout")
MAX_WAYS_EXPLORED = 200_000  # a search bigger than this is given up (TooManyWays)


class RulesError(Exception):
    """An error in a rule file, as LINE:COLUMN: message."""


class StreamError(Exception):
    """An error in a text stream, as LINE: message."""


class TooManyWays(Exception):
    """The search found more ways than this oracle is willing to enumerate."""


class Undefined(Exception):
    """An expression has no value (R5): the predicate is false, the measure 0."""


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
    return wrap64(a - b * int(c_div(a, b)))


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
        return self.kind == "ident" and self.text == word


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
        if tok.text == text and tok.kind in ("op", "ident"):
            self.pos += 1
            return True
        return False

    def expect(self, text):
        if not self.accept(text):
            raise self.error(f"expected {text!r}, found {self.peek().text or 'end of file'!r}")

    def name(self, what):
        """Consumes an identifier that is not a keyword."""
        tok = self.next()
        if tok.kind != "ident" or tok.text in KEYWORDS:
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
        if tok.kind != "ident" or tok.text not in NS_PER_UNIT:
            raise self.error("expected a unit: MILLISECONDS, SECONDS, MINUTES, HOURS, MS, S or MIN",
                             tok)
        return n * NS_PER_UNIT[tok.text]


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

    def disjunction(self):
        e = self.conjunction()
        while self.r.peek().is_kw("OR"):
            tok = self.r.next()
            rhs = self.conjunction()
            self.require(e, "bool", tok), self.require(rhs, "bool", tok)
            e = ("or", e, rhs)
        return e

    def conjunction(self):
        e = self.negation()
        while self.r.peek().is_kw("AND"):
            tok = self.r.next()
            rhs = self.negation()
            self.require(e, "bool", tok), self.require(rhs, "bool", tok)
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
            self.require(lhs, "int", lhs_tok), self.require(rhs, "int", tok)
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
            self.require(e, "int", tok), self.require(rhs, "int", tok)
            e = ("arith", tok.text, resolve_literal(e, None), resolve_literal(rhs, None))
        return e

    def multiplicative(self):
        e = self.unary()
        while self.r.peek().kind == "op" and self.r.peek().text in ("*", "/", "%"):
            tok = self.r.next()
            rhs = self.unary()
            self.require(e, "int", tok), self.require(rhs, "int", tok)
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
        if unit.kind == "ident" and unit.text in NS_PER_UNIT and not (
                unit.text == "MIN" and self.r.peek(1).text == "("):
            self.r.next()
            return ("int", n * NS_PER_UNIT[unit.text])
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
        if tok.kind == "ident" and tok.text in KEYWORDS:
            return self.function()
        return self.reference()

    def function(self):
        tok = self.r.next()
        fn = tok.text
        if fn not in AGGREGATES + ("PREV", "COUNT", "ABS"):
            raise self.r.error(f"unexpected {fn!r}", tok)
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
            if name not in self.scope.var_streams:
                raise self.r.error(f"unknown variable {name!r}")
            return ("varfield", name, self.var_field(name))
        self.check_field(name, self.scope.current_fields, "the record")
        return ("field", name)

    def variable(self):
        v = self.r.name("a variable")
        if v not in self.scope.var_streams:
            raise self.r.error(f"unknown variable {v!r}")
        return v

    def var_field(self, v):
        f = self.r.name("a field")
        self.check_field(f, fields_of(self.scope.var_streams[v]), f"variable {v}")
        return f

    def check_field(self, f, allowed, owner):
        if f not in allowed:
            raise self.r.error(f"{owner} has no field {f!r}")


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
    if fn == "SUM":
        return wrap64(sum(vals))
    if not vals:
        raise Undefined(f"{fn} over no record")
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
            v = self.r.name("a variable after `!`")
            self.variables.add(v)
            if self.quantifier_follows():
                raise self.r.error("a negated step cannot be quantified")
            return ("neg", v)
        if self.r.accept("("):
            atom = self.alternation()
            self.r.expect(")")
        else:
            atom = ("var", self.r.name("a variable"))
            self.variables.add(atom[1])
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
        """The ordered edges reachable from instruction pc without consuming a record (R1)."""
        edges, seen = [], set()

        def walk(pc, skip, negs):
            if pc in seen:  # an empty loop iteration, or a worse route to a visited point
                return
            seen.add(pc)
            ins = self.code[pc]
            if ins[0] == "step":
                edges.append(Edge(pc, ins[1], skip, negs))
            elif ins[0] == "match":
                edges.append(Edge(None, None, skip, negs))
            elif ins[0] == "jmp":
                walk(ins[1], skip, negs)
            elif ins[0] == "split":
                walk(ins[1], skip, negs)
                walk(ins[2], skip, negs)
            elif ins[0] == "skip":
                walk(pc + 1, True, negs)
            else:
                walk(pc + 1, skip, negs | {ins[1]})

        walk(pc, False, frozenset())
        return tuple(edges)


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
            clause = tok.text
            if clause in seen:
                raise self.r.error(f"pattern {name}: {clause} given twice")
            seen.add(clause)
            self.clause(clauses)
        for required in ("PARTITION", "MATCH", "DEFINE", "WITHIN"):
            if required not in clauses:
                raise self.r.error(f"pattern {name}: {required} is required", start)
        return self.build(name, clauses, start)

    def clause(self, clauses):
        """Reads one clause into `clauses` (by its first keyword); expressions wait for DEFINE."""
        tok = self.r.next()
        word = tok.text
        if word == "PARTITION":
            self.r.expect("BY")
            if self.r.name("symbol") != "symbol":
                raise self.r.error("only PARTITION BY symbol is supported", tok)
            clauses[word] = True
        elif word == "MATCH":
            self.r.expect("(")
            used = set()
            tree = RegexParser(self.r, used).alternation()
            self.r.expect(")")
            clauses[word] = (tree, used, tok)
        elif word == "DEFINE":
            clauses[word] = self.defines()
        elif word == "WITHIN":
            clauses[word] = self.r.duration()
            if clauses[word] <= 0:
                raise self.r.error("WITHIN must be positive", tok)
        elif word == "AFTER":
            for w in ("MATCH", "SKIP"):
                self.r.expect(w)
            if self.r.accept("PAST"):
                self.r.expect("LAST"), self.r.expect("ROW")
                clauses[word] = True
            else:
                self.r.expect("TO"), self.r.expect("NEXT"), self.r.expect("ROW")
                clauses[word] = False
        elif word == "MAX":
            self.r.expect("PARTIAL")
            n = self.r.integer("MAX PARTIAL's count")
            if not 1 <= n <= 64:
                raise self.r.error("MAX PARTIAL is 1..64", tok)
            clauses[word] = n
        elif word == "EMIT":
            self.r.expect("TIMEOUTS")
            clauses[word] = True
        elif word == "MEASURES":
            clauses[word] = self.skip_list()
        else:
            raise self.r.error(f"unexpected {word!r} in a pattern", tok)

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
        """Skips an expression (to a top-level `,`, `AS` or clause keyword), returning its start."""
        start, depth = self.r.pos, 0
        stops = {"AS", "WITHIN", "AFTER", "MAX", "EMIT", "MEASURES", "END", "MATCH", "PARTITION",
                 "DEFINE"}
        while True:
            tok = self.r.peek()
            if tok.kind == "eof" or (depth == 0 and (tok.text == "," or (
                    tok.kind == "ident" and tok.text in stops and not (
                        tok.text == "MAX" and self.r.peek(1).text == "(")))):
                if self.r.pos == start:
                    raise self.r.error("expected an expression")
                return start
            depth += {"(": 1, ")": -1}.get(tok.text, 0) if tok.kind == "op" else 0
            self.r.next()

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
            if mname in ALERT_KEYS or mname in (m for m, _ in measures):
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
    `sym`, `time` and its fields (R7 for letters and reasons)."""
    events = []
    for lineno, line in enumerate(text.splitlines(), 1):
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
            events.append(stream_event(name, values))
        except ValueError as e:
            raise StreamError(f"{lineno}: {e}") from None
    return events


def stream_event(name, values):
    if name == "wm":
        return ("wm", int(values["t"]))
    rec = {"stream": name, "sym": values.pop("sym", ""), "time": int(values.pop("t", "0"))}
    for key, value in values.items():
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
        if rec["stream"] != stream:
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
        rec = self.records[start]
        for e in self.pattern.first_edges:
            if self.satisfies(e.var, rec, ()):
                yield from self.extend((Step(start, e.pc, e.var),), horizon)

    def extend(self, path, horizon):
        self.explored += 1
        if self.explored > MAX_WAYS_EXPLORED:
            raise TooManyWays(f"{self.pattern.name}/{self.symbol}: over {MAX_WAYS_EXPLORED} ways")
        edges = self.pattern.edges_after[path[-1].pc]
        if any(e.final and not e.negs for e in edges):
            yield Found(path, completed=True)  # R11
            return
        live = edges
        for k in range(path[-1].index + 1, horizon + 1):
            rec = self.records[k]
            live = [e for e in live if not self.kills(e, rec, path)]
            taken = [e for e in live if not e.final and self.satisfies(e.var, rec, path)]
            if taken:
                for e in taken:
                    yield from self.extend(path + (Step(k, e.pc, e.var),), horizon)
                return
            live = [e for e in live if e.skip or e.final]  # R2
            if not live:
                return
        yield Found(path, completed=False, pending_absence=any(e.final for e in live))

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
            elif self.pattern.emit_timeouts:
                alerts += [self.alert(f.path, timeout=True) for f in leaves]
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
               "events": len(path), "timeout": timeout}
        ctx = EvalContext.for_measures(matched)
        for name, e in self.pattern.measures:
            try:
                out[name] = evaluate(e, ctx)
            except Undefined:
                out[name] = 0  # R5
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
            if value["stream"] in p.streams:
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


def alert_key(alert, measure_names):
    """What two implementations must agree on for one alert."""
    return tuple(alert.get(k) for k in ALERT_KEYS[1:]) + \
        tuple((m, alert.get(m)) for m in measure_names.get(alert.get("pattern"), ()))


def by_partition(alerts, measure_names):
    groups = {}
    for a in alerts:
        groups.setdefault((a.get("pattern"), a.get("symbol")), []).append(alert_key(a, measure_names))
    return groups


def compare_alerts(expected, actual, measure_names):
    """None if the two lists agree partition by partition, else a description of the first
    difference."""
    exp, act = by_partition(expected, measure_names), by_partition(actual, measure_names)
    for key in list(exp) + [k for k in act if k not in exp]:
        e, a = exp.get(key, []), act.get(key, [])
        if e != a:
            n = next((k for k in range(max(len(e), len(a)))
                      if k >= len(e) or k >= len(a) or e[k] != a[k]), 0)
            return (f"pattern {key[0]} symbol {key[1]}: alert #{n + 1} differs "
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
    for line in raw.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if not isinstance(obj, dict):
            continue
        if obj.get("type") == "alert":
            alerts.append(obj)
        evicted += int(obj.get("cep_evicted", 0) or 0) if obj.get("type") == "counters" else 0
    return alerts, evicted, raw


# ---------------------------------------------------------------------------------------------
# Hand-written cases: RULES, `--- stream`, STREAM, `--- expect`, expected alert lines


@dataclass
class Case:
    name: str
    rules: str
    stream: str
    expected: list


def read_case(path):
    text = open(path).read()
    m = re.fullmatch(r"(?s)(.*?)^--- stream[ \t]*\n(.*?)^--- expect[ \t]*\n(.*)", text, re.M)
    if not m:
        raise ValueError(f"{path}: needs `--- stream` and `--- expect` lines")
    expected = []
    for lineno, line in enumerate(m.group(3).splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            try:
                expected.append(json.loads(line))
            except ValueError as e:
                raise ValueError(f"{path}: expect line {lineno}: {e}") from None
    return Case(os.path.basename(path)[:-len(".case")], m.group(1), m.group(2), expected)


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
        try:
            names = measure_names_of(case.rules)
            if tool is None:
                actual = run_oracle(case.rules, case.stream)
            else:
                actual, _, _ = run_tool(tool, case.rules, case.stream)
            why = compare_alerts(case.expected, actual, names)
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


def expression_selftest():
    """The evaluator's C semantics on a few values (R5, R6, R7); returns failures."""
    scope = Scope({"v": "trade"}, fields_of("trade"), fields_of("trade"))
    rec = {"stream": "trade", "time": 5, "price": -7, "shares": 2, "side": ord("B")}
    checks = [
        ("price / shares = -3", True), ("price % shares = -1", True), ("7 % -2 = 1", True),
        ("-7 / -2 = 3", True), ("price / (shares - 2) = 0", False),
        ("price / (shares - 2) = 0 OR shares = 2", False), ("NOT (shares % 0 = 1)", False),
        ("side = 'B' AND side IN ('S', 'B')", True), ("ABS(price) = 7", True),
        ("1_000 MS = 1 S AND 2 MIN = 120 SECONDS", True), ("COUNT(v) = 0 AND SUM(v.price) = 0", True),
        ("v.price = 0 OR shares = 2", False), ("PREV(price) = 0 OR shares = 2", False),
        ("price * -1 + shares * 3 - 13 = 0", True), ("(price <> 1) = (shares < 1)", None),
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


# ---------------------------------------------------------------------------------------------
# Random rules and streams


FUZZ_VARS = ("a", "b", "c", "d")
FUZZ_FIELDS = ("price", "shares")
FUZZ_SYMBOLS = ("AAA", "BBB", "CCC")
SECOND = 10**9


class Fuzzer:
    """Random (rules, stream) pairs over `trade` and `order` with small fields."""

    def __init__(self, rng):
        self.rng = rng

    def chance(self, p):
        return self.rng.random() < p

    # -- MATCH

    def quantifier(self):
        r = self.rng
        return r.choice([
            lambda: "?", lambda: "*", lambda: "+",
            lambda: f"{{{r.randint(1, 3)}}}",
            lambda: f"{{{r.randint(0, 2)},}}",
            lambda: (lambda lo: f"{{{lo},{r.randint(max(lo, 1), 3)}}}")(r.randint(0, 2)),
        ])()

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

    def regex(self, pool, negated):
        """A top-level sequence of terms, with negations between them and maybe at the end."""
        n = self.rng.randint(1, 3)
        parts = []
        for k in range(n):
            if k:
                if self.chance(0.4):
                    parts.append("->")
                if negated and self.chance(0.3):
                    parts.append("!" + self.rng.choice(negated))
            parts.append(self.term(pool, 0) if self.chance(0.7) else
                         "(" + self.sequence(pool, 1) + ")")
        if negated and self.chance(0.3):
            parts.append("!" + self.rng.choice(negated))
        return " ".join(parts)

    # -- expressions

    def int_expr(self, vars_, depth):
        r = self.rng
        if depth > 0 and self.chance(0.3):
            op = r.choice("+-*/%")
            return f"({self.int_expr(vars_, depth - 1)} {op} {self.int_expr(vars_, depth - 1)})"
        if depth > 0 and self.chance(0.1):
            return f"ABS({self.int_expr(vars_, depth - 1)} - {self.int_expr(vars_, depth - 1)})"
        v, f = r.choice(vars_), r.choice(FUZZ_FIELDS)
        return r.choice([
            f, f, str(r.randint(0, 6)), f"PREV({f})", f"{v}.{f}", f"COUNT({v})",
            f"{r.choice(AGGREGATES)}({v}.{f})",
        ])

    def condition(self, vars_, depth):
        r = self.rng
        if depth > 0 and self.chance(0.35):
            lhs, rhs = self.condition(vars_, depth - 1), self.condition(vars_, depth - 1)
            return r.choice([f"({lhs} AND {rhs})", f"({lhs} OR {rhs})", f"NOT ({lhs})"])
        v = r.choice(vars_)
        return r.choice([
            lambda: f"{self.int_expr(vars_, 1)} {r.choice(['=', '!=', '<>', '<', '<=', '>', '>='])} "
                    f"{self.int_expr(vars_, 1)}",
            lambda: f"{r.choice(FUZZ_FIELDS)} {r.choice(['<', '>', '<=', '>='])} {r.randint(1, 6)}",
            lambda: f"side = '{r.choice('BS')}'",
            lambda: f"side != {v}.side",
            lambda: f"{r.choice(FUZZ_FIELDS)} IN ({', '.join(str(x) for x in r.sample(range(1, 7), 3))})",
            lambda: f"time - {v}.time <= {r.choice([500, 1000, 2000])} MILLISECONDS",
            lambda: f"{r.choice(FUZZ_FIELDS)} > PREV({r.choice(FUZZ_FIELDS)})",
        ])()

    # -- a pattern, a rule file, a stream

    def pattern(self, name):
        r = self.rng
        pool = list(FUZZ_VARS[:r.randint(1, 4)])
        negated = [] if self.chance(0.5) else (["n"] if self.chance(0.7) else pool[:])
        text = self.regex(pool, negated)
        used = sorted(set(re.findall(r"[a-z]", text)))
        refs = [v for v in used if v in pool]  # the variables that can have matched a record
        defines = []
        for v in used:
            d = f"{v} AS {r.choice(['trade', 'trade', 'order'])}"
            if self.chance(0.6):
                d += f" WHERE {self.condition(refs, r.choice((0, 1, 1, 2)))}"
            defines.append(d)
        lines = [f"PATTERN {name}", "  PARTITION BY symbol", f"  MATCH ({text})",
                 "  DEFINE " + ",\n         ".join(defines),
                 f"  WITHIN {r.choice(['750 MS', '1 S', '1500 MILLISECONDS', '2 SECONDS', '3 S', '5 S'])}",
                 "  AFTER MATCH SKIP " + r.choice(["PAST LAST ROW", "TO NEXT ROW"]),
                 "  MAX PARTIAL 64"]
        if self.chance(0.4):
            lines.append("  EMIT TIMEOUTS")
        n_measures = r.randint(0, 4)
        if n_measures:
            lines.append("  MEASURES " + ", ".join(
                f"{self.int_expr(refs, 1)} AS m{k}" for k in range(n_measures)))
        return "\n".join(lines + ["END"]) + "\n"

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
        r = self.rng
        symbols = FUZZ_SYMBOLS[:r.randint(1, 3)]
        t = 34_200 * SECOND
        lines = []
        for _ in range(r.randint(10, 40)):
            t += r.choice([0, 100, 250, 250, 500, 500, 1000]) * 10**6
            if self.chance(0.08):
                wm = t + r.choice([0, 0, 1, 3]) * SECOND
                lines.append(f"wm t={wm}")
                t = wm
                continue
            sym = r.choice(symbols)
            stream = r.choice(["trade", "trade", "order"] + (["halt"] if self.chance(0.1) else []))
            if stream == "halt":
                lines.append(f"halt sym={sym} t={t} state=H reason=T1")
                continue
            lines.append(f"{stream} sym={sym} t={t} price={r.randint(1, 6)} "
                         f"shares={r.randint(1, 6)} side={r.choice('BS')}")
        if self.chance(0.7):
            lines.append(f"wm t={t + 10 * SECOND}")
        return "\n".join(lines) + "\n"


def fuzz(n, seed, tool):
    """Runs n random cases against `tool run`; returns the exit status."""
    if not os.access(tool, os.X_OK):
        print(f"SKIP: {tool} does not exist (build it first)")
        return 77
    agreed = evicted = too_big = 0
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
        except ToolMissing as e:
            print(f"SKIP: {e}")
            return 77
        except RuntimeError as e:
            show_mismatch(f"fuzz case {k} (seed {seed})", rules, stream, expected, [], str(e),
                          ("oracle", "dadar-rules"))
            return 1
        if n_evicted:
            evicted += 1
            continue
        why = compare_alerts(expected, actual, measure_names_of(rules))
        if why:
            show_mismatch(f"fuzz case {k} (seed {seed})", rules, stream, expected, actual, why,
                          ("oracle", "dadar-rules"))
            return 1
        agreed += 1
    print(f"fuzz: {n} cases (seed {seed}): {agreed} agreed, {evicted} skipped (cep_evicted), "
          f"{too_big} skipped (too many ways for the oracle)")
    return 0


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
        failures = expression_selftest()
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
