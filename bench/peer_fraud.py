#!/usr/bin/env python3
"""The fraud benchmark's peer: the user's Python sketch, run from where it is.

    python3 bench/peer_fraud.py --seed-dir /work/shared/seeds IN.csv \\
        [--merchant-table F] [--mcc-table F] [--risk-areas F] \\
        [--decisions OUT.jsonl] [--json] [--float] [--utc-offset +05:30]

This imports ``paytm_fraud_engine`` from ``--seed-dir`` (nothing of it is copied here), subclasses
its ``PaytmFraudDetectionEngine`` and replaces only what /work/shared/specs/fraud-rules.md ("the default
fraud rule set, exactly") says differs: the sketch's random, hash-based and stubbed parts, and the
boundaries where its code disagrees with the spec.  Every rule's arithmetic, threshold and window
test that already agrees with the spec is the seed's own code, run unmodified.

Input: the payment CSV of the spec (``txn_id,time_ns,payer,payee,merchant,amount_minor,currency,
mcc,channel,type,device,lat_e6,lon_e6``, header line optional).  Tables: ``merchant,risk``,
``mcc,score`` and ``lat_e6,lon_e6,radius_km`` CSV files with that header; a missing option is an
empty table; a malformed line is an error naming the file and line.

Output: with ``--json`` one JSON object ``{"peer":"seed-paytm-python","payments":N,"seconds":S,
"payments_per_s":R}`` on stdout (otherwise a human line); with ``--decisions F`` one JSON line per
payment, in input order: ``{"txn_id","payer","score","action","reasons"}`` with the spec's reason
codes (listed in the spec table's order) and actions ``approve|verify|review|block``.  Counts of
undecodable lines, invalid and out-of-order payments go to stderr.

What is timed
-------------
Only the engine's scoring calls.  The CSV is parsed and converted to the seed's
``PaytmPaymentEvent`` objects first; then one ``time.perf_counter()`` interval covers the loop that
scores every payment in input order (the validity flag computed at parse time is checked inside
the loop; an invalid payment is answered without the engine).  Converting the seed's results to
reason codes and writing them happens after the interval.

The seed is async (``async def assess_transaction_risk`` and the helpers it awaits) but none of its
coroutines ever suspends: no I/O, no sleep, no awaitable other than its own coroutines.  So each
payment is driven by ``coro.send(None)``, which runs the coroutine to completion and raises
``StopIteration`` carrying the result; no event loop is involved (the harness raises if a coroutine
ever does suspend).  The seed's ``PaytmStreamProcessor`` (which batches coroutines 100 at a time
into ``asyncio.gather``, prints, and awaits empty approve/block stubs) is not used: it adds no
scoring work, only an event loop and prints.  ``asyncio.gather`` of non-suspending coroutines runs
them one after the other in order, so driving them in order is what it would compute.

Numbers
-------
The seed works in rupees and seconds (its annotations say ``amount: float``, ``timestamp: float``).
By default the peer gives it ``decimal.Decimal`` values of exactly those units
(``Decimal(amount_minor).scaleb(-2)`` rupees, ``Decimal(time_ns).scaleb(-9)`` seconds): the seed's
own expressions (``current_time - txn['timestamp'] < 3600``, ``sum(...) > 50000``, ``amount in
[10000, ...]``, ``(t - t0) / 3600``) then compute the spec's boundaries exactly, to the nanosecond
and the paisa, and its decisions can be compared one for one with dadar's and the oracle's.
``--float`` gives it plain floats instead (``amount_minor / 100``, ``time_ns / 1e9``): the seed as
written, some 20 % faster (median of 5 passes on a busy 2-CPU machine: 41k against 33k payments/s
on a generated 100k-payment stream), but a time is then only good to ~0.24 us (the ulp of a 2020s
epoch time in seconds), so windows, the 48 h device age and the late-night hour go the wrong way
within a few hundred ns of their edges (5 of the 276 hand-computed expectations of
tests/integration/fraud_cases.py fail that way), and float sums of rupee amounts with paise could
cross a threshold they only touch.  On generated streams the two modes give identical decisions.

The patches (seed line numbers are those of /work/shared/seeds/paytm_fraud_engine.py, 619 lines)
-----------------------------------------------------------------------------------------------
Replaced because they are random, hash-based, stubs or removed by the spec:

 1. L341-368 ``ml_fraud_prediction`` ("ML probability", hash-based, 0-30 points): returns score 0
    and no factor (spec: not part of the rule set).  Note: imported as a module the seed cannot run
    it at all -- it uses ``math`` (L349), imported only under ``__main__`` (L618) and locally in the
    generator (L564) -- so every call raised NameError, which the seed's ``except`` (L119-123) turned
    into ``manual_review`` for every payment.
 2. L403-405 ``is_device_fingerprint_suspicious`` (fingerprint shorter than 10 chars, +35): False.
 3. L422-424 ``get_merchant_risk_score`` (``hash(merchant_id) % 100``): the merchant table, 0 when
    absent.  The seed's > 70 (+30) / > 50 (+15) tests (L322-327) are kept.
 4. L411-415 ``calculate_distance`` (``random.uniform(10, 500)`` for distinct city names):
    haversine, R = 6371.0 km, over (lat_e6, lon_e6) / 1e6 degrees.  ``PaytmPaymentEvent.location``
    carries the ``(lat_e6, lon_e6)`` tuple, or ``None`` when both are 0.  The seed's speed tests
    (L288-301: hours = dt / 3600, skip unless > 0, > 900 -> +50, elif > 100 -> +20) are kept.
 5. L407-409 ``get_last_location`` (a fixed Mumbai one hour before *wall-clock* ``time.time()``):
    the payer's most recent earlier (input order) payment that had a location, with its event
    time; ``None`` when this payment has no location (the spec skips the travel rules then).  The
    last location is replaced after scoring, only by a payment that has one.
 6. L417-420 ``is_high_risk_location`` (two place names): inside a risk-area circle (haversine
    distance to the centre <= radius_km); ``None`` (no location) is never inside.
 7. L395-397 ``get_user_devices`` (fixed ``['device1', 'device2']``): the payer's devices first used
    at least 48 h before ``t`` (the seed's own unused ``new_device_threshold: 48`` hours, L51), so
    the seed's ``not in`` test (L212) fires ``new_device`` exactly when the spec's does; the device's
    first use is recorded before scoring (this payment's use counts: its first use is ``t``) as the
    time of the first payment with that (payer, device) in input order -- the spec's "before" is
    input order -- and is never moved by a late payment (which then has t - first < 0 < 48 h and
    fires).  ``new_device_large`` (> 25000 rupees, L217) is the seed's.
 8. L399-401 ``get_device_users`` (fixed ``['user1']``): the distinct payers that used the device,
    this payment's payer included (recorded before scoring); the seed's ``> 3`` (L223) is kept.
 9. L426-428 ``is_new_merchant`` (``'NEW' in merchant_id``): no earlier payment in the stream had
    this merchant (recorded as it is checked; invalid payments never reach the engine).
10. L430-432 ``get_merchant_category_risk`` (a constant 5, no factor): the MCC table's score for the
    payment's ``mcc``, 5 when not listed, with a factor (reason ``merchant_category``) only when the
    score is non-zero.  The seed's "only when there is a merchant" (L105) is kept.
11. Wall clock: the seed module's global ``time`` is replaced by an event clock.  ``time.time()``
    (L71/L126 processing_time_ms, L409) returns the payment's event time; ``time.localtime(ts)``
    (L259, and L350-351 in the removed ML part) returns the wall time of ``ts`` at the rule set's
    fixed UTC offset (default +05:30) instead of the machine's time zone.

Patched because the seed's boundaries differ from the spec's:

12. L260 late night: the seed tests ``current_hour < 6 or current_hour > 23``; ``tm_hour`` is never
    above 23, so hour 23 never fires.  The spec says 23, 0, 1, ..., 5.  The seed's method runs
    unchanged and the subclass adds the same +15 "Large late-night transaction" (amount > 10000
    rupees, as L261) when the local hour is 23.
13. L156-165 velocity windows, for a late payment (event time before a payment already seen for
    its payer): the seed's windows are ``t - ts < 3600`` (and < 86400) over a list it prunes at
    every payment to the last 24 h *of that payment* (L156-159).  So a late payment (a) counts the
    payer's later payments, which lie after ``t``, in its hour and day, and (b) misses payments that
    a later payment already pruned although they are in its own ``(t - 24 h, t]`` (any lateness can
    lose day-window payments; more than 23 h of lateness loses hour-window ones).  The spec's windows
    are ``(t - 1 h, t]`` and ``(t - 24 h, t]`` over every earlier payment.  The subclass keeps every
    record the seed made (one append per payment) and, for a late payment only, hands the seed's
    method the payer's records with time in ``(t - 24 h, t]`` in input order -- the list the seed's
    own pruning would have left had the payments come in time order -- then restores the seed's
    list as it was plus this payment.  In-order payments run the seed's method untouched.  The
    kept records grow with the stream (a payment may be arbitrarily late; the spec sets no
    horizon), which costs one list append per payment and the memory.  (The
    seed's lower bound ``< 3600`` is the spec's open bound; its thresholds 50000/20/200000 rupees
    and ">= 5, the last 5 equal" are the spec's.)
14. Units and names, not logic: amounts are given in rupees (spec thresholds in paise are the
    seed's /100: 5,000,000 paise = 50000, 999,900 = 9999, ...), times in seconds; the seed's
    actions ``additional_verification``/``manual_review`` are written ``verify``/``review``; its
    free-text factors are mapped to the spec's reason codes (an unknown factor, or the seed's
    error factor from L123, stops the run: it would mean a patch is missing).  The seed's score
    thresholds (L373-378: >= 80, >= 60, >= 40) are the spec's.

Not part of the seed, done by the harness (the spec's validation, with docs/wire-formats.md's
list of causes): a payment that decodes but has amount <= 0, a currency that is not an active ISO
4217 code (list embedded below), time 0, a channel other than upi/card/wallet or a type other than
p2p/p2m/bill, latitude outside +-90 deg or longitude outside +-180 deg gets ``block``, score 100
(the spec names no score; 100 keeps every decision's action the one its score gives), reasons
``["invalid"]``, and never reaches the engine (so it changes no state).  A line that does not
decode (wrong field count, an integer field that does not parse or fit its wire width) gets no
decision and is counted on stderr.

Readings of the spec the patches follow (where it leaves room):

 - "Earlier" is input order throughout: the travel rules compare with the payer's most recent
   earlier payment (input order) that had a location, even if that one was late; a late payment
   whose previous location is later in time skips them (the seed's ``time_diff_hours > 0``).  Every
   valid payment with a location replaces the payer's last location.
 - An invalid payment changes no state.  A valid one is scored against the state of the payments
   before it, itself included where the spec says so (windows, device first use, device payers),
   and stays in the state for the payments after it.
"""

import argparse
import dataclasses
import json
import math
import os
import sys
import time as _wallclock
from decimal import Decimal

PEER_NAME = "seed-paytm-python"
EARTH_RADIUS_KM = 6371.0

# Active ISO 4217 alphabetic codes: Debian 12's iso-codes list (/usr/share/iso-codes/json/iso_4217.json,
# 181 codes) less the codes withdrawn since (ANG 2025 -> XCG, CUC 2021, HRK 2023, ZWL 2024 -> ZWG),
# plus XCG and ZWG.  BGN and SLL, being phased out, are still listed.
_WITHDRAWN = {"ANG", "CUC", "HRK", "ZWL"}
ISO4217 = frozenset("""
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN
BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD
FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS
KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN
MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR
SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD
USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XDR XOF XPD XPF XPT XSU XTS
XUA XXX YER ZAR ZMW ZWL XCG ZWG
""".split()) - _WITHDRAWN

# The spec's reason codes, in the spec table's order (the order decisions list them in).
REASON_ORDER = [
    "velocity_hour_amount", "velocity_hour_count", "velocity_day_amount", "repeated_amount",
    "round_amount", "below_limit", "structuring", "late_night_large", "new_device",
    "new_device_large", "shared_device", "impossible_travel", "fast_travel", "high_risk_area",
    "merchant_high_risk", "merchant_medium_risk", "new_merchant", "merchant_category",
]
REASON_RANK = {r: i for i, r in enumerate(REASON_ORDER)}

# The seed's factor texts (their fixed prefix) -> reason code.
FACTOR_PREFIXES = [
    ("Hourly amount limit exceeded", "velocity_hour_amount"),     # L178
    ("Too many transactions per hour", "velocity_hour_count"),    # L182
    ("Daily amount limit exceeded", "velocity_day_amount"),       # L187
    ("Repeated identical amounts", "repeated_amount"),            # L194
    ("New device for user", "new_device"),                        # L214
    ("Large amount on new device", "new_device_large"),           # L219
    ("Device shared by ", "shared_device"),                       # L225
    ("Suspicious round amount", "round_amount"),                  # L246
    ("Amount just below reporting threshold", "below_limit"),     # L251
    ("Potential structuring attempt", "structuring"),             # L256
    ("Large late-night transaction", "late_night_large"),         # L263 (and patch 12)
    ("Impossible travel", "impossible_travel"),                   # L296
    ("Suspicious travel speed", "fast_travel"),                   # L301
    ("Transaction from high-risk location", "high_risk_area"),    # L306
    ("High-risk merchant", "merchant_high_risk"),                 # L324
    ("Medium-risk merchant", "merchant_medium_risk"),             # L327
    ("New merchant", "new_merchant"),                             # L332
    ("Merchant category risk", "merchant_category"),              # patch 10
]

ACTIONS = {  # seed's determine_action (L385-390) -> spec's action names
    "approve": "approve",
    "additional_verification": "verify",
    "manual_review": "review",
    "block": "block",
}

CHANNELS = {"upi", "card", "wallet"}
KINDS = {"p2p": "p2p", "p2m": "p2m", "bill": "bill_payment"}  # seed spells bills 'bill_payment'
U64 = (1 << 64) - 1


class PeerError(Exception):
    pass


# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------

def haversine_km(a, b):
    """Great-circle distance between two (lat_e6, lon_e6) points, R = 6371.0 km."""
    lat1 = math.radians(a[0] / 1e6)
    lat2 = math.radians(b[0] / 1e6)
    dlat = lat2 - lat1
    dlon = math.radians(b[1] / 1e6) - math.radians(a[1] / 1e6)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2.0 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------

def _int_field(text, lo, hi):
    t = text.strip()
    digits = t[1:] if t[:1] == "-" else t
    if not (digits.isascii() and digits.isdigit()):  # int() would also take '1_000', '+5', '٣'
        raise ValueError(text)
    v = int(t)
    if not lo <= v <= hi:
        raise ValueError(text)
    return v


def _read_table(path, header, parse_row):
    """A CSV table with exactly this header; each later non-blank line through parse_row."""
    out = []
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or lines[0].strip().rstrip("\r") != header:
        raise PeerError(f"{path}:1: expected the header '{header}'")
    for n, line in enumerate(lines[1:], start=2):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != header.count(",") + 1:
            raise PeerError(f"{path}:{n}: expected {header.count(',') + 1} fields: {line!r}")
        try:
            out.append(parse_row(fields))
        except ValueError:
            raise PeerError(f"{path}:{n}: malformed line: {line!r}") from None
    return out


def load_merchant_table(path):
    if not path:
        return {}
    rows = _read_table(path, "merchant,risk",
                       lambda f: (str(_int_field(f[0], 0, U64)), _int_field(f[1], 0, 100)))
    return dict(rows)


def load_mcc_table(path):
    if not path:
        return {}
    rows = _read_table(path, "mcc,score",
                       lambda f: (_int_field(f[0], 0, 65535), _int_field(f[1], 0, 1 << 31)))
    return dict(rows)


def load_risk_areas(path):
    if not path:
        return []

    def row(f):
        lat = _int_field(f[0], -90_000_000, 90_000_000)
        lon = _int_field(f[1], -180_000_000, 180_000_000)
        r = float(f[2])
        if not (r >= 0 and math.isfinite(r)):
            raise ValueError(f[2])
        return ((lat, lon), r)

    return _read_table(path, "lat_e6,lon_e6,radius_km", row)


# --------------------------------------------------------------------------------------------
# The seed, imported from where it is, and what must change in it
# --------------------------------------------------------------------------------------------

def import_seed(seed_dir):
    sys.dont_write_bytecode = True  # leave no __pycache__ in the seeds directory
    seed_dir = os.path.abspath(seed_dir)
    if not os.path.isfile(os.path.join(seed_dir, "paytm_fraud_engine.py")):
        raise PeerError(f"{seed_dir}: no paytm_fraud_engine.py there")
    sys.path.insert(0, seed_dir)
    import paytm_fraud_engine as seed  # noqa: E402  (the user's sketch, unmodified)
    return seed


class EventClock:
    """Replaces the seed module's global ``time`` (patch 11): no wall clock, one fixed UTC offset."""

    def __init__(self, utc_offset_s):
        self.offset = utc_offset_s
        self.now = 0

    def time(self):
        return self.now

    def localtime(self, ts):
        # ts >= 0 (time 0 is invalid), so int() truncation is the floor; exact for Decimal too.
        return _wallclock.gmtime(int(ts) + self.offset)


class _EstablishedDevices:
    """What get_user_devices returns: ``dev in it`` <=> first used at least 48 h before now."""
    __slots__ = ("first", "cutoff")

    def __init__(self, first, cutoff):
        self.first = first
        self.cutoff = cutoff

    def __contains__(self, dev):
        f = self.first.get(dev)
        return f is not None and f <= self.cutoff


def make_engine_class(seed):
    Base = seed.PaytmFraudDetectionEngine

    @dataclasses.dataclass
    class SpecPayment(seed.PaytmPaymentEvent):
        """The seed's event plus what its stubs never needed: the MCC, and validity."""
        mcc: int = 0
        valid: bool = True
        txn_id: int = 0
        payer: int = 0

    class SpecEngine(Base):
        def __init__(self, merchant_risk, mcc_scores, risk_areas, clock, exact):
            super().__init__()
            self._merchant_risk = merchant_risk
            self._mcc_scores = mcc_scores
            self._risk_areas = risk_areas
            self._clock = clock
            self._exact = exact
            self._new_device_s = self.fraud_rules["device_risk"]["new_device_threshold"] * 3600
            self._cur = None
            self._dev_first = {}     # payer -> {device: first event time}
            self._dev_users = {}     # device -> {payers}
            self._last_loc = {}      # payer -> {'location': (lat_e6, lon_e6), 'timestamp': t}
            self._merchants = set()  # merchants seen in the stream
            self._max_t = {}         # payer -> largest event time seen (patch 13)
            self._history = {}       # payer -> every velocity record the seed made (patch 13)
            self.out_of_order = 0

        async def assess_transaction_risk(self, payment):
            self._cur = payment
            self._clock.now = payment.timestamp
            t = payment.timestamp
            phone = payment.sender_phone
            dev = payment.device_fingerprint
            # State the spec counts this payment in (patches 7, 8).
            firsts = self._dev_first.get(phone)
            if firsts is None:
                firsts = self._dev_first[phone] = {}
            if dev not in firsts:
                firsts[dev] = t  # first use in input order, never moved
            users = self._dev_users.get(dev)
            if users is None:
                users = self._dev_users[dev] = set()
            users.add(phone)

            result = await super().assess_transaction_risk(payment)

            # State this payment leaves for later ones (patch 5).
            if payment.location is not None:
                self._last_loc[phone] = {"location": payment.location, "timestamp": t}
            return result

        # -- patch 13: a late payment's windows are (t - 1 h, t] and (t - 24 h, t] -------------
        async def check_velocity_patterns(self, payment):
            t = payment.timestamp
            phone = payment.sender_phone
            m = self._max_t.get(phone)
            if m is None or t >= m:  # in order for its payer: the seed's method, untouched
                self._max_t[phone] = t
                result = await super().check_velocity_patterns(payment)
                entry = self.user_profiles[phone]["transactions"][-1]  # the seed's record of it
                history = self._history.get(phone)
                if history is None:
                    self._history[phone] = [entry]
                else:
                    history.append(entry)
                return result
            # Late: give the seed's method the payer's payments in (t - 24 h, t], in input order
            # (what its own pruning keeps, had the payments arrived in time order), then put its
            # list back as it was, plus this payment.
            self.out_of_order += 1
            profile = self.user_profiles[phone]
            history = self._history[phone]
            as_it_was = profile["transactions"]
            profile["transactions"] = [x for x in history
                                       if x["timestamp"] <= t and t - x["timestamp"] < 86400]
            result = await super().check_velocity_patterns(payment)
            entry = profile["transactions"][-1]
            profile["transactions"] = as_it_was + [entry]
            history.append(entry)
            return result

        # -- patches 7, 8, 2: devices ------------------------------------------------------
        def get_user_devices(self, phone):
            return _EstablishedDevices(self._dev_first.get(phone, {}),
                                       self._cur.timestamp - self._new_device_s)

        def get_device_users(self, device):
            return self._dev_users.get(device, ())

        def is_device_fingerprint_suspicious(self, fingerprint):
            return False

        # -- patch 12: hour 23 -------------------------------------------------------------
        def analyze_amount_patterns(self, payment):
            r = super().analyze_amount_patterns(payment)
            if payment.amount > 10000 and self._clock.localtime(payment.timestamp).tm_hour == 23:
                r["score"] += 15
                r["factors"].append("Large late-night transaction")
            return r

        # -- patches 4, 5, 6: geography ----------------------------------------------------
        def get_last_location(self, phone):
            if self._cur.location is None:
                return None
            return self._last_loc.get(phone)

        def calculate_distance(self, loc1, loc2):
            d = haversine_km(loc1, loc2)
            # the seed divides it by (t - t0) / 3600 in the timestamps' type
            return Decimal(d) if self._exact else d

        def is_high_risk_location(self, location):
            if location is None:
                return False
            for centre, radius in self._risk_areas:
                if haversine_km(location, centre) <= radius:
                    return True
            return False

        # -- patches 3, 9, 10: merchants ---------------------------------------------------
        def get_merchant_risk_score(self, merchant_id):
            return self._merchant_risk.get(merchant_id, 0)

        def is_new_merchant(self, merchant_id):
            if merchant_id in self._merchants:
                return False
            self._merchants.add(merchant_id)
            return True

        def get_merchant_category_risk(self, merchant_id):
            score = self._mcc_scores.get(self._cur.mcc, 5)
            return {"score": score, "factors": ["Merchant category risk"] if score else []}

        # -- patch 1: no "ML" ---------------------------------------------------------------
        def ml_fraud_prediction(self, payment, risk_assessment):
            return {"score": 0, "factors": []}

    return SpecEngine, SpecPayment


# --------------------------------------------------------------------------------------------
# The payment CSV
# --------------------------------------------------------------------------------------------

CSV_HEADER = "txn_id,time_ns,payer,payee,merchant,amount_minor,currency,mcc,channel,type,device,lat_e6,lon_e6"


def _uint(s, hi=U64):
    if not (s.isascii() and s.isdigit()):
        raise ValueError(s)
    v = int(s)
    if v > hi:
        raise ValueError(s)
    return v


def _sint(s, bits):
    t = s[1:] if s[:1] == "-" else s
    if not (t.isascii() and t.isdigit()):
        raise ValueError(s)
    v = int(s)
    if not -(1 << (bits - 1)) <= v < (1 << (bits - 1)):
        raise ValueError(s)
    return v


def read_payments(path, SpecPayment, exact):
    """-> (payments in input order, undecodable line count)."""
    payments = []
    bad = 0
    with open(path, encoding="utf-8", newline="") as f:
        for n, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            if n == 1 and line.replace(" ", "") == CSV_HEADER:
                continue
            fields = [x.strip() for x in line.split(",")]
            try:
                if len(fields) != 13:
                    raise ValueError("field count")
                (txn_id, time_ns, payer, payee, merchant, amount, currency, mcc, channel,
                 kind, device, lat, lon) = fields
                txn_id = _uint(txn_id)
                time_ns = _uint(time_ns)
                payer = _uint(payer)
                payee = _uint(payee)
                merchant = _uint(merchant)
                amount = _sint(amount, 64)
                mcc = _uint(mcc, 65535)
                device = _uint(device)
                lat = _sint(lat, 32)
                lon = _sint(lon, 32)
            except ValueError:
                bad += 1
                print(f"peer_fraud: {path}:{n}: cannot be decoded, no decision: {line!r}",
                      file=sys.stderr)
                continue
            valid = (amount > 0 and currency in ISO4217 and time_ns != 0
                     and channel in CHANNELS and kind in KINDS
                     and -90_000_000 <= lat <= 90_000_000 and -180_000_000 <= lon <= 180_000_000)
            if exact:
                rupees = Decimal(amount).scaleb(-2)
                seconds = Decimal(time_ns).scaleb(-9)
            else:
                rupees = amount / 100
                seconds = time_ns / 1e9
            payments.append(SpecPayment(
                transaction_id=str(txn_id),
                sender_phone=str(payer),
                receiver_phone=str(payee),
                amount=rupees,
                payment_method=channel,
                merchant_id=str(merchant) if merchant else None,
                location=(lat, lon) if (lat or lon) else None,
                device_fingerprint=str(device),
                timestamp=seconds,
                transaction_type=KINDS.get(kind, kind),
                mcc=mcc,
                valid=valid,
                txn_id=txn_id,
                payer=payer,
            ))
    return payments, bad


# --------------------------------------------------------------------------------------------
# Driving and reporting
# --------------------------------------------------------------------------------------------

INVALID = object()
INVALID_SCORE = 100  # the spec gives none; 100 keeps "block <=> score >= 80" true for every decision


def score_all(engine, payments):
    """The timed part: every payment through the seed's scoring, in input order."""
    assess = engine.assess_transaction_risk
    results = []
    append = results.append
    t0 = _wallclock.perf_counter()
    for p in payments:
        if not p.valid:
            append(INVALID)
            continue
        coro = assess(p)
        try:
            coro.send(None)
        except StopIteration as done:
            append(done.value)
        else:
            coro.close()
            raise PeerError("the seed's coroutine suspended: it is no longer pure computation")
    seconds = _wallclock.perf_counter() - t0
    return results, seconds


def factor_code(text):
    for prefix, code in FACTOR_PREFIXES:
        if text.startswith(prefix):
            return code
    raise PeerError(f"the seed produced a factor no patch accounts for: {text!r}")


def decision(p, r):
    if r is INVALID:
        return {"txn_id": p.txn_id, "payer": p.payer, "score": INVALID_SCORE, "action": "block",
                "reasons": ["invalid"]}
    codes = sorted((factor_code(x) for x in r["risk_factors"]), key=REASON_RANK.__getitem__)
    action = ACTIONS.get(r["recommended_action"])
    if action is None:
        raise PeerError(f"unknown seed action {r['recommended_action']!r}")
    score = r["risk_score"]
    if score != int(score):
        raise PeerError(f"non-integral score {score!r}")
    return {"txn_id": p.txn_id, "payer": p.payer, "score": int(score), "action": action,
            "reasons": codes}


def parse_offset(text):
    s = text.strip()
    sign = -1 if s.startswith("-") else 1
    s = s.lstrip("+-")
    hh, _, mm = s.partition(":")
    if not (hh.isdigit() and (mm == "" or mm.isdigit())):
        raise argparse.ArgumentTypeError(f"bad UTC offset {text!r} (want +HH:MM)")
    return sign * (int(hh) * 3600 + int(mm or 0) * 60)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Run the user's Paytm fraud sketch over a payment CSV "
                                             "with the spec's deterministic rules (see the docstring).")
    ap.add_argument("csv", help="payment CSV (txn_id,time_ns,payer,...)")
    ap.add_argument("--seed-dir", required=True, help="directory holding paytm_fraud_engine.py")
    ap.add_argument("--merchant-table", help="merchant,risk CSV (absent: empty)")
    ap.add_argument("--mcc-table", help="mcc,score CSV (absent: empty)")
    ap.add_argument("--risk-areas", help="lat_e6,lon_e6,radius_km CSV (absent: empty)")
    ap.add_argument("--decisions", help="write one JSON line per payment here")
    ap.add_argument("--json", action="store_true", help="print the result as one JSON object")
    ap.add_argument("--float", dest="exact", action="store_false",
                    help="give the seed float rupees/seconds (as written, faster) instead of exact "
                         "Decimals (wrong within ~0.25 us of a time boundary)")
    ap.add_argument("--utc-offset", type=parse_offset, default=parse_offset("+05:30"),
                    help="the rule set's UTC offset for late night (default +05:30)")
    a = ap.parse_args(argv)

    try:
        merchant_risk = load_merchant_table(a.merchant_table)
        mcc_scores = load_mcc_table(a.mcc_table)
        risk_areas = load_risk_areas(a.risk_areas)
        seed = import_seed(a.seed_dir)
        clock = EventClock(a.utc_offset)
        seed.time = clock  # patch 11: the seed's module-global `time`
        SpecEngine, SpecPayment = make_engine_class(seed)
        payments, undecodable = read_payments(a.csv, SpecPayment, a.exact)
        engine = SpecEngine(merchant_risk, mcc_scores, risk_areas, clock, a.exact)

        results, seconds = score_all(engine, payments)

        decisions = [decision(p, r) for p, r in zip(payments, results)]
    except (PeerError, OSError) as e:
        print(f"peer_fraud: {e}", file=sys.stderr)
        return 2

    if a.decisions:
        with open(a.decisions, "w", encoding="utf-8") as out:
            for d in decisions:
                out.write(json.dumps(d, separators=(",", ":")) + "\n")

    n = len(payments)
    rate = n / seconds if seconds > 0 else 0.0
    invalid = sum(1 for r in results if r is INVALID)
    print(f"peer_fraud: {n} payments ({invalid} invalid, {engine.out_of_order} out of order), "
          f"{undecodable} undecodable lines", file=sys.stderr)
    if a.json:
        print(json.dumps({"peer": PEER_NAME, "payments": n, "seconds": round(seconds, 6),
                          "payments_per_s": round(rate, 1)}))
    else:
        print(f"{PEER_NAME}: {n} payments in {seconds:.3f} s ({rate:,.0f} payments/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
