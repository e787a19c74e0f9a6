#!/usr/bin/env python3
"""Checks a planted day of `dadar-gen synth --plant` against rules/market.rules, independently of its C.

The captures are decoded here from the specifications alone (pcap, Ethernet, IPv4, UDP, MoldUDP64,
ITCH 5.0), the books rebuilt per feed, the streams of docs/patterns.md derived (trade, order, cancel,
halt, any, bbo, and the windows volume_1m and price_5m), and the ten shipped patterns evaluated as
docs/patterns.md, "Matching, exactly", defines them, with the rule file's thresholds written out
here. The alerts found must be exactly the lines of the --expect file, in its order. Where the
documentation leaves a choice open (a window or an absence fires when the watermark reaches its end
or only once past it; before or after the message that moves the watermark is matched; a bbo record
after every book change or only when the top changes), every combination is run and must agree.

With dadar-rules at hand, the same streams are also written as `dadar-rules run` text (a `wm` line
at every message's time, before or after its records) and run through rules/market.rules by dadar's
own window and pattern operators: their alerts must be the expected ones too.

usage: plant_check.py OUT.pcap ALERTS.jsonl [OUT2.pcap] [--rules-bin DADAR_RULES]
                                                          check these files
       plant_check.py [--build DIR]                       run BUILD/dadar-gen (default $B, else build/)
                                                          over several plantings and seeds, check each
                                                          (and through BUILD/dadar-rules when built)

Prints PASS/FAIL per check; exits 0 if all passed, 1 if any failed, 77 (loudly) if dadar-gen is
missing. Scratch files go to a temporary directory, removed at the end (kept and named on failure).
"""
import heapq
import itertools
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))

NS = 1_000_000_000
MINUTE = 60 * NS
PATTERNS = ["momentum", "volume_spike", "bull_run", "bear_signal", "insider", "manipulation",
            "spoofing", "circuit_breaker", "arbitrage", "stale_feed"]


class Bad(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Bad(what)


# ---- capture decoding ------------------------------------------------------------------------------

def read_pcap(path):
    """The ITCH messages of a capture, in order, as (bytes, timestamp)."""
    with open(path, "rb") as f:
        data = f.read()
    expect(len(data) >= 24, f"{path}: no pcap header")
    magic, vmaj, vmin, _, _, snap, link = struct.unpack_from("<IHHiIII", data, 0)
    expect(magic == 0xA1B23C4D and (vmaj, vmin) == (2, 4) and link == 1, f"{path}: not a ns pcap of Ethernet")
    off, seq, msgs = 24, None, []
    while off < len(data):
        expect(off + 16 <= len(data), f"{path}: truncated record header at {off}")
        _, _, incl, orig = struct.unpack_from("<IIII", data, off)
        frame = data[off + 16:off + 16 + incl]
        expect(len(frame) == incl == orig, f"{path}: truncated frame at {off}")
        off += 16 + incl
        eth = 14
        etype = struct.unpack_from(">H", frame, 12)[0]
        if etype == 0x8100:
            etype = struct.unpack_from(">H", frame, 16)[0]
            eth = 18
        expect(etype == 0x0800, f"{path}: a frame that is not IPv4")
        ihl = (frame[eth] & 15) * 4
        expect(frame[eth + 9] == 17, f"{path}: a frame that is not UDP")
        total = struct.unpack_from(">H", frame, eth + 2)[0]
        udp = frame[eth + ihl:eth + total]
        ulen = struct.unpack_from(">H", udp, 4)[0]
        expect(ulen == len(udp), f"{path}: UDP length {ulen} for {len(udp)} bytes")
        mold = udp[8:]
        first, count = struct.unpack_from(">QH", mold, 10)
        expect(seq is None or first == seq, f"{path}: MoldUDP64 sequence {first}, expected {seq}")
        p = 20
        for _ in range(count):
            n = struct.unpack_from(">H", mold, p)[0]
            m = mold[p + 2:p + 2 + n]
            expect(len(m) == n, f"{path}: message cut short")
            msgs.append((m, int.from_bytes(m[5:11], "big")))
            p += 2 + n
        expect(p == len(mold), f"{path}: trailing bytes in a datagram")
        seq = first + count
    return msgs


LENGTHS = {"S": 12, "R": 39, "H": 25, "A": 36, "F": 40, "E": 31, "C": 36, "X": 23, "D": 19, "U": 35,
           "P": 44}


def decode(m):
    """The fields the streams read; other types (no stream reads them) only carry their time."""
    t = chr(m[0])
    expect(t not in LENGTHS or len(m) == LENGTHS[t], f"message {t!r} of {len(m)} bytes")
    d = {"type": t, "locate": struct.unpack_from(">H", m, 1)[0], "time": int.from_bytes(m[5:11], "big")}
    if t == "R":
        d["stock"] = m[11:19].decode().rstrip()
    elif t == "H":
        d.update(stock=m[11:19].decode().rstrip(), state=chr(m[19]), reason=m[21:25].decode().rstrip())
    elif t in "AF":
        ref, side, shares = struct.unpack_from(">QcI", m, 11)
        d.update(ref=ref, side=side.decode(), shares=shares, stock=m[24:32].decode().rstrip(),
                 price=struct.unpack_from(">I", m, 32)[0])
    elif t == "E":
        d.update(zip(("ref", "shares", "match"), struct.unpack_from(">QIQ", m, 11)))
    elif t == "C":
        d.update(zip(("ref", "shares", "match"), struct.unpack_from(">QIQ", m, 11)))
        d["price"] = struct.unpack_from(">I", m, 32)[0]
    elif t == "X":
        d.update(zip(("ref", "shares"), struct.unpack_from(">QI", m, 11)))
    elif t == "D":
        d["ref"] = struct.unpack_from(">Q", m, 11)[0]
    elif t == "U":
        d.update(zip(("ref", "new_ref", "shares", "price"), struct.unpack_from(">QQII", m, 11)))
    elif t == "P":
        ref, side, shares = struct.unpack_from(">QcI", m, 11)
        d.update(ref=ref, side=side.decode(), shares=shares, stock=m[24:32].decode().rstrip(),
                 price=struct.unpack_from(">I", m, 32)[0], match=struct.unpack_from(">Q", m, 36)[0])
    return d


# ---- books and streams -------------------------------------------------------------------------------

class Feed:
    """One venue's book: orders by reference, shares per price level, symbols by locate."""

    def __init__(self, index):
        self.index = index
        self.symbols = {}
        self.orders = {}
        self.levels = {}   # (symbol, side) -> {price: shares}

    def top(self, sym):
        bids = self.levels.get((sym, "B"), {})
        asks = self.levels.get((sym, "S"), {})
        bid = max(bids) if bids else 0
        ask = min(asks) if asks else 0
        return (bid, ask, bids.get(bid, 0), asks.get(ask, 0))

    def _level(self, o, delta):
        lv = self.levels.setdefault((o["symbol"], o["side"]), {})
        lv[o["price"]] = lv.get(o["price"], 0) + delta
        if lv[o["price"]] == 0:
            del lv[o["price"]]

    def apply(self, d):
        """Apply message d; returns the records it makes (stream, symbol, fields)."""
        t = d["type"]
        out = []
        if t == "R":
            self.symbols[d["locate"]] = d["stock"]
            return out
        if t not in "HAFECXDUP":
            return out
        sym = self.symbols.get(d["locate"])
        expect(sym is not None, f"feed {self.index}: message {t} for locate {d['locate']} before its R")
        base = {"time": d["time"], "source": self.index}
        if t == "H":
            out.append(("halt", sym, dict(base, state=d["state"], reason=d["reason"])))
        elif t in "AF":
            expect(d["ref"] not in self.orders, f"feed {self.index}: reference {d['ref']} added twice")
            expect(d["stock"] == sym, f"add for {d['stock']} under the locate of {sym}")
            o = {"symbol": sym, "side": d["side"], "price": d["price"], "shares": d["shares"]}
            bid, ask, _, _ = self.top(sym)
            expect((o["side"] == "B" and (ask == 0 or o["price"] < ask)) or
                   (o["side"] == "S" and (bid == 0 or o["price"] > bid)),
                   f"feed {self.index}: {sym} add at {o['price']} crosses its own book ({bid}/{ask})")
            self.orders[d["ref"]] = o
            self._level(o, d["shares"])
            out.append(("order", sym, dict(base, ref=d["ref"], side=d["side"], shares=d["shares"],
                                           price=d["price"])))
        elif t in "ECXD":
            o = self.orders.get(d["ref"])
            expect(o is not None and o["symbol"] == sym, f"feed {self.index}: {t} on a dead order {d['ref']}")
            shares = o["shares"] if t == "D" else d["shares"]
            expect(0 < shares <= o["shares"], f"feed {self.index}: {t} of {shares} on {o['shares']} shares")
            expect(t != "X" or shares < o["shares"], "an X that cancels the whole order (that is a D)")
            if t in "EC":
                best = self.top(sym)[0 if o["side"] == "B" else 1]
                expect(o["price"] == best, f"feed {self.index}: execution at {o['price']}, best {best}")
                price = o["price"] if t == "E" else d["price"]
                out.append(("trade", sym, dict(base, ref=d["ref"], match=d["match"], shares=shares,
                                               price=price, side=o["side"],
                                               aggressor="S" if o["side"] == "B" else "B")))
            else:
                out.append(("cancel", sym, dict(base, ref=d["ref"], shares=0 if t == "D" else shares,
                                                deleted=1 if t == "D" else 0)))
            o["shares"] -= shares
            self._level(o, -shares)
            if o["shares"] == 0:
                del self.orders[d["ref"]]
        elif t == "P":
            out.append(("trade", sym, dict(base, ref=d["ref"], match=d["match"], shares=d["shares"],
                                           price=d["price"], side=d["side"],
                                           aggressor="S" if d["side"] == "B" else "B")))
        elif t == "U":
            o = self.orders.pop(d["ref"], None)
            expect(o is not None and o["symbol"] == sym, f"feed {self.index}: U of a dead order {d['ref']}")
            self._level(o, -o["shares"])
            n = dict(o, price=d["price"], shares=d["shares"])
            self.orders[d["new_ref"]] = n
            self._level(n, n["shares"])
        out.append(("any", sym, dict(base)))
        return out


# ---- the rules -------------------------------------------------------------------------------------

class Windows:
    """volume_1m and price_5m per symbol (TUMBLING, LATENESS 0), fired as the watermark passes."""

    def __init__(self, strict):
        self.strict = strict
        self.v = {}     # symbol -> {minute: [count, volume]}
        self.vfirst = {}
        self.p = {}     # symbol -> {window: [open, low, high, count]}
        self.open = []  # (end, stream, symbol, key) not fired yet

    def add(self, sym, r):
        k = r["time"] // MINUTE
        w = self.v.setdefault(sym, {})
        if k not in w:
            w[k] = [0, 0]
            self.vfirst.setdefault(sym, k)
            heapq.heappush(self.open, ((k + 1) * MINUTE, "volume_1m", sym, k))
        w[k][0] += 1
        w[k][1] += r["shares"]
        k5 = r["time"] // (5 * MINUTE)
        w = self.p.setdefault(sym, {})
        if k5 not in w:
            w[k5] = [r["price"], r["price"], r["price"], 0]
            heapq.heappush(self.open, ((k5 + 1) * 5 * MINUTE, "price_5m", sym, k5))
        w[k5][1] = min(w[k5][1], r["price"])
        w[k5][2] = max(w[k5][2], r["price"])
        w[k5][3] += 1

    def fire(self, wm):
        out = []
        while self.open and (self.open[0][0] < wm if self.strict else self.open[0][0] <= wm):
            end, stream, sym, k = heapq.heappop(self.open)
            if stream == "volume_1m":
                w = self.v[sym]
                n = min(10, k - self.vfirst[sym])
                avg = sum(w.get(j, [0, 0])[1] for j in range(k - n, k)) // n if n else 0
                out.append((stream, sym, {"time": end, "start": end - MINUTE, "end": end, "trades": w[k][0],
                                          "volume": w[k][1], "avg_volume": avg}))
            else:
                o, lo, hi, c = self.p[sym][k]
                out.append((stream, sym, {"time": end, "start": end - 5 * MINUTE, "end": end, "open": o,
                                          "low": lo, "high": hi, "trades": c}))
        return out


def news(r):
    return r["state"] == "H" and r["reason"] in ("T1", "T2")


def spike(r):
    return r["avg_volume"] > 0 and r["volume"] >= 3 * r["avg_volume"]


# Two-step patterns `a -> b` (skip till next), WITHIN, AFTER MATCH SKIP PAST LAST ROW, MAX PARTIAL 8:
# (streams, first, second(record, first), within, measures(first, last)).
SEQ = {
    "bull_run": (("volume_1m", "halt"), lambda s, r: s == "volume_1m" and spike(r),
                 lambda s, r, f: s == "halt" and news(r), 10 * MINUTE,
                 lambda f, l: {"volume": f["volume"], "avg_volume": f["avg_volume"]}),
    "insider": (("volume_1m", "halt"), lambda s, r: s == "volume_1m" and spike(r),
                lambda s, r, f: s == "halt" and news(r) and r["time"] - f["end"] >= 5 * MINUTE, 30 * MINUTE,
                lambda f, l: {"volume": f["volume"], "avg_volume": f["avg_volume"]}),
    "bear_signal": (("halt", "order", "trade"), lambda s, r: s == "halt" and news(r),
                    lambda s, r, f: s in ("order", "trade") and r["side"] == "S" and r["shares"] > 10000,
                    5 * MINUTE, lambda f, l: {"shares": l["shares"], "price": l["price"]}),
    "manipulation": (("order",), lambda s, r: r["shares"] > 50000,
                     lambda s, r, f: r["shares"] > 30000 and r["side"] != f["side"], 60 * NS,
                     lambda f, l: {"big_shares": f["shares"], "opposite_shares": l["shares"]}),
    "spoofing": (("order", "cancel"), lambda s, r: s == "order" and r["shares"] > 50000,
                 lambda s, r, f: s == "cancel" and r["ref"] == f["ref"], 500 * 1000 * 1000,
                 lambda f, l: {"shares": f["shares"], "price": f["price"], "lifetime_ns": l["time"] - f["time"]}),
}

# One-record patterns: (stream, predicate, measures).
ONE = {
    "volume_spike": ("volume_1m", spike, lambda r: {"volume": r["volume"], "avg_volume": r["avg_volume"]}),
    "circuit_breaker": ("price_5m", lambda r: (r["high"] - r["open"]) * 100 >= 5 * r["open"] or
                        (r["open"] - r["low"]) * 100 >= 5 * r["open"],
                        lambda r: {"open": r["open"], "low": r["low"], "high": r["high"]}),
    "arbitrage": ("bbo", lambda r: (r["bid"] > 0 and r["other_ask"] > 0 and r["bid"] * 1000 >= r["other_ask"] * 1005) or
                  (r["ask"] > 0 and r["other_bid"] > 0 and r["other_bid"] * 1000 >= r["ask"] * 1005),
                  lambda r: {k: r[k] for k in ("bid", "ask", "other_bid", "other_ask")}),
}


class Rules:
    def __init__(self, strict):
        self.strict = strict
        self.alerts = []
        self.seq = {}       # (pattern, symbol) -> [first records]
        self.mom = {}       # symbol -> [[first, last_price, rises]]
        self.stale = {}     # symbol -> pending m record
        self.deadlines = [] # (m's time + 60 s, symbol, m's time), superseded ones included

    def alert(self, pattern, sym, first, last, measures):
        self.alerts.append(dict({"pattern": pattern, "symbol": sym, "first_ns": first, "last_ns": last},
                                **measures))

    def watermark(self, wm):
        while self.deadlines and (self.deadlines[0][0] < wm if self.strict else self.deadlines[0][0] <= wm):
            _, sym, t = heapq.heappop(self.deadlines)
            m = self.stale.get(sym)
            if m is not None and m["time"] == t:
                self.alert("stale_feed", sym, t, t, {"last_message_ns": t})
                del self.stale[sym]

    def record(self, stream, sym, r):
        for name, (streams, first, second, within, meas) in SEQ.items():
            if stream not in streams:
                continue
            parts = [f for f in self.seq.get((name, sym), []) if r["time"] - f["time"] <= within]
            done = [f for f in parts if second(stream, r, f)]
            if done:
                self.alert(name, sym, done[0]["time"], r["time"], meas(done[0], r))
                parts = []
            elif first(stream, r):
                parts = (parts + [r])[-8:]
            self.seq[(name, sym)] = parts
        for name, (s, pred, meas) in ONE.items():
            if stream == s and pred(r):
                self.alert(name, sym, r["time"], r["time"], meas(r))
        if stream == "trade":
            parts = [p for p in self.mom.get(sym, []) if r["time"] - p[0]["time"] <= 3 * MINUTE]
            parts = [[p[0], r["price"], p[2] + 1] for p in parts if r["price"] > p[1]]
            done = [p for p in parts if p[2] == 3]
            if done:
                self.alert("momentum", sym, done[0][0]["time"], r["time"],
                           {"start_price": done[0][0]["price"], "end_price": r["price"]})
                parts = []
            else:
                parts = (parts + [[r, r["price"], 0]])[-8:]
            self.mom[sym] = parts
        if stream == "any":
            m = self.stale.get(sym)
            if m and r["time"] - m["time"] > 60 * NS:
                self.alert("stale_feed", sym, m["time"], m["time"], {"last_message_ns": m["time"]})
            self.stale[sym] = r
            heapq.heappush(self.deadlines, (r["time"] + 60 * NS, sym, r["time"]))


def text_line(stream, sym, r):
    """One record as a line of dadar-rules run's text stream."""
    kv = " ".join(f"{'t' if k == 'time' else 'src' if k == 'source' else k}={v}" for k, v in r.items()
                  if v != "")  # a missing field is 0: a halt's blank reason
    return f"{stream} sym={sym} {kv}\n"


def evaluate(feeds_msgs, strict, fire_first, bbo_every, text=None):
    """The alerts of the ten patterns over the merged feeds, in the order they are produced; with
    `text` (a file), also the records as dadar-rules run text, a wm line at each message's time."""
    merged = sorted(((ts, f, i, m) for f, msgs in enumerate(feeds_msgs) for i, (m, ts) in enumerate(msgs)),
                    key=lambda x: (x[0], x[1], x[2]))
    feeds = [Feed(i) for i in range(len(feeds_msgs))]
    windows, rules = Windows(strict), Rules(strict)
    wm = 0

    def advance(t):
        for stream, sym, r in windows.fire(t):
            rules.record(stream, sym, r)
        rules.watermark(t)

    for ts, f, _, m in merged:
        d = decode(m)
        wm = max(wm, ts)
        if fire_first:
            advance(wm)
            if text:
                text.write(f"wm t={wm}\n")
        feed = feeds[f]
        sym = feed.symbols.get(d["locate"])
        before = feed.top(sym) if sym else None
        records = feed.apply(d)
        if d["type"] in "AFECXDU" and (bbo_every or feed.top(sym) != before):
            bid, ask, bsh, ash = feed.top(sym)
            others = [g.top(sym) for g in feeds if g is not feed and sym in g.symbols.values()]
            ob = max((o[0] for o in others if o[0]), default=0)
            oa = min((o[1] for o in others if o[1]), default=0)
            records.insert(-1, ("bbo", sym, {"time": d["time"], "source": f, "bid": bid, "ask": ask,
                                             "bid_shares": bsh, "ask_shares": ash, "other_bid": ob,
                                             "other_ask": oa}))
        for stream, s, r in records:
            if stream == "trade":
                windows.add(s, r)
            rules.record(stream, s, r)
            # dadar-rules run counts every record as an `any` one too: the any record is implied.
            if text and stream != "any":
                text.write(text_line(stream, s, r))
        if not fire_first:
            advance(wm)
            if text:
                text.write(f"wm t={wm}\n")
    return rules.alerts, feeds


def engine_alerts(rules_bin, feeds_msgs, fire_first, bbo_every, tmp):
    """The alerts of dadar-rules run over the streams, with the keys the expect file has."""
    path = os.path.join(tmp, "records.txt")
    with open(path, "w") as text:
        evaluate(feeds_msgs, False, fire_first, bbo_every, text)
    r = subprocess.run([rules_bin, "run", os.path.join(ROOT, "rules", "market.rules"), path],
                       capture_output=True, text=True)
    expect(r.returncode == 0, f"dadar-rules run exited {r.returncode}: {r.stderr.strip()[-500:]}")
    out = []
    for line in r.stdout.splitlines():
        a = json.loads(line)
        if a["type"] != "alert":
            continue
        for k in ("lsn", "type", "op", "rule", "rule_version", "shard", "cause", "feed", "seq", "event_ns",
                  "events", "timeout", "first_feed", "first_seq", "refs"):
            a.pop(k, None)
        out.append(a)
    os.unlink(path)
    return out


def check_files(pcap, alerts_path, pcap2=None, rules_bin=None):
    feeds_msgs = [read_pcap(pcap)] + ([read_pcap(pcap2)] if pcap2 else [])
    for f, msgs in enumerate(feeds_msgs):
        times = [ts for _, ts in msgs]
        expect(all(a < b for a, b in zip(times, times[1:])), f"feed {f}: timestamps do not strictly increase")
    with open(alerts_path) as fh:
        want = [json.loads(line) for line in fh if line.strip()]
    for strict, fire_first, bbo_every in itertools.product((False, True), repeat=3):
        got, feeds = evaluate(feeds_msgs, strict, fire_first, bbo_every)
        how = f"(watermark {'past' if strict else 'at'} the end, windows {'before' if fire_first else 'after'} " \
              f"the message, bbo on {'every change' if bbo_every else 'top changes'})"
        if got != want:
            lines = [f"  expected {json.dumps(w)}" for w in want if w not in got] + \
                    [f"  found    {json.dumps(g)}" for g in got if g not in want]
            raise Bad(f"alerts differ {how}:\n" + ("\n".join(lines) or "  same alerts, other order"))
        for g in feeds:
            expect(not g.orders, f"feed {g.index}: {len(g.orders)} orders left at the end of the day")
    if rules_bin:
        tmp = tempfile.mkdtemp(prefix="plant_check_engine.")
        try:
            for fire_first, bbo_every in itertools.product((False, True), repeat=2):
                got = engine_alerts(rules_bin, feeds_msgs, fire_first, bbo_every, tmp)
                how = f"(dadar-rules run, wm {'before' if fire_first else 'after'} each message's records, " \
                      f"bbo on {'every change' if bbo_every else 'top changes'})"
                if got != want:
                    lines = [f"  expected {json.dumps(w)}" for w in want if w not in got] + \
                            [f"  found    {json.dumps(g)}" for g in got if g not in want]
                    raise Bad(f"alerts differ {how}:\n" + ("\n".join(lines) or "  same alerts, other order"))
        finally:
            shutil.rmtree(tmp)
    return want


# ---- running dadar-gen ---------------------------------------------------------------------------------

def main():
    args = sys.argv[1:]
    if args and args[0] != "--build":
        rules_bin = None
        if "--rules-bin" in args[:-1]:
            i = args.index("--rules-bin")
            rules_bin = args[i + 1]
            del args[i:i + 2]
        if len(args) not in (2, 3):
            print(__doc__.split("\n\n")[3], file=sys.stderr)
            return 2
        try:
            want = check_files(*args, rules_bin=rules_bin)
        except Bad as e:
            print(f"FAIL  {e}")
            return 1
        print(f"PASS  {len(want)} alerts, exactly the expected ones" + (" (and dadar-rules run's)" if rules_bin else ""))
        return 0
    build = args[1] if len(args) > 1 else os.environ.get("B", "build")
    build = build if os.path.isabs(build) else os.path.join(ROOT, build)
    gen = os.path.join(build, "dadar-gen")
    if not os.access(gen, os.X_OK):
        print(f"SKIP  plant_check: {gen} is missing (build it: make B={os.path.relpath(build, ROOT)} all)")
        return 77
    rules_bin = os.path.join(build, "dadar-rules")
    if not os.access(rules_bin, os.X_OK):
        print(f"  NOTE  {rules_bin} is missing: the streams are not run through dadar's operators")
        rules_bin = None
    tmp = tempfile.mkdtemp(prefix="plant_check.")
    runs = [("all", 1, 100), ("all", 7, 3), ("all", 99, 1)] + [(p, 2, 20) for p in PATTERNS] + \
           [("bull_run,insider", 5, 10), ("momentum,stale_feed,arbitrage", 6, 10)]
    fails = 0
    for plant, seed, inst in runs:
        out, exp, v2 = (os.path.join(tmp, f"{i}-{seed}-{plant}") for i in ("day.pcap", "alerts.jsonl", "v2.pcap"))
        cmd = [gen, "synth", out, "--plant", plant, "--expect", exp, "--seed", str(seed), "--instruments", str(inst)]
        if "arbitrage" in plant or plant == "all":
            cmd += ["--plant-venue2", v2]
        name = f"--plant {plant} --seed {seed} --instruments {inst}"
        try:
            r = subprocess.run(cmd, capture_output=True, text=True)
            expect(r.returncode == 0, f"dadar-gen exited {r.returncode}: {r.stderr.strip()}")
            want = check_files(out, exp, v2 if "--plant-venue2" in cmd else None, rules_bin)
            names = {w["pattern"] for w in want}
            asked = set(PATTERNS) if plant == "all" else set(plant.split(","))
            expect(asked <= names, f"no alert of {sorted(asked - names)}")
            expect(names <= asked | {"volume_spike"}, f"alerts of unasked patterns {sorted(names - asked)}")
            print(f"  PASS  {name}: {len(want)} alerts" + (", dadar-rules run agrees" if rules_bin else ""))
        except Bad as e:
            fails += 1
            print(f"  FAIL  {name}: {e}")
    if fails:
        print(f"plant_check: {fails} failed; files kept in {tmp}")
        return 1
    shutil.rmtree(tmp)
    print(f"plant_check: {len(runs)} passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
