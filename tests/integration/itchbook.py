#!/usr/bin/env python3
"""An independent ITCH 5.0 order book, written from the specification for the integration tests.

It shares no code with dadar: it reads a NASDAQ BinaryFILE (u16 big-endian length + message), keeps
every order in a dict, aggregates levels on demand, and writes the same CSV as `dadar --book-dump`
(symbol,side,level,price,shares,orders; top 5 levels per side; symbols in byte order without
padding; prices with four decimals). Orders it does not know are ignored, as dadar counts them.

usage: itchbook.py FILE.itch OUT.csv [--depth N]
"""
import struct
import sys


def read_messages(path):
    data = open(path, "rb").read()
    i = 0
    while i < len(data):
        (n,) = struct.unpack_from(">H", data, i)
        if n == 0:
            raise SystemExit(f"{path}: zero length prefix at offset {i}: use a file with true lengths")
        yield data[i + 2 : i + 2 + n]
        i += 2 + n


def build(path):
    orders = {}  # ref -> [locate, side, shares, price]
    symbols = {}  # locate -> symbol bytes
    for m in read_messages(path):
        t = m[0:1]
        locate = struct.unpack_from(">H", m, 1)[0]
        if t == b"R":
            symbols[locate] = m[11:19]
        elif t in (b"A", b"F"):
            ref, side, shares = struct.unpack_from(">QcI", m, 11)
            stock = m[24:32]
            (price,) = struct.unpack_from(">I", m, 32)
            symbols.setdefault(locate, stock)
            if ref in orders or side not in (b"B", b"S") or shares == 0:
                continue
            orders[ref] = [locate, side, shares, price]
        elif t in (b"E", b"C", b"X"):
            ref, shares = struct.unpack_from(">QI", m, 11)
            o = orders.get(ref)
            if o is None:
                continue
            o[2] -= min(shares, o[2])
            if o[2] == 0:
                del orders[ref]
        elif t == b"D":
            (ref,) = struct.unpack_from(">Q", m, 11)
            orders.pop(ref, None)
        elif t == b"U":
            old, new, shares, price = struct.unpack_from(">QQII", m, 11)
            o = orders.get(old)
            if o is None or (new != old and new in orders) or shares == 0:
                continue
            del orders[old]
            orders[new] = [o[0], o[1], shares, price]
    return orders, symbols


def write_csv(orders, symbols, out, depth=5):
    levels = {}  # (locate, side) -> {price: [shares, count]}
    for locate, side, shares, price in orders.values():
        lv = levels.setdefault((locate, side), {}).setdefault(price, [0, 0])
        lv[0] += shares
        lv[1] += 1
    locates = sorted({k[0] for k in levels}, key=lambda l: (symbols.get(l, b"").rstrip(b" \0"), l))
    with open(out, "w") as f:
        f.write("symbol,side,level,price,shares,orders\n")
        for l in locates:
            sym = symbols.get(l, b"").rstrip(b" \0").decode("ascii", "replace")
            for side, best_first in ((b"B", True), (b"S", False)):
                prices = sorted(levels.get((l, side), {}), reverse=best_first)[:depth]
                for k, p in enumerate(prices, 1):
                    sh, n = levels[(l, side)][p]
                    f.write(f"{sym},{side.decode()},{k},{p // 10000}.{p % 10000:04d},{sh},{n}\n")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    depth = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--depth" else 5
    o, s = build(sys.argv[1])
    write_csv(o, s, sys.argv[2], depth)
