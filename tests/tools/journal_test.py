#!/usr/bin/env python3
"""Integration test of dadar-journal: verify, truncate, dump, stats and replay on journals written
here in Python, independently of dadar's C code.

The journal format (dataplane/journal/jfile.h), the canonical event (ops/event.h, docs/wire-formats.md) and
the top-of-book output (ops/output.h) are written from their documentation with Python's struct and a
CRC32C of our own. The input is a seeded synthetic ITCH 5.0 day from `dadar-gen synth --itch-out`;
each message becomes an event exactly as dataplane/wire/itch.c maps it, and the outputs are derived by a
small order book here that emits the best bid and offer whenever an event touches the best level of
a side (what dadar's book does). Replay's --book-dump is compared with tests/integration/itchbook.py
and its --summary book counters with tests/integration/bookmodel.py, both independent of dadar.

usage: journal_test.py        (from anywhere; B = build directory, default build/ under the repository)

Builds nothing: needs $B/dadar-journal and $B/dadar-gen. Prints PASS/FAIL per check; exits 0 if
every check passed, 1 if any failed, 77 (loudly) if something it needs is missing. Its scratch files
go to a temporary directory, removed at the end (kept, and named, when a check failed).
"""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = os.environ.get("B", "build")
BUILD = BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD)
TOOL = os.path.join(BUILD, "dadar-journal")
GEN = os.path.join(BUILD, "dadar-gen")
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

results = {"pass": 0, "fail": 0}

# ---- CRC32C (Castagnoli, reflected, init and final xor 0xffffffff) ---------------------------------

_CRC_TABLE = []
for _b in range(256):
    _c = _b
    for _ in range(8):
        _c = (_c >> 1) ^ (0x82F63B78 if _c & 1 else 0)
    _CRC_TABLE.append(_c)


def crc32c(data, crc=0):
    c = crc ^ 0xFFFFFFFF
    t = _CRC_TABLE
    for b in data:
        c = (c >> 8) ^ t[(c ^ b) & 0xFF]
    return c ^ 0xFFFFFFFF


# ---- the journal format ----------------------------------------------------------------------------

PAGE = 4096
MAGIC = 0x4C4E4A5241444144  # "DADARJNL"
REC_EVENT, REC_OUTPUT, REC_FEEDPOS, REC_PAD = 1, 2, 3, 4
SEG_HDR = struct.Struct("<QHHIQQQQQ32sIIII24s")  # 128 bytes
REC_HDR = struct.Struct("<IHHQII")  # len, type, source, lsn, crc, partition: 24 bytes
EVENT = struct.Struct("<BBBBIQQQ32s")  # 64 bytes
OUTPUT = struct.Struct("<BBHIQQIIQQIIQ")  # 64 bytes
FEEDPOS = struct.Struct("<10sB5xQ")  # 24 bytes
assert SEG_HDR.size == 128 and REC_HDR.size == 24 and EVENT.size == 64 and OUTPUT.size == 64 and FEEDPOS.size == 24


def shard_of(key, nshards):
    return 0 if nshards <= 1 else ((key * 0x9E3779B1) & 0xFFFFFFFF) % nshards


class Journal:
    """Segments of `seg_size` bytes, zero-filled, a header at 0, records from 4096, PAD on rotation."""

    def __init__(self, d, seg_size=64 * 1024, nshards=1, nfeeds=1, tsc_hz=2_500_000_000):
        os.makedirs(d, exist_ok=True)
        self.dir, self.seg_size, self.nshards, self.nfeeds, self.tsc_hz = d, seg_size, nshards, nfeeds, tsc_hz
        self.f, self.off, self.lsn, self.index = None, 0, 1, 0
        self.segments = []
        self.where = {}  # LSN -> (path, offset, len, type)
        self.count = {REC_EVENT: 0, REC_OUTPUT: 0, REC_FEEDPOS: 0, REC_PAD: 0}
        self.bytes = 0

    def _segment(self):
        if self.f:
            self.f.close()
        path = os.path.join(self.dir, f"seg-{self.lsn:020d}.ddj")
        self.f = open(path, "w+b")
        self.f.truncate(self.seg_size)
        hdr = SEG_HDR.pack(MAGIC, 1, 0, PAGE, self.seg_size, self.lsn, self.index, 1_700_000_000_000_000_000,
                           self.tsc_hz, b"jtest", 0, 0, self.nshards, self.nfeeds, b"")
        crc = crc32c(hdr)
        hdr = hdr[:88] + struct.pack("<I", crc) + hdr[92:]
        self.f.seek(0)
        self.f.write(hdr)
        self.index += 1
        self.off = PAGE
        self.segments.append(path)

    def _rotate(self):
        left = self.seg_size - self.off
        if left >= 24:
            h = REC_HDR.pack(left, REC_PAD, 0, self.lsn, 0, 0)
            crc = crc32c(bytes(left - 24), crc32c(h))
            self.f.seek(self.off)
            self.f.write(REC_HDR.pack(left, REC_PAD, 0, self.lsn, crc, 0))
            self.where[self.lsn] = (self.segments[-1], self.off, left, REC_PAD)
            self.count[REC_PAD] += 1
            self.bytes += left
            self.lsn += 1
        self._segment()

    def put(self, rtype, source, partition, payload):
        n = (24 + len(payload) + 7) & ~7
        if self.f is None:
            self._segment()
        if self.off + n > self.seg_size:
            self._rotate()
        body = payload + bytes(n - 24 - len(payload))
        crc = crc32c(body, crc32c(REC_HDR.pack(n, rtype, source, self.lsn, 0, partition)))
        self.f.seek(self.off)
        self.f.write(REC_HDR.pack(n, rtype, source, self.lsn, crc, partition) + body)
        self.where[self.lsn] = (self.segments[-1], self.off, n, rtype)
        self.count[rtype] += 1
        self.bytes += n
        self.off += n
        self.lsn += 1
        return self.lsn - 1

    def close(self):
        if self.f:
            self.f.close()
            self.f = None


# ---- ITCH messages to canonical events, as dataplane/wire/itch.c maps them -----------------------------

EV_TYPE = {b"S": 1, b"R": 2, b"H": 3, b"A": 4, b"F": 4, b"E": 5, b"C": 6, b"X": 7, b"D": 8, b"U": 9, b"P": 10,
           b"Q": 11, b"B": 12}
EV_ADD, EV_EXEC, EV_EXEC_PRICE, EV_CANCEL, EV_DELETE, EV_REPLACE = 4, 5, 6, 7, 8, 9


def read_itch(path):
    data = open(path, "rb").read()
    i = 0
    while i < len(data):
        (n,) = struct.unpack_from(">H", data, i)
        yield data[i + 2:i + 2 + n]
        i += 2 + n


def event_of(m, seq, source, rx_tsc):
    """The canonical event (a dict and its 64 bytes) of ITCH message m, or None."""
    t = m[0:1]
    if t not in EV_TYPE:
        return None
    locate, = struct.unpack_from(">H", m, 1)
    ts = int.from_bytes(m[5:11], "big")
    p = bytearray(32)
    ev = {"type": EV_TYPE[t], "msg": t, "locate": locate, "seq": seq, "ns": ts, "rx": rx_tsc, "source": source}
    if t == b"S":
        p[0] = m[11]
    elif t == b"R":
        p[0:8] = m[11:19]
        struct.pack_into("<II", p, 8, struct.unpack_from(">I", m, 21)[0], struct.unpack_from(">I", m, 34)[0])
        p[16], p[17], p[18], p[19] = m[19], m[20], m[25], m[26]
        p[20:22] = m[27:29]
        p[22:28] = m[29:34] + m[38:39]
    elif t == b"H":
        p[0:8], p[8], p[9], p[10:14] = m[11:19], m[19], m[20], m[21:25]
    elif t in (b"A", b"F"):
        ref, side, shares = struct.unpack_from(">QcI", m, 11)
        price, = struct.unpack_from(">I", m, 32)
        struct.pack_into("<QII", p, 0, ref, shares, price)
        p[16] = side[0]
        p[20:28] = m[24:32]
        p[28:32] = m[36:40] if t == b"F" else b"    "
        ev.update(ref=ref, side=side, shares=shares, price=price, stock=m[24:32], mpid=bytes(p[28:32]))
    elif t == b"E":
        ref, shares, match = struct.unpack_from(">QIQ", m, 11)
        struct.pack_into("<QQII", p, 0, ref, match, shares, 0)
        p[24] = ord("Y")
        ev.update(ref=ref, shares=shares, match=match)
    elif t == b"C":
        ref, shares, match = struct.unpack_from(">QIQ", m, 11)
        price, = struct.unpack_from(">I", m, 32)
        struct.pack_into("<QQII", p, 0, ref, match, shares, price)
        p[24] = m[31]
        ev.update(ref=ref, shares=shares, match=match, price=price)
    elif t == b"X":
        ref, shares = struct.unpack_from(">QI", m, 11)
        struct.pack_into("<QI", p, 0, ref, shares)
        ev.update(ref=ref, shares=shares)
    elif t == b"D":
        ref, = struct.unpack_from(">Q", m, 11)
        struct.pack_into("<Q", p, 0, ref)
        ev.update(ref=ref)
    elif t == b"U":
        old, new, shares, price = struct.unpack_from(">QQII", m, 11)
        struct.pack_into("<QQII", p, 0, old, new, shares, price)
        ev.update(ref=old, new=new, shares=shares, price=price)
    elif t == b"P":
        ref, side, shares = struct.unpack_from(">QcI", m, 11)
        price, match = struct.unpack_from(">IQ", m, 32)
        struct.pack_into("<QQII", p, 0, ref, match, shares, price)
        p[24] = side[0]
    elif t == b"Q":
        shares, = struct.unpack_from(">Q", m, 11)
        price, match = struct.unpack_from(">IQ", m, 27)
        struct.pack_into("<QQI", p, 0, shares, match, price)
        p[20] = m[39]
    elif t == b"B":
        struct.pack_into("<Q", p, 0, struct.unpack_from(">Q", m, 11)[0])
    ev["bytes"] = EVENT.pack(ev["type"], source, t[0], 0, locate, seq, ts, rx_tsc, bytes(p))
    return ev


class BBOBook:
    """Orders and price levels, enough to say what an event does to the best bid and offer: an event
    that leaves a side's best level (price, shares, orders) different from before yields a
    top-of-book output; one that leaves it as it was (a replace at the best price with the same
    size, an add below the best) does not."""

    def __init__(self):
        self.orders = {}  # ref -> [locate, side, shares, price]
        self.levels = {}  # (locate, side) -> {price: [shares, orders]}
        self.instruments = set()

    def best(self, locate, side):
        lv = self.levels.get((locate, side))
        if not lv:
            return None
        p = max(lv) if side == b"B" else min(lv)
        return p, lv[p][0], lv[p][1]

    def _is_best(self, locate, side, price):
        b = self.best(locate, side)
        return b is not None and b[0] == price

    def _add(self, locate, ref, side, shares, price):
        if side not in (b"B", b"S") or shares == 0 or ref in self.orders:
            return set()
        self.instruments.add(locate)
        self.orders[ref] = [locate, side, shares, price]
        lv = self.levels.setdefault((locate, side), {}).setdefault(price, [0, 0])
        lv[0] += shares
        lv[1] += 1
        return {side} if self._is_best(locate, side, price) else set()

    def _reduce(self, ref, shares):
        locate, side, left, price = self.orders[ref]
        touched = {side} if self._is_best(locate, side, price) else set()
        shares = min(shares, left)
        lv = self.levels[(locate, side)][price]
        lv[0] -= shares
        self.orders[ref][2] -= shares
        if self.orders[ref][2] == 0:
            del self.orders[ref]
            lv[1] -= 1
            if lv[1] == 0:
                del self.levels[(locate, side)][price]
        return touched

    def apply(self, ev):
        """The sides whose best level the event changed."""
        t = ev["type"]
        if t == EV_ADD:
            key = (ev["locate"], ev["side"])
        elif t in (EV_EXEC, EV_EXEC_PRICE, EV_CANCEL, EV_DELETE, EV_REPLACE) and ev["ref"] in self.orders:
            key = (self.orders[ev["ref"]][0], self.orders[ev["ref"]][1])
        else:
            key = None
        before = self.best(*key) if key else None
        self._apply(ev)
        if key is None or self.best(*key) == before:
            return set()
        return {key[1]}

    def _apply(self, ev):
        t = ev["type"]
        if t in (2, 3, 10, 11):  # R H P Q name an instrument
            self.instruments.add(ev["locate"])
        if t == EV_ADD:
            return self._add(ev["locate"], ev["ref"], ev["side"], ev["shares"], ev["price"])
        if t in (EV_EXEC, EV_EXEC_PRICE, EV_CANCEL, EV_DELETE, EV_REPLACE):
            if ev["ref"] not in self.orders:
                return set()
            if t == EV_REPLACE:
                if ev["shares"] == 0 or (ev["new"] != ev["ref"] and ev["new"] in self.orders):
                    return set()
                locate, side, _, _ = self.orders[ev["ref"]]
                touched = self._reduce(ev["ref"], self.orders[ev["ref"]][2])
                return touched | self._add(locate, ev["new"], side, ev["shares"], ev["price"])
            shares = self.orders[ev["ref"]][2] if t == EV_DELETE else ev["shares"]
            return self._reduce(ev["ref"], shares)
        return set()

    def output(self, ev):
        loc = ev["locate"]
        b = self.best(loc, b"B") or (0, 0, 0)
        a = self.best(loc, b"S") or (0, 0, 0)
        o = {"locate": loc, "seq": ev["seq"], "ns": ev["ns"], "bid": b, "ask": a, "source": ev["source"]}
        o["bytes"] = OUTPUT.pack(1, ev["source"], loc, 0, ev["seq"], ev["ns"], b[0], a[0], b[1], a[1], b[2], a[2],
                                 ev["rx"])
        return o


def day(itch_path, source=0):
    """Every message of the day, its event (or None) and the outputs that event derives."""
    book = BBOBook()
    out = []
    for i, m in enumerate(read_itch(itch_path)):
        ev = event_of(m, i + 1, source, 1_000_000 + 977 * i)
        outs = []
        if ev is not None and book.apply(ev) and ev["type"] in (EV_ADD, EV_EXEC, EV_EXEC_PRICE, EV_CANCEL,
                                                                EV_DELETE, EV_REPLACE):
            if ev["locate"] in book.instruments:
                outs.append(book.output(ev))
        out.append((m, ev, outs))
    return out


def write_journal(d, steps, seg_size=64 * 1024, nshards=1, nfeeds=1, layout=True, drop_last_outputs=0,
                  change_output=None, interleave=False):
    """Journal `steps` (from day()) as the daemon would: each event, then its outputs, and a FEEDPOS
    every 50 messages and at the end. With `interleave`, shard 1's outputs are journaled late (in
    their order): the per-shard order holds, the global one does not."""
    j = Journal(d, seg_size, nshards if layout else 0, nfeeds if layout else 0)
    info = {"events": 0, "outputs": [], "out_lsn": [], "first_add": None, "first_output": None, "msgs": {},
            "feedpos": []}
    total_outputs = sum(len(o) for _, _, o in steps)
    late = []
    n_out = 0
    for i, (m, ev, outs) in enumerate(steps):
        if ev is not None:
            lsn = j.put(REC_EVENT, ev["source"], ev["locate"], ev["bytes"])
            info["events"] += 1
            info["msgs"][m[0:1]] = info["msgs"].get(m[0:1], 0) + 1
            if ev["type"] == EV_ADD and info["first_add"] is None:
                info["first_add"] = (lsn, ev)
            for o in outs:
                n_out += 1
                info["outputs"].append(o)
                if n_out > total_outputs - drop_last_outputs:
                    continue
                data = o["bytes"]
                if change_output == n_out:
                    data = bytearray(data)
                    data[40] ^= 1  # ask_shares (offset 40 of struct dd_output)
                    data = bytes(data)
                if interleave and shard_of(o["locate"], nshards) == 1:
                    late.append((o, data))
                    continue
                ol = j.put(REC_OUTPUT, o["source"], o["locate"], data)
                info["out_lsn"].append(ol)
                if info["first_output"] is None:
                    info["first_output"] = (ol, o)
        if interleave and (i % 40 == 39 or i == len(steps) - 1):
            for o, data in late:
                info["out_lsn"].append(j.put(REC_OUTPUT, o["source"], o["locate"], data))
            late = []
        if i % 50 == 49 or i == len(steps) - 1:
            lsn = j.put(REC_FEEDPOS, 0, 0, FEEDPOS.pack(b"SYNTH00003", 0, i + 2))
            info["feedpos"].append((lsn, i + 2))
    j.close()
    info["journal"] = j
    return info


# ---- running the tool ------------------------------------------------------------------------------


def run(*args, check_rc=None):
    p = subprocess.run([TOOL, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    if check_rc is not None and p.returncode != check_rc:
        raise AssertionError(f"dadar-journal {' '.join(args)}: exit {p.returncode}, expected {check_rc}\n"
                             f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def contains(text, what):
    if what not in text:
        raise AssertionError(f"expected {what!r} in:\n{text}")


def check(name, fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001  (any failure of a check is reported, and the run goes on)
        results["fail"] += 1
        print(f"  FAIL  {name}: {e}")
        return
    results["pass"] += 1
    print(f"  PASS  {name}")


def tod(ns):
    s = ns // 1_000_000_000
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.{ns % 1_000_000_000:09d}"


def px(p):
    return f"{p // 10000}.{p % 10000:04d}"


def side_text(name, s):
    return f"{name} -" if s == (0, 0, 0) else f"{name} {px(s[0])} x {s[1]} ({s[2]})"


def copy_journal(src, dst):
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)


def poke(path, off, data):
    with open(path, "r+b") as f:
        f.seek(off)
        f.write(data)


# ---- the checks --------------------------------------------------------------------------------------


def main():
    for exe in (TOOL, GEN):
        if not os.access(exe, os.X_OK):
            print(f"  SKIP  journal_test: {exe} is not built (run make); nothing was tested")
            return 77
    tmp = tempfile.mkdtemp(prefix="journal_test.")
    try:
        import itchbook  # noqa: F401
        import bookmodel  # noqa: F401
    except ImportError as e:
        print(f"  SKIP  journal_test: tests/integration/itchbook.py or bookmodel.py missing ({e}); nothing was tested")
        return 77
    itch = os.path.join(tmp, "day.itch")
    g = subprocess.run([GEN, "synth", os.path.join(tmp, "day.pcap"), "--itch-out", itch, "--messages", "3000",
                        "--instruments", "5", "--seed", "3"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    if g.returncode != 0:
        print(f"  FAIL  dadar-gen synth failed (exit {g.returncode}): {g.stdout}")
        return 1
    steps = day(itch)
    msgs = [m for m, _, _ in steps]
    good = os.path.join(tmp, "good")
    info = write_journal(good, steps, seg_size=64 * 1024)
    J = info["journal"]
    last = J.lsn - 1
    nout = len(info["outputs"])
    print(f"journal_test: {len(msgs)} ITCH messages -> {info['events']} events, {nout} outputs, "
          f"{len(J.segments)} segments, LSN 1..{last} in {tmp}")

    def verify_clean():
        p = run("verify", good, check_rc=0)
        contains(p.stdout, f"{len(J.segments)} segments, {last} records, LSN 1..{last}, {J.bytes} bytes of records")
        contains(p.stdout, f"event {J.count[REC_EVENT]}  output {J.count[REC_OUTPUT]}  "
                           f"feedpos {J.count[REC_FEEDPOS]}  pad {J.count[REC_PAD]}")
        contains(p.stdout, "1 book shard")
        contains(p.stdout, "clean:")
        expect(len(J.segments) >= 4 and J.count[REC_PAD] >= 3, "the journal should rotate with PADs")

    def stats_counts():
        p = run("stats", good, check_rc=0)
        for t, name in ((REC_EVENT, "event"), (REC_OUTPUT, "output"), (REC_FEEDPOS, "feedpos"), (REC_PAD, "pad")):
            expect(re.search(rf"^  {name}\s+{J.count[t]} records", p.stdout, re.M), f"{name} count in\n{p.stdout}")
        line = re.search(r"^events by message type:(.*)$", p.stdout, re.M).group(1)
        got = {k: int(v) for k, v in re.findall(r"(\S) (\d+)", line)}
        want = {k.decode(): v for k, v in info["msgs"].items()}
        expect(got == want, f"message types {got} != {want}")
        contains(p.stdout, f"feed 0: {info['events']} events, {nout} outputs")
        evs = [ev for _, ev, _ in steps if ev is not None]
        contains(p.stdout, f"first event {tod(evs[0]['ns'])}, last event {tod(evs[-1]['ns'])}")
        for path in J.segments:
            contains(p.stdout, os.path.basename(path))
        contains(p.stdout, f"feed 0 position: session=SYNTH00003 next_seq={info['feedpos'][-1][1]}")

    def dump_lines():
        lsn, ev = info["first_add"]
        p = run("dump", good, "--from", str(lsn), "--limit", "1", check_rc=0)
        sym = ev["stock"].rstrip(b" ").decode()
        want = (f"{lsn:<10} {'event':<7} {0:>3} {ev['locate']:>6}  add {ev['msg'].decode()} seq={ev['seq']} "
                f"t={tod(ev['ns'])} locate={ev['locate']} ref={ev['ref']} {ev['side'].decode()} {ev['shares']} @ "
                f"{px(ev['price'])} {sym}")
        if ev["msg"] == b"F":
            want += f" mpid={ev['mpid'].rstrip(b' ').decode()}"
        lines = p.stdout.splitlines()
        expect(len(lines) == 2, f"header + 1 line expected:\n{p.stdout}")
        expect(lines[1] == want, f"dump line\n  {lines[1]!r}\nexpected\n  {want!r}")
        ol, o = info["first_output"]
        p = run("dump", good, "--type", "output", "--limit", "1", check_rc=0)
        want = (f"{ol:<10} {'output':<7} {0:>3} {o['locate']:>6}  bbo locate={o['locate']} seq={o['seq']} "
                f"t={tod(o['ns'])} {side_text('bid', o['bid'])} {side_text('ask', o['ask'])}")
        expect(p.stdout.splitlines()[1] == want, f"dump line\n  {p.stdout.splitlines()[1]!r}\nexpected\n  {want!r}")
        fl, nxt = info["feedpos"][0]
        p = run("dump", good, "--type", "feedpos", "--limit", "1", check_rc=0)
        want = f"{fl:<10} {'feedpos':<7} {0:>3} {0:>6}  session=SYNTH00003 next_seq={nxt}"
        expect(p.stdout.splitlines()[1] == want, f"dump line\n  {p.stdout.splitlines()[1]!r}\nexpected\n  {want!r}")
        p = run("dump", good, "--type", "pad", check_rc=0)
        expect(len(p.stdout.splitlines()) == 1 + J.count[REC_PAD], f"one line per PAD:\n{p.stdout}")
        contains(p.stdout, "bytes to the end of the segment")
        p = run("dump", good, check_rc=0)
        expect(len(p.stdout.splitlines()) == 1 + last, "one line per record")
        expect(p.stdout.splitlines()[-1].startswith(f"{last:<10} feedpos"), "the last record last")
        p = run("dump", good, "--from", str(last - 2), check_rc=0)
        expect([int(l.split()[0]) for l in p.stdout.splitlines()[1:]] == [last - 2, last - 1, last], p.stdout)

    def replay_books_and_summary():
        dump = os.path.join(tmp, "replay.csv")
        summ = os.path.join(tmp, "replay.json")
        ref = os.path.join(tmp, "itchbook.csv")
        p = run("replay", good, "--book-dump", dump, "--summary", summ, "--capacity-orders", "100000",
                "--capacity-levels", "20000", check_rc=0)
        contains(p.stdout, f"{info['events']} replayed")
        contains(p.stdout, f"journaled {nout}, derived {nout}, matched {nout}; none derived but not journaled")
        contains(p.stdout, "snapshot   none")
        contains(p.stdout, f"position   itch: session=SYNTH00003 next_seq={len(msgs) + 1}; last event seq "
                           f"{max(ev['seq'] for _, ev, _ in steps if ev is not None)}; dadar resumes at seq {len(msgs) + 1}")
        contains(p.stdout, "result     OK")
        import itchbook
        import bookmodel
        orders, symbols = itchbook.build(itch)
        itchbook.write_csv(orders, symbols, ref)
        a, b = open(dump).read(), open(ref).read()
        expect(a == b, f"replay's book dump differs from itchbook.py's ({dump} vs {ref})")
        expect(len(b.splitlines()) > 20, "the book should not be empty")
        s = json.load(open(summ))
        want = bookmodel.run(msgs).summary()
        got = {k: s["book"][k] for k in want}
        expect(got == want, f"summary book counters {got} != bookmodel {want}")
        expect(s["itch"]["messages"] == {k.decode(): v for k, v in info["msgs"].items()},
               f"itch.messages {s['itch']['messages']}")
        expect(s["itch"]["events"] == info["events"], "itch.events")
        expect(s["workers"] == 1 and s["pipeline"] == "rtc", f"layout {s['workers']} {s['pipeline']}")
        f0 = s["feeds"][0]
        expect(f0["name"] == "itch" and f0["session"] == "SYNTH00003" and f0["next_seq"] == len(msgs) + 1,
               f"feed position in the summary: {f0}")

    def replay_tail_unjournaled():
        d = os.path.join(tmp, "tail")
        write_journal(d, steps, drop_last_outputs=3)
        p = run("replay", d, "--capacity-orders", "100000", "--capacity-levels", "20000", check_rc=0)
        contains(p.stdout, f"journaled {nout - 3}, derived {nout}, matched {nout - 3}")
        contains(p.stdout, "3 outputs derived but not journaled")
        o = info["outputs"][-1]
        contains(p.stdout, f"bbo locate={o['locate']} seq={o['seq']}")

    def replay_mismatch():
        d = os.path.join(tmp, "mismatch")
        w = write_journal(d, steps, change_output=100)
        p = run("replay", d, "--capacity-orders", "100000", "--capacity-levels", "20000", check_rc=2)
        contains(p.stdout, f"MISMATCH at LSN {w['out_lsn'][99]}")
        contains(p.stderr, "MISMATCH")

    def replay_two_shards_interleaved():
        d = os.path.join(tmp, "shards")
        summ = os.path.join(tmp, "shards.json")
        write_journal(d, steps, nshards=2, interleave=True)
        p = run("replay", d, "--capacity-orders", "100000", "--capacity-levels", "20000", "--summary", summ,
                "--no-snapshot", check_rc=0)
        contains(p.stdout, "2 book shards")
        contains(p.stdout, f"matched {nout};")
        contains(p.stdout, "snapshot   not used (--no-snapshot)")
        s = json.load(open(summ))
        expect(s["workers"] == 2 and s["pipeline"] == "staged", f"layout {s['workers']} {s['pipeline']}")
        # the same journal read as one shard: the late outputs break the global order
        d1 = os.path.join(tmp, "shards-as-one")
        write_journal(d1, steps, nshards=2, interleave=True, layout=False)
        p = run("replay", d1, "--capacity-orders", "100000", "--capacity-levels", "20000", check_rc=2)
        contains(p.stdout, "does not record its layout")
        contains(p.stdout, "MISMATCH")

    def torn_tail_verify_truncate():
        d = os.path.join(tmp, "torn")
        copy_journal(good, d)
        path, off, n, _ = J.where[last]
        path = os.path.join(d, os.path.basename(path))
        data = open(path, "rb").read()[off:off + n]
        half = n // 2
        poke(path, off + half, bytes(n - half))
        nz = max(i for i in range(half) if data[i] != 0) + 1
        p = run("verify", d, check_rc=1)
        contains(p.stdout, f"TORN TAIL: {nz} bytes at {path} offset {off}, after LSN {last - 1}")
        contains(p.stdout, f"`dadar-journal truncate {d}` does it now")
        p = run("replay", d, "--capacity-orders", "100000", "--capacity-levels", "20000", check_rc=0)
        contains(p.stdout, "torn tail of")
        contains(p.stdout, f"up to LSN {last - 1}")
        p = run("dump", d, "--from", str(last - 1), check_rc=1)
        contains(p.stdout, "TORN TAIL")
        p = run("truncate", d, check_rc=0)
        contains(p.stdout, f"cut {nz} bytes of torn tail at {path} offset {off}")
        contains(p.stdout, f"now ends cleanly at LSN {last - 1}")
        p = run("verify", d, check_rc=0)
        contains(p.stdout, f"LSN 1..{last - 1}")
        expect(open(path, "rb").read()[off:] == bytes(len(open(path, "rb").read()) - off), "zeros after the cut")
        p = run("truncate", d, check_rc=0)
        contains(p.stdout, "nothing to cut")

    def flipped_byte_is_corruption():
        d = os.path.join(tmp, "flip")
        copy_journal(good, d)
        lsn = last // 2
        path, off, n, rtype = J.where[lsn]
        while rtype == REC_PAD:
            lsn += 1
            path, off, n, rtype = J.where[lsn]
        path = os.path.join(d, os.path.basename(path))
        b = open(path, "rb").read()[off + 30]
        poke(path, off + 30, bytes([b ^ 0x20]))
        p = run("verify", d, check_rc=2)
        contains(p.stdout, f"CORRUPT: {path} offset {off}, LSN {lsn} expected: CRC mismatch")
        contains(p.stdout, f"records up to LSN {lsn - 1} are good")
        p = run("truncate", d, check_rc=2)
        contains(p.stderr, "refusing to truncate")
        expect(open(path, "rb").read()[off + 30] == b ^ 0x20, "truncate must not change a corrupt journal")
        p = run("replay", d, "--capacity-orders", "100000", "--capacity-levels", "20000", check_rc=2)
        contains(p.stdout, f"CORRUPT: {path} offset {off}")
        p = run("stats", d, check_rc=2)
        contains(p.stdout, "CORRUPT")

    def bad_arguments():
        for args, what in ((("verify",), "needs the journal directory"),
                           (("frobnicate", good), "unknown command 'frobnicate'"),
                           (("verify", good, "--extra"), "unexpected '--extra'"),
                           (("dump", good, "--type", "bogus"), "--type 'bogus'"),
                           (("dump", good, "--limit", "0"), "--limit '0'"),
                           (("dump", good, "--from", "x1"), "--from 'x1'"),
                           (("dump", good, "--from"), "--from needs a number"),
                           (("dump", good, "--colour"), "unknown option '--colour'"),
                           (("replay", good, "--capacity-orders", "lots"), "capacity.orders = 'lots'"),
                           (("replay", good, "--no-such-option"), "'--no-such-option'"),
                           (("replay", "--no-snapshot"), "journal directory comes first")):
            p = run(*args)
            expect(p.returncode == 3, f"{args}: exit {p.returncode}, expected 3")
            contains(p.stderr, what)
        p = run()
        expect(p.returncode == 3 and "usage:" in p.stderr, f"no arguments: exit {p.returncode}")
        p = run("--help", check_rc=0)
        contains(p.stdout, "usage:")
        p = run("verify", os.path.join(tmp, "no-such-dir"), check_rc=4)
        contains(p.stderr, "does not exist")
        p = run("replay", os.path.join(tmp, "no-such-dir"), check_rc=4)
        contains(p.stderr, "does not exist")

    def empty_directory():
        d = os.path.join(tmp, "empty")
        os.makedirs(d)
        p = run("verify", d, check_rc=0)
        contains(p.stdout, "an empty journal")

    check("verify: a clean multi-segment journal with its counts", verify_clean)
    check("stats: records, bytes, segments, time range, events by feed and message type", stats_counts)
    check("dump: an add, an output, a feed position and PADs decoded; --from, --type, --limit", dump_lines)
    check("replay: books equal itchbook.py, summary counters equal bookmodel.py", replay_books_and_summary)
    check("replay: outputs missing at the tail are reported, exit 0", replay_tail_unjournaled)
    check("replay: a changed output is a mismatch at its LSN, exit 2", replay_mismatch)
    check("replay: two shards from the segment header, outputs interleaved across shards", replay_two_shards_interleaved)
    check("torn tail: verify 1, replay notes it, truncate cuts it, verify 0", torn_tail_verify_truncate)
    check("flipped byte: verify 2 names segment, offset and LSN; truncate refuses", flipped_byte_is_corruption)
    check("bad arguments exit 3 naming them; a missing directory exits 4", bad_arguments)
    check("an empty directory is an empty journal", empty_directory)

    print(f"journal_test: {results['pass']} passed, {results['fail']} failed")
    if results["fail"]:
        print(f"journal_test: scratch files kept in {tmp}")
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
