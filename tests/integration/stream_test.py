"""Outputs that leave the host (issue 8): the MoldUDP64 output stream sent through net_pcap's tx_pcap,
its retransmission request server, and the NATS JetStream bridge against a real nats-server.
Every message is decoded by tests/integration/outstream.py (written from docs/wire-formats.md, not
from dadar's encoder) and compared with dadar's own --output JSON lines; JetStream is read back with
tests/integration/natslib.py (a protocol client of its own, not libnats).

Tests (each prints PASS/FAIL/SKIP and its name):
  A  the ITCH sample and a payment day through one dadar, the stream captured: one message per
     --output line, in order, numbers 1.. contiguous, every mechanical field equal (bbo, decision);
     datagrams within the mtu; an end of session with the next number at the stop; the summary's
     output_udp section says the same.
  B  the planted market day with rules/market.rules: alerts, their matched records, windows (and the
     rest) equal the lines; each alert's 'M' messages follow it as docs/wire-formats.md says.
  C  idle: heartbeats every output_udp.heartbeat_ms carrying the next number, then the end of session.
  D  sessions across restarts, with a journal: a clean stop ends the session and the next start opens
     a new one numbered from 1 (`<journal>/stream` says so); after kill -9 the next start continues the
     same session at the next number.
  E  retransmission after kill -9 and a restart (journal-backed): a consumer that drops every 10th
     datagram of the live stream, and missed everything before the restart, asks the request server
     for what it lacks, 1000 at a time, and ends with every message 1..N, equal to the lines; bad
     requests (wrong length, another session, number 0, count 0, not yet sent) are counted, ignored.
  F  JetStream: every output once, in order, payload = the line, subject dadar.<instance>.<type>,
     message ids unique; the summary's nats section agrees.
  G  JetStream across restarts of the broker (SIGKILL, 8 times, with outputs in flight and a backlog
     to catch up on) and a kill -9 of dadar: still every output of the output file exactly once, in
     order. Before the bridge made its own connections, libnats's reconnection sent a batch's end
     ahead of its middle (a run in 14 with one restart; with these 8, a run in 6): a race, so a pass
     proves little alone. The day reaches dadar through a named pipe and its last frame never does
     before the kill, so the restarts and the kill land mid-stream on any machine.
  L  JetStream with no broker at all: a clean stop still ends after nats.drain_ms, the outputs counted
     as the backlog and the failed connect as an error.
  H  bad --output-udp values and a port that does not exist stop the start with a clear message.
  K  the stream sent out of a port that loops it back (net_ring) is never taken as input: counted
     own_output, every ITCH message of the day decoded, the outputs those of the day alone.
  J  a session a clean stop ended is still answered after the next start, from the journal, under
     its own name (`<journal>/sessions`), and the summary counts it; a name never used is refused.
  I  a large day with a journal: one group commit releases thousands of outputs at once (more
     datagrams than the sender's queue holds); the port takes them all: nothing dropped, the stream
     equals the lines.

Exit 0 all passed, 1 a failure, 77 (skip, loudly) if a binary is missing or DPDK cannot start here.
usage: tests/integration/stream_test.py [SUBSTRING...]   (env B = build dir, default build)
"""
import json
import os
import signal
import socket
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import itlib  # noqa: E402
import natslib  # noqa: E402
import outstream  # noqa: E402
import pcaplib  # noqa: E402
from itlib import INSTANCES, PREFIXES, Skip, cpus, path, run, start  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("B", "build")
BUILD = BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD)
DADAR, GEN = os.path.join(BUILD, "dadar"), os.path.join(BUILD, "dadar-gen")
SAMPLE_ITCH = os.path.join(ROOT, "tests", "data", "itch", "ex20101224.TEST_ITCH_50")
MARKET_RULES = os.path.join(ROOT, "rules", "market.rules")
TAG = "it8"
GROUP, PORT = "239.192.26.49", 26490
_n = [0]


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dadar_cmd(inputs, tx, opts=(), mem="1200", request=None, workers=0):
    """dadar reading each pcap of `inputs` on a port of its own and sending the stream to port
    len(inputs) into `tx` (a pcap; None: no stream), its request server at 127.0.0.1:`request`
    (None: off)."""
    _n[0] += 1
    name = f"{TAG}-{os.getpid()}-{_n[0]}"
    PREFIXES.append(name)
    INSTANCES.append(name)
    c = cpus()
    cmd = [DADAR, "--no-huge", "--no-pci", "-m", mem, "--no-shconf", "--no-telemetry", "--log-level=*:warning",
           "--file-prefix", name, "--lcores", f"(0-{1 + workers})@({','.join(map(str, c))})"]
    for i, p in enumerate(inputs):
        cmd += ["--vdev", f"net_pcap{i},rx_pcap={p}"]
    if tx is not None:
        cmd += ["--vdev", f"net_pcap{len(inputs)},tx_pcap={tx}"]
    cmd += ["--", "--instance", name, "--quiet"]
    if workers:
        cmd += ["--pipeline", "staged", "--workers", workers]
    if tx is not None:
        cmd += ["--output-udp", f"{GROUP}:{PORT}@{len(inputs)}", "--set",
                f"output_udp.request={'none' if request is None else f'127.0.0.1:{request}'}"]
    return cmd + [str(o) for o in opts], name


def dadar(inputs, tx, opts=(), expect=0, timeout=180, workers=0):
    cmd, name = dadar_cmd(inputs, tx, opts, workers=workers)
    r = run(cmd, timeout=timeout)
    if r.returncode != 0 and ("DPDK initialisation failed" in r.stderr or "EAL: FATAL" in r.stderr):
        raise Skip(f"DPDK cannot start here: {r.stderr.strip()[-400:]}")
    if expect is not None and r.returncode != expect:
        raise AssertionError(f"dadar exited {r.returncode}, expected {expect}: {' '.join(r.args)}\n"
                             f"      stderr: {r.stderr.strip()[-1500:]}")
    return r


def gen(*args):
    r = run([GEN] + [str(a) for a in args])
    check(r.returncode == 0, f"dadar-gen {' '.join(map(str, args))} exited {r.returncode}: {r.stderr[-800:]}")


_cache = {}


def cached(key, fn):
    if key not in _cache:
        _cache[key] = fn()
    return _cache[key]


def itch_pcap():
    def make():
        p = path("itch.pcap")
        gen("itch-file", SAMPLE_ITCH, p)
        return p
    return cached("itch", make)


def pay_pcap():
    def make():
        p = path("pay.pcap")
        gen("payments", p, "--seed", 3, "--count", 3000, "--payers", 400, "--days", 1, "--scenarios", 2)
        return p
    return cached("pay", make)


def split_pcap(src, k):
    """The first k frames of `src` and the rest, as two pcaps (one feed cut in two)."""
    frames = [f for _t, f in pcaplib.read_pcap(src)]
    a, b = path(f"split{k}a.pcap"), path(f"split{k}b.pcap")
    pcaplib.write_pcap(a, frames[:k])
    pcaplib.write_pcap(b, frames[k:])
    return a, b


def read_lines(p):
    with open(p) as f:
        return [json.loads(x) for x in f]


def stream_of(tx):
    """(datagrams, messages): every datagram of the capture as (session, seq, count, msgs, len)."""
    dgs = []
    for _t, f in pcaplib.read_pcap(tx):
        u = outstream.udp_ports(f)
        check(u is not None and u[1] == PORT, f"a frame of the stream that is not UDP to {PORT}")
        s, seq, count, msgs = outstream.decode_datagram(u[2])
        dgs.append((s, seq, count, msgs, len(u[2])))
    return dgs


def same_as_lines(msgs, lines, what):
    """Every message equal to its line on every mechanical field, in order."""
    check(len(msgs) == len(lines), f"{what}: {len(msgs)} messages, {len(lines)} output lines")
    for i, (m, ln) in enumerate(zip(msgs, lines)):
        for k, v in outstream.json_fields(m).items():
            if not outstream.json_like(v, ln.get(k)):
                raise AssertionError(f"{what}: message {i + 1} {k} = {v!r}, its line says {ln.get(k)!r}: {ln}")


def data_messages(dgs, session=None):
    """The messages of the data datagrams, checking numbers are contiguous from the first."""
    out, nxt = [], None
    for s, seq, count, msgs, _len in dgs:
        if count in (0, outstream.MOLD_EOS):
            continue
        check(session is None or s == session, f"datagram of session {s}, expected {session}")
        check(nxt is None or seq == nxt, f"datagram numbered {seq}, expected {nxt}: not contiguous")
        nxt = seq + count
        out.extend(msgs)
    return out


TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


@test
def test_A_itch_and_payments_stream_equals_the_output_lines_in_order_with_end_of_session():
    tx, out, summ = path("a.tx.pcap"), path("a.jsonl"), path("a.summary.json")
    dadar([itch_pcap(), pay_pcap()], tx, ["--exit-on-idle", 300, "--output", out, "--summary", summ])
    lines = read_lines(out)
    dgs = stream_of(tx)
    check(lines, "no outputs")
    session = dgs[0][0]
    check(dgs[0][1] == 1, f"the first datagram is numbered {dgs[0][1]}, not 1")
    msgs = data_messages(dgs, session)
    same_as_lines(msgs, lines, "stream")
    types = {m["type"] for m in msgs}
    check({"B", "D"} <= types, f"types seen: {types}")
    check(all(ln <= 1400 for *_x, ln in dgs), "a datagram over output_udp.mtu (1400)")
    last = dgs[-1]
    check(last[2] == outstream.MOLD_EOS and last[1] == len(lines) + 1,
          f"the last datagram is not an end of session with the next number: {last[:3]}")
    with open(summ) as f:
        s = json.load(f)["output_udp"]
    check(s["session"] == session and s["messages"] == len(lines) and s["next_seq"] == len(lines) + 1 and
          s["first_seq"] == 1 and s["ended"] and s["tx_dropped"] == 0, f"summary: {s}")
    check(s["datagrams"] == len(dgs), f"summary says {s['datagrams']} datagrams, the capture has {len(dgs)}")
    # staged with two workers: the same, the outputs in the order the release stage gives them
    tx, out = path("a2.tx.pcap"), path("a2.jsonl")
    dadar([itch_pcap(), pay_pcap()], tx, ["--exit-on-idle", 300, "--output", out], workers=2)
    lines2 = read_lines(out)
    same_as_lines(data_messages(stream_of(tx)), lines2, "staged stream")
    check(len(lines2) == len(lines), f"staged: {len(lines2)} outputs, run to completion {len(lines)}")
    return f"{len(lines)} outputs in {len(dgs)} datagrams, session {session}; staged the same"


def planted():
    def make():
        day, exp = path("planted.pcap"), path("planted.expect.jsonl")
        gen("synth", day, "--plant", "all", "--expect", exp, "--plant-venue2", path("planted2.pcap"), "--seed", 7,
            "--instruments", 20)
        return day
    return cached("planted", make)


@test
def test_B_planted_day_alerts_and_windows_on_the_stream_equal_the_lines():
    tx, out = path("b.tx.pcap"), path("b.jsonl")
    dadar([planted()], tx, ["--rules", MARKET_RULES, "--exit-on-idle", 300, "--output", out])
    lines = read_lines(out)
    msgs = data_messages(stream_of(tx))
    same_as_lines(msgs, lines, "stream")
    kinds = {}
    for m in msgs:
        kinds[m["type"]] = kinds.get(m["type"], 0) + 1
    check(kinds.get("A", 0) >= 10 and kinds.get("W", 0) > 0 and kinds.get("M", 0) > 0,
          f"messages by type: {kinds}")
    bad = outstream.matched_problems(msgs)
    check(not bad, f"'M' messages not as their alerts say: {bad}")
    refs = sum(m["flags"] for m in msgs if m["type"] == "A")
    listed = sum(m["body"]["n"] for m in msgs if m["type"] == "M")
    check(refs == listed, f"the alerts list {refs} matched records, the 'M' messages {listed}")
    return f"messages by type {kinds}; {listed} matched records listed"


@test
def test_C_idle_stream_sends_heartbeats_with_the_next_number_then_end_of_session():
    tx, out = path("c.tx.pcap"), path("c.jsonl")
    cmd, _name = dadar_cmd([itch_pcap()], tx, ["--output", out, "--set", "output_udp.heartbeat_ms=100"])
    p = start(cmd, stdout=open(path("c.stdout"), "w"), stderr=open(path("c.stderr"), "w"))
    time.sleep(2.0)
    p.send_signal(signal.SIGINT)
    check(p.wait(timeout=30) == 0, f"dadar exited {p.returncode}: {open(path('c.stderr')).read()[-800:]}")
    n = len(read_lines(out))
    dgs = stream_of(tx)
    hb = [d for d in dgs if d[2] == 0]
    check(len(hb) >= 5, f"{len(hb)} heartbeats in ~1.5 idle seconds at 100 ms")
    check(all(d[1] == n + 1 for d in hb), f"heartbeats carry {sorted({d[1] for d in hb})}, expected {n + 1}")
    check(dgs[-1][2] == outstream.MOLD_EOS and dgs[-1][1] == n + 1, f"last datagram {dgs[-1][:3]}")
    # a heartbeat only after 100 ms without a datagram (the capture's times are when net_pcap wrote them)
    times = [t for t, _f in pcaplib.read_pcap(tx)]
    gaps = [(times[i] - times[i - 1]) / 1e6 for i, d in enumerate(dgs) if d[2] == 0 and i > 0]
    check(min(gaps) >= 90, f"a heartbeat {min(gaps):.1f} ms after the datagram before it (heartbeat_ms 100)")
    return f"{len(hb)} heartbeats after {n} messages, each >= {min(gaps):.0f} ms after the datagram before"


def stream_state(j):
    with open(os.path.join(j, "stream")) as f:
        w = f.read().split()
    return {"session": w[1], "base": int(w[3]), "ended": int(w[5])}


def wait_lines(out, n, p, timeout=60):
    """Wait until `out` holds n lines (dadar `p` still running)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if os.path.exists(out) and sum(1 for _ in open(out)) >= n:
            return
        check(p.poll() is None, f"dadar exited {p.returncode} before writing {n} lines")
        time.sleep(0.05)
    raise AssertionError(f"{out} did not reach {n} lines in {timeout} s")


def expected_lines(inputs):
    """The output lines an uninterrupted run over `inputs` (one after the other) gives."""
    def make():
        out = path("ref.jsonl")
        dadar([itch_pcap()], None, ["--exit-on-idle", 300, "--output", out])
        return read_lines(out)
    return cached("ref", make)


@test
def test_D_clean_stop_opens_a_new_session_kill_9_continues_the_same_one():
    first, rest = split_pcap(itch_pcap(), 150)
    ref = expected_lines(None)
    # clean stop, then a start: a new session from 1
    j, out = path("d.j"), path("d.jsonl")
    tx1, tx2 = path("d.tx1.pcap"), path("d.tx2.pcap")
    dadar([first], tx1, ["--journal", j, "--output", out, "--exit-on-idle", 300])
    st1 = stream_state(j)
    n1 = len(read_lines(out))
    check(st1["ended"] == 1 and st1["base"] == 0, f"after a clean stop <journal>/stream says {st1}")
    time.sleep(1.1)  # sessions are named by the second
    dadar([rest], tx2, ["--journal", j, "--output", out, "--exit-on-idle", 300])
    st2 = stream_state(j)
    lines = read_lines(out)
    check(st2["session"] != st1["session"] and st2["base"] == n1 and st2["ended"] == 1,
          f"after the second clean stop: {st2} (the first: {st1}, {n1} outputs)")
    d2 = stream_of(tx2)
    check(d2[0][0] == st2["session"] and d2[0][1] == 1, f"the new session starts at {d2[0][:2]}")
    same_as_lines(data_messages(d2, st2["session"]), lines[n1:], "second session")
    strip = [{k: v for k, v in x.items() if k not in ("lsn", "cause")} for x in lines]
    check(strip == [{k: v for k, v in x.items() if k not in ("lsn", "cause")} for x in ref],
          "the outputs of the two runs are not those of one uninterrupted run")
    # kill -9, then a start: the same session goes on
    j, out = path("d.k"), path("d.k.jsonl")
    cmd, _name = dadar_cmd([first], path("d.ktx1.pcap"), ["--journal", j, "--output", out])
    p = start(cmd, stdout=open(path("d.k.stdout"), "w"), stderr=open(path("d.k.stderr"), "w"))
    wait_lines(out, n1, p)
    time.sleep(0.3)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    st3 = stream_state(j)
    check(st3["ended"] == 0, f"after kill -9: {st3}")
    tx = path("d.ktx2.pcap")
    dadar([rest], tx, ["--journal", j, "--output", out, "--exit-on-idle", 300])
    st4 = stream_state(j)
    lines = read_lines(out)
    dg = stream_of(tx)
    check(st4["session"] == st3["session"] and st4["base"] == 0, f"after the restart: {st4}, before: {st3}")
    check(dg[0][0] == st3["session"] and dg[0][1] == n1 + 1,
          f"the restart's first datagram is {dg[0][:2]}, expected session {st3['session']} at {n1 + 1}")
    same_as_lines(data_messages(dg, st3["session"]), lines[n1:], "continued session")
    return f"sessions {st1['session']} then {st2['session']} (clean); {st3['session']} kept across kill -9"


class Consumer:
    """A MoldUDP64 consumer of the output stream: datagrams from the capture dadar writes live (every
    10th dropped), missing numbers asked of the request server."""

    def __init__(self, server):
        self.server = server
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.s.settimeout(0.2)
        self.have = {}
        self.session = None
        self.requested = 0

    def take(self, session, seq, msgs):
        self.session = self.session or session
        check(session == self.session, f"a datagram of session {session}, the stream's is {self.session}")
        for i, m in enumerate(msgs):
            self.have.setdefault(seq + i, m)

    def ask(self, seq, count):
        self.requested += count
        self.s.sendto(outstream.request(self.session, seq, count), self.server)

    def answers(self, quiet_s=0.3):
        """Take answers until none came for quiet_s."""
        last = time.monotonic()
        while time.monotonic() - last < quiet_s:
            try:
                p, _a = self.s.recvfrom(65536)
            except socket.timeout:
                continue
            s, seq, count, msgs = outstream.decode_datagram(p)
            self.take(s, seq, msgs)
            last = time.monotonic()

    def fill(self, upto, rounds=50):
        for _ in range(rounds):
            missing = [n for n in range(1, upto + 1) if n not in self.have]
            if not missing:
                return
            runs, a = [], missing[0]
            for prev, n in zip(missing, missing[1:] + [None]):
                if n != prev + 1:
                    runs.append((a, prev - a + 1))
                    a = n
            for a, n in runs:
                while n > 0:
                    self.ask(a, min(n, 1000))
                    a, n = a + min(n, 1000), n - min(n, 1000)
            self.answers()
        raise AssertionError(f"still missing {len([n for n in range(1, upto + 1) if n not in self.have])} "
                             f"of {upto} after {rounds} rounds of requests")


@test
def test_E_consumer_dropping_every_10th_datagram_recovers_everything_after_kill_9_and_restart():
    first, rest = split_pcap(itch_pcap(), 150)
    j, out = path("e.j"), path("e.jsonl")
    port = free_udp_port()
    cmd, _ = dadar_cmd([first], path("e.tx1.pcap"), ["--journal", j, "--output", out], request=port)
    p = start(cmd, stdout=open(path("e1.stdout"), "w"), stderr=open(path("e1.stderr"), "w"))
    time.sleep(1.0)
    check(p.poll() is None, f"dadar exited {p.returncode}: {open(path('e1.stderr')).read()[-600:]}")
    wait_lines(out, 1, p)
    time.sleep(0.5)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    n1 = len(read_lines(out))
    tx, summ = path("e.tx2.pcap"), path("e.summary.json")
    cmd, _ = dadar_cmd([rest], tx, ["--journal", j, "--output", out, "--summary", summ,
                                    "--set", "output_udp.history=16"], request=port)
    p = start(cmd, stdout=open(path("e2.stdout"), "w"), stderr=open(path("e2.stderr"), "w"))
    total = len(expected_lines(None))
    wait_lines(out, total, p)
    time.sleep(0.5)
    # the live stream as the consumer got it: every 10th datagram lost, everything before the restart missed
    c = Consumer(("127.0.0.1", port))
    data = [d for d in stream_of(tx) if d[2] not in (0, outstream.MOLD_EOS)]
    for i, (s, seq, _count, msgs, _ln) in enumerate(data):
        if (i + 1) % 10 != 0:
            c.take(s, seq, msgs)
    got_live = len(c.have)
    c.fill(total)
    # bad requests, each counted and ignored
    bad = [b"short", outstream.request("0000000000", 1, 1), outstream.request(c.session, 0, 5),
           outstream.request(c.session, 1, 0), outstream.request(c.session, total + 5, 1)]
    for b in bad:
        c.s.sendto(b, ("127.0.0.1", port))
    before = len(c.have)
    c.answers(0.5)
    p.send_signal(signal.SIGINT)
    check(p.wait(timeout=60) == 0, f"dadar exited {p.returncode}: {open(path('e2.stderr')).read()[-600:]}")
    lines = read_lines(out)
    check(len(lines) == total, f"{len(lines)} lines, expected {total}")
    same_as_lines([c.have[n] for n in range(1, total + 1)], lines, "recovered stream")
    check(len(c.have) == before == total, "an answer to a bad request arrived")
    with open(summ) as f:
        r = json.load(f)["output_udp"]["requests"]
    check(r["bad_length"] == 1 and r["bad_session"] == 1 and r["bad_range"] == 3,
          f"bad requests counted {r}")
    check(r["from_journal"] >= n1 and r["unavailable"] == 0, f"requests {r} ({n1} outputs before the restart)")
    return (f"{total} messages: {got_live} live, {total - got_live} by request "
            f"({r['from_journal']} from the journal, {r['answered']} requests)")


def nats_server(name):
    store = path(f"nats-{name}")
    os.makedirs(store, exist_ok=True)
    try:
        srv = natslib.Server(store)
    except FileNotFoundError as e:
        raise AssertionError(str(e)) from None
    srv.start()
    return srv


def check_jetstream(srv, stream, instance, lines):
    c = natslib.Nats(srv.port)
    try:
        msgs = [m for m in c.stream_all(stream) if m[0].startswith(f"dadar.{instance}.")]
    finally:
        c.close()
    ids = [h.get("Nats-Msg-Id") for _s, h, _d in msgs]
    check(len(set(ids)) == len(ids), f"{len(ids) - len(set(ids))} duplicate message ids")
    got = [json.loads(d) for _s, _h, d in msgs]
    check(len(got) == len(lines), f"JetStream holds {len(got)} outputs of {instance}, the output file {len(lines)}")
    for i, (g, ln, m) in enumerate(zip(got, lines, msgs)):
        check(g == ln, f"message {i + 1} is {g}, the line {ln}")
        check(m[0] == f"dadar.{instance}.{ln['type']}", f"message {i + 1} on subject {m[0]}")
    return len(got)


@test
def test_F_jetstream_gets_every_output_once_in_order():
    srv = nats_server("f")
    try:
        j, out, summ = path("f.j"), path("f.jsonl"), path("f.summary.json")
        cmd, name = dadar_cmd([itch_pcap(), pay_pcap()], None,
                              ["--journal", j, "--output", out, "--summary", summ, "--exit-on-idle", 300,
                               "--nats", srv.url(), "--nats-stream", "DADARTEST"])
        r = run(cmd)
        check(r.returncode == 0, f"dadar exited {r.returncode}: {r.stderr[-800:]}")
        lines = read_lines(out)
        n = check_jetstream(srv, "DADARTEST", name, lines)
        with open(summ) as f:
            s = json.load(f)["nats"]
        check(s["published"] == n and s["acked_seq"] == n and s["backlog"] == 0 and s["lost"] == 0, f"summary {s}")
        return f"{n} outputs"
    finally:
        srv.kill()


def acked(j):
    """The output number the bridge says the broker acknowledged (0 before it said anything)."""
    try:
        with open(os.path.join(j, "nats")) as f:
            return int(f.read().split()[3])
    except (OSError, IndexError, ValueError):
        return 0


@test
def test_G_jetstream_exactly_once_in_order_across_broker_restarts_and_kill_9_of_dadar():
    day = path("g.pcap")
    gen("synth", day, "--messages", 300000, "--seed", 3)
    srv = nats_server("g")
    # the day reaches dadar through a named pipe, a part at a time, and its last frame only after the
    # kill (the restart reads the capture itself): the broker's restarts and the kill land mid-stream
    # however fast the machine, with outputs dadar has not yet sent
    feed = pcaplib.FifoFeed(day, path("g.fifo"))
    try:
        j, out = path("g.j"), path("g.jsonl")
        opts = ["--journal", j, "--output", out, "--exit-on-idle", 400, "--nats", srv.url(),
                "--set", "nats.drain_ms=120000", "--capacity-orders", 65536, "--capacity-levels", 16384]
        cmd, name = dadar_cmd([feed.path], None, opts)
        p = start(cmd, stdout=open(path("g1.stdout"), "w"), stderr=open(path("g1.stderr"), "w"))
        last = len(feed.recs) - 1  # never sent to this run

        released = pcaplib.LineWatch(out)

        def reach(at, what):
            """Feed the day until the bridge says the broker acknowledged `at` outputs: frames only
            while dadar has released fewer than `at` outputs and a few batches, so what is left for
            the restart does not depend on how long the bridge takes to catch up."""
            ok, deadline = feed.send(p, 0), time.monotonic() + 120
            while ok and acked(j) < at:
                if p.poll() is not None or time.monotonic() > deadline:
                    ok = False
                elif released.poll() < at + 1024 and feed.sent < last:
                    ok = feed.send(p, min(last, feed.sent + 50))
                else:
                    time.sleep(0.005)
            if not ok:
                with open(path("g1.stderr")) as f:
                    err = f.read()[-1500:]
                check(False, f"the bridge did not reach {at} acknowledged outputs ({acked(j)}, {what}; "
                      f"{feed.sent} of {len(feed.recs)} frames sent; dadar "
                      f"{'exited ' + str(p.returncode) if p.poll() is not None else 'runs'}): {err}")

        # the broker goes away with outputs in flight, at a different place in a batch (256) each
        # time, and the later times while the bridge catches up on what piled up meanwhile
        for k in range(8):
            reach(5000 + 1337 * k, f"restart {k + 1}")  # the broker has some of the outputs ...
            srv.kill()                                   # ... then goes away mid-stream ...
            feed.send(p, min(last, feed.sent + 400))     # ... while more come in ...
            time.sleep(0.2 + 0.1 * (k % 4))
            srv.start()                                  # ... and comes back on the same store
        reach(5000 + 1337 * 8, "after the last restart")
        check(p.poll() is None, f"dadar ended before the kill: {p.returncode}")
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        feed.close()
        acked_at_kill = acked(j)
        # the restart: same journal, the whole capture from its file (recovery resumes the feed
        # after the journal)
        cmd2 = [a.replace(f"rx_pcap={feed.path}", f"rx_pcap={day}") for a in cmd]
        r = run(cmd2, timeout=300)
        check(r.returncode == 0, f"the restart exited {r.returncode}: {r.stderr[-800:]}")
        lines = read_lines(out)
        lsns = [x["lsn"] for x in lines]
        check(lsns == sorted(set(lsns)), "the output file repeats or reorders an LSN")
        n = check_jetstream(srv, "DADAR", name, lines)
        check(acked_at_kill < n, f"the broker had all {n} outputs before the kill: nothing was tested mid-stream")
        return (f"{n} outputs exactly once, in order (8 broker restarts; {acked_at_kill} acknowledged when dadar "
                f"was killed, {feed.sent} of {len(feed.recs)} frames sent to it)")
    finally:
        feed.close()
        srv.kill()


@test
def test_L_jetstream_with_no_broker_a_clean_stop_ends_after_drain_ms():
    out, summ = path("l.jsonl"), path("l.summary.json")
    url = f"nats://127.0.0.1:{natslib.free_port()}"  # nothing listens there
    cmd, _name = dadar_cmd([itch_pcap()], None, ["--exit-on-idle", 300, "--output", out, "--summary", summ,
                                                 "--nats", url, "--set", "nats.drain_ms=1000"])
    t0 = time.monotonic()
    r = run(cmd, timeout=60)
    took = time.monotonic() - t0
    check(r.returncode == 0, f"dadar exited {r.returncode}: {r.stderr[-800:]}")
    n = len(read_lines(out))
    with open(summ) as f:
        s = json.load(f)["nats"]
    check(n > 0 and s["published"] == 0 and s["acked_seq"] == 0 and s["backlog"] == n and s["errors"] >= 1
          and s["last_error"].startswith(f"cannot connect to {url}"), f"summary {s} ({n} outputs)")
    return f"ended in {took:.1f} s, {n} outputs in the backlog: {s['last_error']}"


@test
def test_H_bad_output_udp_values_and_a_missing_port_stop_the_start():
    for bad, want in (("239.1.2.3:26490", "GROUP:PORT@PORTID"), ("239.1.2.3:0@1", "GROUP:PORT@PORTID"),
                      ("nonsense", "GROUP:PORT@PORTID"), ("239.1.2.3:26490@7", "does not exist")):
        cmd, _ = dadar_cmd([itch_pcap()], None, ["--output-udp", bad, "--exit-on-idle", 100])
        r = run(cmd)
        check(r.returncode != 0 and want in r.stderr, f"--output-udp {bad}: exit {r.returncode}, {r.stderr[-300:]}")
    cmd, _ = dadar_cmd([itch_pcap()], path("h.tx.pcap"), ["--set", "output_udp.session=short", "--exit-on-idle", 100])
    r = run(cmd)
    check(r.returncode != 0 and "10 characters" in r.stderr, f"session 'short': {r.returncode} {r.stderr[-300:]}")


@test
def test_I_a_commit_releasing_thousands_of_outputs_at_once_drops_nothing():
    day = path("i.pcap")
    gen("synth", day, "--messages", 300000, "--seed", 5)
    tx, j, summ = path("i.tx.pcap"), path("i.j"), path("i.summary.json")
    # no --output: nothing else bounds how many outputs one commit releases in a loop
    dadar([day], tx, ["--journal", j, "--summary", summ, "--exit-on-idle", 400,
                      "--set", "journal.commit_us=20000", "--set", "journal.commit_bytes=16777216",
                      "--set", "output_udp.heartbeat_ms=100",
                      "--capacity-orders", 65536, "--capacity-levels", 16384], timeout=300)
    with open(summ) as f:
        r = json.load(f)
    s, jr = r["output_udp"], r["journal"]
    per_commit = jr["released"] / max(1, jr["commits"])
    check(per_commit > 14 * 256, f"{per_commit:.0f} outputs a commit: too few to fill the sender's queue")
    check(s["tx_dropped"] == 0 and s["ended"], f"{s['tx_dropped']} datagrams dropped ({s})")
    msgs = data_messages(stream_of(tx), s["session"])
    check(len(msgs) == s["messages"] == jr["released"], f"{len(msgs)} messages on the stream, "
          f"{s['messages']} sent, {jr['released']} released")
    lsns = [m["lsn"] for m in msgs]
    check(lsns == sorted(set(lsns)), "the stream repeats or reorders an LSN")
    # frames sent in the middle of a release count as sent: the first heartbeat waits its 100 ms
    dgs, times = stream_of(tx), [t for t, _f in pcaplib.read_pcap(tx)]
    gaps = [(times[i] - times[i - 1]) / 1e6 for i, d in enumerate(dgs) if d[2] == 0 and i > 0]
    check(gaps and min(gaps) >= 90, f"heartbeats {gaps[:5]} ms after the datagram before them (heartbeat_ms 100)")
    return (f"{len(msgs)} outputs in {s['datagrams']} datagrams, {jr['commits']} commits "
            f"({per_commit:.0f} outputs released a commit on average), none dropped")


@test
def test_J_a_session_ended_by_a_clean_stop_is_answered_after_the_next_start():
    first, rest = split_pcap(itch_pcap(), 150)
    j, out = path("j.j"), path("j.jsonl")
    dadar([first], path("j.tx1.pcap"), ["--journal", j, "--output", out, "--exit-on-idle", 300])
    st1 = stream_state(j)
    n1 = len(read_lines(out))
    check(st1["ended"] == 1 and n1 > 0, f"after the clean stop: {st1}, {n1} outputs")
    time.sleep(1.1)  # sessions are named by the second
    port = free_udp_port()
    summ = path("j.summary.json")
    cmd, _ = dadar_cmd([rest], path("j.tx2.pcap"), ["--journal", j, "--output", out, "--summary", summ], request=port)
    p = start(cmd, stdout=open(path("j.stdout"), "w"), stderr=open(path("j.stderr"), "w"))
    total = len(expected_lines(None))
    wait_lines(out, total, p)
    with open(os.path.join(j, "sessions")) as f:
        sess = f.read()
    check(sess == f"session {st1['session']} base 0 count {n1}\n", f"<journal>/sessions says {sess!r}")
    c = Consumer(("127.0.0.1", port))
    c.session = st1["session"]
    got = 0
    for a in range(1, n1 + 1, 100):
        c.ask(a, min(100, n1 - a + 1))
    c.answers(0.5)
    got = len(c.have)
    c.s.sendto(outstream.request(st1["session"], n1 + 1, 1), ("127.0.0.1", port))
    c.s.sendto(outstream.request("NEVERUSED1", 1, 1), ("127.0.0.1", port))
    c.answers(0.5)
    p.send_signal(signal.SIGINT)
    check(p.wait(timeout=60) == 0, f"dadar exited {p.returncode}: {open(path('j.stderr')).read()[-600:]}")
    lines = read_lines(out)
    check(got == n1 == len(c.have), f"{got} of the ended session's {n1} messages came back")
    same_as_lines([c.have[n] for n in range(1, n1 + 1)], lines[:n1], "the ended session, by request")
    with open(summ) as f:
        r = json.load(f)["output_udp"]["requests"]
    check(r["past_sessions"] >= 1 and r["bad_session"] == 1 and r["bad_range"] == 1 and r["from_journal"] >= n1,
          f"requests {r}")
    return f"session {st1['session']}: {n1} messages answered from the journal after the next start"


@test
def test_K_the_stream_looped_back_into_dadar_is_never_input():
    day = path("k.pcap")
    gen("synth", day, "--messages", 100000, "--seed", 9)
    ref, summ = path("k.ref.jsonl"), path("k.summary.json")
    dadar([day], None, ["--output", ref, "--exit-on-idle", 300, "--capacity-orders", 65536])
    out = path("k.jsonl")
    cmd, _ = dadar_cmd([day], None, ["--output", out, "--summary", summ, "--exit-on-idle", 300,
                                     "--capacity-orders", 65536, "--output-udp", f"{GROUP}:{PORT}@1"])
    cmd.insert(cmd.index("--"), "--vdev")
    cmd.insert(cmd.index("--"), "net_ring0")
    r = run(cmd)
    check(r.returncode == 0, f"dadar exited {r.returncode}: {r.stderr[-600:]}")
    with open(summ) as f:
        s = json.load(f)
    o, errs = s["output_udp"], s["errors"]
    check(s["itch"]["total"] == 100000, f"{s['itch']['total']} ITCH messages decoded of 100000; errors {errs}")
    check(set(errs) == {"own_output"} and o["datagrams"] - 1 <= errs["own_output"] <= o["datagrams"],
          f"errors {errs}, {o['datagrams']} datagrams sent")
    strip = [{k: v for k, v in x.items() if k not in ("lsn", "cause")} for x in read_lines(out)]
    check(strip == [{k: v for k, v in x.items() if k not in ("lsn", "cause")} for x in read_lines(ref)],
          "the outputs differ from the same day without the stream")
    return f"{errs['own_output']} of {o['datagrams']} datagrams came back and were counted own_output"


def need_binaries():
    for exe in (DADAR, GEN):
        if not os.access(exe, os.X_OK):
            raise Skip(f"{exe} is not built")


def main(argv):
    return itlib.main("stream_test", TESTS, argv, need_binaries, TAG, BUILD)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
