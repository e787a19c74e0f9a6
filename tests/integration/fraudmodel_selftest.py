#!/usr/bin/env python3
"""Checks fraudmodel.py against the hand-computed expectations of fraud_cases.py.

Three ways, each must agree with every expectation:
  1. each case alone, through the Model API (a fresh model per case, tables loaded from files);
  2. all cases concatenated into one stream, through the command line, once per rule set
     (cases are built to be independent, so concatenation must not change any expectation);
  3. the table loaders refuse malformed lines naming file and line.
Exits 0 when everything agrees, 1 with a diff (case, txn, expected, got) otherwise.

    python3 fraudmodel_selftest.py [-v]
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fraud_cases  # noqa: E402
import fraudmodel  # noqa: E402

MODEL = os.path.join(HERE, "fraudmodel.py")


# The reason codes in the order of the specification's table (written here, not imported).
SPEC_ORDER = ("velocity_hour_amount velocity_hour_count velocity_day_amount repeated_amount "
              "round_amount below_limit structuring late_night_large new_device new_device_large "
              "shared_device impossible_travel fast_travel high_risk_area merchant_high_risk "
              "merchant_medium_risk new_merchant merchant_category").split()


def order_ok(reasons):
    """True when the reasons are listed in the spec table's order ("invalid" alone)."""
    if reasons == ["invalid"]:
        return True
    try:
        positions = [SPEC_ORDER.index(r) for r in reasons]
    except ValueError:
        return False
    return positions == sorted(positions) and len(set(positions)) == len(positions)


def got_of(decision):
    """(score, action, sorted reasons) of a model decision, comparable with an expectation."""
    return (decision["score"], decision["action"], sorted(decision["reasons"]))


def compare(name, expected, decisions):
    """Diff lines for the expectations of one case that the decisions (txn -> dict) miss."""
    diffs = []
    for txn, exp in sorted(expected.items()):
        exp = (exp[0], exp[1], sorted(exp[2]))
        d = decisions.get(txn)
        if d is None:
            diffs.append(f"{name}: txn {txn}: no decision")
        elif got_of(d) != exp:
            diffs.append(f"{name}: txn {txn}: expected {exp}, got {got_of(d)}")
    return diffs


def check_order(name, decisions):
    """Diff lines for decisions whose reasons are not in the spec table's order."""
    return [f"{name}: txn {txn}: reasons not in the spec's order: {d['reasons']}"
            for txn, d in sorted(decisions.items()) if not order_ok(d["reasons"])]


def check_each_case(tables):
    """Every case alone through the API; diff lines."""
    diffs = []
    for name, rows, expected in fraud_cases.cases():
        model = fraudmodel.Model(rules=fraud_cases.rules_of(name), **tables)
        decisions = {}
        for row in rows:
            d = model.decide(row)
            if d["txn_id"] != int(row["txn_id"]):
                diffs.append(f"{name}: txn {row['txn_id']}: decision for {d['txn_id']}")
            decisions[d["txn_id"]] = d
        diffs += compare(name, expected, decisions) + check_order(name, decisions)
    return diffs


def check_stream(paths):
    """All cases in one CSV through the command line, for each rule set; diff lines."""
    diffs = []
    all_cases = fraud_cases.cases()
    txns = [int(row["txn_id"]) for _, rows, _ in all_cases for row in rows]
    for rules in ("paytm", "upi"):
        proc = subprocess.run(
            [sys.executable, MODEL, "--rules", rules, "--merchant-table", paths["merchants.csv"],
             "--mcc-table", paths["mcc.csv"], "--risk-areas", paths["areas.csv"],
             "--utc-offset-min", "330", paths["cases.csv"]],
            capture_output=True, text=True)
        if proc.returncode != 0:
            return diffs + [f"cli {rules}: exit {proc.returncode}: {proc.stderr.strip()}"]
        out = [json.loads(line) for line in proc.stdout.splitlines()]
        if [d["txn_id"] for d in out] != txns:
            diffs.append(f"cli {rules}: output is not one decision per payment in input order")
        if any(d["rules"] != rules for d in out):
            diffs.append(f"cli {rules}: a decision names another rule set")
        decisions = {d["txn_id"]: d for d in out}
        diffs += check_order(f"cli {rules}", decisions)
        for name, _, expected in all_cases:
            if fraud_cases.rules_of(name) == rules:
                diffs += compare(f"stream/{name}", expected, decisions)
    return diffs


def check_loaders(directory):
    """Malformed table lines raise ValueError naming the file and the line; diff lines."""
    diffs = []
    bad = {
        "merchants": ("merchant,risk\n1,50\n2,abc\n", fraudmodel.load_merchant_table, 3),
        "merchants_range": ("merchant,risk\n1,101\n", fraudmodel.load_merchant_table, 2),
        "mcc": ("mcc,score\n5411,0\n\n7995\n", fraudmodel.load_mcc_table, 4),
        "areas": ("lat_e6,lon_e6,radius_km\n1,2,3.5\n1,2,x\n", fraudmodel.load_risk_areas, 3),
        "areas_header": ("lat,lon,radius\n1,2,3\n", fraudmodel.load_risk_areas, 1),
    }
    for label, (text, loader, line) in bad.items():
        path = os.path.join(directory, f"bad_{label}.csv")
        with open(path, "w") as f:
            f.write(text)
        try:
            loader(path)
            diffs.append(f"loader {label}: malformed table accepted")
        except ValueError as e:
            if f"{path}:{line}:" not in str(e):
                diffs.append(f"loader {label}: error does not name {path}:{line}: {e}")
    good = os.path.join(directory, "good_areas.csv")
    with open(good, "w") as f:
        f.write("lat_e6,lon_e6,radius_km\n1,2,3.5\n-3,4,0\n")
    if fraudmodel.load_risk_areas(good) != [(1, 2, 3.5), (-3, 4, 0.0)]:
        diffs.append("loader areas: good table misread")
    return diffs


def main():
    """Run every check; print the diffs; exit status 1 when there are any."""
    verbose = "-v" in sys.argv[1:]
    fraud_cases.check_geometry()
    all_cases = fraud_cases.cases()
    with tempfile.TemporaryDirectory() as tmp:
        paths = fraud_cases.write_case_files(tmp)
        tables = fraudmodel.load_tables(paths["merchants.csv"], paths["mcc.csv"],
                                        paths["areas.csv"])
        diffs = check_each_case(tables) + check_stream(paths) + check_loaders(tmp)
    n_expect = sum(len(e) for _, _, e in all_cases)
    n_rows = sum(len(r) for _, r, _ in all_cases)
    if verbose:
        for name, rows, expected in all_cases:
            print(f"  {name}: {len(rows)} payments, {len(expected)} asserted")
    if diffs:
        print(f"fraudmodel_selftest: {len(diffs)} disagreement(s):")
        for line in diffs:
            print("  " + line)
        return 1
    print(f"fraudmodel_selftest: ok ({len(all_cases)} cases, {n_rows} payments, "
          f"{n_expect} hand-computed expectations, each alone and as one stream)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
