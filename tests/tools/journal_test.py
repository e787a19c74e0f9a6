#!/usr/bin/env python3
"""Integration test of dadar-journal: verify, truncate, dump, stats and replay on journals written
here in Python, independently of dadar's C code.

The journal format, major version 2 (docs/wire-formats.md, "The journal"; dataplane/journal/jfile.h),
the canonical event (ops/event.h), the typed 128-byte output with its cause (ops/output.h) and the
CONFIG record (struct dd_jconfig: the layout and the market chain with the book's capacities) are
written from their documentation with Python's struct and a CRC32C of our own. The input is a
seeded synthetic ITCH 5.0 day from `dadar-gen synth --itch-out`; each message becomes an event
exactly as dataplane/wire/itch.c maps it, and the outputs are derived by a small order book here
that emits the best bid and offer whenever an event changes the best level of a side (what dadar's
book operator does), honouring the capacities the CONFIG record states (order table, then
instrument table, then price levels, as ops/book/book.h documents). Every journal starts with a
CONFIG record; the main one has a second, identical one half way (a restart). Replay takes its
capacities and layout from the journal alone: its --book-dump is compared with
tests/integration/itchbook.py (or bookmodel.py with the capacities) and its --summary book counters
with tests/integration/bookmodel.py, both independent of dadar.

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


# ---- the journal format (major 2) --------------------------------------------------------------------

PAGE = 4096
MAGIC = 0x4C4E4A5241444144  # "DADARJNL"
MAJOR = 2
REC_EVENT, REC_OUTPUT, REC_FEEDPOS, REC_PAD, REC_CONFIG = 1, 2, 3, 4, 5
REC_TYPES = ((REC_EVENT, "event"), (REC_OUTPUT, "output"), (REC_FEEDPOS, "feedpos"), (REC_PAD, "pad"),
             (REC_CONFIG, "config"))
SEG_HDR = struct.Struct("<QHHIQQQQQ32sIIII24s")  # 128 bytes
REC_HDR = struct.Struct("<IHHQII")  # len, type, source, lsn, crc, partition: 24 bytes
EVENT = struct.Struct("<BBBBIQQQ32s")  # 64 bytes
# struct dd_output: a 64-byte header (type u16, op u8, source u8, rule u16, rule_version u16, key u32,
# shard u16, flags u16, seq u64, event_ns u64, cause u64, 16 reserved bytes, rx_tsc u64) ...
OUT_HDR = struct.Struct("<HBBHHIHHQQQ16sQ")
# ... and the bbo body: bid price u32, ask price u32, bid shares u64, ask shares u64, bid orders u32,
# ask orders u32, locate u16, zeros to 64 bytes
OUT_BBO = struct.Struct("<IIQQIIH30s")
OUT_TYPE_BBO, OP_BOOK = 1, 1
OUT_ASK_SHARES = OUT_HDR.size + 16  # offset of the ask shares in an output
FEEDPOS = struct.Struct("<10sB5xQ")  # 24 bytes
# struct dd_jconfig: version 1, nshards, nfeeds, 0, then struct dd_chain_spec (nops, 0, 8 x op spec)
JCONFIG_HDR = struct.Struct("<IIIIII")
OP_SPEC = struct.Struct("<II56s")  # operator id, params length, params zero padded
BOOK_PARAMS = struct.Struct("<IIII")  # max_instruments, max_orders, max_levels, nfeeds
CHAIN_MAX_OPS = 8
assert SEG_HDR.size == 128 and REC_HDR.size == 24 and EVENT.size == 64 and FEEDPOS.size == 24
assert OUT_HDR.size == 64 and OUT_BBO.size == 64 and OP_SPEC.size == 64
assert JCONFIG_HDR.size + CHAIN_MAX_OPS * OP_SPEC.size == 536

# The capacities the main journal is written with (dadar's defaults are larger: replay must read these)
CAPS = {"instruments": 1000, "orders": 100000, "levels": 20000}


def shard_of(key, nshards):
    return 0 if nshards <= 1 else ((key * 0x9E3779B1) & 0xFFFFFFFF) % nshards


def config_payload(nshards, nfeeds, caps):
    """struct dd_jconfig of a market chain holding the book operator only."""
    params = BOOK_PARAMS.pack(caps["instruments"], caps["orders"], caps["levels"], nfeeds)
    ops = OP_SPEC.pack(OP_BOOK, len(params), params) + bytes(OP_SPEC.size * (CHAIN_MAX_OPS - 1))
    return JCONFIG_HDR.pack(1, nshards, nfeeds, 0, 1, 0) + ops


def config_text(nshards, nfeeds, caps):
    """How dadar-journal prints that configuration (dump, and replay's `operators` line)."""
    return (f"shards={nshards} feeds={nfeeds} market=book(instruments={caps['instruments']} "
            f"orders={caps['orders']} levels={caps['levels']})")


def output_payload(o):
    """The 128-byte struct dd_output of top-of-book output o (with its cause and shard)."""
    b, a = o["bid"], o["ask"]
    return (OUT_HDR.pack(OUT_TYPE_BBO, OP_BOOK, o["source"], 0, 0, o["locate"], o["shard"], 0, o["seq"], o["ns"],
                         o["cause"], bytes(16), o["rx"]) +
            OUT_BBO.pack(b[0], a[0], b[1], a[1], b[2], a[2], o["locate"], bytes(30)))


class Journal:
    """Segments of `seg_size` bytes, zero-filled, a header at 0, records from 4096, PAD on rotation."""

    def __init__(self, d, seg_size=64 * 1024, nshards=1, nfeeds=1, tsc_hz=2_500_000_000, major=MAJOR):
        os.makedirs(d, exist_ok=True)
        self.dir, self.seg_size, self.nshards, self.nfeeds, self.tsc_hz = d, seg_size, nshards, nfeeds, tsc_hz
        self.major = major
        self.f, self.off, self.lsn, self.index = None, 0, 1, 0
        self.segments = []
        self.where = {}  # LSN -> (path, offset, len, type)
        self.count = {t: 0 for t, _ in REC_TYPES}
        self.bytes = 0

    def _segment(self):
        if self.f:
            self.f.close()
        path = os.path.join(self.dir, f"seg-{self.lsn:020d}.ddj")
        self.f = open(path, "w+b")
        self.f.truncate(self.seg_size)
        hdr = SEG_HDR.pack(MAGIC, self.major, 0, PAGE, self.seg_size, self.lsn, self.index, 1_700_000_000_000_000_000,
                           self.tsc_hz, b"jtest", 0, 0, self.nshards, self.nfeeds, b"")
        crc = crc32c(hdr)
        hdr = hdr[:88] + struct.pack("<I", crc) + hdr[92:]
        self.f.seek(0)
        self.f.write(hdr)
        self.index += 1
        self.off = PAGE
        self.segments.append(path)

    def _size(self, n):
        return (24 + n + 7) & ~7

    def next_lsn(self, n):
        """The LSN a record with an n-byte payload put now gets (after a PAD if it rotates)."""
        if self.f is not None and self.off + self._size(n) > self.seg_size and self.seg_size - self.off >= 24:
            return self.lsn + 1
        return self.lsn

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
        n = self._size(len(payload))
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
    size, an add below the best) does not. With capacities (those of the journal's CONFIG record)
    an add is refused when the order table is full, then when the instrument table is full, then
    when it needs a new price level and the level table (over all instruments and sides) is full;
    a refused add leaves no trace (a replace's add half included: its old order is gone)."""

    def __init__(self, max_orders=None, max_levels=None, max_instruments=None):
        self.max_orders, self.max_levels, self.max_instruments = max_orders, max_levels, max_instruments
        self.orders = {}  # ref -> [locate, side, shares, price]
        self.levels = {}  # (locate, side) -> {price: [shares, orders]}
        self.nlevels = 0
        self.instruments = set()
        self.refused = 0

    def best(self, locate, side):
        lv = self.levels.get((locate, side))
        if not lv:
            return None
        p = max(lv) if side == b"B" else min(lv)
        return p, lv[p][0], lv[p][1]

    def _instrument(self, locate):
        if locate in self.instruments:
            return True
        if self.max_instruments is not None and len(self.instruments) >= self.max_instruments:
            return False
        self.instruments.add(locate)
        return True

    def _add(self, locate, ref, side, shares, price):
        if side not in (b"B", b"S") or shares == 0 or ref in self.orders:
            return
        if self.max_orders is not None and len(self.orders) >= self.max_orders:
            self.refused += 1
            return
        if not self._instrument(locate):
            self.refused += 1
            return
        side_levels = self.levels.setdefault((locate, side), {})
        if price not in side_levels:
            if self.max_levels is not None and self.nlevels >= self.max_levels:
                self.refused += 1
                return
            side_levels[price] = [0, 0]
            self.nlevels += 1
        self.orders[ref] = [locate, side, shares, price]
        side_levels[price][0] += shares
        side_levels[price][1] += 1

    def _reduce(self, ref, shares):
        locate, side, left, price = self.orders[ref]
        shares = min(shares, left)
        lv = self.levels[(locate, side)][price]
        lv[0] -= shares
        self.orders[ref][2] -= shares
        if self.orders[ref][2] == 0:
            del self.orders[ref]
            lv[1] -= 1
            if lv[1] == 0:
                del self.levels[(locate, side)][price]
                self.nlevels -= 1

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
            self._instrument(ev["locate"])
        if t == EV_ADD:
            self._add(ev["locate"], ev["ref"], ev["side"], ev["shares"], ev["price"])
        elif t in (EV_EXEC, EV_EXEC_PRICE, EV_CANCEL, EV_DELETE, EV_REPLACE):
            if ev["ref"] not in self.orders:
                return
            if t == EV_REPLACE:
                if ev["shares"] == 0 or (ev["new"] != ev["ref"] and ev["new"] in self.orders):
                    return
                locate, side, _, _ = self.orders[ev["ref"]]
                self._reduce(ev["ref"], self.orders[ev["ref"]][2])
                self._add(locate, ev["new"], side, ev["shares"], ev["price"])
                return
            shares = self.orders[ev["ref"]][2] if t == EV_DELETE else ev["shares"]
            self._reduce(ev["ref"], shares)

    def output(self, ev):
        """The top-of-book output of the event (its cause and shard are the writer's to fill in)."""
        loc = ev["locate"]
        b = self.best(loc, b"B") or (0, 0, 0)
        a = self.best(loc, b"S") or (0, 0, 0)
        return {"locate": loc, "seq": ev["seq"], "ns": ev["ns"], "bid": b, "ask": a, "source": ev["source"],
                "rx": ev["rx"]}


def day(itch_path, caps=None, source=0):
    """Every message of the day, its event (or None) and the outputs that event derives in a book
    with capacities `caps` (None: unbounded)."""
    caps = caps or {}
    book = BBOBook(caps.get("orders"), caps.get("levels"), caps.get("instruments"))
    out = []
    for i, m in enumerate(read_itch(itch_path)):
        ev = event_of(m, i + 1, source, 1_000_000 + 977 * i)
        outs = []
        if ev is not None and book.apply(ev) and ev["type"] in (EV_ADD, EV_EXEC, EV_EXEC_PRICE, EV_CANCEL,
                                                                EV_DELETE, EV_REPLACE):
            if ev["locate"] in book.instruments:
                outs.append(book.output(ev))
        out.append((m, ev, outs))
    return out, book


def write_journal(d, steps, seg_size=64 * 1024, nshards=1, nfeeds=1, caps=CAPS, config=True, restart_at=None,
                  restart_caps=None, drop_last_outputs=0, alter_output=None, interleave=0, major=MAJOR):
    """Journal `steps` (from day()) as the daemon would: a CONFIG record first (unless not `config`),
    then each event and its outputs (cause = the event's LSN, shard = the event's shard among
    `nshards`), a FEEDPOS every 50 messages and at the end; before step `restart_at` a restart: another
    CONFIG record (of `restart_caps`, default the same). `alter_output` = (n, fn): the n-th output's
    payload is fn(payload, its own LSN). With `interleave` = k, the outputs of events whose key is in
    shard 1 of k are journaled late (in their order): the per-shard order holds, the global one does
    not."""
    j = Journal(d, seg_size, nshards, nfeeds, major=major)
    info = {"events": 0, "outputs": [], "out_lsn": [], "first_add": None, "first_output": None, "msgs": {},
            "feedpos": [], "config_lsn": []}
    if config:
        info["config_lsn"].append(j.put(REC_CONFIG, 0, 0, config_payload(nshards, nfeeds, caps)))
    total_outputs = sum(len(o) for _, _, o in steps)
    late = []
    n_out = 0

    def put_output(o, data):
        if alter_output is not None and alter_output[0] == o["n"]:
            data = alter_output[1](data, j.next_lsn(len(data)))
        o["lsn"] = j.put(REC_OUTPUT, o["source"], o["locate"], data)
        info["out_lsn"].append(o["lsn"])
        if info["first_output"] is None:
            info["first_output"] = (o["lsn"], o)

    for i, (m, ev, outs) in enumerate(steps):
        if restart_at == i:
            info["config_lsn"].append(j.put(REC_CONFIG, 0, 0, config_payload(nshards, nfeeds, restart_caps or caps)))
        if ev is not None:
            lsn = j.put(REC_EVENT, ev["source"], ev["locate"], ev["bytes"])
            info["events"] += 1
            info["msgs"][m[0:1]] = info["msgs"].get(m[0:1], 0) + 1
            if ev["type"] == EV_ADD and info["first_add"] is None:
                info["first_add"] = (lsn, ev)
            for o in outs:
                n_out += 1
                o = dict(o, cause=lsn, shard=shard_of(o["locate"], nshards), n=n_out, lsn=None)
                info["outputs"].append(o)
                if n_out > total_outputs - drop_last_outputs:
                    continue
                if interleave and shard_of(o["locate"], interleave) == 1:
                    late.append(o)
                    continue
                put_output(o, output_payload(o))
        if interleave and (i % 40 == 39 or i == len(steps) - 1):
            for o in late:
                put_output(o, output_payload(o))
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


def lacks(text, what):
    if what in text:
        raise AssertionError(f"did not expect {what!r} in:\n{text}")


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


def output_text(o):
    """dadar-journal's description of a top-of-book output (dump, replay's tail)."""
    return (f"bbo op=book shard={o['shard']} cause={o['cause']} key={o['locate']} seq={o['seq']} t={tod(o['ns'])} "
            f"{side_text('bid', o['bid'])} {side_text('ask', o['ask'])}")


def copy_journal(src, dst):
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)


def poke(path, off, data):
    with open(path, "r+b") as f:
        f.seek(off)
        f.write(data)


def cut(path, size):
    with open(path, "r+b") as f:
        f.truncate(size)


# ---- the checks --------------------------------------------------------------------------------------

# Capacities small enough for this day to overflow both the order and the level table (asserted below)
SMALL = {"instruments": 8, "orders": 130, "levels": 45}


def main():
    for exe in (TOOL, GEN):
        if not os.access(exe, os.X_OK):
            print(f"  SKIP  journal_test: {exe} is not built (run make); nothing was tested")
            return 77
    try:
        import itchbook
        import bookmodel
    except ImportError as e:
        print(f"  SKIP  journal_test: tests/integration/itchbook.py or bookmodel.py missing ({e}); nothing was tested")
        return 77
    tmp = tempfile.mkdtemp(prefix="journal_test.")
    itch = os.path.join(tmp, "day.itch")
    g = subprocess.run([GEN, "synth", os.path.join(tmp, "day.pcap"), "--itch-out", itch, "--messages", "3000",
                        "--instruments", "5", "--seed", "3"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    if g.returncode != 0:
        print(f"  FAIL  dadar-gen synth failed (exit {g.returncode}): {g.stdout}")
        return 1
    steps, _ = day(itch, CAPS)
    msgs = [m for m, _, _ in steps]
    good = os.path.join(tmp, "good")
    info = write_journal(good, steps, seg_size=64 * 1024, restart_at=len(steps) // 2)
    J = info["journal"]
    last = J.lsn - 1
    nout = len(info["outputs"])
    print(f"journal_test: {len(msgs)} ITCH messages -> {info['events']} events, {nout} outputs, "
          f"{len(J.segments)} segments, LSN 1..{last} in {tmp}")

    def verify_clean():
        p = run("verify", good, check_rc=0)
        contains(p.stdout, f"{len(J.segments)} segments, {last} records, LSN 1..{last}, {J.bytes} bytes of records")
        contains(p.stdout, "  ".join(f"{name} {J.count[t]}" for t, name in REC_TYPES))
        contains(p.stdout, "1 book shard (run to completion or one worker), 1 feed (from the segment header)")
        contains(p.stdout, "clean:")
        contains(p.stdout, f"the data ends at {os.path.basename(J.segments[-1])} offset {J.off}")
        expect(len(J.segments) >= 4 and J.count[REC_PAD] >= 3, "the journal should rotate with PADs")
        expect(J.count[REC_CONFIG] == 2 and info["config_lsn"][0] == 1, "a CONFIG record at LSN 1 and a restart's")

    def stats_counts():
        p = run("stats", good, check_rc=0)
        for t, name in REC_TYPES:
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
        cfg = f"{1:<10} {'config':<7} {0:>3} {0:>6}  {config_text(1, 1, CAPS)}"
        p = run("dump", good, "--limit", "1", check_rc=0)
        lines = p.stdout.splitlines()
        expect(len(lines) == 2 and lines[1] == cfg, f"dump line\n  {lines[1:]!r}\nexpected\n  {cfg!r}")
        p = run("dump", good, "--type", "config", check_rc=0)
        want = [f"{lsn:<10} {'config':<7} {0:>3} {0:>6}  {config_text(1, 1, CAPS)}" for lsn in info["config_lsn"]]
        expect(p.stdout.splitlines()[1:] == want, f"config records\n  {p.stdout!r}\nexpected\n  {want!r}")
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
        want = f"{ol:<10} {'output':<7} {0:>3} {o['locate']:>6}  {output_text(o)}"
        expect(p.stdout.splitlines()[1] == want, f"dump line\n  {p.stdout.splitlines()[1]!r}\nexpected\n  {want!r}")
        # and one far into the journal (after the restart's config record) with both sides set
        o = next(x for x in info["outputs"][len(info["outputs"]) // 2:] if x["bid"][0] and x["ask"][0])
        p = run("dump", good, "--from", str(o["lsn"]), "--limit", "1", check_rc=0)
        want = f"{o['lsn']:<10} {'output':<7} {0:>3} {o['locate']:>6}  {output_text(o)}"
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

    def replay_report(p, d, nshards, caps):
        contains(p.stdout, f"replay of {d}: {nshards} shard{'s' if nshards > 1 else ''}, 1 feed (itch) as the "
                           f"journal's configuration says")
        contains(p.stdout, f"\n  operators  {config_text(nshards, 1, caps)}\n")

    def books_line(want):
        """replay's `books` line for bookmodel.py's summary `want` (the synthetic day has 5 instruments)."""
        line = f"\n  books      5 instruments, {want['orders']} live orders on {want['levels']} price levels"
        if want["unknown_ref"]:
            line += f"; {want['unknown_ref']} references to orders not in the book"
        refused = want["order_overflow"] + want["level_overflow"]
        if refused:
            line += f"; {refused} refused for capacity (as they were in dadar, with the journal's capacities)"
        return line + "\n"

    def replay_books_and_summary():
        dump = os.path.join(tmp, "replay.csv")
        summ = os.path.join(tmp, "replay.json")
        ref = os.path.join(tmp, "itchbook.csv")
        p = run("replay", good, "--book-dump", dump, "--summary", summ, check_rc=0)
        replay_report(p, good, 1, CAPS)
        contains(p.stdout, f"{info['events']} replayed")
        contains(p.stdout, f"up to LSN {last}\n")
        contains(p.stdout, f"journaled {nout}, derived {nout}, matched {nout}; none derived but not journaled")
        contains(p.stdout, "snapshot   none")
        # the last record is a feed position: no event after it to resume from
        contains(p.stdout, f"\n  position   itch: session=SYNTH00003 next_seq={len(msgs) + 1}; dadar resumes at seq "
                           f"{len(msgs) + 1}\n")
        model = bookmodel.run(msgs)
        want = model.summary()
        contains(p.stdout, books_line(want))
        lacks(p.stdout, "refused for capacity")
        contains(p.stdout, "result     OK")
        orders, symbols = itchbook.build(itch)
        itchbook.write_csv(orders, symbols, ref)
        a, b = open(dump).read(), open(ref).read()
        expect(a == b, f"replay's book dump differs from itchbook.py's ({dump} vs {ref})")
        expect(len(b.splitlines()) > 20, "the book should not be empty")
        s = json.load(open(summ))
        got = {k: s["book"][k] for k in want}
        expect(got == want, f"summary book counters {got} != bookmodel {want}")
        expect(s["itch"]["messages"] == {k.decode(): v for k, v in info["msgs"].items()},
               f"itch.messages {s['itch']['messages']}")
        expect(s["itch"]["events"] == info["events"], "itch.events")
        expect(s["workers"] == 1 and s["pipeline"] == "rtc", f"layout {s['workers']} {s['pipeline']}")
        f0 = s["feeds"][0]
        expect(f0["name"] == "itch" and f0["session"] == "SYNTH00003" and f0["next_seq"] == len(msgs) + 1,
               f"feed position in the summary: {f0}")

    def replay_small_capacities_from_the_journal():
        d = os.path.join(tmp, "small")
        dump = os.path.join(tmp, "small.csv")
        summ = os.path.join(tmp, "small.json")
        ref = os.path.join(tmp, "small-model.csv")
        full = os.path.join(tmp, "small-unbounded.csv")
        small_steps, wbook = day(itch, SMALL)
        w = write_journal(d, small_steps, caps=SMALL)
        n = len(w["outputs"])
        model = bookmodel.run(msgs, SMALL["orders"], SMALL["levels"])
        want = model.summary()
        # the capacities must bite, or this check proves nothing
        expect(want["order_overflow"] > 0 and want["level_overflow"] > 0, f"SMALL does not overflow: {want}")
        expect([o["bid"] + o["ask"] for o in w["outputs"]] != [o["bid"] + o["ask"] for o in info["outputs"]],
               "the writer's outputs should differ with small capacities")
        expect(len(wbook.orders) == want["orders"] and wbook.nlevels == want["levels"] and
               wbook.refused == want["order_overflow"] + want["level_overflow"],
               "the writer's book and bookmodel.py disagree on the capacities")
        p = run("replay", d, "--book-dump", dump, "--summary", summ, check_rc=0)
        replay_report(p, d, 1, SMALL)
        contains(p.stdout, f"journaled {n}, derived {n}, matched {n}; none derived but not journaled")
        expect(want["unknown_ref"] > 0, "refused orders should be referenced later")
        contains(p.stdout, books_line(want))
        contains(p.stdout, "result     OK")
        model.write_csv(ref)
        a, b = open(dump).read(), open(ref).read()
        expect(a == b, f"replay's book dump differs from bookmodel.py's with capacities {SMALL} ({dump} vs {ref})")
        orders, symbols = itchbook.build(itch)
        itchbook.write_csv(orders, symbols, full)
        expect(b != open(full).read(), "the small books should differ from the unbounded ones")
        s = json.load(open(summ))
        got = {k: s["book"][k] for k in want}
        expect(got == want, f"summary book counters {got} != bookmodel {want}")

    def replay_capacity_flags():
        # a flag that agrees with the journal is accepted
        p = run("replay", good, "--capacity-orders", str(CAPS["orders"]), "--capacity-levels", str(CAPS["levels"]),
                "--capacity-instruments", str(CAPS["instruments"]), check_rc=0)
        contains(p.stdout, f"matched {nout};")
        contains(p.stdout, "result     OK")
        # one that conflicts is refused, naming the key and both values
        for key, flag, mine in (("capacity.orders", "--capacity-orders", 1000),
                                ("capacity.levels", "--capacity-levels", CAPS["levels"] + 1),
                                ("capacity.instruments", "--capacity-instruments", 16384)):
            p = run("replay", good, flag, str(mine), check_rc=3)
            contains(p.stderr, f"{key} = {CAPS[key.split('.')[1]]}")
            contains(p.stderr, f"{key} = {mine}")
            lacks(p.stdout, "result")

    def replay_tail_unjournaled():
        d = os.path.join(tmp, "tail")
        w = write_journal(d, steps, drop_last_outputs=3)
        p = run("replay", d, check_rc=0)
        contains(p.stdout, f"journaled {nout - 3}, derived {nout}, matched {nout - 3}")
        contains(p.stdout, "3 outputs derived but not journaled")
        for o in w["outputs"][-3:]:
            contains(p.stdout, f"feed 0 {output_text(o)}\n")
        contains(p.stdout, "result     OK")

    def replay_mismatch():
        d = os.path.join(tmp, "mismatch")

        def flip(data, lsn):
            b = bytearray(data)
            b[OUT_ASK_SHARES] ^= 1
            return bytes(b)

        w = write_journal(d, steps, alter_output=(100, flip))
        o = w["outputs"][99]
        p = run("replay", d, check_rc=2)
        contains(p.stdout, f"MISMATCH at LSN {o['lsn']}: a journaled output differs from the one the operators derive")
        contains(p.stdout, f"ask {o['ask'][0]} x {o['ask'][1] ^ 1}")  # the journaled one
        contains(p.stdout, f"ask {o['ask'][0]} x {o['ask'][1]}")      # the re-derived one
        contains(p.stderr, "MISMATCH")

    def replay_checks_causes():
        # a cause that is not the output's event (the record before that event) is a mismatch
        d = os.path.join(tmp, "cause-other")
        w = write_journal(d, steps, alter_output=(100, lambda data, lsn: data[:32] + struct.pack(
            "<Q", struct.unpack_from("<Q", data, 32)[0] - 1) + data[40:]))
        o = w["outputs"][99]
        p = run("replay", d, check_rc=2)
        contains(p.stdout, f"MISMATCH at LSN {o['lsn']}: a journaled output differs from the one the operators derive")
        contains(p.stdout, f"cause {o['cause'] - 1} ")
        # an output naming itself as its cause comes before its cause
        d = os.path.join(tmp, "cause-later")
        w = write_journal(d, steps, alter_output=(50, lambda data, lsn: data[:32] + struct.pack("<Q", lsn) + data[40:]))
        o = w["outputs"][49]
        p = run("replay", d, check_rc=2)
        contains(p.stdout, f"MISMATCH at LSN {o['lsn']}: a journaled output before its cause")
        contains(p.stdout, f"cause {o['lsn']} ")

    def replay_two_shards_interleaved():
        d = os.path.join(tmp, "shards")
        summ = os.path.join(tmp, "shards.json")
        w = write_journal(d, steps, nshards=2, interleave=2)
        causes = [o["cause"] for o in sorted(w["outputs"], key=lambda o: o["lsn"])]
        expect(causes != sorted(causes), "the outputs should be journaled out of cause order")
        expect({o["shard"] for o in w["outputs"]} == {0, 1}, "outputs of both shards")
        p = run("verify", d, check_rc=0)
        contains(p.stdout, "2 book shards (staged workers), 1 feed (from the segment header)")
        p = run("replay", d, "--summary", summ, "--no-snapshot", check_rc=0)
        replay_report(p, d, 2, CAPS)
        contains(p.stdout, f"journaled {nout}, derived {nout}, matched {nout};")
        contains(p.stdout, "snapshot   not used (--no-snapshot)")
        s = json.load(open(summ))
        expect(s["workers"] == 2 and s["pipeline"] == "staged", f"layout {s['workers']} {s['pipeline']}")
        # the same outputs journaled by a writer whose configuration has one shard: the late outputs
        # break that shard's order
        d1 = os.path.join(tmp, "shards-as-one")
        write_journal(d1, steps, nshards=1, interleave=2)
        p = run("replay", d1, check_rc=2)
        replay_report(p, d1, 1, CAPS)
        contains(p.stdout, "MISMATCH")

    def replay_needs_the_config_record():
        d = os.path.join(tmp, "no-config")
        write_journal(d, steps, config=False)
        p = run("verify", d, check_rc=0)  # a valid journal, only not one replay can build operators from
        p = run("replay", d, check_rc=2)
        contains(p.stderr, "journal LSN 1: an event before any configuration record")
        d = os.path.join(tmp, "config-changes")
        other = dict(CAPS, orders=CAPS["orders"] // 2)
        w = write_journal(d, steps, restart_at=len(steps) // 2, restart_caps=other)
        p = run("dump", d, "--type", "config", check_rc=0)
        contains(p.stdout, f"{w['config_lsn'][1]:<10} {'config':<7} {0:>3} {0:>6}  {config_text(1, 1, other)}")
        p = run("replay", d, check_rc=2)
        contains(p.stderr, f"journal LSN {w['config_lsn'][1]}: the configuration changes")

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
        p = run("replay", d, check_rc=0)
        contains(p.stdout, f"torn tail of {nz} bytes at {path} offset {off} after LSN {last - 1}")
        contains(p.stdout, f"up to LSN {last - 1}\n")
        contains(p.stdout, "result     OK: the operators re-derived every journaled output (up to the torn tail)")
        # the last position is lost with the tail: dadar resumes after the events journaled since the one before
        seen = max(ev["seq"] for _, ev, _ in steps if ev is not None)
        pos = info["feedpos"][-2][1]
        expect(pos <= seen, "events after the second last position")
        contains(p.stdout, f"position   itch: session=SYNTH00003 next_seq={pos}; last event seq {seen}; dadar resumes "
                           f"at seq {seen + 1}\n")
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

    def newest_segment_cut_short():
        seg = J.segments[-1]
        orig = open(seg, "rb").read()
        expect(len(orig) == J.seg_size, "segment size")
        # cut in the middle of the last record (at an offset that is not 8-byte aligned)
        d = os.path.join(tmp, "short-newest")
        copy_journal(good, d)
        path = os.path.join(d, os.path.basename(seg))
        _, off, _, _ = J.where[last]
        expect(J.where[last][0] == seg, "the last record is in the last segment")
        cut(path, off + 13)
        p = run("verify", d, check_rc=1)
        contains(p.stdout, f"TORN TAIL: {path} is {J.seg_size - off - 13} bytes short of its {J.seg_size}")
        contains(p.stdout, f"the data ends at offset {off}, after LSN {last - 1}")
        p = run("replay", d, check_rc=0)
        contains(p.stdout, f"up to LSN {last - 1}")
        contains(p.stdout, "torn tail of")
        p = run("truncate", d, check_rc=0)
        contains(p.stdout, f"zero-filled {path} from offset {off} back to its {J.seg_size} bytes "
                           f"(it was {J.seg_size - off - 13} bytes short)")
        contains(p.stdout, f"now ends cleanly at LSN {last - 1}")
        now = open(path, "rb").read()
        expect(len(now) == J.seg_size, f"truncate should give the segment its size back: {len(now)} != {J.seg_size}")
        expect(now[:off] == orig[:off] and now[off:] == bytes(J.seg_size - off), "the data kept, zeros after it")
        p = run("verify", d, check_rc=0)
        contains(p.stdout, f"LSN 1..{last - 1},")
        contains(p.stdout, "clean:")
        # cut after the end of the data: no record lost, the file still has to get its size back
        d = os.path.join(tmp, "short-zeros")
        copy_journal(good, d)
        path = os.path.join(d, os.path.basename(seg))
        size = (J.off + PAGE) // PAGE * PAGE + 100
        expect(size < J.seg_size, "room for a cut after the data")
        cut(path, size)
        p = run("verify", d, check_rc=1)
        contains(p.stdout, f"TORN TAIL: {path} is {J.seg_size - size} bytes short of its {J.seg_size}")
        contains(p.stdout, f"the data ends at offset {J.off}, after LSN {last}")
        p = run("truncate", d, check_rc=0)
        contains(p.stdout, f"now ends cleanly at LSN {last}")
        expect(open(path, "rb").read() == orig, "truncate should restore the segment as it was")
        p = run("verify", d, check_rc=0)
        contains(p.stdout, f"LSN 1..{last},")

    def older_segment_cut_short_is_corruption():
        d = os.path.join(tmp, "short-older")
        copy_journal(good, d)
        seg = J.segments[1]
        path = os.path.join(d, os.path.basename(seg))
        size = J.seg_size // 2 + 13
        cut(path, size)
        first_lsn = int(os.path.basename(seg)[4:24])
        p = run("verify", d, check_rc=2)
        contains(p.stdout, f"CORRUPT: {path} offset 0, LSN {first_lsn} expected: header segment_size {J.seg_size}, "
                           f"but the file is {size} bytes (only the newest segment may be cut short)")
        contains(p.stdout, f"the records up to LSN {first_lsn - 1} are good")
        p = run("truncate", d, check_rc=2)
        contains(p.stderr, "refusing to truncate")
        expect(os.path.getsize(path) == size, "truncate must not change a corrupt journal")
        p = run("replay", d, check_rc=2)
        contains(p.stdout, f"CORRUPT: {path} offset 0")

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
        p = run("replay", d, check_rc=2)
        contains(p.stdout, f"CORRUPT: {path} offset {off}")
        p = run("stats", d, check_rc=2)
        contains(p.stdout, "CORRUPT")

    def another_major_version_is_refused():
        d = os.path.join(tmp, "major1")
        write_journal(d, steps[:200], major=1)
        for cmd in ("verify", "dump", "stats"):
            p = run(cmd, d, check_rc=4)
            contains(p.stderr, "journal format version 1.0; this build reads 2.x")
        # docs/dadar-journal.md and the usage text say exit 4 for another major version; replay exits 2
        # (it maps the scanner's -EPROTO to "corrupt"): only the refusal and its message are checked here
        p = run("replay", d)
        expect(p.returncode != 0, "replay of a version 1 journal must fail")
        contains(p.stderr, "journal format version 1.0; this build reads 2.x")

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

    check("verify: a clean multi-segment journal with its counts (config records included)", verify_clean)
    check("stats: records, bytes, segments, time range, events by feed and message type", stats_counts)
    check("dump: config records, an add, outputs, a feed position and PADs decoded; --from, --type, --limit",
          dump_lines)
    check("replay (no capacity flag): books equal itchbook.py, summary counters equal bookmodel.py",
          replay_books_and_summary)
    check("replay (no capacity flag) of a journal written with small capacities: books and counters equal "
          "bookmodel.py's with those capacities", replay_small_capacities_from_the_journal)
    check("replay: capacity flags equal to the journal's accepted, conflicting ones refused (exit 3) naming the "
          "key and both values", replay_capacity_flags)
    check("replay: outputs missing at the tail are reported, exit 0", replay_tail_unjournaled)
    check("replay: a changed output is a mismatch at its LSN, exit 2", replay_mismatch)
    check("replay: a wrong cause is a mismatch, a cause at or after the output is one before its cause, exit 2",
          replay_checks_causes)
    check("replay: two shards from the config record, outputs interleaved across shards; one shard: mismatch",
          replay_two_shards_interleaved)
    check("replay: no config record before the events, or one that changes: refused, exit 2",
          replay_needs_the_config_record)
    check("torn tail: verify 1, replay notes it, truncate cuts it, verify 0", torn_tail_verify_truncate)
    check("newest segment cut short: a torn tail (verify 1), truncate restores its size, verify 0",
          newest_segment_cut_short)
    check("older segment cut short: corruption (verify 2), truncate refuses", older_segment_cut_short_is_corruption)
    check("flipped byte: verify 2 names segment, offset and LSN; truncate refuses", flipped_byte_is_corruption)
    check("another major version: verify, dump, stats exit 4 naming both versions; replay refuses",
          another_major_version_is_refused)
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
