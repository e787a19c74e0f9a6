#!/usr/bin/env python3
"""An independent reference model of dadar's payment fraud engine, for its integration tests.

Written from the specification (/work/shared/specs/fraud-rules.md), not from dadar's C code: it
answers "what decision should each payment of this stream get" for the two shipped rule sets,
"paytm" (the default) and "upi". Clarity over speed; Python standard library only.

    python3 fraudmodel.py [--rules paytm|upi] [--merchant-table F] [--mcc-table F]
                          [--risk-areas F] [--utc-offset-min 330] IN.csv

prints one JSON line per payment, in input order:
    {"txn_id": 7, "payer": 12, "score": 45, "action": "verify",
     "reasons": ["merchant_category", "new_merchant", ...], "rules": "paytm"}
with the reasons in the order of the specification's table.

Choices where the specification leaves room (each one also commented where it is made):

- An invalid payment (amount <= 0, a currency that is not an active ISO 4217 code, time 0, a
  channel or type not listed, latitude outside +-90 deg or longitude outside +-180 deg) gets score
  100, action "block" and the single reason "invalid". It changes no state at all: it is not part
  of any window, registers no device, location or merchant.
- A valid payment is scored against the state left by the earlier payments (input order) and only
  then added to it. "Earlier" is always input order; a late payment (smaller time than payments
  already seen for its payer) is scored against the state as it is and enters the state as it is.
- Windows (t - 1 h, t] etc. take every earlier payment of the payer whose time lies in the
  interval, wherever it sits in input order. Payments later in event time than t (seen before a
  late payment) are outside a window that ends at t.
- new_device: the first use of (payer, device) is the time of the first valid payment with that
  pair in INPUT order, and is never moved. A late payment whose time is before that first use has
  t - first_use < 0 < 48 h, so new_device fires for it.
- The travel rules compare with the payer's most recent earlier payment (input order) that had a
  location, even when that payment was late or was itself skipped by the travel rules (equal time):
  every valid payment with a location replaces the payer's last location. They fire only when
  t0 < t strictly.
- UPI set: fast_travel is exclusive with impossible_travel (the seed's `elif`): a speed > 500 km/h
  scores impossible_travel only.
- Local hour: floor(((t_ns // 10**9 + offset_s) mod 86400) / 3600) on whole seconds, so
  22:59:59.999999999 is hour 22 and 23:00:00.000000000 is hour 23.
- Forgetting (docs/rules.md, "Late payments"): an earlier payment counts in a window only if its
  time is later than the payer's latest time (this payment included) minus the rule set's largest
  window (24 h for paytm, 1 h for upi) minus the late grace (fraud.late_grace_s, 24 h). For a
  payment at most the grace behind its payer's latest this changes nothing (the spec's windows
  exactly); one later still is scored "against the state as it is" (the spec): what is kept. The
  history itself is kept whole here, with a running maximum of times so that a window scan starts
  at the first payment that can possibly be in it.
"""
import argparse
import bisect
import csv
import json
import math
import re
import sys
from array import array

NS_PER_S = 1_000_000_000
HOUR_NS = 3600 * NS_PER_S
DAY_NS = 24 * HOUR_NS
EARTH_RADIUS_KM = 6371.0

PAYMENT_COLUMNS = ("txn_id", "time_ns", "payer", "payee", "merchant", "amount_minor", "currency",
                   "mcc", "channel", "type", "device", "lat_e6", "lon_e6")
INT_COLUMNS = {  # column -> (min, max) of its wire type
    "txn_id": (0, 2**64 - 1), "time_ns": (0, 2**64 - 1), "payer": (0, 2**64 - 1),
    "payee": (0, 2**64 - 1), "merchant": (0, 2**64 - 1), "amount_minor": (-2**63, 2**63 - 1),
    "mcc": (0, 2**16 - 1), "device": (0, 2**64 - 1), "lat_e6": (-2**31, 2**31 - 1),
    "lon_e6": (-2**31, 2**31 - 1),
}
CHANNELS = frozenset({"upi", "card", "wallet"})
TYPES = frozenset({"p2p", "p2m", "bill"})

# The active ISO 4217 alphabetic codes (Table A.1 "list one", as of early 2026), funds codes and the
# X codes of that table included. Withdrawn: ANG (2025, now XCG), CUC (2021), HRK (2023), ZWL
# (2024, now ZWG), and the older historic codes. BGN (Bulgaria, euro since 2026-01-01) and SLL
# (Sierra Leone, replaced by SLE) are kept: both were still listed while being phased out.
# The "no currency" code and XTS (reserved for testing) are codes, but no payment is made in them:
# invalid, as dadar has it (docs/rules.md).
ISO4217_ACTIVE = frozenset("""
AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP
GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW
KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN
NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD
SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU
UYW UZS VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XUA
YER ZAR ZMW ZWG
""".split())

# The default ("paytm") rule set: reason codes and scores, in the order of the spec's table.
# merchant_category has no fixed score (the MCC table gives it).
PAYTM_RULES = (
    ("velocity_hour_amount", 40), ("velocity_hour_count", 30), ("velocity_day_amount", 50),
    ("repeated_amount", 25), ("round_amount", 20), ("below_limit", 35), ("structuring", 25),
    ("late_night_large", 15), ("new_device", 20), ("new_device_large", 15),
    ("shared_device", 30), ("impossible_travel", 50), ("fast_travel", 20),
    ("high_risk_area", 15), ("merchant_high_risk", 30), ("merchant_medium_risk", 15),
    ("new_merchant", 10), ("merchant_category", None),
)
# The UPI rule set: scores of its own, reasons in the order the main table lists the codes.
UPI_RULES = (
    ("velocity_hour_amount", 25), ("velocity_hour_count", 30), ("round_amount", 15),
    ("impossible_travel", 50), ("fast_travel", 20),
)
REASON_ORDER = {code: i for i, (code, _) in enumerate(PAYTM_RULES + (("amount_zscore", None),))}

# The z-score rule (off in both shipped sets; docs/rules.md gives its integer recurrences): the
# payer's exponentially weighted mean (minor units << 16) and variance (minor units squared) over
# its valid payments, amounts capped at 2**40; it fires, before the payment is added, when the payer
# has at least min_count earlier payments, the variance is > 0 and d*d*100 > z10*z10*var, where d
# is the amount less the mean (floored to minor units) and z10 the threshold in tenths.
EW_CAP = 1 << 40

ROUND_AMOUNTS = frozenset({1_000_000, 2_500_000, 5_000_000, 10_000_000})
BELOW_LIMIT_AMOUNTS = frozenset({999_900, 2_499_900, 4_999_900, 9_999_900})
LATE_NIGHT_HOURS = frozenset({23, 0, 1, 2, 3, 4, 5})
INVALID_SCORE = 100  # the spec gives no score for "invalid"; dadar uses 100 too


def action_of(score):
    """The action for a score: >= 80 block, >= 60 review, >= 40 verify, else approve."""
    if score >= 80:
        return "block"
    if score >= 60:
        return "review"
    if score >= 40:
        return "verify"
    return "approve"


def haversine_km(lat1_e6, lon1_e6, lat2_e6, lon2_e6):
    """Great-circle distance in km between two points given in millionths of a degree."""
    phi1 = math.radians(lat1_e6 / 1e6)
    phi2 = math.radians(lat2_e6 / 1e6)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2_e6 / 1e6) - math.radians(lon1_e6 / 1e6)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def local_hour(time_ns, utc_offset_min):
    """The hour of day (0-23) of time_ns at the given UTC offset, on whole seconds."""
    seconds = time_ns // NS_PER_S + utc_offset_min * 60
    return (seconds % 86400) // 3600


# ---------------------------------------------------------------------------------------------
# Input


_INT_RE = re.compile(r"-?[0-9]+\Z")


def _parse_int(text, lo, hi, what):
    """A decimal integer in [lo, hi]; ValueError naming `what` otherwise."""
    if not isinstance(text, str) or not _INT_RE.match(text):
        raise ValueError(f"{what}: not an integer: {text!r}")
    value = int(text)
    if not lo <= value <= hi:
        raise ValueError(f"{what}: {value} out of range [{lo}, {hi}]")
    return value


def normalise_payment(p):
    """A payment dict with the 13 columns, integers as int and the rest as str.

    Accepts the strings of a CSV row or already-converted ints."""
    out = {}
    for col in PAYMENT_COLUMNS:
        if col not in p:
            raise ValueError(f"payment lacks column {col!r}")
        value = p[col]
        if col in INT_COLUMNS:
            if not isinstance(value, int):
                value = _parse_int(str(value), *INT_COLUMNS[col], col)
        else:
            value = str(value)
        out[col] = value
    return out


def load_csv(path):
    """The payments of a CSV file (header exactly the 13 columns), as dicts of int/str.

    A line that cannot be decoded raises ValueError naming the file and the line."""
    payments = []
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or tuple(header) != PAYMENT_COLUMNS:
            raise ValueError(f"{path}:1: header is not {','.join(PAYMENT_COLUMNS)}")
        for fields in reader:
            line = reader.line_num
            if not fields:
                continue
            if len(fields) != len(PAYMENT_COLUMNS):
                raise ValueError(f"{path}:{line}: {len(fields)} fields, expected 13")
            try:
                payments.append(normalise_payment(dict(zip(PAYMENT_COLUMNS, fields))))
            except ValueError as e:
                raise ValueError(f"{path}:{line}: {e}") from None
    return payments


def _table_rows(path, header):
    """(line number, fields) for each non-empty data line of a table CSV with this header."""
    with open(path, newline="") as f:
        lines = f.read().splitlines()
    if not lines or lines[0] != header:
        raise ValueError(f"{path}:1: header is not {header}")
    ncols = header.count(",") + 1
    for number, line in enumerate(lines[1:], start=2):
        if line == "":
            continue
        fields = line.split(",")
        if len(fields) != ncols:
            raise ValueError(f"{path}:{number}: {len(fields)} fields, expected {ncols}")
        yield number, fields


_DECIMAL_RE = re.compile(r"[0-9]+(\.[0-9]+)?\Z")


def load_merchant_table(path):
    """merchant id -> risk (0-100) from a `merchant,risk` CSV."""
    table = {}
    for number, (merchant, risk) in _table_rows(path, "merchant,risk"):
        try:
            key = _parse_int(merchant, 0, 2**64 - 1, "merchant")
            value = _parse_int(risk, 0, 100, "risk")
        except ValueError as e:
            raise ValueError(f"{path}:{number}: {e}") from None
        if key in table:
            raise ValueError(f"{path}:{number}: merchant {key} listed twice")
        table[key] = value
    return table


def load_mcc_table(path):
    """MCC -> merchant_category score (a non-negative integer) from a `mcc,score` CSV."""
    table = {}
    for number, (mcc, score) in _table_rows(path, "mcc,score"):
        try:
            key = _parse_int(mcc, 0, 2**16 - 1, "mcc")
            value = _parse_int(score, 0, 2**31 - 1, "score")
        except ValueError as e:
            raise ValueError(f"{path}:{number}: {e}") from None
        if key in table:
            raise ValueError(f"{path}:{number}: mcc {key} listed twice")
        table[key] = value
    return table


def load_risk_areas(path):
    """[(lat_e6, lon_e6, radius_km)] from a `lat_e6,lon_e6,radius_km` CSV (radius decimal)."""
    areas = []
    for number, (lat, lon, radius) in _table_rows(path, "lat_e6,lon_e6,radius_km"):
        try:
            lat_e6 = _parse_int(lat, -90_000_000, 90_000_000, "lat_e6")
            lon_e6 = _parse_int(lon, -180_000_000, 180_000_000, "lon_e6")
            if not _DECIMAL_RE.match(radius):
                raise ValueError(f"radius_km: not a non-negative decimal: {radius!r}")
        except ValueError as e:
            raise ValueError(f"{path}:{number}: {e}") from None
        areas.append((lat_e6, lon_e6, float(radius)))
    return areas


def load_tables(merchant=None, mcc=None, areas=None):
    """The three tables from their files (None: empty), as keyword arguments of Model."""
    return {
        "merchant_risk": load_merchant_table(merchant) if merchant else {},
        "mcc_score": load_mcc_table(mcc) if mcc else {},
        "areas": load_risk_areas(areas) if areas else [],
    }


def invalid(p):
    """True when a decoded payment is invalid (block with the single reason `invalid`)."""
    return (p["amount_minor"] <= 0
            or p["currency"] not in ISO4217_ACTIVE
            or p["time_ns"] == 0
            or p["channel"] not in CHANNELS
            or p["type"] not in TYPES
            or not -90_000_000 <= p["lat_e6"] <= 90_000_000
            or not -180_000_000 <= p["lon_e6"] <= 180_000_000)


# ---------------------------------------------------------------------------------------------
# State


class PayerHistory:
    """A payer's valid payments in input order: times, amounts, and the running maximum of times.

    The running maximum is non-decreasing, so every payment before the first index whose running
    maximum exceeds `lo` has a time <= lo: a window (lo, ...) can start its scan there."""

    def __init__(self):
        self.times = array("Q")
        self.amounts = array("q")
        self.runmax = array("Q")

    def add(self, time_ns, amount):
        """Append a payment (after it has been scored)."""
        self.times.append(time_ns)
        self.amounts.append(amount)
        self.runmax.append(max(time_ns, self.runmax[-1]) if self.runmax else time_ns)

    def window(self, lo, hi, include_hi):
        """Amounts of the payments with lo < time <= hi (or < hi), in input order."""
        start = bisect.bisect_right(self.runmax, lo)
        out = []
        for i in range(start, len(self.times)):
            t = self.times[i]
            if lo < t and (t <= hi if include_hi else t < hi):
                out.append(self.amounts[i])
        return out


class Model:
    """The fraud engine's decisions, one payment at a time in input order (state carried)."""

    def __init__(self, rules="paytm", merchant_risk=None, mcc_score=None, areas=None,
                 utc_offset_min=330, zscore=None, late_grace_s=86400):
        """zscore: None (off, as shipped) or (z10, alpha_shift, min_count, score)."""
        if rules not in ("paytm", "upi"):
            raise ValueError(f"unknown rule set {rules!r}")
        self.rules = rules
        self.merchant_risk = dict(merchant_risk or {})
        self.mcc_score = dict(mcc_score or {})
        self.areas = list(areas or [])
        self.utc_offset_min = utc_offset_min
        self.history = {}        # payer -> PayerHistory
        self.last_location = {}  # payer -> (time_ns, lat_e6, lon_e6) of its last located payment
        self.first_use = {}      # (payer, device) -> time_ns of its first valid payment
        self.device_payers = {}  # device -> set of payers that used it
        self.merchants_seen = set()
        self.zscore = zscore
        self.late_grace_ns = late_grace_s * 10**9
        self.ew = {}             # payer -> [n, mean_q, var] over its valid payments

    # -- the decision ---------------------------------------------------------------------------

    def decide(self, payment):
        """Score one payment against the state, then add it to the state; the decision dict."""
        p = normalise_payment(payment)
        if invalid(p):
            # No state update at all for an invalid payment.
            return self._result(p, INVALID_SCORE, ["invalid"])
        fired = self._paytm(p) if self.rules == "paytm" else self._upi(p)
        if self.zscore is not None and self._zscore_fires(p):
            fired["amount_zscore"] = self.zscore[3]
        self._record(p)
        score = sum(fired.values())
        reasons = sorted((code for code, s in fired.items() if s != 0), key=REASON_ORDER.get)
        return self._result(p, score, reasons)

    def _result(self, p, score, reasons):
        """The output record of a decision."""
        return {"txn_id": p["txn_id"], "payer": p["payer"], "score": score,
                "action": action_of(score), "reasons": reasons, "rules": self.rules}

    # -- rule sets ------------------------------------------------------------------------------

    def _paytm(self, p):
        """{reason: score} of the default rule set's rules that fire for p."""
        fired = {}
        t, amount = p["time_ns"], p["amount_minor"]
        hour = self._window(p, HOUR_NS, include_t=True) + [amount]
        day = self._window(p, DAY_NS, include_t=True) + [amount]
        if sum(hour) > 5_000_000:
            fired["velocity_hour_amount"] = 40
        if len(hour) > 20:
            fired["velocity_hour_count"] = 30
        if sum(day) > 20_000_000:
            fired["velocity_day_amount"] = 50
        if len(hour) >= 5 and len(set(hour[-5:])) == 1:
            fired["repeated_amount"] = 25
        if amount in ROUND_AMOUNTS:
            fired["round_amount"] = 20
        if amount in BELOW_LIMIT_AMOUNTS:
            fired["below_limit"] = 35
        if 900_000 <= amount <= 999_900:
            fired["structuring"] = 25
        if amount > 1_000_000 and local_hour(t, self.utc_offset_min) in LATE_NIGHT_HOURS:
            fired["late_night_large"] = 15
        if self._new_device(p):
            fired["new_device"] = 20
            if amount > 2_500_000:
                fired["new_device_large"] = 15
        if len(self.device_payers.get(p["device"], set()) | {p["payer"]}) > 3:
            fired["shared_device"] = 30
        speed, _ = self._travel(p)
        if speed is not None:
            if speed > 900:
                fired["impossible_travel"] = 50
            elif speed > 100:
                fired["fast_travel"] = 20
        if self._in_risk_area(p):
            fired["high_risk_area"] = 15
        if p["merchant"] != 0:
            risk = self.merchant_risk.get(p["merchant"], 0)
            if risk > 70:
                fired["merchant_high_risk"] = 30
            elif risk > 50:
                fired["merchant_medium_risk"] = 15
            if p["merchant"] not in self.merchants_seen:
                fired["new_merchant"] = 10
            fired["merchant_category"] = self.mcc_score.get(p["mcc"], 5)
        return fired

    def _upi(self, p):
        """{reason: score} of the UPI rule set's rules that fire for p."""
        fired = {}
        amount = p["amount_minor"]
        earlier = self._window(p, HOUR_NS, include_t=False)  # (t - 1 h, t), this one excluded
        if len(earlier) >= 15:
            fired["velocity_hour_count"] = 30
        if sum(earlier) + amount > 5_000_000:
            fired["velocity_hour_amount"] = 25
        if amount % 100_000 == 0 and amount >= 1_000_000:
            fired["round_amount"] = 15
        speed, distance = self._travel(p)
        if speed is not None:
            # The seed tests `speed > 500` then `elif speed > 100 and distance > 50`: a speed
            # above 500 km/h scores impossible_travel alone, never fast_travel as well.
            if speed > 500:
                fired["impossible_travel"] = 50
            elif speed > 100 and distance > 50:
                fired["fast_travel"] = 20
        return fired

    # -- features -------------------------------------------------------------------------------

    def _window(self, p, length_ns, include_t):
        """Amounts of the payer's earlier payments with time in (t - length, t] or (t - length, t),
        less those forgotten: at or before the payer's latest time (this one included) minus the
        rule set's largest window and the late grace."""
        history = self.history.get(p["payer"])
        if history is None:
            return []
        t = p["time_ns"]
        latest = max(t, history.runmax[-1])
        largest = DAY_NS if self.rules == "paytm" else HOUR_NS
        return history.window(max(t - length_ns, latest - largest - self.late_grace_ns), t, include_t)

    def _new_device(self, p):
        """True when the payer first used this device less than 48 h before t (or never).

        A late payment before the recorded first use has t - first_use < 0 < 48 h: it fires."""
        first = self.first_use.get((p["payer"], p["device"]))
        return first is None or p["time_ns"] - first < 2 * DAY_NS

    @staticmethod
    def _has_location(p):
        """A location is missing when both coordinates are zero."""
        return not (p["lat_e6"] == 0 and p["lon_e6"] == 0)

    def _travel(self, p):
        """(speed km/h, distance km) from the payer's last located payment, or (None, None).

        None when this payment or the payer has no location, or when t0 >= t."""
        if not self._has_location(p):
            return None, None
        last = self.last_location.get(p["payer"])
        if last is None:
            return None, None
        t0, lat0, lon0 = last
        t = p["time_ns"]
        if t0 >= t:
            return None, None
        distance = haversine_km(lat0, lon0, p["lat_e6"], p["lon_e6"])
        hours = (t - t0) / 3.6e12
        return distance / hours, distance

    def _in_risk_area(self, p):
        """True when the payment's location is within radius of some high-risk centre."""
        if not self._has_location(p):
            return False
        return any(haversine_km(lat, lon, p["lat_e6"], p["lon_e6"]) <= radius
                   for lat, lon, radius in self.areas)

    def _zscore_fires(self, p):
        z10, _shift, min_count, _score = self.zscore
        n, mean_q, var = self.ew.get(p["payer"], (0, 0, 0))
        if n < min_count or var <= 0:
            return False
        d = min(p["amount_minor"], EW_CAP) - (mean_q >> 16)
        return d * d * 100 > z10 * z10 * var

    def _ew_add(self, p):
        shift = self.zscore[1] if self.zscore is not None else 4
        a = min(p["amount_minor"], EW_CAP)
        st = self.ew.get(p["payer"])
        if st is None:
            self.ew[p["payer"]] = [1, a << 16, 0]
            return
        d = a - (st[1] >> 16)
        inc = (d << 16) >> shift
        st[1] += inc
        st[2] += (d * inc) >> 16
        st[2] -= st[2] >> shift
        st[0] += 1

    def _record(self, p):
        """Add a valid, already scored payment to the state."""
        self._ew_add(p)
        payer, device = p["payer"], p["device"]
        self.history.setdefault(payer, PayerHistory()).add(p["time_ns"], p["amount_minor"])
        if self._has_location(p):
            self.last_location[payer] = (p["time_ns"], p["lat_e6"], p["lon_e6"])
        self.first_use.setdefault((payer, device), p["time_ns"])  # first in input order
        self.device_payers.setdefault(device, set()).add(payer)
        if p["merchant"] != 0:
            self.merchants_seen.add(p["merchant"])


def run(payments, **model_args):
    """Decisions for a list of payments, in order, by a fresh Model."""
    model = Model(**model_args)
    return [model.decide(p) for p in payments]


def main(argv=None):
    """The command line: one JSON decision per line on stdout."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rules", choices=("paytm", "upi"), default="paytm")
    ap.add_argument("--merchant-table")
    ap.add_argument("--mcc-table")
    ap.add_argument("--risk-areas")
    ap.add_argument("--utc-offset-min", type=int, default=330)
    ap.add_argument("csv")
    args = ap.parse_args(argv)
    try:
        tables = load_tables(args.merchant_table, args.mcc_table, args.risk_areas)
        payments = load_csv(args.csv)
    except (OSError, ValueError) as e:
        print(f"fraudmodel: {e}", file=sys.stderr)
        return 2
    model = Model(rules=args.rules, utc_offset_min=args.utc_offset_min, **tables)
    out = sys.stdout
    for p in payments:
        out.write(json.dumps(model.decide(p)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
