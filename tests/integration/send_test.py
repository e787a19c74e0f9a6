"""dadar-gen send (issue 13), the paced, stamped sender, against what it writes and against dadar.
Frames are read back with tests/integration/pcaplib.py (its own pcap and MoldUDP64 parsing), the
stamp and the send log by this file's own struct layouts from docs/wire-formats.md and tools/send.h.

Tests (each prints PASS/FAIL/SKIP and its name):
  A  three passes of a synth capture through net_pcap tx_pcap=: every frame carries a DDTS stamp
     right after its IP packet, stamps never go backwards, the numbers run 1..3N without a gap
     (each pass moved on by N, its UDP checksum cleared), the messages are the capture's bytes, the
     send log holds each message's datagram stamp, and --summary agrees; a steady rate spaces the
     stamps as asked (the time from the first to the last stamp within 20% of the schedule's).
  B  dadar over net_memif with --stamps: every datagram the sender sent arrives, in sequence, each
     stamped (send_to_rx counts one per datagram), and the book at the end equals the book of the
     same capture replayed once from a file (it drains each pass, so both are empty of orders) with
     the same messages counted N times over.
  C  bad command lines (exit 2), a capture that cannot be looped, a missing capture (exit 1).

Exit 0 all passed, 1 a failure, 77 (skip, loudly) if a binary is missing or DPDK cannot start here.
usage: tests/integration/send_test.py [SUBSTRING...]   (env B = build dir, default build)
"""
import json
import os
import signal
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import itlib  # noqa: E402
import pcaplib  # noqa: E402
from itlib import INSTANCES, PREFIXES, Skip, cpus, path, run, start  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("B", "build")
BUILD = BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD)
DADAR, GEN = os.path.join(BUILD, "dadar"), os.path.join(BUILD, "dadar-gen")
TAG = "it13"
TESTS = []
_n = [0]


def test(fn):
    TESTS.append(fn)
    return fn


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def name():
    _n[0] += 1
    n = f"{TAG}-{os.getpid()}-{_n[0]}"
    PREFIXES.append(n)
    INSTANCES.append(n)
    return n


def eal(prefix, lcores, vdev, shconf=False):
    e = ["--no-huge", "--no-pci", "-m", "512", "--no-telemetry", "--log-level=*:warning", "--file-prefix", prefix,
         "--lcores", lcores, "--vdev", vdev]
    return e if shconf else e + ["--no-shconf"]


def send_cmd(vdev, args, shconf=False, cpu=None):
    c = cpus()
    return [GEN, "send"] + eal(name(), f"(0)@({c[0] if cpu is None else cpu})", vdev, shconf) + ["--"] + \
        [str(a) for a in args]


def synth(messages, seed=3):
    p = path(f"synth{messages}-{seed}.pcap")
    if not os.path.exists(p):
        r = run([GEN, "synth", p, "--messages", messages, "--seed", seed, "--drain", "--instruments", 20])
        check(r.returncode == 0, f"dadar-gen synth: {r.stderr[-400:]}")
    return p


def udp_payload(f):
    """(offset of the IP packet's end, UDP checksum, UDP payload) of an untagged IPv4/UDP frame."""
    check(f[12:14] == b"\x08\x00", "not an IPv4 frame")
    ihl = (f[14] & 15) * 4
    total = struct.unpack_from(">H", f, 16)[0]
    u = 14 + ihl
    return 14 + total, struct.unpack_from(">H", f, u + 6)[0], f[u + 8:14 + total]


def frames_of(p):
    return [f for _t, f in pcaplib.read_pcap(p)]


@test
def test_A_three_passes_stamped_numbered_on_logged():
    cap = synth(20000)
    src = frames_of(cap)
    src_dg = [udp_payload(f)[2] for f in src]
    n_msgs = sum(struct.unpack_from(">H", d, 18)[0] for d in src_dg)
    out, log, summ = path("a.out.pcap"), path("a.log"), path("a.summary.json")
    r = run(send_cmd(f"net_pcap0,tx_pcap={out}", ["--pcap", cap, "--rate", 2e6, "--passes", 3, "--send-log", log,
                                                  "--summary", summ, "--start-delay-ms", 0]), timeout=120)
    if r.returncode != 0 and "DPDK initialisation failed" in r.stderr:
        raise Skip(f"DPDK cannot start here: {r.stderr.strip()[-300:]}")
    check(r.returncode == 0, f"dadar-gen send exited {r.returncode}: {r.stderr[-600:]}")
    sent = frames_of(out)
    check(len(sent) == 3 * len(src), f"{len(sent)} frames sent, expected 3 × {len(src)}")
    with open(log, "rb") as f:
        lg = f.read()
    check(lg[:8] == b"DDSENDLG" and struct.unpack_from("<I", lg, 8)[0] == 1, "the send log's header")
    cap_slots, hz, logged = struct.unpack_from("<QQQ", lg, 16)
    check(logged == 3 * n_msgs and cap_slots >= 3 * n_msgs and hz > 0, f"send log: {cap_slots} {hz} {logged}")
    nxt, prev, first_tsc = 1, 0, None
    for i, f in enumerate(sent):
        end, csum, dg = udp_payload(f)
        trailer = f[end:end + 16]
        check(trailer[:8] == b"DDTS\0\0\0\0", f"frame {i + 1}: no stamp after the IP packet: {trailer!r}")
        tsc = struct.unpack_from("<Q", trailer, 8)[0]
        check(tsc >= prev, f"frame {i + 1}: a stamp before the previous one")
        prev = tsc
        first_tsc = first_tsc or tsc
        orig = src_dg[i % len(src_dg)]
        seq, count = struct.unpack_from(">QH", dg, 10)
        check(seq == nxt, f"frame {i + 1}: number {seq}, expected {nxt}")
        check(dg[:10] == orig[:10] and dg[18:] == orig[18:], f"frame {i + 1}: not the capture's datagram")
        check(i < len(src) or csum == 0, f"frame {i + 1}: numbers moved but the UDP checksum {csum:#x} kept")
        for q in range(seq, seq + count):
            check(struct.unpack_from("<Q", lg, 64 + 8 * (q - 1))[0] == tsc, f"send log slot {q} is not its stamp")
        nxt += count
    check(nxt == 3 * n_msgs + 1, f"numbers end at {nxt - 1}, expected {3 * n_msgs}")
    with open(summ) as f:
        s = json.load(f)
    check(s["messages"] == 3 * n_msgs and s["datagrams"] == 3 * len(src) and s["last_seq"] == 3 * n_msgs and
          s["capture_messages"] == n_msgs and s["first_seq"] == 1 and s["stamped"], f"summary {s}")
    # the schedule: 3 × n messages at 2 M/s; the stamps span it, first to last datagram
    want = (3 * n_msgs - struct.unpack_from(">H", src_dg[-1], 18)[0]) / 2e6
    got = (prev - first_tsc) / hz
    check(abs(got - want) / want < 0.2, f"stamps span {got:.4f} s, the schedule {want:.4f} s")
    return f"{3 * n_msgs} messages in {len(sent)} frames over {got * 1e3:.1f} ms (schedule {want * 1e3:.1f} ms)"


def send_then_stop(cmd, d):
    """Run the sender; once it has said its figures (everything sent) or ended, stop dadar (SIGINT),
    then wait for the sender to end. dadar goes first because the sender's exit can need the CPU
    dadar busy-polls: its EAL interrupt thread sits there, and a process cannot finish exiting
    until that thread runs (seen: the figures printed, then no exit for over 60 s while dadar
    spun). Returns the sender's CompletedProcess (stderr as text)."""
    err = path("b.send.stderr")
    with open(err, "w") as f:
        g = start(cmd, stdout=subprocess.DEVNULL, stderr=f)
    try:
        deadline = time.monotonic() + 60
        while g.poll() is None and time.monotonic() < deadline and "offered at" not in open(err).read():
            time.sleep(0.05)
        time.sleep(0.5)  # the last frames polled
        d.send_signal(signal.SIGINT)
        d.wait(timeout=60)
        try:
            g.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(g.pid, signal.SIGKILL)
            g.wait()
            raise AssertionError(f"dadar-gen send did not end within 60 s of dadar's stop: {open(err).read()[-800:]}")
    finally:
        itlib.CHILDREN.discard(g)
    return subprocess.CompletedProcess(cmd, g.returncode, "", open(err).read())


@test
def test_B_dadar_over_memif_gets_every_stamped_datagram():
    cap = synth(20000)
    c = cpus()
    sock = f"/tmp/dd-{os.getpid()}-memif.sock"
    summ, book, summ0, book0 = path("b.summary.json"), path("b.book.csv"), path("b0.summary.json"), path("b0.book.csv")
    gsumm = path("b.send.json")
    notes = []
    for attempt in range(3):
        inst = name()
        dcmd = [DADAR] + eal(inst, f"(0-1)@({c[-1]})", f"net_memif0,role=server,socket={sock}", shconf=True) + \
            ["--", "--instance", inst, "--stamps", "--summary", summ, "--book-dump", book, "--quiet"]
        d = start(dcmd, stdout=open(path("b.stdout"), "w"), stderr=open(path("b.stderr"), "w"))
        time.sleep(1.0)
        check(d.poll() is None, f"dadar exited {d.returncode}: {open(path('b.stderr')).read()[-600:]}")
        r = send_then_stop(send_cmd(f"net_memif0,role=client,socket={sock}",
                                    ["--pcap", cap, "--rate", 1e5, "--passes", 2, "--summary", gsumm],
                                    shconf=True, cpu=c[0]), d)
        check(d.returncode == 0, f"dadar exited {d.returncode}: {open(path('b.stderr')).read()[-600:]}")
        # on this shared 2-core VM the memif pair occasionally stops moving frames (the sender says so
        # and exits 1 rather than wait for ever), or never connects: each process's EAL interrupt
        # thread, which runs memif's handshake, lands on the CPU the other one busy-polls and can get
        # no time for seconds (the sender then says its link did not come up, and may crash in EAL's
        # cleanup, exit -11). That attempt is said and the pair started again
        stalled = r.returncode == 1 and "took nothing for 2 s" in r.stderr
        no_link = r.returncode != 0 and "did not come up" in r.stderr
        if (stalled or no_link) and attempt < 2:
            notes.append(r.stderr.strip().splitlines()[-1])
            continue
        check(r.returncode == 0, f"dadar-gen send exited {r.returncode}: {r.stderr[-600:]}")
        break
    if notes:
        print(f"        send_test B: {len(notes)} attempt(s) started again: {notes}", flush=True)
    with open(gsumm) as f:
        g = json.load(f)
    with open(summ) as f:
        s = json.load(f)
    m = s["moldudp64"]
    check(s["packets"] == g["datagrams"], f"dadar received {s['packets']} packets, {g['datagrams']} were sent")
    stamped = s["latency_ns"]["send_to_rx"]["count"]
    check(stamped == g["datagrams"], f"send_to_rx counted {stamped} stamped frames of {g['datagrams']}")
    check(s["latency_ns"]["send_to_rx"]["min"] > 0, "a stamp at or after its poll")
    check(m["delivered"] == g["messages"] and m["gaps"] == 0 and m["duplicates"] == 0 and m["datagrams"] == g["datagrams"],
          f"MoldUDP64: {m}")
    # the same capture once from a file: twice the same day, so the same book and twice the counts
    inst0 = name()
    r = run([DADAR] + eal(inst0, f"(0-1)@({c[-1]})", f"net_pcap0,rx_pcap={cap}") +
            ["--", "--instance", inst0, "--summary", summ0, "--book-dump", book0, "--exit-on-idle", 300, "--quiet"])
    check(r.returncode == 0, f"dadar on the file exited {r.returncode}: {r.stderr[-400:]}")
    with open(summ0) as f:
        s0 = json.load(f)
    check({k: 2 * v for k, v in s0["itch"]["messages"].items()} == s["itch"]["messages"],
          f"ITCH messages by type {s['itch']['messages']}, the file's twice: {s0['itch']['messages']}")
    with open(book) as f, open(book0) as g0:
        check(f.read() == g0.read(), "the book after two passes over memif is not the book after one from the file")
    w = s["latency_ns"]["wire_to_decision"]
    return (f"{g['datagrams']} datagrams, {g['messages']} messages, all stamped; wire_to_decision p50 {w['p50']} ns, "
            f"p99 {w['p99']} ns (shared cores: not a benchmark)")


@test
def test_C_bad_command_lines_and_captures():
    cap = synth(2000)
    for args, want in ((["--rate", 1000], "--pcap"), (["--pcap", cap], "--rate"),
                       (["--pcap", cap, "--rate", 0], "--rate"), (["--pcap", cap, "--rate", "fast"], "--rate"),
                       (["--pcap", cap, "--rate", 1e6, "--burst", "10:200"], "--burst"),
                       (["--pcap", cap, "--rate", 1e6, "--burst", "10:200:100"], "--burst"),
                       (["--pcap", cap, "--rate", 1e6, "--seconds", 1, "--passes", 2], "not both"),
                       (["--pcap", cap, "--rate", 1e6, "--bogus", 1], "--bogus")):
        r = run(send_cmd("net_null0", args))
        check(r.returncode == 2 and want in r.stderr, f"send {args}: exit {r.returncode}, {r.stderr[-300:]}")
    # two sessions in one capture: one pass goes, a loop is refused
    two = path("two.pcap")
    frames = frames_of(cap)
    other = bytearray(frames[0])
    end, _c, dg = udp_payload(other)
    off = end - len(dg)
    other[off:off + 10] = b"OTHERSESS1"
    pcaplib.write_pcap(two, frames + [bytes(other)])
    r = run(send_cmd("net_null0", ["--pcap", two, "--rate", 1e6, "--passes", 2]))
    check(r.returncode == 1 and "cannot be looped" in r.stderr, f"two sessions: {r.returncode} {r.stderr[-300:]}")
    r = run(send_cmd("net_null0", ["--pcap", two, "--rate", 1e6]))
    check(r.returncode == 0, f"two sessions, one pass: {r.returncode} {r.stderr[-300:]}")
    r = run(send_cmd("net_null0", ["--pcap", path("missing.pcap"), "--rate", 1e6]))
    check(r.returncode == 1 and "missing.pcap" in r.stderr, f"missing capture: {r.returncode} {r.stderr[-300:]}")
    r = run(send_cmd("net_null0", ["--pcap", cap, "--rate", 1e6, "--port-id", 3]))
    check(r.returncode == 1 and "does not exist" in r.stderr, f"port 3: {r.returncode} {r.stderr[-300:]}")


def need_binaries():
    for exe in (DADAR, GEN):
        if not os.access(exe, os.X_OK):
            raise Skip(f"{exe} is not built")


def main(argv):
    return itlib.main("send_test", TESTS, argv, need_binaries, TAG, BUILD)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
