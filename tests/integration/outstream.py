"""dadar's output stream, written from docs/wire-formats.md ("Output messages (the output stream)",
"MoldUDP64 (downstream)") and docs/outputs.md ("Released outputs") only: the test oracle, so no code
is shared with dataplane/wire/outwire.c.

- encode(msg) / decode(data): one output message <-> a dict. Header keys are the document's field
  names (type, version, lsn, cause, event_ns, seq, op, feed, rule, rule_version, shard, flags, key,
  symbol); the body is msg["body"], a dict of its own (a decision has a `flags` of its own too).
  `type` is the letter ("B"), `symbol` the text without its padding, `currency` a 3-character str;
  the arrays are lists: alert `measures` (4), matched `refs` (7), window `aggregates` (6), test
  `values` (8).
- ref_message() / ref_window() / ref_fields(): a matched record's ref (u64) from and to its parts.
- matched_problems(msgs): where a stream's 'M' messages do not follow their alerts as the document says.
- problem(data): why a consumer skips a message ("unknown_type", "bad_version", "bad_length"), or None.
- datagram() / heartbeat() / end_of_session() / packetize(): MoldUDP64 downstream datagrams;
  request(): the 20-byte retransmission request; decode_datagram(): (session, seq, count, [messages]).
- frame() / write_pcap() / read_messages(): Ethernet/IPv4/UDP frames in a pcap (pcaplib reads and
  writes them).
- json_fields(msg): the key/value pairs dadar's --output JSON line has for the same output, where the
  mapping is mechanical (names from the rule set are not: patterns, windows, measures, aggregates);
  json_like(want, got): got has what want says (dicts compared on want's keys, at every depth).

Run it to self-test: python3 tests/integration/outstream.py
"""
import os
import struct
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcaplib  # noqa: E402  (MoldUDP64 framing, frames and pcap files)

VERSION = 1
HDR_LEN = 56
STREAM_PORT = 26490         # the dissector's default mold64.output_ports; requests go to port + 1
STREAM_GROUP = "239.192.26.49"
MOLD_EOS = pcaplib.MOLD_EOS

# Common header: (key, offset, struct format). "8s" is the symbol, "c" the type letter.
HEADER = [("type", 0, "c"), ("version", 1, "B"), ("lsn", 2, "Q"), ("cause", 10, "Q"), ("event_ns", 18, "Q"),
          ("seq", 26, "Q"), ("op", 34, "B"), ("feed", 35, "B"), ("rule", 36, "H"), ("rule_version", 38, "H"),
          ("shard", 40, "H"), ("flags", 42, "H"), ("key", 44, "I"), ("symbol", 48, "8s")]

# Bodies: (key, offset from 56, struct format); a format with a repeat count ("4q") is a list.
BODY = {
    "B": [("bid_price", 0, "I"), ("ask_price", 4, "I"), ("bid_shares", 8, "Q"), ("ask_shares", 16, "Q"),
          ("bid_orders", 24, "I"), ("ask_orders", 28, "I"), ("locate", 32, "H")],
    "D": [("txn_id", 0, "Q"), ("payer", 8, "Q"), ("amount", 16, "q"), ("merchant", 24, "Q"), ("device", 32, "Q"),
          ("reasons", 40, "I"), ("score", 44, "H"), ("action", 46, "B"), ("flags", 47, "B"), ("mcc", 48, "H"),
          ("currency", 50, "3s")],
    "A": [("first_ns", 0, "Q"), ("last_ns", 8, "Q"), ("measures", 16, "4q"), ("first_seq", 48, "Q"),
          ("events", 56, "I"), ("measure_count", 60, "B"), ("null_mask", 61, "B"), ("timeout", 62, "B"),
          ("first_feed", 63, "B")],
    "M": [("refs", 0, "7Q"), ("n", 56, "B"), ("part", 57, "B"), ("parts", 58, "B")],
    "W": [("start", 0, "Q"), ("end", 8, "Q"), ("aggregates", 16, "6q")],
    "L": [("window_end", 0, "Q"), ("watermark", 8, "Q"), ("time", 16, "Q"), ("window_index", 24, "B")],
    "T": [("values", 0, "8Q")],
}
LENGTH = {"B": 90, "D": 109, "A": 120, "M": 115, "W": 120, "L": 81, "T": 120}
TYPE_NAME = {"B": "bbo", "D": "decision", "A": "alert", "M": "matched", "W": "window", "L": "late", "T": "test"}
SYMBOL_TYPES = "AMWL"       # the others carry 8 zero bytes
MATCHED_REFS = 7            # refs in one 'M' message; an alert's flags say how many it lists in all
OP_NAME = {1: "book", 2: "fraud", 3: "window", 4: "cep", 200: "test_multi", 201: "test_timer"}
ACTION_NAME = {0: "approve", 1: "verify", 2: "review", 3: "block"}
DECISION_FLAG = {1: "out_of_order", 2: "invalid", 4: "no_payer_state", 8: "late"}
# Bit i of a decision's reasons is reason code i (docs/rules.md, "Reason codes").
REASON_CODES = ["velocity_hour_amount", "velocity_hour_count", "velocity_day_amount", "repeated_amount",
                "round_amount", "below_limit", "structuring", "late_night_large", "new_device",
                "new_device_large", "shared_device", "impossible_travel", "fast_travel", "high_risk_area",
                "merchant_high_risk", "merchant_medium_risk", "new_merchant", "merchant_category",
                "amount_zscore", "model_score", "invalid"]


def _count(fmt):
    """(repeat count or None, element format) of a layout format."""
    return (int(fmt[:-1]), fmt[-1]) if fmt[:-1].isdigit() and fmt[-1] != "s" else (None, fmt)


def layout(t):
    """Every field of type t as (key, offset in the message, width, element format, index or None)."""
    out = []
    for key, off, fmt in HEADER + [(k, HDR_LEN + o, f) for k, o, f in BODY[t]]:
        n, ef = _count(fmt)
        w = struct.calcsize(">" + ef)
        if n is None:
            out.append((key, off, w, ef, None))
        else:
            out.extend((key, off + i * w, w, ef, i) for i in range(n))
    return out


# ---- a matched record's ref (docs/wire-formats.md, "Matched records") -----------------------------

REF_WINDOW, REF_LATE, REF_LOW = 1 << 63, 1 << 62, (1 << 56) - 1


def ref_message(feed, seq):
    """The ref of a message: bit 63 clear, the feed in bits 56..62, its sequence number in 0..55 (0 when
    it does not fit)."""
    return (feed & 0x7F) << 56 | (seq if seq <= REF_LOW else 0)


def ref_window(index, late, end):
    """The ref of a window's result: bit 63 set, bit 62 a late firing, the window's index in bits
    56..61, its end in 0..55 (0 when it does not fit)."""
    return REF_WINDOW | (REF_LATE if late else 0) | (index & 0x3F) << 56 | (end if end <= REF_LOW else 0)


def ref_fields(ref):
    """A ref's parts: {"feed", "seq"} for a message, {"window_index", "end", "late"} for a window's result."""
    if ref & REF_WINDOW:
        return {"window_index": ref >> 56 & 0x3F, "end": ref & REF_LOW, "late": bool(ref & REF_LATE)}
    return {"feed": ref >> 56 & 0x7F, "seq": ref & REF_LOW}


# ---- one message ---------------------------------------------------------------------------------

def encode(msg):
    """The bytes of one output message. Missing body keys are 0; version defaults to 1."""
    t = msg["type"]
    buf = bytearray(LENGTH[t])
    body = msg.get("body", {})
    sym = msg.get("symbol", "").encode("ascii")
    if t in SYMBOL_TYPES:
        sym = sym.ljust(8, b" ")
    elif sym:
        raise ValueError(f"a {TYPE_NAME[t]} message carries no symbol (got {msg['symbol']!r})")
    hdr = dict(msg, type=t.encode(), version=msg.get("version", VERSION), symbol=sym.ljust(8, b"\0"))
    for key, off, fmt in HEADER:
        struct.pack_into(">" + fmt, buf, off, hdr.get(key, 0))
    for key, off, fmt in BODY[t]:
        v = body.get(key, 0)
        n, ef = _count(fmt)
        if key == "currency":
            v = (v or "").encode("latin-1")
        if n is None:
            struct.pack_into(">" + fmt, buf, HDR_LEN + off, v)
        else:
            v = list(v) if v else [0] * n
            if len(v) != n:
                raise ValueError(f"{key}: {n} values, got {len(v)}")
            struct.pack_into(">" + fmt, buf, HDR_LEN + off, *v)
    return bytes(buf)


def problem(data):
    """Why a consumer skips this message, or None. Type first (it fixes the length), then version."""
    if not data or chr(data[0]) not in LENGTH:
        return "bad_length" if not data else "unknown_type"
    if len(data) >= 2 and data[1] != VERSION:
        return "bad_version"
    if len(data) != LENGTH[chr(data[0])]:
        return "bad_length"
    return None


def decode(data):
    """The dict of one output message; ValueError naming the problem if a consumer would skip it."""
    why = problem(data)
    if why:
        raise ValueError(f"{why}: {data[:2].hex()}.. ({len(data)} bytes)")
    t = chr(data[0])
    msg = {}
    for key, off, fmt in HEADER:
        (msg[key],) = struct.unpack_from(">" + fmt, data, off)
    msg["type"] = t
    msg["symbol"] = msg["symbol"].rstrip(b" " if t in SYMBOL_TYPES else b"\0").decode("latin-1")
    body = msg["body"] = {}
    for key, off, fmt in BODY[t]:
        n, _ef = _count(fmt)
        v = struct.unpack_from(">" + fmt, data, HDR_LEN + off)
        body[key] = list(v) if n else v[0]
    if t == "D":
        body["currency"] = body["currency"].decode("latin-1")
    return msg


def matched_problems(msgs):
    """What breaks the rule of docs/wire-formats.md ("Matched records") in a stream of decoded messages
    (dicts, in stream order): an alert whose flags are n > 0 is followed, among its shard's messages,
    by ceil(n / 7) 'M' messages, parts 0, 1, ... of that many, 7 refs each and the rest in the last,
    each with the alert's header (flags 0). Returns the problems found (at most 20)."""
    out, want = [], {}  # shard -> (alert's index, alert, parts still to come)
    same = ("op", "rule", "rule_version", "shard", "key", "symbol", "cause", "feed", "seq", "event_ns")
    for i, m in enumerate(msgs):
        if isinstance(m, bytes):
            continue
        t, sh = m["type"], m["shard"]
        if sh in want and want[sh][2]:
            ai, a, left = want[sh]
            n = a["flags"]
            parts = -(-n // MATCHED_REFS)
            k = parts - len(left)
            b = m["body"]
            if t != "M":
                out.append(f"message {i + 1} ({t}): part {k} of the alert at {ai + 1} expected")
                want.pop(sh)
            else:
                nk = min(MATCHED_REFS, n - k * MATCHED_REFS)
                if (b["part"], b["parts"], b["n"]) != (k, parts, nk):
                    out.append(f"message {i + 1}: part {b['part']} of {b['parts']} with {b['n']} refs, expected "
                               f"part {k} of {parts} with {nk} (the alert at {ai + 1} lists {n})")
                if any(b["refs"][nk:]):
                    out.append(f"message {i + 1}: refs past its {nk} not 0")
                diff = [f for f in same if m[f] != a[f]] + (["flags"] if m["flags"] else [])
                if diff:
                    out.append(f"message {i + 1}: header {diff} differs from its alert's (at {ai + 1})")
                left.pop()
                continue
        if t == "M":
            out.append(f"message {i + 1}: an 'M' that follows no alert of shard {sh} needing one")
        elif t == "A" and m["flags"]:
            want[sh] = (i, m, [None] * -(-m["flags"] // MATCHED_REFS))
    out += [f"the alert at {ai + 1} (shard {sh}) lacks {len(left)} of its parts at the end"
            for sh, (ai, _a, left) in want.items() if left]
    return out[:20]


# ---- MoldUDP64 -----------------------------------------------------------------------------------

def session_name(s):
    return s.decode("latin-1").rstrip(" ") if isinstance(s, bytes) else s


def datagram(session, seq, msgs):
    """A downstream datagram: `msgs` are dicts (encoded here) or bytes (as they are)."""
    return pcaplib.mold(seq, [m if isinstance(m, bytes) else encode(m) for m in msgs], session=session)


def heartbeat(session, next_seq):
    return pcaplib.heartbeat(next_seq, session=session)


def end_of_session(session, next_seq):
    return pcaplib.end_of_session(next_seq, session=session)


def request(session, seq, count):
    """MoldUDP64's 20-byte retransmission request."""
    return pcaplib.session_bytes(session) + struct.pack(">QH", seq, count)


def packetize(session, first_seq, msgs, mtu=1400):
    """Datagrams of at most `mtu` bytes of UDP payload holding `msgs` in order, from first_seq on."""
    out, cur, size, seq = [], [], pcaplib.MOLD_HDR, first_seq
    for m in (m if isinstance(m, bytes) else encode(m) for m in msgs):
        if cur and size + 2 + len(m) > mtu:
            out.append(datagram(session, seq, cur))
            seq += len(cur)
            cur, size = [], pcaplib.MOLD_HDR
        cur.append(m)
        size += 2 + len(m)
    if cur:
        out.append(datagram(session, seq, cur))
    return out


def decode_datagram(p, strict=True):
    """(session, seq, count, [messages]) of a downstream datagram; messages are dicts (strict=False:
    a message a consumer would skip stays bytes). ValueError if the framing does not add up."""
    err, d = pcaplib.mold_parse(p)
    if err:
        raise ValueError(f"MoldUDP64 datagram dropped: mold_{err}")
    session, seq, count, raw = d
    msgs = [decode(m) if strict or problem(m) is None else m for m in raw]
    return session_name(session), seq, count, msgs


# ---- frames and pcap -------------------------------------------------------------------------------

SENDER = "192.0.2.1"


def frame(payload, dport=STREAM_PORT, sport=None, src=SENDER, dst=STREAM_GROUP):
    """An Ethernet/IPv4/UDP frame (sport defaults to dport), zero padded to 60 bytes."""
    d = pcaplib.ip_bytes(dst)
    mac = pcaplib.multicast_mac(dst) if 224 <= d[0] <= 239 else bytes.fromhex("02000000") + d[2:]
    f = pcaplib.eth(pcaplib.ipv4(pcaplib.udp(payload, src, dst, sport or dport, dport), src=src, dst=dst), dst=mac)
    return f + b"\0" * max(0, 60 - len(f))


def write_pcap(path, frames):
    """A nanosecond pcap of `frames` (from frame()), 1 µs apart."""
    pcaplib.write_pcap(path, frames)


def udp_ports(f):
    """(source port, destination port, payload) of an Ethernet/IPv4/UDP frame, else None."""
    v, view = pcaplib.frame_verdict(f, check_ip=False)
    if v != "udp":
        return None
    off = 12
    while struct.unpack_from(">H", f, off)[0] in (pcaplib.ETH_VLAN, pcaplib.ETH_QINQ):
        off += 4
    off += 2 + (f[off + 2] & 15) * 4
    return struct.unpack_from(">H", f, off)[0], view[1], view[2]


def read_messages(path, port=STREAM_PORT):
    """[(seq, message)] of every downstream datagram of a pcap to or from `port`, or from port + 1 (the
    answers to retransmission requests); messages a consumer would skip stay bytes."""
    out = []
    for _t, f in pcaplib.read_pcap(path):
        u = udp_ports(f)
        if u is None or u[1] == port + 1 or (u[1] != port and u[0] not in (port, port + 1)):
            continue
        _s, seq, count, msgs = decode_datagram(u[2], strict=False)
        if count not in (0, MOLD_EOS):
            out.extend((seq + i, m) for i, m in enumerate(msgs))
    return out


# ---- the --output JSON line -------------------------------------------------------------------------

def price4(v):
    return f"{v // 10000}.{v % 10000:04d}"


def json_fields(msg):
    """The key/value pairs of dadar's --output JSON line (docs/outputs.md) for the same output, where the
    mapping is mechanical: not the names the rule set gives (pattern, window, measures, aggregates) nor
    a decision's reasons list (only reasons with a non-zero score are listed)."""
    t, b = msg["type"], msg["body"]
    j = {"lsn": msg["lsn"], "type": TYPE_NAME[t], "op": OP_NAME.get(msg["op"], msg["op"]), "rule": msg["rule"],
         "rule_version": msg["rule_version"], "shard": msg["shard"], "cause": msg["cause"], "feed": msg["feed"],
         "seq": msg["seq"], "event_ns": msg["event_ns"]}
    if t == "B":
        j.update(locate=b["locate"], bid=price4(b["bid_price"]), bid_shares=b["bid_shares"],
                 bid_orders=b["bid_orders"], ask=price4(b["ask_price"]), ask_shares=b["ask_shares"],
                 ask_orders=b["ask_orders"])
    elif t == "D":
        j.update(txn_id=b["txn_id"], payer=b["payer"], amount=b["amount"],
                 currency="".join(c if "A" <= c <= "Z" else "?" for c in b["currency"]), merchant=b["merchant"],
                 device=b["device"], mcc=b["mcc"], score=b["score"], action=ACTION_NAME.get(b["action"]),
                 rules=msg["rule_version"], out_of_order=bool(b["flags"] & 1))
    elif t == "A":
        j.update(symbol=msg["symbol"], first_ns=b["first_ns"], last_ns=b["last_ns"], events=b["events"],
                 timeout=bool(b["timeout"]), first_feed=b["first_feed"], first_seq=b["first_seq"],
                 refs=msg["flags"])
    elif t == "M":  # a window's result without its name (the rule set's): its end and lateness
        matched = []
        for r in b["refs"][:min(b["n"], MATCHED_REFS)]:
            f = ref_fields(r)
            matched.append({"end": f["end"], "late": f["late"]} if r & REF_WINDOW else f)
        j.update(symbol=msg["symbol"], part=b["part"], parts=b["parts"], matched=matched)
    elif t == "W":
        j.update(symbol=msg["symbol"], start=b["start"], end=b["end"], late=bool(msg["flags"] & 1))
    elif t == "L":
        j.update(symbol=msg["symbol"], time=b["time"], window_end=b["window_end"], watermark=b["watermark"])
    elif t == "T":
        j.update(key=msg["key"], v=b["values"][:5])
    return j


def json_like(want, got):
    """Does `got` (a parsed JSON line, or part of one) hold what `want` (json_fields') says? Dicts are
    compared on want's keys, lists element by element, everything else by value."""
    if isinstance(want, dict):
        return isinstance(got, dict) and all(k in got and json_like(v, got[k]) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(map(json_like, want, got))
    if isinstance(want, bool) or isinstance(got, bool):  # JSON's true is not 1
        return type(want) is type(got) and want == got
    return want == got


# ---- self-test ---------------------------------------------------------------------------------------

U64, I64_MIN = 2**64 - 1, -2**63


def samples():
    """One message of each type, with values that make a wrong offset or width show."""
    h = dict(version=1, lsn=0x0102030405060708, cause=7, event_ns=34_200_000_000_001, seq=9, op=1, feed=2,
             rule=0x0A0B, rule_version=3, shard=0x0C0D, flags=0, key=0x11223344, symbol="")
    return [
        dict(h, type="B", body=dict(bid_price=53167, ask_price=53200, bid_shares=1000, ask_shares=U64,
                                    bid_orders=1, ask_orders=2, locate=0xBEEF)),
        dict(h, type="D", op=2, body=dict(txn_id=1012, payer=10000101, amount=-999900, merchant=0, device=20000101,
                                          reasons=0x60, score=80, action=3, flags=1, mcc=5411, currency="INR")),
        dict(h, type="A", op=4, symbol="SPOF", body=dict(first_ns=1, last_ns=2, measures=[80000, I64_MIN, -1, 0],
                                                          first_seq=17044, events=2, measure_count=3, null_mask=2,
                                                          timeout=1, first_feed=0xFE)),
        dict(h, type="M", op=4, symbol="SPOF", body=dict(refs=[ref_message(2, 17044), ref_window(5, True, 20),
                                                               ref_message(127, REF_LOW), 0, 0, 0, 0],
                                                          n=3, part=1, parts=2)),
        dict(h, type="W", op=3, flags=1, symbol="AAPL", body=dict(start=10, end=20, aggregates=[1, -2, 3, -4, 5, -6])),
        dict(h, type="L", op=3, symbol="", body=dict(window_end=20, watermark=30, time=5, window_index=0xFF)),
        dict(h, type="T", op=200, body=dict(values=[0, 1, 2, 3, 4, 5, 6, U64])),
    ]


def selftest():
    """Round trips and hand-computed byte offsets; returns the failures (what was checked)."""
    fails = []

    def check(ok, what):
        if not ok:
            fails.append(what)

    for t in LENGTH:  # each layout covers its message exactly, no gap, no overlap
        pos = 0
        for off, w in sorted((off, w) for _k, off, w, _f, _i in layout(t)):
            check(off == pos, f"{t}: a field at {off}, expected {pos}")
            pos = off + w
        check(pos == LENGTH[t], f"{t}: fields end at {pos}, the message at {LENGTH[t]}")
    msgs = samples()
    for m in msgs:
        b = encode(m)
        check(len(b) == LENGTH[m["type"]] and decode(b) == m and encode(decode(b)) == b, f"{m['type']} round trip")
    bbo, dec, alert, matched, win, late, test = (encode(m) for m in msgs)
    # hand-computed offsets (docs/wire-formats.md)
    check(bbo[0:2] == b"B\x01" and bbo[2:10] == bytes.fromhex("0102030405060708"), "type, version, lsn @0..9")
    check(bbo[36:38] == b"\x0a\x0b" and bbo[40:42] == b"\x0c\x0d" and bbo[44:48] == b"\x11\x22\x33\x44",
          "rule @36, shard @40, key @44")
    check(bbo[48:56] == b"\0" * 8 and late[48:56] == b" " * 8 and alert[48:56] == b"SPOF    ",
          "symbol @48: zeros for bbo, space padded for late and alert")
    check(bbo[56:60] == (53167).to_bytes(4, "big") and bbo[72:80] == b"\xff" * 8 and bbo[88:90] == b"\xbe\xef",
          "bbo bid price @56, ask shares @72, locate @88")
    check(dec[72:80] == (-999900).to_bytes(8, "big", signed=True) and dec[96:100] == b"\0\0\0\x60",
          "decision amount @72 (two's complement), reasons @96")
    check(dec[102] == 3 and dec[103] == 1 and dec[106:109] == b"INR", "decision action @102, flags @103, currency @106")
    check(alert[80:88] == b"\x80" + b"\0" * 7 and alert[116:120] == bytes([3, 2, 1, 0xFE]),
          "alert measure 1 @80, measure count, null mask, timeout, first feed @116..119")
    check(win[42:44] == b"\0\x01" and win[112:120] == (-6).to_bytes(8, "big", signed=True),
          "window flags @42, aggregate 5 @112")
    check(late[80] == 0xFF and len(late) == 81 and test[112:120] == b"\xff" * 8,
          "late window index @80, test v[7] @112")
    check(matched[48:56] == b"SPOF    " and matched[56:64] == bytes.fromhex("0200000000004294") and
          matched[64:72] == bytes.fromhex("c500000000000014") and matched[72:80] == b"\x7f" + b"\xff" * 7 and
          matched[80:112] == b"\0" * 32 and matched[112:115] == b"\x03\x01\x02" and len(matched) == 115,
          "matched symbol @48, refs @56.. (feed 2 seq 17044; window 5 late end 20; feed 127), n, part, parts @112")
    check(ref_window(63, False, 2**56) == 0xBF00000000000000 and ref_message(128, 2**56) == 0 and
          ref_fields(0xFFFFFFFFFFFFFFFF) == {"window_index": 63, "end": REF_LOW, "late": True} and
          ref_fields(0x7F00000000000001) == {"feed": 127, "seq": 1}, "refs: bits, and parts past their width")
    for bad, why in ((b"", "bad_length"), (b"Z" + bbo[1:], "unknown_type"), (b"B\x02" + bbo[2:], "bad_version"),
                     (bbo[:89], "bad_length"), (bbo + b"\0", "bad_length")):
        check(problem(bad) == why, f"{bad[:2]!r}.. ({len(bad)} bytes) is {problem(bad)}, expected {why}")
    # 'M' messages after their alerts, per shard
    a9 = dict(msgs[2], flags=9)
    m0 = dict(msgs[3], body=dict(msgs[3]["body"], n=7, part=0, parts=2, refs=list(range(1, 8))))
    m1 = dict(msgs[3], body=dict(msgs[3]["body"], n=2, part=1, parts=2, refs=[8, 9, 0, 0, 0, 0, 0]))
    other = dict(msgs[0], shard=msgs[0]["shard"] + 1)
    check(matched_problems([msgs[0], a9, m0, other, m1, msgs[4]]) == [], "matched_problems: a good stream")
    check(len(matched_problems([a9, m0, msgs[0]])) == 1 and len(matched_problems([a9, m1, m0])) == 3 and
          len(matched_problems([msgs[3]])) == 1 and len(matched_problems([a9, m0])) == 1 and
          len(matched_problems([a9, dict(m0, seq=1), m1])) == 1, "matched_problems: each kind of break")
    # MoldUDP64: framing, packetizing, requests
    d = datagram("1773131400", 1, msgs)
    check(d[:10] == b"1773131400" and d[10:20] == b"\0" * 7 + b"\x01\0\x07" and d[20:22] == b"\0\x5a",
          "datagram header and the first length prefix (90)")
    check(decode_datagram(d) == ("1773131400", 1, len(msgs), msgs), "datagram round trip")
    check(decode_datagram(heartbeat("S", 7)) == ("S", 7, 0, []), "heartbeat")
    check(decode_datagram(end_of_session("S", 7)) == ("S", 7, MOLD_EOS, []), "end of session")
    check(request("1773131400", 5, 3) == b"1773131400" + b"\0" * 7 + b"\x05\0\x03", "request")
    ds = packetize("S", 1, msgs * 20, mtu=400)
    seqs = [decode_datagram(x)[1] for x in ds]
    counts = [decode_datagram(x)[2] for x in ds]
    check(all(len(x) <= 400 for x in ds) and len(ds) > 1, "packetize: datagrams of at most mtu bytes")
    check([m for x in ds for m in decode_datagram(x)[3]] == msgs * 20
          and seqs == [1 + sum(counts[:i]) for i in range(len(ds))], "packetize: every message, contiguous numbers")
    # a capture: the stream, a request to port + 1 and its answer from there
    client = "192.0.2.9"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "out.pcap")
        write_pcap(path, [frame(x) for x in ds] +
                   [frame(request("S", 2, 1), STREAM_PORT + 1, 40000, client, SENDER),
                    frame(datagram("S", 2, msgs[1:2]), 40000, STREAM_PORT + 1, SENDER, client)])
        got = read_messages(path)
    check(got == list(enumerate(msgs * 20, 1)) + [(2, msgs[1])], "pcap round trip (with a retransmission)")
    check(udp_ports(frame(b"x", 26491, 40000))[:2] == (40000, 26491), "frame ports")
    # JSON lines (docs/outputs.md)
    j = [json_fields(m) for m in msgs]
    check(j[0]["bid"] == "5.3167" and j[0]["ask"] == "5.3200" and j[0]["ask_shares"] == U64, "json bbo")
    check((j[1]["type"], j[1]["op"], j[1]["action"], j[1]["out_of_order"], j[1]["amount"]) ==
          ("decision", "fraud", "block", True, -999900), "json decision")
    check(j[2]["symbol"] == "SPOF" and j[2]["timeout"] is True and j[2]["refs"] == 0 and j[4]["late"] is True
          and j[5]["symbol"] == "", "json alert, window, late")
    check((j[3]["type"], j[3]["symbol"], j[3]["part"], j[3]["parts"]) == ("matched", "SPOF", 1, 2) and
          j[3]["matched"] == [{"feed": 2, "seq": 17044}, {"end": 20, "late": True}, {"feed": 127, "seq": REF_LOW}],
          "json matched: the listed refs only, a window's without its name")
    check(j[6]["v"] == [0, 1, 2, 3, 4] and j[6]["key"] == 0x11223344, "json test")
    line = dict(j[3], matched=[{"feed": 2, "seq": 17044}, {"window": "w", "end": 20, "late": True},
                               {"feed": 127, "seq": REF_LOW}])
    check(json_like(j[3], line) and not json_like(j[3], dict(line, matched=line["matched"][:2])) and
          not json_like(j[4], dict(j[4], late=1)) and not json_like({"a": [{"b": 1}]}, {"a": [{"b": 2}]}),
          "json_like: a line with more keys (a window's name) is like, one with other values is not")
    return fails


if __name__ == "__main__":
    failures = selftest()
    for f in failures:
        print(f"outstream: FAIL {f}")
    print(f"outstream: self-test {'failed' if failures else 'passed'}")
    sys.exit(1 if failures else 0)
