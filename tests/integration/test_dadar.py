#!/usr/bin/env python3
"""Integration tests of dadar and dadar-gen: the real binaries, DPDK's net_pcap PMD, captures made
by dadar-gen or built here, and expectations derived independently (pcaplib.py parses the captures,
itchbook.py and bookmodel.py rebuild the books).

usage: test_dadar.py [SUBSTRING...]   run the tests whose names contain one of the substrings

Environment: B (build directory, default build), DD_IT_TMP (scratch directory; default a new one
under $B/it/). Prints one PASS/FAIL/SKIP line per test; exits 1 if any failed, 77 if every test was
skipped, 0 otherwise. A test that needs something the machine lacks is a loud SKIP, never a pass.
"""
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
import bookmodel  # noqa: E402
import itchbook  # noqa: E402
import pcaplib as pl  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("B", "build")
BUILD = BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD)
DADAR = os.path.join(BUILD, "dadar")
GEN = os.path.join(BUILD, "dadar-gen")
SAMPLE = os.path.join(ROOT, "tests", "data", "itch", "ex20101224.TEST_ITCH_50")
SAMPLE_FIXED = SAMPLE + ".fixed"
SAMPLE_COUNTS = {"S": 6, "R": 3, "H": 3, "A": 4997, "F": 3, "E": 198, "X": 45, "D": 1745, "U": 12, "P": 5000}
GROUP_A, GROUP_B, PORT = "233.54.12.111", "233.49.196.111", 26477
IDLE_MS = "200"
# The reorder window's timeout is wall-clock time: an RX lcore descheduled for a millisecond (two
# cores shared by three lcores, or by other people's work) would declare a gap that a reordered
# datagram was about to fill. Tests whose captures reorder datagrams wait for the window instead,
# which makes dadar's output a function of the capture alone.
NO_TIMEOUT = ["--mold-reorder-timeout-us", "0"]


class Skip(Exception):
    """The machine cannot run this test."""


# ---- scratch space, child processes, DPDK runtime directories -------------------------------------

def _scratch():
    if os.environ.get("DD_IT_TMP"):
        os.makedirs(os.environ["DD_IT_TMP"], exist_ok=True)
        return os.environ["DD_IT_TMP"]
    base = os.path.join(BUILD, "it")
    os.makedirs(base, exist_ok=True)
    return tempfile.mkdtemp(prefix="run.", dir=base)


TMP = _scratch()
CHILDREN = set()
PREFIXES = []
_run_no = [0]
_current = ["setup"]


def tmp(name):
    d = os.path.join(TMP, _current[0])
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, name)


def dpdk_runtime_dir():
    if os.getuid() == 0:
        return "/var/run/dpdk"
    return os.path.join(os.environ.get("XDG_RUNTIME_DIR") or "/tmp", "dpdk")


def next_prefix():
    _run_no[0] += 1
    p = f"dd-it-{os.getpid()}-{_run_no[0]}"
    PREFIXES.append(p)
    return p


INSTANCES = []


def instance_opts(name=None):
    """--instance with a name of this run's own: an instance owns its telemetry segment
    /dev/shm/dadar-NAME while it runs, so parallel runs (other people's too) must not share one."""
    _run_no[0] += 1
    name = name or f"it-{os.getpid()}-{_run_no[0]}"
    INSTANCES.append(name)
    return ["--instance", name]


def spawn(cmd):
    """Start cmd in a process group of its own, so that cleanup() also ends anything it started."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                         start_new_session=True)
    CHILDREN.add(p)
    return p


def kill_group(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)  # the group this runner created for p, and nothing else
    except ProcessLookupError:
        pass
    p.wait()


def cleanup():
    for p in list(CHILDREN):
        kill_group(p)
        CHILDREN.discard(p)
    for prefix in PREFIXES:  # EAL leaves its runtime directory behind, even with --no-shconf
        shutil.rmtree(os.path.join(dpdk_runtime_dir(), prefix), ignore_errors=True)
    PREFIXES.clear()
    for name in INSTANCES:  # a killed instance leaves its telemetry segment behind
        try:
            os.unlink(f"/dev/shm/dadar-{name}")
        except OSError:
            pass
    INSTANCES.clear()


def on_signal(sig, _frame):
    cleanup()
    sys.exit(128 + sig)


# ---- assertions ------------------------------------------------------------------------------------

def eq(actual, expected, what):
    if actual != expected:
        if isinstance(actual, dict) and isinstance(expected, dict):
            diff = {k: (expected.get(k, "<absent>"), actual.get(k, "<absent>"))
                    for k in sorted(set(actual) | set(expected)) if actual.get(k) != expected.get(k)}
            raise AssertionError(f"{what}: differs (key: (expected, seen)) {diff}")
        raise AssertionError(f"{what}: expected {expected!r}, seen {actual!r}")


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def same_file(path, ref, what):
    a, b = open(path, "rb").read(), open(ref, "rb").read()
    if a != b:
        al, bl = a.decode(errors="replace").splitlines(), b.decode(errors="replace").splitlines()
        for i in range(max(len(al), len(bl))):
            x = al[i] if i < len(al) else "<end of file>"
            y = bl[i] if i < len(bl) else "<end of file>"
            if x != y:
                raise AssertionError(f"{what}: {path} differs from {ref} at line {i + 1}: "
                                     f"expected {y!r}, seen {x!r} ({len(bl)} vs {len(al)} lines)")
        raise AssertionError(f"{what}: {path} differs from {ref}")


# ---- running the tools ------------------------------------------------------------------------------

class Run:
    def __init__(self, cmd, rc, out, err, summary_path=None, dump_path=None):
        self.cmd, self.rc, self.out, self.err = cmd, rc, out, err
        self.summary = None
        self.dump = dump_path if dump_path and os.path.exists(dump_path) else None
        if summary_path and os.path.exists(summary_path):
            with open(summary_path) as f:
                self.summary = json.load(f)

    def show(self):
        return (f"\n      command: {' '.join(self.cmd)}\n      exit {self.rc}\n      stderr: "
                + self.err.strip().replace("\n", "\n              ")[-3000:])

    def ok(self):
        if self.rc != 0:
            raise AssertionError(f"dadar failed{self.show()}")
        if self.summary is None:
            raise AssertionError(f"no summary written{self.show()}")
        return self.summary


def run(cmd, timeout=120):
    p = spawn(cmd)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(p)
        out, err = p.communicate()
        raise AssertionError(f"{cmd[0]} did not finish within {timeout} s: {' '.join(cmd)}\n{err[-2000:]}")
    finally:
        kill_group(p)
        CHILDREN.discard(p)
    return p.returncode, out, err


def gen(*args):
    cmd = [GEN] + [str(a) for a in args]
    rc, out, err = run(cmd)
    if rc != 0:
        raise AssertionError(f"dadar-gen failed (exit {rc}): {' '.join(cmd)}\n{err}")
    return err


def cpus():
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:
        return list(range(os.cpu_count() or 1))


def lcore_args(staged_lcores=0):
    """EAL core options: two pinned lcores for run to completion, or `staged_lcores` lcores
    mapped onto the (at most two) CPUs this process may use."""
    c = cpus()[:2]
    if staged_lcores:
        return ["--lcores", f"(0-{staged_lcores - 1})@({','.join(map(str, c))})"]
    return ["-l", ",".join(map(str, c))]


def eal(vdevs=(), cores=None):
    args = ["--no-huge", "--no-pci", "-m", "512", "--no-shconf", "--no-telemetry", "--log-level=*:warning",
            "--file-prefix", next_prefix()]
    args += cores if cores is not None else lcore_args()
    for i, v in enumerate(vdevs):
        args += ["--vdev", v if v.startswith("net_") else f"net_pcap{i},rx_pcap={v}"]
    return args


def dadar(vdevs=(), opts=(), staged=0, name="run", idle=True, quiet=True, cores=None, timeout=120,
          summary=True, dump=True):
    """Run dadar over `vdevs` (pcap paths or full --vdev strings) with dadar options `opts`;
    staged=N runs the staged pipeline with N workers on N + 1 lcores."""
    s, d = tmp(name + ".json"), tmp(name + ".csv")
    for f in (s, d):
        if os.path.exists(f):
            os.unlink(f)
    if staged and cores is None:
        cores = lcore_args(staged + 1)
    o = list(opts)
    if "--instance" not in o:
        o += instance_opts()
    if staged:
        o += ["--pipeline", "staged", "--workers", str(staged)]
    if idle:
        o += ["--exit-on-idle", IDLE_MS]
    if quiet:
        o += ["--quiet"]
    if summary:
        o += ["--summary", s]
    if dump:
        o += ["--book-dump", d]
    cmd = [DADAR] + eal(vdevs, cores) + ["--"] + o
    rc, out, err = run(cmd, timeout)
    cleanup()
    return Run(cmd, rc, out, err, s if summary else None, d if dump else None)


_sample = {}


def sample_pcap(*gen_opts):
    """The RITCH sample packetized by dadar-gen (cached per option set)."""
    key = tuple(gen_opts)
    if key not in _sample:
        path = os.path.join(TMP, "sample", f"sample{len(_sample)}.pcap")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        gen("itch-file", SAMPLE_FIXED, path, *gen_opts)
        _sample[key] = path
    return _sample[key]


def sample_reference():
    path = os.path.join(TMP, "sample", "reference.csv")
    if not os.path.exists(path):
        o, s = itchbook.build(SAMPLE_FIXED)
        itchbook.write_csv(o, s, path)
    return path


def synth(name, seed, instruments, messages, *opts):
    """(pcap, itch-out BinaryFILE, dadar-gen's stderr) of a synthetic day."""
    pcap, itch = tmp(name + ".pcap"), tmp(name + ".itch")
    err = gen("synth", pcap, "--seed", seed, "--instruments", instruments, "--messages", messages,
              "--itch-out", itch, *opts)
    return pcap, itch, err


def frames_of(pcap):
    return [f for _t, f in pl.read_pcap(pcap)]


def reference_csv(msgs, path):
    """itchbook.py's dump of a message list (written as a BinaryFILE first)."""
    src = path + ".itch"
    with open(src, "wb") as f:
        f.write(pl.binaryfile(msgs))
    o, s = itchbook.build(src)
    itchbook.write_csv(o, s, path)
    return path


def type_counts(msgs):
    out = {}
    for m in msgs:
        if m and len(m) == pl.ITCH_LEN.get(m[:1], -1):
            out[m[:1].decode()] = out.get(m[:1].decode(), 0) + 1
    return out


def copies(rx):
    """Messages carried by all valid message-bearing datagrams, every copy counted."""
    return sum(d[3] for d in pl.data_datagrams(rx))


def sequence_without_loss(datagrams):
    """(delivered, reordered) of a receiver with an unbounded reorder window over datagrams
    ((seq, count) in arrival order) that lose nothing: a datagram ahead of the next expected
    sequence number waits, and counts as reordered when it is delivered."""
    nxt, held, delivered, reordered = 1, {}, 0, 0
    for seq, count in datagrams:
        if seq + count <= nxt:
            continue
        if seq > nxt:
            held.setdefault(seq, count)
            continue
        delivered += seq + count - nxt
        nxt = seq + count
        while held and min(held) <= nxt:
            s = min(held)
            c = held.pop(s)
            if s + c > nxt:
                delivered += s + c - nxt
                nxt = s + c
                reordered += 1
    return delivered, reordered


def gen_injected(err, line="A"):
    m = re.search(rf"line {line} injected: (\d+) gaps \((\d+) messages\), (\d+) duplicates, (\d+) swaps, "
                  r"(\d+) malformed", err)
    check(m, f"dadar-gen did not report line {line}'s injections: {err}")
    return dict(zip(("gaps", "gap_msgs", "dups", "swaps", "malformed"), map(int, m.groups())))


MOLD_KEYS = ("datagrams", "delivered", "gaps", "missing", "duplicates", "arbitration_dropped", "heartbeats",
             "end_of_session", "reordered", "late", "session_changes")


# ---- the tests ----------------------------------------------------------------------------------------

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


_probe = {}


def need_dadar():
    """Skip when DPDK cannot start here at all (not when dadar misbehaves: that must fail)."""
    for exe in (DADAR, GEN):
        if not os.access(exe, os.X_OK):
            raise AssertionError(f"{exe} is not built (make {os.path.relpath(exe, ROOT)})")
    if "result" not in _probe:
        pcap = os.path.join(TMP, "probe.pcap")
        pl.write_pcap(pcap, [pl.udp_frame(pl.heartbeat(1))])
        cmd = [DADAR] + eal([pcap]) + ["--", "--exit-on-idle", "50", "--quiet"] + instance_opts()
        rc, _out, err = run(cmd, 60)
        cleanup()
        _probe["result"] = None
        if rc != 0 and ("DPDK initialisation failed" in err or "EAL:" in err and "net_pcap" in err):
            _probe["result"] = f"DPDK cannot start on this machine (exit {rc}): {err.strip()[-600:]}"
    if _probe["result"]:
        raise Skip(_probe["result"])


# 1. The RITCH sample ----------------------------------------------------------------------------------

@test
def test_itch_file_repairs_zero_prefixes_into_the_capture_of_the_fixed_twin():
    need_dadar()
    a, b = tmp("zero-prefixes.pcap"), tmp("fixed.pcap")
    err_a, err_b = gen("itch-file", SAMPLE, a), gen("itch-file", SAMPLE_FIXED, b)
    check("dadar-gen: repaired 12012 zero length prefixes from message types\n" in err_a,
          f"the run over zero prefixes did not say it repaired 12012 of them: {err_a!r}")
    check("repaired" not in err_b, f"the run over true prefixes claims repairs: {err_b!r}")
    eq(err_a.splitlines()[0],
       f"dadar-gen: 12012 messages, 342 datagrams (seq 1..12012, 471888 payload bytes), 0 heartbeats, no end "
       f"of session, 1 line; 342 frames, 491748 bytes written to {a}", "dadar-gen's summary line")
    check(open(a, "rb").read() == open(b, "rb").read(), "the two captures are not byte-identical")
    eq(os.path.getsize(a), 491748, "capture size")
    # Independently: the capture carries exactly the .fixed file's messages, in order, once.
    frames = frames_of(a)
    rx = pl.receive(frames, check_udp=True)
    eq(rx.errors, {}, "frames that a receiver would drop")
    eq(len(rx.datagrams), 342, "MoldUDP64 datagrams")
    check(all(len(f) - 42 <= 1400 for f in frames), "a UDP payload exceeds --max-payload 1400")
    cov = pl.covered_seqs(rx)
    eq(sorted(cov), list(range(1, 12013)), "sequence numbers carried")
    eq([cov[s] for s in range(1, 12013)], pl.read_binaryfile(SAMPLE_FIXED), "messages carried")


def check_sample_summary(s, pcap, pipeline, workers):
    frames = frames_of(pcap)
    eq(s["pipeline"], pipeline, "pipeline")
    eq(s["workers"], workers, "workers")
    eq(s["packets"], 342, "packets")
    eq(s["udp"], 342, "udp")
    eq(s["bytes"], sum(map(len, frames)), "bytes")
    eq(s["itch"]["messages"], SAMPLE_COUNTS, "itch.messages")
    eq(s["itch"]["total"], 12012, "itch.total")
    eq(s["itch"]["unknown"], 0, "itch.unknown")
    eq(s["itch"]["events"], 12012, "itch.events")
    mold = {k: s["moldudp64"][k] for k in MOLD_KEYS}
    eq(mold, dict(dict.fromkeys(MOLD_KEYS, 0), datagrams=342, delivered=12012), "moldudp64")
    eq(s["moldudp64"]["gap_ranges"], [], "moldudp64.gap_ranges")
    eq(s["errors"], {}, "errors")
    eq(s["book"]["unknown_ref"], 117, "book.unknown_ref")
    model = bookmodel.run(pl.read_binaryfile(SAMPLE_FIXED)).summary()
    eq({k: s["book"][k] for k in model}, model, "book counters against bookmodel.py")
    eq(s["book"]["instruments"], 3, "book.instruments")
    f = s["feeds"][0]
    eq((len(s["feeds"]), f["name"], f["session"], f["next_seq"], f["ended"]), (2, "itch", "DADAR00001", 12013, 0),
       "feeds[0] (count, name, session, next_seq, ended)")
    # the default payment feed (UDP port 26480) stands beside it, idle
    eq((s["feeds"][1]["name"], s["feeds"][1]["lines"][0]["dest"]), ("payments", "*:26480"), "feeds[1] (name, line)")
    eq(f["lines"], [{"dest": f"{GROUP_A}:{PORT}", "datagrams": 342, "delivered": 12012, "duplicates": 0,
                     "arbitration_dropped": 0}], "feeds[0].lines")


@test
def test_sample_replay_counts_every_message_type_and_books_match_reference():
    need_dadar()
    pcap, ref = sample_pcap(), sample_reference()
    r = dadar([pcap], quiet=False, name="rtc")
    check_sample_summary(r.ok(), pcap, "rtc", 1)
    same_file(r.dump, ref, "run-to-completion book dump vs itchbook.py")
    check(r.out.startswith("dadar: 342 packets, 12,012 ITCH messages in "), f"human summary: {r.out[:200]!r}")
    check("; 117 references to orders not in the book\n" in r.out and "REFUSED" not in r.out,
          f"human summary's book line: {r.out[:600]!r}")
    r = dadar([pcap], staged=2, name="staged")
    check_sample_summary(r.ok(), pcap, "staged", 2)
    same_file(r.dump, ref, "staged book dump vs itchbook.py")


# 2. Synthetic days with duplicates, swaps and malformed datagrams -------------------------------------

SYNTH_CASES = [
    # name, seed, instruments, messages, inject seed, configured feed
    ("s3", 3, 50, 20000, 1, None),
    ("s11", 11, 7, 6000, 2, None),
    ("s42", 42, 300, 30000, 3, f"itch={GROUP_A}:{PORT}"),
]


def synth_faulty(case):
    name, seed, ninstr, nmsg, iseed, _feed = case
    return synth(name, seed, ninstr, nmsg, "--dup-rate", "0.03", "--reorder-rate", "0.03", "--malformed-rate",
                 "0.05", "--inject-seed", iseed)


def check_clean_delivery(case, staged):
    name, _seed, _ninstr, nmsg, _iseed, feed = case
    pcap, itch, err = synth_faulty(case)
    msgs = pl.read_binaryfile(itch)
    eq(len(msgs), nmsg, "messages in --itch-out")
    frames = frames_of(pcap)
    lines = [(GROUP_A, PORT)] if feed else None
    rx = pl.receive(frames, feed_lines=lines)
    check(all(d[1] == pl.session_bytes("DADAR00001") for d in rx.datagrams),
          "test data: an injected frame frames as a valid datagram of another session; choose another seed")
    inj = gen_injected(err)
    check(inj["dups"] > 0 and inj["swaps"] > 0 and inj["malformed"] > 0 and inj["gaps"] == 0,
          f"test data: injections {inj}")
    delivered, reordered = sequence_without_loss([(d[2], d[3]) for d in pl.data_datagrams(rx)])
    eq(delivered, nmsg, "test data: messages a lossless receiver delivers")
    ref = reference_csv(msgs, tmp(name + "-reference.csv"))

    r = dadar([pcap], NO_TIMEOUT + (["--feed", feed] if feed else []), staged=staged, name=name)
    s = r.ok()
    m = s["moldudp64"]
    eq(s["packets"], len(frames), "packets")
    eq(s["udp"], rx.udp, "udp")
    eq(s["errors"], rx.errors, "errors (malformed frames and datagrams by reason)")
    check(any(k.startswith("mold_") for k in s["errors"]), f"no MoldUDP64 framing error listed: {s['errors']}")
    eq(m["datagrams"], len(rx.datagrams), "moldudp64.datagrams")
    eq(m["delivered"], nmsg, "moldudp64.delivered")
    eq((m["gaps"], m["missing"], m["gap_ranges"], m["late"]), (0, 0, [], 0), "moldudp64 (gaps, missing, ranges, late)")
    eq(m["duplicates"], copies(rx) - nmsg, "moldudp64.duplicates (every copy beyond the first)")
    check(m["duplicates"] > 0, "no duplicates counted")
    eq(m["reordered"], reordered, "moldudp64.reordered (datagrams that arrived ahead)")
    eq(reordered, inj["swaps"], "test data: swaps dadar-gen reported")
    eq(s["itch"]["messages"], type_counts(msgs), "itch.messages")
    eq(s["itch"]["total"], nmsg, "itch.total")
    if feed:
        eq(s["feeds"][0]["name"], "itch", "feeds[0].name")
    same_file(r.dump, ref, f"book dump ({'staged' if staged else 'rtc'}) vs itchbook.py on --itch-out")


@test
def test_synthetic_faults_deliver_the_clean_stream_run_to_completion():
    need_dadar()
    for case in SYNTH_CASES:
        check_clean_delivery(case, 0)


@test
def test_synthetic_faults_deliver_the_clean_stream_staged():
    need_dadar()
    for case in SYNTH_CASES:
        check_clean_delivery(case, 2)


@test
def test_full_worker_rings_hold_the_receiver_back_without_losing_events():
    """A full ring is backpressure, never a drop: tiny rings and bursts change nothing."""
    need_dadar()
    case = SYNTH_CASES[1]
    pcap, itch, _err = synth_faulty(case)
    ref = reference_csv(pl.read_binaryfile(itch), tmp("ring-reference.csv"))
    base = dadar([pcap], NO_TIMEOUT, name="ring-rtc").ok()
    for opts in (["--ring-size", "64"], ["--ring-size", "64", "--rx-burst", "1"]):
        r = dadar([pcap], NO_TIMEOUT + opts, staged=2, name="ring")
        s = r.ok()
        for k in ("packets", "itch", "errors"):
            eq(s[k], base[k], f"{' '.join(opts)}: {k} vs run to completion")
        eq({k: s["moldudp64"][k] for k in MOLD_KEYS}, {k: base["moldudp64"][k] for k in MOLD_KEYS},
           f"{' '.join(opts)}: moldudp64 vs run to completion")
        same_file(r.dump, ref, f"{' '.join(opts)}: book dump vs itchbook.py")


@test
def test_book_counters_do_not_depend_on_the_pipeline():
    """Every counter of the summary's book object is once per message, whatever the sharding."""
    need_dadar()
    case = SYNTH_CASES[0]
    pcap, itch, _err = synth_faulty(case)
    model = bookmodel.run(pl.read_binaryfile(itch)).summary()
    check(model["broken"] > 0 and model["crosses"] > 0, f"test data: no B or Q messages: {model}")
    for staged in (0, 2):
        s = dadar([pcap], NO_TIMEOUT, staged=staged, name=f"book{staged}").ok()
        eq({k: s["book"][k] for k in model}, model,
           f"book counters, {'staged with 2 workers' if staged else 'run to completion'}, vs bookmodel.py")
        eq(s["book"]["instruments"], case[2], "book.instruments")


# 3. Gaps ------------------------------------------------------------------------------------------------

def check_gaps(name, gen_opts, dadar_opts, first_seq=1, expect_ranges_over_64=False):
    pcap, itch, err = synth(name, 5, 40, 20000, "--gap-rate", *gen_opts)
    msgs = pl.read_binaryfile(itch)
    rx = pl.receive(frames_of(pcap))
    cov = pl.covered_seqs(rx)
    end = pl.stream_end(rx)
    eq(end, first_seq + len(msgs), "test data: end of the stream (the end of session reveals it)")
    missing = set(range(1, end)) - set(cov)
    rngs = pl.ranges(missing)
    inj = gen_injected(err)
    eq(len(missing), inj["gap_msgs"] + first_seq - 1, "test data: messages missing from the capture vs "
                                                        "dadar-gen's count")
    check(rngs and (len(rngs) > 64) == expect_ranges_over_64, f"test data: {len(rngs)} gap ranges")
    kept = [m for i, m in enumerate(msgs) if first_seq + i in cov]
    ref = reference_csv(kept, tmp(name + "-reference.csv"))

    r = dadar([pcap], dadar_opts, name=name)
    s = r.ok()
    m = s["moldudp64"]
    eq(m["gaps"], len(rngs), "moldudp64.gaps (one per run of missing sequence numbers)")
    eq(m["missing"], len(missing), "moldudp64.missing (sequence numbers in no datagram)")
    eq(m["delivered"], len(cov), "moldudp64.delivered")
    eq(m["duplicates"], copies(rx) - len(cov), "moldudp64.duplicates")
    eq(m["late"], 0, "moldudp64.late")
    expect = rngs[-64:]
    eq(m["gap_ranges"], expect, "moldudp64.gap_ranges" + (" (the last 64)" if expect_ranges_over_64 else ""))
    eq(s["feeds"][0]["gap_ranges"], expect, "feeds[0].gap_ranges")
    eq((m["end_of_session"], s["feeds"][0]["ended"]), (1, 1), "end of session (counted, ended)")
    eq(s["itch"]["total"], len(cov), "itch.total")
    eq(s["errors"], {}, "errors")
    same_file(r.dump, ref, "book dump vs itchbook.py on the messages that arrived")


@test
def test_gaps_are_declared_at_once_with_reorder_window_0():
    need_dadar()
    check_gaps("w0", ["0.03", "--dup-rate", "0.01", "--end-of-session"], ["--mold-reorder-window", "0"])


@test
def test_gaps_are_declared_once_the_default_window_gives_up():
    need_dadar()
    check_gaps("w16", ["0.03", "--first-seq", "1001", "--heartbeat-every", "7", "--end-of-session"], [],
               first_seq=1001)


@test
def test_gap_ranges_keep_the_last_64_gaps():
    need_dadar()
    check_gaps("many", ["0.35", "--inject-seed", "4", "--end-of-session"], ["--mold-reorder-window", "0"],
               expect_ranges_over_64=True)


def sequence_window_0(datagrams):
    """What a receiver that declares gaps at once makes of datagrams ((seq, count) in arrival order):
    (gap ranges, delivered seqs, duplicates, late)."""
    nxt, gaps, delivered, dups, late = 1, [], set(), 0, 0
    for seq, count in datagrams:
        end = seq + count
        if seq < nxt:
            ndup = min(end, nxt) - seq
            dups += ndup
            late += sum(max(0, min(g[1], seq + ndup - 1) - max(g[0], seq) + 1) for g in gaps)
            if ndup == count:
                continue
        if seq > nxt:
            gaps.append([nxt, seq - 1])
        delivered.update(range(max(seq, nxt), end))
        nxt = end
    return gaps, delivered, dups, late


@test
def test_reordered_datagrams_arrive_late_with_reorder_window_0():
    """Without a window a datagram ahead declares a gap at once; its missing neighbour, arriving
    right after, is late: dropped and counted in duplicates and late."""
    need_dadar()
    pcap, itch, err = synth("late", 31, 40, 20000, "--reorder-rate", "0.05", "--dup-rate", "0.02")
    msgs = pl.read_binaryfile(itch)
    rx = pl.receive(frames_of(pcap))
    gaps, delivered, dups, late = sequence_window_0([(d[2], d[3]) for d in pl.data_datagrams(rx)])
    inj = gen_injected(err)
    eq(len(gaps), inj["swaps"], "test data: one gap per swap")
    check(0 < len(gaps) < 64, f"test data: {len(gaps)} gaps")
    ref = reference_csv([m for i, m in enumerate(msgs) if i + 1 in delivered], tmp("late-reference.csv"))
    r = dadar([pcap], ["--mold-reorder-window", "0"], name="late")
    s = r.ok()
    m = s["moldudp64"]
    missing = sum(g[1] - g[0] + 1 for g in gaps)
    eq((m["gaps"], m["missing"], m["gap_ranges"]), (len(gaps), missing, gaps), "moldudp64 (gaps, missing, ranges)")
    eq((m["delivered"], m["duplicates"], m["late"], m["reordered"]), (len(delivered), dups, late, 0),
       "moldudp64 (delivered, duplicates, late, reordered)")
    eq(late, missing, "test data: every missing message arrived late")
    same_file(r.dump, ref, "book dump vs itchbook.py on the messages delivered")


@test
def test_losses_alone_reorder_no_datagram():
    """docs/outputs.md: moldudp64.reordered counts out-of-order datagrams the window put back in
    order. A capture that loses datagrams but never reorders them has none."""
    need_dadar()
    pcap, _itch, err = synth("lossy", 5, 40, 20000, "--gap-rate", "0.03", "--end-of-session")
    inj = gen_injected(err)
    check(inj["gaps"] > 0 and inj["swaps"] == 0, f"test data: injections {inj}")
    rx = pl.receive(frames_of(pcap))
    seqs = [d[2] for d in pl.data_datagrams(rx)]
    eq(seqs, sorted(seqs), "test data: datagrams in sequence order")
    s = dadar([pcap], name="lossy").ok()
    check(s["moldudp64"]["gaps"] > 0, "no gap declared")
    eq(s["moldudp64"]["reordered"], 0, "moldudp64.reordered for a capture in sequence order with losses")


# 4. A/B lines --------------------------------------------------------------------------------------------

def ab_capture(name, b_delay):
    return synth(name, 21, 30, 12000, "--lines", "2", "--b-delay", b_delay)


@test
def test_ab_lines_deliver_each_message_once_from_the_first_line():
    need_dadar()
    for b_delay in (0, 3):
        name = f"ab{b_delay}"
        pcap, itch, _err = ab_capture(name, b_delay)
        msgs = pl.read_binaryfile(itch)
        n = len(msgs)
        ref = reference_csv(msgs, tmp(name + "-reference.csv"))
        for staged in (0, 2):
            run_name = f"{name}-{'staged' if staged else 'rtc'}"
            r = dadar([pcap], staged=staged, name=run_name)
            s = r.ok()
            m = s["moldudp64"]
            what = f"--b-delay {b_delay}, {'staged' if staged else 'rtc'}: "
            eq((m["delivered"], m["arbitration_dropped"], m["gaps"], m["missing"]), (n, n, 0, 0),
               what + "moldudp64 (delivered, arbitration_dropped, gaps, missing)")
            eq(s["feeds"][0]["lines"], [
                {"dest": f"{GROUP_A}:{PORT}", "datagrams": m["datagrams"] // 2, "delivered": n, "duplicates": 0,
                 "arbitration_dropped": 0},
                {"dest": f"{GROUP_B}:{PORT}", "datagrams": m["datagrams"] // 2, "delivered": 0, "duplicates": 0,
                 "arbitration_dropped": n}], what + "feeds[0].lines")
            eq(s["errors"], {}, what + "errors")
            same_file(r.dump, ref, what + "book dump vs itchbook.py")


@test
def test_ab_lines_count_every_lost_race_as_an_arbitration_loss():
    """With two clean lines nothing is duplicated on a line: every dropped copy lost the A/B race.
    docs/outputs.md: moldudp64.duplicates counts copies a line had already brought,
    arbitration_dropped copies another line delivered first; the same split per line."""
    need_dadar()
    pcap, itch, _err = ab_capture("ab2", 2)
    n = len(pl.read_binaryfile(itch))
    s = dadar([pcap], name="ab2").ok()
    m = s["moldudp64"]
    lines = s["feeds"][0]["lines"]
    eq((m["arbitration_dropped"], m["duplicates"]), (n, 0), "moldudp64 (arbitration_dropped, duplicates)")
    eq([(ln["duplicates"], ln["arbitration_dropped"]) for ln in lines], [(0, 0), (0, n)],
       "per line (own duplicates, arbitration_dropped)")


@test
def test_line_b_fills_the_gaps_of_line_a():
    need_dadar()
    for b_delay in (0, 2):
        name = f"abgap{b_delay}"
        pcap, itch, err = synth(name, 23, 30, 20000, "--lines", "2", "--b-delay", b_delay, "--gap-rate", "0.08",
                                "--inject-seed", 7 + b_delay, "--end-of-session")
        msgs = pl.read_binaryfile(itch)
        rx = pl.receive(frames_of(pcap))
        cov = pl.covered_seqs(rx)
        on_a = {s for d in pl.data_datagrams(rx) if d[0] == (GROUP_A, PORT) for s in range(d[2], d[2] + d[3])}
        missing = set(range(1, len(msgs) + 1)) - set(cov)
        rngs = pl.ranges(missing)
        a_missing = len(msgs) - len(on_a)
        eq(a_missing, gen_injected(err, "A")["gap_msgs"], "test data: line A's holes vs dadar-gen's count")
        check(0 < len(missing) < a_missing and len(rngs) < 64,
              f"test data: {len(missing)} messages lost on both lines, {a_missing} on line A")
        ref = reference_csv([m for i, m in enumerate(msgs) if i + 1 in cov], tmp(name + "-reference.csv"))
        r = dadar([pcap], NO_TIMEOUT, name=name)
        s = r.ok()
        m = s["moldudp64"]
        what = f"--b-delay {b_delay}: "
        eq((m["gaps"], m["missing"], m["late"]), (len(rngs), len(missing), 0),
           what + "moldudp64 (gaps, missing, late): only datagrams lost on both lines")
        eq(m["gap_ranges"], rngs, what + "moldudp64.gap_ranges")
        eq(m["delivered"], len(cov), what + "moldudp64.delivered")
        lines = s["feeds"][0]["lines"]
        eq(sum(ln["delivered"] for ln in lines), len(cov), what + "delivered summed over the lines")
        check(lines[1]["delivered"] > 0, what + "line B delivered nothing")
        eq(sum(ln["duplicates"] + ln["arbitration_dropped"] for ln in lines), copies(rx) - len(cov),
           what + "copies dropped, summed over the lines")
        same_file(r.dump, ref, what + "book dump vs itchbook.py on the messages that arrived")


# 5. Heartbeats and the end of session -------------------------------------------------------------------

@test
def test_heartbeats_and_end_of_session_are_counted():
    need_dadar()
    for lines in (1, 2):
        pcap = sample_pcap("--heartbeat-every", "10", "--end-of-session",
                           *(["--lines", "2", "--b-delay", "2"] if lines == 2 else []))
        rx = pl.receive(frames_of(pcap))
        hb = sum(1 for d in rx.datagrams if d[3] == 0)
        eos = sum(1 for d in rx.datagrams if d[3] == pl.MOLD_EOS)
        eq((hb, eos), (34 * lines, lines), "test data: heartbeats and ends of session in the capture")
        r = dadar([pcap], name=f"hb{lines}", quiet=False)
        s = r.ok()
        m, f = s["moldudp64"], s["feeds"][0]
        what = f"{lines} line(s): "
        eq((m["heartbeats"], m["end_of_session"], m["delivered"], m["gaps"], m["missing"]),
           (hb, eos, 12012, 0, 0), what + "moldudp64 (heartbeats, end_of_session, delivered, gaps, missing)")
        eq((f["ended"], f["next_seq"]), (1, 12013), what + "feeds[0] (ended, next_seq)")
        check("next seq 12013 (ended)" in r.out, what + f"human summary does not say ended: {r.out[:400]!r}")
        eq(s["errors"], {}, what + "errors")
        same_file(r.dump, sample_reference(), what + "book dump")


@test
def test_session_change_releases_the_old_session_then_starts_the_new_one():
    """Session 1 loses a datagram near its end (the rest wait in the window), session 2 follows;
    two stray datagrams of session 1 after the change are stale, and one datagram of session 2
    after its end of session is dropped."""
    need_dadar()
    s1 = frames_of(sample_pcap())
    s2 = frames_of(sample_pcap("--session", "DADAR00002", "--end-of-session"))
    lost = pl.receive(s1[339:340]).datagrams[0]
    after = pl.udp_frame(pl.mold(12013, [pl.itch_add(1, 4242, b"B", 1, "ALC", 10000)], session="DADAR00002"))
    frames = s1[:339] + s1[340:] + s2[:5] + s1[:2] + s2[5:] + [after]
    pcap = tmp("sessions.pcap")
    pl.write_pcap(pcap, frames)
    fixed = pl.read_binaryfile(SAMPLE_FIXED)
    first = [msg for i, msg in enumerate(fixed) if not lost[2] <= i + 1 < lost[2] + lost[3]]
    model = bookmodel.run(first + fixed)
    ref = tmp("sessions-model.csv")
    model.write_csv(ref)
    r = dadar([pcap], name="sessions")
    s = r.ok()
    m, f = s["moldudp64"], s["feeds"][0]
    eq({k: m[k] for k in ("session_changes", "gaps", "missing", "delivered", "duplicates", "end_of_session")},
       {"session_changes": 1, "gaps": 1, "missing": lost[3], "delivered": 24024 - lost[3], "duplicates": 0,
        "end_of_session": 1}, "moldudp64")
    eq(m["gap_ranges"], [[lost[2], lost[2] + lost[3] - 1]], "moldudp64.gap_ranges")
    eq(s["errors"], {"mold_stale_session": 2, "mold_after_end": 1}, "errors")
    eq((f["session"], f["next_seq"], f["ended"]), ("DADAR00002", 12013, 1), "feeds[0] (session, next_seq, ended)")
    eq(s["itch"]["total"], 24024 - lost[3], "itch.total")
    want = model.summary()
    eq({k: s["book"][k] for k in want}, want, "book counters vs bookmodel.py over both sessions")
    same_file(r.dump, ref, "book dump vs bookmodel.py over both sessions")


# 6. VLAN ---------------------------------------------------------------------------------------------------

@test
def test_vlan_tagged_capture_decodes_like_the_untagged_one():
    need_dadar()
    plain, tagged = sample_pcap(), sample_pcap("--vlan", "100")
    ft = frames_of(tagged)
    check(all(f[12:16] == b"\x81\x00\x00\x64" for f in ft), "test data: a frame without the 802.1Q tag VID 100")
    a = dadar([plain], name="plain").ok()
    r = dadar([tagged], name="tagged")
    b = r.ok()
    for k in ("packets", "udp", "itch", "errors", "book"):
        eq(b[k], a[k], f"{k} of the tagged run vs the untagged one")
    eq({k: b["moldudp64"][k] for k in MOLD_KEYS}, {k: a["moldudp64"][k] for k in MOLD_KEYS}, "moldudp64")
    eq(b["bytes"], a["bytes"] + 4 * a["packets"], "bytes (4 more per tagged frame)")
    same_file(r.dump, sample_reference(), "tagged book dump")


@test
def test_jumbo_capture_decodes_like_the_standard_one():
    """9000-byte frames span several mbufs: dadar reassembles them (and checks UDP checksums)."""
    need_dadar()
    pcap = sample_pcap("--max-payload", "8972")
    frames = frames_of(pcap)
    check(max(map(len, frames)) > 8000, "test data: no jumbo frame")
    r = dadar([pcap], ["--check-udp-csum"], name="jumbo")
    s = r.ok()
    eq((s["packets"], s["errors"], s["itch"]["messages"], s["moldudp64"]["delivered"]),
       (len(frames), {}, SAMPLE_COUNTS, 12012), "(packets, errors, itch.messages, delivered)")
    same_file(r.dump, sample_reference(), "book dump")


# 7. Configured feeds ---------------------------------------------------------------------------------------

@test
def test_configured_feed_accepts_its_group_and_port():
    need_dadar()
    pcap = sample_pcap()
    r = dadar([pcap], ["--feed", f"nasdaq={GROUP_A}:{PORT}"], name="nasdaq")
    s = r.ok()
    eq(s["itch"]["messages"], SAMPLE_COUNTS, "itch.messages")
    eq((s["moldudp64"]["delivered"], s["errors"]), (12012, {}), "(delivered, errors)")
    f = s["feeds"]
    eq((len(f), f[0]["name"], [ln["dest"] for ln in f[0]["lines"]]), (1, "nasdaq", [f"{GROUP_A}:{PORT}"]),
       "feeds (count, name, line destinations)")
    same_file(r.dump, sample_reference(), "book dump")
    # Both A/B lines named in the configuration, B first: the configured order names the lines.
    ab = sample_pcap("--lines", "2", "--b-delay", "1")
    s = dadar([ab], ["--feed", f"nasdaq={GROUP_B}:{PORT}, {GROUP_A}:*"], name="nasdaq-ab").ok()
    ln = s["feeds"][0]["lines"]
    eq([(x["dest"], x["delivered"], x["arbitration_dropped"]) for x in ln],
       [(f"{GROUP_B}:{PORT}", 0, 12012), (f"{GROUP_A}:*", 12012, 0)], "configured A/B lines (dest, delivered, arb)")


@test
def test_feed_on_another_port_decodes_nothing_and_counts_no_feed():
    need_dadar()
    r = dadar([sample_pcap()], ["--feed", f"nasdaq={GROUP_A}:{PORT + 1}"], name="elsewhere")
    s = r.ok()
    eq(s["errors"], {"no_feed": 342}, "errors")
    eq((s["udp"], s["itch"]["total"], s["itch"]["messages"], s["moldudp64"]["datagrams"],
        s["moldudp64"]["delivered"]), (342, 0, {}, 0, 0), "(udp, itch.total, itch.messages, datagrams, delivered)")
    eq(open(r.dump).read(), "symbol,side,level,price,shares,orders\n", "book dump")


@test
def test_two_feeds_keep_separate_sessions_and_books():
    need_dadar()
    a = sample_pcap()
    b, itch_b, _err = synth("second", 8, 10, 3000, "--group", "233.54.12.112", "--port", "26480", "--session",
                            "SYNTH00001")
    fa, fb = frames_of(a), frames_of(b)
    merged = []
    for i in range(max(len(fa), len(fb))):
        merged += fa[i:i + 1] + fb[i:i + 1]
    pcap = tmp("two-feeds.pcap")
    pl.write_pcap(pcap, merged)
    for staged in (0, 2):
        check_two_feeds(pcap, itch_b, staged)


def check_two_feeds(pcap, itch_b, staged):
    r = dadar([pcap], ["--feed", f"sample={GROUP_A}:{PORT}", "--feed", "synth=233.54.12.112:26480"],
              staged=staged, name=f"two{staged}")
    s = r.ok()
    msgs_b = pl.read_binaryfile(itch_b)
    eq([(f["name"], f["session"], f["next_seq"]) for f in s["feeds"]],
       [("sample", "DADAR00001", 12013), ("synth", "SYNTH00001", 3001)], "feeds (name, session, next_seq)")
    eq(s["itch"]["total"], 12012 + len(msgs_b), "itch.total")
    eq(s["errors"], {}, "errors")
    check("gap_ranges" not in s["moldudp64"], "moldudp64.gap_ranges written for two feeds")
    for f, msgs in zip(s["feeds"], (pl.read_binaryfile(SAMPLE_FIXED), msgs_b)):
        model = bookmodel.run(msgs).summary()
        if staged:  # broken trades are counted once per worker: test_book_counters_do_not_depend_on_the_pipeline
            del model["broken"]
        eq({k: f["book"][k] for k in model}, model, f"feed {f['name']}: book counters vs bookmodel.py")
    # Expected dump: each feed's reference rows as FEED:SYMBOL, ordered by symbol, then feed.
    groups = []
    for idx, (name, ref) in enumerate((("sample", sample_reference()),
                                       ("synth", reference_csv(msgs_b, tmp("second-reference.csv"))))):
        for row in open(ref).read().splitlines()[1:]:
            sym = row.split(",")[0]
            if not groups or groups[-1][:2] != (sym.encode(), idx):
                groups.append((sym.encode(), idx, []))
            groups[-1][2].append(f"{name}:{row}")
    groups.sort(key=lambda g: g[:2])
    want = "symbol,side,level,price,shares,orders\n" + "".join(r + "\n" for g in groups for r in g[2])
    with open(tmp("two-expected.csv"), "w") as f:
        f.write(want)
    same_file(r.dump, tmp("two-expected.csv"), f"two-feed book dump ({'staged' if staged else 'rtc'})")


@test
def test_catch_all_feed_learns_at_most_four_lines():
    """Without --feed every destination is a line of its own, in order of appearance, up to four;
    later destinations share the fourth."""
    need_dadar()
    base = frames_of(sample_pcap())
    groups = [f"233.54.12.{111 + k}" for k in range(5)]
    frames = []
    for f in base:
        _v, (_dst, _port, payload) = pl.frame_verdict(f)
        frames += [pl.udp_frame(payload, dst=g) for g in groups]
    pcap = tmp("five-groups.pcap")
    pl.write_pcap(pcap, frames)
    r = dadar([pcap], name="five")
    s = r.ok()
    # The fifth group's copies reach the fourth line after the fourth group's: own-line duplicates.
    eq([(ln["dest"], ln["datagrams"], ln["delivered"], ln["duplicates"], ln["arbitration_dropped"])
        for ln in s["feeds"][0]["lines"]],
       [(f"{groups[0]}:{PORT}", 342, 12012, 0, 0), (f"{groups[1]}:{PORT}", 342, 0, 0, 12012),
        (f"{groups[2]}:{PORT}", 342, 0, 0, 12012), (f"{groups[3]}:{PORT}", 684, 0, 12012, 12012)],
       "learned lines (dest, datagrams, delivered, duplicates, arbitration_dropped)")
    eq((s["moldudp64"]["delivered"], s["moldudp64"]["arbitration_dropped"]), (12012, 3 * 12012),
       "moldudp64 (delivered, arbitration_dropped)")
    same_file(r.dump, sample_reference(), "book dump")


@test
def test_lines_can_be_told_apart_by_dpdk_port():
    """The same datagrams on two ports: one line per port when the feed names the ports (A/B
    arbitration), a single learned line otherwise (own-line duplicates)."""
    need_dadar()
    pcap = sample_pcap()
    vdevs = [f"net_pcap0,rx_pcap={pcap}", f"net_pcap1,rx_pcap={pcap}"]
    s = dadar(vdevs, ["--feed", f"nasdaq=*:{PORT}@0,*:{PORT}@1"], name="by-port").ok()
    ln = s["feeds"][0]["lines"]
    eq([(x["dest"], x["datagrams"], x["duplicates"]) for x in ln], [(f"*:{PORT}@0", 342, 0), (f"*:{PORT}@1", 342, 0)],
       "lines by DPDK port (dest, datagrams, own duplicates)")
    eq((sum(x["delivered"] for x in ln), sum(x["arbitration_dropped"] for x in ln), s["packets"]),
       (12012, 12012, 684), "(delivered, arbitration_dropped, packets) summed over the lines")
    r = dadar(vdevs, name="one-line")
    s = r.ok()
    eq([(x["dest"], x["datagrams"], x["delivered"], x["duplicates"], x["arbitration_dropped"])
        for x in s["feeds"][0]["lines"]], [(f"{GROUP_A}:{PORT}", 684, 12012, 12012, 0)],
       "catch-all: one learned line (dest, datagrams, delivered, duplicates, arbitration_dropped)")
    same_file(r.dump, sample_reference(), "book dump")


@test
def test_empty_capture_writes_an_empty_summary():
    need_dadar()
    pcap = tmp("empty.pcap")
    pl.write_pcap(pcap, [])
    r = dadar([pcap], name="empty")
    s = r.ok()
    eq((s["packets"], s["itch"]["total"], s["errors"], s["feeds"][0]["session"], s["feeds"][0]["lines"]),
       (0, 0, {}, "", []), "(packets, itch.total, errors, session, lines)")
    eq(open(r.dump).read(), "symbol,side,level,price,shares,orders\n", "book dump")


# 8. Hostile input -------------------------------------------------------------------------------------------

HOSTILE_VALID = [
    pl.itch_system(b"O"),
    pl.itch_directory(1, "ALPHA"),
    pl.itch_directory(2, "BETA"),
    pl.itch_add(1, 10, b"B", 100, "ALPHA", 100000),
    pl.itch_add(1, 11, b"S", 200, "ALPHA", 100100),
    pl.itch_add(2, 12, b"B", 300, "BETA", 50000, mpid="MPID"),
    pl.itch_add(2, 13, b"S", 50, "BETA", 50100),
    pl.itch_add(1, 14, b"B", 70, "ALPHA", 99900),
    pl.itch_exec(1, 10, 30, 1),
    pl.itch_exec_price(1, 11, 50, 2, 100100),
    pl.itch_cancel(2, 12, 100),
    pl.itch_delete(2, 13),
    pl.itch_replace(1, 14, 15, 80, 99800),
    pl.itch_trade(1, "ALPHA", 500, 100050, 3),
    pl.itch_add(1, 16, b"B", 0, "ALPHA", 100000),     # zero shares: bad order
    pl.itch_add(1, 17, b"Z", 10, "ALPHA", 100000),    # no such side: bad order
    pl.itch_add(1, 10, b"B", 10, "ALPHA", 100000),    # live reference: duplicate
    pl.itch_exec(1, 99, 10, 4),                       # unknown reference
    pl.itch_cancel(1, 11, 1000),                      # more than is left: over-executed, order gone
    pl.itch_replace(1, 15, 12, 10, 99700),            # new reference is live: duplicate
    pl.itch_delete(1, 98),                            # unknown reference
    pl.itch_trading_action(1, "ALPHA"),
    pl.itch_cross(2, "BETA", 1000, 50050, 5),
    pl.itch_broken(3),
    pl.itch_add(2, 18, b"S", 10, "BETA", 50200),
]
HOSTILE_BOOK = {"adds": 6, "executions": 2, "cancels": 2, "deletes": 1, "replaces": 1, "trades": 1, "crosses": 1,
                "broken": 1, "unknown_ref": 2, "duplicate_ref": 2, "overexecuted": 1, "bad_order": 2,
                "order_overflow": 0, "level_overflow": 0, "orders": 4, "levels": 4}
# Messages inside valid datagrams that a receiver must skip: (message, reason)
HOSTILE_ITCH = [
    (pl.itch_add(1, 40, b"B", 1, "ALPHA", 1)[:-1], "itch_bad_length"),   # A one byte short
    (pl.itch_system(b"O") + b"X", "itch_bad_length"),                  # S one byte long
    (b"Z" + bytes(14), "unknown"),                                     # no such type
    (b"z", "unknown"),
    (b"", "itch_empty"),
    (b"", "itch_empty"),
]


def poison(seq):
    """A datagram at `seq` that would put order 777 in the book if a receiver took it."""
    return pl.mold(seq, [pl.itch_add(1, 777, b"B", 1, "ALPHA", 12345)])


def hostile_capture():
    """(frames, expected errors, valid messages in order, other facts) of a capture where every
    malformed kind is interleaved with valid datagrams, some of them in unusual but legal frames."""
    frames, errors, msgs = [], {}, []
    seq = [1]
    jumbo_trades = [pl.itch_trade(2, "BETA", 1, 50000, 100 + i) for i in range(190)]
    datagram_msgs = [HOSTILE_VALID[i:i + 2] for i in range(0, len(HOSTILE_VALID), 2)]
    datagram_msgs[3] = [datagram_msgs[3][0], HOSTILE_ITCH[0][0], datagram_msgs[3][1], HOSTILE_ITCH[4][0]]
    datagram_msgs[5] = [HOSTILE_ITCH[1][0], datagram_msgs[5][0], HOSTILE_ITCH[2][0], datagram_msgs[5][1]]
    datagram_msgs[8] = [HOSTILE_ITCH[3][0]] + datagram_msgs[8] + [HOSTILE_ITCH[5][0]]
    datagram_msgs.insert(6, jumbo_trades)
    delivered = sum(map(len, datagram_msgs))

    def bad(frame, reason):
        frames.append(frame)
        errors[reason] = errors.get(reason, 0) + 1

    def ip_frame(ip_packet, vlans=()):
        return pl.eth(ip_packet, vlans=vlans)

    def udp_ip(payload, **ip_kw):
        return pl.ipv4(pl.udp(payload), **ip_kw)

    nxt = lambda: poison(seq[0])  # noqa: E731
    hostile = [
        lambda: bad(b"\x01\x00\x5e\x36\x6c\x6f\x02\x00\x00", "eth_short"),
        lambda: bad(bytes(13), "eth_short"),
        lambda: bad(pl.eth(b"", pl.ETH_VLAN) + b"\x00\x64", "vlan_short"),
        lambda: bad(pl.eth(udp_ip(nxt()), vlans=[(pl.ETH_QINQ, 1), (pl.ETH_VLAN, 2), (pl.ETH_VLAN, 3)]),
                    "vlan_short"),
        lambda: bad(pl.arp_request(), "not_ipv4"),
        lambda: bad(pl.eth(bytes(40) + nxt(), pl.ETH_IPV6), "not_ipv4"),
        lambda: bad(pl.eth(bytes(46), 0x88CC), "not_ipv4"),
        lambda: bad(pl.eth(bytes(10)), "ip_short"),
        lambda: bad(ip_frame(udp_ip(nxt(), version=6)), "ip_bad_header"),
        lambda: bad(ip_frame(udp_ip(nxt(), ihl=4)), "ip_bad_header"),
        lambda: bad(ip_frame(udp_ip(nxt(), total=20 + 8 + len(nxt()) + 1)), "ip_bad_header"),
        lambda: bad(ip_frame(udp_ip(nxt(), total=19)), "ip_bad_header"),
        lambda: bad(ip_frame(udp_ip(nxt(), good_csum=False)), "ip_bad_checksum"),
        lambda: bad(ip_frame(udp_ip(nxt(), frag=0x2000)), "ip_fragment"),
        lambda: bad(ip_frame(udp_ip(nxt(), frag=0x0010)), "ip_fragment"),
        lambda: bad(ip_frame(pl.ipv4(bytes(20) + nxt(), proto=pl.PROTO_TCP)), "not_udp"),
        lambda: bad(ip_frame(pl.ipv4(b"\x08\x00\xf7\xff" + bytes(4), proto=pl.PROTO_ICMP)), "not_udp"),
        lambda: bad(ip_frame(pl.ipv4(pl.udp(b"")[:4])), "udp_bad_length"),
        lambda: bad(ip_frame(pl.ipv4(pl.udp(nxt(), length=7))), "udp_bad_length"),
        lambda: bad(ip_frame(pl.ipv4(pl.udp(nxt(), length=8 + len(nxt()) + 1))), "udp_bad_length"),
        lambda: bad(pl.udp_frame(nxt()[:19]), "mold_short"),
        lambda: bad(pl.udp_frame(b""), "mold_short"),
        lambda: bad(pl.udp_frame(nxt()[:-1]), "mold_msg_overrun"),
        lambda: bad(pl.udp_frame(pl.mold(seq[0], [], count=1) + b"\x00"), "mold_msg_overrun"),
        lambda: bad(pl.udp_frame(pl.mold(seq[0], [pl.itch_delete(1, 10)] * 2, count=3)), "mold_count_mismatch"),
        lambda: bad(pl.udp_frame(pl.mold(seq[0], [pl.itch_delete(1, 10)] * 2, count=1)), "mold_trailing"),
        lambda: bad(pl.udp_frame(pl.heartbeat(seq[0]) + b"\x00"), "mold_trailing"),
        lambda: bad(pl.udp_frame(pl.mold(0, [pl.itch_delete(1, 10)])), "mold_bad_seq"),
        lambda: bad(pl.udp_frame(pl.mold(2**64 - 1, [pl.itch_delete(1, 10)] * 2)), "mold_bad_seq"),
        lambda: bad(pl.udp_frame(nxt(), port=PORT + 1), "no_feed"),
        lambda: bad(pl.udp_frame(nxt(), dst="233.54.12.112"), "no_feed"),
        lambda: bad(pl.udp_frame(pl.mold(seq[0], [pl.itch_trade(1, "ALPHA", 1, 1, 9)] * 400)), "frame_too_long"),
    ]
    # Valid datagrams, one per frame shape a receiver must take.
    shapes = [
        lambda p: pl.udp_frame(p),
        lambda p: pl.udp_frame(p) + b"\xee" * 40,                         # Ethernet padding / trailer
        lambda p: pl.eth(pl.ipv4(pl.udp(p), options=b"\x01\x01\x01\x00")),  # IP options (IHL 6)
        lambda p: pl.udp_frame(p, checksum="zero"),                        # no UDP checksum
        lambda p: pl.udp_frame(p, vlans=[(pl.ETH_VLAN, 7)]),
        lambda p: pl.udp_frame(p, vlans=[(pl.ETH_QINQ, 5), (pl.ETH_VLAN, 7)]),
    ]
    h = 0
    for i, dm in enumerate(datagram_msgs):
        d = pl.mold(seq[0], dm)
        frames.append(shapes[i % len(shapes)](d))
        seq[0] += len(dm)
        msgs += dm
        if i == 2:  # a heartbeat, and a copy of the datagram just sent with a wrong UDP checksum
            frames.append(pl.udp_frame(pl.heartbeat(seq[0])))
            frames.append(pl.udp_frame(d, checksum="bad"))
        for _ in range(4):
            if h < len(hostile):
                hostile[h]()
                h += 1
    while h < len(hostile):
        hostile[h]()
        h += 1
    frames.append(pl.udp_frame(pl.end_of_session(seq[0])))
    dup_copy = len(datagram_msgs[2])
    return frames, errors, msgs, dict(delivered=delivered, dup_copy=dup_copy, next_seq=seq[0])


@test
def test_hostile_frames_are_counted_by_reason_and_valid_datagrams_between_them_decode():
    need_dadar()
    frames, errors, msgs, facts = hostile_capture()
    pcap = tmp("hostile.pcap")
    pl.write_pcap(pcap, frames)
    feed = ["--feed", f"hostile={GROUP_A}:{PORT}"]
    lines = [(GROUP_A, PORT)]
    itch_errors = {"itch_bad_length": 2, "itch_empty": 2}
    valid = [m for m in msgs if m and len(m) == pl.ITCH_LEN.get(m[:1], -1)]
    eq(len(valid), len(HOSTILE_VALID) + 190, "test data: decodable messages")
    ref = reference_csv(valid, tmp("hostile-reference.csv"))
    for udp_csum in (False, True):
        want = dict(errors, **itch_errors)
        if udp_csum:
            want["udp_bad_checksum"] = 1
        # The model of a correct receiver must agree with the construction, or the test data is wrong.
        rx = pl.receive(frames, feed_lines=lines, check_udp=udp_csum)
        eq(dict(rx.errors, **itch_errors), want, "test data: pcaplib's receiver vs the construction")
        name = "hostile-udp-csum" if udp_csum else "hostile"
        r = dadar([pcap], feed + (["--check-udp-csum"] if udp_csum else []), name=name)
        s = r.ok()
        what = "with --check-udp-csum: " if udp_csum else ""
        eq(s["packets"], len(frames), what + "packets")
        eq(s["errors"], want, what + "errors")
        m = s["moldudp64"]
        eq((m["delivered"], m["gaps"], m["missing"], m["heartbeats"], m["end_of_session"]),
           (facts["delivered"], 0, 0, 1, 1), what + "moldudp64 (delivered, gaps, missing, heartbeats, end)")
        eq(m["duplicates"], 0 if udp_csum else facts["dup_copy"], what + "moldudp64.duplicates")
        eq(s["feeds"][0]["next_seq"], facts["next_seq"], what + "feeds[0].next_seq")
        eq(s["itch"]["messages"], type_counts(valid), what + "itch.messages")
        eq(s["itch"]["unknown"], 2, what + "itch.unknown")
        book = {k: s["book"][k] for k in HOSTILE_BOOK}
        eq(book, dict(HOSTILE_BOOK, trades=191), what + "book counters")
        eq(bookmodel.run(valid).summary(), dict(HOSTILE_BOOK, trades=191), "test data: bookmodel.py")
        same_file(r.dump, ref, what + "book dump vs itchbook.py")


ODD_SESSION = b'E"\\\x01\x7f\xfe\xff Z!'  # 10 bytes a JSON writer must escape


def random_frames(n, seed):
    """Seeded junk: random bytes, random UDP payloads, mutated and truncated valid frames, datagrams
    of random (valid and invalid) ITCH messages under a few session names, some not printable;
    the last frame is a heartbeat of session ODD_SESSION."""
    rng = random.Random(seed)
    sessions = [b"DADAR00001", b"DADAR00002", b'Q"\\\x01\x7f\xfe\xff  X', b"DADAR00001"]
    types = list(pl.ITCH_LEN)

    def rbytes(k):
        return bytes(rng.getrandbits(8) for _ in range(k))

    def random_msg():
        t = rng.choice(types)
        k = pl.ITCH_LEN[t] if rng.random() < 0.8 else rng.randrange(0, 60)
        body = bytearray(t + rbytes(max(0, k - 1)))[:k]
        if len(body) >= 3 and rng.random() < 0.9:
            body[1:3] = struct.pack(">H", rng.randrange(1, 40))  # locates that repeat
        if len(body) >= 19 and rng.random() < 0.9:
            body[11:19] = struct.pack(">Q", rng.randrange(1, 300))  # references that repeat
        return bytes(body)

    def random_datagram():
        msgs = [random_msg() for _ in range(rng.randrange(0, 6))]
        count = len(msgs) if rng.random() < 0.9 else rng.choice([0, 0xFFFF, len(msgs) + 1])
        seq = rng.choice([rng.randrange(1, 200)] * 8 + [0, 2**64 - 1])
        body = b"".join(struct.pack(">H", len(m)) + m for m in msgs)
        if count in (0, 0xFFFF) and rng.random() < 0.7:
            body = b""
        return rng.choice(sessions) + struct.pack(">QH", seq, count) + body

    out = []
    for _ in range(n - 1):
        kind = rng.randrange(6)
        vlans = [(pl.ETH_VLAN, rng.randrange(4096))] if rng.random() < 0.2 else []
        if kind == 0:
            f = rbytes(rng.randrange(1, 200))
        elif kind == 1:
            f = pl.eth(rbytes(rng.randrange(0, 80)), vlans=vlans)
        elif kind == 2:
            f = pl.udp_frame(rbytes(rng.randrange(0, 300)), vlans=vlans, port=rng.choice([PORT, PORT, 9]))
        elif kind == 3:
            f = pl.udp_frame(random_datagram(), vlans=vlans)
        elif kind == 4:
            f = bytearray(pl.udp_frame(random_datagram(), vlans=vlans))
            for _k in range(rng.randrange(1, 4)):
                f[rng.randrange(len(f))] = rng.getrandbits(8)
            f = bytes(f)
        else:
            f = pl.udp_frame(random_datagram(), vlans=vlans)
            f = f[:rng.randrange(1, len(f) + 1)]
        out.append(f)
    out.append(pl.udp_frame(ODD_SESSION + struct.pack(">QH", 1, 0)))
    return out


@test
def test_random_frames_are_survived_and_counted():
    need_dadar()
    frames = random_frames(20000, 20240601)
    pcap = tmp("random.pcap")
    pl.write_pcap(pcap, frames)
    rx = pl.receive(frames)
    s = dadar([pcap], NO_TIMEOUT, name="random").ok()
    eq(s["packets"], len(frames), "packets")
    eq(s["udp"], rx.udp, "udp")
    predicted = set(rx.errors) | {"mold_" + e for e in ("short", "msg_overrun", "count_mismatch", "trailing",
                                                        "bad_seq")}
    eq({k: v for k, v in s["errors"].items() if k in predicted}, rx.errors,
       "errors a receiver decides per frame or per datagram")
    check(set(s["errors"]) <= predicted | {"mold_stale_session", "mold_after_end", "mold_seq_jump", "itch_bad_length",
                                           "itch_empty", "pay_bad_length", "pay_unknown", "pay_bad_version"},
          f"unexpected error keys: {sorted(s['errors'])}")  # random datagrams to port 26480 are payments
    eq(s["moldudp64"]["datagrams"], len(rx.datagrams), "moldudp64.datagrams")
    parse_errors = sum(v for k, v in s["errors"].items() if k.startswith("mold_") and k[5:] in
                       ("short", "msg_overrun", "count_mismatch", "trailing", "bad_seq"))
    eq(s["udp"], s["moldudp64"]["datagrams"] + parse_errors, "udp = datagrams + MoldUDP64 framing errors")
    check(s["itch"]["total"] > 0 and s["moldudp64"]["session_changes"] > 0,
          f"test data reached neither the ITCH decoder nor a session change: {s['itch']}")
    eq(s["feeds"][0]["session"], ODD_SESSION.decode("latin-1"), "feeds[0].session (JSON escaping)")
    check(open(tmp("random.csv"), "rb").readline() == b"symbol,side,level,price,shares,orders\n", "book dump header")
    s2 = dadar([pcap], NO_TIMEOUT, staged=2, name="random-staged").ok()
    for k in ("packets", "udp", "errors", "itch"):
        eq(s2[k], s[k], f"staged vs run to completion: {k}")


# 9. Shutdown ---------------------------------------------------------------------------------------------------

def handlers_installed(pid, sigs):
    try:
        with open(f"/proc/{pid}/status") as f:
            caught = int(re.search(r"^SigCgt:\s*([0-9a-f]+)", f.read(), re.M).group(1), 16)
    except (OSError, AttributeError):
        return False
    return all(caught >> (s - 1) & 1 for s in sigs)


def interrupt(cmd, sig, after=1.0):
    """Start cmd, wait until it has installed its SIGINT and SIGTERM handlers, let it run `after`
    seconds, send `sig`; returns (exit status, stderr). Fails if it takes 5 s or more to stop."""
    p = spawn(cmd)
    try:
        deadline = time.monotonic() + 30
        while not handlers_installed(p.pid, (signal.SIGINT, signal.SIGTERM)):
            if p.poll() is not None or time.monotonic() > deadline:
                kill_group(p)
                _out, err = p.communicate()
                raise AssertionError(f"dadar exited ({p.returncode}) or never installed its signal handlers: "
                                     f"{' '.join(cmd)}\n{err[-2000:]}")
            time.sleep(0.02)
        time.sleep(after)
        t0 = time.monotonic()
        p.send_signal(sig)
        try:
            _out, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"dadar still running 10 s after {signal.Signals(sig).name}")
        took = time.monotonic() - t0
    finally:
        kill_group(p)
        CHILDREN.discard(p)
        cleanup()
    check(took < 5, f"dadar took {took:.1f} s to stop after {signal.Signals(sig).name}")
    return p.returncode, err


def check_signal_stop(sig, staged, name):
    pcap = sample_pcap()
    s_path, d_path = tmp(name + ".json"), tmp(name + ".csv")
    cores = lcore_args(staged + 1) if staged else None
    opts = ["--quiet", "--summary", s_path, "--book-dump", d_path] + instance_opts()
    if staged:
        opts += ["--pipeline", "staged", "--workers", str(staged)]
    cmd = [DADAR] + eal([f"net_pcap0,rx_pcap={pcap},infinite_rx=1"], cores) + ["--"] + opts
    rc, err = interrupt(cmd, sig)
    eq(rc, 0, f"exit status after {signal.Signals(sig).name} (stderr: {err.strip()[-500:]})")
    check(os.path.exists(s_path), "no summary written")
    s = json.load(open(s_path))
    counts = [d[3] for d in pl.receive(frames_of(pcap)).datagrams]
    n = s["packets"]
    check(n > len(counts), f"packets {n}: the capture ({len(counts)} frames) did not loop")
    total = n // len(counts) * 12012 + sum(counts[:n % len(counts)])
    m = s["moldudp64"]
    eq((m["delivered"], m["gaps"], m["missing"], m["duplicates"]), (12012, 0, 0, total - 12012),
       "moldudp64 (delivered, gaps, missing, duplicates of every later pass)")
    eq(s["itch"]["messages"], SAMPLE_COUNTS, "itch.messages")
    same_file(d_path, sample_reference(), "book dump")


@test
def test_sigint_stops_a_looping_capture_and_writes_the_summary():
    need_dadar()
    check_signal_stop(signal.SIGINT, 0, "sigint")


@test
def test_sigterm_stops_a_looping_capture_and_writes_the_summary():
    need_dadar()
    check_signal_stop(signal.SIGTERM, 0, "sigterm")


@test
def test_sigint_stops_the_staged_pipeline_and_writes_the_summary():
    need_dadar()
    check_signal_stop(signal.SIGINT, 2, "sigint-staged")


@test
def test_bench_loop_replays_every_pass_of_a_drained_capture():
    """--bench-loop: a looping capture starts the session over on each pass; with --drain the
    book is empty at the end of every pass, so the counters are passes times one pass."""
    need_dadar()
    pcap, itch, _err = synth("loop", 12, 10, 4000, "--drain")
    msgs = pl.read_binaryfile(itch)
    one = bookmodel.run(msgs)
    eq((len(one.orders), len(one.levels)), (0, 0), "test data: book after one drained pass")
    counts = [d[3] for d in pl.receive(frames_of(pcap)).datagrams]
    s_path, d_path = tmp("loop.json"), tmp("loop.csv")
    cmd = [DADAR] + eal([f"net_pcap0,rx_pcap={pcap},infinite_rx=1"]) + [
        "--", "--bench-loop", "--quiet", "--summary", s_path, "--book-dump", d_path] + instance_opts()
    rc, err = interrupt(cmd, signal.SIGINT)
    eq(rc, 0, f"exit status (stderr {err.strip()[-500:]!r})")
    s = json.load(open(s_path))
    n = s["packets"]
    passes, rest = divmod(n, len(counts))
    check(passes >= 2, f"packets {n}: fewer than two passes")
    partial = sum(counts[:rest])
    m = s["moldudp64"]
    eq((m["delivered"], m["duplicates"], m["gaps"], m["missing"]), (passes * len(msgs) + partial, 0, 0, 0),
       "moldudp64 (delivered, duplicates, gaps, missing)")
    tail = bookmodel.run(msgs[:partial])
    want = {k: passes * one.stats[k] + tail.stats[k] for k in bookmodel.COUNTERS}
    want.update(orders=len(tail.orders), levels=len(tail.levels))
    eq({k: s["book"][k] for k in want}, want, "book counters: passes x one pass + the partial pass")
    ref = tmp("loop-model.csv")
    tail.write_csv(ref)
    same_file(d_path, ref, "book dump vs the partial pass")


# 10-12. Configuration and environment errors --------------------------------------------------------------

# (options, regular expressions the message must match: the key and the offending value)
BAD_OPTIONS = [
    (["--workers", "0"], [r"workers = '0'", r"1 to 64"]),
    (["--workers", "-1"], [r"workers = '-1'"]),
    (["--workers", "18446744073709551616"], [r"workers = '18446744073709551616'"]),
    (["--capacity-orders", "x"], [r"capacity\.orders = 'x'"]),
    (["--pipeline", "fast"], [r"pipeline = 'fast'", r"rtc or staged"]),
    (["--feed", "bad"], [r"--feed needs NAME=GROUP:PORT"]),
    (["--feed", "x=bad"], [r"feed(\.| ')x\b", r"'bad'"]),
    (["--feed", "x=233.54.12.111:0"], [r"feed(\.| ')x\b", r"'233\.54\.12\.111:0'"]),
    (["--feed", "x=233.54.12.300:1"], [r"feed(\.| ')x\b", r"'233\.54\.12\.300:1'"]),
    (["--feed", "x=1.2.3.4:5", "--feed", "y=1.2.3.4:5"], [r"feed(\.| ')x\b.*feed(\.| ')y\b", r"1\.2\.3\.4:5"]),
    (["--feed", f"x={GROUP_A}:{PORT},*:{PORT}"], [r"feed(\.| ')x\b", rf"\*:{PORT}"]),
    (["--ring-size", "1000"], [r"ring_size = '?1000", r"power of 2"]),
    (["--rx-burst", "512", "--mbufs", "1023"], [r"rx_burst = '?512", r"mbufs = '?1023"]),
    (["--mold-reorder-window", "65"], [r"mold\.reorder_window = '65'", r"0 to 64"]),
    (["--set", "quiet=maybe"], [r"quiet = 'maybe'"]),
    (["--instance", "bad name"], [r"instance = 'bad name'"]),
    (["--set", "nosuch=1"], [r"unknown key 'nosuch'"]),
    (["--frobnicate"], [r"unknown option '--frobnicate'"]),
    (["--exit-on-idle"], [r"--exit-on-idle needs a value"]),
    (["stray"], [r"unexpected argument 'stray'"]),
]


def dadar_plain(opts, vdev=True, cores=None, instance=False):
    vdevs = [sample_pcap()] if vdev else []
    cmd = [DADAR] + eal(vdevs, cores) + ["--"] + list(opts) + (instance_opts() if instance else [])
    rc, out, err = run(cmd, 60)
    cleanup()
    return rc, out, err, cmd


@test
def test_bad_option_values_are_rejected_naming_the_key():
    need_dadar()
    failures = []
    for opts, needles in BAD_OPTIONS:
        rc, _out, err, _cmd = dadar_plain(opts + ["--exit-on-idle", "1"] if opts != ["--exit-on-idle"] else opts)
        missing = [n for n in needles if not re.search(n, err)]
        if rc != 2 or missing or not err.startswith("dadar: "):
            failures.append(f"{' '.join(opts)}: exit {rc} (want 2), stderr {err.strip()!r} lacks {missing}")
    check(not failures, "\n      ".join([f"{len(failures)} of {len(BAD_OPTIONS)} bad options not rejected "
                                           "as they should be:"] + failures))


@test
def test_config_file_unknown_key_is_rejected_naming_file_and_line():
    need_dadar()
    cfg = tmp("unknown.conf")
    with open(cfg, "w") as f:
        f.write("# dadar\nworkers = 1\n\nfrobnicate = 3   # no such key\n")
    rc, _out, err, _cmd = dadar_plain(["--config", cfg])
    eq(rc, 2, f"exit status (stderr {err.strip()!r})")
    check(f"{cfg}:4: unknown key 'frobnicate'" in err, f"message does not name {cfg}:4 and the key: {err!r}")


@test
def test_config_file_bad_value_is_rejected_naming_file_and_line():
    need_dadar()
    cfg = tmp("bad-value.conf")
    with open(cfg, "w") as f:
        f.write("capacity.orders = 1000\nworkers = many\n")
    rc, _out, err, _cmd = dadar_plain(["--config", cfg])
    eq(rc, 2, f"exit status (stderr {err.strip()!r})")
    check(f"{cfg}:2: workers = 'many'" in err, f"message does not name {cfg}:2 and the value: {err!r}")
    cfg2 = tmp("no-equals.conf")
    with open(cfg2, "w") as f:
        f.write("workers 2\n")
    rc, _out, err, _cmd = dadar_plain(["--config", cfg2])
    eq(rc, 2, f"exit status for a line without '=' (stderr {err.strip()!r})")
    check(f"{cfg2}:1: expected 'key = value'" in err, f"message does not name {cfg2}:1: {err!r}")
    rc, _out, err, _cmd = dadar_plain(["--config", tmp("does-not-exist.conf")])
    eq(rc, 2, f"exit status for a missing config file (stderr {err.strip()!r})")
    check(f"cannot read config file {tmp('does-not-exist.conf')}" in err, f"message: {err!r}")


@test
def test_flags_override_the_config_file_wherever_they_stand():
    need_dadar()
    s_path, d_path = tmp("from-file.json"), tmp("from-file.csv")
    cfg = tmp("override.conf")
    with open(cfg, "w") as f:
        f.write(f"instance = from-file\nsummary = {s_path}\nbook_dump = {d_path}\nquiet = yes\n"
                f"exit_on_idle = {IDLE_MS}\nfeed.cfgfeed = {GROUP_A}:{PORT}\npipeline = staged\n")
    for order in ("before", "after"):
        for p in (s_path, d_path):
            if os.path.exists(p):
                os.unlink(p)
        flag_instance = f"it-{os.getpid()}-flag-{order}"
        flags = instance_opts(flag_instance) + ["--pipeline", "rtc"]
        opts = flags + ["--config", cfg] if order == "before" else ["--config", cfg] + flags
        rc, out, err, _cmd = dadar_plain(opts)
        eq(rc, 0, f"exit status with the flags {order} --config (stderr {err.strip()!r})")
        check(os.path.exists(s_path), "the summary path from the config file was not used")
        s = json.load(open(s_path))
        eq((s["instance"], s["pipeline"], s["feeds"][0]["name"], s["itch"]["total"]),
           (flag_instance, "rtc", "cfgfeed", 12012),
           f"flags {order} --config: (instance, pipeline, feed name, messages)")
        eq(out, "", "stdout with quiet = yes from the config file")
        same_file(d_path, sample_reference(), "book dump")


def threads_named(pid, prefix):
    """(name, Cpus_allowed_list) of the process's threads whose name starts with prefix."""
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                st = dict(ln.split(":", 1) for ln in f.read().splitlines() if ":" in ln)
        except OSError:
            continue
        if st.get("Name", "").strip().startswith(prefix):
            out.append((st["Name"].strip(), st["Cpus_allowed_list"].strip()))
    return out


@test
def test_journal_io_cpus_pins_the_sqpoll_thread_and_io_workers():
    """journal.io_cpus: io_uring's SQPOLL thread on its first CPU, its io-wq workers on the list; a bad
    list stops the start naming the key."""
    need_dadar()
    # the last CPU: the threads would otherwise inherit the creating thread's, lcore 0's, the first
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        raise Skip("one CPU: journal.io_cpus could not move the threads anywhere")
    cpu = str(allowed[-1])
    j = tmp("iocpus.journal")
    shutil.rmtree(j, ignore_errors=True)
    cmd = [DADAR] + eal([sample_pcap()]) + ["--", "--journal", j, "--set", "journal.sqpoll=yes", "--set",
                                            f"journal.io_cpus={cpu}", "--exit-on-idle", "3000", "--quiet"] + \
        instance_opts()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        sqp, wrk = [], []
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2.5 and p.poll() is None:
            sqp = threads_named(p.pid, "iou-sqp") or sqp
            wrk = threads_named(p.pid, "iou-wrk") or wrk
            if sqp and wrk:
                break
            time.sleep(0.05)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    cleanup()
    eq(p.returncode, 0, f"dadar with journal.io_cpus={cpu}: {err.strip()[-400:]}")
    check(sqp, "no iou-sqp thread with journal.sqpoll = yes")
    check(all(c == cpu for _n, c in sqp), f"the SQPOLL thread may run on {sqp}, journal.io_cpus = {cpu}")
    check(all(c == cpu for _n, c in wrk), f"io_uring workers may run on {wrk}, journal.io_cpus = {cpu}")
    rc, _out, err, _cmd = dadar_plain(["--journal", tmp("iocpus.bad"), "--set", "journal.io_cpus=3-1",
                                       "--exit-on-idle", "1"])
    check(rc == 2 and "journal.io_cpus" in err and "backwards" in err, f"journal.io_cpus=3-1: exit {rc}, {err!r}")


@test
def test_help_lists_every_key_and_exits_0():
    need_dadar()
    rc, out, err, _cmd = dadar_plain(["--help"], vdev=False)
    eq(rc, 0, f"exit status (stderr {err.strip()!r})")
    for key in ("pipeline", "workers", "rx_burst", "rx_desc", "mbufs", "mbuf_size", "ring_size", "exit_on_idle",
                "check_ip_csum", "check_udp_csum", "quiet", "summary", "book_dump", "instance",
                "capacity.instruments", "capacity.orders", "capacity.levels", "mold.reorder_window",
                "mold.reorder_timeout_us", "mold.rewind", "--config", "--feed", "--set"):
        check(re.search(rf"(^|\s){re.escape(key)}\s", out, re.M), f"--help does not list {key}")


@test
def test_first_contact_help_version_misplaced_options_and_a_missing_capture():
    """What a user who does not know DPDK's flags meets first: help and version with no EAL start,
    dadar's own option put before -- named with the fix, a capture that does not exist named."""
    need_dadar()
    # after the --, as docs/operations.md says, too (it used to start DPDK first: exit 1 here)
    for args in (["--help"], ["-h"], ["--no-huge", "--help"], ["--", "--help"],
                 ["--no-huge", "-l", "0-1", "--", "--instance", "x", "--help"]):
        r = subprocess.run([DADAR] + args, capture_output=True, text=True, timeout=30)
        check(r.returncode == 0 and r.stdout.startswith("usage: dadar [DPDK EAL options] -- [dadar options]")
              and "capacity.orders" in r.stdout and "EAL:" not in r.stderr,
              f"dadar {' '.join(args)}: exit {r.returncode}, {r.stdout[:80]!r} {r.stderr[:200]!r}")
    for tool in ("dadar", "dadar-gen", "dadar-lat", "dadar-journal"):
        r = subprocess.run([os.path.join(BUILD, tool), "--version"], capture_output=True, text=True, timeout=30)
        check(r.returncode == 0 and re.match(rf"{tool} \d+\.\d+ ", r.stdout), f"{tool} --version: {r.stdout!r}")
    r = subprocess.run([DADAR, "--no-huge", "--exit-on-idle", "200", "--"], capture_output=True, text=True,
                       timeout=30)
    check(r.returncode == 2 and "--exit-on-idle is one of dadar's options" in r.stderr and "put it after --"
          in r.stderr and r.stderr.count("\n") <= 3, f"an option before --: exit {r.returncode}, {r.stderr!r}")
    r = subprocess.run([DADAR, "--no-huge", "--no-pci", "--vdev", "net_pcap0,rx_pcap=/no/such.pcap", "--"],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 2 and "cannot read the capture /no/such.pcap" in r.stderr,
          f"a missing capture: exit {r.returncode}, {r.stderr!r}")


@test
def test_no_ports_fails_with_advice_to_give_a_vdev():
    need_dadar()
    rc, _out, err, _cmd = dadar_plain(["--exit-on-idle", "1"], vdev=False, instance=True)
    eq(rc, 1, f"exit status (stderr {err.strip()!r})")
    check("no Ethernet ports" in err and "--vdev" in err, f"message does not say to give --vdev: {err!r}")


@test
def test_staged_pipeline_with_too_few_lcores_is_rejected_naming_the_need():
    need_dadar()
    rc, _out, err, _cmd = dadar_plain(["--pipeline", "staged", "--workers", "3"], cores=lcore_args(2))
    eq(rc, 2, f"exit status (stderr {err.strip()!r})")
    check("needs 4 lcores (one RX, 3 workers), EAL gave 2" in err, f"message does not name the lcores: {err!r}")


# 13. Capacity ----------------------------------------------------------------------------------------------

def check_capacity(name, opt, value, counter):
    pcap, itch, _err = synth(name, 9, 20, 5000)
    msgs = pl.read_binaryfile(itch)
    mo, ml = (value, None) if counter == "order_overflow" else (None, value)
    model = bookmodel.run(msgs, mo, ml)
    want = model.summary()
    check(want[counter] > 0, f"test data: no {counter} at {opt} {value}")
    ref = tmp(name + "-model.csv")
    model.write_csv(ref)
    r = dadar([pcap], [opt, str(value)], name=name, quiet=False)
    s = r.ok()
    eq({k: s["book"][k] for k in want}, want, f"book counters at {opt} {value} vs bookmodel.py")
    over = s["book"]["order_overflow"] + s["book"]["level_overflow"] + s["book"]["instrument_overflow"]
    check(f"; {over} REFUSED FOR CAPACITY (raise capacity.*)" in r.out,
          f"human summary does not say {over} REFUSED FOR CAPACITY: {r.out[:600]!r}")
    same_file(r.dump, ref, "book dump vs bookmodel.py with the same capacity")


@test
def test_order_capacity_overflow_is_refused_counted_and_reported():
    need_dadar()
    check_capacity("orders100", "--capacity-orders", 100, "order_overflow")


@test
def test_level_capacity_overflow_is_refused_counted_and_reported():
    need_dadar()
    check_capacity("levels16", "--capacity-levels", 16, "level_overflow")


@test
def test_instrument_capacity_overflow_is_counted():
    need_dadar()
    pcap, _itch, _err = synth("instr5", 9, 20, 5000)
    r = dadar([pcap], ["--capacity-instruments", "5"], name="instr5", quiet=False)
    s = r.ok()
    eq(s["book"]["instruments"], 5, "book.instruments")
    check(s["book"]["instrument_overflow"] > 0, "no instrument_overflow counted")
    check("REFUSED FOR CAPACITY" in r.out, f"human summary: {r.out[:600]!r}")


@test
def test_unwritable_output_paths_fail_at_start_naming_the_option():
    """A summary, book dump or output file in a directory that cannot be written fails at start
    (exit 2, before any packet), naming the option and the path; so does a journal directory that
    cannot be one. (A write that fails later, on a full disk, is hardening_test's.)"""
    need_dadar()
    for flag in ("--summary", "--book-dump", "--output"):
        path = os.path.join(TMP, "no-such-dir", "out")
        rc, _out, err, _cmd = dadar_plain(["--exit-on-idle", IDLE_MS, "--quiet", flag, path], instance=True)
        check(path in err and flag in err, f"{flag}: stderr does not name {flag} and {path}: {err!r}")
        eq(rc, 2, f"{flag} {path}: exit status")
    rc, _out, err, _cmd = dadar_plain(["--exit-on-idle", IDLE_MS, "--quiet", "--journal", "/etc/hostname/j"],
                                      instance=True)
    check("--journal /etc/hostname/j" in err and "Not a directory" in err, f"--journal: {err!r}")
    eq(rc, 2, "--journal /etc/hostname/j: exit status")


# ---- runner ------------------------------------------------------------------------------------------------

def main(argv):
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    chosen = [t for t in TESTS if not argv or any(a in t.__name__ for a in argv)]
    results = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    t_all = time.monotonic()
    try:
        for t in chosen:
            _current[0] = t.__name__[5:] if t.__name__.startswith("test_") else t.__name__
            t0 = time.monotonic()
            try:
                t()
                verdict, detail = "PASS", ""
            except Skip as e:
                verdict, detail = "SKIP", f"        SKIP: {e}"
            except AssertionError as e:
                verdict, detail = "FAIL", f"        {e}"
            except Exception:  # a crash of the test itself is a failure too
                verdict, detail = "FAIL", "        " + traceback.format_exc().replace("\n", "\n        ")
            finally:
                cleanup()
            results[verdict] += 1
            print(f"  {verdict}  {t.__name__} ({time.monotonic() - t0:.1f} s)", flush=True)
            if detail:
                print(detail.rstrip(), flush=True)
    finally:
        cleanup()
    print(f"integration: {results['PASS']} passed, {results['FAIL']} failed, {results['SKIP']} skipped "
          f"in {time.monotonic() - t_all:.0f} s (files in {TMP})", flush=True)
    if results["FAIL"]:
        return 1
    return 77 if results["SKIP"] and not results["PASS"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
