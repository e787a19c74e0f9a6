#!/usr/bin/env python3
"""The market-pattern benchmark's peer: the user's Python CEP sketch, run from where it is.

    python3 bench/peer_cep.py --seed-dir /work/shared/seeds IN.csv [--json OUT.json]

This imports ``market_cep_engine`` from ``--seed-dir`` (nothing of it is copied here) and feeds its
``CEPEngine.process_stock_event`` one ``StockEvent`` at a time, in input order.  Nothing of the
engine is patched: its five patterns, its 30-minute per-symbol buffer, its confidence score (which
reads the wall clock) and its prints all run as written.  It is a throughput peer only: its
patterns are not dadar's (its momentum is any three rises among a symbol's trades of the last 3
minutes, its bear signal any negative news plus any sell order over 10,000 shares in 5 minutes), so
its matches are counted, not compared.

Input: ``kind,time_ns,symbol,price,shares,side,reason`` (header line first), written by
bench/bench_cep.c from its synthetic ITCH day:

  order   an ITCH add (A, F)        -> StockEvent(ORDER, price, order_type buy/sell, order_size)
  trade   an execution (E, C, P)    -> StockEvent(TRADE, price, volume)
          with the book's price and the resting order's side
  halt    an ITCH H halting or      -> StockEvent(NEWS, news_text "SYM trading halted (reason)")
          pausing the symbol

Timestamps are seconds (``time_ns / 1e9``, a float as the seed's annotation says), prices dollars.
The seed's own input types VOLUME_SPIKE and PRICE_ALERT are not derived: dadar computes those from
windows, the seed expects them given.

What is timed
-------------
Only the loop over ``process_stock_event``: the CSV is parsed into ``StockEvent`` objects first.
Each call's coroutine is driven by ``coro.send(None)``: none of the seed's coroutines ever
suspends (no I/O, no sleep), so it runs to completion and raises ``StopIteration``; no event loop
is involved (the harness raises if one does suspend).  The seed prints a banner when built and six
to seven lines per match; stdout goes to /dev/null meanwhile (the formatting is still done and
timed: it is what the engine does on a match).

Output (``--json FILE``, else stdout): ``{"peer": "seed-market-cep-python", "events": N,
"seconds": S, "events_per_s": R, "first_tenth_events_per_s": ..., "last_tenth_events_per_s": ...,
"matches": M, "by_pattern": {...}, "buffered": B, "max_rss_kb": K}``.  The seed's per-event cost
grows with its buffer (every event copies and scans the symbol's last 30 minutes, five times), so
the rate over the first and the last tenth of the events is reported as well.
"""

import argparse
import contextlib
import json
import os
import sys
import time as _wallclock

PEER_NAME = "seed-market-cep-python"


class PeerError(Exception):
    pass


def import_seed(seed_dir):
    sys.dont_write_bytecode = True  # leave no __pycache__ in the seeds directory
    seed_dir = os.path.abspath(seed_dir)
    if not os.path.isfile(os.path.join(seed_dir, "market_cep_engine.py")):
        raise PeerError(f"{seed_dir}: no market_cep_engine.py there")
    sys.path.insert(0, seed_dir)
    import market_cep_engine as seed  # noqa: E402  (the user's sketch, unmodified)
    return seed


def read_events(path, seed):
    ET = seed.EventType
    events = []
    with open(path, encoding="utf-8") as f:
        header = f.readline().strip()
        if header != "kind,time_ns,symbol,price,shares,side,reason":
            raise PeerError(f"{path}:1: unexpected header {header!r}")
        for n, line in enumerate(f, start=2):
            kind, time_ns, symbol, price, shares, side, reason = line.rstrip("\n").split(",")
            ts = int(time_ns) / 1e9
            eid = f"EVENT_{n - 1:08d}"
            if kind == "order":
                events.append(seed.StockEvent(event_id=eid, event_type=ET.ORDER, symbol=symbol, timestamp=ts,
                                              price=float(price), order_type="buy" if side == "B" else "sell",
                                              order_size=int(shares)))
            elif kind == "trade":
                events.append(seed.StockEvent(event_id=eid, event_type=ET.TRADE, symbol=symbol, timestamp=ts,
                                              price=float(price), volume=int(shares)))
            elif kind == "halt":
                events.append(seed.StockEvent(event_id=eid, event_type=ET.NEWS, symbol=symbol, timestamp=ts,
                                              news_text=f"{symbol} trading halted ({reason or side})"))
            else:
                raise PeerError(f"{path}:{n}: unknown kind {kind!r}")
    return events


def peak_rss_kb():
    """This process's peak resident memory (VmHWM: unlike ru_maxrss it does not carry the size of
    the process that forked us across exec)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def run(engine, events):
    """The timed part: every event through the seed, in input order. -> (total s, [s per tenth])."""
    process = engine.process_stock_event
    n = len(events)
    marks = {n * k // 10 for k in range(1, 11)}
    tenths = []
    t0 = _wallclock.perf_counter()
    last = t0
    for i, e in enumerate(events, start=1):
        coro = process(e)
        try:
            coro.send(None)
        except StopIteration:
            pass
        else:
            coro.close()
            raise PeerError("the seed's coroutine suspended: it is no longer pure computation")
        if i in marks:
            now = _wallclock.perf_counter()
            tenths.append(now - last)
            last = now
    return _wallclock.perf_counter() - t0, tenths


def main(argv=None):
    ap = argparse.ArgumentParser(description="Run the user's market CEP sketch over bench_cep's events.")
    ap.add_argument("csv", help="events CSV (kind,time_ns,symbol,price,shares,side,reason)")
    ap.add_argument("--seed-dir", required=True, help="directory holding market_cep_engine.py")
    ap.add_argument("--json", help="write the result here (default: stdout)")
    a = ap.parse_args(argv)
    try:
        seed = import_seed(a.seed_dir)
        events = read_events(a.csv, seed)
        if not events:
            raise PeerError(f"{a.csv}: no events")
        with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
            engine = seed.CEPEngine()
            seconds, tenths = run(engine, events)
    except (PeerError, OSError, ValueError) as e:
        print(f"peer_cep: {e}", file=sys.stderr)
        return 2
    n = len(events)
    per_tenth = n / 10
    by_pattern = {}
    for m in engine.pattern_matches:
        by_pattern[m.pattern_name] = by_pattern.get(m.pattern_name, 0) + 1
    result = {
        "peer": PEER_NAME,
        "events": n,
        "seconds": round(seconds, 6),
        "events_per_s": round(n / seconds, 1) if seconds > 0 else 0.0,
        "first_tenth_events_per_s": round(per_tenth / tenths[0], 1) if tenths and tenths[0] > 0 else 0.0,
        "last_tenth_events_per_s": round(per_tenth / tenths[-1], 1) if tenths and tenths[-1] > 0 else 0.0,
        "matches": len(engine.pattern_matches),
        "by_pattern": by_pattern,
        "buffered": sum(len(b) for b in engine.event_buffer.values()),
        "max_rss_kb": peak_rss_kb(),
    }
    text = json.dumps(result)
    if a.json:
        with open(a.json, "w", encoding="utf-8") as out:
            out.write(text + "\n")
    else:
        print(text)
    print(f"peer_cep: {n} events in {seconds:.3f} s ({result['events_per_s']:,.0f}/s), "
          f"{result['matches']} matches {by_pattern}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
