#!/usr/bin/env python3
"""Event time end to end: watermarks, bounded out-of-orderness, lateness and idle feeds
(docs/patterns.md "Time: watermarks and idle feeds" and "Windows").

Each test writes its own capture (MoldUDP64/ITCH 5.0 with chosen timestamps: S, R, H, A, E, P
messages, one multicast group and MoldUDP64 session per feed) and its own rule file, runs dadar
over it with DPDK's net_pcap PMD and compares the window results, late records and alerts of
`--output` with values computed by hand (a comment at each case). Times below are ms after
09:30:00 (T0); the window `vol` is TUMBLING 1 SECONDS LATENESS 200 MILLISECONDS over `trade`
(count() AS n, sum(shares) AS v), the pattern `quiet` is `m !x` (a trade, then no message of the
symbol for 2 s).

Tests (each prints PASS/FAIL/SKIP and its name):
  1a out of order within watermark.delay_us (500 ms; trades up to 350 ms out of order): every window
     fires once, on time, with every trade counted; nothing is late.
  1b the same stream with delay 0: the trade 150 ms out of order comes after its window fired but
     within LATENESS (a late firing, "late":true, its aggregates updated); the one 350 ms out of
     order comes after end + LATENESS (a "late" side output: time, window_end, watermark).
  2  a window is emitted exactly once on time (caused by a tick: seq 0), plus one late firing per
     late record within LATENESS (each caused by that record, aggregates cumulative); after
     end + LATENESS a record goes to the "late" output and fires nothing; the summary's window
     counters say the same.
  3  two feeds (two groups, merged in one capture): the watermark is the minimum of the active feeds
     (a window of feed a's symbol does not fire while feed b lags behind its end but keeps
     sending); once b is quiet while a moves event time on by more than watermark.idle_ms, b is
     idle and the window fires: its cause is the tick made right after a's event that did it, which
     `dadar-journal dump` shows with idle_feeds=1; every tick's watermark and idle feeds as computed
     by hand; b back after that has its record late.
  4a every feed idle, watermark.all_idle=hold: after the capture ends nothing more fires (the window
     whose end is past the last event time, the absence whose deadline is) and no tick is made.
  4b watermark.all_idle=clock (watermark.idle_ms 50, --exit-on-idle 2500): the watermark goes on
     with the wall clock after the data stops: that window fires and the absence completes, each
     caused by a tick (idle_feeds=0) that passed its time.
  5  `dadar-journal replay` re-derives every output of the journaled runs of 3, 4a and 4b
     ("result OK", matched = the lines released): the idle decisions are in the journaled ticks.

Exit 0 all passed, 1 a failure, 77 (skip, loudly) if a binary is missing or DPDK cannot start here.
usage: tests/integration/watermark_test.py [SUBSTRING...]   (env B = build dir, default build)
"""
import json
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pcaplib as pl  # noqa: E402
import itlib  # noqa: E402
from itlib import CHILDREN, INSTANCES, PREFIXES, Skip, cleanup, cpus, path, run, start  # noqa: E402,F401

_n = [0]  # runs started (names their EAL prefix and instance)

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("B", "build")
BUILD = BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD)
DADAR, JOURNAL = (os.path.join(BUILD, b) for b in ("dadar", "dadar-journal"))
TAG = "it10"  # prefix of this runner's EAL file prefixes and instance names
IDLE_MS = "300"  # --exit-on-idle of the runs that do not test the wall clock
MEM_MB = "1024"
GROUP_A, GROUP_B, PORT = "233.54.12.111", "233.54.12.110", 26477
FEED_A = ["--feed", f"a={GROUP_A}:{PORT}"]
FEEDS_AB = FEED_A + ["--feed", f"b={GROUP_B}:{PORT}"]  # a is feed 0, b feed 1

T0 = 34_200 * 1_000_000_000  # 09:30:00, ns since midnight (a multiple of the 1 s windows)


def ms(x):
    """T0 + x milliseconds, in ns."""
    return T0 + x * 1_000_000


WINDOW = """WINDOW vol
  FROM trade
  TUMBLING 1 SECONDS
  LATENESS 200 MILLISECONDS
  AGGREGATE count() AS n, sum(shares) AS v
END
"""
QUIET = """PATTERN quiet
  PARTITION BY symbol
  MATCH (m !x)
  DEFINE m AS trade, x AS any
  WITHIN 2 SECONDS
END
"""


def dadar_cmd(pcap, rules, opts=(), journal=None, output=None, idle_ms=IDLE_MS):
    """dadar, run to completion, over `pcap` with the market rules `rules`."""
    _n[0] += 1
    name = f"{TAG}-{os.getpid()}-{_n[0]}"
    PREFIXES.append(name)
    INSTANCES.append(name)
    n = 2 + (1 if journal is not None or output is not None else 0)
    cmd = [DADAR, "--no-huge", "--no-pci", "-m", MEM_MB, "--no-shconf", "--no-telemetry", "--log-level=*:warning",
           "--file-prefix", name, "--lcores", f"(0-{n - 1})@({','.join(map(str, cpus()))})",
           "--vdev", f"net_pcap0,rx_pcap={pcap}", "--", "--instance", name, "--exit-on-idle", idle_ms, "--quiet",
           "--rules", rules]
    if journal is not None:
        cmd += ["--journal", journal, "--journal-segment-mb", "8"]
    if output is not None:
        cmd += ["--output", output]
    return [str(c) for c in cmd + list(opts)]


def dpdk_failed(stderr):
    return "DPDK initialisation failed" in stderr or "EAL: FATAL" in stderr


def dadar(pcap, rules, opts=(), journal=None, output=None, idle_ms=IDLE_MS, expect=0):
    r = run(dadar_cmd(pcap, rules, opts, journal, output, idle_ms))
    if r.returncode != 0 and dpdk_failed(r.stderr):
        raise Skip(f"DPDK cannot start here: {r.stderr.strip()[-400:]}")
    if expect is not None and r.returncode != expect:
        raise AssertionError(f"dadar exited {r.returncode}, expected {expect}: {' '.join(r.args)}\n"
                             f"      stderr: {r.stderr.strip()[-1500:]}")
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


def write_rules(name, *parts):
    p = path(name)
    with open(p, "w") as f:
        f.write("RULESET wm VERSION 1\n\n" + "\n".join(parts))
    return p


# ---- captures ------------------------------------------------------------------------------------

def at(msg, t):
    """An ITCH message (pcaplib builds them at a fixed time) with timestamp t (ns since midnight)."""
    return msg[:5] + t.to_bytes(6, "big") + msg[11:]


class Feed:
    """One market feed: a multicast group and its own MoldUDP64 session, one message a datagram."""

    def __init__(self, group, session):
        self.group, self.session, self.seq = group, session, 1

    def frame(self, msg):
        f = pl.udp_frame(pl.mold(self.seq, [msg], session=self.session), dst=self.group, port=PORT)
        seq, self.seq = self.seq, self.seq + 1
        return f, seq


class Capture:
    """Messages of one or more feeds in the order they arrive (one pcap); remembers each message's
    (feed, seq) under a label for the assertions."""

    def __init__(self, *feeds):
        self.feeds, self.frames, self.label = feeds, [], {}

    def add(self, feed, t_ms, msg, label=None):
        f, seq = self.feeds[feed].frame(at(msg, ms(t_ms)))
        self.frames.append(f)
        if label is not None:
            self.label[label] = (feed, seq)
        return seq

    # the message kinds the tests use (pcaplib's builders, timestamp set by `at`)
    def system(self, feed, t, code=b"O", label=None):
        return self.add(feed, t, pl.itch_system(code), label)

    def directory(self, feed, t, locate, sym, label=None):
        return self.add(feed, t, pl.itch_directory(locate, sym), label)

    def trading(self, feed, t, locate, sym, label=None):
        return self.add(feed, t, pl.itch_trading_action(locate, sym, b"T"), label)

    def order(self, feed, t, locate, sym, ref, shares=100, price=100_0000, side=b"S", label=None):
        return self.add(feed, t, pl.itch_add(locate, ref, side, shares, sym, price), label)

    def execute(self, feed, t, locate, ref, shares, match, label=None):
        return self.add(feed, t, pl.itch_exec(locate, ref, shares, match), label)

    def trade(self, feed, t, locate, sym, shares, match, price=100_0100, label=None):
        return self.add(feed, t, pl.itch_trade(locate, sym, shares, price, match), label)

    def write(self, name):
        p = path(name)
        pl.write_pcap(p, self.frames)
        return p


# ---- outputs and the journal --------------------------------------------------------------------

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


def rel(ns):
    """ns since midnight as ms after T0 (for messages)."""
    return (ns - T0) / 1e6


def win(o):
    """A window result as (symbol, start ms, end ms, late, n, v)."""
    return (o["symbol"], rel(o["start"]), rel(o["end"]), o["late"], o["n"], o["v"])


def late_rec(o):
    """A late record as (symbol, time ms, window_end ms, watermark ms)."""
    return (o["symbol"], rel(o["time"]), rel(o["window_end"]), rel(o["watermark"]))


def market(outs, what):
    """The window, late and alert outputs (the book's bbo lines aside), with the keys they must have."""
    res = [o for o in outs if o.get("type") in ("window", "late", "alert")]
    for o in res:
        check(o.get("op") == ("cep" if o["type"] == "alert" else "window") and o.get("rule_version") == 1,
              f"{what}: op or rule_version off: {o}")
        if o["type"] == "window":
            check(o.get("window") == "vol" and {"start", "end", "late", "n", "v", "symbol"} <= set(o),
                  f"{what}: a window line without its keys: {o}")
        elif o["type"] == "late":
            check(o.get("window") == "vol" and {"time", "window_end", "watermark", "symbol"} <= set(o),
                  f"{what}: a late line without its keys: {o}")
    return res


_REC = re.compile(r"^(\d+)\s+(\w+)\s+(\d+)\s+(\d+)\s+(.*)$")
_EV = re.compile(r"^(\w+) (\S+) seq=(\d+) t=(\d\d):(\d\d):(\d\d)\.(\d{9}) ")
_TICK = re.compile(r"watermark=(\d+)(?: idle_feeds=([\d,]+))?\s*$")


class Rec:
    def __init__(self, lsn, kind, src, payload):
        self.lsn, self.kind, self.src, self.payload = lsn, kind, src, payload
        self.ev = self.seq = self.t = self.wm = None
        self.idle = ()
        if kind == "event":
            m = _EV.match(payload)
            check(m, f"dadar-journal dump: an event not understood: {payload!r}")
            self.ev, self.seq = m[1], int(m[3])
            self.t = ((int(m[4]) * 60 + int(m[5])) * 60 + int(m[6])) * 1_000_000_000 + int(m[7])
            if self.ev == "tick":
                mm = _TICK.search(payload)
                check(mm, f"dadar-journal dump: a tick without its watermark: {payload!r}")
                self.wm = int(mm[1])
                self.idle = tuple(int(x) for x in mm[2].split(",")) if mm[2] else ()

    def __repr__(self):
        return f"{self.lsn} {self.kind} {self.src} {self.payload}"


def dump(jdir):
    """Every record of a journal (`dadar-journal dump`), in LSN order."""
    r = journal_tool("dump", jdir, expect=0)
    recs = []
    for line in r.stdout.splitlines()[1:]:
        m = _REC.match(line)
        check(m, f"dadar-journal dump: a line not understood: {line!r}")
        recs.append(Rec(int(m[1]), m[2], int(m[3]), m[5]))
    return recs


def ticks(recs):
    return [r for r in recs if r.ev == "tick"]


def event_of(recs, feed, seq):
    """The journal record of message `seq` of feed `feed`."""
    x = [r for r in recs if r.kind == "event" and r.ev != "tick" and r.src == feed and r.seq == seq]
    check(len(x) == 1, f"the journal holds {len(x)} event records of feed {feed} seq {seq}")
    return x[0]


def replay_ok(jdir, nlines, what):
    r = journal_tool("replay", jdir, expect=0)
    m = re.search(r"outputs\s+journaled (\d+), derived (\d+), matched (\d+)", r.stdout)
    check("result     OK" in r.stdout and m and int(m[1]) == int(m[2]) == int(m[3]) == nlines,
          f"{what}: replay (expected {nlines} outputs matched): {r.stdout.strip()[-800:]}")
    return int(m[3])


# ---- 1: out of order within the bound, and the same with delay 0 -------------------------------

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def capture_1():
    """One feed, AAPL; trades t1..t8 with t4 150 ms and t7 350 ms out of time order."""
    def make():
        c = Capture(Feed(GROUP_A, "WMONE00001"))
        c.system(0, -1000)
        c.directory(0, -990, 1, "AAPL")
        c.trading(0, -980, 1, "AAPL")
        c.order(0, 100, 1, "AAPL", ref=1, shares=500, price=100_0000)      # resting S 500 @ 100.0000
        c.trade(0, 200, 1, "AAPL", 10, match=1, label="t1")               # window [0,1000)
        c.execute(0, 900, 1, 1, 20, match=2, label="t2")                  # E: [0,1000), price from the book
        c.trade(0, 1100, 1, "AAPL", 30, match=3, label="t3")              # [1000,2000)
        c.trade(0, 950, 1, "AAPL", 40, match=4, label="t4")               # [0,1000), 150 ms out of order
        c.trade(0, 1600, 1, "AAPL", 50, match=5, label="t5")              # [1000,2000)
        c.trade(0, 2300, 1, "AAPL", 60, match=6, label="t6")              # [2000,3000)
        c.trade(0, 1950, 1, "AAPL", 70, match=7, label="t7")              # [1000,2000), 350 ms out of order
        c.trade(0, 2600, 1, "AAPL", 80, match=8, label="t8")              # [2000,3000)
        c.order(0, 3700, 1, "AAPL", ref=2, shares=100, price=99_0000)      # not a trade: moves time on
        return c.write("one.pcap"), c.label, write_rules("window.rules", WINDOW)
    return cached("capture_1", make)


@test
def test_1a_out_of_order_within_delay_us_every_window_fires_once_with_every_trade():
    pcap, _lab, rules = capture_1()
    o = path("1a.out")
    dadar(pcap, rules, FEED_A + ["--watermark-delay-us", "500000"], output=o)
    got = market(read_lines(o), "delay 500 ms")
    # watermark = latest event time - 500 ms (one feed):
    #   t5@1600 -> 1100 >= 1000: [0,1000) fires with t1, t2, t4 (t4@950 came at wm 600 < 1000): n 3, v 10+20+40
    #   t8@2600 -> 2100 >= 2000: [1000,2000) fires with t3, t5, t7 (t7@1950 came at wm 1800): n 3, v 30+50+70
    #   A@3700  -> 3200 >= 3000: [2000,3000) fires with t6, t8: n 2, v 60+80
    # each on time (late false), caused by the tick after t5, t8, the A (seq 0: a tick)
    want = [("AAPL", 0, 1000, False, 3, 70), ("AAPL", 1000, 2000, False, 3, 150), ("AAPL", 2000, 3000, False, 2, 140)]
    check([o["type"] for o in got] == ["window"] * 3 and [win(o) for o in got] == want,
          f"delay 500 ms: outputs {[(o['type'], win(o) if o['type'] == 'window' else o) for o in got]}, "
          f"expected windows {want}")
    check(all(o["seq"] == 0 and o["feed"] == 0 for o in got), f"a window not caused by a tick: {got}")
    check(sum(o["n"] for o in got) == 8 and sum(o["v"] for o in got) == 360, "not every one of the 8 trades counted")
    return f"3 windows once each, all 8 trades counted (n {[o['n'] for o in got]}, v {[o['v'] for o in got]})"


@test
def test_1b_the_same_stream_with_delay_0_makes_the_out_of_order_trades_late():
    pcap, lab, rules = capture_1()
    o = path("1b.out")
    dadar(pcap, rules, FEED_A + ["--watermark-delay-us", "0"], output=o)
    got = market(read_lines(o), "delay 0")
    # watermark = latest event time:
    #   t3@1100 -> 1100: [0,1000) fires with t1, t2: n 2, v 30 (on time, caused by the tick)
    #   t4@950 at wm 1100 < 1000 + 200: within LATENESS: a late firing with t4: n 3, v 70 (caused by t4)
    #   t5@1600 -> 1600 (>= 1200: [0,1000) is gone); t6@2300 -> 2300: [1000,2000) fires with t3, t5: n 2, v 80
    #   t7@1950 at wm 2300 >= 2000 + 200: a late record (window_end 2000, watermark 2300), caused by t7
    #   t8@2600; A@3700 -> 3700: [2000,3000) fires with t6, t8: n 2, v 140
    want = [("window", ("AAPL", 0, 1000, False, 2, 30), 0),
            ("window", ("AAPL", 0, 1000, True, 3, 70), lab["t4"][1]),
            ("window", ("AAPL", 1000, 2000, False, 2, 80), 0),
            ("late", ("AAPL", 1950, 2000, 2300), lab["t7"][1]),
            ("window", ("AAPL", 2000, 3000, False, 2, 140), 0)]
    seen = [(o["type"], win(o) if o["type"] == "window" else late_rec(o), o["seq"]) for o in got]
    check(seen == want, f"delay 0: outputs (type, values, cause seq) {seen}, expected {want}")
    return "late firing of [0,1000) by t4 (n 3, v 70), t7 to the late output (window_end 2000, watermark 2300)"


# ---- 2: once on time, one late firing per late record ------------------------------------------

@test
def test_2_a_window_fires_once_on_time_plus_one_late_firing_per_late_record():
    c = Capture(Feed(GROUP_A, "WMTWO00001"))
    c.system(0, -1000)
    c.directory(0, -990, 1, "AAPL")
    c.directory(0, -980, 2, "MSFT")
    c.trade(0, 100, 1, "AAPL", 10, match=1)                 # AAPL [0,1000)
    c.trade(0, 400, 1, "AAPL", 20, match=2)                 # AAPL [0,1000)
    c.trade(0, 500, 2, "MSFT", 7, match=3)                  # MSFT [0,1000)
    c.trade(0, 1050, 1, "AAPL", 30, match=4)                # AAPL [1000,2000); wm 1050: both [0,1000) fire
    c.trade(0, 980, 1, "AAPL", 40, match=5, label="l1")     # late, wm 1050 < 1200
    c.trade(0, 990, 1, "AAPL", 50, match=6, label="l2")     # late, wm 1050 < 1200
    c.trade(0, 1100, 2, "MSFT", 8, match=7)                 # MSFT [1000,2000)
    c.trade(0, 1150, 1, "AAPL", 60, match=8)                # AAPL [1000,2000); wm 1150
    c.trade(0, 999, 1, "AAPL", 70, match=9, label="l3")     # late, wm 1150 < 1200
    c.order(0, 1250, 1, "AAPL", ref=1)                      # wm 1250 >= 1200: AAPL [0,1000) is closed
    c.trade(0, 995, 1, "AAPL", 80, match=10, label="l4")    # too late: wm 1250 >= 1000 + 200
    c.order(0, 2300, 2, "MSFT", ref=2)                      # wm 2300: both [1000,2000) fire
    pcap = c.write("two.pcap")
    rules = write_rules("window.rules", WINDOW)
    o, s = path("2.out"), path("2.summary.json")
    dadar(pcap, rules, FEED_A + ["--summary", s], output=o)
    got = market(read_lines(o), "delay 0")
    seq = {k: v[1] for k, v in c.label.items()}
    # on time, caused by ticks (seq 0): AAPL [0,1000) n 2 v 30 and MSFT [0,1000) n 1 v 7 at the tick of 1050;
    # then one late firing per late record, aggregates cumulative: +40 (n 3, v 70), +50 (n 4, v 120),
    # +70 (n 5, v 190), each caused by its record; l4 (995) only a late output (window_end 1000, watermark 1250);
    # at the tick of 2300: AAPL [1000,2000) n 2 v 90 (1050, 1150) and MSFT [1000,2000) n 1 v 8.
    # (grouped by cause: the windows one tick fires together may come in either order)
    want = [[("window", ("AAPL", 0, 1000, False, 2, 30), 0), ("window", ("MSFT", 0, 1000, False, 1, 7), 0)],
            [("window", ("AAPL", 0, 1000, True, 3, 70), seq["l1"])],
            [("window", ("AAPL", 0, 1000, True, 4, 120), seq["l2"])],
            [("window", ("AAPL", 0, 1000, True, 5, 190), seq["l3"])],
            [("late", ("AAPL", 995, 1000, 1250), seq["l4"])],
            [("window", ("AAPL", 1000, 2000, False, 2, 90), 0), ("window", ("MSFT", 1000, 2000, False, 1, 8), 0)]]
    groups = []
    for i, o in enumerate(got):
        x = (o["type"], win(o) if o["type"] == "window" else late_rec(o), o["seq"])
        if i and o["cause"] == got[i - 1]["cause"]:
            groups[-1].append(x)
        else:
            groups.append([x])
    check([sorted(g, key=repr) for g in groups] == [sorted(g, key=repr) for g in want],
          f"outputs by cause (type, values, cause seq) {groups}, expected {want}")
    ontime = {}
    for o in got:
        if o["type"] == "window" and not o["late"]:
            ontime[(o["symbol"], o["start"])] = ontime.get((o["symbol"], o["start"]), 0) + 1
    check(set(ontime.values()) == {1} and len(ontime) == 4, f"on-time firings per window: {ontime}")
    with open(s) as f:
        p = json.load(f).get("patterns", {})
    counters = {k: p.get(k) for k in ("window_fired", "window_late_firings", "window_late")}
    check(counters == {"window_fired": 4, "window_late_firings": 3, "window_late": 1},
          f"summary window counters {counters}, expected fired 4, late firings 3, late 1")
    return "4 windows once on time, AAPL [0,1000) 3 late firings (n 3, 4, 5), 1 late record; summary agrees"


# ---- 3: two feeds, the minimum, an idle source released ----------------------------------------

def run_3():
    """Feed a (AAPL, locate 1) runs ahead; feed b (MSFT, locate 2) lags behind, then goes quiet."""
    def make():
        c = Capture(Feed(GROUP_A, "WMFDA00001"), Feed(GROUP_B, "WMFDB00001"))
        A, B = 0, 1
        # (ev = the largest event time so far; seen_b = ev when b last spoke; b idle once ev - seen_b > 1000)
        c.system(B, -300)
        c.directory(B, -290, 2, "MSFT")
        c.trading(B, -280, 2, "MSFT")                                # b: wm -300, -290, -280 (ticks)
        c.system(A, -300)
        c.directory(A, -290, 1, "AAPL")
        c.trading(A, -280, 1, "AAPL")                                # min(a, b) <= -280: no tick
        c.trade(A, 100, 1, "AAPL", 10, match=1)                      # ev 100; wm min(100, -280)
        c.trade(B, 50, 2, "MSFT", 1, match=101)                      # seen_b 100; wm 50 (tick)
        c.trade(A, 600, 1, "AAPL", 20, match=2)                      # ev 600 (600 - 100 <= 1000)
        c.trade(B, 300, 2, "MSFT", 2, match=102)                     # seen_b 600; wm 300 (tick)
        c.trade(A, 1200, 1, "AAPL", 30, match=3, label="a_past")     # a past AAPL [0,1000)'s end; wm 300
        c.trade(B, 700, 2, "MSFT", 3, match=103, label="b700")       # seen_b 1200; wm 700 (tick)
        c.trade(A, 1500, 1, "AAPL", 40, match=4)
        c.trade(B, 900, 2, "MSFT", 4, match=104, label="b900")       # seen_b 1500; wm 900 (tick)
        c.trade(A, 1800, 1, "AAPL", 50, match=5)
        c.order(B, 950, 2, "MSFT", ref=7, label="b950")              # seen_b 1800; wm 950 (tick); b's last
        c.trade(A, 2400, 1, "AAPL", 60, match=6)                     # 2400 - 1800 = 600: b active, wm 950
        c.order(A, 2700, 1, "AAPL", ref=8, label="a2700")            # 900: b active, wm 950 (no tick)
        c.trade(A, 2900, 1, "AAPL", 70, match=7, label="a2900")      # 1100 > 1000: b idle: wm 2900 (tick, idle 1)
        c.order(A, 3500, 1, "AAPL", ref=9, label="a3500")            # b idle: wm 3500 (tick, idle 1)
        c.trade(B, 1100, 2, "MSFT", 5, match=105, label="b_back")    # b back, behind: no tick; its trade late
        pcap = c.write("feeds.pcap")
        rules = write_rules("window.rules", WINDOW)
        o, j = path("3.out"), path("3.j")
        dadar(pcap, rules, FEEDS_AB + ["--watermark-idle-ms", "1000", "--watermark-delay-us", "0"], journal=j,
              output=o)
        return read_lines(o), dump(j), c.label, j, o
    return cached("run_3", make)


@test
def test_3_two_feeds_the_minimum_holds_a_window_until_the_lagging_feed_goes_quiet():
    outs, recs, lab, _j, _o = run_3()
    got = market(outs, "two feeds")
    tk = ticks(recs)
    # every tick, by hand: b's preamble moves the watermark (a not seen yet holds nothing back); then the
    # minimum is b's time while b speaks: 50, 300, 700, 900, 950; a's event at 2900 has moved the largest
    # event time on by 1100 ms (> idle_ms 1000) since b last spoke: b idle, the watermark a's: 2900, then
    # 3500 (b still idle); b back at 1100 moves nothing (a watermark never goes back)
    want_ticks = [(ms(t), ()) for t in (-300, -290, -280, 50, 300, 700, 900, 950)] + [(ms(2900), (1,)),
                                                                                      (ms(3500), (1,))]
    check([(t.wm, t.idle) for t in tk] == want_ticks,
          f"ticks (watermark ms, idle feeds) {[(rel(t.wm), t.idle) for t in tk]}, expected "
          f"{[(rel(w), i) for w, i in want_ticks]}")
    # each tick right after the event that moved it: b's until 950, then a's 2900 and 3500
    by_lsn = {r.lsn: r for r in recs}
    before = [by_lsn.get(t.lsn - 1) for t in tk]
    check(all(b is not None and b.kind == "event" and b.ev != "tick" for b in before) and
          [(b.src, rel(b.t)) for b in before] == [(1, -300), (1, -290), (1, -280), (1, 50), (1, 300), (1, 700),
                                                  (1, 900), (1, 950), (0, 2900), (0, 3500)],
          f"the inputs right before the ticks: {before}")
    # the outputs: AAPL [0,1000) n 2 v 30 (10, 20), MSFT [0,1000) n 4 v 10 (1+2+3+4), AAPL [1000,2000) n 3
    # v 120 (30, 40, 50) at the tick of 2900; AAPL [2000,3000) n 2 v 130 (60, 70) at the tick of 3500; b's
    # trade at 1100, back after being idle: late (MSFT [1000,2000): watermark 3500 >= 2000 + 200)
    t2900, t3500 = tk[8], tk[9]
    want = sorted([(t2900.lsn, "window", ("AAPL", 0, 1000, False, 2, 30)),
                   (t2900.lsn, "window", ("MSFT", 0, 1000, False, 4, 10)),
                   (t2900.lsn, "window", ("AAPL", 1000, 2000, False, 3, 120)),
                   (t3500.lsn, "window", ("AAPL", 2000, 3000, False, 2, 130)),
                   (event_of(recs, *lab["b_back"]).lsn, "late", ("MSFT", 1100, 2000, 3500))])
    seen = sorted((o["cause"], o["type"], win(o) if o["type"] == "window" else late_rec(o)) for o in got)
    check(seen == want, f"outputs (cause LSN, type, values) {seen}, expected {want}")
    # the order relative to the inputs: a passed the end of AAPL [0,1000) before b's 700, 900 and 950, and the
    # window fired only after them, when b had been quiet while a moved event time on (a's 2700 did not do it)
    aapl0 = next(o for o in got if o["type"] == "window" and o["symbol"] == "AAPL" and rel(o["start"]) == 0)
    lsn = {k: event_of(recs, *v).lsn for k, v in lab.items()}
    check(lsn["a_past"] < lsn["b700"] < lsn["b900"] < lsn["b950"] < lsn["a2700"] < lsn["a2900"] < aapl0["cause"],
          f"LSNs: a past the end {lsn['a_past']}, b 700/900/950 {lsn['b700']}/{lsn['b900']}/{lsn['b950']}, "
          f"a 2700 {lsn['a2700']}, a 2900 {lsn['a2900']}, the window's cause {aapl0['cause']}")
    check(by_lsn[aapl0["cause"]].ev == "tick" and by_lsn[aapl0["cause"]].idle == (1,),
          f"the tick that fired AAPL [0,1000): {by_lsn[aapl0['cause']]} (expected idle_feeds=1)")
    return (f"held at b's 50..950 while a went to 2700; fired by the tick at LSN {aapl0['cause']} "
            f"(watermark 2900 ms, idle_feeds=1); b back at 1100 late")


# ---- 4: every source idle: hold, clock ---------------------------------------------------------

def capture_4():
    """One feed: MSFT's last trade 2.3 s before the last event (its absence completes on the data);
    AAPL's last trade 500 ms before it (its absence needs the watermark past the end of the data)."""
    def make():
        c = Capture(Feed(GROUP_A, "WMIDL00001"))
        c.system(0, -1000)
        c.directory(0, -990, 1, "AAPL")
        c.directory(0, -980, 2, "MSFT")
        c.directory(0, -970, 3, "IBM")
        c.trading(0, -960, 1, "AAPL")
        c.trading(0, -950, 2, "MSFT")
        c.trading(0, -940, 3, "IBM")
        c.trade(0, -500, 2, "MSFT", 5, match=1, label="msft")          # MSFT [-1000,0); quiet from -500, due 1500
        c.trade(0, 200, 1, "AAPL", 10, match=2)                        # AAPL [0,1000); quiet from 200
        c.order(0, 300, 1, "AAPL", ref=1, shares=100, price=10_0000)   # an AAPL message: ends quiet from 200
        c.execute(0, 700, 1, 1, 20, match=3)                           # AAPL [0,1000); quiet from 700
        c.trade(0, 1300, 1, "AAPL", 30, match=4, label="aapl")         # AAPL [1000,2000); quiet from 1300, due 3300
        c.trading(0, 1800, 3, "IBM", label="last")                     # the last event (IBM: nobody's absence)
        return (c.write("idle.pcap"), c.label,
                write_rules("quiet.rules", WINDOW, QUIET))
    return cached("capture_4", make)


IDLE4 = ["--watermark-idle-ms", "50", "--watermark-delay-us", "0"]
EXIT4 = "2500"


def run_4(mode):
    def make():
        pcap, lab, rules = capture_4()
        o, j = path(f"4{mode}.out"), path(f"4{mode}.j")
        t = time.monotonic()
        dadar(pcap, rules, FEED_A + IDLE4 + ["--watermark-all-idle", mode], journal=j, output=o, idle_ms=EXIT4)
        return read_lines(o), dump(j), lab, j, o, time.monotonic() - t
    return cached(("run_4", mode), make)


# what both modes release while the data flows (delay 0, one feed):
#   P AAPL@200 -> wm 200 >= 0: MSFT [-1000,0) fires, n 1 v 5
#   P AAPL@1300 -> wm 1300: AAPL [0,1000) fires, n 2 v 30 (10@200, 20@700; the E's price from the book)
#   H IBM@1800 -> wm 1800 >= 1500: MSFT's quiet (its trade at -500, no MSFT message since) completes,
#                 event_ns = the deadline 1500, first_ns = last_ns = -500, one record
ON_DATA = [("window", ("MSFT", -1000, 0, False, 1, 5)), ("window", ("AAPL", 0, 1000, False, 2, 30)),
           ("alert", ("quiet", "MSFT", 1500, -500, -500, 1))]


def alert_v(o):
    return (o["pattern"], o["symbol"], rel(o["event_ns"]), rel(o["first_ns"]), rel(o["last_ns"]), o["events"])


def values(o):
    return win(o) if o["type"] == "window" else alert_v(o) if o["type"] == "alert" else late_rec(o)


@test
def test_4a_all_idle_hold_after_the_capture_ends_nothing_more_fires():
    outs, recs, lab, _j, _o, secs = run_4("hold")
    got = market(outs, "all_idle hold")
    seen = [(o["type"], values(o)) for o in got]
    # hold: every feed idle (50 ms after the last packet), the watermark stays at the latest time, 1800: AAPL
    # [1000,2000) (30@1300) never fires, AAPL's quiet (due 3300) never completes, in 2.5 s of idle
    check(seen == ON_DATA, f"all_idle hold: outputs {seen}, expected {ON_DATA}")
    tk = ticks(recs)
    last = event_of(recs, *lab["last"])
    check(tk and tk[-1].wm == ms(1800) and tk[-1].lsn == last.lsn + 1 and tk[-1].idle == (),
          f"all_idle hold: the last tick {tk[-1] if tk else None} is not the one right after the last event "
          f"(LSN {last.lsn}, watermark 1800 ms, no idle feed)")
    alert = got[2]
    check(tk[-1].lsn == alert["cause"],
          f"MSFT's quiet is not caused by the tick of 1800: {alert}")
    return f"only the 3 outputs of the data in {secs:.1f} s; no tick after the last event's (1800 ms)"


@test
def test_4b_all_idle_clock_the_watermark_follows_the_wall_clock_after_the_data_stops():
    outs, recs, lab, _j, _o, secs = run_4("clock")
    got = market(outs, "all_idle clock")
    seen = [(o["type"], values(o)) for o in got]
    # clock: 50 ms after the last packet the feed is idle, every feed is, and the watermark goes on from 1800 with
    # the wall clock; in the 2.5 s before --exit-on-idle it passes 2000 (AAPL [1000,2000) fires: n 1 v 30) and
    # 3300 (AAPL's quiet from 1300 completes: event_ns 3300, first_ns = last_ns = 1300, one record)
    want = ON_DATA + [("window", ("AAPL", 1000, 2000, False, 1, 30)), ("alert", ("quiet", "AAPL", 3300, 1300, 1300, 1))]
    check(seen == want, f"all_idle clock: outputs {seen}, expected {want}")
    tk = ticks(recs)
    last = event_of(recs, *lab["last"])
    after = [t for t in tk if t.lsn > last.lsn + 1]
    check(after and all(t.idle == (0,) for t in after) and all(b.wm > a.wm for a, b in zip(after, after[1:])) and
          after[0].wm > ms(1800), f"all_idle clock: the ticks after the data stopped are not made with feed 0 idle "
                                  f"and rising from 1800 ms: {after[:3]} ... {after[-3:]}")
    # each caused by the first tick that passed its time (the tick before it had not), made with feed 0 idle:
    # the window when the watermark reaches its end (docs/outputs.md: end <= watermark);
    # the absence when the watermark is more than WITHIN after its first record (a record at exactly the
    # deadline would still be within it: "Matching, exactly", step 1, which the watermark does the same way)
    by_lsn = {t.lsn: i for i, t in enumerate(tk)}
    for o, due, passed in ((got[3], ms(2000), lambda w: w >= ms(2000)), (got[4], ms(3300), lambda w: w > ms(3300))):
        i = by_lsn.get(o["cause"])
        check(i and tk[i].idle == (0,) and passed(tk[i].wm) and not passed(tk[i - 1].wm) and tk[i].lsn > last.lsn,
              f"{values(o)} not caused by the first tick past {rel(due)} ms made idle: cause {o['cause']}, "
              f"ticks {tk[i - 1:i + 1] if i else None}")
    return (f"AAPL [1000,2000) fired and AAPL's quiet completed after the data stopped; {len(after)} clock ticks "
            f"up to {rel(after[-1].wm):.0f} ms in {secs:.1f} s")


# ---- 5: replay ----------------------------------------------------------------------------------

@test
def test_5_replay_re_derives_every_output_of_the_journaled_runs():
    notes = []
    for what, res in (("two feeds (3)", run_3), ("all_idle hold (4a)", lambda: run_4("hold")),
                      ("all_idle clock (4b)", lambda: run_4("clock"))):
        r = res()
        outs, j = r[0], r[3]
        notes.append(f"{what} {replay_ok(j, len(outs), what)}")
    return "result OK, matched: " + ", ".join(notes)


# ---- runner -------------------------------------------------------------------------------------

def need_binaries():
    for exe in (DADAR, JOURNAL):
        if not os.access(exe, os.X_OK):
            raise Skip(f"{exe} is not built")


def main(argv):
    return itlib.main("watermark_test", TESTS, argv, need_binaries, TAG, BUILD)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
