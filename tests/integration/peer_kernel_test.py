"""bench/peer_kernel, the kernel-path peer of the latency benchmark, fed by hand over a loopback UDP
socket. The MoldUDP64 datagrams and ITCH messages come from pcaplib (written from the specifications),
the send log is written here from its layout (bench/peer_kernel.c), and every expected count is
worked out below from what was sent: nothing is computed by dadar's code.

Tests (each prints PASS/FAIL/SKIP and its name):
  A  busy mode, then block mode: a day of 50 datagrams (adds, executions, deletes, one message with no
     book event) with one datagram left out, one sent twice, one malformed and a closing heartbeat;
     two datagrams' slots are 0 in the send log and the last datagram is past its capacity.
     received, datagrams, lost, duplicates, unstamped, beyond_log, no_event, malformed, the
     latencies recorded (every stamp is 1, so each latency is past the histogram's 60 s and lands
     in its top slot), rcvbuf_drops 0, and the book's live orders and events, exactly.
  B  a 4 KiB receive buffer and the peer stopped (SIGSTOP) while 200 datagrams arrive: the kernel
     drops most; rcvbuf_drops + datagrams = what was sent, and lost (by sequence) = 4 messages for
     each dropped datagram.
  C  multicast: --listen GROUP:PORT --interface 127.0.0.1 joins the group on loopback and gets a
     day of 10 datagrams sent to it (skipped if this host cannot loop multicast back).
  D  a send log that exists but is empty when the peer starts, written 0.3 s later (header last), is
     waited for and used.
  E  bad input: bad command lines exit 2; a send log with the wrong magic, another version, shorter
     than its capacity, with no TSC frequency or missing, and an address not of this host, exit 1,
     each with a message naming the problem.

Exit 0 all passed, 1 a failure, 77 (skip, loudly) if the binary is not built.
usage: tests/integration/peer_kernel_test.py [SUBSTRING...]   (env B = build dir, default build)
"""
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import itlib  # noqa: E402
import pcaplib  # noqa: E402
from itlib import Skip, path, run, start  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("B", "build")
BUILD = BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD)
PEER = os.path.join(BUILD, "bench", "peer_kernel")
TAG = "itpk"
TESTS = []

LOC, SYM = 7, "ZXZZT"
TSC_HZ = 1_000_000          # with stamps of 1, every latency is (TSC - 1) us: far past 60 s
HIST_TOP_NS = 60_000_000_000  # the highest value of dadar's latency histograms (shm/telemetry.c)
JSON_KEYS = ("system", "mode", "received", "datagrams", "lost", "duplicates", "unstamped", "p50_ns", "p99_ns",
             "p999_ns", "p9999_ns", "max_ns", "min_ns", "mean_ns", "seconds", "messages_per_s", "rcvbuf_drops")


def test(fn):
    TESTS.append(fn)
    return fn


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def send_log(name, capacity, slots, magic=b"DDSENDLG", version=1, tsc_hz=TSC_HZ, sent=12345, short_by=0):
    """A send log: the 64-byte header, then `capacity` u64 slots (slots: {seq: tsc}, others 0)."""
    hdr = struct.pack("<8sIIQQQ24x", magic, version, 0, capacity, tsc_hz, sent)
    body = bytearray(8 * capacity)
    for seq, tsc in slots.items():
        struct.pack_into("<Q", body, 8 * (seq - 1), tsc)
    p = path(name)
    with open(p, "wb") as f:
        f.write(hdr + bytes(body[:len(body) - short_by]))
    return p


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def reg_sho(locate, sym):
    """ITCH Y (Reg SHO restriction): valid, and no book event."""
    return pcaplib.itch(b"Y", locate, pcaplib.stock(sym) + b"0")


def day(n, opening=True):
    """n datagrams as (first seq, messages), from sequence number 1. Datagram k adds buy order 2k+1
    (300 shares) and sell order 2k+2, executes 100 of the buy and deletes the sell: each one leaves
    one live order. With `opening`, the first also starts the day, names the instrument and carries a
    Reg SHO message."""
    out, seq = [], 1
    for k in range(n):
        msgs = []
        if k == 0 and opening:
            msgs += [pcaplib.itch_system(b"O"), pcaplib.itch_directory(LOC, SYM), reg_sho(LOC, SYM)]
        buy, sell = 2 * k + 1, 2 * k + 2
        msgs += [pcaplib.itch_add(LOC, buy, b"B", 300, SYM, 1_000_000 - k),
                 pcaplib.itch_add(LOC, sell, b"S", 200, SYM, 1_010_000 + k),
                 pcaplib.itch_exec(LOC, buy, 100, k + 1),
                 pcaplib.itch_delete(LOC, sell)]
        out.append((seq, msgs))
        seq += len(msgs)
    return out


def start_peer(port, log, *extra, group="127.0.0.1"):
    """peer_kernel on group:port (later options override these), once it says it is listening."""
    p = start([PEER, "--listen", f"{group}:{port}", "--send-log", log, "--idle-exit", 500, *extra],
              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines, deadline = [], time.monotonic() + 15
    while time.monotonic() < deadline:
        r, _, _ = select.select([p.stderr], [], [], 0.2)
        if r:
            line = p.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "listening on" in line:
                return p
        elif p.poll() is not None:
            break
    raise AssertionError(f"peer_kernel did not start listening: {''.join(lines)[-1500:]}")


def finish(p, timeout=30):
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)  # the group start() made for p, nothing else
        out, err = p.communicate()
        raise AssertionError(f"peer_kernel did not stop by itself (--idle-exit 500): {err[-1500:]}")
    itlib.CHILDREN.discard(p)
    check(p.returncode == 0, f"peer_kernel exit {p.returncode}: {err[-1500:]}")
    return err


def scenario(mode, *extra):
    """Test A's day in `mode`; returns a note."""
    dgs = day(50)
    gap, dup, bad_after, unstamped_dgs = 20, 10, 15, (5, 6)
    total = dgs[-1][0] + len(dgs[-1][1]) - 1               # messages numbered 1..total
    capacity = total - len(dgs[-1][1])                      # the last datagram is past the log
    slots = {}
    for k, (seq, msgs) in enumerate(dgs):
        for i in range(len(msgs)):
            if seq + i <= capacity and k not in unstamped_dgs:
                slots[seq + i] = 1
    log = send_log(f"sendlog-{mode}", capacity, slots)
    port = free_port()
    js = path(f"peer-{mode}.json")
    p = start_peer(port, log, "--mode", mode, "--json", js, *extra)

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = 0

    def send(b):
        nonlocal sent
        s.sendto(b, ("127.0.0.1", port))
        sent += 1
        time.sleep(0.0005)

    for k, (seq, msgs) in enumerate(dgs):
        if k == gap:
            continue
        send(pcaplib.mold(seq, msgs))
        if k == dup:
            send(pcaplib.mold(seq, msgs))
        if k == bad_after:  # says 5 messages, holds 4: dropped whole (count_mismatch)
            nseq, nmsgs = dgs[k + 1]
            send(pcaplib.mold(nseq, nmsgs, count=len(nmsgs) + 1))
    send(pcaplib.heartbeat(total + 1))
    s.close()
    err = finish(p)

    with open(js) as f:
        r = json.load(f)
    missing = [k for k in JSON_KEYS if k not in r]
    check(not missing, f"JSON lacks {missing}: {r}")

    lost = len(dgs[gap][1])
    received = total - lost
    no_event = 1                                            # the Reg SHO message
    unstamped = sum(len(dgs[k][1]) for k in unstamped_dgs)
    beyond = len(dgs[-1][1])
    measured = received - no_event - unstamped - beyond
    want = {"system": "kernel", "mode": mode, "received": received, "datagrams": sent, "lost": lost,
            "duplicates": len(dgs[dup][1]), "unstamped": unstamped, "beyond_log": beyond, "no_event": no_event,
            "measured": measured, "clamped": measured, "malformed": 1, "rcvbuf_drops": 0, "stamp_after_rx": 0,
            "book_orders": len(dgs) - 1,                   # one live buy order per delivered datagram
            "book_events": received - no_event, "sender_sent": 12345, "tsc_hz": TSC_HZ}
    bad = {k: (r.get(k), v) for k, v in want.items() if r.get(k) != v}
    check(not bad, f"{mode}: (got, expected): {bad}\n{err[-800:]}")
    # every latency is past the top: all percentiles are the top slot's highest value, min its lowest
    top = r["max_ns"]
    check(HIST_TOP_NS <= top <= HIST_TOP_NS * 1.001, f"{mode}: max_ns {top}, expected the top slot ~{HIST_TOP_NS}")
    check(all(r[k] == top for k in ("p50_ns", "p99_ns", "p999_ns", "p9999_ns")),
          f"{mode}: percentiles not all in the top slot: {r}")
    check(HIST_TOP_NS * 0.999 <= r["min_ns"] <= HIST_TOP_NS, f"{mode}: min_ns {r['min_ns']}")
    check(r["seconds"] > 0 and abs(r["messages_per_s"] - received / r["seconds"]) <= 1 + 1e-6 * r["messages_per_s"],
          f"{mode}: messages_per_s {r['messages_per_s']} is not received / seconds ({r['seconds']})")
    check(f"{received} messages in {sent} datagrams" in err, f"{mode}: no summary line on stderr: {err[-800:]}")
    return f"{mode}: {received} received, {lost} lost, {r['duplicates']} duplicates, {unstamped} unstamped"


@test
def test_busy_mode_counts_every_message_exactly():
    return scenario("busy")


@test
def test_block_mode_counts_every_message_exactly():
    return scenario("block", "--batch", 8, "--system", "kernel")


@test
def test_rcvbuf_drops_match_the_messages_lost_by_sequence():
    dgs = day(201, opening=False)                          # 4 messages each
    log = send_log("sendlog-drops", dgs[-1][0] + 3, {})
    port = free_port()
    js = path("peer-drops.json")
    p = start_peer(port, log, "--rcvbuf", 4096, "--json", js, "--idle-exit", 2000)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    os.kill(p.pid, signal.SIGSTOP)
    try:
        for seq, msgs in dgs[:200]:
            s.sendto(pcaplib.mold(seq, msgs), ("127.0.0.1", port))
    finally:
        os.kill(p.pid, signal.SIGCONT)
    time.sleep(0.3)
    seq, msgs = dgs[200]
    s.sendto(pcaplib.mold(seq, msgs), ("127.0.0.1", port))  # after the drops: their gap is declared
    s.close()
    err = finish(p)
    with open(js) as f:
        r = json.load(f)
    drops = r["rcvbuf_drops"]
    check(drops > 0, f"a 4 KiB buffer took 200 datagrams without a drop: {r}")
    check(r["datagrams"] + drops == 201, f"datagrams {r['datagrams']} + rcvbuf_drops {drops} != 201 sent\n{err}")
    check(r["lost"] == 4 * drops, f"lost {r['lost']} messages, expected 4 for each of {drops} dropped datagrams")
    check(r["received"] == 4 * r["datagrams"], f"received {r['received']} != 4 x {r['datagrams']} datagrams")
    check(r["unstamped"] == r["received"] and r["measured"] == 0, f"no slot was stamped: {r}")
    return f"{drops} of 201 datagrams dropped by the kernel, {r['lost']} messages lost"


def multicast_loops_back(group, port):
    """Can a socket here receive what this host sends to `group` on the loopback interface?"""
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        r.bind(("0.0.0.0", port))
        r.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(group) + socket.inet_aton("127.0.0.1"))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
        s.sendto(b"probe", (group, port))
        r.settimeout(1)
        return r.recv(64) == b"probe"
    except OSError:
        return False
    finally:
        r.close()
        s.close()


@test
def test_multicast_group_joined_on_the_interface():
    group, port = "239.255.42.7", free_port()
    if not multicast_loops_back(group, port):
        raise Skip("this host does not loop multicast back on 127.0.0.1")
    dgs = day(10)
    total = dgs[-1][0] + len(dgs[-1][1]) - 1
    log = send_log("sendlog-mcast", total, {q: 1 for q in range(1, total + 1)})
    js = path("peer-mcast.json")
    p = start_peer(port, log, "--interface", "127.0.0.1", "--json", js, group=group)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
    for seq, msgs in dgs:
        s.sendto(pcaplib.mold(seq, msgs), (group, port))
        time.sleep(0.0005)
    s.close()
    err = finish(p)
    with open(js) as f:
        r = json.load(f)
    want = {"received": total, "datagrams": len(dgs), "lost": 0, "duplicates": 0, "unstamped": 0,
            "measured": total - 1, "book_orders": len(dgs)}
    bad = {k: (r.get(k), v) for k, v in want.items() if r.get(k) != v}
    check(not bad, f"multicast: (got, expected): {bad}\n{err[-800:]}")
    return f"{total} messages from {group}:{port}"


@test
def test_send_log_written_after_start_is_waited_for():
    dgs = day(3)
    total = dgs[-1][0] + len(dgs[-1][1]) - 1
    full = send_log("sendlog-late-src", total, {q: 1 for q in range(1, total + 1)})
    with open(full, "rb") as f:
        image = f.read()
    lg = path("sendlog-late")
    open(lg, "wb").close()
    port = free_port()
    js = path("peer-late.json")
    p = start([PEER, "--listen", f"127.0.0.1:{port}", "--send-log", lg, "--idle-exit", 500, "--json", js],
              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.3)
    check(p.poll() is None, f"peer_kernel gave up on an empty send log at once: exit {p.poll()}")
    with open(lg, "r+b") as f:  # the slots first, the header (magic, version) last, as a sender does
        f.write(bytes(64) + image[64:])
        f.flush()
        f.seek(0)
        f.write(image[:64])
    deadline, seen = time.monotonic() + 10, ""
    while "listening on" not in seen and time.monotonic() < deadline and p.poll() is None:
        r, _, _ = select.select([p.stderr], [], [], 0.2)
        if r:
            seen += p.stderr.readline()
    check("listening on" in seen, f"peer_kernel did not start on the late send log: {seen}")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for seq, msgs in dgs:
        s.sendto(pcaplib.mold(seq, msgs), ("127.0.0.1", port))
        time.sleep(0.0005)
    s.close()
    err = finish(p)
    with open(js) as f:
        r = json.load(f)
    check(r["received"] == total and r["measured"] == total - 1 and r["unstamped"] == 0,
          f"late log: received {r['received']} (expected {total}), measured {r['measured']}\n{err[-800:]}")
    return f"{total} messages measured against a log written after the start"


@test
def test_bad_input_exits_with_a_message():
    log = send_log("sendlog-ok", 16, {1: 1})
    port = free_port()
    listen = f"127.0.0.1:{port}"
    usage = [
        ([], "--listen"),
        (["--listen", listen], "--send-log"),
        (["--send-log", log], "--listen"),
        (["--listen", "127.0.0.1", "--send-log", log], "--listen"),
        (["--listen", "localhost:80", "--send-log", log], "--listen"),
        (["--listen", "127.0.0.1:0", "--send-log", log], "--listen"),
        (["--listen", listen, "--send-log", log, "--mode", "fast"], "--mode"),
        (["--listen", listen, "--send-log", log, "--batch", "0"], "--batch"),
        (["--listen", listen, "--send-log", log, "--batch", "1025"], "--batch"),
        (["--listen", listen, "--send-log", log, "--idle-exit", "-1"], "--idle-exit"),
        (["--listen", listen, "--send-log", log, "--interface", "eth0"], "--interface"),
        (["--listen", listen, "--send-log", log, "--capacity-orders", "0"], "--capacity-orders"),
        (["--listen", listen, "--send-log", log, "--bogus", "1"], "--bogus"),
        (["--listen", listen, "--send-log"], "--send-log"),
    ]
    for args, word in usage:
        r = run([PEER] + args, timeout=20)
        check(r.returncode == 2 and word in r.stderr, f"{args}: exit {r.returncode} (expected 2), stderr: {r.stderr}")
    fail = [
        (send_log("sendlog-magic", 16, {}, magic=b"DDSENDLX"), "magic"),
        (send_log("sendlog-version", 16, {}, version=2), "version 2"),
        (send_log("sendlog-short", 16, {}, short_by=8), "shorter than its capacity"),
        (send_log("sendlog-hz", 16, {}, tsc_hz=0), "tsc_hz 0"),
        (path("no-such-sendlog"), "No such file"),
    ]
    with open(path("sendlog-tiny"), "wb") as f:
        f.write(b"DDSENDLG")
    fail.append((path("sendlog-tiny"), "header"))
    for lg, word in fail:
        r = run([PEER, "--listen", listen, "--send-log", lg], timeout=20)
        check(r.returncode == 1 and word in r.stderr, f"{lg}: exit {r.returncode} (expected 1), stderr: {r.stderr}")
    r = run([PEER, "--listen", f"192.0.2.1:{port}", "--send-log", log], timeout=20)  # TEST-NET-1: not ours
    check(r.returncode == 1 and "bind(192.0.2.1" in r.stderr, f"bind to a foreign address: exit {r.returncode}, "
          f"stderr: {r.stderr}")
    return f"{len(usage)} bad command lines exit 2, {len(fail) + 1} unusable logs and sockets exit 1"


def need_binaries():
    if not os.access(PEER, os.X_OK):
        raise Skip(f"{PEER} is not built (make all)")


def main(argv):
    return itlib.main("peer_kernel_test", TESTS, argv, need_binaries, TAG, BUILD)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
