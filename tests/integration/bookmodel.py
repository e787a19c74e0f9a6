"""A reference ITCH 5.0 order book with capacities and counters, for dadar's integration tests.

itchbook.py answers "what is the book after this stream"; this model also answers "what should each
counter of the summary's `book` object be", including when capacity.orders or capacity.levels is
too small. It follows the rules as specified (written from the ITCH 5.0 specification and dadar's
documented policy), not dadar's code:

- an add (A/F) with a side other than B/S or zero shares is a bad order; an add whose reference is
  live is a duplicate; an add that finds the order table full is an order overflow, one that needs a
  new price level when the level table is full a level overflow; refused adds leave no trace;
- E/C/X/D/U on a reference that is not live count as unknown references; E/C/X above the remaining
  shares count as over-executed and take what is left; an order at zero shares leaves the book;
- U removes the old order and adds the new one (same side and instrument); U with zero shares is a
  bad order, U to a live new reference a duplicate. Its add half is not an add message: `adds`
  counts A/F messages only. Freeing the old order guarantees the add half an order slot, but not a
  price level (the old level may still hold other orders): it can overflow the level table;
- P counts a trade, Q a cross, B a broken trade, once per message whatever the pipeline.
"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import itchbook  # noqa: E402  (its CSV writer is the reference format)

COUNTERS = ("adds", "executions", "cancels", "deletes", "replaces", "trades", "crosses", "broken",
            "unknown_ref", "duplicate_ref", "overexecuted", "bad_order", "order_overflow",
            "level_overflow")


class Book:
    def __init__(self, max_orders=None, max_levels=None):
        self.max_orders, self.max_levels = max_orders, max_levels
        self.orders = {}   # ref -> [locate, side, shares, price]
        self.levels = {}   # (locate, side, price) -> live orders
        self.symbols = {}  # locate -> stock bytes
        self.stats = dict.fromkeys(COUNTERS, 0)

    def _place(self, locate, ref, side, shares, price):
        if self.max_orders is not None and len(self.orders) == self.max_orders:
            self.stats["order_overflow"] += 1
            return False
        key = (locate, side, price)
        if key not in self.levels and self.max_levels is not None and len(self.levels) == self.max_levels:
            self.stats["level_overflow"] += 1
            return False
        self.levels[key] = self.levels.get(key, 0) + 1
        self.orders[ref] = [locate, side, shares, price]
        return True

    def _reduce(self, ref, shares):
        o = self.orders[ref]
        if shares > o[2]:
            self.stats["overexecuted"] += 1
            shares = o[2]
        o[2] -= shares
        if o[2] == 0:
            del self.orders[ref]
            key = (o[0], o[1], o[3])
            self.levels[key] -= 1
            if self.levels[key] == 0:
                del self.levels[key]

    def apply(self, m):
        t = m[0:1]
        (locate,) = struct.unpack_from(">H", m, 1)
        st = self.stats
        if t == b"R":
            self.symbols[locate] = m[11:19]
        elif t in (b"A", b"F"):
            ref, side, shares = struct.unpack_from(">QcI", m, 11)
            (price,) = struct.unpack_from(">I", m, 32)
            if side not in (b"B", b"S") or shares == 0:
                st["bad_order"] += 1
            elif ref in self.orders:
                st["duplicate_ref"] += 1
            elif self._place(locate, ref, side, shares, price):
                st["adds"] += 1
                self.symbols.setdefault(locate, m[24:32])
        elif t in (b"E", b"C", b"X"):
            ref, shares = struct.unpack_from(">QI", m, 11)
            if ref not in self.orders:
                st["unknown_ref"] += 1
            else:
                st["cancels" if t == b"X" else "executions"] += 1
                self._reduce(ref, shares)
        elif t == b"D":
            (ref,) = struct.unpack_from(">Q", m, 11)
            if ref not in self.orders:
                st["unknown_ref"] += 1
            else:
                st["deletes"] += 1
                self._reduce(ref, self.orders[ref][2])
        elif t == b"U":
            old, new, shares, price = struct.unpack_from(">QQII", m, 11)
            if old not in self.orders:
                st["unknown_ref"] += 1
            elif shares == 0:
                st["bad_order"] += 1
            elif new != old and new in self.orders:
                st["duplicate_ref"] += 1
            else:
                o = self.orders[old]
                self._reduce(old, o[2])
                self._place(o[0], new, o[1], shares, price)
                st["replaces"] += 1
        elif t == b"P":
            st["trades"] += 1
        elif t == b"Q":
            st["crosses"] += 1
        elif t == b"B":
            st["broken"] += 1

    def summary(self):
        """The summary's `book` object, less instruments (a property of dadar's tables)."""
        out = dict(self.stats)
        out["orders"] = len(self.orders)
        out["levels"] = len(self.levels)
        return out

    def write_csv(self, path):
        itchbook.write_csv(self.orders, self.symbols, path)


def run(msgs, max_orders=None, max_levels=None):
    b = Book(max_orders, max_levels)
    for m in msgs:
        if m and len(m) == itchbook_len(m):
            b.apply(m)
    return b


_LEN = {b"S": 12, b"R": 39, b"H": 25, b"Y": 20, b"L": 26, b"V": 35, b"W": 12, b"K": 28, b"J": 35, b"h": 21,
        b"A": 36, b"F": 40, b"E": 31, b"C": 36, b"X": 23, b"D": 19, b"U": 35, b"P": 44, b"Q": 40, b"B": 19,
        b"I": 50, b"N": 20, b"O": 48}


def itchbook_len(m):
    """Specified length of message m's type (None for an unknown type)."""
    return _LEN.get(m[0:1])
