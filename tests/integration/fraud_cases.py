"""Boundary scenarios for dadar's fraud engine, with expectations computed by hand from the spec.

The expectations here are NOT produced by fraudmodel.py: every one is written out from
/work/shared/specs/fraud-rules.md, with the arithmetic in a comment next to it. fraudmodel_selftest.py
checks the model against them; dadar's own tests can replay the same rows.

    cases()                 -> [(name, rows, expected)]; name is "paytm/..." or "upi/..."
                               (rules_of(name) gives the rule set), rows are CSV dicts (13 columns,
                               values as strings), expected maps txn_id -> (score, action, sorted
                               reasons) for the payments the case asserts.
    tables()                -> {"merchants.csv": text, "mcc.csv": text, "areas.csv": text}
    write_case_files(dir)   -> writes cases.csv (every case's rows, in order), the three tables and
                               expected.json ({"paytm": {txn: [score, action, reasons]}, "upi": ...}).

Every case uses its own payers, devices and merchants (ids derived from the case number), so the
cases can be concatenated into one stream and scored under either rule set: a case's expectations
only hold for the rule set its name gives, and no case's payments touch another case's state.
All times are around 2026-03-10; BASE is 12:00:00 IST (06:30:00 UTC), so that "daytime" payments
are far from the late-night hours.

Most cases first "warm" each payer's device: one payment of 100 paise, no location, exactly 48 h
before BASE. It scores new_device (20) itself, and every later payment of that payer on that device
at t >= BASE has t - first_use >= 48 h, so new_device stays out of the way. The warm-up lies outside
the 1 h and 24 h windows of every payment at t >= BASE, and it has no location (no travel).
"""
import json
import math
import os

NS = 1_000_000_000            # 1 s in ns
H = 3600 * NS                 # 1 h in ns
D = 24 * H                    # 1 day in ns
BASE = 1_773_124_200 * NS     # 2026-03-10 06:30:00 UTC = 12:00:00 IST
#   days 1970-01-01 .. 2026-01-01: 56*365 + 14 leap days = 20454; + 31 (Jan) + 28 (Feb) + 9 = 20522
#   20522 * 86400 = 1_773_100_800 s; + 6.5 h (23_400 s) = 1_773_124_200 s

COLUMNS = ("txn_id", "time_ns", "payer", "payee", "merchant", "amount_minor", "currency", "mcc",
           "channel", "type", "device", "lat_e6", "lon_e6")

# One degree of latitude along a meridian: haversine reduces to R * dphi there, so
#   1 deg = 6371.0 * pi / 180 = 111.19492664455873 km.
KM_PER_DEG = 111.19492664455873

# Locations (lat_e6, lon_e6) on the 72.8 E meridian: A and B are 1 deg apart = 111.1949266 km.
A = (19_000_000, 72_800_000)
B = (20_000_000, 72_800_000)
NOLOC = (0, 0)

# Times from A to B for speeds on each side of a threshold (speed = 111.19492664 / (dt / 3600)):
DT_100_OVER = 4_003_017_000_000    # 4003.017 s -> 100.000009 km/h  (100 km/h <-> 4003.01736 s)
DT_100_UNDER = 4_003_018_000_000   # 4003.018 s ->  99.999984 km/h
DT_900_OVER = 444_779_000_000      # 444.779 s  -> 900.00143 km/h   (900 km/h <-> 444.779707 s)
DT_900_UNDER = 444_780_000_000     # 444.780 s  -> 899.99941 km/h
DT_500_OVER = 800_603_000_000      # 800.603 s  -> 500.00029 km/h   (500 km/h <-> 800.603472 s)
DT_500_UNDER = 800_604_000_000     # 800.604 s  -> 499.99967 km/h
DT_501 = 799_005_000_000           # 799.005 s  -> 501.00029 km/h

# The high-risk circles (areas.csv). Every location used by the other cases is > 1000 km away.
AREAS = (
    (34_000_000, 74_000_000, "10"),     # 10 km; 10 km north is 0.0899321606 deg
    (23_000_000, 69_000_000, "0"),      # radius 0: only the centre itself is inside (d = 0 <= 0)
    (12_000_000, 92_000_000, "5"),      # two concentric circles: inside both still scores once
    (12_000_000, 92_000_000, "3.25"),
    (0, 0, "1"),                        # catches a missing location wrongly treated as (0, 0)
)

# The MCC table (mcc.csv): codes and scores.
MCC_TABLE = ((5411, 0), (7995, 40), (9001, 29), (9002, 30), (9003, 49), (9004, 50), (9005, 69),
             (9006, 70))


def E(score, action, *reasons):
    """An expectation: (score, action, sorted reasons)."""
    return (score, action, sorted(reasons))


OK = E(0, "approve")
INVALID = E(100, "block", "invalid")
WARM = E(20, "approve", "new_device")


class Case:
    """One scenario: rows plus hand-computed expectations, with ids private to its number."""

    def __init__(self, number, name, rules):
        self.number, self.name, self.rules = number, name, rules
        self.rows, self.expected = [], {}
        self.merchant_risk = {}  # merchant id -> risk, for merchants.csv

    def payer(self, i):
        """The id of this case's payer i."""
        return 10_000_000 + self.number * 100 + i

    def device(self, i):
        """The id of this case's device i."""
        return 20_000_000 + self.number * 100 + i

    def merchant(self, i):
        """The id of this case's merchant i (0: none)."""
        return 30_000_000 + self.number * 100 + i if i else 0

    def set_risk(self, merchant_i, risk):
        """List this case's merchant i in the merchant table with this risk."""
        self.merchant_risk[self.merchant(merchant_i)] = risk

    def pay(self, t, amount, payer=1, device=None, merchant=0, mcc=0, loc=NOLOC, currency="INR",
            channel="upi", kind=None, expect=None):
        """Append a payment; returns its txn_id. device defaults to the payer's own number."""
        txn = self.number * 1000 + len(self.rows) + 1
        if kind is None:
            kind = "p2m" if merchant else "p2p"
        self.rows.append({
            "txn_id": str(txn), "time_ns": str(t), "payer": str(self.payer(payer)),
            "payee": "0" if merchant else str(40_000_000 + self.number * 100 + payer),
            "merchant": str(self.merchant(merchant)), "amount_minor": str(amount),
            "currency": currency, "mcc": str(mcc), "channel": channel, "type": kind,
            "device": str(self.device(device if device is not None else payer)),
            "lat_e6": str(loc[0]), "lon_e6": str(loc[1]),
        })
        if expect is not None:
            self.expected[txn] = expect
        return txn

    def warm(self, payer=1, device=None):
        """First use of the payer's device 48 h before BASE (scores new_device, 20)."""
        return self.pay(BASE - 2 * D, 100, payer, device, expect=WARM)


_REGISTRY = []


def case(name, rules="paytm"):
    """Register a function filling a Case as a scenario."""
    def register(fill):
        _REGISTRY.append((f"{rules}/{name}", rules, fill))
        return fill
    return register


# =============================================================================================
# Default (paytm) rule set


@case("hour_amount_equal")
def _(c):
    # 1,700,000 + 1,700,000 + 1,600,000 = 5,000,000, not > 5,000,000. No amount rule: none is in
    # the round or below-limit sets or in [900,000, 999,900]; daytime, so no late_night_large.
    c.warm()
    c.pay(BASE, 1_700_000, expect=OK)
    c.pay(BASE + NS, 1_700_000, expect=OK)
    c.pay(BASE + 2 * NS, 1_600_000, expect=OK)


@case("hour_amount_over")
def _(c):
    # 1,700,000 + 1,700,000 + 1,600,001 = 5,000,001 > 5,000,000: +40.
    c.warm()
    c.pay(BASE, 1_700_000, expect=OK)
    c.pay(BASE + NS, 1_700_000, expect=OK)
    c.pay(BASE + 2 * NS, 1_600_001, expect=E(40, "verify", "velocity_hour_amount"))


@case("hour_count_20_vs_21")
def _(c):
    # 22 payments one second apart, distinct small amounts (no repeated_amount). The 20th counts
    # 20 (not > 20), the 21st counts 21 (+30), the 22nd 22 (+30).
    c.warm()
    for i in range(22):
        exp = None
        if i == 19:
            exp = OK
        elif i >= 20:
            exp = E(30, "approve", "velocity_hour_count")
        c.pay(BASE + i * NS, 10_000 + i, expect=exp)


@case("hour_count_window_edge")
def _(c):
    # p1 at BASE, p2..p20 at BASE+1s..BASE+19s. p21 at BASE+1h: (BASE, BASE+1h] leaves p1 out ->
    # p2..p21 = 20, not > 20. p22 at BASE+1h+1ns: (BASE+1ns, ...] holds p2..p22 = 21 -> +30.
    c.warm()
    for i in range(20):
        c.pay(BASE + i * NS, 20_000 + i)
    c.pay(BASE + H, 30_000, expect=OK)
    c.pay(BASE + H + 1, 30_001, expect=E(30, "approve", "velocity_hour_count"))


@case("hour_window_exactly_1h_out")
def _(c):
    # 3,000,000 at BASE; 2,000,001 at BASE+1h: the window (BASE, BASE+1h] excludes BASE -> 2,000,001.
    c.warm()
    c.pay(BASE, 3_000_000, expect=OK)
    c.pay(BASE + H, 2_000_001, expect=OK)


@case("hour_window_1ns_in")
def _(c):
    # 3,000,000 at BASE+1ns is inside (BASE, BASE+1h]: 3,000,000 + 2,000,001 = 5,000,001 -> +40.
    c.warm()
    c.pay(BASE + 1, 3_000_000, expect=OK)
    c.pay(BASE + H, 2_000_001, expect=E(40, "verify", "velocity_hour_amount"))


@case("day_amount_equal")
def _(c):
    # 16,000,000 at BASE+1ns: its own hour sum 16,000,000 > 5,000,000 -> +40 (day 16,000,000 ok).
    # 4,000,000 at BASE+24h: hour window holds only itself (4,000,000); day window
    # (BASE, BASE+24h] holds both: 20,000,000, not > 20,000,000.
    c.warm()
    c.pay(BASE + 1, 16_000_000, expect=E(40, "verify", "velocity_hour_amount"))
    c.pay(BASE + D, 4_000_000, expect=OK)


@case("day_amount_over")
def _(c):
    # 16,000,001 + 4,000,000 = 20,000,001 > 20,000,000 -> +50.
    c.warm()
    c.pay(BASE + 1, 16_000_001, expect=E(40, "verify", "velocity_hour_amount"))
    c.pay(BASE + D, 4_000_000, expect=E(50, "verify", "velocity_day_amount"))


@case("day_window_exactly_24h_out")
def _(c):
    # 16,000,001 at BASE is outside (BASE, BASE+24h]: the day sum is 4,000,000.
    c.warm()
    c.pay(BASE, 16_000_001, expect=E(40, "verify", "velocity_hour_amount"))
    c.pay(BASE + D, 4_000_000, expect=OK)


@case("repeated_4_vs_5")
def _(c):
    # Five payments of 12,345 within a second each: the 4th has only 4 in the hour; the 5th has 5,
    # all the same -> +25. (The warm-up, 100 paise 48 h earlier, is outside the hour.)
    c.warm()
    for i in range(5):
        exp = {3: OK, 4: E(25, "approve", "repeated_amount")}.get(i)
        c.pay(BASE + i * NS, 12_345, expect=exp)


@case("repeated_last5_differ")
def _(c):
    # amounts in order: 12345 x4, 12346, then 12345 x5 (p6..p10).
    # p5: last 5 = 12345 x4, 12346 -> no.  p6: 12345 x3, 12346, 12345 -> no.
    # p9: 12346, 12345 x4 -> no.           p10: p6..p10, all 12345 -> +25.
    c.warm()
    amounts = [12_345] * 4 + [12_346] + [12_345] * 5
    expect = {4: OK, 5: OK, 8: OK, 9: E(25, "approve", "repeated_amount")}
    for i, amount in enumerate(amounts):
        c.pay(BASE + i * NS, amount, expect=expect.get(i))


@case("repeated_window_edge")
def _(c):
    # 7,777 at BASE, BASE+1s, +2s, +3s; p5 at BASE+1h: (BASE, BASE+1h] holds p2..p5 = 4 -> no.
    # p6 at BASE+1h+1ns: (BASE+1ns, BASE+1h+1ns] holds p2..p6 = 5, all 7,777 -> +25.
    c.warm()
    for i in range(4):
        c.pay(BASE + i * NS, 7_777)
    c.pay(BASE + H, 7_777, expect=OK)
    c.pay(BASE + H + 1, 7_777, expect=E(25, "approve", "repeated_amount"))


@case("repeated_late_input_order")
def _(c):
    # p1..p4 = 7,777 at BASE+10s..13s. p5 = 8,888 at BASE+5s (late: p1..p4 are after its t, so its
    # hour holds only itself). p6..p10 = 7,777 at BASE+20s..24s. The last 5 are taken in INPUT
    # order: p6 -> p2,p3,p4,p5,p6 (8,888 among them) no; p9 -> p5..p9 no; p10 -> p6..p10 +25.
    # (Sorted by time, p6's last five would be p1..p4,p6 and fire.)
    c.warm()
    for i in range(4):
        c.pay(BASE + (10 + i) * NS, 7_777)
    c.pay(BASE + 5 * NS, 8_888, expect=OK)
    for i in range(5):
        exp = {0: OK, 3: OK, 4: E(25, "approve", "repeated_amount")}.get(i)
        c.pay(BASE + (20 + i) * NS, 7_777, expect=exp)


@case("late_payment_windows")
def _(c):
    # p1 = 3,000,000 at BASE+1h. p2 = 2,000,001 at BASE+30min (late): (BASE-30m, BASE+30m] holds no
    # earlier payment (p1 is after it) -> 2,000,001, no. p3 = 100 at BASE+1h+1ns: (BASE+1ns,
    # BASE+1h+1ns] holds p1 and the late p2: 3,000,000 + 2,000,001 + 100 = 5,000,101 -> +40.
    c.warm()
    c.pay(BASE + H, 3_000_000, expect=OK)
    c.pay(BASE + H // 2, 2_000_001, expect=OK)
    c.pay(BASE + H + 1, 100, expect=E(40, "verify", "velocity_hour_amount"))


@case("late_payment_on_window_edge")
def _(c):
    # p1 = 100 at BASE+1h+10s; p2 = 3,000,000 at BASE (late, exactly 1 h before p3); p3 =
    # 2,000,001 at BASE+1h: (BASE, BASE+1h] excludes p2 (left edge) and p1 (after t) -> no.
    # p4 = 101 at BASE+1h+1ns: (BASE+1ns, ...] holds p3 only (p1 is later): 2,000,102, no.
    # p5 = 2,999,900 at BASE+1h+20s: (BASE+20s, BASE+1h+20s] holds p1, p3, p4 (not p2):
    # 100 + 2,000,001 + 101 + 2,999,900 = 5,000,102 -> +40.
    c.warm()
    c.pay(BASE + H + 10 * NS, 100, expect=OK)
    c.pay(BASE, 3_000_000, expect=OK)
    c.pay(BASE + H, 2_000_001, expect=OK)
    c.pay(BASE + H + 1, 101, expect=OK)
    c.pay(BASE + H + 20 * NS, 2_999_900, expect=E(40, "verify", "velocity_hour_amount"))


@case("round_amounts")
def _(c):
    # One payer per amount, each warmed, each paying once at BASE (hour sum = the amount).
    table = [
        (999_999, OK),
        (1_000_000, E(20, "approve", "round_amount")),
        (1_000_001, OK),
        (2_499_999, OK),
        (2_500_000, E(20, "approve", "round_amount")),
        (2_500_001, OK),
        (4_999_999, OK),
        (5_000_000, E(20, "approve", "round_amount")),            # hour sum 5,000,000: not >
        (5_000_001, E(40, "verify", "velocity_hour_amount")),
        (9_999_999, E(40, "verify", "velocity_hour_amount")),
        (10_000_000, E(60, "review", "round_amount", "velocity_hour_amount")),   # 20 + 40
        (10_000_001, E(40, "verify", "velocity_hour_amount")),
    ]
    for i, (amount, exp) in enumerate(table, start=1):
        c.warm(payer=i)
        c.pay(BASE, amount, payer=i, expect=exp)


@case("below_limit_amounts")
def _(c):
    table = [
        (999_899, E(25, "approve", "structuring")),
        (999_900, E(60, "review", "below_limit", "structuring")),            # 35 + 25
        (999_901, OK),
        (2_499_899, OK),
        (2_499_900, E(35, "approve", "below_limit")),
        (2_499_901, OK),
        (4_999_899, OK),
        (4_999_900, E(35, "approve", "below_limit")),
        (4_999_901, OK),
        (9_999_899, E(40, "verify", "velocity_hour_amount")),
        (9_999_900, E(75, "review", "below_limit", "velocity_hour_amount")),  # 35 + 40
        (9_999_901, E(40, "verify", "velocity_hour_amount")),
    ]
    for i, (amount, exp) in enumerate(table, start=1):
        c.warm(payer=i)
        c.pay(BASE, amount, payer=i, expect=exp)


@case("structuring")
def _(c):
    table = [
        (899_999, OK),
        (900_000, E(25, "approve", "structuring")),
        (900_001, E(25, "approve", "structuring")),
        (999_900, E(60, "review", "below_limit", "structuring")),
        (999_901, OK),
    ]
    for i, (amount, exp) in enumerate(table, start=1):
        c.warm(payer=i)
        c.pay(BASE, amount, payer=i, expect=exp)


@case("late_night_large")
def _(c):
    # BASE = 12:00:00 IST, so BASE+11h = 23:00:00 IST (17:30 UTC: a UTC clock would say 17),
    # BASE+12h = 00:00 IST, BASE+18h = 06:00 IST (next day). Hour from whole seconds.
    LN = E(15, "approve", "late_night_large")
    table = [
        (BASE + 11 * H - NS, 1_000_001, OK),            # 22:59:59
        (BASE + 11 * H - 1, 1_000_001, OK),             # 22:59:59.999999999 -> hour 22
        (BASE + 11 * H, 1_000_001, LN),                 # 23:00:00
        (BASE + 11 * H, 1_000_000, E(20, "approve", "round_amount")),   # not > 1,000,000
        (BASE + 12 * H, 1_000_001, LN),                 # 00:00:00
        (BASE + 18 * H - NS, 1_000_001, LN),            # 05:59:59
        (BASE + 18 * H - 1, 1_000_001, LN),             # 05:59:59.999999999 -> hour 5
        (BASE + 18 * H, 1_000_001, OK),                 # 06:00:00
        (BASE + 16 * H, 2_600_000, LN),                 # 04:00, warmed device: no new_device_large
        (BASE + 22 * H, 1_000_001, OK),                 # 10:00 IST = 04:30 UTC: IST decides
    ]
    for i, (t, amount, exp) in enumerate(table, start=1):
        c.warm(payer=i)
        c.pay(t, amount, payer=i, expect=exp)


@case("new_device_48h")
def _(c):
    # First use at BASE (fires: never used before), 48 h - 1 ns later (fires), exactly 48 h (no).
    c.pay(BASE, 100, expect=WARM)
    c.pay(BASE + 2 * D - 1, 100, expect=WARM)
    c.pay(BASE + 2 * D, 100, expect=OK)


@case("new_device_late")
def _(c):
    # First use (input order) at BASE+10h (22:00 IST, amounts small). A late payment at BASE has
    # t - first_use = -10 h < 48 h: fires (the model's documented choice). The first use stays
    # BASE+10h (not the smaller time): at BASE+53h, t - first_use = 43 h < 48 h -> fires; at
    # BASE+58h it is exactly 48 h -> no.
    c.pay(BASE + 10 * H, 100, expect=WARM)
    c.pay(BASE, 101, expect=WARM)
    c.pay(BASE + 2 * D + 5 * H, 102, expect=WARM)
    c.pay(BASE + 2 * D + 10 * H, 103, expect=OK)


@case("new_device_large")
def _(c):
    # Fresh devices: 2,500,001 -> 20 + 15; 2,500,000 -> 20 + round 20 (not > 2,500,000).
    c.pay(BASE, 2_500_001, payer=1, expect=E(35, "approve", "new_device", "new_device_large"))
    c.pay(BASE, 2_500_000, payer=2, expect=E(40, "verify", "new_device", "round_amount"))
    # A warmed device: 3,000,000 -> nothing.
    c.warm(payer=3)
    c.pay(BASE, 3_000_000, payer=3, expect=OK)
    # 25,000,000 on a fresh device: 20 + 15 + hour 40 (> 5M) + day 50 (> 20M) = 125.
    c.pay(BASE, 25_000_000, payer=4, expect=E(125, "block", "new_device", "new_device_large",
                                              "velocity_hour_amount", "velocity_day_amount"))
    # 999,900 on a fresh device: 20 + below_limit 35 + structuring 25 = 80 -> block.
    c.pay(BASE, 999_900, payer=5, expect=E(80, "block", "new_device", "below_limit",
                                           "structuring"))
    # 2,499,900 on a fresh device: 20 + 35 = 55 -> verify.
    c.pay(BASE, 2_499_900, payer=6, expect=E(55, "verify", "new_device", "below_limit"))


@case("shared_device")
def _(c):
    # Device 1 used by payer 1 (twice), 2, 3: three distinct payers, not > 3. Payer 4 makes four:
    # +30, plus its own new_device. Payer 1 again at BASE+48h (its first use was BASE, so no
    # new_device): four payers -> +30 alone.
    c.pay(BASE, 100, payer=1, device=1, expect=WARM)
    c.pay(BASE + NS, 101, payer=1, device=1, expect=WARM)
    c.pay(BASE + 2 * NS, 102, payer=2, device=1, expect=WARM)
    c.pay(BASE + 3 * NS, 103, payer=3, device=1, expect=WARM)
    c.pay(BASE + 4 * NS, 104, payer=4, device=1, expect=E(50, "verify", "new_device",
                                                         "shared_device"))
    c.pay(BASE + 2 * D, 105, payer=1, device=1, expect=E(30, "approve", "shared_device"))


@case("shared_device_invalid_not_counted")
def _(c):
    # Payers 1, 2 valid; payer 3 invalid (amount 0) does not register; payer 4 -> 3 payers, no;
    # payer 3 valid -> 4 payers: 20 + 30.
    c.pay(BASE, 100, payer=1, device=1, expect=WARM)
    c.pay(BASE + NS, 100, payer=2, device=1, expect=WARM)
    c.pay(BASE + 2 * NS, 0, payer=3, device=1, expect=INVALID)
    c.pay(BASE + 3 * NS, 100, payer=4, device=1, expect=WARM)
    c.pay(BASE + 4 * NS, 100, payer=3, device=1, expect=E(50, "verify", "new_device",
                                                         "shared_device"))


@case("travel_100")
def _(c):
    # A -> B (111.19492664 km): 4003.017 s -> 100.000009 km/h, fast (+20);
    # 4003.018 s -> 99.999984 km/h, nothing. The first located payment has nothing to compare with.
    for payer, dt, exp in ((1, DT_100_OVER, E(20, "approve", "fast_travel")),
                           (2, DT_100_UNDER, OK)):
        c.warm(payer=payer)
        c.pay(BASE, 100, payer=payer, loc=A, expect=OK)
        c.pay(BASE + dt, 101, payer=payer, loc=B, expect=exp)


@case("travel_900")
def _(c):
    # 444.779 s -> 900.0014 km/h, impossible (+50); 444.780 s -> 899.9994 km/h, fast (+20).
    for payer, dt, exp in ((1, DT_900_OVER, E(50, "verify", "impossible_travel")),
                           (2, DT_900_UNDER, E(20, "approve", "fast_travel"))):
        c.warm(payer=payer)
        c.pay(BASE, 100, payer=payer, loc=A, expect=OK)
        c.pay(BASE + dt, 101, payer=payer, loc=B, expect=exp)


@case("travel_missing_location")
def _(c):
    # A at BASE; no location at BASE+60s (no travel, and A stays the last location); B at
    # BASE+120s is compared with A: 111.19 km in 120 s = 3335.8 km/h -> +50.
    c.warm()
    c.pay(BASE, 100, loc=A, expect=OK)
    c.pay(BASE + 60 * NS, 101, loc=NOLOC, expect=OK)
    c.pay(BASE + 120 * NS, 102, loc=B, expect=E(50, "verify", "impossible_travel"))


@case("travel_equal_time")
def _(c):
    # A at BASE, B at BASE: t = t0, skipped. B still becomes the last location: A again at
    # BASE+444.779 s is compared with B -> 900.0014 km/h, +50 (with A it would be 0 km).
    c.warm()
    c.pay(BASE, 100, loc=A, expect=OK)
    c.pay(BASE, 101, loc=B, expect=OK)
    c.pay(BASE + DT_900_OVER, 102, loc=A, expect=E(50, "verify", "impossible_travel"))


@case("travel_late")
def _(c):
    # A at BASE+1h; B at BASE (late: t0 > t, skipped); A at BASE+444.779 s compares with the most
    # recent earlier payment in INPUT order with a location, B at BASE -> 900.0014 km/h, +50.
    c.warm()
    c.pay(BASE + H, 100, loc=A, expect=OK)
    c.pay(BASE, 101, loc=B, expect=OK)
    c.pay(BASE + DT_900_OVER, 102, loc=A, expect=E(50, "verify", "impossible_travel"))


@case("travel_zero_coordinate_is_a_location")
def _(c):
    # (0, 72.8) has a location (only both zero is missing); (1.0, 72.8) is 1 deg north of it:
    # 111.19 km in 444.779 s -> +50. Likewise (19.0, 0) -> (20.0, 0).
    c.warm(payer=1)
    c.pay(BASE, 100, payer=1, loc=(0, 72_800_000), expect=OK)
    c.pay(BASE + DT_900_OVER, 101, payer=1, loc=(1_000_000, 72_800_000),
          expect=E(50, "verify", "impossible_travel"))
    c.warm(payer=2)
    c.pay(BASE, 100, payer=2, loc=(19_000_000, 0), expect=OK)
    c.pay(BASE + DT_900_OVER, 101, payer=2, loc=(20_000_000, 0),
          expect=E(50, "verify", "impossible_travel"))


@case("high_risk_area")
def _(c):
    # One payer per point (so no travel between them). Distances along the centre's meridian are
    # KM_PER_DEG * dlat: 0.089932 deg = 9.99998 km, 0.089933 deg = 10.00009 km; 0.03 deg =
    # 3.3358 km; 0.05 deg = 5.5597 km; 1e-6 deg = 0.000111 km.
    AREA = E(15, "approve", "high_risk_area")
    points = [
        ((34_000_000, 74_000_000), AREA),      # centre of the 10 km circle
        ((34_089_932, 74_000_000), AREA),      # 9.99998 km <= 10
        ((34_089_933, 74_000_000), OK),        # 10.00009 km > 10
        ((33_910_068, 74_000_000), AREA),      # 9.99998 km south
        ((23_000_000, 69_000_000), AREA),      # radius 0, on the centre: 0 <= 0 (the exact edge)
        ((23_000_001, 69_000_000), OK),        # 0.000111 km > 0
        ((12_000_000, 92_000_000), AREA),      # inside both concentric circles: once
        ((12_030_000, 92_000_000), AREA),      # 3.3358 km: inside 5, outside 3.25
        ((12_050_000, 92_000_000), OK),        # 5.5597 km: outside both
        ((1, 0), AREA),                        # a location 0.000111 km from (0, 0), radius 1
        (NOLOC, OK),                           # missing: no area rule, although (0, 0) is a centre
    ]
    for i, (loc, exp) in enumerate(points, start=1):
        c.warm(payer=i)
        c.pay(BASE, 1000 + i, payer=i, loc=loc, expect=exp)


@case("merchant_risk")
def _(c):
    # MCC 5999 is not in the MCC table: merchant_category scores the default 5. First payment to a
    # merchant: new_merchant 10. Risk 50 -> nothing; 51, 70 -> medium 15; 71, 100 -> high 30.
    for i, risk in ((1, 50), (2, 51), (3, 70), (4, 71), (5, 100), (6, 0)):
        c.set_risk(i, risk)                    # merchant 7 is absent from the table: risk 0
    base = ("merchant_category", "new_merchant")
    table = [
        (1, E(15, "approve", *base)),                             # 5 + 10
        (2, E(30, "approve", "merchant_medium_risk", *base)),     # 15 + 5 + 10
        (3, E(30, "approve", "merchant_medium_risk", *base)),
        (4, E(45, "verify", "merchant_high_risk", *base)),        # 30 + 5 + 10
        (5, E(45, "verify", "merchant_high_risk", *base)),
        (6, E(15, "approve", *base)),
        (7, E(15, "approve", *base)),
        (4, E(35, "approve", "merchant_high_risk", "merchant_category")),   # seen: no new_merchant
    ]
    c.warm(payer=1)
    for i, (m, exp) in enumerate(table):
        c.pay(BASE + i * NS, 50_000 + i, payer=1, merchant=m, mcc=5999, expect=exp)
    # new_merchant is global: another payer's first payment to merchant 4 is not new.
    c.warm(payer=2)
    c.pay(BASE + 20 * NS, 60_000, payer=2, merchant=4, mcc=5999,
          expect=E(35, "approve", "merchant_high_risk", "merchant_category"))


@case("mcc_table")
def _(c):
    # Merchants absent from the merchant table (risk 0).
    c.warm()
    steps = [
        (1, 7995, E(50, "verify", "merchant_category", "new_merchant")),   # 40 + 10
        (2, 5411, E(10, "approve", "new_merchant")),                        # score 0: not listed
        (2, 5411, OK),                                                      # 0, nothing listed
        (3, 5999, E(15, "approve", "merchant_category", "new_merchant")),  # default 5 + 10
        (3, 7995, E(40, "verify", "merchant_category")),                    # MCC is per payment
        (4, 0, E(15, "approve", "merchant_category", "new_merchant")),     # MCC 0 unlisted: 5
        (0, 7995, OK),                                                      # no merchant: no rules
    ]
    for i, (m, mcc, exp) in enumerate(steps):
        c.pay(BASE + i * NS, 70_000 + i, merchant=m, mcc=mcc, expect=exp)


@case("action_thresholds")
def _(c):
    # New merchants (risk 0) with MCC scores 29..70: score = MCC score + new_merchant 10.
    c.warm()
    steps = [(9001, 39, "approve"), (9002, 40, "verify"), (9003, 59, "verify"),
             (9004, 60, "review"), (9005, 79, "review"), (9006, 80, "block")]
    for i, (mcc, score, action) in enumerate(steps, start=1):
        c.pay(BASE + i * NS, 80_000 + i, merchant=i, mcc=mcc,
              expect=E(score, action, "merchant_category", "new_merchant"))


@case("invalid")
def _(c):
    # One payer each. Invalid -> 100, block, ["invalid"]; the valid neighbours are warmed.
    bad = [
        dict(amount=0), dict(amount=-5), dict(currency="XYZ"), dict(t=0),
        dict(channel="cash"), dict(kind="p2x"),
        dict(loc=(90_000_001, 72_800_000)), dict(loc=(-90_000_001, 72_800_000)),
        dict(loc=(19_000_000, 180_000_001)), dict(loc=(19_000_000, -180_000_001)),
    ]
    for i, kw in enumerate(bad, start=1):
        c.pay(kw.pop("t", BASE), kw.pop("amount", 100), payer=i, expect=INVALID, **kw)
    good = [
        dict(amount=1), dict(currency="USD"), dict(currency="EUR"), dict(channel="card"),
        dict(channel="wallet"), dict(kind="bill"),
        dict(loc=(90_000_000, 180_000_000)), dict(loc=(-90_000_000, -180_000_000)),
    ]
    for i, kw in enumerate(good, start=len(bad) + 1):
        c.warm(payer=i)
        c.pay(BASE, kw.pop("amount", 100), payer=i, expect=OK, **kw)


@case("invalid_changes_no_state")
def _(c):
    # Window: 3,000,000 valid; 3,000,000 in "XYZ" invalid; 2,000,000 -> valid sum 5,000,000, no.
    c.warm(payer=1)
    c.pay(BASE, 3_000_000, payer=1, expect=OK)
    c.pay(BASE + NS, 3_000_000, payer=1, currency="XYZ", expect=INVALID)
    c.pay(BASE + 2 * NS, 2_000_000, payer=1, expect=OK)
    # Device: an invalid first use 48 h earlier is no use: the valid payment's new_device fires.
    c.pay(BASE - 2 * D, 0, payer=2, expect=INVALID)
    c.pay(BASE, 100, payer=2, expect=WARM)
    # Location: A, then an invalid payment 6 deg north, then A again: compared with A, 0 km.
    c.warm(payer=3)
    c.pay(BASE, 100, payer=3, loc=A, expect=OK)
    c.pay(BASE + 60 * NS, -5, payer=3, loc=(25_000_000, 72_800_000), expect=INVALID)
    c.pay(BASE + 120 * NS, 101, payer=3, loc=A, expect=OK)
    # Merchant: an invalid payment (time 0) does not make merchant 1 seen.
    c.warm(payer=4)
    c.pay(0, 100, payer=4, merchant=1, mcc=5999, expect=INVALID)
    c.pay(BASE, 100, payer=4, merchant=1, mcc=5999,
          expect=E(15, "approve", "merchant_category", "new_merchant"))


# =============================================================================================
# UPI rule set: velocity_hour_count (>= 15 earlier in (t-1h, t), +30), velocity_hour_amount
# (earlier in (t-1h, t) + this > 5,000,000, +25), round_amount (multiple of 100,000 and
# >= 1,000,000, +15), impossible_travel (> 500 km/h, +50), fast_travel (> 100 km/h and > 50 km,
# +20, exclusive with impossible_travel). No device rules: no warm-ups needed.


@case("count_14_vs_15", rules="upi")
def _(c):
    # p1..p16 one second apart: p15 has 14 earlier (no), p16 has 15 (+30).
    for i in range(16):
        exp = {14: OK, 15: E(30, "approve", "velocity_hour_count")}.get(i)
        c.pay(BASE + i * NS, 10_000 + i, expect=exp)


@case("count_equal_time_excluded", rules="upi")
def _(c):
    # p1..p14 at BASE+0..13s; p15 and p16 both at BASE+20s: for p16, p15 is not in (t-1h, t)
    # (equal time) -> 14, no. p17 at BASE+20s+1ns: 16 earlier -> +30.
    for i in range(14):
        c.pay(BASE + i * NS, 10_000 + i)
    c.pay(BASE + 20 * NS, 20_000, expect=OK)
    c.pay(BASE + 20 * NS, 20_001, expect=OK)
    c.pay(BASE + 20 * NS + 1, 20_002, expect=E(30, "approve", "velocity_hour_count"))


@case("count_window_edge", rules="upi")
def _(c):
    # p1 at BASE, p2..p15 at BASE+1..14s. p16 at BASE+1h: p1 is at the open left edge -> 14, no.
    # p17 also at BASE+1h: p16 has equal time -> still 14, no. p18 at BASE+1h+1ns: p2..p17 = 16.
    for i in range(15):
        c.pay(BASE + i * NS, 10_000 + i)
    c.pay(BASE + H, 20_000, expect=OK)
    c.pay(BASE + H, 20_001, expect=OK)
    c.pay(BASE + H + 1, 20_002, expect=E(30, "approve", "velocity_hour_count"))


@case("hour_amount", rules="upi")
def _(c):
    # Amounts not multiples of 100,000 (no round_amount).
    over = E(25, "approve", "velocity_hour_amount")
    # 2,999,999 + 2,000,001 = 5,000,000: no.
    c.pay(BASE, 2_999_999, payer=1, expect=OK)
    c.pay(BASE + NS, 2_000_001, payer=1, expect=OK)
    # 2,999,999 + 2,000,002 = 5,000,001: +25.
    c.pay(BASE, 2_999_999, payer=2, expect=OK)
    c.pay(BASE + NS, 2_000_002, payer=2, expect=over)
    # Same time: the earlier one is not in (t-1h, t) -> 2,000,002 alone.
    c.pay(BASE, 2_999_999, payer=3, expect=OK)
    c.pay(BASE, 2_000_002, payer=3, expect=OK)
    # Exactly 1 h earlier: out. 1 h - 1 ns earlier: in.
    c.pay(BASE, 2_999_999, payer=4, expect=OK)
    c.pay(BASE + H, 2_000_002, payer=4, expect=OK)
    c.pay(BASE + 1, 2_999_999, payer=5, expect=OK)
    c.pay(BASE + H, 2_000_002, payer=5, expect=over)


@case("round_amount", rules="upi")
def _(c):
    table = [
        (900_000, OK),                                   # multiple, but < 1,000,000
        (999_900, OK),                                   # paytm's below_limit: not a UPI rule
        (1_000_000, E(15, "approve", "round_amount")),
        (1_000_001, OK),
        (1_050_000, OK),                                 # 1,050,000 % 100,000 = 50,000
        (1_100_000, E(15, "approve", "round_amount")),
        (5_000_000, E(15, "approve", "round_amount")),   # 5,000,000 is not > 5,000,000
        (10_000_000, E(40, "verify", "round_amount", "velocity_hour_amount")),  # 15 + 25
    ]
    for i, (amount, exp) in enumerate(table, start=1):
        c.pay(BASE, amount, payer=i, expect=exp)


@case("travel_500", rules="upi")
def _(c):
    # A -> B, 111.19 km: 800.603 s -> 500.0003 km/h impossible (+50); 800.604 s -> 499.9997 km/h,
    # > 100 and 111 km > 50 -> fast (+20); 799.005 s -> 501.0003 km/h impossible.
    for payer, dt, exp in ((1, DT_500_OVER, E(50, "verify", "impossible_travel")),
                           (2, DT_500_UNDER, E(20, "approve", "fast_travel")),
                           (3, DT_501, E(50, "verify", "impossible_travel"))):
        c.pay(BASE, 100, payer=payer, loc=A, expect=OK)
        c.pay(BASE + dt, 101, payer=payer, loc=B, expect=exp)


@case("fast_travel_distance", rules="upi")
def _(c):
    # From A, 600 s later (speed = 6 * distance, ~300 km/h), along the meridian:
    #   0.449660 deg = 49.99991 km (<= 50: no); 0.449661 deg = 50.00002 km (> 50: +20);
    #   0.458655 deg = 51.00011 km (+20).
    for payer, dlat, exp in ((1, 449_660, OK),
                             (2, 449_661, E(20, "approve", "fast_travel")),
                             (3, 458_655, E(20, "approve", "fast_travel"))):
        c.pay(BASE, 100, payer=payer, loc=A, expect=OK)
        c.pay(BASE + 600 * NS, 101, payer=payer, loc=(A[0] + dlat, A[1]), expect=exp)


@case("impossible_excludes_fast", rules="upi")
def _(c):
    # 111.19 km in 120 s = 3335.8 km/h, distance > 50: impossible only (the seed's elif), 50 not 70.
    c.pay(BASE, 100, loc=A, expect=OK)
    c.pay(BASE + 120 * NS, 101, loc=B, expect=E(50, "verify", "impossible_travel"))


@case("missing_location", rules="upi")
def _(c):
    c.pay(BASE, 100, loc=A, expect=OK)
    c.pay(BASE + 60 * NS, 101, loc=NOLOC, expect=OK)
    c.pay(BASE + 120 * NS, 102, loc=B, expect=E(50, "verify", "impossible_travel"))


@case("ignores_paytm_rules", rules="upi")
def _(c):
    # Fresh device, 999,900 (below_limit + structuring in paytm) at 23:30 IST, a merchant of risk
    # 100 with MCC 7995, inside the 10 km high-risk circle, five times within 5 s from the same
    # point: no UPI rule fires (5 x 999,900 = 4,999,500 <= 5,000,000; 0 km moved).
    c.set_risk(1, 100)
    loc = (34_000_000, 74_000_000)
    for i in range(5):
        c.pay(BASE + 11 * H + H // 2 + i * NS, 999_900, merchant=1, mcc=7995, loc=loc,
              expect=OK)


@case("invalid", rules="upi")
def _(c):
    c.pay(BASE, 0, payer=1, expect=INVALID)
    c.pay(BASE, 100, payer=2, currency="XYZ", expect=INVALID)
    c.pay(0, 100, payer=3, expect=INVALID)
    c.pay(BASE, 100, payer=4, channel="cash", expect=INVALID)


# =============================================================================================
# Assembly


def _haversine_km(lat1, lon1, lat2, lon2):
    """Great-circle distance (degrees in, km out), atan2 form, for the geometry self-check."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 6371.0 * 2 * math.atan2(math.sqrt(a), math.sqrt(1 - a))


def check_geometry():
    """Assert that the chosen coordinates and times sit on the intended sides of each threshold."""
    def speed(dt_ns, km):
        return km / (dt_ns / 3.6e12)
    d = _haversine_km(19.0, 72.8, 20.0, 72.8)
    assert abs(d - KM_PER_DEG) < 1e-9, d
    assert abs(6371.0 * math.pi / 180 - KM_PER_DEG) < 1e-12
    assert speed(DT_100_OVER, d) > 100 > speed(DT_100_UNDER, d)
    assert speed(DT_900_OVER, d) > 900 > speed(DT_900_UNDER, d) > 100
    assert speed(DT_500_OVER, d) > 500 > speed(DT_500_UNDER, d) > 100
    assert 501 < speed(DT_501, d) < 501.001
    assert _haversine_km(34.0, 74.0, 34.089932, 74.0) <= 10 < _haversine_km(34.0, 74.0, 34.089933, 74)
    assert _haversine_km(34.0, 74.0, 33.910068, 74.0) <= 10
    assert 3.25 < _haversine_km(12.0, 92.0, 12.03, 92.0) <= 5 < _haversine_km(12.0, 92.0, 12.05, 92)
    assert _haversine_km(0, 0, 1e-6, 0) <= 1
    assert _haversine_km(19.0, 72.8, 19.44966, 72.8) <= 50 < _haversine_km(19.0, 72.8, 19.449661, 72.8)
    assert _haversine_km(19.0, 72.8, 19.458655, 72.8) > 51
    assert 100 < speed(600 * NS, 50.0) < 500
    # BASE is 2026-03-10 06:30:00 UTC.
    import datetime
    utc = datetime.datetime.fromtimestamp(BASE // NS, datetime.timezone.utc)
    assert utc == datetime.datetime(2026, 3, 10, 6, 30, tzinfo=datetime.timezone.utc), utc


def _build():
    """All cases, built in registration order (case numbers from 1)."""
    built = []
    for number, (name, rules, fill) in enumerate(_REGISTRY, start=1):
        c = Case(number, name, rules)
        fill(c)
        assert len(c.rows) < 1000, name
        built.append(c)
    return built


def rules_of(name):
    """The rule set a case's expectations are for ("paytm" or "upi")."""
    return name.split("/", 1)[0]


def cases():
    """[(name, rows, expected)] for every scenario; see the module docstring."""
    return [(c.name, c.rows, dict(c.expected)) for c in _build()]


def tables():
    """The table files the cases need, as CSV text: merchants.csv, mcc.csv, areas.csv."""
    merchants = {}
    for c in _build():
        merchants.update(c.merchant_risk)
    return {
        "merchants.csv": "merchant,risk\n" + "".join(f"{m},{r}\n" for m, r in sorted(merchants.items())),
        "mcc.csv": "mcc,score\n" + "".join(f"{m},{s}\n" for m, s in MCC_TABLE),
        "areas.csv": "lat_e6,lon_e6,radius_km\n" + "".join(f"{a},{b},{r}\n" for a, b, r in AREAS),
    }


def write_case_files(directory):
    """Write cases.csv (all rows in case order), the three tables and expected.json; the paths."""
    os.makedirs(directory, exist_ok=True)
    paths = {}
    all_cases = cases()
    seen = set()
    lines = [",".join(COLUMNS)]
    expected = {"paytm": {}, "upi": {}}
    for name, rows, exp in all_cases:
        for row in rows:
            assert row["txn_id"] not in seen, row["txn_id"]
            seen.add(row["txn_id"])
            lines.append(",".join(row[col] for col in COLUMNS))
        for txn, (score, action, reasons) in exp.items():
            expected[rules_of(name)][str(txn)] = [score, action, reasons]
    paths["cases.csv"] = os.path.join(directory, "cases.csv")
    with open(paths["cases.csv"], "w") as f:
        f.write("\n".join(lines) + "\n")
    for filename, text in tables().items():
        paths[filename] = os.path.join(directory, filename)
        with open(paths[filename], "w") as f:
            f.write(text)
    paths["expected.json"] = os.path.join(directory, "expected.json")
    with open(paths["expected.json"], "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
    return paths


if __name__ == "__main__":
    import sys
    check_geometry()
    out = write_case_files(sys.argv[1] if len(sys.argv) > 1 else ".")
    print("\n".join(sorted(out.values())))
