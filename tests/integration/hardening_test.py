#!/usr/bin/env python3
"""Defects found by attacking dadar from outside (issue "Hardening"), each reproduced as it was
found, against the real binaries.

  stall        staged + journal with journal.stall_ms 1 under load: dadar stops (it used to spin
               for ever in the journal lcore, ignoring SIGTERM, waiting for causes that never came)
  ahead        an output file that holds outputs past the journal's end (the newest segment
               deleted): the start is refused, the file left as it was (it used to write outputs
               again under the same LSNs)
  start        a journal missing its first segment: verify says MISSING START (it said clean) and
               dadar names the missing start (it blamed the operators)
  symbols      a hostile symbol (comma, quote, newline, escape, backslash) from the wire: the book
               dump is valid CSV with the bytes escaped, the terminal summary carries no control
               byte, and the JSON is valid
  diskfull     the summary and the book dump to a full file system: no partial file is left
  seqjump      hostile MoldUDP64 sequence numbers: counted as mold_seq_jump, `missing` does not
               wrap, the feed goes on
  help         --help says snapshot_every counts journal records (it said events)

Exit 0 all passed, 1 a failure, 77 if dadar is not built.  usage: hardening_test.py [NAME...]
"""
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pcaplib as pl  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
B = os.environ.get("B", "build")
B = B if os.path.isabs(B) else os.path.join(ROOT, B)
PID = os.getpid()
TAG = f"hard{PID}"
FAILS = []


def check(cond, what):
    # one line per check: a child's stderr quoted in `what` must not look like lines of our own
    what = " | ".join(line.strip() for line in str(what).splitlines() if line.strip())
    print(f"  {'PASS' if cond else 'FAIL'}  {what}", flush=True)
    if not cond:
        FAILS.append(what)


def dadar(tag, pcap, opts, lcores="(0-1)@(0-1)", timeout=120, mem="1024"):
    cmd = [f"{B}/dadar", "--no-huge", "--no-pci", "-m", mem, "--no-shconf", "--no-telemetry",
           "--log-level=*:warning", "--file-prefix", f"{TAG}{tag}", "--lcores", lcores,
           "--vdev", f"net_pcap0,rx_pcap={pcap}", "--", "--instance", f"{TAG}-{tag}", "--exit-on-idle", "300"] + opts
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
        return p.returncode, out, err
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, 9)
        out, err = p.communicate()
        return None, out, err


def tool(*args):
    return subprocess.run([f"{B}/dadar-journal"] + list(args), capture_output=True, text=True)


def synth(tmp, name, messages, *extra):
    pcap = os.path.join(tmp, name + ".pcap")
    subprocess.run([f"{B}/dadar-gen", "synth", pcap, "--seed", "21", "--instruments", "50", "--messages",
                    str(messages)] + list(extra), check=True, capture_output=True)
    return pcap


def test_stall(tmp):
    print("hardening: a journal that stalls stops dadar", flush=True)
    pcap = synth(tmp, "big", 600000)
    stalled = 0
    for i in range(3):
        jdir = os.path.join(tmp, f"stall-{i}")
        summ = os.path.join(tmp, f"stall-{i}.json")
        t0 = time.monotonic()
        rc, _out, err = dadar(f"st{i}", pcap, ["--journal", jdir, "--journal-stall-ms", "1", "--pipeline", "staged",
                                             "--workers", "1", "--quiet", "--summary", summ],
                              lcores="(0-2)@(0-1)", timeout=90)
        took = time.monotonic() - t0
        check(rc is not None, f"run {i}: dadar exited by itself ({took:.1f} s){'' if rc is not None else ': it hung'}")
        if rc is None:
            continue
        # the stall shows on either side: the RX lcore's push ("input was stopped") or the journal
        # lcore's full staging buffer ("input stopped")
        if "input was stopped" in err or "input stopped" in err:
            stalled += 1
            j = json.load(open(summ))["journal"]
            check(rc == 1 and isinstance(j.get("orphaned"), int) and "durable LSN" in err,
                  f"run {i}: the stall is reported (exit {rc}, the durable LSN named), {j.get('orphaned')} outputs "
                  f"without their cause dropped and counted")
        else:
            check(rc == 0, f"run {i}: no stall this time, exit {rc}")
        # whatever happened, the journal restarts clean
        rc2, _o, err2 = dadar(f"st{i}r", pcap, ["--journal", jdir, "--pipeline", "staged", "--workers", "1",
                                                "--quiet"], lcores="(0-2)@(0-1)", timeout=120)
        check(rc2 == 0 and "recovered to LSN" in err2, f"run {i}: a restart recovers the journal: {err2.strip()[-200:]}")
    print(f"        ({stalled} of 3 runs stalled)")


def test_ahead(tmp):
    print("hardening: an output file ahead of the journal", flush=True)
    pcap = synth(tmp, "mid", 60000)
    jdir, out = os.path.join(tmp, "ahead-j"), os.path.join(tmp, "ahead.jsonl")
    rc, _o, err = dadar("ah", pcap, ["--journal", jdir, "--journal-segment-mb", "2", "--output", out, "--quiet"])
    segs = sorted(f for f in os.listdir(jdir) if f.startswith("seg-"))
    check(rc == 0 and len(segs) >= 2, f"journaled run with {len(segs)} segments exits {rc}")
    before = open(out, "rb").read()
    os.unlink(os.path.join(jdir, segs[-1]))
    rc, _o, err = dadar("ah2", pcap, ["--journal", jdir, "--journal-segment-mb", "2", "--output", out, "--quiet"])
    check(rc == 1 and "holds outputs released up to LSN" in err and "ends at LSN" in err,
          f"the start is refused, naming both ends: {err.strip()[-300:]}")
    check(open(out, "rb").read() == before, "the output file is as it was: nothing written twice")


def test_start(tmp):
    print("hardening: a journal missing its first segment", flush=True)
    pcap = synth(tmp, "mid2", 60000)
    jdir = os.path.join(tmp, "start-j")
    rc, _o, _e = dadar("ms", pcap, ["--journal", jdir, "--journal-segment-mb", "2", "--quiet"])
    segs = sorted(f for f in os.listdir(jdir) if f.startswith("seg-"))
    check(rc == 0 and len(segs) >= 2, f"journaled run with {len(segs)} segments exits {rc}")
    os.unlink(os.path.join(jdir, segs[0]))
    v = tool("verify", jdir)
    check(v.returncode == 2 and "MISSING START" in v.stdout, f"verify: exit {v.returncode}, {v.stdout.strip()[-200:]}")
    rc, _o, err = dadar("ms2", pcap, ["--journal", jdir, "--journal-segment-mb", "2", "--quiet"])
    check(rc == 1 and "start is missing" in err and "operators" not in err,
          f"dadar names the missing start: {err.strip()[-200:]}")


def hostile_capture(tmp):
    sym = "X,Y\"\n\x1b[\\"  # 8 bytes: comma, quote, newline, ESC, '[', backslash
    msgs = [pl.itch_system(b"O"), pl.itch_directory(1, sym),
            pl.itch_add(1, 1, b"B", 100, sym, 1000000), pl.itch_add(1, 2, b"S", 200, sym, 1010000),
            pl.itch_directory(2, "GOOD"), pl.itch_add(2, 3, b"B", 50, "GOOD", 500000)]
    frames = [pl.udp_frame(pl.mold(1, msgs, session="HOSTILE01"))]
    pcap = os.path.join(tmp, "hostile.pcap")
    pl.write_pcap(pcap, frames)
    return pcap, sym


def test_symbols(tmp):
    print("hardening: hostile symbols from the wire", flush=True)
    pcap, sym = hostile_capture(tmp)
    book, summ = os.path.join(tmp, "h.csv"), os.path.join(tmp, "h.json")
    rc, out, err = dadar("sy", pcap, ["--book-dump", book, "--summary", summ])
    check(rc == 0, f"dadar exits 0: {err.strip()[-200:]}")
    rows = list(csv.reader(io.StringIO(open(book, newline="").read())))
    check(rows[0] == ["symbol", "side", "level", "price", "shares", "orders"] and all(len(r) == 6 for r in rows),
          f"the book dump is valid CSV of 6 columns: {rows}")
    check(["X,Y\"\\x0a\\x1b[\\x5c", "B", "1", "100.0000", "100", "1"] in rows,
          f"the hostile symbol is one field, its bytes escaped: {rows[1:3]}")
    check(not any(c in out for c in "\x1b\x07\x00") and "\\x1b" in out, "the terminal summary carries no control byte")
    json.load(open(summ))  # raises if not valid JSON
    check(True, "the JSON summary is valid")


def test_diskfull(tmp):
    print("hardening: reports to a full file system", flush=True)
    mnt = os.path.join(tmp, "full-fs")
    os.mkdir(mnt)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt], capture_output=True).returncode != 0:
        print("        SKIP: cannot mount a tmpfs here (needs root)")
        return
    try:
        with open(os.path.join(mnt, "fill"), "wb") as f:
            try:
                f.write(b"x" * (80 << 10))
            except OSError:
                pass
        pcap = synth(tmp, "small", 20000)
        summ, book = os.path.join(mnt, "summary.json"), os.path.join(mnt, "book.csv")
        rc, _o, err = dadar("df", pcap, ["--summary", summ, "--book-dump", book, "--quiet"])
        check(rc == 1 and "No space left" in err, f"dadar exits 1 naming the full disk: {err.strip()[-200:]}")
        left = sorted(os.listdir(mnt))
        check(left == ["fill"], f"no partial summary or book dump is left: {left}")
    finally:
        subprocess.run(["umount", mnt], capture_output=True)


def test_seqjump(tmp):
    print("hardening: hostile MoldUDP64 sequence numbers", flush=True)
    a = [pl.itch_system(b"O"), pl.itch_directory(1, "ABC")]
    b = [pl.itch_add(1, 1, b"B", 100, "ABC", 1000000)]
    frames = [pl.udp_frame(pl.mold(1, a, session="JUMP000001")),
              pl.udp_frame(pl.mold(17236241590472954396 % (1 << 63), b, session="JUMP000001")),
              pl.udp_frame(pl.mold((1 << 63) + 5, b, session="JUMP000001")),
              pl.udp_frame(pl.mold(3, b, session="JUMP000001"))]
    pcap = os.path.join(tmp, "jump.pcap")
    pl.write_pcap(pcap, frames)
    summ = os.path.join(tmp, "jump.json")
    rc, out, err = dadar("sj", pcap, ["--summary", summ, "--quiet"])
    s = json.load(open(summ))
    m = s["moldudp64"]
    check(rc == 0 and s["errors"].get("mold_seq_jump") == 2, f"two jumps counted as mold_seq_jump: {s['errors']}")
    check(m["missing"] == 0 and m["gaps"] == 0, f"no gap declared, nothing missing (it used to wrap): {m}")
    check(s["book"]["adds"] == 1, f"the feed went on: the add at seq 3 applied: {s['book']}")


def test_help(tmp):
    print("hardening: --help says what snapshot_every counts", flush=True)
    r = subprocess.run([f"{B}/dadar", "--no-huge", "--no-pci", "--no-shconf", "--no-telemetry", "--log-level=*:error",
                        "--file-prefix", f"{TAG}help", "-m", "256", "--", "--help"], capture_output=True, text=True)
    lines = r.stdout.splitlines()
    at = next((i for i, l in enumerate(lines) if l.strip().startswith("snapshot_every")), None)
    line = " ".join(lines[at:at + 2]) if at is not None else ""
    check(r.returncode == 0 and "journal records" in line and "events between" not in line,
          f"snapshot_every counts journal records (LSNs), as the code does: {line.strip()}")


def main():
    for b in ("dadar", "dadar-gen", "dadar-journal"):
        if not os.path.exists(f"{B}/{b}"):
            print(f"SKIP: hardening_test: {B}/{b} is not built", file=sys.stderr)
            return 77
    os.makedirs(os.path.join(B, "it"), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="hard-", dir=os.path.join(B, "it"))
    sel = sys.argv[1:]
    tests = [("stall", test_stall), ("ahead", test_ahead), ("start", test_start), ("symbols", test_symbols),
             ("diskfull", test_diskfull), ("seqjump", test_seqjump), ("help", test_help)]
    try:
        for name, fn in tests:
            if not sel or name in sel:
                try:
                    fn(tmp)
                except Exception as e:  # a test that breaks is a failure, not the end of the run
                    check(False, f"{name}: {type(e).__name__}: {e}")
    finally:
        if FAILS:
            print(f"hardening_test: scratch files kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        for e in os.listdir("/dev/shm"):
            if e.startswith(f"dadar-{TAG}"):
                os.unlink(os.path.join("/dev/shm", e))
        # EAL leaves its runtime directory behind, even with --no-shconf
        rt = "/var/run/dpdk" if os.getuid() == 0 else os.path.join(os.environ.get("XDG_RUNTIME_DIR") or "/tmp", "dpdk")
        if os.path.isdir(rt):
            for e in os.listdir(rt):
                if e.startswith(TAG):
                    shutil.rmtree(os.path.join(rt, e), ignore_errors=True)
    print(f"hardening_test: {'all passed' if not FAILS else f'{len(FAILS)} failed'}")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
