#!/usr/bin/env python3
"""The market patterns end to end (issue 11): dadar with rules/market.rules over planted days
(`dadar-gen synth --plant all`, docs/patterns.md "Planted streams"), its alerts against the expect
file the generator writes.

Tests (each prints PASS/FAIL/SKIP and its name):
  A  a planted day (20 background instruments), run to completion: the alerts equal the expect
     file line for line, in order (every key of each expect line equal to the alert's, measures
     included; no other measure; the common keys op cep, rule_version 1, timeout false); the JSON
     summary's "patterns" section counts the alerts per pattern (the first of each equal to the
     expect file's) and the human summary prints a "patterns" line saying the same.
  B  the same day staged with 2 workers (and the two venues merged, when mergecap is there): the
     same alerts, compared sorted (the shards interleave).
  B2 the second venue giving ARBT another locate code (`--venue2-locate`, one whose shard by locate
     differs from the first venue's), merged: run to completion and staged with 2 workers (route
     auto: by symbol) give every expected alert, arbitrage included; staged with `--route locate`
     gives no arbitrage (the venues' ARBT on different workers, each seeing half); staged by symbol with a
     journal and snapshots replays clean from its start and from its newest snapshot, and restarts.
  C  the two venues merged by timestamp (mergecap) with two feeds: the twelve alerts, arbitrage
     included, exactly and in order.
  D  `--journal`: the alerts equal those of the run without a journal (but lsn and cause);
     `dadar-journal replay` re-derives every journaled output ("result OK", matched = the lines
     released); the journal's OUTPUT records of the alerts name the same LSN, feed, cause, seq,
     event time and pattern as the released lines (or `replay --output` where it exists); the
     replay's summary has the live run's "patterns" section (measures of each first alert);
     first_feed/first_seq name the journaled message at first_ns (0 when a window result starts it).
  E  kill -9 twice mid-stream (after the 3rd and the 7th alert of a 2000-instrument planted day
     was released) and restart on the same journal and capture: the restarts recover, the output
     file holds every LSN once in increasing order and its alerts are the expect file's, each once
     (in order for run to completion; sorted for staged with 2 workers and snapshots, routed by
     locate and by symbol); the final journal replays clean (from its start, and from its newest
     snapshot). Each killed run reads the day through a named pipe, fed until its alert is out, so
     the kill lands mid-stream however fast the machine.
  F  rule reload mid-stream (SIGHUP): a broken copy of the rules is refused (stderr names
     FILE:LINE:COLUMN, alerts go on with version 1), then `RULESET market VERSION 2` is put in
     force: the journal holds one market RULES reload record (its file is the new text), every
     alert before it has rule_version 1 and equals the expect file's first alerts, every alert
     after it version 2; the planted alerts that need no window and start after the switch are
     all there, with version 2; the summary ends with version 2; `dadar-journal replay` re-derives
     everything, the reload included. The day goes through a named pipe a few thousand frames at
     a time, so each reload lands where the test says however fast the machine is.
  G  a bad --rules file at start: exit 2, FILE:LINE:COLUMN on stderr; a missing file is named.
  H  `dadar-rules check rules/market.rules` exits 0 and lists the two windows and ten patterns; a
     file with several errors exits 1 with every error as FILE:LINE:COLUMN.

Exit 0 all passed, 1 a failure, 77 (skip, loudly) if a binary is missing or DPDK cannot start here.
usage: tests/integration/cep_test.py [SUBSTRING...]   (env B = build dir, default build)
"""
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import itlib  # noqa: E402
import pcaplib  # noqa: E402
from itlib import CHILDREN, INSTANCES, PREFIXES, Skip, cleanup, cpus, path, run, start  # noqa: E402,F401

_n = [0]  # runs started (names their EAL prefix and instance)
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("B", "build")
BUILD = BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD)
DADAR, GEN, JOURNAL, RULES_TOOL = (os.path.join(BUILD, b) for b in ("dadar", "dadar-gen", "dadar-journal",
                                                                     "dadar-rules"))
MARKET_RULES = os.path.join(ROOT, "rules", "market.rules")
TAG = "it9"  # prefix of this runner's EAL file prefixes and instance names
IDLE_MS = "300"
MEM_MB = "1200"  # the book's default capacities need it
FEEDS2 = ["--feed", "v1=233.54.12.111:26477", "--feed", "v2=233.54.12.110:26477"]
PATTERNS = ("momentum", "volume_spike", "bull_run", "bear_signal", "insider", "manipulation", "spoofing",
            "circuit_breaker", "arbitrage", "stale_feed")
# the keys every alert line has besides the pattern's measures (docs/patterns.md, docs/outputs.md)
# patterns whose first record is a window's result (first_seq 0)
WINDOW_FIRST = ("volume_spike", "bull_run", "insider", "circuit_breaker")
COMMON = {"lsn", "type", "op", "rule", "rule_version", "shard", "cause", "feed", "seq", "event_ns", "pattern",
          "symbol", "first_ns", "last_ns", "events", "timeout", "first_feed", "first_seq", "refs"}


def dadar_cmd(pcap, opts=(), workers=0, journal=None, output=None, rules=MARKET_RULES, quiet=True):
    """dadar over `pcap` with the market rules: rtc when workers == 0, else staged with that many."""
    _n[0] += 1
    name = f"{TAG}-{os.getpid()}-{_n[0]}"
    PREFIXES.append(name)
    INSTANCES.append(name)
    n = 2 + workers + (1 if journal is not None or output is not None else 0)
    cmd = [DADAR, "--no-huge", "--no-pci", "-m", MEM_MB, "--no-shconf", "--no-telemetry", "--log-level=*:warning",
           "--file-prefix", name, "--lcores", f"(0-{n - 1})@({','.join(map(str, cpus()))})",
           "--vdev", f"net_pcap0,rx_pcap={pcap}", "--", "--instance", name, "--exit-on-idle", IDLE_MS]
    if quiet:
        cmd.append("--quiet")
    if rules is not None:
        cmd += ["--rules", rules]
    if workers:
        cmd += ["--pipeline", "staged", "--workers", str(workers)]
    if journal is not None:
        cmd += ["--journal", journal, "--journal-segment-mb", "8"]
    if output is not None:
        cmd += ["--output", output]
    return [str(c) for c in cmd + list(opts)]


def dpdk_failed(stderr):
    return "DPDK initialisation failed" in stderr or "EAL: FATAL" in stderr


def dadar(pcap, opts=(), workers=0, journal=None, output=None, rules=MARKET_RULES, quiet=True, expect=0):
    r = run(dadar_cmd(pcap, opts, workers, journal, output, rules, quiet))
    if r.returncode != 0 and dpdk_failed(r.stderr):
        raise Skip(f"DPDK cannot start here: {r.stderr.strip()[-400:]}")
    if expect is not None and r.returncode != expect:
        raise AssertionError(f"dadar exited {r.returncode}, expected {expect}: {' '.join(r.args)}\n"
                             f"      stderr: {r.stderr.strip()[-1500:]}")
    return r


def gen(*args):
    r = run([GEN] + [str(a) for a in args])
    check(r.returncode == 0, f"dadar-gen {' '.join(map(str, args))} exited {r.returncode}: {r.stderr.strip()[-800:]}")
    return r


def journal_tool(*args, expect=None, timeout=120):
    r = run([JOURNAL] + [str(a) for a in args], timeout=timeout)
    if expect is not None and r.returncode != expect:
        raise AssertionError(f"dadar-journal {' '.join(map(str, args))} exited {r.returncode}, expected {expect}:"
                             f"\n      {(r.stdout + r.stderr).strip()[-1500:]}")
    return r


def check(cond, what):
    if not cond:
        raise AssertionError(what)


_cache = {}


def cached(key, fn):
    if key not in _cache:
        _cache[key] = fn()
    return _cache[key]


# ---- outputs -------------------------------------------------------------------------------------

def read_lines(p):
    """The JSON lines of an output file; a line that is not JSON fails the test, naming it."""
    if not os.path.exists(p):
        raise AssertionError(f"no output file {p} was written")
    out = []
    with open(p) as f:
        for i, line in enumerate(f, 1):
            try:
                out.append(json.loads(line))
            except ValueError:
                raise AssertionError(f"{p}:{i}: not a JSON line: {line[:300]!r}") from None
    return out


def alerts_of(outs):
    return [o for o in outs if o.get("type") == "alert"]


_ALERT_LINE = re.compile(rb'^\{[^\n]*"type":"alert"[^\n]*$', re.M)
_LSN = re.compile(rb'^\{"lsn":(\d+),', re.M)


def big_output(p):
    """(alerts, lsns, lines) of a big output file, read as bytes (the bbo lines are many): every line
    whole, every one with an lsn."""
    with open(p, "rb") as f:
        data = f.read()
    check(data.endswith(b"\n"), f"{p} ends in a cut line: {data[-200:]!r}")
    nlines = data.count(b"\n")
    lsns = [int(x) for x in _LSN.findall(data)]
    check(len(lsns) == nlines, f"{p}: {nlines} lines, {len(lsns)} of them start with an lsn")
    alerts = [json.loads(x) for x in _ALERT_LINE.findall(data)]
    return alerts, lsns, nlines


def read_expect(p, drop=()):
    with open(p) as f:
        exp = [json.loads(line) for line in f if line.strip()]
    return [e for e in exp if e["pattern"] not in drop]


def alert_diff(a, e):
    """'' if alert a carries expect line e exactly (every key equal, no other measure), else why not."""
    bad = [f"{k}: expected {v!r}, alert {a.get(k, '<absent>')!r}" for k, v in e.items() if a.get(k) != v]
    extra = sorted(set(a) - COMMON - set(e))
    if extra:
        bad.append(f"measures not in the expect file: {extra}")
    missing = sorted(COMMON - set(a))
    if missing:
        bad.append(f"common keys missing: {missing}")
    return "; ".join(bad)


def short(o):
    return {k: v for k, v in o.items() if k not in ("lsn", "cause", "shard", "feed", "op", "rule", "type")}


def same_alerts_in_order(got, exp, what):
    for i in range(max(len(got), len(exp))):
        if i >= len(got) or i >= len(exp):
            raise AssertionError(f"{what}: {len(got)} alerts, {len(exp)} expected; first unmatched: "
                                 f"{'expected ' + json.dumps(exp[i]) if i < len(exp) else 'alert ' + json.dumps(short(got[i]))}")
        d = alert_diff(got[i], exp[i])
        if d:
            raise AssertionError(f"{what}: alert #{i} ({got[i].get('pattern')} {got[i].get('symbol')}) differs from "
                                 f"the expect file's ({exp[i]['pattern']} {exp[i]['symbol']}): {d}")


def ekey(e):
    return (e["last_ns"], e["pattern"], e["symbol"], e["first_ns"])


def same_alerts_sorted(got, exp, what):
    g = sorted(got, key=ekey)
    w = sorted(exp, key=ekey)
    same_alerts_in_order(g, w, what + " (sorted by last_ns, pattern)")


def check_common(alerts, what, version=1):
    for a in alerts:
        check(a.get("op") == "cep" and a.get("timeout") is False and a.get("rule_version") == version and
              a.get("pattern") in PATTERNS and a.get("rule") == PATTERNS.index(a["pattern"]),
              f"{what}: an alert whose op, timeout, rule_version (expected {version}) or rule index is off: {a}")


# ---- captures ------------------------------------------------------------------------------------

def planted(instruments=20):
    """(day.pcap, venue2.pcap, expect file) of `dadar-gen synth --plant all` (cached)."""
    def make():
        base = path(f"plant{instruments}")
        day, v2, exp = base + ".pcap", base + "-v2.pcap", base + ".expect.jsonl"
        gen("synth", day, "--plant", "all", "--expect", exp, "--plant-venue2", v2, "--seed", 3,
            "--instruments", instruments, "--flush-ns", 1000)
        return day, v2, exp
    return cached(("planted", instruments), make)


def merged():
    """The 20-instrument day and its second venue in one capture, by timestamp (mergecap)."""
    def make():
        if shutil.which("mergecap") is None:
            raise Skip("mergecap is not installed (Debian's wireshark-common; make deps installs it with tshark)")
        day, v2, exp = planted()
        m = path("plant20-merged.pcap")
        r = run(["mergecap", "-w", m, day, v2])
        check(r.returncode == 0, f"mergecap exited {r.returncode}: {r.stderr.strip()[-400:]}")
        return m, exp
    return cached("merged", make)


def single_run():
    """(alerts, summary, stdout) of the 20-instrument day alone, rtc, no journal, human summary on."""
    def make():
        day, _v2, _exp = planted()
        o, s = path("a.out"), path("a.summary.json")
        r = dadar(day, ["--summary", s], output=o, quiet=False)
        with open(s) as f:
            summ = json.load(f)
        return alerts_of(read_lines(o)), summ, r.stdout
    return cached("single", make)


# ---- A: the planted day, run to completion -----------------------------------------------------

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


@test
def test_A_planted_day_rtc_alerts_equal_the_expect_file_and_the_summary_counts_them():
    _day, _v2, expf = planted()
    exp = read_expect(expf, drop=("arbitrage",))  # one venue: no arbitrage
    check(len(read_expect(expf)) == 12 and len(exp) == 11, f"the expect file has {len(read_expect(expf))} lines")
    alerts, summ, stdout = single_run()
    same_alerts_in_order(alerts, exp, "rtc, one venue")
    check_common(alerts, "rtc, one venue")
    lsns = [a["lsn"] for a in alerts]
    check(lsns == sorted(set(lsns)), f"alert lsns not increasing: {lsns}")
    # the JSON summary
    p = summ.get("patterns")
    check(isinstance(p, dict), f"the summary has no patterns section: keys {sorted(summ)}")
    check((p.get("rules"), p.get("rules_version"), p.get("cep_alerts"), p.get("cep_timeouts")) ==
          ("market", 1, len(exp), 0), f"summary patterns: rules {p.get('rules')} version {p.get('rules_version')} "
                                      f"alerts {p.get('cep_alerts')} timeouts {p.get('cep_timeouts')}")
    byp = p.get("by_pattern", {})
    check(sorted(byp) == sorted(PATTERNS), f"summary by_pattern names {sorted(byp)}")
    for name in PATTERNS:
        want = [e for e in exp if e["pattern"] == name]
        got = byp[name]
        check(got.get("alerts") == len(want) and got.get("timeouts") == 0,
              f"summary by_pattern {name}: {got.get('alerts')} alerts, {got.get('timeouts')} timeouts; "
              f"expected {len(want)}, 0")
        if want:
            first = got.get("first") or {}
            bad = {k: (v, first.get(k)) for k, v in want[0].items() if k != "pattern" and first.get(k) != v}
            check(not bad, f"summary by_pattern {name} first: (expected, summary) differ on {bad}")
            # ... and the records it matched, as the matched lines after the first alert list them
            outs = read_lines(path("a.out"))
            i = next(k for k, o in enumerate(outs) if o.get("type") == "alert" and o["pattern"] == name)
            listed = [r for o in outs[i + 1:i + 1 + -(-outs[i]["refs"] // 7)] for r in o.get("matched", [])]
            check(first.get("matched") == listed and len(listed) == outs[i]["refs"],
                  f"summary by_pattern {name} first matched {first.get('matched')}, the output lists {listed}")
        else:
            check("first" not in got, f"summary by_pattern {name}: a first alert without alerts: {got}")
    # the human summary (stdout without --quiet)
    line = next((x for x in stdout.splitlines() if x.strip().startswith("patterns ")), None)
    check(line is not None, f"the human summary has no patterns line: {stdout[-1500:]!r}")
    m = re.match(r"\s*patterns (\d+) alerts \(rules market v1, 10 patterns, 2 windows\): (.*)$", line)
    check(m and int(m[1]) == len(exp), f"the human summary's patterns line: {line!r}")
    counts = {k: int(v) for k, v in re.findall(r"(\w+) (\d+)", m[2])}
    want = {n: sum(1 for e in exp if e["pattern"] == n) for n in PATTERNS}
    check(counts == {n: c for n, c in want.items() if c}, f"the human summary's counts {counts}, expected {want}")
    return f"{len(alerts)} alerts equal the expect file in order; summary: {line.strip()[:90]}..."


# ---- B: staged --------------------------------------------------------------------------------

@test
def test_B_staged_with_2_workers_gives_the_same_alerts():
    day, _v2, expf = planted()
    exp = read_expect(expf, drop=("arbitrage",))
    o = path("b.out")
    dadar(day, workers=2, output=o)
    got = alerts_of(read_lines(o))
    same_alerts_sorted(got, exp, "staged 2 workers, one venue")
    check_common(got, "staged 2 workers")
    shards = sorted({a["shard"] for a in got})
    check(set(shards) <= {0, 1}, f"alert shards {shards}")
    note = f"one venue: {len(got)} alerts on shards {shards}"
    try:
        m, _e = merged()
    except Skip as e:
        return note + f"; two venues not run ({e})"
    o2 = path("b2.out")
    dadar(m, FEEDS2, workers=2, output=o2)
    got2 = alerts_of(read_lines(o2))
    same_alerts_sorted(got2, read_expect(expf), "staged 2 workers, two venues merged")
    check_common(got2, "staged 2 workers, two venues")
    return note + f"; two venues: {len(got2)} alerts (arbitrage included)"


def arbt_locate(pcap):
    """The locate code of the first stock directory (R) message for ARBT in a capture, parsed here."""
    for _t, f in pcaplib.read_pcap(pcap):
        verdict, v = pcaplib.frame_verdict(f)
        if verdict != "udp":
            continue
        why, d = pcaplib.mold_parse(v[2])
        if why is not None:
            continue
        for m in d[3]:
            if m[:1] == b"R" and m[11:19] == b"ARBT    ":
                return struct.unpack(">H", m[1:3])[0]
    raise AssertionError(f"{pcap}: no directory message for ARBT")


def locate_shard(locate, shards):
    """dd_shard_of() as ops/chain.h documents it: Fibonacci hashing of the key, modulo the shards."""
    return ((locate * 0x9E3779B1) & 0xFFFFFFFF) % shards


@test
def test_B2_staged_two_venues_with_different_locate_codes_meet_on_one_worker_by_symbol():
    if shutil.which("mergecap") is None:
        raise Skip("mergecap is not installed (Debian's wireshark-common; make deps installs it with tshark)")
    _day, v2, _exp = planted()
    l1 = arbt_locate(v2)  # the second venue's default: the first venue's code
    l2 = next(x for x in range(l1 + 1, l1 + 100) if locate_shard(x, 2) != locate_shard(l1, 2))
    day, v2b, expf = path("plant20b.pcap"), path("plant20b-v2.pcap"), path("plant20b.expect.jsonl")
    gen("synth", day, "--plant", "all", "--expect", expf, "--plant-venue2", v2b, "--seed", 3,
        "--instruments", 20, "--flush-ns", 1000, "--venue2-locate", l2)
    check(arbt_locate(v2b) == l2 and arbt_locate(day) == l1,
          f"--venue2-locate {l2}: ARBT's locates are {arbt_locate(day)} and {arbt_locate(v2b)}")
    m = path("plant20b-merged.pcap")
    r = run(["mergecap", "-w", m, day, v2b])
    check(r.returncode == 0, f"mergecap exited {r.returncode}: {r.stderr.strip()[-400:]}")
    exp = read_expect(expf)
    check(any(a["pattern"] == "arbitrage" for a in exp), "the expect file has no arbitrage alert")

    o = path("b2-rtc.out")
    dadar(m, FEEDS2, output=o)
    same_alerts_in_order(alerts_of(read_lines(o)), exp, f"rtc, ARBT at locates {l1} and {l2}")

    o, sj = path("b2-sym.out"), path("b2-sym.summary.json")
    dadar(m, FEEDS2 + ["--summary", sj], workers=2, output=o)
    with open(sj) as f:
        route = json.load(f).get("route")
    check(route == "symbol", f"staged with two market feeds, route auto: the summary says route {route!r}")
    got = alerts_of(read_lines(o))
    same_alerts_sorted(got, exp, f"staged 2 workers, route auto, ARBT at locates {l1} and {l2}")
    arb = next(a for a in got if a["pattern"] == "arbitrage")

    o = path("b2-loc.out")
    dadar(m, FEEDS2 + ["--route", "locate"], workers=2, output=o)
    got_loc = alerts_of(read_lines(o))
    check(not any(a["pattern"] == "arbitrage" for a in got_loc),
          f"staged 2 workers, route locate, ARBT at locates {l1} and {l2} on different workers: an arbitrage "
          f"alert all the same: {[short(a) for a in got_loc if a['pattern'] == 'arbitrage']}")

    j, o = path("b2-journal"), path("b2-j.out")
    shutil.rmtree(j, ignore_errors=True)
    dadar(m, FEEDS2 + ["--route", "symbol", "--snapshot-every", "5000"], workers=2, journal=j, output=o)
    nlines = len(read_lines(o))
    same_alerts_sorted(alerts_of(read_lines(o)), exp, "staged by symbol with a journal and snapshots")
    snaps = [f for f in os.listdir(j) if f.startswith("snap")]
    check(snaps, f"no snapshot in {j}: {sorted(os.listdir(j))}")
    cfg = journal_tool("dump", j, "--type", "config", "--limit", 1, expect=0).stdout
    check(" route=symbol " in cfg, f"the journal's config record does not say it routes by symbol: {cfg[-300:]}")
    for opt in (["--no-snapshot"], []):
        rr = journal_tool("replay", j, *opt, expect=0)
        mm = re.search(r"matched (\d+)", rr.stdout)
        check("result     OK" in rr.stdout and mm and (int(mm[1]) == nlines or not opt),
              f"replay {' '.join(opt)} of the journal routed by symbol (expected {nlines} matched): "
              f"{rr.stdout.strip()[-600:]}")
    # a restart recovers (from the newest snapshot, the route with it) and refuses another route
    dadar(m, FEEDS2, workers=2, journal=j, output=o)
    r = dadar(m, FEEDS2 + ["--route", "locate"], workers=2, journal=j, output=o, expect=None)
    check(r.returncode != 0 and "routed by symbol" in r.stderr,
          f"a restart asking for route locate on a journal routed by symbol: exit {r.returncode}: "
          f"{r.stderr.strip()[-400:]}")
    shutil.rmtree(j, ignore_errors=True)
    return (f"ARBT at locates {l1} and {l2}: rtc and staged by symbol {len(got)} alerts (arbitrage "
            f"{short(arb)}); by locate {len(got_loc)}, no arbitrage; {len(snaps)} snapshot(s), replay OK, "
            f"restart OK")


# ---- C: two venues ------------------------------------------------------------------------------

@test
def test_C_two_venues_merged_give_the_twelve_alerts_arbitrage_included():
    m, expf = merged()
    exp = read_expect(expf)
    o, s = path("c.out"), path("c.summary.json")
    dadar(m, FEEDS2 + ["--summary", s], output=o)
    got = alerts_of(read_lines(o))
    same_alerts_in_order(got, exp, "rtc, two venues merged")
    check_common(got, "rtc, two venues")
    arb = next(a for a in got if a["pattern"] == "arbitrage")
    check(arb["feed"] == 1 and arb["first_feed"] == 1 and arb["first_seq"] == arb["seq"],
          f"the arbitrage alert is not the second venue's message (feed, first_feed, first_seq): {arb}")
    with open(s) as f:
        feeds = json.load(f).get("feeds")
    check(isinstance(feeds, list) and len(feeds) == 2, f"summary feeds: {feeds}")
    return f"{len(got)} alerts in order; arbitrage {short(arb)}"


# ---- D: the journal -----------------------------------------------------------------------------

_DUMP_ALERT = re.compile(r"^(\d+)\s+output\s+(\d+)\s+(\d+)\s+alert op=cep (?:rule=(\d+) )?shard=(\d+) cause=(\d+) "
                         r"key=(\d+) seq=(\d+) t=(\d\d):(\d\d):(\d\d)\.(\d{9})")


_DUMP_T = re.compile(r" t=(\d\d):(\d\d):(\d\d)\.(\d{9})")


def dump_ns(line):
    m = _DUMP_T.search(line)
    check(m, f"dadar-journal dump: no event time in {line!r}")
    return ((int(m[1]) * 60 + int(m[2])) * 60 + int(m[3])) * 1_000_000_000 + int(m[4])


def replay_has_output():
    return "--output" in run([JOURNAL, "--help"]).stdout


@test
def test_D_journaled_alerts_replay_clean_and_equal_the_live_ones():
    day, _v2, expf = planted()
    exp = read_expect(expf, drop=("arbitrage",))
    j, o, s = path("d.j"), path("d.out"), path("d.summary.json")
    dadar(day, ["--summary", s], journal=j, output=o)
    outs = read_lines(o)
    got = alerts_of(outs)
    same_alerts_in_order(got, exp, "rtc journaled")
    plain, plain_summ, _ = single_run()
    strip = [{k: v for k, v in a.items() if k not in ("lsn", "cause")} for a in got]
    strip_plain = [{k: v for k, v in a.items() if k not in ("lsn", "cause")} for a in plain]
    check(strip == strip_plain, "journaled alerts differ from the run without a journal (all keys but lsn, cause)")
    # replay re-derives every journaled output
    rs = path("d.replay.json")
    r = journal_tool("replay", j, "--summary", rs, expect=0)
    m = re.search(r"outputs\s+journaled (\d+), derived (\d+), matched (\d+)", r.stdout)
    check("result     OK" in r.stdout and m and int(m[1]) == int(m[2]) == int(m[3]) == len(outs),
          f"replay (expected {len(outs)} outputs matched): {r.stdout.strip()[-600:]}")
    # the live run's and the replay's summaries: the same patterns section (measures of each first)
    with open(s) as f:
        live_p = json.load(f)["patterns"]
    with open(rs) as f:
        rep_p = json.load(f).get("patterns")
    check(rep_p == live_p, f"replay summary patterns differ from the live run's: "
                           f"{ {k: (live_p.get(k), (rep_p or {}).get(k)) for k in live_p if live_p.get(k) != (rep_p or {}).get(k)} }")
    check(live_p["by_pattern"] == plain_summ["patterns"]["by_pattern"],
          "summary by_pattern differs between the journaled run and the run without a journal")
    # first_feed, first_seq name the first matched record's message (0 for a window result)
    evs = {}
    for line in journal_tool("dump", j, "--type", "event", expect=0).stdout.splitlines():
        mm = re.match(r"^\d+\s+event\s+(\d+)\s+\d+\s.*? seq=(\d+) t=(\d\d:\d\d:\d\d\.\d{9})", line)
        if mm and mm[2] != "0":
            evs.setdefault((int(mm[1]), int(mm[2])), dump_ns(line))
    for a in got:
        if a["pattern"] in WINDOW_FIRST:
            check(a["first_seq"] == 0 and a["first_feed"] == 0, f"an alert starting at a window result: {a}")
        else:
            t = evs.get((a["first_feed"], a["first_seq"]))
            check(t == a["first_ns"], f"first_feed/first_seq of {short(a)} name a message at {t}, not first_ns")
    # each alert is followed among its shard's outputs by the `matched` lines listing what it matched
    # (docs/outputs.md), and `dadar-journal matched` finds each listed record in the journal: the first
    # at first_ns, the last at last_ns, in time order
    for i, o in enumerate(outs):
        if o.get("type") != "alert":
            continue
        after = [x for x in outs[i + 1:] if x.get("shard") == o["shard"]]
        parts = after[:max(1, -(-o["refs"] // 7))]
        refs = [r for x in parts if x.get("type") == "matched" for r in x["matched"]]
        check(o["refs"] == min(o["events"], 16) and len(refs) == o["refs"] and
              all(x.get("type") == "matched" and x["part"] == k and x["pattern"] == o["pattern"]
                  for k, x in enumerate(parts)),
              f"the matched lines after {short(o)}: {parts}")
        m = journal_tool("matched", j, o["lsn"], expect=0).stdout.splitlines()
        recs = [ln for ln in m[2:] if not ln.startswith("--")]
        check(len(recs) == o["refs"] and int(m[1].split()[0]) == o["lsn"],
              f"dadar-journal matched {o['lsn']}: {m}")
        ts = [dump_ns(ln) for ln in recs]
        check(ts[0] == o["first_ns"] and ts[-1] == o["last_ns"] and ts == sorted(ts),
              f"dadar-journal matched {o['lsn']}: times {ts}, alert first_ns {o['first_ns']} last_ns {o['last_ns']}")
        for r, ln in zip(refs, recs):
            if "window" in r:
                wi = [ln.split()[1] for ln in open(MARKET_RULES) if ln.startswith("WINDOW ")].index(r["window"])
                want = "output .* window op=window " + (f"rule={wi} " if wi else "") + "shard="
            else:
                want = rf"event\s+{r['feed']}\s.* seq={r['seq']} "
            check(re.search(want, ln), f"dadar-journal matched {o['lsn']}: {ln!r} is not {r}")
    if replay_has_output():
        ro = path("d.replay.out")
        journal_tool("replay", j, "--output", ro, expect=0)
        rgot = alerts_of(read_lines(ro))
        check(rgot == got, "replay --output alerts differ from the live ones")
        how = "replay --output equal"
    else:
        # no replay --output: the journal's OUTPUT records of the alerts against the released lines
        d = journal_tool("dump", j, "--type", "output", expect=0)
        recs = []
        for line in d.stdout.splitlines():
            if " alert " in line:
                mm = _DUMP_ALERT.match(line)
                check(mm, f"dadar-journal dump: an alert record not understood: {line!r}")
                recs.append(mm)
        check(len(recs) == len(got), f"{len(recs)} alert records in the journal, {len(got)} alerts released")
        for a, mm in zip(got, recs):
            ns = ((int(mm[9]) * 60 + int(mm[10])) * 60 + int(mm[11])) * 1_000_000_000 + int(mm[12])
            rec = (int(mm[1]), int(mm[2]), int(mm[4] or 0), int(mm[5]), int(mm[6]), int(mm[8]), ns)
            live = (a["lsn"], a["feed"], a["rule"], a["shard"], a["cause"], a["seq"], a["event_ns"])
            check(rec == live, f"journal alert record (lsn, feed, rule, shard, cause, seq, event_ns) {rec} vs "
                               f"the released line {live}")
        how = "journal OUTPUT records = released alerts (replay has no --output)"
    return f"{len(got)} alerts; replay matched {len(outs)} outputs; {how}; replay summary patterns equal"


# ---- E: kill -9 mid-stream ---------------------------------------------------------------------

ALERT = b'"type":"alert"'  # in each alert line of the output file


def big_day():
    day, _v2, exp = planted(2000)
    return day, exp


def said_recovered(errp):
    """Whether the dadar writing stderr to `errp` has said its recovery is done."""
    with open(errp) as f:
        return "recovered to LSN" in f.read()


def crash_scenario(workers, extra=()):
    day, expf = big_day()
    exp = read_expect(expf, drop=("arbitrage",))
    what = "rtc" if not workers else f"staged {workers}" + (" by symbol" if "symbol" in extra else "")
    tag = f"{workers}{'s' if 'symbol' in extra else ''}"
    j, o = path(f"e{tag}.j"), path(f"e{tag}.out")
    kills, recovered = [], []
    for i, after in enumerate((3, 7)):
        # a fresh count: whole lines only, so a line the last kill cut short is not counted
        watch = pcaplib.LineWatch(o, ALERT)
        errp = path(f"e{tag}.{i}.stderr")
        # the day through a named pipe, a few thousand frames at a time until the alert the kill waits
        # for is out: the kill lands mid-stream however fast the machine (CI once saw a restart
        # release all 11 alerts before the kill due after the 7th reached it)
        feed = pcaplib.FifoFeed(day, path(f"e{tag}.fifo"))
        with open(errp, "w") as ef:
            p = start(dadar_cmd(feed.path, extra, workers, journal=j, output=o), stdout=subprocess.DEVNULL,
                      stderr=ef)
        try:
            target = after
            landed = feed.send(p, 0)  # opens the pipe: DPDK's start waits for it
            if i > 0 and landed:
                # a restart: the kill lands after its recovery (which releases what was journaled but
                # not released: the file can pass `after` before the restart has said so) and after
                # an alert of its own, however far the last run got before its kill landed
                deadline = time.monotonic() + 60
                while p.poll() is None and time.monotonic() < deadline and not said_recovered(errp):
                    time.sleep(0.002)
                target = max(after, watch.poll() + 1)
            landed = landed and feed.pump(p, lambda: watch.poll() >= target, len(feed.recs), step=5000)
            running = p.poll() is None
            if running:
                p.send_signal(signal.SIGKILL)  # this dadar alone, by its pid
            p.wait(timeout=60)
        finally:
            feed.close()
            CHILDREN.discard(p)
        with open(errp) as ef:
            err = ef.read()
        if not running and dpdk_failed(err):
            raise Skip(f"DPDK cannot start here: {err.strip()[-400:]}")
        recovered += [x.strip() for x in err.splitlines() if "recovered" in x]
        n = pcaplib.LineWatch(o, ALERT).poll()
        check(running, f"{what}: run {i + 1} ended (exit status {p.returncode}) before its kill (due after alert "
                       f"{after}), {n} of {len(exp)} alerts released; stderr {err.strip()[-600:]}")
        check(landed and target <= n < len(exp),
              f"{what}: kill {i + 1} (after alert {target}) did not land mid-stream: {n} of {len(exp)} alerts "
              f"released; stderr {err.strip()[-400:]}")
        kills.append(n)
    r = dadar(day, extra, workers=workers, journal=j, output=o)
    recovered += [x.strip() for x in r.stderr.splitlines() if "recovered" in x]
    check(len(recovered) == 2 and all("recovered to LSN" in x for x in recovered),
          f"{what}: the two restarts did not both say they recovered: {recovered}; {r.stderr.strip()[-300:]}")
    alerts, lsns, nlines = big_output(o)
    check(all(b > a for a, b in zip(lsns, lsns[1:])), f"{what}: released lsns not strictly increasing")
    if workers:
        same_alerts_sorted(alerts, exp, f"{what}: alerts released across two crashes")
    else:
        same_alerts_in_order(alerts, exp, f"{what}: alerts released across two crashes")
    check_common(alerts, what)
    # the whole journal re-derived from its start (with snapshots, also from the newest one)
    for opt in (["--no-snapshot"], []) if extra else ([],):
        rr = journal_tool("replay", j, *opt, expect=0)
        m = re.search(r"matched (\d+)", rr.stdout)
        check("result     OK" in rr.stdout and m and (int(m[1]) == nlines or not opt and extra),
              f"{what}: replay {' '.join(opt)} of the journal after the crashes (expected {nlines} matched): "
              f"{rr.stdout.strip()[-600:]}")
    shutil.rmtree(j, ignore_errors=True)
    os.unlink(o)
    return (f"{what}: killed with {kills[0]} and {kills[1]} alerts released; all {len(alerts)} once, "
            f"{nlines} outputs once in lsn order; replay OK")


@test
def test_E_kill_9_twice_mid_stream_releases_every_alert_once_rtc():
    return crash_scenario(0)


@test
def test_E_kill_9_twice_mid_stream_releases_every_alert_once_staged_with_snapshots():
    return crash_scenario(2, ["--snapshot-every", "200000"])


@test
def test_E_kill_9_twice_mid_stream_staged_routed_by_symbol_recovers_the_route_from_snapshots():
    return crash_scenario(2, ["--snapshot-every", "200000", "--route", "symbol"])


# ---- F: rule reload mid-stream ----------------------------------------------------------------

class StderrLines:
    """A child's stderr, read by a thread, line by line."""

    def __init__(self, proc):
        self.lines, self.lock = [], threading.Lock()
        self.t = threading.Thread(target=self._read, args=(proc.stderr,), daemon=True)
        self.t.start()

    def _read(self, f):
        for line in f:
            with self.lock:
                self.lines.append(line.rstrip("\n"))

    def find(self, needle):
        with self.lock:
            return next((x for x in self.lines if needle in x), None)

    def wait(self, proc, needle, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            x = self.find(needle)
            if x is not None or proc.poll() is not None:
                return x if x is not None else self.find(needle)
            time.sleep(0.005)
        return None

    def text(self):
        self.t.join(timeout=10)
        with self.lock:
            return "\n".join(self.lines)


def reload_records(jdir):
    """The RULES reload records of a journal (`dadar-journal dump`, read as it streams: the dump of a
    big day is hundreds of MB) and, for each, the first event record after it."""
    p = start([JOURNAL, "dump", jdir], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    rel, nxt, waiting = [], {}, []
    try:
        for line in p.stdout:
            f = line.split(None, 2)
            if len(f) < 2:
                continue
            if f[1] == "rules" and " reload " in line:
                rel.append(line.rstrip("\n"))
                waiting.append(rel[-1])
            elif f[1] == "event" and waiting:
                for w in waiting:
                    nxt[w] = line.rstrip("\n")
                waiting = []
        err = p.stderr.read()
        p.wait(timeout=60)
    finally:
        CHILDREN.discard(p)
    check(p.returncode == 0, f"dadar-journal dump {jdir} exited {p.returncode}: {err.strip()[-400:]}")
    return rel, nxt


@test
def test_F_rule_reload_mid_stream_refuses_a_broken_file_then_switches_to_version_2_and_replays():
    day, expf = big_day()
    exp = read_expect(expf, drop=("arbitrage",))
    text = open(MARKET_RULES).read()
    check("RULESET market VERSION 1" in text and "WITHIN 500 MILLISECONDS" in text, "rules/market.rules changed")
    live = path("live.rules")
    with open(live, "w") as f:
        f.write(text)
    broken = text.replace("WITHIN 500 MILLISECONDS", "WITHIN 500 FORTNIGHTS")
    bl = broken.splitlines()
    bad_line = next(i for i, x in enumerate(bl, 1) if "FORTNIGHTS" in x)
    bad_at = f"{live}:{bad_line}:{bl[bad_line - 1].index('FORTNIGHTS') + 1}:"
    v2 = text.replace("RULESET market VERSION 1", "RULESET market VERSION 2")
    j, o, s = path("f.j"), path("f.out"), path("f.summary.json")
    # the day goes through a named pipe, a few frames at a time until the alerts a step waits for
    # are out, so each reload lands where the test says however fast the machine is
    feed = pcaplib.FifoFeed(day, path("f.fifo"))
    limit, step = len(feed.recs) * 6 // 10, 2000  # frames: about one message each
    p = start(dadar_cmd(feed.path, ["--summary", s], journal=j, output=o, rules=live), stdout=subprocess.DEVNULL,
              stderr=subprocess.PIPE)
    err = StderrLines(p)
    watch = pcaplib.LineWatch(o, ALERT)
    try:
        steps = []
        ok = feed.pump(p, lambda: watch.poll() >= 2, limit, step)
        steps.append(f"2 alerts released: {ok}")
        with open(live + ".tmp", "w") as f:
            f.write(broken)
        os.rename(live + ".tmp", live)
        p.send_signal(signal.SIGHUP)
        refused = err.wait(p, "rule reload") if ok else None
        n_refused = watch.poll()
        more = max(4, n_refused + 1)
        ok = ok and refused is not None and feed.pump(p, lambda: watch.poll() >= more, limit, step)
        steps.append(f"refused with {n_refused} alerts, then {watch.poll()} released: {ok}")
        with open(live + ".tmp", "w") as f:
            f.write(v2)
        os.rename(live + ".tmp", live)
        running = p.poll() is None
        p.send_signal(signal.SIGHUP)
        reloaded = err.wait(p, "market rules reloaded: ") if ok else None
        steps.append(f"running at the second SIGHUP: {running}, reloaded: {reloaded is not None} "
                     f"(frame {feed.sent} of {len(feed.recs)})")
        running = running and feed.send(p, len(feed.recs))
        feed.close()
        p.wait(timeout=120)
    finally:
        feed.close()
        CHILDREN.discard(p)
    errtext = err.text()
    if p.returncode != 0 and dpdk_failed(errtext):
        raise Skip(f"DPDK cannot start here: {errtext.strip()[-400:]}")
    check(p.returncode == 0 and ok and running, f"dadar exited {p.returncode}; {'; '.join(steps)}; "
                                                f"stderr {errtext.strip()[-800:]}")
    check(refused is not None and "refused, the market rules in force stay: " + bad_at in refused,
          f"the broken file's refusal does not name {bad_at}: {refused!r}")
    check(reloaded is not None and "market rules reloaded: market version 2 (2 windows, 10 patterns)" in reloaded,
          f"the reload's notice: {reloaded!r}")
    alerts, lsns, nlines = big_output(o)
    check(all(b > a for a, b in zip(lsns, lsns[1:])), "released lsns not strictly increasing")
    vers = [a["rule_version"] for a in alerts]
    check(vers == sorted(vers) and set(vers) == {1, 2}, f"alert versions {vers}: not 1 then 2")
    # the switch: one market RULES reload record, naming a file in the journal that holds the new text
    rel, after_rel = reload_records(j)
    market = []  # (record line, the text of the file it names)
    for line in rel:
        mm = re.search(r"the rules in (\S+) \((\d+) bytes\)", line)
        check(mm, f"a reload record not understood: {line!r}")
        with open(os.path.join(j, mm[1])) as f:
            t = f.read()
        check(len(t.encode()) == int(mm[2]), f"{mm[1]} holds {len(t.encode())} bytes, its record says {mm[2]}")
        if "PATTERN" in t:  # a market rule set (the fraud chain's own reloads are journaled too)
            market.append((line, t))
    check(len(market) == 1, f"market RULES reload records in the journal: {[m[0] for m in market]} "
                            f"(the refused file must make none)")
    # the text as compiled: the file's, after a `#line 1 FILE` line naming it
    check(market[0][1] == f"#line 1 {live}\n" + v2,
          f"the journaled reload file is not the version 2 text: {market[0][1][:200]!r}")
    switch = int(market[0][0].split()[0])
    before = [a for a in alerts if a["lsn"] < switch]
    after = [a for a in alerts if a["lsn"] > switch]
    check(all(a["rule_version"] == 1 for a in before) and all(a["rule_version"] == 2 for a in after) and
          len(before) + len(after) == len(alerts), f"versions around the switch at LSN {switch}: "
          f"before {[a['rule_version'] for a in before]}, after {sorted({a['rule_version'] for a in after})}")
    check(len(before) > n_refused, f"no alert released between the refusal and the switch ({len(before)} before "
                                   f"the switch, {n_refused} at the refusal)")
    same_alerts_in_order(before, exp[:len(before)], "alerts before the switch (version 1)")
    # the event time of the switch: the first event after the reload record
    ev = after_rel.get(market[0][0])
    check(ev is not None, f"no event record after the reload record {market[0][0]!r}")
    t_switch = dump_ns(ev)
    # planted alerts read no window and begin after the switch: the reload cannot have touched them
    nowin = ("momentum", "bear_signal", "manipulation", "spoofing", "stale_feed")
    must = [e for e in exp if e["pattern"] in nowin and e["first_ns"] > t_switch]
    for e in must:
        a = [x for x in after if x["pattern"] == e["pattern"] and x["symbol"] == e["symbol"]]
        check(len(a) == 1 and not alert_diff(a[0], e), f"after the switch: {e} expected once, seen {a}")
    # what the reload cost or added (windows and partial matches dropped by design): reported
    exp_after = [e for e in exp if e["last_ns"] > t_switch]
    planted_seen = [e for e in exp_after if any(not alert_diff(a, e) for a in after)]
    extra = [a for a in after if not any(not alert_diff(a, e) for e in exp_after)]
    with open(s) as f:
        summ = json.load(f)["patterns"]
    check(summ["rules_version"] == 2 and summ["cep_alerts"] == len(alerts),
          f"summary patterns at the end: version {summ['rules_version']}, cep_alerts {summ['cep_alerts']} "
          f"({len(alerts)} alerts released)")
    rr = journal_tool("replay", j, expect=0, timeout=180)
    m = re.search(r"matched (\d+)", rr.stdout)
    check("result     OK" in rr.stdout and m and int(m[1]) == nlines,
          f"replay of the journal with the reload (expected {nlines} matched): {rr.stdout.strip()[-600:]}")
    shutil.rmtree(j, ignore_errors=True)
    os.unlink(o)
    xs = sorted({(a["pattern"]) for a in extra})
    return (f"refused {bad_at.rsplit('/', 1)[-1]} with {n_refused} alerts released; switch at LSN {switch} "
            f"(t={t_switch}); {len(before)} alerts v1 = expect[:{len(before)}], {len(after)} v2; planted after the "
            f"switch {len(planted_seen)}/{len(exp_after)} seen; {len(extra)} others after it ({xs}); replay OK")


# ---- G: a bad rule file at start ---------------------------------------------------------------

@test
def test_G_a_bad_or_missing_rules_file_stops_the_start_with_exit_2_naming_it():
    day, _v2, _exp = planted()
    text = open(MARKET_RULES).read()
    bad = path("bad.rules")
    btext = text.replace("WITHIN 3 MINUTES", "WITHIN 3 PARSECS", 1)
    with open(bad, "w") as f:
        f.write(btext)
    bl = btext.splitlines()
    line = next(i for i, x in enumerate(bl, 1) if "PARSECS" in x)
    at = f"{bad}:{line}:{bl[line - 1].index('PARSECS') + 1}:"
    r = dadar(day, rules=bad, expect=None)
    check(r.returncode == 2 and at in r.stderr, f"a bad rule file: exit {r.returncode} (expected 2), stderr "
                                                f"{r.stderr.strip()[-600:]!r} should name {at}")
    missing = path("no-such.rules")
    r = dadar(day, ["--rules", MARKET_RULES], rules=missing, expect=None)
    check(r.returncode == 2 and missing in r.stderr, f"a missing rule file: exit {r.returncode} (expected 2), "
                                                     f"stderr {r.stderr.strip()[-600:]!r} should name {missing}")
    return f"{at.rsplit('/', 1)[-1]} and the missing file named, exit 2 both"


# ---- I: state without room for the matched records ----------------------------------------------

@test
def test_I_state_without_room_for_matched_records_gives_the_same_alerts_listing_none():
    """A chain whose cep.key_bytes holds the partial matches but not the records alerts list (a
    journal written before alerts listed them) runs with alerts listing none: the same alerts, refs
    0, no matched lines, a note at start; it replays clean and goes on after a restart; a byte less
    is refused. The least is worked out from `dadar-rules check` and docs/patterns.md (8 bytes per
    record listed, per partial match)."""
    r = run([RULES_TOOL, "check", MARKET_RULES])
    full = int(re.search(r"(\d+) bytes of pattern state", r.stdout)[1])
    per = re.findall(r"max partial (\d+), lists (\d+) record", r.stdout)
    check(len(per) == len(PATTERNS), f"dadar-rules check: {r.stdout[-800:]!r}")
    least = full - sum(int(mp) * int(n) * 8 for mp, n in per)
    day, _v2, expf = planted()
    exp = read_expect(expf, drop=("arbitrage",))
    j, o = path("i.j"), path("i.out")
    res = dadar(day, ["--set", f"cep.key_bytes={least}"], journal=j, output=o, quiet=False)
    check("alerts list none" in res.stderr, f"no note that alerts list no records: {res.stderr[-800:]!r}")
    outs = read_lines(o)
    got = alerts_of(outs)
    same_alerts_in_order(got, exp, "alerts listing none")
    check(all(a["refs"] == 0 for a in got) and not any(x.get("type") == "matched" for x in outs),
          f"alerts list records: {[a['refs'] for a in got]}")
    rr = journal_tool("replay", j, "--no-snapshot", expect=0)
    check("result     OK" in rr.stdout, f"replay: {rr.stdout[-600:]}")
    # a restart on that journal without the setting goes on with the journal's state per symbol
    res2 = dadar(day, [], journal=j, output=o, quiet=False)
    check("alerts list none" in res2.stderr, f"the restart: {res2.stderr[-800:]!r}")
    journal_tool("verify", j, expect=0)
    # a byte less holds not even the partial matches
    bad = dadar(day, ["--set", f"cep.key_bytes={least - 1}"], journal=path("i2.j"), output=path("i2.out"),
                expect=None)
    check(bad.returncode != 0 and "need" in bad.stderr, f"cep.key_bytes={least - 1}: exit {bad.returncode}, "
                                                         f"{bad.stderr[-600:]!r}")
    return f"cep.key_bytes {least} (of {full}): {len(got)} alerts listing none, replay OK, restart OK; {least - 1} refused"


# ---- H: dadar-rules check ----------------------------------------------------------------------

@test
def test_H_dadar_rules_check_lists_the_patterns_and_every_error_of_a_broken_file():
    r = run([RULES_TOOL, "check", MARKET_RULES])
    check(r.returncode == 0, f"dadar-rules check {MARKET_RULES} exited {r.returncode}: {(r.stdout + r.stderr)[-600:]}")
    listed = re.findall(r"^\s*pattern\s+(\w+)", r.stdout, re.M)
    windows = re.findall(r"^\s*window\s+(\w+)", r.stdout, re.M)
    check(listed == list(PATTERNS) and windows == ["volume_1m", "price_5m"],
          f"dadar-rules check lists patterns {listed}, windows {windows}")
    check("version 1" in r.stdout and "10 patterns" in r.stdout, f"dadar-rules check: {r.stdout[:300]!r}")
    text = open(MARKET_RULES).read()
    edits = [("FROM trade\n  TUMBLING 5 MINUTES", "FROM trades\n  TUMBLING 5 MINUTES", "trades"),
             ("WITHIN 3 MINUTES", "WITHIN 3 PARSECS", "PARSECS"),
             ("c AS cancel WHERE ref = o.ref", "c AS cancel WHERE ref = o.nosuchfield", "nosuchfield"),
             ("MAX PARTIAL 2", "MAX PARTIAL 99", "99")]
    for old, new, _tok in edits:
        check(text.count(old) == 1, f"rules/market.rules changed: {old!r}")
        text = text.replace(old, new)
    bad = path("bad-many.rules")
    with open(bad, "w") as f:
        f.write(text)
    lines = text.splitlines()
    want = []
    for _old, new, tok in edits:
        ln = next(i for i, x in enumerate(lines, 1) if new.split("\n")[0] in x)
        want.append(f"{bad}:{ln}:{lines[ln - 1].index(tok) + 1}:")
    r = run([RULES_TOOL, "check", bad])
    out = r.stdout + r.stderr
    check(r.returncode == 1, f"dadar-rules check of a broken file exited {r.returncode}: {out[-600:]}")
    missing = [w for w in want if w not in out]
    check(not missing, f"errors not reported at {missing}: {out[-1200:]!r}")
    errs = [x for x in out.splitlines() if x.startswith(bad + ":")]
    check(errs and all(re.match(re.escape(bad) + r":\d+:\d+: \S", x) for x in errs),
          f"error lines not FILE:LINE:COLUMN: message: {errs}")
    summary = re.search(r"(\d+) errors? in ", out)
    check(summary and int(summary[1]) == len(errs), f"the error count line vs {len(errs)} error lines: {out[-300:]!r}")
    return f"10 patterns listed; a broken file: {len(errs)} errors, the {len(want)} planted ones at their columns"


# ---- runner -------------------------------------------------------------------------------------

def need_binaries():
    for exe in (DADAR, GEN, JOURNAL, RULES_TOOL):
        if not os.access(exe, os.X_OK):
            raise Skip(f"{exe} is not built")


def main(argv):
    return itlib.main("cep_test", TESTS, argv, need_binaries, TAG, BUILD)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
