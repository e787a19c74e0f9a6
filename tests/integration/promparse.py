#!/usr/bin/env python3
"""A strict parser of Prometheus' text exposition format, version 0.0.4
(https://prometheus.io/docs/instrumenting/exposition_formats/), written from the format's description
so that lat_test.py can check `dadar-lat --prometheus` where promtool is not installed.

Stricter than Prometheus itself where the format says "should" and dadar means to comply:
- every family has exactly one HELP and one TYPE line, both before its first sample;
- the lines of one family form one group (a family does not come back after another began);
- no sample (name and label set) appears twice;
- a counter's samples are >= 0; a summary's samples are NAME{...,quantile="q"} with 0 <= q <= 1,
  NAME_sum and NAME_count, and every label set of the family has exactly one _sum and one _count
  (and its quantiles, if any, are distinct); a histogram's are NAME_bucket{le=...} (with an le="+Inf"
  bucket equal to _count), NAME_sum and NAME_count;
- a label name does not start with "__" (reserved) and appears once in a label set;
- label values hold only the escapes \\\\, \\" and \\n; HELP text only \\\\ and \\n;
- the text is UTF-8 and ends with a newline.

usage: promparse.py FILE|-     exit 0 and a one-line summary if FILE parses, else 1 and the error.
As a module: parse(text) -> {family name: Family}; raises ParseError(line number, message).
"""
import math
import re
import sys

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# Go's strconv.ParseFloat as Prometheus calls it, less hex floats and digit underscores
FLOAT = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[Ii][Nn][Ff](?:[Ii][Nn][Ii][Tt][Yy])?|[Nn][Aa][Nn])")
TIMESTAMP = re.compile(r"-?\d+")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class ParseError(Exception):
    def __init__(self, line, msg):
        super().__init__(f"line {line}: {msg}")
        self.line = line


class Sample:
    """One sample line: its name, labels (dict, in order), value (float) and raw value text."""

    def __init__(self, name, labels, value, raw, line):
        self.name, self.labels, self.value, self.raw, self.line = name, labels, value, raw, line

    def __repr__(self):
        return f"Sample({self.name}, {self.labels}, {self.raw})"


class Family:
    def __init__(self, name):
        self.name = name
        self.help = None
        self.type = None
        self.samples = []

    def __repr__(self):
        return f"Family({self.name}, {self.type}, {len(self.samples)} samples)"


def parse_float(text, line, what):
    if not FLOAT.fullmatch(text):
        raise ParseError(line, f"{what} {text!r} is not a float")
    return float(text)


def unescape(text, line, allowed, what):
    """Undo the format's backslash escapes; anything else after a backslash is an error."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text):
                raise ParseError(line, f"{what} ends in a lone backslash")
            e = text[i + 1]
            if e not in allowed:
                raise ParseError(line, f"{what} has the escape \\{e}, the format knows only "
                                       + " ".join("\\" + a for a in allowed))
            out.append({"\\": "\\", "n": "\n", '"': '"'}[e])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def parse_labels(text, pos, line):
    """Labels from text[pos] == '{'; returns (dict, position after '}')."""
    labels = {}
    i = pos + 1
    while True:
        while i < len(text) and text[i] in " \t":
            i += 1
        if i < len(text) and text[i] == "}":
            return labels, i + 1
        m = LABEL_NAME.match(text, i)
        if not m:
            raise ParseError(line, f"bad label name at column {i + 1}: {text[i:i + 20]!r}")
        name = m.group(0)
        if name.startswith("__"):
            raise ParseError(line, f"label name {name} is reserved (starts with __)")
        if name in labels:
            raise ParseError(line, f"label {name} appears twice")
        i = m.end()
        while i < len(text) and text[i] in " \t":
            i += 1
        if i >= len(text) or text[i] != "=":
            raise ParseError(line, f"label {name}: '=' expected")
        i += 1
        while i < len(text) and text[i] in " \t":
            i += 1
        if i >= len(text) or text[i] != '"':
            raise ParseError(line, f"label {name}: a double-quoted value expected")
        j = i + 1
        while j < len(text) and text[j] != '"':
            j += 2 if text[j] == "\\" else 1
        if j >= len(text):
            raise ParseError(line, f"label {name}: unterminated value")
        labels[name] = unescape(text[i + 1:j], line, ("\\", '"', "n"), f"label {name}'s value")
        i = j + 1
        while i < len(text) and text[i] in " \t":
            i += 1
        if i < len(text) and text[i] == ",":
            i += 1
        elif i < len(text) and text[i] == "}":
            continue
        else:
            raise ParseError(line, f"',' or '}}' expected after label {name}")


def family_of(name, families):
    """The family a sample name belongs to: NAME_sum/_count/_bucket of a summary or histogram, else NAME."""
    for suffix in ("_sum", "_count", "_bucket"):
        if name.endswith(suffix):
            base = name[:-len(suffix)]
            f = families.get(base)
            if f is not None and f.type in ("summary", "histogram") and not (suffix == "_bucket" and f.type == "summary"):
                return base
    return name


def parse(text):
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ParseError(0, f"not UTF-8: {e}") from None
    if text and not text.endswith("\n"):
        raise ParseError(text.count("\n") + 1, "the last line does not end with a newline")
    families = {}
    done = set()          # families whose group of lines has ended
    current = None
    series = set()
    for n, raw in enumerate(text.split("\n")[:-1] if text else [], 1):
        if "\r" in raw:
            raise ParseError(n, "carriage return in a line (lines end with \\n alone)")
        s = raw.strip(" \t")
        if s == "":
            continue
        if s.startswith("#"):
            parts = s[1:].lstrip(" \t").split(None, 2) if s[1:2] in (" ", "\t") else []
            if len(parts) >= 2 and parts[0] in ("HELP", "TYPE"):
                kind, name = parts[0], parts[1]
                if not METRIC_NAME.fullmatch(name):
                    raise ParseError(n, f"{kind}: bad metric name {name!r}")
                f = families.get(name)
                if f is None:
                    if name in done:
                        raise ParseError(n, f"{kind} for {name}, whose lines ended earlier")
                    f = families[name] = Family(name)
                if current is not None and current != name:
                    done.add(current)
                if name in done:
                    raise ParseError(n, f"{kind} for {name}, whose lines ended earlier")
                current = name
                if f.samples:
                    raise ParseError(n, f"{kind} for {name} after its samples")
                if kind == "HELP":
                    if f.help is not None:
                        raise ParseError(n, f"second HELP for {name}")
                    h = re.match(r"[ \t]*#[ \t]+HELP[ \t]+\S+(?:[ \t](.*))?$", raw)
                    f.help = unescape(h.group(1) or "", n, ("\\", "n"), "HELP text")
                else:
                    if f.type is not None:
                        raise ParseError(n, f"second TYPE for {name}")
                    if len(parts) != 3 or parts[2].strip() not in TYPES:
                        raise ParseError(n, f"TYPE for {name}: {parts[2:]!r} is not one of {', '.join(TYPES)}")
                    f.type = parts[2].strip()
            continue  # any other comment
        m = METRIC_NAME.match(s)
        if not m:
            raise ParseError(n, f"bad metric name at the start of {s[:40]!r}")
        name = m.group(0)
        i = m.end()
        labels = {}
        if i < len(s) and s[i] == "{":
            labels, i = parse_labels(s, i, n)
        rest = s[i:]
        if not rest[:1] in (" ", "\t"):
            raise ParseError(n, f"{name}: blank and value expected after the name and labels, got {rest[:20]!r}")
        fields = rest.split()
        if len(fields) not in (1, 2):
            raise ParseError(n, f"{name}: value and optional timestamp expected, got {fields!r}")
        value = parse_float(fields[0], n, f"{name}'s value")
        if len(fields) == 2 and not TIMESTAMP.fullmatch(fields[1]):
            raise ParseError(n, f"{name}: timestamp {fields[1]!r} is not an integer")
        fam = family_of(name, families)
        if current is not None and current != fam:
            done.add(current)
        if fam in done:
            raise ParseError(n, f"sample of {fam}, whose lines ended earlier (a family's lines form one group)")
        current = fam
        f = families.setdefault(fam, Family(fam))
        key = (name, tuple(sorted(labels.items())))
        if key in series:
            raise ParseError(n, f"{name}{labels} appears twice")
        series.add(key)
        f.samples.append(Sample(name, labels, value, fields[0], n))
    for f in families.values():
        check_family(f)
    return families


def check_family(f):
    first = f.samples[0].line if f.samples else 0
    if f.help is None:
        raise ParseError(first, f"{f.name} has no HELP line")
    if f.type is None:
        raise ParseError(first, f"{f.name} has no TYPE line")
    if f.type in ("counter", "gauge", "untyped"):
        for s in f.samples:
            if s.name != f.name:
                raise ParseError(s.line, f"{s.name} in the {f.type} family {f.name}")
            if f.type == "counter" and not s.value >= 0:
                raise ParseError(s.line, f"counter {s.name} is {s.raw}: counters are >= 0")
        return
    groups = {}
    for s in f.samples:
        rest = {k: v for k, v in s.labels.items() if k not in ("quantile", "le")}
        g = groups.setdefault(tuple(sorted(rest.items())), {"sum": [], "count": [], "q": [], "le": {}})
        if s.name == f.name + "_sum":
            if "quantile" in s.labels or "le" in s.labels:
                raise ParseError(s.line, f"{s.name} with a quantile or le label")
            g["sum"].append(s)
        elif s.name == f.name + "_count":
            if "quantile" in s.labels or "le" in s.labels:
                raise ParseError(s.line, f"{s.name} with a quantile or le label")
            if not (s.value >= 0 and s.value == math.floor(s.value)):
                raise ParseError(s.line, f"{s.name} is {s.raw}: a count is a whole number >= 0")
            g["count"].append(s)
        elif f.type == "summary" and s.name == f.name:
            if "quantile" not in s.labels or "le" in s.labels:
                raise ParseError(s.line, f"summary sample {s.name} without a quantile label")
            q = parse_float(s.labels["quantile"], s.line, "quantile")
            if not 0 <= q <= 1:
                raise ParseError(s.line, f"quantile {s.labels['quantile']} outside [0, 1]")
            g["q"].append(q)
        elif f.type == "histogram" and s.name == f.name + "_bucket":
            if "le" not in s.labels:
                raise ParseError(s.line, f"{s.name} without an le label")
            g["le"][parse_float(s.labels["le"], s.line, "le")] = s.value
        else:
            raise ParseError(s.line, f"{s.name} does not belong to the {f.type} family {f.name}")
    for key, g in groups.items():
        where = f"{f.name}{dict(key)}"
        if len(g["sum"]) != 1 or len(g["count"]) != 1:
            raise ParseError(first, f"{where}: {len(g['sum'])} _sum and {len(g['count'])} _count samples, "
                                    "one of each expected")
        if len(set(g["q"])) != len(g["q"]):
            raise ParseError(first, f"{where}: a quantile appears twice")
        if f.type == "histogram":
            if math.inf not in g["le"]:
                raise ParseError(first, f"{where}: no le=\"+Inf\" bucket")
            if g["le"][math.inf] != g["count"][0].value:
                raise ParseError(first, f"{where}: the +Inf bucket differs from _count")
            counts = [g["le"][k] for k in sorted(g["le"])]
            if counts != sorted(counts):
                raise ParseError(first, f"{where}: buckets are not cumulative")


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: promparse.py FILE|-", file=sys.stderr)
        return 2
    data = sys.stdin.buffer.read() if argv[1] == "-" else open(argv[1], "rb").read()
    try:
        fams = parse(data)
    except ParseError as e:
        print(f"promparse: {argv[1]}: {e}", file=sys.stderr)
        return 1
    print(f"promparse: {argv[1]}: {len(fams)} families, {sum(len(f.samples) for f in fams.values())} samples")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
