#!/usr/bin/env python3
"""The Wireshark dissector tools/wireshark/dadar.lua (mold64, itch50, dadarpay, dadarout) under tshark,
against captures dadar-gen writes and a few crafted here, every field of every message compared with an
independent decode.

The expectations do not come from the dissector: each frame is decoded here with struct from the
specifications (pcap, Ethernet, IPv4, UDP, MoldUDP64, NASDAQ TotalView-ITCH 5.0, and dadar's 73-byte
payment message of docs/wire-formats.md; dadar's output messages by outstream.py, written from the same
document), and payments are also compared with the CSV dadar-gen wrote for them. tshark's PDML gives
each field's value, position, size and label, so the test checks:

- MoldUDP64: session, sequence number, count, next sequence number, heartbeat / end of session, every
  message block's length and its own sequence number (sequence + index); for a datagram whose framing
  does not add up, exactly the expert naming the reason dadar drops it (mold_short, mold_msg_overrun,
  ...), with what is present still decoded.
- ITCH 5.0: every field of every message (23 types), at its offset and width, prices as 4 (or 8)
  decimals, timestamps as a time of day; a wrong length or an unknown type gets its expert.
- Payments: every field against the CSV (txn_id, time_ns, payer, payee, merchant, amount_minor,
  currency, mcc, channel, type, device, lat_e6, lon_e6), the amount in major units with its currency,
  latitude and longitude in degrees, and the invalid payments dadar blocks.
- Output messages (outstream.py writes the capture): every field of every type (bbo, decision, alert,
  matched, window, late, test) with edge values, prices with 4 decimals, amounts, measures, reason bits
  and each matched record's ref with its parts (a message's feed and sequence number, a window's
  index, end and lateness); each kind of message a consumer skips with its expert; heartbeats, end of
  session, retransmission requests (good and bad) to the output port + 1 and an answer from there;
  then the message tshark shows for each sequence number against the expected list
  (check_output_pcap: give it any capture of the output stream and the messages it must hold).
- Ports: 26477, 26480 and 26490 (outputs; requests to 26491) by preference, any other port by the
  heuristic (and only when the framing adds up), the preferences mold64.itch_ports,
  mold64.payment_port and mold64.output_ports.

Wireshark has built-in moldudp64 and nasdaq_itch dissectors (no default ports); they are disabled with
--disable-protocol so nothing else can claim the datagrams. tshark runs with HOME pointing to a scratch
directory, so neither the user's preferences nor an installed copy of dadar.lua take part.

usage: dissector_test.py [BUILD_DIR]   (default: $B, else build/ under the repository)

Prints PASS/FAIL per check; exits 0 if every check passed, 1 if any failed, 77 (loudly) if tshark is
not installed or has no Lua. Scratch files go to a temporary directory, removed at the end (kept, and
named, when a check failed).
"""
import datetime
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import pcaplib  # noqa: E402  (frames and MoldUDP64 framing from the specifications, shared by the tests)
import outstream  # noqa: E402  (dadar's output messages, from docs/wire-formats.md)

BUILD = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("B", "build")
BUILD = BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD)
GEN = os.path.join(BUILD, "dadar-gen")
LUA = os.path.join(ROOT, "tools", "wireshark", "dadar.lua")
SAMPLE = os.path.join(ROOT, "tests", "data", "itch", "ex20101224.TEST_ITCH_50.fixed")

ITCH_PORT, PAY_PORT, OUT_PORT = 26477, 26480, outstream.STREAM_PORT
MOLD_EOS = 0xFFFF

# ---- ITCH 5.0, from NASDAQ's specification ----------------------------------------------------
# kinds: c alpha(1), a alpha(n), u unsigned integer, p4 price (4 decimals), p8 price (8 decimals),
# ts timestamp (ns since midnight), tsec seconds since midnight
HDR = [("message_type", 0, 1, "c"), ("stock_locate", 1, 2, "u"), ("tracking_number", 3, 2, "u"),
       ("timestamp", 5, 6, "ts")]
ADD = [("order_reference_number", 11, 8, "u"), ("buy_sell_indicator", 19, 1, "c"), ("shares", 20, 4, "u"),
       ("stock", 24, 8, "a"), ("price", 32, 4, "p4")]
ITCH = {
    "S": (12, [("event_code", 11, 1, "c")]),
    "R": (39, [("stock", 11, 8, "a"), ("market_category", 19, 1, "c"), ("financial_status_indicator", 20, 1, "c"),
               ("round_lot_size", 21, 4, "u"), ("round_lots_only", 25, 1, "c"), ("issue_classification", 26, 1, "c"),
               ("issue_subtype", 27, 2, "a"), ("authenticity", 29, 1, "c"),
               ("short_sale_threshold_indicator", 30, 1, "c"), ("ipo_flag", 31, 1, "c"),
               ("luld_reference_price_tier", 32, 1, "c"), ("etp_flag", 33, 1, "c"),
               ("etp_leverage_factor", 34, 4, "u"), ("inverse_indicator", 38, 1, "c")]),
    "H": (25, [("stock", 11, 8, "a"), ("trading_state", 19, 1, "c"), ("reserved", 20, 1, "c"), ("reason", 21, 4, "a")]),
    "Y": (20, [("stock", 11, 8, "a"), ("reg_sho_action", 19, 1, "c")]),
    "L": (26, [("mpid", 11, 4, "a"), ("stock", 15, 8, "a"), ("primary_market_maker", 23, 1, "c"),
               ("market_maker_mode", 24, 1, "c"), ("market_participant_state", 25, 1, "c")]),
    "V": (35, [("level_1", 11, 8, "p8"), ("level_2", 19, 8, "p8"), ("level_3", 27, 8, "p8")]),
    "W": (12, [("breached_level", 11, 1, "c")]),
    "K": (28, [("stock", 11, 8, "a"), ("ipo_quotation_release_time", 19, 4, "tsec"),
               ("ipo_quotation_release_qualifier", 23, 1, "c"), ("ipo_price", 24, 4, "p4")]),
    "J": (35, [("stock", 11, 8, "a"), ("auction_collar_reference_price", 19, 4, "p4"),
               ("upper_auction_collar_price", 23, 4, "p4"), ("lower_auction_collar_price", 27, 4, "p4"),
               ("auction_collar_extension", 31, 4, "u")]),
    "h": (21, [("stock", 11, 8, "a"), ("market_code", 19, 1, "c"), ("operational_halt_action", 20, 1, "c")]),
    "A": (36, ADD),
    "F": (40, ADD + [("attribution", 36, 4, "a")]),
    "E": (31, [("order_reference_number", 11, 8, "u"), ("executed_shares", 19, 4, "u"), ("match_number", 23, 8, "u")]),
    "C": (36, [("order_reference_number", 11, 8, "u"), ("executed_shares", 19, 4, "u"), ("match_number", 23, 8, "u"),
               ("printable", 31, 1, "c"), ("execution_price", 32, 4, "p4")]),
    "X": (23, [("order_reference_number", 11, 8, "u"), ("cancelled_shares", 19, 4, "u")]),
    "D": (19, [("order_reference_number", 11, 8, "u")]),
    "U": (35, [("original_order_reference_number", 11, 8, "u"), ("new_order_reference_number", 19, 8, "u"),
               ("shares", 27, 4, "u"), ("price", 31, 4, "p4")]),
    "P": (44, ADD + [("match_number", 36, 8, "u")]),
    "Q": (40, [("cross_shares", 11, 8, "u"), ("stock", 19, 8, "a"), ("cross_price", 27, 4, "p4"),
               ("match_number", 31, 8, "u"), ("cross_type", 39, 1, "c")]),
    "B": (19, [("match_number", 11, 8, "u")]),
    "I": (50, [("paired_shares", 11, 8, "u"), ("imbalance_shares", 19, 8, "u"), ("imbalance_direction", 27, 1, "c"),
               ("stock", 28, 8, "a"), ("far_price", 36, 4, "p4"), ("near_price", 40, 4, "p4"),
               ("current_reference_price", 44, 4, "p4"), ("cross_type", 48, 1, "c"),
               ("price_variation_indicator", 49, 1, "c")]),
    "N": (20, [("stock", 11, 8, "a"), ("interest_flag", 19, 1, "c")]),
    "O": (48, [("stock", 11, 8, "a"), ("open_eligibility_status", 19, 1, "c"), ("minimum_allowable_price", 20, 4, "p4"),
               ("maximum_allowable_price", 24, 4, "p4"), ("near_execution_price", 28, 4, "p4"),
               ("near_execution_time", 32, 8, "u"), ("lower_price_range_collar", 40, 4, "p4"),
               ("upper_price_range_collar", 44, 4, "p4")]),
}
# Labels of the fields whose display is formatted (prices, times): the specification's names.
LABEL = {
    "timestamp": "Timestamp", "level_1": "Level 1", "level_2": "Level 2", "level_3": "Level 3",
    "ipo_quotation_release_time": "IPO Quotation Release Time", "ipo_price": "IPO Price",
    "auction_collar_reference_price": "Auction Collar Reference Price",
    "upper_auction_collar_price": "Upper Auction Collar Price", "lower_auction_collar_price": "Lower Auction Collar Price",
    "price": "Price", "execution_price": "Execution Price", "cross_price": "Cross Price", "far_price": "Far Price",
    "near_price": "Near Price", "current_reference_price": "Current Reference Price",
    "minimum_allowable_price": "Minimum Allowable Price", "maximum_allowable_price": "Maximum Allowable Price",
    "near_execution_price": "Near Execution Price", "lower_price_range_collar": "Lower Price Range Collar",
    "upper_price_range_collar": "Upper Price Range Collar",
}
ITCH_FIELDS = {"itch50." + f[0] for _l, fl in ITCH.values() for f in HDR + fl} | {"itch50.data", "itch50.extra_bytes"}

# ---- payments (docs/wire-formats.md) -------------------------------------------------------------
PAY = struct.Struct(">ccQQQQQq3sHccQii")
PAY_FIELDS = [("type", 0, 1), ("version", 1, 1), ("event_time", 2, 8), ("event_ns", 2, 8), ("txn_id", 10, 8),
              ("payer", 18, 8), ("payee", 26, 8), ("merchant", 34, 8), ("amount", 42, 8), ("currency", 50, 3),
              ("mcc", 53, 2), ("channel", 55, 1), ("kind", 56, 1), ("device", 57, 8), ("lat_e6", 65, 4),
              ("lon_e6", 69, 4)]
CSV_HEADER = "txn_id,time_ns,payer,payee,merchant,amount_minor,currency,mcc,channel,type,device,lat_e6,lon_e6"
CHANNEL = {"upi": "U", "card": "C", "wallet": "W"}
KIND = {"p2p": "P", "p2m": "M", "bill": "B"}
# Active ISO 4217 alphabetic codes (2025; BGN and SLL still listed; the "no currency" code and XTS are no payment currency).
ISO4217 = set("""AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN
BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS
GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK
LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB
PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB
TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD
XCD XCG XDR XOF XPD XPF XPT XSU XUA YER ZAR ZMW ZWG""".split())
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()

results = {"pass": 0, "fail": 0}


def report(ok, what, problems=()):
    results["pass" if ok else "fail"] += 1
    print(f"  {'PASS' if ok else 'FAIL'}  {what}")
    if ok:
        return
    for p in list(problems)[:12]:
        print(f"          {p}")
    if len(problems) > 12:
        print(f"          ... and {len(problems) - 12} more")


def skip(why):
    print(f"  SKIP  dissector_test: {why}")
    print(f"SKIP: dissector_test: {why}", file=sys.stderr)
    sys.exit(77)


# ---- formatting, as the dissector is documented to show values -------------------------------------

def printable(b):
    return all(0x20 <= x <= 0x7E for x in b)


def char_show(b):
    """tshark's show text of a printable one-byte alpha field, or None (not compared) for others."""
    return f"'{chr(b)}'" if 0x20 <= b <= 0x7E and chr(b) not in "'\\" else None


def clock(ns):
    s, n = divmod(ns, 10**9)
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.{n:09d}"


def utc(ns):
    s, n = divmod(ns, 10**9)
    d = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=s)
    return f"{MONTHS[d.month - 1]} {d.day:2d}, {d.year} {d.hour:02d}:{d.minute:02d}:{d.second:02d}.{n:09d} UTC"


def degrees(v):
    return f"{'-' if v < 0 else ''}{abs(v) // 10**6}.{abs(v) % 10**6:06d}"


def major(v):
    return f"{'-' if v < 0 else ''}{abs(v) // 100}.{abs(v) % 100:02d}"


def invalid_reason(amount, currency, ns, channel, kind, lat, lon):
    """What dadar's fraud operator blocks as invalid (docs/wire-formats.md), first cause first."""
    if amount <= 0:
        return "amount"
    if currency not in ISO4217:
        return "currency"
    if ns == 0 or ns > 2**63 - 1:
        return "time"
    if channel not in "UCW":
        return "channel"
    if kind not in "PMB":
        return "kind"
    if not (-90_000_000 <= lat <= 90_000_000 and -180_000_000 <= lon <= 180_000_000):
        return "location"
    return None


# ---- expectations for one frame ----------------------------------------------------------------------
# A field expectation: name -> (show or None, pos or None, size or None, showname or None); None: not compared.

def udp_view(frame):
    """(source port, destination port, offset of the UDP payload in the frame, payload) of an IPv4/UDP
    frame, else None."""
    v, view = pcaplib.frame_verdict(frame, check_ip=False)
    if v != "udp":
        return None
    off = 12
    while struct.unpack_from(">H", frame, off)[0] in (pcaplib.ETH_VLAN, pcaplib.ETH_QINQ):
        off += 4
    off += 2
    off += (frame[off] & 15) * 4
    (sport,) = struct.unpack_from(">H", frame, off)
    return sport, view[1], off + 8, view[2]


def expect_itch(m, pos):
    """(fields, experts) the itch50 tree of message bytes m at frame offset pos must hold."""
    f, n = {}, len(m)
    if n == 0:
        return f, {"itch50.expert.empty"}
    t = chr(m[0])
    if t not in ITCH:
        f["itch50.message_type"] = (char_show(m[0]), pos, 1, None)
        if n > 1:
            f["itch50.data"] = (None, pos + 1, n - 1, None)
        return f, {"itch50.expert.unknown_type"}
    length, layout = ITCH[t]
    for name, o, w, kind in HDR + layout:
        if o + w > n:
            break
        raw = m[o:o + w]
        v = int.from_bytes(raw, "big")
        show, sn = str(v), None
        if kind == "c":
            show = char_show(raw[0])
        elif kind == "a":
            show = raw.rstrip(b" ").decode() if printable(raw) else None
        elif kind == "p4":
            sn = f"{LABEL[name]}: {v // 10**4}.{v % 10**4:04d} ({v})"
        elif kind == "p8":
            sn = f"{LABEL[name]}: {v // 10**8}.{v % 10**8:08d} ({v})"
        elif kind == "ts":
            sn = f"Timestamp: {clock(v)} ({v} ns since midnight)"
        elif kind == "tsec":
            sn = f"{LABEL[name]}: {v // 3600:02d}:{v // 60 % 60:02d}:{v % 60:02d} ({v} s since midnight)"
        f["itch50." + name] = (show, pos + o, w, sn)
    experts = set()
    if n != length:
        experts.add("itch50.expert.bad_length")
        if n > length:
            f["itch50.extra_bytes"] = (None, pos + length, n - length, None)
    return f, experts


def expect_pay(m, pos):
    f, n = {}, len(m)
    if n == 0:
        return f, {"dadarpay.expert.bad_length"}
    f["dadarpay.type"] = (char_show(m[0]), pos, 1, None)
    if n >= 2:
        f["dadarpay.version"] = (str(m[1]), pos + 1, 1, None)
    if n != 73 or m[0:1] != b"P" or m[1] != 1:
        if n > 2:
            f["dadarpay.data"] = (None, pos + 2, n - 2, None)
        why = "bad_length" if n != 73 else "unknown_type" if m[0:1] != b"P" else "bad_version"
        return f, {"dadarpay.expert." + why}
    (_t, _v, ns, txn, payer, payee, merchant, amount, cur, mcc, channel, kind, device, lat, lon) = PAY.unpack(m)
    curs = cur.decode("latin-1")
    vals = {"event_time": utc(ns), "event_ns": ns, "txn_id": txn, "payer": payer, "payee": payee,
            "merchant": merchant, "amount": amount, "currency": curs if printable(cur) else None, "mcc": mcc,
            "channel": char_show(channel[0]), "kind": char_show(kind[0]), "device": device, "lat_e6": lat,
            "lon_e6": lon}
    nowhere = " (both 0: no location)" if lat == 0 and lon == 0 else ""
    names = {"amount": f"Amount: {amount} ({major(amount)} {curs if printable(cur) else '...'})",
             "lat_e6": f"Latitude: {degrees(lat)}° ({lat} × 1e-6){nowhere}",
             "lon_e6": f"Longitude: {degrees(lon)}° ({lon} × 1e-6){nowhere}"}
    if not printable(cur):
        del names["amount"]
    for name, o, w in PAY_FIELDS[2:]:
        v = vals[name]
        f["dadarpay." + name] = (None if v is None else str(v), pos + o, w, names.get(name))
    why = invalid_reason(amount, curs, ns, channel.decode("latin-1"), kind.decode("latin-1"), lat, lon)
    if why:
        f["dadarpay.invalid"] = (why, None, None, None)
        return f, {"dadarpay.expert.invalid"}
    return f, set()


# ---- output messages (docs/wire-formats.md, outstream.py) -------------------------------------------
# Wireshark names: dadarout.KEY for the header, dadarout.TYPE.KEY for the body (the arrays by element).
OUT_ARRAY = {"measures": "measure", "aggregates": "value", "values": "value", "refs": "ref"}
OUT_HEX = {"flags": 4, "null_mask": 2, "reasons": 8, "refs": 16}   # shown in hex, with this many digits
OUT_LABEL = {"bid_price": "Bid Price", "ask_price": "Ask Price", "measures": "Measure", "aggregates": "Aggregate",
             "values": "Value"}
# Under each ref of a matched message that is used (below its n): the ref's parts, on its first byte
# (bit 63, then the feed, or lateness and the window's index) and on its other seven (the low 56 bits).
REF_PARTS = ("window_result", "feed", "seq", "late", "window_index", "end")


def out_field(t, key, off):
    if off < outstream.HDR_LEN:
        return "dadarout." + key
    return f"dadarout.{outstream.TYPE_NAME[t]}.{OUT_ARRAY.get(key, key)}"


def out_fields():
    """Every dadarout field name."""
    names = {"dadarout.data"} | {"dadarout.decision.reason." + c for c in outstream.REASON_CODES} | \
        {"dadarout.decision." + n for n in outstream.DECISION_FLAG.values()} | \
        {"dadarout.matched." + n for n in REF_PARTS}
    for t in outstream.LENGTH:
        names |= {out_field(t, k, off) for k, off, _w, _f, _i in outstream.layout(t)}
    return names


def bits_text(v, names, nbits):
    """The set bits by name, as the dissector shows them (more than 5: how many)."""
    out = [names[i] if i < len(names) else f"bit {i}" for i in range(nbits) if v >> i & 1]
    return f"{len(out)} set" if len(out) > 5 else ", ".join(out) or "none"


def ref_showname(i, v, used):
    """How the dissector labels ref i of a matched message (used: below the message's n)."""
    if not used:
        return f"Ref {i}: 0x{v:016x} (not used)"
    f = outstream.ref_fields(v)
    if "window_index" in f:
        return f"Ref {i}: window {f['window_index']}, end {f['end']}" + (" (late)" if f["late"] else "")
    return f"Ref {i}: feed {f['feed']}, seq {f['seq']}"


def ref_parts(v):
    """[(field, show, offset in the ref, width)] of the parts under a used ref."""
    f = outstream.ref_fields(v)
    out = [("window_result", str(v >> 63), 0, 1)]
    if "window_index" in f:
        return out + [("late", str(int(f["late"])), 0, 1), ("window_index", str(f["window_index"]), 0, 1),
                      ("end", str(f["end"]), 1, 7)]
    return out + [("feed", str(f["feed"]), 0, 1), ("seq", str(f["seq"]), 1, 7)]


def expect_out(m, pos):
    """(fields, experts) the dadarout tree of output message bytes m at frame offset pos must hold; a
    field that occurs more than once (the arrays) expects a list."""
    f, n = {}, len(m)
    why = outstream.problem(m)
    if why:
        if n >= 1:
            f["dadarout.type"] = (char_show(m[0]), pos, 1, None)
        if n >= 2:
            f["dadarout.version"] = (str(m[1]), pos + 1, 1, None)
        if n > 2:
            f["dadarout.data"] = (None, pos + 2, n - 2, None)
        return f, {"dadarout.expert." + why}
    msg = outstream.decode(m)
    t, body = msg["type"], msg["body"]
    for key, off, w, _ef, idx in outstream.layout(t):
        v = msg.get(key) if off < outstream.HDR_LEN else body[key]
        v = v if idx is None else v[idx]
        show, sn = str(v), None
        if key == "type":
            show = char_show(m[0])
        elif key in ("symbol", "currency"):
            show = v if printable(v.encode("latin-1")) else None
        elif key in OUT_HEX:
            show = f"0x{v:0{OUT_HEX[key]}x}"
        if key == "flags" and off >= outstream.HDR_LEN:  # the decision's own, a byte
            show = f"0x{v:02x}"
            sn = f"Decision Flags: 0x{v:02x} ({bits_text(v, list(outstream.DECISION_FLAG.values()), 8)})"
        elif key == "flags" and t == "W" and v & 1:
            sn = f"Flags: 0x{v:04x} (late firing)"
        elif key == "flags" and t == "A" and v:
            sn = f"Flags: 0x{v:04x} ({v} matched records)"
        elif key == "refs":
            sn = ref_showname(idx, v, idx < body["n"])
        elif key in ("bid_price", "ask_price"):
            sn = f"{OUT_LABEL[key]}: {outstream.price4(v)} ({v})"
        elif key == "amount":
            cur = "".join(c if " " <= c <= "~" else "." for c in body["currency"])
            sn = f"Amount: {v} ({major(v)} {cur})"
        elif key == "reasons":
            sn = f"Reasons: 0x{v:08x} ({bits_text(v, outstream.REASON_CODES, 32)})"
        elif key == "action" and v in outstream.ACTION_NAME:
            sn = f"Action: {outstream.ACTION_NAME[v]} ({v})"
        elif key == "op" and v in outstream.OP_NAME:
            sn = f"Operator: {outstream.OP_NAME[v]} ({v})"
        elif idx is not None:
            note = ""
            if t == "A" and idx >= body["measure_count"]:
                note = " (not used)"
            elif t == "A" and body["null_mask"] >> idx & 1:
                note = " (null)"
            sn = f"{OUT_LABEL[key]} {idx}: {v}{note}"
        name = out_field(t, key, off)
        want = (show, pos + off, w, sn)
        if idx is None:
            f[name] = want
        else:
            f.setdefault(name, []).append(want)
    if t == "M":
        for i, v in enumerate(body["refs"][:body["n"]]):
            at = pos + outstream.HDR_LEN + 8 * i
            for name, show, o, w in ref_parts(v):
                f.setdefault("dadarout.matched." + name, []).append((show, at + o, w, None))
    if t == "D":
        r = outstream.HDR_LEN + 40
        for i, code in enumerate(outstream.REASON_CODES):
            f["dadarout.decision.reason." + code] = (str(body["reasons"] >> i & 1), pos + r, 4, None)
        for bit, name in outstream.DECISION_FLAG.items():
            f["dadarout.decision." + name] = (str(int(bool(body["flags"] & bit))), pos + r + 7, 1, None)
    return f, set()


def tshark_message(got):
    """The message dict (outstream's keys) of one dadarout tree's fields as tshark shows them."""
    t = got["dadarout.type"][0][0].strip("'")
    msg, body = {}, {}
    for key, off, _w, _ef, idx in outstream.layout(t):
        show = got[out_field(t, key, off)][idx or 0][0]
        if key == "type":
            v = t
        elif key in ("symbol", "currency"):
            v = show
        else:
            v = int(show, 0)
        d = msg if off < outstream.HDR_LEN else body
        if idx is None:
            d[key] = v
        else:
            d.setdefault(key, []).append(v)
    msg["body"] = body
    return msg


def subset_problems(where, want, got):
    """What differs between the keys `want` has (its body's too) and `got`."""
    out = []
    for k, v in want.items():
        if k == "body":
            out += subset_problems(where, v, got.get("body", {}))
        elif got.get(k) != v:
            out.append(f"{where}: {k} is {got.get(k)!r}, expected {v!r}")
    return out


class Expect:
    """What the mold64 tree of one frame must hold (None on the whole: no mold64 at all)."""

    def __init__(self, frame, itch_ports, pay_port, heuristic=True, out_ports=(OUT_PORT,)):
        self.mold = None
        v = udp_view(frame)
        if v is None:
            return
        sport, dport, off, p = v
        err, _ = pcaplib.mold_parse(p)
        # Wireshark's UDP hands a datagram to the dissector of either port (the feed's "garbage UDP"
        # goes from the feed's port to the next one); the messages are payments by destination port,
        # output messages to or from an output port or from a request port (an output port + 1).
        req_ports = {x + 1 for x in out_ports}
        ports = set(itch_ports) | {pay_port} | set(out_ports) | req_ports
        if sport not in ports and dport not in ports:
            if not heuristic or err or not printable(p[:10]):
                return
        self.kind = ("request" if dport in req_ports else "output" if dport in out_ports else
                     "payment" if dport == pay_port else "output" if sport in set(out_ports) | req_ports else "itch")
        self.payments = self.kind == "payment"
        self.mold, self.blocks = {}, []
        n = len(p)
        if self.kind == "request":
            self.expect_request(p, off)
            return
        self.experts = {"mold64.expert." + err} if err else set()
        if n < 20:
            self.mold["mold64.short"] = (None, off, n, None)
            return
        seq, count = struct.unpack_from(">QH", p, 10)
        self.seq, self.count = seq, count
        self.mold["mold64.session"] = (p[:10].rstrip(b" ").decode() if printable(p[:10]) else None, off, 10, None)
        self.mold["mold64.sequence"] = (str(seq), off + 10, 8, None)
        self.mold["mold64.count"] = (str(count), off + 18, 2, None)
        if count in (0, MOLD_EOS):
            what = "heartbeat" if count == 0 else "end_of_session"
            self.mold["mold64." + what] = ("", None, None, None)
            self.mold["mold64.next_sequence"] = (str(seq), None, None, None)
            self.experts.add("mold64.expert." + what)
            if n > 20:
                self.mold["mold64.trailing"] = (None, off + 20, n - 20, None)
            return
        self.mold["mold64.next_sequence"] = (str((seq + count) % 2**64), None, None, None)
        o = 20
        for i in range(count):
            if n - o < 2:
                break
            (ml,) = struct.unpack_from(">H", p, o)
            avail = min(ml, n - o - 2)
            blk = {"mold64.message_length": (str(ml), off + o, 2, None),
                   "mold64.message_sequence": (str((seq + i) % 2**64), None, None, None)}
            if avail < ml:
                if avail > 0:
                    blk["mold64.message_data"] = (None, off + o + 2, avail, None)
                self.blocks.append((blk, None, None, None))
                o = n
                break
            m = p[o + 2:o + 2 + ml]
            sub, sexp = {"payment": expect_pay, "output": expect_out, "itch": expect_itch}[self.kind](m, off + o + 2)
            self.blocks.append((blk, sub, sexp, (seq + i, m)))
            o += 2 + ml
        if o < n:
            self.mold["mold64.trailing"] = (None, off + o, n - o, None)

    def expect_request(self, p, off):
        """A retransmission request: 20 bytes, session, sequence number, count."""
        n = len(p)
        self.experts = {"mold64.expert.request"}
        self.mold["mold64.request"] = ("", None, None, None)
        if n < 20:
            if n:
                self.mold["mold64.short"] = (None, off, n, None)
            self.experts.add("mold64.expert.bad_request")
            return
        seq, count = struct.unpack_from(">QH", p, 10)
        self.mold["mold64.request.session"] = (p[:10].rstrip(b" ").decode() if printable(p[:10]) else None, off, 10,
                                               None)
        self.mold["mold64.request.sequence"] = (str(seq), off + 10, 8, None)
        self.mold["mold64.request.count"] = (str(count), off + 18, 2, None)
        if n > 20:
            self.mold["mold64.trailing"] = (None, off + 20, n - 20, None)
        if n != 20 or seq == 0 or count == 0:
            self.experts.add("mold64.expert.bad_request")


# ---- tshark and its PDML ---------------------------------------------------------------------------

class Env:
    tshark = None
    base = []
    env = None
    tmp = None


def tshark_g(report_kind):
    """tshark -G REPORT with dadar.lua loaded (-G must come first)."""
    return subprocess.run([Env.tshark, "-G", report_kind, *Env.base], capture_output=True, text=True, env=Env.env)


def field(el):
    return (el.get("show"), int(el.get("pos")) if el.get("pos") else None,
            int(el.get("size")) if el.get("size") else None, el.get("showname"))


# Wireshark's own: the hidden "Malformed Packet" item every expert of group Malformed brings, and its
# warning about a string field holding a NUL before other bytes (only in garbage). Any other _ws item
# (a Lua error, a length mismatch) is a failure.
IGNORED = ("_ws.malformed", "_ws.string.trailing_stray_characters")


def expert_names(el):
    return [c.get("name") for c in el if not c.get("name", "").startswith("_ws.expert")
            and c.get("name") not in IGNORED]


def collect(el, fields, experts):
    """Every field under el, by name, and the names of the expert infos (recursively)."""
    for ch in el:
        name = ch.get("name", "")
        if name == "_ws.expert":
            experts.extend(expert_names(ch))
            continue
        if name in IGNORED:
            continue
        if name.startswith("_ws."):
            experts.append(name)
        fields.setdefault(name, []).append(field(ch))
        collect(ch, fields, experts)


class Dissected:
    def __init__(self, el):
        self.num = None
        self.mold = None
        for proto in el:
            if proto.get("name") == "geninfo":
                for f in proto:
                    if f.get("name") == "num":
                        self.num = int(f.get("show"))
            if proto.get("name") == "mold64":
                self.parse(proto)

    def parse(self, mold):
        self.mold, self.experts, self.blocks = {}, [], []
        for ch in mold:
            name = ch.get("name")
            if name == "_ws.expert":
                self.experts.extend(expert_names(ch))
            elif name == "mold64.message":
                blk, sub, sexp, proto = {}, {}, [], None
                for c in ch:
                    if c.get("name") in ("itch50", "dadarpay", "dadarout"):
                        proto = c.get("name"), int(c.get("pos")), int(c.get("size"))
                        collect(c, sub, sexp)
                    elif c.get("name") == "_ws.expert":
                        sexp.extend(expert_names(c))
                    elif c.get("name") in IGNORED:
                        continue
                    else:
                        blk.setdefault(c.get("name"), []).append(field(c))
                self.blocks.append((blk, sub, sexp, proto))
            elif name not in IGNORED:
                self.mold.setdefault(name, []).append(field(ch))


def dissect(cap, extra=()):
    """[Dissected] of every frame, and tshark's stderr."""
    err = open(os.path.join(Env.tmp, "tshark.err"), "w+")
    p = subprocess.Popen([Env.tshark, *Env.base, *extra, "-r", cap, "-T", "pdml"], stdout=subprocess.PIPE,
                         stderr=err, env=Env.env)
    out, perr = [], ""
    try:
        for _ev, el in ET.iterparse(p.stdout):
            if el.tag == "packet":
                out.append(Dissected(el))
                el.clear()
    except ET.ParseError as e:
        perr = f"PDML unreadable after {len(out)} packets: {e}\n"
        p.stdout.read()
    p.wait()
    err.seek(0)
    return out, p.returncode, perr + err.read()


def compare_fields(where, want, got, problems):
    """want: name -> (show, pos, size, showname), or a list of them for a field that occurs more than once."""
    for name, w in want.items():
        ws = w if isinstance(w, list) else [w]
        g = got.get(name)
        if not g:
            problems.append(f"{where}: {name} missing")
            continue
        if len(g) != len(ws):
            problems.append(f"{where}: {name} {len(g)} times" + (f", expected {len(ws)}" if len(ws) > 1 else ""))
        for (show, pos, size, sn), (gs, gp, gz, gn) in zip(ws, g):
            if show is not None and gs != show:
                problems.append(f"{where}: {name} is {gs!r}, expected {show!r}")
            if pos is not None and (gp, gz) != (pos, size):
                problems.append(f"{where}: {name} at {gp}+{gz}, expected {pos}+{size}")
            if sn is not None and gn != sn:
                problems.append(f"{where}: {name} shown as {gn!r}, expected {sn!r}")
    extra = set(got) - set(want)
    if extra:
        problems.append(f"{where}: unexpected fields {sorted(extra)}")


class Stats:
    def __init__(self):
        self.frames = self.molds = self.messages = self.heartbeats = self.eos = self.bad = self.requests = 0
        self.types = {}
        self.seqs = {}     # seq -> copies decoded from datagrams whose framing adds up
        self.experts = {}  # expert name -> count


def check_capture(tag, cap, frames=None, extra=(), itch_ports=(ITCH_PORT,), pay_port=PAY_PORT, heuristic=True,
                  on_message=None, out_ports=(OUT_PORT,)):
    """Compare every frame of `cap` with its expectation; returns Stats (None when tshark failed)."""
    frames = frames if frames is not None else [f for _t, f in pcaplib.read_pcap(cap)]
    got, rc, err = dissect(cap, extra)
    problems = []
    if rc != 0 or "Lua" in err or "dadar.lua" in err or "PDML" in err:
        report(False, f"{tag}: tshark ran cleanly", [f"exit {rc}"] + err.strip().splitlines())
        return None
    if len(got) != len(frames):
        report(False, f"{tag}: tshark read every frame", [f"{len(got)} of {len(frames)}"])
        return None
    st = Stats()
    st.frames = len(frames)
    for i, (frame, d) in enumerate(zip(frames, got)):
        where = f"{tag} frame {i + 1}"
        e = Expect(frame, itch_ports, pay_port, heuristic, out_ports)
        if d.num != i + 1:
            problems.append(f"{where}: PDML packet number {d.num}")
        if e.mold is None:
            if d.mold is not None:
                problems.append(f"{where}: decoded as MoldUDP64, expected not")
            continue
        if d.mold is None:
            problems.append(f"{where}: not decoded as MoldUDP64")
            continue
        st.molds += 1
        compare_fields(where, e.mold, d.mold, problems)
        for x in d.experts:
            st.experts[x] = st.experts.get(x, 0) + 1
        if set(d.experts) != e.experts or len(d.experts) != len(e.experts):
            problems.append(f"{where}: experts {sorted(d.experts)}, expected {sorted(e.experts)}")
        if e.experts & {"mold64.expert." + r for r in ("short", "msg_overrun", "count_mismatch", "trailing", "bad_seq")}:
            st.bad += 1
        if "mold64.heartbeat" in e.mold and not e.experts - {"mold64.expert.heartbeat"}:
            st.heartbeats += 1
        if "mold64.end_of_session" in e.mold and not e.experts - {"mold64.expert.end_of_session"}:
            st.eos += 1
        if e.kind == "request":
            st.requests += 1
        if len(d.blocks) != len(e.blocks):
            problems.append(f"{where}: {len(d.blocks)} message blocks, expected {len(e.blocks)}")
            continue
        for j, ((wblk, wsub, wexp, msg), (gblk, gsub, gexp, proto)) in enumerate(zip(e.blocks, d.blocks)):
            w = f"{where} message {j + 1}"
            compare_fields(w, wblk, gblk, problems)
            if wsub is None:
                if proto is not None:
                    problems.append(f"{w}: a partial message was dissected as {proto[0]}")
                continue
            want_proto = {"payment": "dadarpay", "output": "dadarout", "itch": "itch50"}[e.kind]
            seq, m = msg
            if proto is None or proto[0] != want_proto or proto[2] != len(m):
                problems.append(f"{w}: dissected as {proto}, expected {want_proto} of {len(m)} bytes")
                continue
            compare_fields(w, wsub, gsub, problems)
            extra_exp = [x for x in gexp if x.startswith("_ws.")]
            if set(gexp) != wexp or len(gexp) != len(wexp) or extra_exp:
                problems.append(f"{w}: experts {sorted(gexp)}, expected {sorted(wexp)}")
            for x in gexp:
                st.experts[x] = st.experts.get(x, 0) + 1
            st.messages += 1
            if not e.experts - {"mold64.expert.heartbeat", "mold64.expert.end_of_session"}:
                st.seqs[seq] = st.seqs.get(seq, 0) + 1
                if not wexp or wexp == {"dadarpay.expert.invalid"}:
                    t = chr(m[0])
                    st.types[t] = st.types.get(t, 0) + 1
            if on_message:
                on_message(w, seq, m, gsub, problems)
    requests = f", {st.requests} requests" if st.requests else ""
    report(not problems, f"{tag}: {st.frames} frames, {st.molds} MoldUDP64 datagrams ({st.heartbeats} heartbeats, "
           f"{st.eos} end of session, {st.bad} malformed{requests}), {st.messages} messages: every field as decoded "
           f"independently", problems)
    return st


# ---- the captures ---------------------------------------------------------------------------------

def gen(*args):
    p = subprocess.run([GEN, *args], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"dadar-gen {' '.join(args)}: exit {p.returncode}\n{p.stderr}")
    return p.stderr


def check_ritch(tmp):
    cap = os.path.join(tmp, "ritch.pcap")
    gen("itch-file", SAMPLE, cap)
    st = check_capture("RITCH sample (port 26477)", cap)
    if st is None:
        return
    want = {"S": 6, "R": 3, "H": 3, "A": 4997, "F": 3, "E": 198, "X": 45, "D": 1745, "U": 12, "P": 5000}
    report(st.types == want and sorted(st.seqs) == list(range(1, 12013)) and set(st.seqs.values()) == {1},
           f"RITCH sample: messages 1..12012 once each, by type {st.types}")

    # the same sample on a port of no preference: the heuristic, VLAN-tagged, jumbo datagrams,
    # heartbeats and end of session
    cap2 = os.path.join(tmp, "ritch-heur.pcap")
    gen("itch-file", SAMPLE, cap2, "--port", "40000", "--vlan", "42", "--max-payload", "8972",
        "--heartbeat-every", "5", "--end-of-session")
    st = check_capture("RITCH sample (port 40000, heuristic)", cap2)
    if st is None:
        return
    report(sorted(st.seqs) == list(range(1, 12013)) and st.heartbeats > 0 and st.eos == 1,
           f"heuristic: every message on port 40000 ({len(st.seqs)}), {st.heartbeats} heartbeats, "
           f"{st.eos} end of session")

    # preferences: without the heuristic nothing on port 40000; with mold64.itch_ports it all is
    frames = [f for _t, f in pcaplib.read_pcap(cap2)]
    st = check_capture("port 40000, heuristic disabled", cap2, frames, ["--disable-heuristic", "mold64_udp"],
                       heuristic=False)
    report(st is not None and st.molds == 0, "heuristic disabled: no datagram on port 40000 decoded")
    st = check_capture("port 40000 by preference", cap2, frames,
                       ["--disable-heuristic", "mold64_udp", "-o", "mold64.itch_ports:26477,39990-40010"],
                       itch_ports=set(range(39990, 40011)) | {26477}, heuristic=False)
    report(st is not None and len(st.seqs) == 12012, "mold64.itch_ports: port 40000 decoded as ITCH without "
           "the heuristic")


def check_synth(tmp):
    cap = os.path.join(tmp, "synth.pcap")
    out = gen("synth", cap, "--seed", "7", "--messages", "10000", "--instruments", "40", "--lines", "2",
              "--b-delay", "2", "--heartbeat-every", "25", "--end-of-session", "--vlan", "100",
              "--gap-rate", "0.02", "--dup-rate", "0.02", "--reorder-rate", "0.02", "--malformed-rate", "0.08")
    st = check_capture("synth day with faults (2 lines)", cap)
    if st is None:
        return
    report(set(st.types) == set(ITCH), f"synth: all 23 ITCH 5.0 message types decoded "
           f"(missing: {sorted(set(ITCH) - set(st.types))})")
    # dadar-gen says how many heartbeats it sent per line
    hb = int(out.split(" heartbeats")[0].rsplit(" ", 1)[1])
    report(st.heartbeats == 2 * hb and st.eos == 2, f"synth: {st.heartbeats} heartbeats (dadar-gen: {hb} per line), "
           f"{st.eos} end of session on 2 lines")
    kinds = {k.split(".")[-1] for k, v in st.experts.items() if k.startswith("mold64.expert.") and v}
    report({"msg_overrun", "count_mismatch", "trailing"} <= kinds,
           f"synth: injected faults flagged as dadar names them: {sorted(kinds)}")


def read_csv(path):
    lines = open(path).read().splitlines()
    assert lines[0] == CSV_HEADER, lines[0]
    return [line.split(",") for line in lines[1:]]


def csv_checker(rows):
    """Compare a decoded payment with row seq - 1 of the CSV (rows are sent in file order)."""
    def check(where, seq, m, got, problems):
        if len(m) != 73 or seq < 1 or seq > len(rows):
            problems.append(f"{where}: sequence {seq} has no CSV row")
            return
        r = rows[seq - 1]
        want = {"dadarpay.txn_id": r[0], "dadarpay.event_ns": r[1], "dadarpay.payer": r[2], "dadarpay.payee": r[3],
                "dadarpay.merchant": r[4], "dadarpay.amount": r[5], "dadarpay.currency": r[6], "dadarpay.mcc": r[7],
                "dadarpay.channel": f"'{CHANNEL[r[8]]}'", "dadarpay.kind": f"'{KIND[r[9]]}'",
                "dadarpay.device": r[10], "dadarpay.lat_e6": r[11], "dadarpay.lon_e6": r[12],
                "dadarpay.event_time": utc(int(r[1]))}
        for name, v in want.items():
            g = got.get(name)
            if not g or g[0][0] != v:
                problems.append(f"{where} (CSV row {seq}): {name} is {g and g[0][0]!r}, CSV says {v!r}")
        a = int(r[5])
        sn = f"Amount: {a} ({major(a)} {r[6]})"
        if got.get("dadarpay.amount", [(None,) * 4])[0][3] != sn:
            problems.append(f"{where}: amount shown as {got.get('dadarpay.amount')}, expected {sn!r}")
        why = invalid_reason(a, r[6], int(r[1]), CHANNEL[r[8]], KIND[r[9]], int(r[11]), int(r[12]))
        g = got.get("dadarpay.invalid")
        if (g[0][0] if g else None) != why:
            problems.append(f"{where}: invalid {g and g[0][0]!r}, expected {why!r}")
    return check


def check_payments(tmp):
    cap, csv = os.path.join(tmp, "pay.pcap"), os.path.join(tmp, "pay.csv")
    gen("payments", cap, "--csv", csv, "--count", "2000", "--payers", "400", "--seed", "5", "--heartbeat-every", "20",
        "--end-of-session", "--lines", "2")
    rows = read_csv(csv)
    st = check_capture("payments day (port 26480) against its CSV", cap, on_message=csv_checker(rows))
    if st is not None:
        report(sorted(st.seqs) == list(range(1, len(rows) + 1)) and set(st.seqs.values()) == {2}
               and st.types == {"P": 2 * len(rows)},
               f"payments: every CSV row ({len(rows)}) decoded once per line, as a payment")

    # edge values through payments-csv: extremes of every integer, invalid payments of every kind
    edge_csv, edge = os.path.join(tmp, "edge.csv"), os.path.join(tmp, "edge.pcap")
    with open(edge_csv, "w") as f:
        f.write(CSV_HEADER + "\n")
        f.write("1,1773081000000000000,10000000001,0,50000000001,12345,INR,5411,upi,p2m,7,19076000,72877700\n")
        f.write("18446744073709551615,18446744073709551615,18446744073709551615,18446744073709551615,"
                "18446744073709551615,9223372036854775807,USD,65535,card,p2m,18446744073709551615,"
                "2147483647,2147483647\n")
        f.write("2,0,0,0,0,-9223372036854775808,inr,0,wallet,bill,0,-2147483648,-2147483648\n")
        f.write("3,1,1,2,0,0,XYZ,1,upi,p2p,5,0,0\n")
        f.write("4,9223372036854775808,4,0,4,1,EUR,4900,card,bill,4,1,-1\n")
        f.write("5,9223372036854775807,5,6,0,-5,JPY,0,upi,p2p,5,-500000,999999\n")
        f.write("6,1773081000000000001,6,0,7,99,INR,5812,card,p2m,6,95000000,72877700\n")
        f.write("7,1773081000000000002,7,0,7,100,INR,5812,wallet,p2m,7,19076000,-180000001\n")
        f.write("8,1773081000000000003,8,9,0,101,INR,0,upi,p2p,8,90000000,180000000\n")
        f.write("9,1773081000000000004,9,0,10,10000000,GBP,6051,card,p2m,9,-90000000,-180000000\n")
    gen("payments-csv", edge_csv, edge)
    rows = read_csv(edge_csv)
    st = check_capture("payments-csv edge values", edge, on_message=csv_checker(rows))
    if st is not None:
        inv = st.experts.get("dadarpay.expert.invalid", 0)
        report(sorted(st.seqs) == list(range(1, len(rows) + 1)) and inv == 7,
               f"payments-csv edge values: {len(rows)} rows, {inv} of them blocked as invalid (amount 3, time 2, "
               "location 2: 7)")

    # the payment port is a preference: on port 26500 the messages are payments only with it set
    # (a port of no preference: 26490 is the output stream's)
    cap3 = os.path.join(tmp, "pay26500.pcap")
    gen("payments", cap3, "--count", "40", "--payers", "10", "--scenarios", "0", "--port", "26500")
    frames = [f for _t, f in pcaplib.read_pcap(cap3)]
    st = check_capture("payments on port 26500, default preferences (heuristic: ITCH)", cap3, frames)
    report(st is not None and st.experts.get("itch50.expert.bad_length", 0) == 40,
           "payments on port 26500 without the preference: the heuristic reads them as ITCH (wrong length)")
    st = check_capture("payments on port 26500 with mold64.payment_port:26500", cap3, frames,
                       ["-o", "mold64.payment_port:26500"], pay_port=26500)
    report(st is not None and sorted(st.seqs) == list(range(1, 41)) and st.types == {"P": 40},
           "mold64.payment_port: port 26500 decoded as payments")


def check_crafted(tmp):
    """Hand-made datagrams: every framing error, every ITCH and payment message error, the heuristic."""
    it = pcaplib.itch
    pay_ok = PAY.pack(b"P", b"\x01", 1773081000000000000, 77, 1, 2, 3, 500, b"INR", 5411, b"U", b"M", 9, 1, 2)
    frames = []

    def add(payload, port=ITCH_PORT):
        frames.append(pcaplib.udp_frame(payload, port=port))

    add(pcaplib.mold(1, [it(b"Z", 1, b"x" * 19), it(b"A", 2, b"\0" * 19), it(b"A", 3, b"\1" * 29), b"",
                         it(b"S", 0, b"O"), b"Z", b"A", it(b"R", 4, b"\xff" * 28), it(b"V", 0, b"\x12" * 24)]))
    add(b"DADAR00001" + b"\0" * 9)                                            # short
    add(pcaplib.heartbeat(5) + b"abc")                                        # trailing after a heartbeat
    add(pcaplib.end_of_session(5) + b"x")                                     # trailing after end of session
    add(pcaplib.mold(0, [it(b"S", 0, b"O")]))                                 # bad_seq: 0
    add(pcaplib.mold(2**64 - 1, [it(b"S", 0, b"O"), it(b"S", 0, b"C")]))      # bad_seq: overflow
    add(pcaplib.mold(9, [it(b"S", 0, b"Q"), it(b"S", 0, b"M")], count=3))     # count_mismatch
    add(pcaplib.mold(9, [it(b"S", 0, b"Q")]) + b"\0\0\0\0\0")                 # trailing
    add(pcaplib.mold(9, [it(b"S", 0, b"Q")], count=2) + b"\0")                # msg_overrun: one byte of a length
    add(pcaplib.session_bytes("DADAR00001") + struct.pack(">QHH", 9, 1, 100) + b"y" * 10)  # msg_overrun
    add(pcaplib.end_of_session(12))
    # not a registered port: the heuristic takes only exact framing with a printable session
    add(b"\x01" * 10 + struct.pack(">QH", 1, 1) + struct.pack(">H", 12) + it(b"S", 0, b"O"), 40001)
    add(pcaplib.mold(1, [it(b"S", 0, b"O")]), 40001)
    add(pcaplib.mold(1, [it(b"S", 0, b"O")]) + b"\0", 40001)
    add(pcaplib.heartbeat(2), 40001)
    add(b"DADAR00001" + b"\0" * 5, 40001)
    # the payment port: every error and every kind of invalid payment
    bad = bytearray(pay_ok)
    variants = [pay_ok, pay_ok[:72], pay_ok + b"\0", b"Q" + pay_ok[1:], b"P\x02" + pay_ok[2:], b"", b"P"]
    for off, val in ((55, b"X"), (56, b"Z"), (2, b"\0" * 8), (2, b"\x80" + b"\0" * 7), (50, b"inr"),
                     (50, b"\xff\x00A"), (65, struct.pack(">i", 90_000_001)), (42, struct.pack(">q", -1))):
        b2 = bytearray(bad)
        b2[off:off + len(val)] = val
        variants.append(bytes(b2))
    add(pcaplib.mold(100, variants, session="DADARPAY01"), PAY_PORT)
    cap = os.path.join(tmp, "crafted.pcap")
    pcaplib.write_pcap(cap, frames)
    st = check_capture("crafted datagrams (every framing, ITCH and payment error)", cap, frames)
    if st is None:
        return
    e = st.experts
    want = {"mold64.expert.short": 1, "mold64.expert.trailing": 3, "mold64.expert.bad_seq": 2,
            "mold64.expert.count_mismatch": 1, "mold64.expert.msg_overrun": 2, "itch50.expert.unknown_type": 2,
            "itch50.expert.bad_length": 3, "itch50.expert.empty": 1, "dadarpay.expert.bad_length": 4,
            "dadarpay.expert.unknown_type": 1, "dadarpay.expert.bad_version": 1, "dadarpay.expert.invalid": 8}
    got = {k: e.get(k, 0) for k in want}
    report(got == want, f"crafted: every expert where expected: {got}")
    report(st.molds == 14, f"crafted: 11 datagrams on the ports, 2 of 5 on port 40001 by the heuristic "
           f"({st.molds} decoded)")


# ---- the output stream ---------------------------------------------------------------------------

def check_output_pcap(tag, cap, expected, first_seq=1, extra=(), out_ports=(OUT_PORT,)):
    """Every output message of the capture `cap` under tshark, two ways: every field against outstream's
    decode of the same bytes (check_capture), and the message tshark shows for sequence number s against
    expected[s - first_seq]: a dict of outstream's keys, compared on the keys it has (its body's too, so
    a partial dict checks part of a message), bytes for a message a consumer skips (compared whole), or
    None (not compared). Every expected sequence number must be seen (retransmitted ones may be seen more
    than once). `extra`: tshark options (-o mold64.output_ports:...), `out_ports` the same ports for the
    expectations. Returns the Stats of check_capture, None if tshark failed."""
    seen, problems = {}, []
    last = first_seq + len(expected) - 1

    def on_message(where, seq, m, got, _problems):
        if not first_seq <= seq <= last:
            problems.append(f"{where}: sequence number {seq} is not in the expected stream ({first_seq}..{last})")
            return
        seen[seq] = seen.get(seq, 0) + 1
        want = expected[seq - first_seq]
        if want is None:
            return
        if isinstance(want, bytes) or outstream.problem(m):
            if m != want:
                problems.append(f"{where}: message {m[:2]!r}.. ({len(m)} bytes), expected "
                                f"{want[:2] if isinstance(want, bytes) else want.get('type')!r}..")
            return
        if not any(k.startswith("dadarout.") for k in got):
            problems.append(f"{where}: not dissected as an output message")
            return
        try:
            problems.extend(subset_problems(f"{where} (seq {seq})", want, tshark_message(got)))
        except (KeyError, IndexError, ValueError) as e:  # a field missing: check_capture names it
            problems.append(f"{where}: tshark's fields make no message: {type(e).__name__} {e}")

    st = check_capture(tag, cap, extra=extra, out_ports=out_ports, on_message=on_message)
    if st is None:
        return None
    missing = [first_seq + i for i in range(len(expected)) if first_seq + i not in seen]
    if missing:
        problems.append(f"sequence numbers never shown: {pcaplib.ranges(missing)[:8]}")
    report(not problems, f"{tag}: the messages tshark shows are the {len(expected)} expected, by sequence number",
           problems)
    return st


def check_dadar_stream(tmp):
    """The output stream dadar itself sends (net_pcap tx_pcap) for the ITCH sample and a payment day:
    every field under tshark against outstream's decode, and each message against dadar's --output line."""
    dadar = os.path.join(BUILD, "dadar")
    if not os.access(dadar, os.X_OK):
        report(False, f"{dadar} is not built")
        return
    itch, pay, tx, out = (os.path.join(tmp, n) for n in ("ds-itch.pcap", "ds-pay.pcap", "ds-tx.pcap", "ds.jsonl"))
    gen("itch-file", os.path.join(ROOT, "tests", "data", "itch", "ex20101224.TEST_ITCH_50"), itch)
    gen("payments", pay, "--seed", "5", "--count", "400", "--payers", "80", "--days", "1", "--scenarios", "2")
    prefix = f"dsct{os.getpid()}"
    r = subprocess.run([dadar, "--no-huge", "--no-pci", "-m", "512", "--no-shconf", "--no-telemetry",
                        "--log-level=*:warning", "-l", "0-1", "--file-prefix", prefix,
                        "--vdev", f"net_pcap0,rx_pcap={itch}", "--vdev", f"net_pcap1,rx_pcap={pay}",
                        "--vdev", f"net_pcap2,tx_pcap={tx}", "--", "--instance", prefix, "--quiet",
                        "--exit-on-idle", "300", "--output", out, "--output-udp", f"239.192.26.49:{OUT_PORT}@2",
                        "--set", "output_udp.request=none"], capture_output=True, text=True, timeout=120)
    shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True)
    try:  # the telemetry segment an instance leaves for dadar-lat after it exits
        os.unlink(f"/dev/shm/dadar-{prefix}")
    except FileNotFoundError:
        pass
    if r.returncode != 0:
        report(False, f"dadar sending the output stream exited {r.returncode}", r.stderr.strip().splitlines()[-5:])
        return
    letter = {"bbo": "B", "decision": "D"}
    action = {"approve": 0, "verify": 1, "review": 2, "block": 3}
    expected = []
    with open(out) as f:
        for line in f:
            j = json.loads(line)
            m = {k: j[k] for k in ("lsn", "cause", "event_ns", "seq", "rule", "rule_version", "shard")}
            m["type"], m["feed"] = letter[j["type"]], j["feed"]
            if j["type"] == "bbo":
                m["body"] = {"locate": j["locate"], "bid_price": int(j["bid"].replace(".", "")),
                             "ask_price": int(j["ask"].replace(".", "")), "bid_shares": j["bid_shares"],
                             "ask_shares": j["ask_shares"], "bid_orders": j["bid_orders"], "ask_orders": j["ask_orders"]}
            else:
                m["body"] = {"txn_id": j["txn_id"], "payer": j["payer"], "amount": j["amount"], "score": j["score"],
                             "action": action[j["action"]], "device": j["device"], "merchant": j["merchant"]}
            expected.append(m)
    check_output_pcap(f"the output stream dadar sent ({len(expected)} outputs)", tx, expected)


U64, U32, U16, I64_MIN, I64_MAX = 2**64 - 1, 2**32 - 1, 2**16 - 1, -2**63, 2**63 - 1


def output_samples():
    """Several messages of every output type, with the edge values of every field."""
    h = dict(version=1, lsn=0, cause=0, event_ns=34_200_000_000_000, seq=1, op=1, feed=0, rule=0, rule_version=0,
             shard=0, flags=0, key=2, symbol="")
    hmax = dict(h, lsn=U64, cause=U64, event_ns=U64, seq=U64, op=255, feed=255, rule=U16, rule_version=U16,
                shard=U16, flags=U16, key=U32)
    pay = dict(h, op=2, feed=1, shard=1, rule_version=1, event_ns=1_773_131_400_000_000_000, key=10000101)
    cep = dict(h, op=4, rule=6, rule_version=1, key=7)
    win = dict(h, op=3, rule=1, rule_version=2, key=7)
    out = [
        dict(h, type="B", body=dict(bid_price=53167, ask_price=53200, bid_shares=1000, ask_shares=300, bid_orders=1,
                                    ask_orders=2, locate=2)),
        dict(h, type="B", body=dict(bid_price=10000, bid_shares=100, bid_orders=1, locate=3)),  # no ask side
        dict(h, type="B", key=0, body={}),                                                    # no side at all
        dict(hmax, type="B", body=dict(bid_price=U32, ask_price=U32, bid_shares=U64, ask_shares=U64, bid_orders=U32,
                                       ask_orders=U32, locate=U16)),
        dict(pay, type="D", body=dict(txn_id=1012, payer=10000101, amount=999900, device=20000101, reasons=0x60,
                                      score=80, action=3, currency="INR")),
        dict(pay, type="D", body=dict(txn_id=1, payer=2, amount=1, merchant=5, device=6, mcc=5411, currency="USD")),
        dict(pay, type="D", body=dict(txn_id=U64, payer=U64, amount=I64_MIN, merchant=U64, device=U64,
                                      reasons=(1 << len(outstream.REASON_CODES)) - 1, score=U16, action=1, flags=0x0F,
                                      mcc=U16, currency="inr")),
        dict(hmax, type="D", body=dict(amount=I64_MAX, reasons=U32, score=1000, action=2, flags=0xFF, currency="X1 ")),
        dict(pay, type="D", body=dict(txn_id=7, amount=-1, reasons=1 << 20, score=100, action=3, flags=2,
                                      currency="   ")),
        dict(pay, type="D", body=dict(txn_id=8, amount=0, action=255, currency="EUR")),        # no such action
        dict(cep, type="A", symbol="SPOF", flags=3, body=dict(first_ns=35_194_764_800_057,
                                                              last_ns=35_194_964_800_057,
                                                              measures=[80000, 998500, 200_000_000, 0],
                                                              first_seq=17044, events=3, measure_count=3)),
        # its matched records: two messages of feed 0 and a window's result
        dict(cep, type="M", symbol="SPOF", body=dict(refs=[outstream.ref_message(0, 17044),
                                                           outstream.ref_message(0, 17045),
                                                           outstream.ref_window(1, False, 35_195_000_000_000),
                                                           0, 0, 0, 0], n=3, part=0, parts=1)),
        # every ref used, each part at its edges (feed 127 and 64, window 63 late, window 0 on time)
        dict(cep, type="M", symbol="ABCDEFGH", body=dict(refs=[U64, 0, outstream.REF_LOW,
                                                               outstream.ref_window(63, True, 0),
                                                               outstream.ref_message(127, 0), 1 << 63, 1 << 62],
                                                         n=7, part=2, parts=3)),
        # n past 7 (every ref used), and n 0 (none: each shown as not used)
        dict(dict(hmax, symbol="Z"), type="M", body=dict(refs=list(range(1, 8)), n=255, part=255, parts=255)),
        dict(cep, type="M", symbol="", body=dict(refs=[U64] * 7, n=0, part=1, parts=1)),
        dict(cep, type="A", symbol="", body=dict(first_ns=U64, last_ns=U64, measures=[I64_MIN, I64_MAX, -1, 0],
                                                 first_seq=U64, events=U32, measure_count=4, null_mask=0x0F,
                                                 timeout=1, first_feed=255)),
        dict(cep, type="A", symbol="ABCDEFGH", body=dict(measures=[1, -2, 3, -4], null_mask=0x05, timeout=255)),
        dict(dict(hmax, symbol="Z"), type="A", body=dict(measure_count=255, null_mask=0xFF)),
        dict(win, type="W", symbol="AAPL", body=dict(start=34_200_000_000_000, end=34_260_000_000_000,
                                                     aggregates=[1, -2, 3, -4, 5, -6])),
        dict(win, type="W", flags=1, symbol="", body=dict(start=0, end=U64,
                                                         aggregates=[I64_MIN, I64_MAX, 0, -1, 1, 2**40])),
        dict(dict(hmax, symbol="MSFT"), type="W", body=dict(start=U64, end=U64, aggregates=[I64_MAX] * 6)),
        dict(win, type="L", symbol="MSFT", body=dict(window_end=34_260_000_000_000, watermark=34_262_000_000_000,
                                                     time=34_259_000_000_000)),
        dict(win, type="L", symbol="", body=dict(window_end=U64, watermark=U64, time=U64, window_index=255)),
        dict(dict(hmax, symbol="A B"), type="L", body=dict(window_index=1)),
        dict(h, type="T", op=200, rule=1, body=dict(values=[0, 3, 17, 2, 0, 0, 0, 0])),
        dict(h, type="T", op=201, rule=2, key=5, body=dict(values=[U64] * 8)),
        dict(hmax, type="T", body=dict(values=list(range(8)))),
    ]
    for i, m in enumerate(out):  # increasing LSNs, causes below them, where the edge value is not the point
        if m["lsn"] != U64:
            m["lsn"], m["cause"], m["seq"] = 100 + 2 * i, 99 + 2 * i, 10 + i
    return out


def malformed_outputs(msgs):
    """One message a consumer skips of every kind: no bytes, a type letter alone, an unknown letter,
    another version, a length one short of its type's or one past it."""
    bbo, dec, alert = (outstream.encode(m) for m in msgs[:3])
    return [b"", b"B", b"Z" + bbo[1:], b"b" + bbo[1:], bbo[:1] + b"\x02" + bbo[2:], dec[:1] + b"\x00" + dec[2:],
            bbo[:-1], dec + b"\0", alert[:81], bytes([0x80]) + alert[1:]]


def output_frames(msgs, bad, port=OUT_PORT, session="1773131400"):
    """The stream as dadar sends it (datagrams of at most 1400 bytes, heartbeats, end of session), the
    malformed messages in a datagram of their own, and retransmission requests to port + 1 (good and
    bad) with an answer from there."""
    client, server = "192.0.2.9", outstream.SENDER
    data = outstream.packetize(session, 1, msgs)
    frames = [outstream.frame(d, port) for d in data]
    n = len(msgs)
    frames.insert(1, outstream.frame(outstream.heartbeat(session, 1 + outstream.decode_datagram(data[0])[2]), port))
    frames.append(outstream.frame(outstream.heartbeat(session, n + 1), port))
    frames.append(outstream.frame(outstream.datagram(session, n + 1, bad), port))
    frames.append(outstream.frame(outstream.end_of_session(session, n + 1 + len(bad)), port))
    req = port + 1
    for r in (outstream.request(session, 3, 5), outstream.request(session, 1, 0), outstream.request(session, 0, 4),
              outstream.request(session, 3, 5) + b"\0", outstream.request(session, 3, 5)[:12],
              outstream.request("other", U64, U16)):
        frames.append(outstream.frame(r, req, 40000, client, server))
    frames.append(outstream.frame(outstream.datagram(session, 3, msgs[2:7]), 40000, req, server, client))
    return frames


def check_outputs(tmp):
    msgs, session = [outstream.decode(outstream.encode(m)) for m in output_samples()], "1773131400"  # every key
    bad = malformed_outputs(msgs)
    expected = msgs + bad
    frames = output_frames(msgs, bad)
    cap = os.path.join(tmp, "outputs.pcap")
    outstream.write_pcap(cap, frames)
    # the oracle reads back what it wrote
    back = outstream.read_messages(cap)
    report(sorted({s for s, _m in back}) == list(range(1, len(expected) + 1))
           and all(m == expected[s - 1] for s, m in back),
           f"outstream: the capture holds the {len(expected)} messages it was given (read back)")
    st = check_output_pcap("output stream (port 26490)", cap, expected, extra=["-o", "mold64.output_ports:26490"])
    if st is None:
        return
    kinds = st.types
    want_kinds = {t: sum(1 for m in msgs if m["type"] == t) + sum(1 for m in msgs[2:7] if m["type"] == t)
                  for t in outstream.LENGTH}
    report(kinds == want_kinds, f"output stream: every output type decoded, by type {kinds}")
    e = st.experts
    want = {"dadarout.expert.bad_length": 5, "dadarout.expert.unknown_type": 3, "dadarout.expert.bad_version": 2,
            "mold64.expert.request": 6, "mold64.expert.bad_request": 4, "mold64.expert.heartbeat": 2,
            "mold64.expert.end_of_session": 1}
    got = {k: e.get(k, 0) for k in want}
    report(got == want and st.requests == 6, f"output stream: every expert where expected: {got}, "
           f"{st.requests} requests")
    # a default capture (no -o): the same
    st = check_output_pcap("output stream, default preferences", cap, expected)

    # the output ports are a preference: on port 31000, outputs only with it set (requests to 31001)
    cap2 = os.path.join(tmp, "outputs31000.pcap")
    frames2 = output_frames(msgs, bad, port=31000, session=session)
    outstream.write_pcap(cap2, frames2)
    st = check_output_pcap("output stream on port 31000, mold64.output_ports:30000,31000", cap2, expected,
                           extra=["-o", "mold64.output_ports:30000,31000"], out_ports=(30000, 31000))
    report(st is not None and st.requests == 6, "mold64.output_ports: port 31000 decoded as outputs, 31001 as "
           "requests")
    st = check_capture("output stream on port 31000, default preferences (heuristic: ITCH)", cap2, frames2)
    report(st is not None and st.requests == 0 and not any(k.startswith("dadarout") for k in st.experts),
           "output stream on port 31000 without the preference: no output message, no request")


def check_fields():
    """The field names are the ones documented: ITCH's from the specification, all of them present."""
    p = tshark_g("fields")
    all_names = {line.split("\t")[2] for line in p.stdout.splitlines() if line.startswith("F\t")}
    names = {n for n in all_names if ".expert." not in n}
    experts = {n for n in all_names if n.split(".")[0] in ("mold64", "itch50", "dadarpay", "dadarout")
               and ".expert." in n}
    want = {f"mold64.expert.{x}" for x in ("short", "msg_overrun", "count_mismatch", "trailing", "bad_seq",
                                           "heartbeat", "end_of_session", "request", "bad_request")} | \
        {f"itch50.expert.{x}" for x in ("bad_length", "unknown_type", "empty")} | \
        {f"dadarpay.expert.{x}" for x in ("bad_length", "unknown_type", "bad_version", "invalid")} | \
        {f"dadarout.expert.{x}" for x in ("bad_length", "unknown_type", "bad_version")}
    report(experts == want, "expert info names", [f"missing {sorted(want - experts)}",
                                                  f"unexpected {sorted(experts - want)}"] if experts != want else [])
    itch = {n for n in names if n.startswith("itch50.")}
    report(itch == ITCH_FIELDS, "itch50 field names are the specification's (one per field, typed)",
           [f"missing {sorted(ITCH_FIELDS - itch)}", f"unexpected {sorted(itch - ITCH_FIELDS)}"]
           if itch != ITCH_FIELDS else [])
    pay = {"dadarpay." + f[0] for f in PAY_FIELDS} | {"dadarpay.invalid", "dadarpay.data"}
    got = {n for n in names if n.startswith("dadarpay.")}
    report(got == pay, "dadarpay field names", [f"missing {sorted(pay - got)}", f"unexpected {sorted(got - pay)}"]
           if got != pay else [])
    mold = {"mold64." + n for n in ("session", "sequence", "count", "next_sequence", "heartbeat", "end_of_session",
                                     "message", "message_length", "message_sequence", "message_data", "trailing",
                                     "short", "request", "request.session", "request.sequence", "request.count")}
    got = {n for n in names if n.startswith("mold64.")}
    report(got == mold, "mold64 field names", [f"missing {sorted(mold - got)}", f"unexpected {sorted(got - mold)}"]
           if got != mold else [])
    out = out_fields()
    got = {n for n in names if n.startswith("dadarout.")}
    report(got == out, f"dadarout field names ({len(out)})", [f"missing {sorted(out - got)}",
                                                              f"unexpected {sorted(got - out)}"] if got != out else [])


def main():
    t0 = time.monotonic()
    Env.tshark = shutil.which("tshark")
    if Env.tshark is None:
        skip("tshark is not installed (apt-get install tshark; make deps installs it)")
    if not os.access(GEN, os.X_OK):
        print(f"  FAIL  dissector_test: {GEN} is not built (run make)")
        return 1
    tmp = tempfile.mkdtemp(prefix="dd-dissector-", dir=os.environ.get("DD_IT_TMP"))  # tests/run-integration's
    Env.tmp = tmp
    home = os.path.join(tmp, "home")
    os.makedirs(home)
    Env.env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=os.path.join(home, ".config"), LC_ALL="C.UTF-8")
    Env.env.pop("WIRESHARK_CONFIG_DIR", None)
    Env.base = ["-n", "-X", f"lua_script:{LUA}"]
    p = tshark_g("protocols")
    protos = {line.split("\t")[2] for line in p.stdout.splitlines() if line.count("\t") >= 2}
    version = subprocess.run([Env.tshark, "-v"], capture_output=True, text=True, env=Env.env).stdout
    if " with Lua" not in " ".join(version.split()):
        skip(f"{Env.tshark} is built without Lua: it cannot load {LUA}")
    if not {"mold64", "itch50", "dadarpay", "dadarout"} <= protos:
        report(False, f"tshark loads {LUA}", p.stderr.strip().splitlines())
        return 1
    # Wireshark's own MoldUDP64 and ITCH dissectors have no default port; disabled all the same so that
    # nothing but dadar.lua can claim a datagram.
    builtins = sorted({"moldudp64", "nasdaq_itch"} & protos)
    for b in builtins:
        Env.base += ["--disable-protocol", b]
    print(f"dissector_test: {version.splitlines()[0]}"
          f", built-in {', '.join(builtins) or 'none'} disabled")
    # an installed copy in the system plugin folder would be loaded first (HOME is the scratch one here)
    report("dadar.lua" not in p.stderr, "dadar.lua loads once, from the tree", p.stderr.strip().splitlines())
    check_fields()
    fails = outstream.selftest()
    report(not fails, "outstream.py self-test (round trips, hand-computed offsets)", fails)
    for fn in (check_ritch, check_synth, check_payments, check_crafted, check_outputs, check_dadar_stream):
        try:
            fn(tmp)
        except Exception as e:  # noqa: BLE001  (a failing step is reported and the others still run)
            report(False, f"{fn.__name__}: {type(e).__name__}: {e}")
    dt = time.monotonic() - t0
    print(f"dissector_test: {results['pass']} passed, {results['fail']} failed in {dt:.1f} s")
    if results["fail"]:
        print(f"dissector_test: scratch files kept in {tmp}")
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
