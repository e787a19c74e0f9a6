#!/usr/bin/env python3
"""Integration test of `dadar-gen payments-csv` and `dadar-gen payments`, independent of their C code.

Captures are decoded here from the specifications alone (pcap, Ethernet, IPv4, UDP, MoldUDP64 and
the 73-byte payment message of docs/wire-formats.md, "Payment authorisation", with Python's struct)
and every field of every payment is compared with the CSV it came from. The synthetic stream's
scenarios are checked against the default rule set as ../shared/specs/fraud-rules.md states it,
evaluated here: each labelled scenario fires the rule it is named after, on the payments
docs/dadar-gen.md says it does, and ordinary traffic fires none of the rules the scenarios are
about (only new_device, new_merchant and merchant_category, which every first payment fires).

usage: paygen_test.py [BUILD_DIR]   (default: $B, else build/ under the repository)

Builds nothing: needs BUILD_DIR/dadar-gen. Prints PASS/FAIL per check; exits 0 if every check
passed, 1 if any failed, 77 (loudly) if dadar-gen is missing. Scratch files go to a temporary
directory, removed at the end (kept, and named, when a check failed).
"""
import collections
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BUILD = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("B", "build")
BUILD = BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD)
GEN = os.path.join(BUILD, "dadar-gen")

HEADER = "txn_id,time_ns,payer,payee,merchant,amount_minor,currency,mcc,channel,type,device,lat_e6,lon_e6"
CHANNEL = {"upi": b"U", "card": b"C", "wallet": b"W"}
KIND = {"p2p": b"P", "p2m": b"M", "bill": b"B"}
NS = 1_000_000_000
HOUR = 3600 * NS
DAY = 24 * HOUR
IST = 19800 * NS
START_DEFAULT = 1773081000 * NS  # 2026-03-10 00:00 IST

# City centres (degrees), from public gazetteers, for the "real Indian cities" check.
CITIES = {
    "Mumbai": (19.0760, 72.8777), "Delhi": (28.6139, 77.2090), "Bengaluru": (12.9716, 77.5946),
    "Hyderabad": (17.3850, 78.4867), "Chennai": (13.0827, 80.2707), "Kolkata": (22.5726, 88.3639),
    "Pune": (18.5204, 73.8567), "Ahmedabad": (23.0225, 72.5714), "Jaipur": (26.9124, 75.7873),
    "Lucknow": (26.8467, 80.9462), "Surat": (21.1702, 72.8311), "Kanpur": (26.4499, 80.3319),
    "Nagpur": (21.1458, 79.0882), "Indore": (22.7196, 75.8577), "Bhopal": (23.2599, 77.4126),
    "Patna": (25.5941, 85.1376), "Chandigarh": (30.7333, 76.7794), "Kochi": (9.9312, 76.2673),
    "Guwahati": (26.1445, 91.7362), "Visakhapatnam": (17.6868, 83.2185),
}

results = {"pass": 0, "fail": 0}


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


def run(*args, rc=0):
    p = subprocess.run([GEN, *args], capture_output=True, text=True)
    if rc is not None and p.returncode != rc:
        raise AssertionError(f"dadar-gen {' '.join(args)}: exit {p.returncode}, expected {rc}\n{p.stderr}")
    return p


# ---- decoding, from the specifications ------------------------------------------------------------

def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def read_pcap(path):
    """[(ts_ns, frame)] of a classic pcap written little-endian with nanosecond timestamps."""
    data = open(path, "rb").read()
    magic, vmaj, vmin, _, _, snaplen, link = struct.unpack_from("<IHHiIII", data, 0)
    expect(magic == 0xA1B23C4D and (vmaj, vmin) == (2, 4) and link == 1, f"{path}: not a ns pcap of Ethernet")
    off, out = 24, []
    while off < len(data):
        sec, nsec, incl, orig = struct.unpack_from("<IIII", data, off)
        expect(incl == orig and off + 16 + incl <= len(data), f"{path}: bad record at {off}")
        out.append((sec * NS + nsec, data[off + 16:off + 16 + incl]))
        off += 16 + incl
    return out


def udp_of(frame):
    """(src_ip, dst_ip, sport, dport, payload, dst_mac) of an untagged Ethernet/IPv4/UDP frame, checked."""
    dst_mac, ethertype = frame[0:6], struct.unpack_from("!H", frame, 12)[0]
    expect(ethertype == 0x0800, f"ethertype {ethertype:#x}")
    ip = frame[14:]
    ihl = (ip[0] & 0xF) * 4
    total = struct.unpack_from("!H", ip, 2)[0]
    expect(ip[0] >> 4 == 4 and ihl == 20 and ip[9] == 17, "not IPv4/UDP")
    expect(csum(ip[:ihl]) == 0xFFFF, "bad IPv4 header checksum")
    src, dst = ip[12:16], ip[16:20]
    udp = ip[ihl:total]
    sport, dport, ulen, ucs = struct.unpack_from("!HHHH", udp, 0)
    expect(ulen == len(udp), "UDP length")
    if ucs:
        pseudo = src + dst + struct.pack("!BBH", 0, 17, ulen)
        expect(csum(pseudo + udp) == 0xFFFF, "bad UDP checksum")
    return ".".join(map(str, src)), ".".join(map(str, dst)), sport, dport, udp[8:], dst_mac


PAY = struct.Struct(">ccQQQQQq3sHccQii")
assert PAY.size == 73


def decode_capture(path, group="239.192.26.48", port=26480, session=b"DADARPAY01"):
    """[(payment dict)], [(ts_ns, first event_ns, count)] of a capture; framing checked on the way."""
    pays, dgrams, next_seq = [], [], None
    g = [int(x) for x in group.split(".")]
    mac = bytes([0x01, 0x00, 0x5E, g[1] & 0x7F, g[2], g[3]])
    for ts, frame in read_pcap(path):
        src, dst, sport, dport, dg, dst_mac = udp_of(frame)
        expect((dst, dport, sport) == (group, port, port), f"sent to {dst}:{dport} from port {sport}")
        expect(dst_mac == mac, f"destination MAC {dst_mac.hex()} for group {group}")
        sess, seq, count = struct.unpack_from(">10sQH", dg, 0)
        expect(sess == session.ljust(10), f"session {sess!r}")
        if count in (0, 0xFFFF):
            continue
        expect(next_seq is None or seq == next_seq, f"sequence {seq}, expected {next_seq}")
        off, first = 20, None
        for j in range(count):
            (n,) = struct.unpack_from(">H", dg, off)
            expect(n == 73, f"message length {n}")
            f = PAY.unpack_from(dg, off + 2)
            expect(f[0] == b"P" and f[1] == b"\x01", f"type/version {f[0]!r} {f[1]!r}")
            pays.append(dict(time_ns=f[2], txn_id=f[3], payer=f[4], payee=f[5], merchant=f[6], amount=f[7],
                             currency=f[8], mcc=f[9], channel=f[10], kind=f[11], device=f[12], lat=f[13],
                             lon=f[14], seq=seq + j))
            if first is None:
                first = f[2]
            off += 2 + n
        expect(off == len(dg), "trailing bytes in a datagram")
        dgrams.append((ts, first, count))
        next_seq = seq + count
    return pays, dgrams


def read_csv(path):
    lines = open(path, encoding="ascii").read().split("\n")
    expect(lines[0] == HEADER, f"{path}: header {lines[0]!r}")
    rows = []
    for ln in lines[1:]:
        if not ln:
            continue
        c = ln.split(",")
        rows.append(dict(txn_id=int(c[0]), time_ns=int(c[1]), payer=int(c[2]), payee=int(c[3]),
                         merchant=int(c[4]), amount=int(c[5]), currency=c[6].encode(), mcc=int(c[7]),
                         channel=CHANNEL[c[8]], kind=KIND[c[9]], device=int(c[10]), lat=int(c[11]),
                         lon=int(c[12])))
    return rows


def same_fields(pays, rows):
    expect(len(pays) == len(rows), f"{len(pays)} payments in the capture, {len(rows)} rows")
    for i, (p, r) in enumerate(zip(pays, rows)):
        for k, v in r.items():
            expect(p[k] == v, f"payment {i + 1} ({r['txn_id']}): {k} {p[k]!r} on the wire, {v!r} in the CSV")


def check_timestamps(dgrams):
    prev = 0
    for ts, first, _ in dgrams:
        want = max(prev, first)
        expect(ts == want, f"pcap time {ts}, expected {want} (first payment {first})")
        prev = ts


# ---- the default rule set, from ../shared/specs/fraud-rules.md -----------------------------------

SCENARIO_RULES = {
    "velocity_hour_amount", "velocity_hour_count", "velocity_day_amount", "repeated_amount",
    "round_amount", "below_limit", "structuring", "late_night_large", "new_device_large",
    "shared_device", "impossible_travel", "fast_travel", "merchant_high_risk", "merchant_medium_risk",
}


def haversine_km(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def evaluate(pays, risk):
    """The set of rules that fire for each payment, in stream order (which is time order)."""
    hist = collections.defaultdict(collections.deque)
    first_use, dev_payers, last_loc, out = {}, collections.defaultdict(set), {}, []
    for p in pays:
        t, a, fired = p["time_ns"], p["amount"], set()
        dq = hist[p["payer"]]
        dq.append((t, a))
        while dq[0][0] <= t - DAY:
            dq.popleft()
        hour = [x for x in dq if x[0] > t - HOUR]
        if sum(x[1] for x in hour) > 5_000_000:
            fired.add("velocity_hour_amount")
        if len(hour) > 20:
            fired.add("velocity_hour_count")
        if sum(x[1] for x in dq) > 20_000_000:
            fired.add("velocity_day_amount")
        if len(hour) >= 5 and len({x[1] for x in hour[-5:]}) == 1:
            fired.add("repeated_amount")
        if a in (1_000_000, 2_500_000, 5_000_000, 10_000_000):
            fired.add("round_amount")
        if a in (999_900, 2_499_900, 4_999_900, 9_999_900):
            fired.add("below_limit")
        if 900_000 <= a <= 999_900:
            fired.add("structuring")
        if a > 1_000_000 and (t + IST) // HOUR % 24 in (23, 0, 1, 2, 3, 4, 5):
            fired.add("late_night_large")
        key = (p["payer"], p["device"])
        first_use.setdefault(key, t)
        if t - first_use[key] < 48 * HOUR:
            fired.add("new_device")
            if a > 2_500_000:
                fired.add("new_device_large")
        dev_payers[p["device"]].add(p["payer"])
        if len(dev_payers[p["device"]]) > 3:
            fired.add("shared_device")
        if p["lat"] or p["lon"]:
            here = (p["lat"] / 1e6, p["lon"] / 1e6)
            prev = last_loc.get(p["payer"])
            if prev and t > prev[0]:
                speed = haversine_km(*prev[1], *here) / ((t - prev[0]) / HOUR)
                if speed > 900:
                    fired.add("impossible_travel")
                elif speed > 100:
                    fired.add("fast_travel")
            last_loc[p["payer"]] = (t, here)
        if p["merchant"]:
            r = risk.get(p["merchant"], 0)
            if r > 70:
                fired.add("merchant_high_risk")
            elif r > 50:
                fired.add("merchant_medium_risk")
        out.append(fired)
    return out


# Which payments of each scenario fire its rule, by position among the scenario payer's own
# payments (1-based; -1 the last), as docs/dadar-gen.md states; None: every one of them.
MUST_FIRE = {
    "velocity_hour_count": {21, 22, 23, 24},
    "velocity_hour_amount": {-1},
    "velocity_day_amount": {-1},
    "repeated_amount": {5, 6},
    "structuring": None, "below_limit": None, "round_amount": None,
    "new_device_large": {3},
    "impossible_travel": {2}, "fast_travel": {2},
    "late_night_large": None, "merchant_high_risk": None, "merchant_medium_risk": None,
}
NEVER_FIRE = {  # positions where the scenario's own rule must not fire yet
    "velocity_hour_count": set(range(1, 21)), "repeated_amount": {1, 2, 3, 4},
    "new_device_large": {1, 2}, "impossible_travel": {1}, "fast_travel": {1},
}


# ---- the checks ------------------------------------------------------------------------------------

def main():
    if not os.access(GEN, os.X_OK):
        print(f"  SKIP  paygen_test: {GEN} is not built (run make)")
        return 77
    tmp = tempfile.mkdtemp(prefix="paygen_test.")
    T = lambda name: os.path.join(tmp, name)  # noqa: E731

    edge = T("edge.csv")
    with open(edge, "w") as f:
        f.write(HEADER + "\n")
        f.write("1,1773081000000000000,10000000001,0,50000000001,12345,INR,5411,upi,p2m,7,19076000,72877700\n")
        f.write("2,1773081000000000500,10000000002,10000000001,0,-500,INR,0,wallet,p2p,8,0,0\n")
        # earlier than the one before: the capture's time does not go backwards
        f.write("3,1773080000000000000,3,0,4,0,XYZ,4900,card,bill,9,95000000,-181000000\n")
        f.write("18446744073709551615,0,18446744073709551615,18446744073709551615,18446744073709551615,"
                "-9223372036854775808,usd,65535,upi,p2p,18446744073709551615,-2147483648,2147483647\n")
        for i in range(5, 45):
            f.write(f"{i},{1773081000000000000 + i * 1000},{10000000000 + i},0,{50000000000 + i},{i * 100},INR,"
                    f"5812,card,p2m,{i},{12971600 + i},{77594600 - i}\n")

    def csv_fields_exact():
        out = T("edge.pcap")
        p = run("payments-csv", edge, out)
        contains(p.stderr, "payments-csv " + edge + ": 44 payments")
        pays, dgrams = decode_capture(out)
        same_fields(pays, read_csv(edge))
        expect([d[2] for d in dgrams] == [18, 18, 8], f"messages per datagram {[d[2] for d in dgrams]}")
        check_timestamps(dgrams)
        expect([p["seq"] for p in pays] == list(range(1, 45)), "sequence numbers")

    def packing_and_options():
        out = T("opts.pcap")
        run("payments-csv", edge, out, "--max-payload", "95", "--group", "239.1.2.3", "--port", "30000",
            "--session", "PAYX", "--first-seq", "100", "--end-of-session")
        pays, dgrams = decode_capture(out, group="239.1.2.3", port=30000, session=b"PAYX")
        expect(len(dgrams) == 44 and all(d[2] == 1 for d in dgrams), "one payment per datagram at --max-payload 95")
        expect(pays[0]["seq"] == 100 and pays[-1]["seq"] == 143, "--first-seq 100")
        same_fields(pays, read_csv(edge))
        p = run("payments-csv", edge, out, "--max-payload", "94", rc=2)
        contains(p.stderr, "--max-payload 94: payments-csv needs at least 95")

    def csv_errors_name_file_line_and_column():
        cases = [
            ("bad header", "txn,time_ns\n1,2\n", ":1: header column 1 is 'txn', expected 'txn_id'"),
            ("no header", "1,2,3,0,5,1,INR,5411,upi,p2m,9,0,0\n", ":1: header column 1 is '1'"),
            ("bad channel", "1,2,3,0,5,1,INR,5411,neft,p2m,9,0,0\n",
             ":2: column 9 (channel): 'neft' is not one of upi, card, wallet"),
            ("bad type", "1,2,3,0,5,1,INR,5411,upi,P2M,9,0,0\n", ":2: column 10 (type): 'P2M'"),
            ("amount out of range", "1,2,3,0,5,9223372036854775808,INR,5411,upi,p2m,9,0,0\n",
             ":2: column 6 (amount_minor): '9223372036854775808' is out of range"),
            ("mcc out of range", "1,2,3,0,5,1,INR,70000,upi,p2m,9,0,0\n", ":2: column 8 (mcc): '70000'"),
            ("lat out of range", "1,2,3,0,5,1,INR,1,upi,p2m,9,3000000000,0\n", ":2: column 12 (lat_e6)"),
            ("currency", "1,2,3,0,5,1,RS,1,upi,p2m,9,0,0\n", ":2: column 7 (currency): 'RS' is not three"),
            ("not a number", "1,2,3x,0,5,1,INR,1,upi,p2m,9,0,0\n", ":2: column 3 (payer): '3x'"),
            ("12 columns", "1,2,3,0,5,1,INR,1,upi,p2m,9,0\n", ":2: 12 columns, expected 13"),
            ("14 columns", "1,2,3,0,5,1,INR,1,upi,p2m,9,0,0,0\n", ":2: 14 columns, expected 13"),
        ]
        for name, body, want in cases:
            src, out = T("bad.csv"), T("bad.pcap")
            with open(src, "w") as f:
                f.write(body if name in ("bad header", "no header") else HEADER + "\n" + body)
            p = run("payments-csv", src, out, rc=1)
            contains(p.stderr, src + want)
            expect(not os.path.exists(out), f"{name}: {out} left behind")
        with open(T("empty.csv"), "w"):
            pass
        p = run("payments-csv", T("empty.csv"), T("bad.pcap"), rc=1)
        contains(p.stderr, "empty file")
        p = run("payments-csv", T("missing.csv"), T("bad.pcap"), rc=1)
        contains(p.stderr, "missing.csv) failed: No such file or directory")

    def usage_errors_exit_2():
        for args, want in [
            (("payments-csv",), "missing IN and OUT.pcap"),
            (("payments-csv", edge), "missing OUT.pcap"),
            (("payments-csv", edge, T("x.pcap"), "--count", "5"), "--count: only for payments"),
            (("payments-csv", edge, T("x.pcap"), "--seed", "5"), "--seed: only for synth and payments"),
            (("payments", T("x.pcap"), "--count", "10"), "--count 10: the scenarios alone take 72 payments"),
            (("payments", T("x.pcap"), "--payers", "0"), "--payers 0: must be between 1 and 1000000"),
            (("payments", T("x.pcap"), "--payers", "10"), "--payers 10: too few"),
            (("payments", T("x.pcap"), "--days", "400"), "--days 400"),
            (("payments", T("x.pcap"), "--labels"), "needs a value"),
            (("synth", T("x.pcap"), "--labels", "l.csv"), "--labels: only for payments"),
        ]:
            p = run(*args, rc=2)
            contains(p.stderr, want)
        p = run("help")
        contains(p.stdout, "dadar-gen payments OUT.pcap")

    # the synthetic stream: 2 days, 2 instances of each scenario
    gen_args = ["--seed", "5", "--count", "30000", "--payers", "4000", "--days", "2", "--scenarios", "2"]
    stream = {}

    def synthetic_stream_matches_its_csv():
        out = T("s.pcap")
        p = run("payments", out, *gen_args, "--csv", T("s.csv"), "--labels", T("s.labels"),
                "--merchant-table", T("s.mt"))
        contains(p.stderr, "30000 payments (29856 ordinary, velocity_hour_count 48,")
        pays, dgrams = decode_capture(out)
        rows = read_csv(T("s.csv"))
        same_fields(pays, rows)
        check_timestamps(dgrams)
        expect([r["txn_id"] for r in rows] == list(range(1, 30001)), "txn ids are 1..N")
        expect(all(a["time_ns"] <= b["time_ns"] for a, b in zip(rows, rows[1:])), "times never decrease")
        expect(rows[0]["time_ns"] >= START_DEFAULT and rows[-1]["time_ns"] < START_DEFAULT + 2 * DAY,
               "times inside the two days")
        stream["rows"] = rows

    def csv_of_the_stream_reproduces_the_capture():
        run("payments-csv", T("s.csv"), T("s2.pcap"))
        expect(open(T("s.pcap"), "rb").read() == open(T("s2.pcap"), "rb").read(),
               "payments-csv of --csv is not byte-identical")
        run("payments", T("d.pcap"), "--csv", T("d.csv"))
        run("payments-csv", T("d.csv"), T("d2.pcap"))
        expect(open(T("d.pcap"), "rb").read() == open(T("d2.pcap"), "rb").read(), "defaults: not identical")

    def same_seed_same_bytes_other_seed_other_bytes():
        run("payments", T("r.pcap"), *gen_args, "--csv", T("r.csv"), "--labels", T("r.labels"),
            "--merchant-table", T("r.mt"))
        for a, b in (("s.pcap", "r.pcap"), ("s.csv", "r.csv"), ("s.labels", "r.labels"), ("s.mt", "r.mt")):
            expect(open(T(a), "rb").read() == open(T(b), "rb").read(), f"{a} and {b} differ")
        run("payments", T("o.pcap"), *gen_args[2:], "--seed", "6")
        expect(open(T("s.pcap"), "rb").read() != open(T("o.pcap"), "rb").read(), "seed 6 = seed 5")

    def scenarios_fire_their_rules_and_ordinary_traffic_none():
        rows = stream["rows"]
        risk = {}
        with open(T("s.mt")) as f:
            expect(f.readline() == "merchant,risk\n", "merchant table header")
            for ln in f:
                m, r = ln.split(",")
                risk[int(m)] = int(r)
        labels = {}
        with open(T("s.labels")) as f:
            expect(f.readline() == "txn_id,scenario\n", "labels header")
            for ln in f:
                t, s = ln.strip().split(",")
                labels[int(t)] = s
        counts = collections.Counter(labels.values())
        expect(counts == {"velocity_hour_count": 48, "velocity_hour_amount": 8, "velocity_day_amount": 20,
                          "repeated_amount": 12, "structuring": 6, "below_limit": 8, "round_amount": 8,
                          "new_device_large": 6, "shared_device": 10, "impossible_travel": 4,
                          "fast_travel": 4, "late_night_large": 2, "merchant_high_risk": 4,
                          "merchant_medium_risk": 4}, f"label counts {counts}")
        fired = evaluate(rows, risk)
        for p, f in zip(rows, fired):
            if p["txn_id"] not in labels:
                bad = f & SCENARIO_RULES
                expect(not bad, f"ordinary payment {p['txn_id']} fires {sorted(bad)}")
        by_payer = collections.defaultdict(list)  # (label, payer) -> [index]
        by_device = collections.defaultdict(list)
        for i, p in enumerate(rows):
            lab = labels.get(p["txn_id"])
            if lab:
                by_payer[(lab, p["payer"])].append(i)
                by_device[(lab, p["device"])].append(i)
        for (lab, payer), idx in by_payer.items():
            if lab == "shared_device":
                continue
            must = MUST_FIRE[lab]
            pos = set(range(1, len(idx) + 1)) if must is None else {len(idx) if k == -1 else k for k in must}
            for k in pos:
                expect(lab in fired[idx[k - 1]], f"{lab}: payment {k} of payer {payer} does not fire it")
            for k in NEVER_FIRE.get(lab, ()):
                expect(lab not in fired[idx[k - 1]], f"{lab}: payment {k} of payer {payer} fires it already")
        shared = [idx for (lab, _), idx in by_device.items() if lab == "shared_device"]
        expect(len(shared) == 2, f"{len(shared)} shared devices")
        for idx in shared:
            expect(len({rows[i]["payer"] for i in idx}) == 5, "five payers on the shared device")
            expect([("shared_device" in fired[i]) for i in idx] == [False, False, False, True, True],
                   "shared_device fires on the 4th and 5th payer")

    def places_rhythm_and_amounts_look_like_india():
        rows = stream["rows"]
        located = [(r["lat"] / 1e6, r["lon"] / 1e6) for r in rows if r["lat"] or r["lon"]]
        expect(0.9 * len(rows) < len(located) < len(rows), f"{len(located)} of {len(rows)} with a location")
        for lat, lon in located[::50]:
            near = min(haversine_km(lat, lon, *c) for c in CITIES.values())
            expect(near < 8, f"({lat}, {lon}) is {near:.1f} km from the nearest city centre")
        hours = collections.Counter((r["time_ns"] + IST) // HOUR % 24 for r in rows)
        night = sum(hours[h] for h in (1, 2, 3, 4)) / 4
        day = sum(hours[h] for h in (10, 11, 12, 13)) / 4
        expect(night * 5 < day, f"per hour: {night} at night, {day} by day")
        amounts = [r["amount"] for r in rows]
        share = sum(1_000 <= a <= 500_000 for a in amounts) / len(amounts)
        expect(share > 0.85, f"only {share:.0%} of amounts in Rs 10-5,000")
        kinds = collections.Counter(r["kind"] for r in rows)
        expect(kinds[b"M"] > kinds[b"P"] > kinds[b"B"] > 0, f"kinds {kinds}")
        channels = collections.Counter(r["channel"] for r in rows)
        expect(channels[b"U"] > channels[b"C"] > 0 and channels[b"W"] > 0, f"channels {channels}")
        expect(all(r["currency"] == b"INR" for r in rows), "currency")

    check("payments-csv: every field on the wire equals the CSV (extremes, invalid but encodable values), "
          "18 payments per 1400-byte datagram, pcap time from the first payment and never backwards", csv_fields_exact)
    check("payments-csv: --max-payload 95 gives one payment per datagram; --group, --port, --session, "
          "--first-seq honoured; 94 refused", packing_and_options)
    check("payments-csv: malformed CSV exits 1 naming file:line and the column, no capture left behind",
          csv_errors_name_file_line_and_column)
    check("usage errors exit 2 naming the option", usage_errors_exit_2)
    check("payments: the capture equals its --csv field by field; ids 1..N; times non-decreasing", synthetic_stream_matches_its_csv)
    check("payments-csv of payments --csv reproduces the capture byte for byte", csv_of_the_stream_reproduces_the_capture)
    check("payments: same seed same bytes (capture, CSV, labels, merchant table), another seed other bytes",
          same_seed_same_bytes_other_seed_other_bytes)
    check("payments: every scenario fires its rule where documented; ordinary payments fire none of them",
          scenarios_fire_their_rules_and_ordinary_traffic_none)
    check("payments: locations near real city centres, quiet nights, amounts mostly Rs 10-5,000",
          places_rhythm_and_amounts_look_like_india)

    print(f"paygen_test: {results['pass']} passed, {results['fail']} failed")
    if results["fail"]:
        print(f"paygen_test: scratch files kept in {tmp}")
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
