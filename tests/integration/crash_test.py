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
usage: tests/integration/crash_test.py   (env B = build dir, default build)
"""
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

B = os.environ.get("B", "build")
PID = os.getpid()
FAILS = []


def check(cond, what):
    print(f"  {'PASS' if cond else 'FAIL'}  {what}", flush=True)
    if not cond:
        FAILS.append(what)


def eal(tag, pcap, lcores):
    return [f"{B}/dadar", "--no-huge", "--no-pci", "-m", "1024", "--no-telemetry", "--log-level=*:warning",
            "--file-prefix", f"crash{PID}{tag}", "--lcores", lcores, "--vdev", f"net_pcap0,rx_pcap={pcap}", "--"]


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def outputs(path):
    lines = [json.loads(l) for l in open(path)] if os.path.exists(path) else []
    return lines


def key(o):
    return (o["feed"], o["seq"], o["locate"], o["bid"], o["bid_shares"], o["ask"], o["ask_shares"])


def scenario(tmp, pcap, name, lcores, opts, kills):
    print(f"crash recovery: {name}", flush=True)
    ref_book = os.path.join(tmp, f"{name}-ref.csv")
    r = run(eal(f"{name}r", pcap, lcores) + ["--exit-on-idle", "300", "--book-dump", ref_book, "--quiet",
                                              "--instance", f"crash-{PID}-{name}r"] + opts)
    check(r.returncode == 0, f"uninterrupted run exits 0 ({r.stderr.strip()[-200:]})")
    uj, uout = os.path.join(tmp, f"{name}-uj"), os.path.join(tmp, f"{name}-u.out")
    r = run(eal(f"{name}u", pcap, lcores) + ["--exit-on-idle", "300", "--journal", uj, "--output", uout, "--quiet",
                                              "--instance", f"crash-{PID}-{name}u"] + opts)
    check(r.returncode == 0, "uninterrupted journaled run exits 0")
    if os.path.exists(f"{B}/dadar-journal"):
        # default 256 MiB segments: far more data than the journal's 8 MiB staging ring, so the ring
        # wraps inside a segment (stale bytes must never reach the disk)
        v = run([f"{B}/dadar-journal", "verify", uj])
        check(v.returncode == 0, f"the uninterrupted run's journal verifies clean ({v.stdout.strip()[-200:]})")

    jdir, out, book = os.path.join(tmp, f"{name}-j"), os.path.join(tmp, f"{name}.out"), os.path.join(tmp, f"{name}.csv")
    common = ["--exit-on-idle", "300", "--journal", jdir, "--output", out, "--journal-segment-mb", "8",
              "--snapshot-every", "150000", "--quiet", "--instance", f"crash-{PID}-{name}"] + opts
    interrupted = 0
    for i, k in enumerate(kills):
        p = subprocess.Popen(eal(f"{name}{i}", pcap, lcores) + common, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        time.sleep(k)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            interrupted += 1
        _, err = p.communicate()
        for line in err.splitlines():
            if "recovered" in line or "torn" in line:
                print(f"        {line}")
    r = run(eal(f"{name}f", pcap, lcores) + common + ["--book-dump", book])
    check(r.returncode == 0, f"the final restart exits 0 ({r.stderr.strip()[-300:]})")
    print(f"        {interrupted} of {len(kills)} runs were killed mid-way")
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


def torn_and_corrupt(tmp, pcap):
    print("crash recovery: torn tail and corruption", flush=True)
    jdir = os.path.join(tmp, "tc-j")
    base = ["--exit-on-idle", "300", "--journal", jdir, "--quiet", "--instance", f"crash-{PID}-tc"]
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
                  "--journal-stall-ms", "500", "--quiet", "--instance", f"crash-{PID}-fd"]
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
    tmp = tempfile.mkdtemp(prefix="dd-crash-", dir=os.path.join(B, "it") if os.path.isdir(os.path.join(B, "it")) else None)
    try:
        pcap = os.path.join(tmp, "feed.pcap")
        r = run([f"{B}/dadar-gen", "synth", pcap, "--seed", "5", "--instruments", "100", "--messages", "600000"])
        if r.returncode != 0:
            print(r.stderr)
            return 1
        scenario(tmp, pcap, "rtc", "(0-1)@(0-1)", [], [0.3, 0.6, 0.9])
        full_disk(tmp, pcap)  # compares with the rtc scenario's uninterrupted runs
        scenario(tmp, pcap, "staged", "(0-3)@(0-1)", ["--pipeline", "staged", "--workers", "2"], [0.4, 0.8, 1.2])
        small = os.path.join(tmp, "small.pcap")
        run([f"{B}/dadar-gen", "synth", small, "--seed", "9", "--instruments", "20", "--messages", "20000"])
        torn_and_corrupt(tmp, small)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        for e in os.listdir("/dev/shm"):
            if e.startswith(f"dadar-crash-{PID}"):
                os.unlink(os.path.join("/dev/shm", e))
    print(f"crash_test: {'all passed' if not FAILS else f'{len(FAILS)} failed'}")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
