"""dadar-tail, the output stream's consumer (issue 8), against the real dadar: captures of its stream
(net_pcap tx_pcap=), its live request server, and a real nats-server. The expected outputs are dadar's
own --output JSON lines (an independent path: the journal lcore's JSON writer, not the stream);
the datagram arithmetic (which messages a dropped datagram held) comes from
tests/integration/outstream.py, written from docs/wire-formats.md.

Tests (each prints PASS/FAIL/SKIP and its name):
  A  --pcap of an ITCH + payment day's stream prints exactly the bytes of the --output file; the
     planted market day with --rules prints its alerts, matched records and windows with their names
     as dadar does; --format table prints one row per output with its sequence number, LSN and type,
     and a matched row its pattern, part and each record as the JSON line lists them.
  B  --pcap --drop-every 10 (no requests in a capture): exit 3, lost = the messages the dropped
     datagrams held, every other output printed in order; the same capture with every datagram
     twice: nothing printed twice, duplicates counted, exit 0.
  C  live: dadar killed (-9) mid-day and restarted on the same journal; the restart's stream relayed
     to a dadar-tail --group socket with --drop-every 10 --from 1 --request: it asks dadar's request
     server for everything before the restart (from the journal) and every 10th datagram, prints
     every output exactly once, equal to the --output file, and stops by itself at the end of
     session (exit 0).
  D  --nats against a real nats-server -js: dadar-tail prints what dadar published, equal to the
     --output file; a stream that does not exist is exit 1 with a message.
  D2 --nats over a stream holding outputs out of order (published by hand with the bridge's ids):
     the late ones are printed when they come and counted late, not lost; one that never comes is.
  E  bad input: a bad command line is exit 2 with a message; a missing or non-pcap file exit 1;
     datagrams cut short or with a wrong count are dropped whole and counted by reason.

Exit 0 all passed, 1 a failure, 77 (skip, loudly) if a binary is missing or DPDK cannot start here.
usage: tests/integration/tail_test.py [SUBSTRING...]   (env B = build dir, default build)
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import itlib  # noqa: E402
import natslib  # noqa: E402
import outstream  # noqa: E402
import pcaplib  # noqa: E402
import stream_test as st  # noqa: E402  (its dadar command lines, captures and checks)
from itlib import Skip, path, run, start  # noqa: E402

TAIL = os.path.join(st.BUILD, "dadar-tail")
TAG = "it8t"
TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def tail(*args, timeout=120):
    return run([TAIL] + [str(a) for a in args], timeout=timeout)


def summary_of(stderr):
    """The key=value pairs of dadar-tail's last summary line."""
    line = [x for x in stderr.splitlines() if "messages=" in x][-1]
    return {k: v for k, v in re.findall(r"(\w+)=(\S+)", line)}


def raw_datagrams(tx):
    """Every UDP payload of the stream in the capture, in order."""
    out = []
    for _t, f in pcaplib.read_pcap(tx):
        u = outstream.udp_ports(f)
        check(u is not None and u[1] == st.PORT, "a frame of the stream that is not UDP to the stream's port")
        out.append(u[2])
    return out


def tod(ns):
    """A time as dadar-tail's table shows it: a time of day to the millisecond, else the integer."""
    if ns >= 86_400_000_000_000:
        return str(ns)
    ms = ns // 1_000_000
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def ref_text(x):
    """A matched record of a JSON line as dadar-tail's table shows it: feed:seq or window@end[late]."""
    if "window" in x:
        return f"{x['window']}@{tod(x['end'])}" + ("[late]" if x["late"] else "")
    return f"{x['feed']}:{x['seq']}"


def day_run():
    """An ITCH + payment day through dadar, its stream captured: (tx pcap, output file)."""
    def make():
        tx, out = path("day.tx.pcap"), path("day.jsonl")
        st.dadar([st.itch_pcap(), st.pay_pcap()], tx, ["--exit-on-idle", 300, "--output", out])
        return tx, out
    return st.cached("tail-day", make)


@test
def test_A_pcap_prints_the_output_file_byte_for_byte_json_and_table():
    tx, out = day_run()
    r = tail("--pcap", tx)
    check(r.returncode == 0, f"dadar-tail exited {r.returncode}: {r.stderr[-600:]}")
    with open(out) as f:
        want = f.read()
    check(r.stdout == want, f"stdout ({len(r.stdout.splitlines())} lines) differs from the --output file "
          f"({len(want.splitlines())} lines)")
    s = summary_of(r.stderr)
    n = len(want.splitlines())
    check(s["messages"] == str(n) and s["lost"] == "0" and s["end_of_session"] == "yes" and s["gaps"] == "0",
          f"summary {s}")
    # the planted day, alerts and windows named by the rule set given to both
    day, pout, ptx = st.planted(), path("p.jsonl"), path("p.tx.pcap")
    st.dadar([day], ptx, ["--exit-on-idle", 300, "--output", pout, "--rules", st.MARKET_RULES])
    r = tail("--pcap", ptx, "--rules", st.MARKET_RULES)
    check(r.returncode == 0, f"dadar-tail (planted) exited {r.returncode}: {r.stderr[-600:]}")
    with open(pout) as f:
        pwant = f.read()
    check(r.stdout == pwant, "planted day: stdout differs from the --output file")
    types = {json.loads(x)["type"] for x in pwant.splitlines()}
    check({"alert", "matched", "window"} <= types, f"the planted day has no alerts, matched or windows: {types}")
    # a table: a header, then one row per output: seq, lsn, type
    r = tail("--pcap", tx, "--format", "table")
    check(r.returncode == 0, f"--format table exited {r.returncode}: {r.stderr[-600:]}")
    rows = r.stdout.splitlines()
    lines = [json.loads(x) for x in want.splitlines()]
    check(len(rows) == n + 1, f"table: {len(rows)} rows for {n} outputs (+ header)")
    for i, (row, ln) in enumerate(zip(rows[1:], lines)):
        f = row.split()
        check(f[0] == str(i + 1) and f[1] == str(ln["lsn"]) and f[2] == ln["type"],
              f"table row {i + 1} is {row!r}, its line {ln}")
    # the planted day's table: a matched row lists its records as its JSON line does
    r = tail("--pcap", ptx, "--format", "table", "--rules", st.MARKET_RULES)
    check(r.returncode == 0, f"--format table (planted) exited {r.returncode}: {r.stderr[-600:]}")
    rows = r.stdout.splitlines()[1:]
    plines = [json.loads(x) for x in pwant.splitlines()]
    check(len(rows) == len(plines), f"planted table: {len(rows)} rows for {len(plines)} outputs")
    nm = 0
    for i, (row, ln) in enumerate(zip(rows, plines)):
        f = row.split()
        check(f[1] == str(ln["lsn"]) and f[2] == ln["type"], f"planted table row {i + 1} is {row!r}, its line {ln}")
        if ln["type"] == "matched":
            want = [ln["symbol"], ln["pattern"], "part", f"{ln['part'] + 1}/{ln['parts']}"] + \
                [ref_text(x) for x in ln["matched"]]
            check(f[3:] == want, f"planted table row {i + 1} is {row!r}, expected {' '.join(want)} ({ln})")
            nm += 1
    return f"{n} outputs; planted day {len(pwant.splitlines())} outputs with {sorted(types)}, {nm} matched rows"


@test
def test_B_pcap_drop_every_10_loses_exactly_the_dropped_messages_duplicates_are_not_printed():
    tx, out = day_run()
    dgs = raw_datagrams(tx)
    lines = st.read_lines(out)
    dropped = set()
    for i, p in enumerate(dgs):
        if (i + 1) % 10 == 0:
            _s, seq, count, _m = outstream.decode_datagram(p)
            if count not in (0, outstream.MOLD_EOS):
                dropped.update(range(seq, seq + count))
    check(dropped, "nothing to drop: the capture is too small")
    r = tail("--pcap", tx, "--drop-every", 10)
    check(r.returncode == 3, f"dadar-tail exited {r.returncode}, expected 3 (lost): {r.stderr[-600:]}")
    s = summary_of(r.stderr)
    check(s["lost"] == str(len(dropped)) and s["dropped"] == str(len(dgs) // 10),
          f"summary {s}: expected lost={len(dropped)} dropped={len(dgs) // 10}")
    got = [json.loads(x) for x in r.stdout.splitlines()]
    want = [ln for i, ln in enumerate(lines) if i + 1 not in dropped]
    check(got == want, f"{len(got)} outputs printed, expected the {len(want)} not dropped, in order")
    # every datagram twice
    frames = [f for _t, f in pcaplib.read_pcap(tx)]
    twice = path("twice.pcap")
    pcaplib.write_pcap(twice, [f for f in frames for _ in (0, 1)])
    r = tail("--pcap", twice)
    check(r.returncode == 0, f"every datagram twice: exit {r.returncode}: {r.stderr[-600:]}")
    s = summary_of(r.stderr)
    with open(out) as f:
        check(r.stdout == f.read(), "every datagram twice: stdout differs from the --output file")
    check(s["duplicates"] == str(len(lines)), f"every datagram twice: duplicates={s['duplicates']}, "
          f"expected {len(lines)}")
    return f"{len(dropped)} of {len(lines)} outputs lost with every 10th of {len(dgs)} datagrams dropped"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def count_lines(p):
    try:
        with open(p, "rb") as f:
            return f.read().count(b"\n")
    except OSError:
        return 0


@test
def test_C_live_socket_recovers_everything_by_request_after_kill_9_and_restart():
    first, rest = st.split_pcap(st.itch_pcap(), 150)
    j, out = path("c.j"), path("c.jsonl")
    req = free_port()
    cmd, _ = st.dadar_cmd([first], path("c.tx1.pcap"), ["--journal", j, "--output", out], request=req)
    p = start(cmd, stdout=open(path("c1.stdout"), "w"), stderr=open(path("c1.stderr"), "w"))
    st.wait_lines(out, 1, p)
    time.sleep(0.5)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    n1 = len(st.read_lines(out))
    tx = path("c.tx2.pcap")
    cmd, _ = st.dadar_cmd([rest], tx, ["--journal", j, "--output", out], request=req)
    p = start(cmd, stdout=open(path("c2.stdout"), "w"), stderr=open(path("c2.stderr"), "w"))
    total = len(st.expected_lines(None))
    st.wait_lines(out, total, p)
    time.sleep(0.5)
    # dadar-tail on a unicast socket; the restart's stream relayed to it (its every 10th dropped)
    port = free_port()
    tout, terr = path("c.tail.jsonl"), path("c.tail.stderr")
    t = start([TAIL, "--group", f"127.0.0.1:{port}", "--request", f"127.0.0.1:{req}", "--from", "1",
               "--drop-every", "10", "--request-timeout-ms", "200"], stdout=open(tout, "w"), stderr=open(terr, "w"))
    time.sleep(0.3)
    relay = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = raw_datagrams(tx)
    check(sent and outstream.decode_datagram(sent[0])[1] == n1 + 1,
          f"the restart's stream does not start at {n1 + 1}")

    def forward(dgs):
        for i, d in enumerate(dgs):
            relay.sendto(d, ("127.0.0.1", port))
            if i % 32 == 31:
                time.sleep(0.001)

    forward(sent)
    # the network goes on carrying the stream: dadar's heartbeats (every second while idle) show a
    # consumer that lost the last datagram what it misses
    t0 = time.monotonic()
    while count_lines(tout) < total:
        check(t.poll() is None, f"dadar-tail exited {t.returncode}: {open(terr).read()[-600:]}")
        check(time.monotonic() - t0 < 30, f"dadar-tail printed {count_lines(tout)} of {total} outputs in 30 s: "
              f"{open(terr).read()[-600:]}")
        time.sleep(0.1)
        now = raw_datagrams(tx)
        forward(now[len(sent):])
        sent = now
    # a clean stop ends the session: relay the end of session, and dadar-tail stops by itself
    p.send_signal(signal.SIGINT)
    check(p.wait(timeout=60) == 0, f"dadar exited {p.returncode}: {open(path('c2.stderr')).read()[-600:]}")
    after = raw_datagrams(tx)[len(sent):]
    check(after and outstream.decode_datagram(after[-1])[2] == outstream.MOLD_EOS, "no end of session at the stop")
    for d in after:
        relay.sendto(d, ("127.0.0.1", port))
    try:
        rc = t.wait(timeout=10)
    except subprocess.TimeoutExpired:
        raise AssertionError("dadar-tail did not stop at the end of session") from None
    err = open(terr).read()
    check(rc == 0, f"dadar-tail exited {rc}: {err[-600:]}")
    with open(tout) as f, open(out) as g:
        check(f.read() == g.read(), "dadar-tail's outputs differ from the --output file")
    s = summary_of(err)
    check(s["lost"] == "0" and s["end_of_session"] == "yes" and int(s["recovered"]) >= n1 and
          int(s["requests"]) >= 2 and int(s["dropped"]) == len(sent) // 10, f"summary {s}")
    return (f"{total} outputs: {n1} before the restart and {s['dropped']} dropped datagrams' worth by "
            f"{s['requests']} requests (recovered={s['recovered']})")


@test
def test_D_nats_prints_what_dadar_published():
    srv = st.nats_server("tail")
    try:
        out = path("d.jsonl")
        cmd, name = st.dadar_cmd([st.itch_pcap(), st.pay_pcap()], None,
                                 ["--output", out, "--exit-on-idle", 300, "--nats", srv.url(),
                                  "--nats-stream", "TAILTEST"])
        r = run(cmd)
        check(r.returncode == 0, f"dadar exited {r.returncode}: {r.stderr[-800:]}")
        r = tail("--nats", srv.url(), "--nats-stream", "TAILTEST", "--instance", name, "--idle-exit", 1500)
        check(r.returncode == 0, f"dadar-tail --nats exited {r.returncode}: {r.stderr[-600:]}")
        with open(out) as f:
            want = f.read()
        check(r.stdout == want, f"--nats printed {len(r.stdout.splitlines())} lines, the --output file has "
              f"{len(want.splitlines())}, or they differ")
        s = summary_of(r.stderr)
        check(s["duplicates"] == "0" and s["lost"] == "0" and s["first"] == "1", f"summary {s}")
        n = len(want.splitlines())
        # stopping at --count while the consumer still delivers: 20 times (libnats' reader thread once
        # crashed into a freed subscription about one time in ten)
        for _ in range(20):
            r = tail("--nats", srv.url(), "--nats-stream", "TAILTEST", "--instance", name, "--count", 10)
            check(r.returncode == 0 and r.stdout.splitlines() == want.splitlines()[:10],
                  f"--count 10: exit {r.returncode}")
        r = tail("--nats", srv.url(), "--nats-stream", "NOSUCH", "--idle-exit", 500)
        check(r.returncode == 1 and "NOSUCH" in r.stderr, f"a missing stream: exit {r.returncode}, {r.stderr[-300:]}")
        return f"{n} outputs"
    finally:
        srv.kill()


@test
def test_D2_nats_an_output_stored_after_later_ones_is_printed_late_not_lost():
    """The one order the bridge cannot keep (docs/outputs.md): the broker refused an output while it took
    later ones of its batch, and took it after them. Published here by hand, with the bridge's ids."""
    srv = st.nats_server("late")
    try:
        c = natslib.Nats(srv.port)
        r = json.loads(c.request("$JS.API.STREAM.CREATE.LATE", json.dumps(
            {"name": "LATE", "subjects": ["dadar.late.>"], "storage": "memory"}).encode()))
        check("error" not in r, f"stream create: {r}")
        order = [1, 2, 4, 5, 3, 6, 9, 7]  # 3 and 7 come late, 8 never
        for n in order:
            a = c.publish("dadar.late.bbo", f'{{"lsn":{n}}}'.encode(), {"Nats-Msg-Id": f"77:{n}"})
            check("error" not in a and not a.get("duplicate"), f"publish {n}: {a}")
        c.close()
        r = tail("--nats", srv.url(), "--nats-stream", "LATE", "--instance", "late", "--idle-exit", 800)
        got = [json.loads(x)["lsn"] for x in r.stdout.splitlines()]
        s = summary_of(r.stderr)
        check(got == [1, 2, 4, 5, 3, 6, 9, 7], f"printed {got}")
        check(s["late"] == "2" and s["lost"] == "1" and s["gaps"] == "2" and s["duplicates"] == "0",
              f"summary {s}")
        check(r.returncode == 3, f"an output that never came: exit {r.returncode}, expected 3")
        return f"printed {got}; late 2 (3 and 7), lost 1 (8)"
    finally:
        srv.kill()


@test
def test_E_bad_command_lines_files_and_datagrams():
    for args, want in ((["--pcap"], "--pcap"), ([], "--group"), (["--pcap", "x", "--group", "1.2.3.4:5"], "one"),
                       (["--pcap", "x", "--format", "xml"], "json or table"),
                       (["--pcap", "x", "--request", "1.2.3.4:5"], "--group only"),
                       (["--group", "nonsense"], "GROUP:PORT"), (["--pcap", "x", "--hold", "0"], "--hold"),
                       (["--nats", "nats://x:1", "--format", "table"], "--format"),
                       (["--pcap", "x", "--rules", "/nonexistent.rules"], "nonexistent")):
        r = tail(*args)
        check(r.returncode == 2 and r.stderr.strip(), f"dadar-tail {' '.join(args)}: exit {r.returncode}, "
              f"expected 2 with a message: {r.stderr[-300:]}")
        check(want.lower() in r.stderr.lower(), f"dadar-tail {' '.join(args)}: the message does not say "
              f"{want!r}: {r.stderr.strip()[-300:]}")
    r = tail("--pcap", path("missing.pcap"))
    check(r.returncode == 1 and "missing.pcap" in r.stderr, f"a missing file: {r.returncode} {r.stderr[-300:]}")
    ng = path("x.pcapng")
    with open(ng, "wb") as f:
        f.write(b"\x0a\x0d\x0d\x0a" + bytes(28))
    r = tail("--pcap", ng)
    check(r.returncode == 1 and "pcapng" in r.stderr, f"a pcapng file: {r.returncode} {r.stderr[-300:]}")
    # datagrams that do not add up, made by hand: cut short, a count that is not the messages',
    # bytes after the last message; then the good ones
    msgs = _messages(3)
    good = [outstream.datagram("BADTEST001", i + 1, [m]) for i, m in enumerate(msgs)]
    bad = [good[0][:15], _recount(good[0], 2), good[0] + b"\x00", good[0][:-3]]
    cap = path("bad.pcap")
    outstream.write_pcap(cap, [outstream.frame(p) for p in bad + good])
    r = tail("--pcap", cap)
    s = summary_of(r.stderr)
    check(r.returncode == 0 and s["messages"] == "3", f"bad datagrams: exit {r.returncode}, {s}")
    m = re.search(r"bad_datagrams=(\d+) \(([^)]*)\)", r.stderr)
    reasons = dict(x.split("=") for x in m.group(2).split())
    check(m.group(1) == "4" and reasons["short"] == "1" and reasons["count_mismatch"] == "1" and
          reasons["trailing"] == "1" and reasons["msg_overrun"] == "1", f"bad datagrams counted {m.group(0)}")
    return "exit 2 for 9 bad command lines; 4 bad datagrams counted by reason"


def _messages(n):
    """n hand-made bbo output messages (docs/wire-formats.md) numbered in their LSN."""
    return [outstream.encode({"type": "B", "lsn": 100 + i, "cause": 99 + i, "event_ns": 1000 + i, "op": 1,
                              "seq": i + 1, "body": {"bid_price": 1000000, "bid_shares": 100, "bid_orders": 1,
                                                     "locate": 7}}) for i in range(n)]


def _recount(p, count):
    return p[:18] + count.to_bytes(2, "big") + p[20:]


def need_binaries():
    for exe in (st.DADAR, st.GEN, TAIL):
        if not os.access(exe, os.X_OK):
            raise Skip(f"{exe} is not built")


def main(argv):
    return itlib.main("tail_test", TESTS, argv, need_binaries, TAG, st.BUILD)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
