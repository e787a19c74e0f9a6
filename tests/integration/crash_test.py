#!/usr/bin/env python3
"""Crash recovery: kill -9 dadar while it journals a capture, restart it on the same capture and
the same journal, again and again; the end state must be the one an uninterrupted run reaches.

For each pipeline (run to completion; staged with 2 workers), with snapshots:
  - the book dump after the crashes equals an uninterrupted run's book dump;
  - every output left exactly once: the released outputs (JSON lines) are those of an uninterrupted
    journaled run, none repeated, LSNs strictly increasing;
  - the journal verifies clean, and `dadar-journal replay` of it reproduces the book dump.
Also: a torn tail made by hand (half a record appended) is cut at the next start and said so; a
corrupted record in the middle makes dadar refuse to start with the segment and offset; a journal
on a file system that fills up (a 24 MiB tmpfs; needs root to mount, skipped loudly otherwise)
stops input with exit status 1 and a message naming the durable LSN, and once there is room a
restart on the same capture ends with the uninterrupted run's books and outputs.

Exit 0 all passed, 1 a failure, 77 (skip, loudly) if a binary is missing.
usage: tests/integration/crash_test.py [SUBSTRING...]   (env B = build dir, default build)
       scenarios: rtc, full_disk, staged, session_change_rtc, session_change_staged, torn_and_corrupt
"""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

B = os.environ.get("B", "build")
PID = os.getpid()
TAG = "it7"  # prefix of this runner's EAL file prefixes and instance names
FAILS = []
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chain_test  # noqa: E402  (the independent top-of-book model)
import pcaplib as pl  # noqa: E402


def check(cond, what):
    # one line per check: a child's stderr quoted in `what` must not look like lines of our own
    what = " | ".join(line.strip() for line in str(what).splitlines() if line.strip())
    print(f"  {'PASS' if cond else 'FAIL'}  {what}", flush=True)
    if not cond:
        FAILS.append(what)


def eal(tag, pcap, lcores):
    return [f"{B}/dadar", "--no-huge", "--no-pci", "-m", "1024", "--no-telemetry", "--log-level=*:warning",
            "--file-prefix", f"{TAG}-crash{PID}{tag}", "--lcores", lcores, "--vdev", f"net_pcap0,rx_pcap={pcap}", "--"]


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def run_until(tag, pcap, lcores, args, out, threshold, limit=None, timeout=120):
    """Start dadar (eal(tag, ...) + args) on `pcap` fed through a named pipe beside `out`
    (pcaplib.FifoFeed) and SIGKILL it (it alone, by its pid) as soon as the output file `out` holds
    `threshold` bytes. The frames go 2,000 at a time, never beyond frame `limit` (default: all but
    the last), so the kill lands mid-stream, where the test puts it, however fast the machine is:
    the journal runs ahead of the released outputs, and a limit keeps it in the part wanted.
    Returns (whether it was still running when the kill was sent, its stderr)."""
    feed = pl.FifoFeed(pcap, out + ".fifo")
    errp = out + ".stderr"
    with open(errp, "w") as ef:
        p = subprocess.Popen(eal(tag, feed.path, lcores) + args, stdout=subprocess.DEVNULL, stderr=ef,
                             start_new_session=True)
    try:
        size = lambda: os.path.getsize(out) if os.path.exists(out) else 0  # noqa: E731
        # the header first: net_pcap opens the pipe as DPDK starts, a restart's recovery comes after
        feed.send(p, 0, timeout)
        running = feed.pump_then_kill(p, lambda: size() >= threshold, limit, timeout=timeout)
    finally:
        feed.close()
        os.unlink(feed.path)
    with open(errp, errors="replace") as ef:
        err = ef.read()
    os.unlink(errp)
    return running, err


def outputs(path):
    """The output file's complete lines (a line a kill cut short is not an output yet)."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(l) for l in f if l.endswith("\n")]


def journal_position(jdir):
    """(last LSN, session of feed 0) of a journal as `dadar-journal stats` reads it (a torn tail is fine)."""
    r = run([f"{B}/dadar-journal", "stats", jdir])
    m, s = re.search(r"LSN 1\.\.(\d+)", r.stdout), re.search(r"feed 0 position: session=(\S+)", r.stdout)
    return (int(m[1]) if m else 0), (s[1] if s else None)


def key(o):
    return (o["feed"], o["seq"], o["locate"], o["bid"], o["bid_shares"], o["ask"], o["ask_shares"])


def scenario(tmp, pcap, name, lcores, opts, kills):
    print(f"crash recovery: {name}", flush=True)
    ref_book = os.path.join(tmp, f"{name}-ref.csv")
    r = run(eal(f"{name}r", pcap, lcores) + ["--exit-on-idle", "300", "--book-dump", ref_book, "--quiet",
                                              "--instance", f"{TAG}-crash-{PID}-{name}r"] + opts)
    check(r.returncode == 0, f"uninterrupted run exits 0 ({r.stderr.strip()[-200:]})")
    uj, uout = os.path.join(tmp, f"{name}-uj"), os.path.join(tmp, f"{name}-u.out")
    r = run(eal(f"{name}u", pcap, lcores) + ["--exit-on-idle", "300", "--journal", uj, "--output", uout, "--quiet",
                                              "--instance", f"{TAG}-crash-{PID}-{name}u"] + opts)
    check(r.returncode == 0, "uninterrupted journaled run exits 0")
    if os.path.exists(f"{B}/dadar-journal"):
        # default 256 MiB segments: far more data than the journal's 8 MiB staging ring, so the ring
        # wraps inside a segment (stale bytes must never reach the disk)
        v = run([f"{B}/dadar-journal", "verify", uj])
        check(v.returncode == 0, f"the uninterrupted run's journal verifies clean ({v.stdout.strip()[-200:]})")

    jdir, out, book = os.path.join(tmp, f"{name}-j"), os.path.join(tmp, f"{name}.out"), os.path.join(tmp, f"{name}.csv")
    common = ["--exit-on-idle", "300", "--journal", jdir, "--output", out, "--journal-segment-mb", "8",
              "--snapshot-every", "150000", "--quiet", "--instance", f"{TAG}-crash-{PID}-{name}"] + opts
    want_n, want_bytes = len(outputs(uout)), os.path.getsize(uout) if os.path.exists(uout) else 0
    for i, frac in enumerate(kills):
        running, err = run_until(f"{name}{i}", pcap, lcores, common, out, int(frac * want_bytes))
        for line in err.splitlines():
            if "recovered" in line or "torn" in line:
                print(f"        {line}")
        at_kill, (lsn, _s), (want_lsn, _ws) = len(outputs(out)), journal_position(jdir), journal_position(uj)
        check(running and at_kill < want_n and 0 < lsn < want_lsn,
              f"kill {i + 1} (at {frac:.0%} of the outputs) interrupted a running dadar: still running when "
              f"SIGKILL was sent: {running}; {at_kill} of {want_n} outputs released, journal at LSN {lsn} of {want_lsn}")
    r = run(eal(f"{name}f", pcap, lcores) + common + ["--book-dump", book])
    check(r.returncode == 0, f"the final restart exits 0 ({r.stderr.strip()[-300:]})")
    check(os.path.exists(book) and open(book).read() == open(ref_book).read(),
          "book dump after the crashes equals the uninterrupted run's")
    got, want = outputs(out), outputs(uout)
    lsns = [o["lsn"] for o in got]
    check(len(lsns) == len(set(lsns)) and lsns == sorted(lsns), f"{len(lsns)} released outputs, each LSN once, in order")
    check(sorted(map(key, got)) == sorted(map(key, want)),
          f"the outputs released across the crashes are exactly the uninterrupted run's ({len(got)} vs {len(want)})")
    if os.path.exists(f"{B}/dadar-journal"):
        v = run([f"{B}/dadar-journal", "verify", jdir])
        check(v.returncode == 0, f"dadar-journal verify: clean ({v.stdout.strip().splitlines()[-1:] if v.stdout else v.stderr})")
        rb = os.path.join(tmp, f"{name}-replay.csv")
        rr = run([f"{B}/dadar-journal", "replay", jdir, "--book-dump", rb] + [o for o in opts if o.startswith("--capacity")])
        check(rr.returncode == 0 and os.path.exists(rb) and open(rb).read() == open(ref_book).read(),
              f"dadar-journal replay reproduces the book dump ({rr.stderr.strip()[-200:]})")
    else:
        print(f"SKIP: {B}/dadar-journal is not built: offline replay not checked", file=sys.stderr)


def session_change(tmp, name, lcores, opts):
    """A MoldUDP64 session change (DAY1 -> DAY2) in the middle of a journaled run; kill -9 once in
    DAY1 and once in DAY2 (each checked to have interrupted a running dadar at that point), restart;
    the end state is the uninterrupted run's, which is the independent model's."""
    print(f"crash recovery: session change, {name}", flush=True)
    caps = session_captures(tmp)
    both, day2, msgs = caps["both"], caps["DAY2"], caps["msgs"]
    want_model, model_book = caps["model"], caps["model_csv"]
    n1 = caps["n1"]  # outputs of DAY1
    staged = "--pipeline" in opts

    def same(got, what):
        g = [chain_test.json_key(o) for o in got]
        try:
            (chain_test.same_per_instrument if staged else chain_test.same_sequence)(g, want_model, what)
            check(True, what)
        except AssertionError as e:
            check(False, str(e)[:600])

    uj, uout, ubook = (os.path.join(tmp, f"sc-{name}-{x}") for x in ("uj", "u.out", "u.csv"))
    base = ["--exit-on-idle", "300", "--journal-segment-mb", "8", "--quiet"] + opts
    r = run(eal(f"sc{name}u", both, lcores) + base + ["--journal", uj, "--output", uout, "--book-dump", ubook,
                                                       "--instance", f"{TAG}-crash-{PID}-sc{name}u"])
    check(r.returncode == 0, f"uninterrupted journaled run over DAY1+DAY2 exits 0 ({r.stderr.strip()[-300:]})")
    check(os.path.exists(ubook) and open(ubook).read() == open(model_book).read(),
          "the uninterrupted run's book dump equals the model's (DAY1 then DAY2 on the same books)")
    same(outputs(uout), "the uninterrupted run's outputs equal the model's")
    want_n, want_bytes = len(outputs(uout)), os.path.getsize(uout) if os.path.exists(uout) else 0
    want_lsn, _ = journal_position(uj)
    per_line = want_bytes / max(1, want_n)

    jdir, out, book = (os.path.join(tmp, f"sc-{name}-{x}") for x in ("j", "out", "csv"))
    common = base + ["--journal", jdir, "--output", out, "--snapshot-every", "100000",
                     "--instance", f"{TAG}-crash-{PID}-sc{name}"]
    # kill 1 half way through DAY1's outputs, kill 2 half way through DAY2's; each restart is fed
    # what the feed would carry: DAY1+DAY2 while the journal is in DAY1, DAY2 alone once it is in DAY2
    for i, (target, day) in enumerate(((n1 // 2, "DAY1"), (n1 + (want_n - n1) // 2, "DAY2"))):
        _lsn, session = journal_position(jdir) if os.path.isdir(jdir) else (0, None)
        pcap = day2 if session == "DAY2" else both
        # the kill in DAY1 gets DAY1's frames alone: however far the journal runs ahead of the
        # outputs, it is still in DAY1
        running, err = run_until(f"sc{name}{i}", pcap, lcores, common, out, int(target * per_line),
                                 limit=caps["day1_frames"] if day == "DAY1" and pcap == both else None)
        for line in err.splitlines():
            if "recovered" in line or "torn" in line or "journal" in line and "new" not in line:
                print(f"        {line}")
        at_kill, (lsn, session) = len(outputs(out)), journal_position(jdir)
        check(running and at_kill < want_n and 0 < lsn < want_lsn and session == day,
              f"kill {i + 1} interrupted a running dadar in {day}: still running when SIGKILL was sent: {running}; "
              f"{at_kill} of {want_n} outputs released, journal at LSN {lsn} of {want_lsn}, session {session}")
    _lsn, session = journal_position(jdir)
    r = run(eal(f"sc{name}f", day2 if session == "DAY2" else both, lcores) + common + ["--book-dump", book])
    check(r.returncode == 0, f"the restart after the kill in DAY2 exits 0 ({r.stderr.strip()[-400:]})")
    check(os.path.exists(book) and open(book).read() == open(ubook).read(),
          "book dump after the crashes equals the uninterrupted run's")
    got = outputs(out)
    lsns = [o["lsn"] for o in got]
    check(len(lsns) == len(set(lsns)) and lsns == sorted(lsns),
          f"{len(lsns)} released outputs across the crashes, each LSN once, in order")
    same(got, f"the outputs released across the crashes are the uninterrupted run's, none missing, none twice "
              f"({len(got)} vs {want_n})")
    v = run([f"{B}/dadar-journal", "verify", jdir])
    check(v.returncode == 0, f"dadar-journal verify: clean ({(v.stdout.strip().splitlines() or [v.stderr])[-1]})")


_session_caps = {}


def session_captures(tmp):
    """Two synthetic days with sessions DAY1 and DAY2, alone and concatenated into one capture, and
    what the model makes of DAY1 then DAY2 applied to one set of books."""
    if not _session_caps:
        c = _session_caps
        sessions = []
        # DAY1 ends with every order deleted (--drain): the two days draw order references from the
        # same range, and a reference live in one book shard but not in another would make the
        # staged pipeline's books differ from run to completion's for a reason that is no fault
        for day, seed, extra in (("DAY1", 11, ["--drain"]), ("DAY2", 12, [])):
            pcap, itch = os.path.join(tmp, f"{day}.pcap"), os.path.join(tmp, f"{day}.itch")
            r = run([f"{B}/dadar-gen", "synth", pcap, "--seed", str(seed), "--instruments", "50", "--messages",
                     "150000", "--session", day, "--itch-out", itch] + extra)
            if r.returncode != 0:
                raise SystemExit(f"dadar-gen failed: {r.stderr}")
            c[day] = pcap
            sessions.append(pl.read_binaryfile(itch))
        c["both"] = os.path.join(tmp, "DAY1+DAY2.pcap")
        pl.write_pcap(c["both"], [f for d in ("DAY1", "DAY2") for _t, f in pl.read_pcap(c[d])])
        c["day1_frames"] = len(pl.read_pcap(c["DAY1"]))
        c["msgs"] = sessions
        c["model"], b = chain_test.model_outputs(sessions)
        c["n1"] = len(chain_test.model_outputs(sessions[:1])[0])
        c["model_csv"] = os.path.join(tmp, "DAY1+DAY2-model.csv")
        b.write_csv(c["model_csv"])
    return _session_caps


def torn_and_corrupt(tmp, pcap):
    print("crash recovery: torn tail and corruption", flush=True)
    jdir = os.path.join(tmp, "tc-j")
    base = ["--exit-on-idle", "300", "--journal", jdir, "--quiet", "--instance", f"{TAG}-crash-{PID}-tc"]
    r = run(eal("tc0", pcap, "(0-1)@(0-1)") + base)
    check(r.returncode == 0, "journaled run exits 0")
    segs = sorted(f for f in os.listdir(jdir) if f.startswith("seg-"))
    last = os.path.join(jdir, segs[-1])
    data = bytearray(open(last, "rb").read())
    # find the end of the data: walk the records
    off = 4096
    while off + 24 <= len(data):
        ln = struct.unpack_from("<I", data, off)[0]
        if ln == 0:
            break
        prev, off = off, off + ln
    # a torn tail: the first half of a copy of the last record, after the end
    rec = data[prev:off]
    with open(last, "r+b") as f:
        f.seek(off)
        f.write(rec[: len(rec) // 2])
    r = run(eal("tc1", pcap, "(0-1)@(0-1)") + base)
    check(r.returncode == 0 and "cut a torn tail" in r.stderr, f"a torn tail is cut and said so: {r.stderr.strip()[:300]}")
    # corruption: flip a byte in the middle of the first segment
    first = os.path.join(jdir, segs[0])
    with open(first, "r+b") as f:
        f.seek(4096 + 24 * 1000 + 40)
        b = f.read(1)
        f.seek(4096 + 24 * 1000 + 40)
        f.write(bytes([b[0] ^ 0x40]))
    r = run(eal("tc2", pcap, "(0-1)@(0-1)") + base)
    check(r.returncode == 1 and "corrupt" in r.stderr and segs[0] in r.stderr and "offset" in r.stderr,
          f"a corrupted record in the middle refuses the start, naming segment and offset: {r.stderr.strip()[:300]}")



def short_segments(tmp, pcap):
    """The newest segment file cut short (a copy that stopped) at several offsets: dadar recovers,
    says so, and, fed the capture again, ends with the uninterrupted run's books; an older segment
    cut short refuses the start."""
    print("crash recovery: segment files cut short", flush=True)
    inst = ["--quiet", "--instance", f"{TAG}-crash-{PID}-ss", "--exit-on-idle", "300"]
    ubook = os.path.join(tmp, "ss-u.csv")
    r = run(eal("ssu", pcap, "(0-1)@(0-1)") + inst + ["--book-dump", ubook])
    check(r.returncode == 0, "uninterrupted run without a journal exits 0")
    for frac in (0.2, 0.55, 0.9, 1.5):  # of the newest segment's data; 1.5: in the zeros after it
        jdir = os.path.join(tmp, f"ss-{frac}")
        base = inst + ["--journal", jdir, "--journal-segment-mb", "2"]
        r = run(eal("ss0", pcap, "(0-1)@(0-1)") + base)
        segs = sorted(f for f in os.listdir(jdir) if f.startswith("seg-"))
        check(r.returncode == 0 and len(segs) >= 2, f"journaled run exits 0 with {len(segs)} segments")
        last = os.path.join(jdir, segs[-1])
        size = os.path.getsize(last)
        v = run([f"{B}/dadar-journal", "verify", jdir])
        end = int(re.search(r"data ends at \S+ offset (\d+)", v.stdout)[1])
        cut = min(int(4096 + (end - 4096) * frac) | 5, size - 4096)  # not 8-byte aligned
        os.truncate(last, cut)
        book = os.path.join(tmp, f"ss-{frac}.csv")
        r = run(eal("ss1", pcap, "(0-1)@(0-1)") + base + ["--book-dump", book])
        check(r.returncode == 0 and "bytes short of its" in r.stderr and os.path.getsize(last) == size,
              f"newest segment cut at {cut} of {size}: recovered, said so, its size back ({r.stderr.strip()[-300:]})")
        check(open(book).read() == open(ubook).read(),
              f"newest segment cut at {cut}: the books after the capture again are the uninterrupted run's")
        v = run([f"{B}/dadar-journal", "verify", jdir])
        check(v.returncode == 0, f"dadar-journal verify after the recovery: {(v.stdout.strip().splitlines() or [''])[-1]}")
    # an older segment cut short: corruption, never cut
    jdir = os.path.join(tmp, "ss-0.2")
    segs = sorted(f for f in os.listdir(jdir) if f.startswith("seg-"))
    os.truncate(os.path.join(jdir, segs[0]), 4096 * 3 + 3)
    r = run(eal("ss2", pcap, "(0-1)@(0-1)") + inst + ["--journal", jdir])
    check(r.returncode == 1 and "only the newest segment may be cut short" in r.stderr,
          f"an older segment cut short refuses the start: {r.stderr.strip()[-300:]}")

def full_disk(tmp, pcap):
    print("crash recovery: the journal's file system fills up", flush=True)
    mnt = os.path.join(tmp, "small-fs")
    os.mkdir(mnt)
    m = run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", mnt])
    if m.returncode != 0:
        print(f"  SKIP  full disk: cannot mount a tmpfs here ({m.stderr.strip()}); run as root to test it", flush=True)
        return
    try:
        try:  # tmpfs takes O_DIRECT since Linux 6.6; the journal opens its segments with it
            os.close(os.open(os.path.join(mnt, "probe"), os.O_CREAT | os.O_WRONLY | os.O_DIRECT, 0o600))
            os.unlink(os.path.join(mnt, "probe"))
        except OSError as e:
            print(f"  SKIP  full disk: this kernel's tmpfs refuses O_DIRECT ({e}); the test needs Linux >= 6.6", flush=True)
            return
        jdir, out, book = os.path.join(mnt, "j"), os.path.join(tmp, "fd.out"), os.path.join(tmp, "fd.csv")
        common = ["--exit-on-idle", "300", "--journal", jdir, "--output", out, "--journal-segment-mb", "4",
                  "--journal-stall-ms", "500", "--quiet", "--instance", f"{TAG}-crash-{PID}-fd"]
        r = run(eal("fd0", pcap, "(0-1)@(0-1)") + common, timeout=60)
        err = r.stderr.strip()
        check(r.returncode == 1 and "No space left on device" in err and "durable LSN" in err
              and "input stopped" in err, f"a full disk stops input, exit 1, naming the durable LSN: {err[-400:]}")
        v = run([f"{B}/dadar-journal", "verify", jdir])
        check(v.returncode == 0, f"the journal left by the full disk verifies clean ({v.stdout.strip()[-160:]})")
        run(["mount", "-o", "remount,size=256m", mnt])
        r = run(eal("fd1", pcap, "(0-1)@(0-1)") + common + ["--book-dump", book], timeout=60)
        check(r.returncode == 0 and "recovered to LSN" in r.stderr,
              f"with room again, the restart recovers and exits 0 ({r.stderr.strip()[-300:]})")
        check(os.path.exists(book) and open(book).read() == open(os.path.join(tmp, "rtc-ref.csv")).read(),
              "book dump after the full disk equals the uninterrupted run's")
        got, want = outputs(out), outputs(os.path.join(tmp, "rtc-u.out"))
        lsns = [o["lsn"] for o in got]
        check(len(lsns) == len(set(lsns)) and sorted(map(key, got)) == sorted(map(key, want)),
              f"outputs across the full disk: each once, exactly the uninterrupted run's ({len(got)} vs {len(want)})")
    except subprocess.TimeoutExpired:
        check(False, "dadar exits when the journal's disk is full (it hung for 60 s)")
    finally:
        run(["umount", "-l", mnt])


def main():
    for b in ("dadar", "dadar-gen"):
        if not os.path.exists(f"{B}/{b}"):
            print(f"SKIP: crash_test: {B}/{b} is not built", file=sys.stderr)
            return 77
    os.makedirs(os.path.join(B, "it"), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f"{TAG}-crash-", dir=os.path.join(B, "it"))
    sel = sys.argv[1:]

    def want(name):
        return not sel or any(a in name for a in sel)
    try:
        pcap = os.path.join(tmp, "feed.pcap")
        if want("rtc") or want("staged") or want("full_disk"):
            r = run([f"{B}/dadar-gen", "synth", pcap, "--seed", "5", "--instruments", "100", "--messages", "600000"])
            if r.returncode != 0:
                print(r.stderr)
                return 1
        if want("rtc") or want("full_disk"):
            scenario(tmp, pcap, "rtc", "(0-1)@(0-1)", [], [0.25, 0.5, 0.75])
        if want("full_disk"):
            full_disk(tmp, pcap)  # compares with the rtc scenario's uninterrupted runs
        if want("staged"):
            scenario(tmp, pcap, "staged", "(0-3)@(0-1)", ["--pipeline", "staged", "--workers", "2"], [0.25, 0.5, 0.75])
        if want("session_change_rtc"):
            session_change(tmp, "rtc", "(0-1)@(0-1)", [])
        if want("session_change_staged"):
            session_change(tmp, "staged", "(0-3)@(0-1)", ["--pipeline", "staged", "--workers", "2"])
        if want("torn_and_corrupt"):
            small = os.path.join(tmp, "small.pcap")
            run([f"{B}/dadar-gen", "synth", small, "--seed", "9", "--instruments", "20", "--messages", "20000"])
            torn_and_corrupt(tmp, small)
        if want("short_segments"):
            mid = os.path.join(tmp, "mid.pcap")
            run([f"{B}/dadar-gen", "synth", mid, "--seed", "13", "--instruments", "30", "--messages", "60000"])
            short_segments(tmp, mid)
    finally:
        if FAILS:
            print(f"crash_test: scratch files kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        for e in os.listdir("/dev/shm"):
            if e.startswith(f"dadar-{TAG}-crash-{PID}"):
                os.unlink(os.path.join("/dev/shm", e))
        rt = "/var/run/dpdk" if os.getuid() == 0 else os.path.join(os.environ.get("XDG_RUNTIME_DIR") or "/tmp", "dpdk")
        if os.path.isdir(rt):
            for e in os.listdir(rt):
                if e.startswith(f"{TAG}-crash{PID}"):
                    shutil.rmtree(os.path.join(rt, e), ignore_errors=True)
    print(f"crash_test: {'all passed' if not FAILS else f'{len(FAILS)} failed'}")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
