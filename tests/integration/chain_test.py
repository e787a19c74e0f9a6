#!/usr/bin/env python3
"""The output chain: every top-of-book change dadar decides, checked against an independent model.

The model (BboBook below, built on bookmodel.py) applies the ITCH stream message by message and emits
a top-of-book output whenever an event changes the best bid or the best offer of its instrument
(price, shares or order count: ops/book/book.h DD_BOOK_BID_CHANGED / DD_BOOK_ASK_CHANGED; a replace
that leaves the top as it was is no change). Outputs show both sides of the instrument named by the
message's locate; an empty side is 0.0000 x 0 (0).

Tests (each prints PASS/FAIL/SKIP and its name):
  A  `--output` without `--journal`, run to completion and staged: every change of the RITCH sample
     and of a synthetic day is written, equal to the model (the whole sequence for rtc, per
     instrument for staged); "lsn" strictly increasing, "cause" < "lsn", "op" and "shard" present.
     The model itself is validated against the journaled outputs (`--journal` + `--output`).
  B  the outputs are the same per instrument across rtc, staged with 1 and 2 workers, the offline
     replay (`dadar-journal replay --output` where it exists, else the journal's OUTPUT records via
     `dadar-journal dump`) and a run recovered from its journal; "cause" names the journal record
     of the causing event.
  C  the journal records the capacities: `dadar-journal replay` with no capacity flag reproduces the
     books of a run with small capacities; a conflicting flag is refused naming the key and both
     values, the same value is accepted; the daemon restarts on that journal with the journal's
     capacities and refuses a conflicting one.
  D  the chain with the test operators (`--chain-market book,test_multi,test_timer`: several outputs
     per event; time-driven by the journaled watermark ticks): test_multi equal to its model, every
     operator's outputs per key the same in rtc and staged with 1 and 2 workers, replayed clean by
     `dadar-journal replay`, and the same after a restart that recovers from the journal.

Exit 0 all passed, 1 a failure, 77 (skip, loudly) if a binary is missing or DPDK cannot start here.
usage: tests/integration/chain_test.py [SUBSTRING...]   (env B = build dir, default build)
"""
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bookmodel  # noqa: E402
import itchbook  # noqa: E402
import pcaplib as pl  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("B", "build")
BUILD = BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD)
DADAR, GEN, JOURNAL = (os.path.join(BUILD, b) for b in ("dadar", "dadar-gen", "dadar-journal"))
SAMPLE_FIXED = os.path.join(ROOT, "tests", "data", "itch", "ex20101224.TEST_ITCH_50.fixed")
TAG = "it7"  # prefix of this runner's EAL file prefixes and instance names
IDLE_MS = "200"


class Skip(Exception):
    """The machine cannot run this test."""


# ---- the independent model ----------------------------------------------------------------------

class BboBook(bookmodel.Book):
    """bookmodel.Book plus aggregated levels, the best price of each side, an instrument table
    (capacity.instruments) and the top-of-book outputs an event causes."""

    def __init__(self, max_orders=None, max_levels=None, max_instruments=None):
        super().__init__(max_orders, max_levels)
        self.max_instruments = max_instruments
        self.instruments = set()
        self.stats["instrument_overflow"] = 0
        self.agg = {}   # (locate, side) -> {price: [shares, orders]}
        self.best = {}  # (locate, side) -> best price (absent: side empty)

    def instr(self, locate):
        """The book's instrument table: created on first use, refused when full."""
        if locate in self.instruments:
            return True
        if self.max_instruments is not None and len(self.instruments) == self.max_instruments:
            self.stats["instrument_overflow"] += 1
            return False
        self.instruments.add(locate)
        return True

    def _place(self, locate, ref, side, shares, price):
        # order table first, then the instrument, then the level (the order dadar's book documents)
        if self.max_orders is not None and len(self.orders) == self.max_orders:
            self.stats["order_overflow"] += 1
            return False
        if not self.instr(locate):
            return False
        if not super()._place(locate, ref, side, shares, price):
            return False
        key = (locate, side)
        lv = self.agg.setdefault(key, {}).setdefault(price, [0, 0])
        lv[0] += shares
        lv[1] += 1
        b = self.best.get(key)
        if b is None or (price > b if side == b"B" else price < b):
            self.best[key] = price
        return True

    def _reduce(self, ref, shares):
        o = self.orders[ref]
        locate, side, before, price = o
        super()._reduce(ref, shares)
        key = (locate, side)
        lv = self.agg[key][price]
        lv[0] -= before - o[2]
        if o[2] == 0:
            lv[1] -= 1
            if lv[1] == 0:
                del self.agg[key][price]
                if self.best.get(key) == price:
                    d = self.agg[key]
                    if d:
                        self.best[key] = max(d) if side == b"B" else min(d)
                    else:
                        del self.best[key]

    def top(self, locate, side):
        p = self.best.get((locate, side))
        if p is None:
            return (0, 0, 0)
        sh, n = self.agg[(locate, side)][p]
        return (p, sh, n)

    def step(self, m):
        """Apply one message; the output it causes as (locate, bid, ask) tops, or None."""
        if not m or len(m) != bookmodel.itchbook_len(m):
            return None
        t = m[0:1]
        (locate,) = struct.unpack_from(">H", m, 1)
        side_key = None
        if t in (b"A", b"F"):
            side_key = (locate, m[19:20])
        elif t in (b"E", b"C", b"X", b"D", b"U"):
            o = self.orders.get(struct.unpack_from(">Q", m, 11)[0])
            if o is not None:
                side_key = (o[0], o[1])
        elif t in (b"R", b"H", b"P", b"Q"):
            self.instr(locate)  # directory, trading state, trade and cross make the instrument
        before = self.top(*side_key) if side_key else None
        self.apply(m)
        if side_key is None or self.top(*side_key) == before or locate not in self.instruments:
            return None
        return (locate, self.top(locate, b"B"), self.top(locate, b"S"))

    def write_csv(self, path):
        itchbook.write_csv(self.orders, self.symbols, path)


def price(p):
    return f"{p // 10000}.{p % 10000:04d}"


def out_key(feed, seq, event_ns, locate, bid, ask):
    """The comparable part of an output: everything but lsn, cause, op, shard."""
    return (feed, seq, event_ns, locate, price(bid[0]), bid[1], bid[2], price(ask[0]), ask[1], ask[2])


def json_key(o):
    return (o["feed"], o["seq"], o["event_ns"], o["locate"], o["bid"], o["bid_shares"], o["bid_orders"],
            o["ask"], o["ask_shares"], o["ask_orders"])


def model_outputs(sessions, **caps):
    """Outputs (out_key tuples, in event order) of the streams `sessions` (lists of ITCH messages, each a
    MoldUDP64 session numbered from 1) applied to one book in turn; and the book."""
    b = BboBook(**caps)
    out = []
    for msgs in sessions:
        for seq, m in enumerate(msgs, 1):
            r = b.step(m)
            if r is not None:
                ts = int.from_bytes(m[5:11], "big")
                out.append(out_key(0, seq, ts, r[0], r[1], r[2]))
    return out, b


def per_instrument(keys):
    d = {}
    for k in keys:
        d.setdefault(k[3], []).append(k)
    return d


def first_difference(got, want):
    for i in range(max(len(got), len(want))):
        g = got[i] if i < len(got) else "<end>"
        w = want[i] if i < len(want) else "<end>"
        if g != w:
            return f"first difference at #{i}: expected {w}, seen {g} ({len(want)} expected, {len(got)} seen)"
    return "equal"


def same_sequence(got, want, what):
    if got != want:
        raise AssertionError(f"{what}: {first_difference(got, want)}")


def same_per_instrument(got, want, what):
    g, w = per_instrument(got), per_instrument(want)
    for loc in sorted(set(g) | set(w)):
        if g.get(loc, []) != w.get(loc, []):
            raise AssertionError(f"{what}: locate {loc}: {first_difference(g.get(loc, []), w.get(loc, []))}")


# ---- processes, scratch space -------------------------------------------------------------------

CHILDREN = set()
PREFIXES, INSTANCES = [], []
_n = [0]


def _scratch():
    d = os.environ.get("DD_IT_TMP")
    if d:
        d = os.path.join(d, "chain")
        os.makedirs(d, exist_ok=True)
        return d
    base = os.path.join(BUILD, "it")
    os.makedirs(base, exist_ok=True)
    return tempfile.mkdtemp(prefix=f"{TAG}-chain-", dir=base)


TMP = None


def path(name):
    return os.path.join(TMP, name)


def run(cmd, timeout=120):
    p = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         errors="replace", start_new_session=True)
    CHILDREN.add(p)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)  # the group this runner made for p, nothing else
        out, err = p.communicate()
        raise AssertionError(f"{os.path.basename(str(cmd[0]))} did not finish in {timeout} s: "
                             f"{' '.join(map(str, cmd))}\n{err[-1500:]}")
    finally:
        CHILDREN.discard(p)
    return subprocess.CompletedProcess(cmd, p.returncode, out, err)


def cleanup():
    for p in list(CHILDREN):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
    rt = "/var/run/dpdk" if os.getuid() == 0 else os.path.join(os.environ.get("XDG_RUNTIME_DIR") or "/tmp", "dpdk")
    for prefix in PREFIXES:  # EAL leaves its runtime directory behind, even with --no-shconf
        shutil.rmtree(os.path.join(rt, prefix), ignore_errors=True)
    for name in INSTANCES:  # a killed instance leaves its telemetry segment behind
        try:
            os.unlink(f"/dev/shm/dadar-{name}")
        except OSError:
            pass


def cpus():
    try:
        return sorted(os.sched_getaffinity(0))[:2]
    except AttributeError:
        return [0]


def lcores_for(workers=0, journal=False, output=False):
    """lcores the pipeline needs: main + RX (+ a worker each when staged) + the journal or release stage."""
    return 2 + workers + (1 if journal or output else 0)


def dadar_cmd(pcap, opts, workers=0, journal=None, output=None, nlcores=None):
    """dadar over `pcap`: rtc when workers == 0, else staged with that many workers."""
    _n[0] += 1
    name = f"{TAG}-{os.getpid()}-{_n[0]}"
    PREFIXES.append(name)
    INSTANCES.append(name)
    n = nlcores or lcores_for(workers, journal is not None, output is not None)
    cmd = [DADAR, "--no-huge", "--no-pci", "-m", "1024", "--no-shconf", "--no-telemetry", "--log-level=*:warning",
           "--file-prefix", name, "--lcores", f"(0-{n - 1})@({','.join(map(str, cpus()))})",
           "--vdev", f"net_pcap0,rx_pcap={pcap}", "--", "--instance", name, "--exit-on-idle", IDLE_MS, "--quiet"]
    if workers:
        cmd += ["--pipeline", "staged", "--workers", str(workers)]
    if journal is not None:
        cmd += ["--journal", journal, "--journal-segment-mb", "8"]
    if output is not None:
        cmd += ["--output", output]
    return cmd + list(opts)


def dadar(pcap, opts=(), workers=0, journal=None, output=None, expect=0, nlcores=None):
    r = run(dadar_cmd(pcap, opts, workers, journal, output, nlcores))
    if r.returncode != 0 and "DPDK initialisation failed" in r.stderr:
        raise Skip(f"DPDK cannot start here: {r.stderr.strip()[-400:]}")
    if expect is not None and r.returncode != expect:
        raise AssertionError(f"dadar exited {r.returncode}, expected {expect}: {' '.join(map(str, r.args))}\n"
                             f"      stderr: {r.stderr.strip()[-1500:]}")
    return r


def tool(*args, expect=None):
    r = run([JOURNAL] + list(args))
    if expect is not None and r.returncode != expect:
        raise AssertionError(f"dadar-journal {' '.join(map(str, args))} exited {r.returncode}, expected {expect}:"
                             f"\n      {(r.stderr + r.stdout).strip()[-1500:]}")
    return r


def read_outputs(p):
    if not os.path.exists(p):
        raise AssertionError(f"no output file {p} was written")
    with open(p) as f:
        return [json.loads(line) for line in f]


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def check_numbering(outs, what, shards=1):
    """"lsn" strictly increasing, "cause" < "lsn" and increasing per instrument, "op" and "shard"."""
    lsns = [o["lsn"] for o in outs]
    bad = next((i for i in range(1, len(lsns)) if lsns[i] <= lsns[i - 1]), None)
    check(bad is None, f"{what}: lsn not strictly increasing at line {bad}: {lsns[bad - 1] if bad else ''} then "
                       f"{lsns[bad] if bad else ''}")
    missing = [k for k in ("cause", "op", "shard") if outs and k not in outs[0]]
    check(not missing, f"{what}: the output lines have no {missing}: {outs[0] if outs else ''}")
    for o in outs:
        check(isinstance(o["cause"], int) and 0 < o["cause"] < o["lsn"], f"{what}: cause not below lsn: {o}")
        check(o["op"] == ("book" if o["type"] == "bbo" else o["op"]) and o["op"] in ("book", "test_multi", "test_timer"),
              f"{what}: op is not the operator of its type: {o}")
        check(isinstance(o["shard"], int) and 0 <= o["shard"] < shards, f"{what}: shard out of 0..{shards - 1}: {o}")
    last = {}
    for o in outs:
        # one top-of-book output per event at most; other operators may emit several per cause
        k = (o["op"], o.get("locate", o.get("key")))
        ok = o["cause"] > last.get(k, 0) if o["op"] == "book" else o["cause"] >= last.get(k, 0)
        check(ok, f"{what}: causes of {k} not increasing: {o}")
        last[k] = o["cause"]


# ---- journal dumps ---------------------------------------------------------------------------------

_SIDE = r"(?:-|(\d+\.\d{4}) x (\d+) \((\d+)\))"
# "bbo locate=L seq=S t=..." (the instrument may also be written key=L, after other fields)
_BBO = re.compile(r"bbo (?:\S+ )*?(?:locate|key)=(\d+) seq=(\d+) t=(\d+):(\d\d):(\d\d)\.(\d{9}) bid " + _SIDE
                  + " ask " + _SIDE)
_REC = re.compile(r"^(\d+)\s+(\w+)\s+(\d+)\s+(\d+)\s+(.*)$")


def dump(jdir):
    """[(lsn, type, src, part, payload)] of every record (dadar-journal dump)."""
    r = tool("dump", jdir)
    check(r.returncode == 0, f"dadar-journal dump {jdir} exited {r.returncode}: {r.stderr.strip()[-500:]}")
    recs = []
    for line in r.stdout.splitlines()[1:]:
        m = _REC.match(line)
        check(m, f"dadar-journal dump: unparsed line {line!r}")
        recs.append((int(m[1]), m[2], int(m[3]), int(m[4]), m[5]))
    return recs


def dump_output_key(src, payload):
    m = _BBO.search(payload)
    check(m, f"dadar-journal dump: unparsed output {payload!r}")
    g = m.groups()
    ns = ((int(g[2]) * 60 + int(g[3])) * 60 + int(g[4])) * 1_000_000_000 + int(g[5])

    def side(p, sh, n):
        return ("0.0000", 0, 0) if p is None else (p, int(sh), int(n))
    return (src, int(g[1]), ns, int(g[0])) + side(*g[6:9]) + side(*g[9:12])


def journal_outputs(jdir):
    return [dump_output_key(src, pl_) for _l, t, src, _p, pl_ in dump(jdir) if t == "output"]


def replay_has_output():
    return "--output" in run([JOURNAL, "--help"]).stdout


# ---- captures ----------------------------------------------------------------------------------------

_cache = {}


def cached(key, fn):
    if key not in _cache:
        _cache[key] = fn()
    return _cache[key]


def gen(*args):
    r = run([GEN] + [str(a) for a in args])
    check(r.returncode == 0, f"dadar-gen {' '.join(map(str, args))} failed: {r.stderr}")


def sample():
    """(pcap, messages) of the RITCH sample packetized by dadar-gen."""
    def make():
        pcap = path("sample.pcap")
        gen("itch-file", SAMPLE_FIXED, pcap)
        return pcap, pl.read_binaryfile(SAMPLE_FIXED)
    return cached("sample", make)


def synth(name="synth", seed=7, instruments=30, messages=40000, *extra):
    def make():
        pcap, itch = path(name + ".pcap"), path(name + ".itch")
        gen("synth", pcap, "--seed", seed, "--instruments", instruments, "--messages", messages, "--itch-out", itch,
            *extra)
        return pcap, pl.read_binaryfile(itch)
    return cached(("synth", name), make)


def model(cap):
    return cached(("model", cap[0]), lambda: model_outputs([cap[1]])[0])


def journaled(cap, workers):
    """(journal dir, outputs) of a journaled run with --output (cached)."""
    def make():
        base = path(f"{os.path.basename(cap[0])}-j{workers}")
        dadar(cap[0], workers=workers, journal=base + ".j", output=base + ".out")
        return base + ".j", read_outputs(base + ".out")
    return cached(("journaled", cap[0], workers), make)


def need_binaries():
    for exe in (DADAR, GEN, JOURNAL):
        if not os.access(exe, os.X_OK):
            raise Skip(f"{exe} is not built")


# ---- A: every top-of-book change is written ---------------------------------------------------------

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


@test
def test_model_equals_journaled_outputs_of_the_sample_and_a_synthetic_day_rtc():
    """Validates the model (and this runner) with what works without the new features."""
    for cap in (sample(), synth()):
        _j, outs = journaled(cap, 0)
        same_sequence([json_key(o) for o in outs], model(cap), f"{os.path.basename(cap[0])}: journaled rtc outputs")


@test
def test_output_without_journal_writes_every_bbo_change_rtc():
    for cap in (sample(), synth()):
        o = path(os.path.basename(cap[0]) + "-nj0.out")
        dadar(cap[0], output=o)
        outs = read_outputs(o)
        same_sequence([json_key(x) for x in outs], model(cap), f"{os.path.basename(cap[0])}: rtc --output without --journal")
        check_numbering(outs, f"{os.path.basename(cap[0])} rtc --output without --journal")


@test
def test_output_without_journal_writes_every_bbo_change_staged_per_instrument():
    for cap in (sample(), synth()):
        for workers in (1, 2):
            o = path(f"{os.path.basename(cap[0])}-nj{workers}.out")
            dadar(cap[0], workers=workers, output=o)
            outs = read_outputs(o)
            what = f"{os.path.basename(cap[0])}: staged {workers} worker(s) --output without --journal"
            same_per_instrument([json_key(x) for x in outs], model(cap), what)
            check_numbering(outs, what, shards=workers)


# ---- B: the same outputs everywhere -----------------------------------------------------------------

@test
def test_outputs_per_instrument_equal_across_rtc_and_staged_with_1_and_2_workers_journaled():
    cap = synth()
    want = model(cap)
    for workers in (0, 1, 2):
        _j, outs = journaled(cap, workers)
        what = f"journaled {'rtc' if not workers else f'staged {workers}'} outputs"
        same_per_instrument([json_key(o) for o in outs], want, what)
        lsns = [o["lsn"] for o in outs]
        check(all(b > a for a, b in zip(lsns, lsns[1:])), f"{what}: lsn not strictly increasing")


@test
def test_offline_replay_gives_the_same_outputs_as_the_daemon():
    cap = synth()
    want = model(cap)
    replay_output = replay_has_output()
    for workers in (0, 2):
        jdir, outs = journaled(cap, workers)
        r = tool("replay", jdir, expect=0)
        check("result     OK" in r.stdout, f"replay of the {workers}-worker journal: {r.stdout.strip()[-400:]}")
        same_per_instrument(journal_outputs(jdir), want, f"OUTPUT records of the {workers}-worker journal")
        if replay_output:
            o = path(f"replay{workers}.out")
            tool("replay", jdir, "--output", o, expect=0)
            same_per_instrument([json_key(x) for x in read_outputs(o)], want, f"replay --output of the {workers}-worker journal")
    if not replay_output:
        print("        (dadar-journal replay has no --output: compared the journal's OUTPUT records)")


@test
def test_outputs_after_recovery_equal_an_uninterrupted_run():
    """Half the capture, stop; then the whole capture on the same journal and output file: the file
    holds every output once, as the model says."""
    cap = synth()
    want = model(cap)
    frames = [f for _t, f in pl.read_pcap(cap[0])]
    half = path("synth-half.pcap")
    pl.write_pcap(half, frames[: len(frames) // 2])
    for workers in (0, 2):
        j, o = path(f"rec{workers}.j"), path(f"rec{workers}.out")
        dadar(half, workers=workers, journal=j, output=o)
        n_half = len(read_outputs(o))
        r = dadar(cap[0], workers=workers, journal=j, output=o)
        check("recovered to LSN" in r.stderr, f"the second run did not recover: {r.stderr.strip()[-300:]}")
        outs = read_outputs(o)
        check(0 < n_half < len(outs), f"the first run released {n_half} of {len(outs)} outputs")
        what = f"{'rtc' if not workers else f'staged {workers}'} outputs across a restart"
        if workers:
            same_per_instrument([json_key(x) for x in outs], want, what)
        else:
            same_sequence([json_key(x) for x in outs], want, what)
        lsns = [x["lsn"] for x in outs]
        check(all(b > a for a, b in zip(lsns, lsns[1:])), f"{what}: lsn not strictly increasing")


@test
def test_cause_names_the_journal_record_of_the_causing_event():
    cap = synth()
    for workers in (0, 2):
        jdir, outs = journaled(cap, workers)
        what = f"{'rtc' if not workers else f'staged {workers}'} journaled outputs"
        check_numbering(outs, what, shards=max(1, workers))
        recs = {r[0]: r for r in dump(jdir)}
        for o in outs:
            rec = recs.get(o["cause"])
            check(rec is not None and rec[1] == "event", f"{what}: cause {o['cause']} is not an event record: {rec}")
            m = re.search(r" seq=(\d+) .*locate=(\d+)", rec[4])
            check(m and int(m[1]) == o["seq"] and int(m[2]) == o["locate"] and rec[2] == o["feed"],
                  f"{what}: output {o} names cause {rec}")
            out_rec = recs.get(o["lsn"])
            check(out_rec is not None and out_rec[1] == "output", f"{what}: lsn {o['lsn']} is not an output record")


# ---- C: capacities recorded in the journal ------------------------------------------------------------

CAPS = {"orders": 1500, "levels": 300, "instruments": 24}
CAP_FLAGS = ["--capacity-orders", str(CAPS["orders"]), "--capacity-levels", str(CAPS["levels"]),
             "--capacity-instruments", str(CAPS["instruments"])]


def capped():
    """(capture, journal, the daemon's book dump, its outputs) of a run with small capacities."""
    def make():
        cap = synth("capsynth", 21, 30, 30000)
        base = path("caps")
        dadar(cap[0], CAP_FLAGS + ["--book-dump", base + ".csv"], journal=base + ".j", output=base + ".out")
        return cap, base + ".j", base + ".csv", read_outputs(base + ".out")
    return cached("capped", make)


def copy_journal(jdir, name):
    d = path(name)
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(jdir, d)
    return d


def read(p):
    with open(p) as f:
        return f.read()


@test
def test_small_capacities_refuse_adds_and_give_the_books_the_model_says():
    """Makes test C meaningful: with these capacities the books differ from the default ones."""
    cap, _j, book, outs = capped()
    want, b = model_outputs([cap[1]], max_orders=CAPS["orders"], max_levels=CAPS["levels"],
                            max_instruments=CAPS["instruments"])
    check(b.stats["order_overflow"] > 0 and b.stats["level_overflow"] > 0 and b.stats["instrument_overflow"] > 0,
          f"the capacities refuse nothing in the model: {b.stats}")
    ref = path("caps-model.csv")
    b.write_csv(ref)
    check(read(book) == read(ref), f"the daemon's book dump {book} differs from the model's {ref}")
    same_sequence([json_key(o) for o in outs], want, "outputs with small capacities")
    _u, ub = model_outputs([cap[1]])
    unbounded = path("caps-unbounded.csv")
    ub.write_csv(unbounded)
    check(read(unbounded) != read(ref), "the default capacities would give the same books")


@test
def test_replay_without_capacity_flags_reproduces_the_books_of_a_run_with_small_capacities():
    _cap, jdir, book, _o = capped()
    out = path("caps-replay-noflags.csv")
    r = tool("replay", jdir, "--book-dump", out)
    check(r.returncode == 0, f"replay with no capacity flag exited {r.returncode}: {(r.stdout + r.stderr).strip()[-600:]}")
    check(read(out) == read(book), "replay's book dump differs from the daemon's")


@test
def test_replay_with_the_journals_own_capacities_is_accepted():
    _cap, jdir, book, _o = capped()
    out = path("caps-replay-same.csv")
    r = tool("replay", jdir, "--book-dump", out, *CAP_FLAGS)
    check(r.returncode == 0, f"replay {' '.join(CAP_FLAGS)} exited {r.returncode}: {(r.stdout + r.stderr).strip()[-600:]}")
    check(read(out) == read(book), "replay with the run's capacities: book dump differs from the daemon's")


@test
def test_replay_with_one_matching_capacity_flag_takes_the_others_from_the_journal():
    _cap, jdir, book, _o = capped()
    out = path("caps-replay-one.csv")
    flags = ["--capacity-orders", str(CAPS["orders"])]
    r = tool("replay", jdir, "--book-dump", out, *flags)
    check(r.returncode == 0, f"replay {' '.join(flags)} exited {r.returncode}: {(r.stdout + r.stderr).strip()[-600:]}")
    check(read(out) == read(book), f"replay {' '.join(flags)}: book dump differs from the daemon's")


@test
def test_replay_with_a_conflicting_capacity_is_refused_naming_the_key_and_both_values():
    _cap, jdir, _book, _o = capped()
    r = tool("replay", jdir, "--capacity-orders", "1000")
    err = r.stderr
    check(r.returncode != 0, f"replay --capacity-orders 1000 of a journal written with {CAPS['orders']} exited 0")
    check("capacity.orders" in err and re.search(rf"\b{CAPS['orders']}\b", err) and re.search(r"\b1000\b", err),
          f"the refusal does not name capacity.orders, {CAPS['orders']} and 1000 on stderr (exit {r.returncode}): "
          f"{err.strip()[-500:]}")


@test
def test_restart_without_capacity_flags_recovers_with_the_journals_capacities():
    cap, jdir, book, _o = capped()
    j = copy_journal(jdir, "caps-restart.j")
    out = path("caps-restart.csv")
    r = dadar(cap[0], ["--book-dump", out], journal=j, expect=None)
    check(r.returncode == 0, f"the restart with no capacity flag exited {r.returncode}: {r.stderr.strip()[-600:]}")
    check("recovered to LSN" in r.stderr, f"the restart did not say it recovered: {r.stderr.strip()[-300:]}")
    check(read(out) == read(book), "the restarted daemon's books differ from the first run's")


@test
def test_restart_with_a_conflicting_capacity_refuses_to_start_naming_it():
    cap, jdir, book, _o = capped()
    j = copy_journal(jdir, "caps-conflict.j")
    r = dadar(cap[0], CAP_FLAGS[2:] + ["--capacity-orders", "1000"], journal=j, expect=None)
    check(r.returncode != 0, f"dadar --capacity-orders 1000 on a journal written with {CAPS['orders']} exited 0")
    check("capacity.orders" in r.stderr, f"the refusal does not name capacity.orders (exit {r.returncode}): "
                                         f"{r.stderr.strip()[-500:]}")
    # the refusal changed nothing: the right capacities still recover the same books
    out = path("caps-conflict-after.csv")
    dadar(cap[0], CAP_FLAGS + ["--book-dump", out], journal=j)
    check(read(out) == read(book), "after the refusal, a restart with the journal's capacities gives other books")


# ---- runner ------------------------------------------------------------------------------------------


# ---- D: operators beyond the book: the test operators in every shape, in replay, after recovery ---------

TEST_OPS = ["--chain-market", "book,test_multi,test_timer"]
EVENTED = set(b"SRHAFECXDUPQB")  # ITCH types the decoder turns into events (dataplane/wire/itch.c)


def multi_model(msgs):
    """test_multi's outputs (ops/test/test_ops.h: n = (seq + key) % 4 per event that is not a system
    event, v = index, n, events of the key so far) as (key, seq, v0, v1, v2), in event order."""
    out, per = [], {}
    for seq, m in enumerate(msgs, 1):
        if m[0] not in EVENTED or m[0] == ord("S"):
            continue
        loc = int.from_bytes(m[1:3], "big")
        per[loc] = per.get(loc, 0) + 1
        n = (seq + loc) % 4
        out += [(loc, seq, i, n, per[loc]) for i in range(n)]
    return out


def okey(o):
    return o["locate"] if o["type"] == "bbo" else o["key"]


def by_op_and_key(outs):
    """{(op, key): [the output without lsn, cause and shard, which depend on the shape]}"""
    d = {}
    for o in outs:
        c = {k: v for k, v in o.items() if k not in ("lsn", "cause", "shard")}
        d.setdefault((o["op"], okey(o)), []).append(c)
    return d


def same_by_op_and_key(got, want, what):
    g, w = by_op_and_key(got), by_op_and_key(want)
    for k in sorted(set(g) | set(w)):
        if g.get(k, []) != w.get(k, []):
            raise AssertionError(f"{what}: {k[0]} key {k[1]}: {first_difference(g.get(k, []), w.get(k, []))}")


@test
def test_the_test_operators_give_the_same_outputs_in_every_shape_in_replay_and_after_recovery():
    cap = synth("synth-ops", 9, 12, 20000)
    runs = {}
    for workers in (0, 1, 2):
        j, o = path(f"ops{workers}.j"), path(f"ops{workers}.out")
        dadar(cap[0], TEST_OPS, workers=workers, journal=j, output=o)
        runs[workers] = (j, read_outputs(o))
    rtc = runs[0][1]
    ops = {o["op"] for o in rtc}
    check(ops == {"book", "test_multi", "test_timer"}, f"operators seen in the outputs: {sorted(ops)}")
    # test_multi against the model, in order; v[3] = book outputs about the key caused before
    got = [(x["key"], x["seq"], x["v"][0], x["v"][1], x["v"][2]) for x in rtc if x["op"] == "test_multi"]
    same_sequence(got, multi_model(cap[1]), "rtc test_multi outputs against the model")
    books = {}
    for x in rtc:
        if x["op"] == "book":
            books.setdefault(x["locate"], []).append(x["cause"])
    for x in (x for x in rtc if x["op"] == "test_multi"):
        want = sum(1 for c in books.get(x["key"], []) if c < x["cause"])
        check(x["v"][3] == want, f"test_multi v[3] = {x['v'][3]} for {x}, {want} book outputs of the key before it")
    # the timer fired, from ticks (journaled as events) only
    timer = [x for x in rtc if x["op"] == "test_timer"]
    check(len(timer) > 10, f"test_timer fired {len(timer)} times")
    check(all(x["v"][0] % 1000000 == 0 and x["key"] < 8 for x in timer), "test_timer outputs at multiples of 1 ms")
    for workers in (1, 2):
        same_by_op_and_key(runs[workers][1], rtc, f"staged {workers} vs rtc")
        check_numbering(runs[workers][1], f"staged {workers} with the test operators", shards=workers)
    for workers, (j, outs) in runs.items():
        r = tool("replay", j, expect=0)
        check("result     OK" in r.stdout and f"matched {len(outs)}" in r.stdout,
              f"replay of the {workers}-worker journal: {r.stdout.strip()[-600:]}")
    # recovery: half the capture, then all of it on the same journal and output file
    frames = [f for _t, f in pl.read_pcap(cap[0])]
    half = path("synth-ops-half.pcap")
    pl.write_pcap(half, frames[: len(frames) // 2])
    for workers in (0, 2):
        j, o = path(f"ops-rec{workers}.j"), path(f"ops-rec{workers}.out")
        dadar(half, TEST_OPS, workers=workers, journal=j, output=o)
        n_half = len(read_outputs(o))
        r = dadar(cap[0], TEST_OPS, workers=workers, journal=j, output=o)
        check("recovered to LSN" in r.stderr, f"the second run did not recover: {r.stderr.strip()[-300:]}")
        outs = read_outputs(o)
        check(0 < n_half < len(outs), f"the first run released {n_half} of {len(outs)} outputs")
        same_by_op_and_key(outs, rtc, f"{'rtc' if not workers else f'staged {workers}'} across a restart")


def main(argv):
    global TMP
    try:
        need_binaries()
    except Skip as e:
        print(f"SKIP: chain_test: {e}", file=sys.stderr)
        return 77
    TMP = _scratch()
    signal.signal(signal.SIGTERM, lambda s, f: (cleanup(), sys.exit(128 + s)))
    sel = [t for t in TESTS if not argv or any(a in t.__name__ for a in argv)]
    fails = skips = 0
    try:
        for t in sel:
            try:
                t()
                print(f"  PASS  {t.__name__}", flush=True)
            except Skip as e:
                skips += 1
                print(f"  SKIP  {t.__name__}: {e}", flush=True)
            except AssertionError as e:
                fails += 1
                print(f"  FAIL  {t.__name__}: {e}", flush=True)
            except Exception:  # a bug in the runner is a failure too
                fails += 1
                print(f"  FAIL  {t.__name__}: {traceback.format_exc()}", flush=True)
            finally:
                cleanup()
    finally:
        cleanup()
    print(f"chain_test: {len(sel) - fails - skips} passed, {fails} failed, {skips} skipped")
    if fails:
        print(f"chain_test: scratch files kept in {TMP}")
        return 1
    if not os.environ.get("DD_IT_TMP"):
        shutil.rmtree(TMP, ignore_errors=True)
    return 77 if sel and skips == len(sel) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
