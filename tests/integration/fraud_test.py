#!/usr/bin/env python3
"""The payment fraud engine end to end: dadar's decisions, payment by payment, against the
independent oracle (fraudmodel.py) and the hand-computed boundary cases (fraud_cases.py).

Tests (each prints PASS/FAIL/SKIP and its name):
  A  the boundary cases through `dadar-gen payments-csv`, run to completion and staged (2 workers),
     with the cases' merchant, MCC and risk-area tables, for the default (paytm) rules and the UPI
     rules: every decision equals the oracle's (txn_id, score, action, reasons in order) and the
     hand-computed expectation (rows the CSV cannot carry, channel 'cash' or type 'p2x', are left out).
  B  a synthetic day (`dadar-gen payments --seed 7 --count 30000`) with its merchant table: every
     decision equals the oracle's; every label's reason fires on at least one payment of that label.
  C  out-of-order and late payments (a seeded CSV of ~5000 payments over 3 days for 50 payers, ~10%
     earlier than their payer's latest, by minutes, hours and days; bursts, repeated amounts,
     travel, shared devices): dadar equals the oracle for both rule sets, and `out_of_order` is true
     exactly for the valid payments earlier than their payer's latest earlier valid payment.
     Regression (found by C, fixed in 1245776): a new payer must not cut an earlier payer's history.
  D  the journal: `--journal` + `--output`; `dadar-journal replay` exits 0 and the decisions equal
     those of the run without a journal.
  E  kill -9 at ~30% and ~60% of the decisions of a 300k-payment stream, restart on the same
     journal and capture each time: the decisions released across the runs are the uninterrupted
     run's, each txn_id once, in the same order (run to completion; staged with 2 workers and
     snapshots). Regression (found by E): a journal cut between the two event records of one
     payment (`payment`, `payment_x`) by hand; the restart must still decide that payment.
  F  ITCH and payments in one process: the book dump and the bbo outputs equal those of the ITCH
     capture alone, the decisions those of the payment capture alone.
  G  bad configuration: a rule file with an error (exit 2, FILE:LINE:COLUMN:), a merchant table with
     a bad line (exit 2 naming fraud.merchant_table, the file and the line), a missing rule file
     (exit 2 naming the path).
  H  hostile payment messages (wrong lengths, unknown type, version 2, random bytes, invalid
     fields): exit 0, pay_bad_length / pay_unknown / pay_bad_version counted exactly, a decision
     for exactly the identifiable messages, `block` / ["invalid"] / 100 for the invalid ones.
  I  rule reloads mid-stream, the capture handed to dadar through a named pipe in parts so each
     reload lands at a known point however fast the machine is (CI once ran a whole stream before
     the control command arrived): SIGHUP with a broken file (refused, named FILE:LINE:COLUMN),
     then the UPI set (the decisions switch at one payment and equal the oracle switching there;
     the journal replays both sides); the /dadar/reload control command likewise, with the
     monitoring commands beside it; a SIGHUP while dadar starts does not end it.
  J  messages carry journald priorities when stderr is the journal.

Exit 0 all passed, 1 a failure, 77 (skip, loudly) if a binary is missing or DPDK cannot start here.
usage: tests/integration/fraud_test.py [SUBSTRING...]   (env B = build dir, default build)
"""
import csv
import json
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fraud_cases  # noqa: E402
import fraudmodel  # noqa: E402
import pcaplib as pl  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("B", "build")
BUILD = BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD)
DADAR, GEN, JOURNAL = (os.path.join(BUILD, b) for b in ("dadar", "dadar-gen", "dadar-journal"))
SAMPLE_FIXED = os.path.join(ROOT, "tests", "data", "itch", "ex20101224.TEST_ITCH_50.fixed")
UPI_RULES = os.path.join(ROOT, "rules", "fraud-upi.rules")
TAG = "ftst"  # prefix of this runner's EAL file prefixes and instance names
IDLE_MS = "200"
PAY_GROUP, PAY_PORT = "239.192.26.48", 26480
CHANNELS = ("upi", "card", "wallet")
TYPES = ("p2p", "p2m", "bill")
NS, H, D = fraud_cases.NS, fraud_cases.H, fraud_cases.D


class Skip(Exception):
    """The machine cannot run this test."""


# ---- processes, scratch space -------------------------------------------------------------------

CHILDREN = set()
PREFIXES, INSTANCES = [], []
_n = [0]
TMP = None


def _scratch():
    d = os.environ.get("DD_IT_TMP")
    if d:
        d = os.path.join(d, "fraud")
        os.makedirs(d, exist_ok=True)
        return d
    base = os.path.join(BUILD, "it")
    os.makedirs(base, exist_ok=True)
    return tempfile.mkdtemp(prefix=f"{TAG}-fraud-", dir=base)


def path(name):
    return os.path.join(TMP, name)


def _start(cmd, **kw):
    p = subprocess.Popen([str(c) for c in cmd], start_new_session=True, text=True, errors="replace", **kw)
    CHILDREN.add(p)
    return p


def run(cmd, timeout=120):
    p = _start(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)  # the group this runner made for p, nothing else
        out, err = p.communicate()
        raise AssertionError(f"{os.path.basename(str(cmd[0]))} did not finish in {timeout} s: "
                             f"{' '.join(map(str, cmd))}\n{err[-1500:]}")
    finally:
        CHILDREN.discard(p)
    return subprocess.CompletedProcess([str(c) for c in cmd], p.returncode, out, err)


def cleanup():
    for p in list(CHILDREN):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
        CHILDREN.discard(p)
    rt = "/var/run/dpdk" if os.getuid() == 0 else os.path.join(os.environ.get("XDG_RUNTIME_DIR") or "/tmp", "dpdk")
    for prefix in PREFIXES:  # EAL leaves its runtime directory behind, even with --no-shconf
        shutil.rmtree(os.path.join(rt, prefix), ignore_errors=True)
    for name in INSTANCES:  # a killed instance leaves its telemetry segment behind
        try:
            os.unlink(f"/dev/shm/dadar-{name}")
        except OSError:
            pass
    del PREFIXES[:], INSTANCES[:]


def cpus():
    try:
        return sorted(os.sched_getaffinity(0))[:2]
    except AttributeError:
        return [0]


def dadar_cmd(pcap, opts=(), workers=0, journal=None, output=None):
    """dadar over `pcap`: rtc when workers == 0, else staged with that many workers."""
    _n[0] += 1
    name = f"{TAG}-{os.getpid()}-{_n[0]}"
    PREFIXES.append(name)
    INSTANCES.append(name)
    n = 2 + workers + (1 if journal is not None or output is not None else 0)
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


def dpdk_failed(stderr):
    return "DPDK initialisation failed" in stderr or "EAL: FATAL" in stderr


def dadar(pcap, opts=(), workers=0, journal=None, output=None, expect=0):
    r = run(dadar_cmd(pcap, opts, workers, journal, output))
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


def check(cond, what):
    if not cond:
        raise AssertionError(what)


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


def decisions(outs):
    return [o for o in outs if o.get("type") == "decision"]


def read_decisions(p):
    d = decisions(read_lines(p))
    for o in d:
        check(o.get("op") == "fraud", f"a decision whose op is not fraud: {o}")
    return d


_cache = {}


def cached(key, fn):
    if key not in _cache:
        _cache[key] = fn()
    return _cache[key]


# ---- comparisons --------------------------------------------------------------------------------

def dkey(o):
    """What the oracle and dadar must agree on: txn_id, score, action, reasons in order."""
    return (o["txn_id"], o["score"], o["action"], list(o["reasons"]))


def first_difference(got, want):
    for i in range(max(len(got), len(want))):
        g = got[i] if i < len(got) else "<end>"
        w = want[i] if i < len(want) else "<end>"
        if g != w:
            return f"first difference at #{i}: expected {w}, dadar {g} ({len(want)} expected, {len(got)} seen)"
    return "equal"


def same_as_oracle(got, want, what, in_order=True):
    """dadar's decisions against the oracle's, payment by payment. In order (run to completion, or
    staged where payments keep input order), else by txn_id (each exactly once) plus per-payer order."""
    g = [dkey(o) for o in got]
    w = [dkey(o) for o in want]
    if in_order:
        if g != w:
            raise AssertionError(f"{what}: {first_difference(g, w)}")
        return
    txns = [o["txn_id"] for o in got]
    check(len(txns) == len(set(txns)), f"{what}: a txn_id decided twice")
    byt = {k[0]: k for k in g}
    check(set(byt) == {k[0] for k in w}, f"{what}: decided txn_ids differ from the payments "
                                         f"({len(byt)} decided, {len(w)} payments)")
    bad = [(k, byt[k[0]]) for k in w if byt[k[0]] != k]
    check(not bad, f"{what}: {len(bad)} decisions differ from the oracle; first: expected {bad[0][0] if bad else ''}"
                   f", dadar {bad[0][1] if bad else ''}")
    per = {}
    for o in got:
        per.setdefault(o["payer"], []).append(o["txn_id"])
    wper = {}
    for o in want:
        wper.setdefault(o["payer"], []).append(o["txn_id"])
    check(per == wper, f"{what}: the decisions of some payer are not in input order")


def strip(o, drop=("lsn", "cause")):
    return {k: v for k, v in o.items() if k not in drop}


def oracle(csv_path, rules="paytm", merchant=None, mcc=None, areas=None):
    """The oracle's decisions for a CSV (cached by its arguments), and the payments."""
    def make():
        pays = fraudmodel.load_csv(csv_path)
        model = fraudmodel.Model(rules=rules, **fraudmodel.load_tables(merchant, mcc, areas))
        return [model.decide(p) for p in pays], pays
    return cached(("oracle", csv_path, rules, merchant, mcc, areas), make)


def rules_opts(rules):
    return ["--set", f"fraud.rules={UPI_RULES}"] if rules == "upi" else []


def table_opts(merchant=None, mcc=None, areas=None):
    out = []
    for key, f in (("fraud.merchant_table", merchant), ("fraud.mcc_table", mcc), ("fraud.risk_areas", areas)):
        if f:
            out += ["--set", f"{key}={f}"]
    return out


def write_csv(p, rows):
    with open(p, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(fraudmodel.PAYMENT_COLUMNS)
        for r in rows:
            w.writerow([r[c] for c in fraudmodel.PAYMENT_COLUMNS])


# ---- A: the boundary cases ----------------------------------------------------------------------

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def cases():
    """(paths of the case files, pcap of the rows the CSV can carry, txn_ids left out)."""
    def make():
        d = path("cases")
        paths = fraud_cases.write_case_files(d)
        with open(paths["cases.csv"], newline="") as f:
            rows = list(csv.DictReader(f))
        keep = [r for r in rows if r["channel"] in CHANNELS and r["type"] in TYPES]
        left_out = {int(r["txn_id"]) for r in rows if r not in keep}
        ok_csv = os.path.join(d, "cases-encodable.csv")
        write_csv(ok_csv, keep)
        pcap = os.path.join(d, "cases.pcap")
        gen("payments-csv", ok_csv, pcap)
        return paths, ok_csv, pcap, left_out
    return cached("cases", make)


@test
def test_A_boundary_cases_equal_the_oracle_and_the_hand_computed_expectations():
    paths, ok_csv, pcap, left_out = cases()
    tables = dict(merchant=paths["merchants.csv"], mcc=paths["mcc.csv"], areas=paths["areas.csv"])
    with open(paths["expected.json"]) as f:
        expected = json.load(f)
    notes = []
    for rules in ("paytm", "upi"):
        want, pays = oracle(ok_csv, rules, **tables)
        exp = {int(t): v for t, v in expected[rules].items() if int(t) not in left_out}
        check(len(exp) > 20, f"{rules}: only {len(exp)} hand-computed expectations")
        for workers in (0, 2):
            what = f"{rules} {'rtc' if not workers else f'staged {workers}'}"
            o = path(f"cases-{rules}-{workers}.out")
            dadar(pcap, rules_opts(rules) + table_opts(**tables), workers=workers, output=o)
            got = read_decisions(o)
            same_as_oracle(got, want, f"{what}: dadar vs oracle", in_order=not workers)
            byt = {x["txn_id"]: x for x in got}
            for txn, (score, action, reasons) in sorted(exp.items()):
                x = byt.get(txn)
                check(x is not None, f"{what}: no decision for txn {txn}")
                check((x["score"], x["action"], sorted(x["reasons"])) == (score, action, reasons),
                      f"{what}: txn {txn}: hand-computed {score} {action} {reasons}, dadar {x['score']} "
                      f"{x['action']} {x['reasons']}")
        notes.append(f"{rules}: {len(pays)} payments, {len(exp)} hand-computed")
    return "; ".join(notes) + f" (left out, not encodable: {sorted(left_out)})"


# ---- B: a synthetic day -------------------------------------------------------------------------

def synthetic():
    """(pcap, csv, merchant table, labels) of `dadar-gen payments --seed 7 --count 30000`."""
    def make():
        pcap, s, m, lab = (path(f"syn7.{x}") for x in ("pcap", "csv", "merchants.csv", "labels.csv"))
        gen("payments", pcap, "--seed", 7, "--count", 30000, "--csv", s, "--merchant-table", m, "--labels", lab)
        return pcap, s, m, lab
    return cached("synthetic", make)


def synthetic_run(workers=0):
    """dadar's decisions (full records) over the synthetic day without a journal (cached)."""
    def make():
        pcap, _s, m, _l = synthetic()
        o = path(f"syn7-{workers}.out")
        dadar(pcap, table_opts(merchant=m), workers=workers, output=o)
        return read_decisions(o)
    return cached(("synthetic_run", workers), make)


@test
def test_B_synthetic_day_equals_the_oracle_and_every_label_fires_its_reason():
    pcap, s, m, lab = synthetic()
    want, pays = oracle(s, "paytm", merchant=m)
    got = synthetic_run(0)
    same_as_oracle(got, want, "seed 7 rtc: dadar vs oracle")
    with open(lab, newline="") as f:
        labels = {int(r["txn_id"]): r["scenario"] for r in csv.DictReader(f)}
    byt = {x["txn_id"]: x for x in got}
    per, fired = {}, {}
    for txn, label in labels.items():
        per[label] = per.get(label, 0) + 1
        if label in byt.get(txn, {}).get("reasons", []):
            fired[label] = fired.get(label, 0) + 1
    check(len(per) == 14, f"the labels name {len(per)} scenarios, expected 14: {sorted(per)}")
    missing = sorted(label for label in per if not fired.get(label))
    check(not missing, f"labels whose reason dadar never gave a payment of that label: {missing}")
    actions = {}
    for x in got:
        actions[x["action"]] = actions.get(x["action"], 0) + 1
    counts = ", ".join(f"{label} {fired.get(label, 0)}/{per[label]}" for label in sorted(per))
    return f"{len(got)} decisions {actions}; label: fired/labelled: {counts}"


# ---- C: out of order and late payments ----------------------------------------------------------

CITIES = [(19_076_000, 72_877_700), (28_613_900, 77_209_000), (12_971_600, 77_594_600),
          (17_385_000, 78_486_700), (13_082_700, 80_270_700), (22_572_600, 88_363_900),
          (18_520_400, 73_856_700), (26_912_400, 75_787_300)]


def late_stream(seed=20260310, payers=50, n=5000):
    """A CSV of payments in input order whose times go back for ~10% of them (minutes, hours,
    more than a day), with bursts, repeated amounts, large and round amounts, travel, shared
    devices, merchants and a few invalid payments. Returns (csv path, how many are late by kind)."""
    rnd = random.Random(seed)
    start = 1_773_081_000 * NS  # 2026-03-10 00:00 IST
    span = 3 * D
    pid = [50_000_000_000 + i * 7919 for i in range(payers)]
    home = {p: rnd.choice(CITIES) for p in pid}
    dev = {p: 900_000 + i for i, p in enumerate(pid)}
    shared = [990_001, 990_002, 990_003]
    merchants = [70_000 + i for i in range(40)]
    latest = {}
    rows = []
    clock = start
    kinds = {"minutes": 0, "hours": 0, "days": 0, "tie": 0}
    txn = 0
    step = span // n

    def loc(p):
        r = rnd.random()
        if r < 0.1:
            return (0, 0)
        if r < 0.13:  # somewhere else: travel, fast or impossible
            c = rnd.choice(CITIES)
            return (c[0] + rnd.randint(-20_000, 20_000), c[1] + rnd.randint(-20_000, 20_000))
        h = home[p]
        return (h[0] + rnd.randint(-30_000, 30_000), h[1] + rnd.randint(-30_000, 30_000))

    def amount():
        r = rnd.random()
        if r < 0.05:
            return rnd.choice([1_000_000, 2_500_000, 5_000_000, 10_000_000, 999_900, 2_499_900, 4_999_900])
        if r < 0.10:
            return rnd.randint(900_000, 999_900)
        if r < 0.25:
            return rnd.randint(1_000_000, 6_000_000)
        if r < 0.30:
            return rnd.randrange(100_000, 3_000_000, 100_000)
        return rnd.randint(1_000, 500_000)

    def emit(p, t, amt, device=None, invalid=None):
        nonlocal txn
        txn += 1
        m = rnd.choice(merchants) if rnd.random() < 0.5 else 0
        kind = "p2m" if m else rnd.choice(("p2p", "p2p", "bill"))
        lat, lon = loc(p)
        row = {"txn_id": str(txn), "time_ns": str(t), "payer": str(p), "payee": "0" if m else str(p + 1),
               "merchant": str(m), "amount_minor": str(amt), "currency": "INR",
               "mcc": str(rnd.choice((5411, 5812, 7995, 4829, 0))) if m else "0",
               "channel": rnd.choice(CHANNELS), "type": kind,
               "device": str(device if device is not None else (rnd.choice(shared) if rnd.random() < 0.08 else dev[p])),
               "lat_e6": str(lat), "lon_e6": str(lon)}
        if invalid:
            row.update(invalid)
        rows.append(row)
        if not invalid:
            latest[p] = max(latest.get(p, 0), t)

    while len(rows) < n:
        clock += rnd.randint(1, 2 * step)
        p = rnd.choice(pid)
        r = rnd.random()
        if r < 0.115 and p in latest:  # late
            k = rnd.random()
            if k < 0.4:
                back, what = rnd.randint(1, 59 * 60) * NS + rnd.randint(0, NS - 1), "minutes"
            elif k < 0.75:
                back, what = rnd.randint(H // NS, 23 * 3600) * NS, "hours"
            else:
                back, what = rnd.randint(D // NS + 1, D // NS + 20 * 3600) * NS, "days"
            t = latest[p] - back
            if t <= start - 2 * D:
                continue
            kinds[what] += 1
            emit(p, t, amount())
        elif r < 0.13 and p in latest:  # a tie with the payer's latest
            kinds["tie"] += 1
            emit(p, latest[p], amount())
        elif r < 0.145:  # a burst: 10-25 payments 5-200 s apart, often one amount repeated
            t = clock
            same = rnd.choice((None, rnd.randint(1_000, 300_000)))
            for _ in range(rnd.randint(10, 25)):
                emit(p, t, same or amount())
                t += rnd.randint(5, 200) * NS
            clock = max(clock, t)
        elif r < 0.148:  # invalid, some with times far ahead (they must not move the payer's latest)
            bad = rnd.choice(({"amount_minor": "0"}, {"currency": "XYZ"}, {"time_ns": "0"},
                              {"lat_e6": "95000000"}, {"amount_minor": "-100"}))
            emit(p, clock + rnd.randint(1, 3) * D, amount(), invalid=bad)
        else:
            emit(p, clock, amount())
    csv_path = path("late.csv")
    write_csv(csv_path, rows)
    return csv_path, kinds


def expected_out_of_order(pays, grace_ns=0):
    """txn_id -> out_of_order for the valid payments: earlier than the payer's latest earlier valid
    payment's time (input order) by more than grace_ns."""
    latest, out = {}, {}
    for p in pays:
        if fraudmodel.invalid(p):
            continue
        last = latest.get(p["payer"])
        out[p["txn_id"]] = last is not None and p["time_ns"] < last - grace_ns
        latest[p["payer"]] = p["time_ns"] if last is None else max(last, p["time_ns"])
    return out


@test
def test_C_late_and_out_of_order_payments_equal_the_oracle_in_both_rule_sets():
    def make():
        c, kinds = late_stream()
        pcap = path("late.pcap")
        gen("payments-csv", c, pcap)
        return c, kinds, pcap
    c, kinds, pcap = cached("late", make)
    notes, fails = [], []
    for rules in ("paytm", "upi"):
        want, pays = oracle(c, rules)
        o, summ = path(f"late-{rules}.out"), path(f"late-{rules}.json")
        dadar(pcap, rules_opts(rules) + ["--summary", summ], output=o)
        got = read_decisions(o)
        # more than the late grace (24 h) behind: counted as too late
        too_late = sum(expected_out_of_order(pays, 24 * 3600 * 10**9).values())
        counted = json.load(open(summ))["payments"]["too_late"]
        if counted != too_late or too_late == 0:
            fails.append(f"{rules}: {counted} payments counted too late, {too_late} are more than 24 h late")
        ooo = expected_out_of_order(pays)
        late = sum(ooo.values())
        check(0.07 * len(pays) < late < 0.15 * len(pays), f"the stream has {late} late payments of {len(pays)}")
        try:
            same_as_oracle(got, want, f"{rules} rtc: dadar vs oracle")
        except AssertionError as e:
            g, w = [dkey(x) for x in got], [dkey(x) for x in want]
            diff = [x[0] for x, y in zip(g, w) if x != y]
            fails.append(f"{e} [{len(diff)} payments differ: txn {diff[:10]}]")
        wrong = [(x["txn_id"], x["out_of_order"], ooo[x["txn_id"]]) for x in got
                 if x["txn_id"] in ooo and x["out_of_order"] != ooo[x["txn_id"]]]
        if wrong:
            fails.append(f"{rules}: out_of_order wrong for {len(wrong)} payments; first (txn, dadar, expected): "
                         f"{wrong[:5]}")
        fired = {}
        for x in got:
            for r in x["reasons"]:
                fired[r] = fired.get(r, 0) + 1
        notes.append(f"{rules}: {late} out of order, reasons {fired}")
    check(not fails, " || ".join(fails))
    return f"{len(pays)} payments, late by {kinds}; " + "; ".join(notes)


@test
def test_C_the_zscore_rule_switched_on_equals_the_oracle():
    """amount_zscore (off as shipped) on, at 2.0 standard deviations, over the late stream (about
    100 payments a payer, amounts spread): the oracle's integer EWMA, written from docs/rules.md."""
    c, _kinds, pcap = cached("late", lambda: None)
    rules = path("zscore.rules")
    text = open(os.path.join(ROOT, "rules", "fraud-paytm.rules")).read()
    on = text.replace("when zscore  over 3.0  alpha_shift 4  min_count 10  off",
                      "when zscore  over 2.0  alpha_shift 3  min_count 10")
    check(on != text, "the shipped zscore line changed: update this test")
    with open(rules, "w") as f:
        f.write(on)
    pays = fraudmodel.load_csv(c)
    model = fraudmodel.Model(rules="paytm", zscore=(20, 3, 10, 20))
    want = [model.decide(x) for x in pays]
    o = path("zscore.out")
    dadar(pcap, ["--set", f"fraud.rules={rules}"], output=o)
    got = read_decisions(o)
    same_as_oracle(got, want, "paytm with amount_zscore on: dadar vs oracle")
    n = sum("amount_zscore" in x["reasons"] for x in got)
    check(n > 20, f"amount_zscore fired only {n} times: the test does not exercise it")
    return f"amount_zscore fired for {n} of {len(got)} payments, as the oracle's"


@test
def test_C_a_new_payer_leaves_an_earlier_payers_window_history_alone():
    """Regression, found by test C: payer 11 pays 100 then 3,000,000, payer 13 (new) pays 100, payer
    11 pays 3,000,000: its hour window holds 6,000,100 > 5,000,000 (velocity_hour_amount, both rule
    sets). dadar lost payer 11's history when payer 13 took a never-used slot of the payer table
    (its zero head looked like a history list starting at entry 0; fixed in 1245776)."""
    rows = []
    for txn, (dt, payer, amount) in enumerate(((0, 11, 100), (1, 11, 3_000_000), (2, 13, 100),
                                               (3, 11, 3_000_000)), start=1):
        rows.append({"txn_id": txn, "time_ns": fraud_cases.BASE + dt * NS, "payer": payer, "payee": 12,
                     "merchant": 0, "amount_minor": amount, "currency": "INR", "mcc": 0, "channel": "upi",
                     "type": "p2p", "device": payer + 10, "lat_e6": 0, "lon_e6": 0})
    c, pcap = path("newpayer.csv"), path("newpayer.pcap")
    write_csv(c, rows)
    gen("payments-csv", c, pcap)
    fails = []
    for rules in ("paytm", "upi"):
        want, _p = oracle(c, rules)
        check("velocity_hour_amount" in want[3]["reasons"], f"the oracle: {want[3]}")
        o = path(f"newpayer-{rules}.out")
        dadar(pcap, rules_opts(rules), output=o)
        try:
            same_as_oracle(read_decisions(o), want, f"{rules}")
        except AssertionError as e:
            fails.append(str(e))
    check(not fails, " || ".join(fails))


# ---- D: the journal -----------------------------------------------------------------------------

@test
def test_D_journaled_decisions_replay_clean_and_equal_a_run_without_journal():
    pcap, _s, m, _l = synthetic()
    j, o = path("syn7-j"), path("syn7-j.out")
    shutil.rmtree(j, ignore_errors=True)
    dadar(pcap, table_opts(merchant=m), journal=j, output=o)
    got = read_decisions(o)
    want = synthetic_run(0)
    g, w = [strip(x) for x in got], [strip(x) for x in want]
    check(g == w, f"journaled run vs run without journal (all fields but lsn, cause): {first_difference(g, w)}")
    r = run([JOURNAL, "replay", j])
    check(r.returncode == 0, f"dadar-journal replay {j} exited {r.returncode}: {(r.stdout + r.stderr).strip()[-1200:]}")
    summary = [line.strip() for line in r.stdout.splitlines() if "result" in line or "output" in line]
    return f"{len(got)} decisions; replay: {' | '.join(summary)[:300]}"


# ---- E: kill -9 mid-stream ----------------------------------------------------------------------

def big_stream():
    def make():
        pcap = path("big.pcap")
        gen("payments", pcap, "--seed", 11, "--count", 300000, "--payers", 30000, "--days", 2)
        return pcap
    return cached("big", make)


_LSN_CAUSE = re.compile(rb'"lsn":\d+,|"cause":\d+,')
_LSN = re.compile(rb'^\{"lsn":(\d+),', re.M)
_TXN = re.compile(rb'"txn_id":(\d+),')


def raw_decisions(p):
    """(lines without their lsn and cause, lsns, txn_ids) of a big output file, read as bytes (300k
    JSON lines parse too slowly for the CI budget). Every line must be a whole decision."""
    with open(p, "rb") as f:
        data = f.read()
    check(data.endswith(b"\n"), f"{p} ends in a cut line: {data[-200:]!r}")
    lines = data.split(b"\n")[:-1]
    check(data.count(b'"type":"decision"') == len(lines), f"{p}: lines that are not decisions")
    lsns = [int(x) for x in _LSN.findall(data)]
    txns = [int(x) for x in _TXN.findall(data)]
    check(len(lsns) == len(lines) == len(txns), f"{p}: {len(lines)} lines, {len(lsns)} lsns, {len(txns)} txn_ids")
    return _LSN_CAUSE.sub(b"", data).split(b"\n")[:-1], lsns, txns


def complete_lines(p):
    """How many whole lines an output file holds (a line a kill cut short is not an output)."""
    if not os.path.exists(p):
        return 0
    with open(p, "rb") as f:
        return f.read().count(b"\n")


def run_until(pcap, fifo, out, threshold, workers, extra, jdir, restart=False, timeout=120):
    """Start dadar on `pcap` fed through the named pipe `fifo` (pcaplib.FifoFeed) and SIGKILL it (it
    alone, by its pid) once `out` holds `threshold` bytes. The frames go 2,000 at a time and the last
    is never sent, so the kill lands mid-stream however fast the machine is. A `restart` is killed
    only after it has said it recovered (its recovery releases what was journaled but not released,
    which can take the file past `threshold` first) and has released something of its own. Returns
    (whether it was still running when the kill was sent, its stderr)."""
    errp = out + ".stderr"
    feed = pl.FifoFeed(pcap, fifo)
    cmd = dadar_cmd(feed.path, list(extra), workers=workers, journal=jdir, output=out)
    with open(errp, "w") as ef:
        p = _start(cmd, stdout=subprocess.DEVNULL, stderr=ef)
    try:
        size = lambda: os.path.getsize(out) if os.path.exists(out) else 0  # noqa: E731
        fed = feed.send(p, 0)  # the header: net_pcap opens the pipe as DPDK starts, recovery comes after
        if fed and restart:
            fed = wait_until(p, lambda: file_has(errp, "recovered to LSN"), timeout)
            threshold = max(threshold, size() + 1)
        running = feed.pump_then_kill(p, lambda: not fed or size() >= threshold, timeout=timeout)
    finally:
        feed.close()
        CHILDREN.discard(p)
    with open(errp) as ef:
        err = ef.read()
    os.unlink(errp)
    os.unlink(fifo)
    if not running and dpdk_failed(err):
        raise Skip(f"DPDK cannot start here: {err.strip()[-400:]}")
    return running, err


def crash_scenario(workers, extra=()):
    pcap = big_stream()
    what = "rtc" if not workers else f"staged {workers}"
    tag = f"big{workers}"
    uj, uout = path(f"{tag}-u.j"), path(f"{tag}-u.out")
    dadar(pcap, list(extra), workers=workers, journal=uj, output=uout)
    want, _wl, wt = raw_decisions(uout)
    want_bytes = os.path.getsize(uout)
    check(len(want) == 300000 and len(set(wt)) == 300000,
          f"{what}: the uninterrupted run decided {len(want)} payments ({len(set(wt))} txn_ids) of 300000")
    os.unlink(uout)
    shutil.rmtree(uj, ignore_errors=True)

    jdir, out = path(f"{tag}.j"), path(f"{tag}.out")
    kills, recovered = [], []

    def note_recovery(err):
        recovered.extend(line.strip() for line in err.splitlines() if "recovered" in line)
    for i, frac in enumerate((0.3, 0.6)):
        running, err = run_until(pcap, path(f"{tag}.fifo"), out, int(frac * want_bytes), workers, extra, jdir,
                                 restart=i > 0)
        note_recovery(err)
        at_kill = complete_lines(out)
        check(running and 0 < at_kill < len(want),
              f"{what}: kill {i + 1} at {frac:.0%} did not interrupt a running dadar: still running {running}, "
              f"{at_kill} of {len(want)} decisions released; stderr {err.strip()[-400:]}")
        kills.append(at_kill)
    r = dadar(pcap, list(extra), workers=workers, journal=jdir, output=out)
    note_recovery(r.stderr)
    check(len(recovered) == 2, f"{what}: the restarts did not both say they recovered: {r.stderr.strip()[-300:]}")
    got, lsns, txns = raw_decisions(out)
    check(all(b > a for a, b in zip(lsns, lsns[1:])), f"{what}: released lsns not strictly increasing")
    dup = len(txns) - len(set(txns))
    check(dup == 0, f"{what}: {dup} txn_ids released twice across the crashes")
    if got != want:
        missing = sorted(set(wt) - set(txns))
        msg = (f"{what}: decisions released across the crashes (killed at {kills[0]} and {kills[1]} released) vs the "
               f"uninterrupted run's (all fields but lsn, cause): "
               f"{first_difference([x.decode() for x in got], [x.decode() for x in want])}; "
               f"{len(missing)} txn_ids never released: {missing[:10]}; restarts: {recovered}")
        if missing:  # what the journal holds of the first few (txn_id = MoldUDP64 seq in this stream)
            d = run([JOURNAL, "dump", jdir], timeout=60).stdout
            keys = tuple(f"seq={t} " for t in missing[:3])
            msg += "; journal records of them: " + " | ".join(
                " ".join(line.split()[:6]) for line in d.splitlines() if any(k in line for k in keys))
        raise AssertionError(msg)
    shutil.rmtree(jdir, ignore_errors=True)
    os.unlink(out)
    return f"{what}: killed at {kills[0]} and {kills[1]} of {len(want)} decisions, all {len(got)} released once, in order"


@test
def test_E_kill_9_twice_mid_stream_releases_every_decision_once_in_order_rtc():
    return crash_scenario(0)


@test
def test_E_kill_9_twice_mid_stream_releases_every_decision_once_in_order_staged_with_snapshots():
    return crash_scenario(2, ["--snapshot-every", "100000"])


@test
def test_E_a_payment_whose_second_journal_record_was_lost_is_still_decided_after_restart():
    """Regression, found by test E (which hits it when a kill lands there): a payment is journaled as
    two event records (`payment`, `payment_x`). A crash after the first became durable and before
    the second did is made here by hand: the journal is cut right after the first record of the
    payment with sequence number K (zeros after it: a torn tail). The restart on the same capture
    must decide payment K (it was never decided: its decision record came after the cut)."""
    paths, _c, pcap, _l = cases()
    opts = table_opts(merchant=paths["merchants.csv"], mcc=paths["mcc.csv"], areas=paths["areas.csv"])
    j, o1, o2 = path("cut.j"), path("cut-1.out"), path("cut-2.out")
    dadar(pcap, opts, journal=j, output=o1)
    first = read_decisions(o1)
    k = first[len(first) // 2]["seq"]
    d = run([JOURNAL, "dump", j, "--type", "event"]).stdout
    lsn = next((int(line.split()[0]) for line in d.splitlines()
                if " payment " in f" {line} " and f" seq={k} " in f"{line} "), None)
    check(lsn is not None, f"no 'payment' event record with seq={k} in dadar-journal dump {j} --type event")
    segs = sorted(f for f in os.listdir(j) if f.startswith("seg-"))
    check(len(segs) == 1, f"expected one segment, found {segs}")
    seg = os.path.join(j, segs[0])
    with open(seg, "r+b") as f:
        data = f.read()
        off, end = 4096, None
        while off + 24 <= len(data):
            ln, _typ, _src, rl = struct.unpack_from("<IHHQ", data, off)
            if ln == 0:
                break
            if rl == lsn:
                end = off + ln
                break
            off += ln
        check(end is not None, f"record LSN {lsn} not found walking {seg}")
        f.seek(end)
        f.write(b"\0" * (len(data) - end))
    r = dadar(pcap, opts, journal=j, output=o2)
    rec = [line for line in r.stderr.splitlines() if "recovered" in line]
    check(rec, f"the restart did not recover: {r.stderr.strip()[-300:]}")
    second = read_decisions(o2)
    got = [x for x in second if x["seq"] == k]
    want = [strip(x) for x in first if x["seq"] == k]
    check([strip(x) for x in got] == want,
          f"journal cut after LSN {lsn} (the first of the two records of payment seq {k}, txn {want[0]['txn_id']}): "
          f"the restart on the same capture released {len(got)} decisions for it, expected 1; restart: {rec[0]}")
    return f"cut after LSN {lsn} (seq {k}); restart: {rec[0].split(': ', 1)[-1][:160]}"


# ---- F: ITCH and payments in one process --------------------------------------------------------

def itch_sample():
    def make():
        pcap = path("itch-sample.pcap")
        gen("itch-file", SAMPLE_FIXED, pcap)
        return pcap
    return cached("itch", make)


@test
def test_F_itch_and_payments_in_one_process_give_what_each_gives_alone():
    itch = itch_sample()
    pay, _s, m, _l = synthetic()
    a = [f for _t, f in pl.read_pcap(itch)]
    b = [f for _t, f in pl.read_pcap(pay)]
    # interleave, keeping each capture's own order: one ITCH frame, then payments in proportion
    merged, j = [], 0
    for i, f in enumerate(a):
        merged.append(f)
        k = (i + 1) * len(b) // len(a)
        merged += b[j:k]
        j = k
    merged += b[j:]
    check(len(merged) == len(a) + len(b), "merge lost frames")
    both = path("itch+pay.pcap")
    pl.write_pcap(both, merged)

    ibook, iout = path("itch-alone.csv"), path("itch-alone.out")
    dadar(itch, ["--book-dump", ibook], output=iout)
    mbook, mout = path("both.csv"), path("both.out")
    dadar(both, table_opts(merchant=m) + ["--book-dump", mbook], output=mout)
    alone_pay = synthetic_run(0)
    with open(ibook) as f1, open(mbook) as f2:
        check(f1.read() == f2.read(), f"the book dump with payments ({mbook}) differs from ITCH alone ({ibook})")
    mo, io = read_lines(mout), read_lines(iout)
    g = [strip(x) for x in mo if x["type"] == "bbo"]
    w = [strip(x) for x in io if x["type"] == "bbo"]
    check(len(w) > 100, f"ITCH alone gave {len(w)} bbo outputs")
    check(g == w, f"bbo outputs with payments vs ITCH alone (all fields but lsn, cause): {first_difference(g, w)}")
    g = [strip(x) for x in decisions(mo)]
    w = [strip(x) for x in alone_pay]
    check(g == w, f"decisions with ITCH vs payments alone (all fields but lsn, cause): {first_difference(g, w)}")
    other = {x["type"] for x in mo} - {"bbo", "decision"}
    check(not other, f"outputs of other types: {other}")
    return f"{len(a)} ITCH + {len(b)} payment frames: {len(w)} decisions, {sum(1 for x in io if x['type'] == 'bbo')} bbo"


# ---- G: bad configuration -----------------------------------------------------------------------

@test
def test_G_bad_rules_and_tables_are_refused_naming_file_line_and_column():
    pcap = cases()[2]
    # a rule file with an unknown kind on one line
    with open(os.path.join(ROOT, "rules", "fraud-paytm.rules")) as f:
        lines = f.read().split("\n")
    n = next(i for i, line in enumerate(lines) if line.startswith("rule structuring"))
    lines[n] = lines[n].replace("amount_between", "amount_betwen")
    col = lines[n].index("amount_betwen") + 1
    bad = path("bad.rules")
    with open(bad, "w") as f:
        f.write("\n".join(lines))
    r = dadar(pcap, ["--set", f"fraud.rules={bad}"], expect=None)
    where = f"{bad}:{n + 1}:{col}:"
    check(r.returncode == 2 and where in r.stderr,
          f"a rule file with an error: expected exit 2 and '{where}' on stderr, got exit {r.returncode}: "
          f"{r.stderr.strip()[-500:]}")
    notes = [r.stderr.strip().splitlines()[-1]]
    # a merchant table with a bad line (line 4)
    bm = path("bad-merchants.csv")
    with open(bm, "w") as f:
        f.write("merchant,risk\n30000101,50\n30000102,60\n30000103,sixty\n30000104,10\n")
    r = dadar(pcap, ["--set", f"fraud.merchant_table={bm}"], expect=None)
    check(r.returncode == 2 and "fraud.merchant_table" in r.stderr and f"{bm}:4" in r.stderr,
          f"a merchant table with a bad line 4: expected exit 2 naming fraud.merchant_table and {bm}:4, got exit "
          f"{r.returncode}: {r.stderr.strip()[-500:]}")
    notes.append(r.stderr.strip().splitlines()[-1])
    # a missing rule file
    missing = path("no-such-dir/none.rules")
    r = dadar(pcap, ["--set", f"fraud.rules={missing}"], expect=None)
    check(r.returncode == 2 and missing in r.stderr,
          f"a missing rule file: expected exit 2 naming {missing}, got exit {r.returncode}: {r.stderr.strip()[-500:]}")
    notes.append(r.stderr.strip().splitlines()[-1])
    return " | ".join(x.replace(TMP + "/", "") for x in notes)


# ---- H: hostile payment messages ----------------------------------------------------------------

PAY_FMT = ">cBQQQQQq3sHccQii"
assert struct.calcsize(PAY_FMT) == 73
CH = {"upi": b"U", "card": b"C", "wallet": b"W"}
KD = {"p2p": b"P", "p2m": b"M", "bill": b"B"}


def pay_msg(p, mtype=b"P", version=1):
    return struct.pack(PAY_FMT, mtype, version, p["time_ns"], p["txn_id"], p["payer"], p["payee"], p["merchant"],
                       p["amount_minor"], p["currency"].encode(), p["mcc"], CH[p["channel"]], KD[p["type"]],
                       p["device"], p["lat_e6"], p["lon_e6"])


@test
def test_H_hostile_payment_messages_are_counted_and_only_identifiable_ones_decided():
    rnd = random.Random(73)
    base = fraud_cases.BASE
    txn = [0]

    def payment(**kw):
        txn[0] += 1
        p = {"txn_id": 5_000_000 + txn[0], "time_ns": base + txn[0] * 7 * NS, "payer": 800 + rnd.randint(0, 30),
             "payee": 0, "merchant": 0, "amount_minor": rnd.randint(100, 2_000_000), "currency": "INR", "mcc": 0,
             "channel": rnd.choice(CHANNELS), "type": "p2p", "device": 600 + rnd.randint(0, 40),
             "lat_e6": 0, "lon_e6": 0}
        if rnd.random() < 0.4:
            p.update(merchant=70 + rnd.randint(0, 9), type="p2m", mcc=5411)
        else:
            p["payee"] = 900 + rnd.randint(0, 9)
        if rnd.random() < 0.7:
            p.update(lat_e6=19_000_000 + rnd.randint(0, 900_000), lon_e6=72_800_000 + rnd.randint(0, 900_000))
        p.update(kw)
        return p

    msgs = []          # (kind, bytes, payment or None)
    for _ in range(80):
        p = payment()
        msgs.append(("valid", pay_msg(p), p))
    for kw in [dict(amount_minor=0)] * 3 + [dict(currency="XY1")] * 3 + [dict(time_ns=0)] * 3:
        p = payment(**kw)
        msgs.append(("invalid", pay_msg(p), p))
    counts = {"pay_bad_length": 0, "pay_unknown": 0, "pay_bad_version": 0}
    for _ in range(5):
        m = pay_msg(payment())
        msgs += [("pay_bad_length", m[:72], None), ("pay_bad_length", m + b"\0", None), ("pay_bad_length", b"", None),
                 ("pay_unknown", b"Q" + m[1:], None), ("pay_bad_version", m[:1] + b"\x02" + m[2:], None)]
    for _ in range(10):
        # random bytes: a 73-byte message whose type is not 'P', or 'P' version 1 at another length
        m = bytes(rnd.choice([c for c in range(256) if c != ord("P")]) for _ in range(1)) + rnd.randbytes(72)
        msgs.append(("pay_unknown", m, None))
        n = rnd.choice([k for k in range(2, 200) if k != 73])
        msgs.append(("pay_bad_length", b"P\x01" + rnd.randbytes(n - 2), None))
    rnd.shuffle(msgs)
    for kind, _m, _p in msgs:
        if kind in counts:
            counts[kind] += 1

    frames, seq, i = [], 1, 0
    while i < len(msgs):
        k = rnd.randint(1, 8)
        chunk = [m for _k, m, _p in msgs[i:i + k]]
        frames.append(pl.udp_frame(pl.mold(seq, chunk, session="HOSTILE001"), dst=PAY_GROUP, port=PAY_PORT))
        seq += len(chunk)
        i += k
        if rnd.random() < 0.1:  # a datagram of random bytes too short to be MoldUDP64
            frames.append(pl.udp_frame(rnd.randbytes(rnd.randint(1, 19)), dst=PAY_GROUP, port=PAY_PORT))
    pcap = path("hostile.pcap")
    pl.write_pcap(pcap, frames)
    want_recv = pl.receive(frames)

    o, summ = path("hostile.out"), path("hostile-summary.json")
    dadar(pcap, ["--summary", summ], output=o)
    got = read_decisions(o)
    with open(summ) as f:
        s = json.load(f)
    errors = s.get("errors", {})
    seen = {k: errors.get(k, 0) for k in counts}
    check(seen == counts, f"summary errors {seen}, built {counts} (all errors: {errors})")
    for k, v in want_recv.errors.items():
        check(errors.get(k, 0) == v, f"summary errors.{k} = {errors.get(k, 0)}, expected {v} (all errors: {errors})")
    check(s["moldudp64"]["gaps"] == 0 and s["moldudp64"]["delivered"] == len(msgs),
          f"moldudp64: {s['moldudp64']}, {len(msgs)} messages sent in order")

    ident = [p for kind, _m, p in msgs if p is not None]
    txns = [x["txn_id"] for x in got]
    check(txns == [p["txn_id"] for p in ident],
          f"decided txn_ids are not exactly the {len(ident)} identifiable payments in order: "
          f"{first_difference(txns, [p['txn_id'] for p in ident])}")
    model = fraudmodel.Model()
    want = [model.decide(p) for p in ident]
    same_as_oracle(got, want, "hostile stream: dadar vs oracle")
    byt = {x["txn_id"]: x for x in got}
    for kind, _m, p in msgs:
        if kind == "invalid":
            x = byt[p["txn_id"]]
            check((x["action"], x["reasons"], x["score"]) == ("block", ["invalid"], 100),
                  f"invalid payment {p}: dadar {x}")
    return (f"{len(msgs)} messages in {len(frames)} datagrams: {len(ident)} decided "
            f"({sum(1 for k, _m, _p in msgs if k == 'invalid')} invalid), counted {counts}, "
            f"mold errors {want_recv.errors}")


# ---- I: a rule reload mid-stream ----------------------------------------------------------------

def reload_stream():
    def make():
        pcap, csvp = path("reload.pcap"), path("reload.csv")
        gen("payments", pcap, "--seed", 13, "--count", 200000, "--payers", 20000, "--days", 2, "--csv", csvp)
        return pcap, csvp
    return cached("reload", make)


def wait_until(proc, cond, timeout=60):
    """Poll `cond` while dadar runs; whether it came true."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.001)
    return False


def file_has(p, text):
    if not os.path.exists(p):
        return False
    with open(p) as f:
        return text in f.read()


@test
def test_I_a_rule_reload_mid_stream_switches_at_one_payment_and_replays():
    """SIGHUP with a broken rule file (refused, the rules stay), then with the UPI set as version 2:
    every decision before the switch follows the default rules, every one after it the UPI ones with
    the state carried over (the oracle switches at the same payment), and the journal replays both."""
    pcap, csvp = reload_stream()
    rules = path("live.rules")
    shutil.copy(os.path.join(ROOT, "rules", "fraud-paytm.rules"), rules)
    jdir, out, summ, errp = path("reload.j"), path("reload.out"), path("reload.json"), path("reload.err")
    feed = pl.FifoFeed(pcap, path("reload.fifo"))
    cmd = dadar_cmd(feed.path, ["--set", f"fraud.rules={rules}", "--summary", summ], journal=jdir, output=out)
    with open(errp, "w") as ef:
        p = _start(cmd, stdout=subprocess.DEVNULL, stderr=ef)
    try:
        # a fifth of the frames; the broken file once dadar decided some of them; the UPI set after
        # the refusal; the rest once the reload is in force
        running = feed.send(p, len(feed.recs) // 5) and wait_until(p, lambda: complete_lines(out) >= 1000)
        with open(rules, "w") as f:
            f.write("ruleset broken version 2\nrule round_amount score 20 when amount_inn values 1\n")
        p.send_signal(signal.SIGHUP)
        running = running and wait_until(p, lambda: file_has(errp, "rule reload refused"))
        upi = open(os.path.join(ROOT, "rules", "fraud-upi.rules")).read().replace("ruleset upi version 1",
                                                                                  "ruleset upi version 2")
        with open(rules + ".tmp", "w") as f:
            f.write(upi)
        os.rename(rules + ".tmp", rules)
        p.send_signal(signal.SIGHUP)
        running = running and wait_until(p, lambda: file_has(errp, "rules reloaded: upi version 2"))
        running = running and feed.send(p, len(feed.recs))
        feed.close()
        p.wait(timeout=120)
    finally:
        feed.close()
        CHILDREN.discard(p)
    with open(errp) as ef:
        err = ef.read()
    if p.returncode != 0 and dpdk_failed(err):
        raise Skip(f"DPDK cannot start here: {err.strip()[-400:]}")
    check(p.returncode == 0 and running, f"dadar exited {p.returncode} (running through the reloads: {running}): "
          f"{err.strip()[-800:]}")
    check("rule reload refused, the rules in force stay" in err and "live.rules:2:33: unknown kind" in err,
          f"the broken file's refusal: {err.strip()[-1600:]!r}")
    got = read_decisions(out)
    vers = [d["rule_version"] for d in got]
    check(len(got) == 200000 and 1 in vers and 2 in vers and vers == sorted(vers),
          f"{len(got)} decisions, versions {sorted(set(vers))}, monotone {vers == sorted(vers)}")
    at = vers.index(2)
    s = json.load(open(summ))["payments"]
    check((s["reloads"], s["reload_failures"], s["rules"]) == (1, 1, "upi"),
          f"summary reloads {s['reloads']}, failures {s['reload_failures']}, rules {s['rules']}")
    # the oracle switches rule set at the same payment, its state carried over
    pays = fraudmodel.load_csv(csvp)
    model = fraudmodel.Model(rules="paytm")
    want = []
    for i, pay in enumerate(pays):
        if i == at:
            model.rules = "upi"
        want.append(model.decide(pay))
    same_as_oracle(got, want, f"decisions across the reload at payment {at}")
    r = run([JOURNAL, "replay", jdir])
    check(r.returncode == 0, f"dadar-journal replay exited {r.returncode}: {(r.stdout + r.stderr).strip()[-800:]}")
    return f"switched at payment {at} of {len(got)}; a broken file refused first; replay re-derived both sides"


def telemetry_command(prefix, command, timeout=30):
    """Send `command` to the DPDK telemetry socket of file prefix `prefix`; its JSON answer."""
    import socket
    rt = "/var/run/dpdk" if os.getuid() == 0 else os.path.join(os.environ.get("XDG_RUNTIME_DIR") or "/tmp", "dpdk")
    sock = os.path.join(rt, prefix, "dpdk_telemetry.v2")
    deadline = time.monotonic() + timeout
    while not os.path.exists(sock) and time.monotonic() < deadline:
        time.sleep(0.01)
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as c:
        c.settimeout(timeout)
        c.connect(sock)
        json.loads(c.recv(16384))  # the greeting: version, pid, max output length
        c.send(command.encode())
        return json.loads(c.recv(16384))


@test
def test_I_the_reload_control_command_answers_what_happened():
    """/dadar/reload on DPDK's telemetry socket: a broken file is refused (the answer says where),
    a good one is put in force mid-stream (decisions switch version once)."""
    pcap, _csvp = reload_stream()
    rules = path("ctl.rules")
    shutil.copy(os.path.join(ROOT, "rules", "fraud-paytm.rules"), rules)
    out = path("ctl.out")
    feed = pl.FifoFeed(pcap, path("ctl.fifo"))
    cmd = dadar_cmd(feed.path, ["--set", f"fraud.rules={rules}"], output=out)
    cmd.remove("--no-telemetry")
    prefix = cmd[cmd.index("--file-prefix") + 1]
    p = _start(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # a tenth of the frames; the commands once dadar decided some of them; then the rest
        running = feed.send(p, len(feed.recs) // 10) and wait_until(p, lambda: complete_lines(out) >= 1000)
        with open(rules, "w") as f:
            f.write("ruleset broken version 2\naction block 50\naction block 60\n")
        bad = telemetry_command(prefix, "/dadar/reload")["/dadar/reload"]
        upi = open(os.path.join(ROOT, "rules", "fraud-upi.rules")).read().replace("version 1", "version 3")
        with open(rules, "w") as f:
            f.write(upi)
        good = telemetry_command(prefix, "/dadar/reload")["/dadar/reload"]
        # the monitoring commands beside it, while it runs
        mon = {c: telemetry_command(prefix, c)[c] for c in
               ("/dadar/info", "/dadar/feeds", "/dadar/journal", "/dadar/stages", "/dadar/counters")}
        running = running and p.poll() is None and feed.send(p, len(feed.recs))
        feed.close()
        _, err = p.communicate(timeout=120)
    finally:
        feed.close()
        CHILDREN.discard(p)
    check(bad["result"].startswith("refused") and "ctl.rules:3:8: action block given twice" in bad["result"]
          and bad["reload_failures"] == 1, f"the broken file's answer: {bad}")
    check(good["result"].startswith("reloaded: upi version 3"), f"the good file's answer: {good}")
    vers = [d["rule_version"] for d in read_decisions(out)]
    check(len(vers) == 200000 and vers[0] == 1 and vers[-1] == 3 and vers == sorted(vers) and 2 not in vers,
          f"{len(vers)} decisions, versions {sorted(set(vers))}, monotone {vers == sorted(vers)}")
    info, feeds, jrn = mon["/dadar/info"], mon["/dadar/feeds"], mon["/dadar/journal"]
    check(info["instance"] == prefix and info["payments"] == 1 and info["feeds"] == 2, f"/dadar/info {info}")
    check(feeds["payments"]["kind"] == "payment" and feeds["payments"]["session"] == "DADARPAY01" and
          1 < feeds["payments"]["next_seq"] <= 200001 and feeds["itch"]["next_seq"] == 1, f"/dadar/feeds {feeds}")
    check(jrn["state"] == "running" and jrn["released"] > 0, f"/dadar/journal {jrn}")
    st = mon["/dadar/stages"]
    check("fraud" in st and st["fraud"]["count"] > 0 and "book" not in st and
          st["fraud"]["p50_ns"] <= st["fraud"]["p99_ns"] <= st["fraud"]["max_ns"], f"/dadar/stages {st}")
    tot = mon["/dadar/counters"]["total"]
    check(0 < tot["fraud_decisions"] <= 200000 and tot["fraud_decisions"] == tot["fraud_outputs"],
          f"/dadar/counters total: decisions {tot.get('fraud_decisions')}, outputs {tot.get('fraud_outputs')}")
    return f"refused: {bad['result'][:80]}...; then {good['result'][:60]}; switched at payment {vers.index(3)}"


@test
def test_I_a_sighup_while_dadar_starts_does_not_end_it():
    """SIGHUP's default action ends a process: dadar takes it from the start, so a reload asked for
    while it starts is a reload (once its control thread runs), not an exit."""
    pcap, _csvp = reload_stream()
    out = path("early.out")
    p = _start(dadar_cmd(pcap, [], output=out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(0.05)
        p.send_signal(signal.SIGHUP)
        _, err = p.communicate(timeout=120)
    finally:
        CHILDREN.discard(p)
    if p.returncode != 0 and dpdk_failed(err):
        raise Skip(f"DPDK cannot start here: {err.strip()[-400:]}")
    n = complete_lines(out)
    check(p.returncode == 0 and n == 200000, f"exit {p.returncode}, {n} decisions: {err.strip()[-400:]}")
    return f"exit 0, {n} decisions"


# ---- J: messages for journald -------------------------------------------------------------------

def run_with_journal_stream(cmd, timeout=60):
    """Run cmd with stderr a pipe that JOURNAL_STREAM names (as systemd does for StandardError=journal);
    its stderr lines."""
    rfd, wfd = os.pipe()
    st = os.fstat(wfd)
    env = dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=wfd, env=env, start_new_session=True)
    os.close(wfd)
    with os.fdopen(rfd, "r", errors="replace") as f:
        err = f.read()
    p.wait(timeout=timeout)
    return p.returncode, err.splitlines()


@test
def test_J_messages_carry_journald_priorities_when_stderr_is_the_journal():
    """With stderr the journal, dadar's own lines start with <3> (error), <4> (warning), <6> (info);
    a line of a multi-line message gets one too. Without JOURNAL_STREAM they do not."""
    bad = path("prio.rules")
    with open(bad, "w") as f:
        f.write("ruleset x version 1\nrule nope score 1 when count\n")
    rc, lines = run_with_journal_stream(dadar_cmd(itch_sample(), ["--set", f"fraud.rules={bad}"]))
    ours = [x for x in lines if "dadar: " in x]
    check(rc == 2 and ours and all(x.startswith("<3>dadar: ") for x in ours),
          f"a refused rule file: exit {rc}, lines {ours}")
    # a journaled run: "journal ...: new" is information
    jdir = path("prio.j")
    cmd = dadar_cmd(itch_sample(), [], journal=jdir)
    cmd[cmd.index("--log-level=*:warning")] = "--log-level=*:info"  # for DPDK's lines after its start
    rc, lines = run_with_journal_stream(cmd)
    info = [x for x in lines if "journal" in x and "new" in x]
    check(rc == 0 and info and info[0].startswith("<5>dadar: journal "), f"exit {rc}, lines {lines[-5:]}")
    # DPDK's own lines after its start come through dadar's stream with their level as the priority:
    # the pcap driver's closing line is DPDK info (RTE level 7): <6>
    closing = [x for x in lines if "Closing pcap ethdev" in x]
    check(len(closing) == 1 and closing[0].startswith("<6>"), f"DPDK's closing line(s): {closing}")
    # misplaced option: a two-line message, a prefix on each line
    rc, lines = run_with_journal_stream([DADAR, "--exit-on-idle", "5"])
    check(rc == 2 and len(lines) >= 2 and lines[0].startswith("<3>dadar: --exit-on-idle is one of dadar") and
          lines[1].startswith("<3>  dadar [DPDK options]"), f"exit {rc}, lines {lines}")
    # and none without JOURNAL_STREAM
    r = run([DADAR, "--exit-on-idle", "5"])
    check(r.returncode == 2 and r.stderr.startswith("dadar: --exit-on-idle"), f"plain stderr: {r.stderr[:120]!r}")
    return "errors <3>, a new journal <5>, every line of a message prefixed; plain without JOURNAL_STREAM"


# ---- runner -------------------------------------------------------------------------------------

def need_binaries():
    for exe in (DADAR, GEN, JOURNAL):
        if not os.access(exe, os.X_OK):
            raise Skip(f"{exe} is not built")


def main(argv):
    global TMP
    try:
        need_binaries()
    except Skip as e:
        print(f"SKIP: fraud_test: {e}", file=sys.stderr)
        return 77
    TMP = _scratch()
    signal.signal(signal.SIGTERM, lambda s, f: (cleanup(), sys.exit(128 + s)))
    sel = [t for t in TESTS if not argv or any(a in t.__name__ for a in argv)]
    fails = skips = 0
    t0 = time.monotonic()
    try:
        for t in sel:
            t1 = time.monotonic()
            try:
                note = t()
                # one line: a child's stderr quoted in the note must not look like lines of our own
                note = " | ".join(x.strip() for x in (note or "").splitlines() if x.strip())
                print(f"  PASS  {t.__name__} ({time.monotonic() - t1:.1f} s){': ' + note if note else ''}", flush=True)
            except Skip as e:
                skips += 1
                print(f"  SKIP  {t.__name__}: {e}", flush=True)
            except AssertionError as e:
                fails += 1
                print(f"  FAIL  {t.__name__} ({time.monotonic() - t1:.1f} s): {e}", flush=True)
            except Exception:  # a bug in the runner is a failure too
                fails += 1
                print(f"  FAIL  {t.__name__}: {traceback.format_exc()}", flush=True)
            finally:
                cleanup()
    finally:
        cleanup()
    print(f"fraud_test: {len(sel) - fails - skips} passed, {fails} failed, {skips} skipped "
          f"in {time.monotonic() - t0:.1f} s")
    if fails:
        print(f"fraud_test: scratch files kept in {TMP}")
        return 1
    if not os.environ.get("DD_IT_TMP"):
        shutil.rmtree(TMP, ignore_errors=True)
    return 77 if sel and skips == len(sel) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
