#!/usr/bin/env python3
"""Recovery after a crash near a segment's end: the outputs derived by replay but never journaled
(dd_recovery.tail) do not fit what is left of the last segment, and the restart must journal them
in the next one (commit f35e1c8; before it, dd_journal_prepend_outputs() failed with ENOSPC, dadar
said "journal: cannot journal the N recovered outputs" and every later start failed the same way).

The journal of such a crash is made deterministically, not by timing a kill -9:
  1. dadar, run to completion, journals a synthetic ITCH capture to a clean end with the smallest
     segments (journal.segment_mb = 1) and releases its outputs (--output); that journal and those
     outputs are the independent record the rest is checked against.
  2. A copy of it is cut, here in Python, to what a kill -9 could have left: the last segment the
     run filled ends with an EVENT record chosen near its end; the last TAIL outputs derived from
     the events up to that record lose their OUTPUT records (the ones journaled after it never
     were; the ones before it are taken out, the records after them renumbered, every CRC32C
     recomputed, the freed bytes zeroed); later segments are removed; the output file keeps the
     outputs released before the first removed record. The event is chosen so that the room left
     in the segment is at least what a start asked for before the fix (its config record, 4096
     bytes per rules record, one output record) and less than what the start's records and the
     TAIL outputs take: the old start kept the segment and could not journal them.
     The journal reader and writer here are independent of dadar's C code: the record layouts and
     the CRC32C come from tests/tools/journal_test.py (dadar-journal's test, written from
     docs/wire-formats.md and dataplane/journal/jfile.h).
     Recovery keeps no clean-stop marker (every start recovers the same way): the test checks the
     journal directory holds segment files only.
Tests:
  1 the cut journal is what it should be: `dadar-journal verify` clean, `dadar-journal replay`
    matches every journaled output and reports exactly TAIL derived but not journaled.
  2 the restart on the same capture exits 0 (no "cannot journal the"), says it journals the TAIL
    outputs; the records after the cut are the start's (config, rules) then those TAIL outputs,
    equal to the removed ones (type, source, partition, and the 128-byte output but for rx_tsc: its
    type, body and its cause, renumbered as the cut renumbered its event), in the next segment; the
    cut segment's records are unchanged; verify is clean; replay re-derives every output with none
    missing and its book dump, like dadar's, equals the uninterrupted run's; the released outputs
    are the uninterrupted run's, each once (the recovered ones under their new LSN and cause).
  3 a second restart exits 0, recovers no tail, appends only the start's records, releases
    nothing new; verify and replay still clean.

Exit 0 all passed, 1 a failure, 77 (skip, loudly) if a binary is missing or DPDK cannot start here.
usage: tests/integration/recovery_test.py [SUBSTRING...]   (env B = build dir, default build)
"""
import bisect
import json
import os
import re
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))
import itlib  # noqa: E402
import journal_test as jt  # noqa: E402  (CRC32C and the record layouts, independent of dadar's C)
from itlib import INSTANCES, PREFIXES, Skip, cpus, path, run  # noqa: E402

BUILD = os.environ.get("B", "build")
BUILD = BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD)
DADAR, JOURNAL, GEN = (os.path.join(BUILD, b) for b in ("dadar", "dadar-journal", "dadar-gen"))
TAG = "itrc"  # prefix of this runner's EAL file prefixes and instance names
SEGMENT_MB = 1  # journal.segment_mb's smallest value: a small capture fills segments
MESSAGES = 20000  # about 3 segments of 1 MiB
TAIL = 48  # outputs the crash left derived but not journaled
REC_RULES = 6
MAX_REC = 4096  # DD_J_MAX_REC: the bound a start reserved per rules record
OUTPUT_REC = jt.REC_HDR.size + 128  # an OUTPUT record: header and the 128-byte struct dd_output
CAUSE = struct.Struct("<Q")  # struct dd_output: cause at offset 32, rx_tsc at 56 (not compared)
CAUSE_OFF, RX_TSC = 32, slice(56, 64)

_n = [0]


def check(cond, what):
    if not cond:
        raise AssertionError(what)


_cache = {}


def cached(key, fn):
    if key not in _cache:
        _cache[key] = fn()
    return _cache[key]


# ---- the journal, read and rewritten independently -----------------------------------------------

class Rec:
    def __init__(self, off, n, typ, src, lsn, part, body):
        self.off, self.len, self.typ, self.src, self.lsn, self.part, self.body = off, n, typ, src, lsn, part, body

    def cause(self):
        return CAUSE.unpack_from(self.body, CAUSE_OFF)[0]


class Seg:
    pass


def read_segment(p, lsn=None):
    """A segment file, every record's framing, LSN and CRC32C checked, and zeros after the data."""
    data = open(p, "rb").read()
    name = os.path.basename(p)
    h = jt.SEG_HDR.unpack_from(data, 0)
    magic, major, _minor, hsize, seg_size, first_lsn, index = h[:7]
    hcrc = struct.unpack_from("<I", data, 88)[0]
    check(magic == jt.MAGIC and major == jt.MAJOR and hsize == jt.PAGE and seg_size == len(data)
          and jt.crc32c(data[:88] + bytes(4) + data[92:128]) == hcrc and name == f"seg-{first_lsn:020d}.ddj"
          and (lsn is None or first_lsn == lsn), f"{p}: bad segment header (or not continuing LSN {lsn})")
    s = Seg()
    s.path, s.data, s.size, s.first_lsn, s.index, s.recs = p, data, seg_size, first_lsn, index, []
    off, lsn = jt.PAGE, first_lsn
    while off + jt.REC_HDR.size <= len(data):
        n, typ, src, rlsn, crc, part = jt.REC_HDR.unpack_from(data, off)
        if n == 0:
            break
        check(n >= 24 and n % 8 == 0 and off + n <= len(data) and rlsn == lsn,
              f"{name} offset {off}: bad framing or LSN {rlsn} (expected {lsn})")
        hdr = jt.REC_HDR.pack(n, typ, src, rlsn, 0, part)
        check(jt.crc32c(data[off + 24:off + n], jt.crc32c(hdr)) == crc, f"{name} offset {off}: CRC mismatch")
        s.recs.append(Rec(off, n, typ, src, rlsn, part, data[off + 24:off + n]))
        off, lsn = off + n, lsn + 1
        if typ == jt.REC_PAD:
            break
    check(data.count(0, off) == len(data) - off, f"{name}: non-zero bytes after the data at offset {off}")
    s.end, s.next_lsn = off, lsn
    return s


def read_journal(d):
    names = sorted(f for f in os.listdir(d) if f.startswith("seg-") and f.endswith(".ddj"))
    segs, lsn = [], None
    for f in names:
        segs.append(read_segment(os.path.join(d, f), lsn))
        lsn = segs[-1].next_lsn
    return segs


def records(segs):
    return [r for s in segs for r in s.recs]


def start_records(recs):
    """The records a start writes before any input: its config record, then its rules records."""
    n = 0
    while n < len(recs) and recs[n].typ in (jt.REC_CONFIG, REC_RULES):
        n += 1
    check(n >= 1 and recs[0].typ == jt.REC_CONFIG, "the journal does not start with a config record")
    return recs[:n]


def plan_cut(segs):
    """Where to cut: an EVENT record in the last full segment such that, with the last TAIL outputs
    derived up to it removed, the room left lies in [lo, hi) (see the module's comment)."""
    recs = records(segs)
    start = start_records(recs)
    lo = start[0].len + (len(start) - 1) * MAX_REC + OUTPUT_REC
    hi = sum(r.len for r in start) + TAIL * OUTPUT_REC
    check(lo < hi, f"TAIL {TAIL} is too small for a window: lo {lo}, hi {hi}")
    outs = [r for r in recs if r.typ == jt.REC_OUTPUT]
    check(all(r.len == OUTPUT_REC for r in outs), "an OUTPUT record of an unexpected size")
    causes = [o.cause() for o in outs]
    # one shard, one market chain: outputs are journaled in the order of their causes
    check(causes == sorted(causes), "outputs are not journaled in cause order (run to completion expected)")
    full = [s for s in segs if s.recs and s.recs[-1].typ == jt.REC_PAD]
    check(full, f"the run filled no {SEGMENT_MB} MiB segment: raise MESSAGES")
    seg = full[-1]
    target, best = (lo + hi) // 2, None
    for r in seg.recs:
        if r.typ != jt.REC_EVENT:
            continue
        k = bisect.bisect_right(causes, r.lsn)  # outputs derived from the events up to r
        if k < TAIL + 1:
            continue
        tail, kept = outs[k - TAIL:k], outs[:k - TAIL]
        removed = [o for o in tail if o.lsn <= r.lsn]
        if kept[-1].lsn > r.lsn or not removed or removed[0].lsn < seg.first_lsn:
            continue
        room = seg.size - (r.off + r.len - len(removed) * OUTPUT_REC)
        if best is None or abs(room - target) < abs(best[0] - target):
            best = (room, r, tail, removed)
    check(best is not None and lo <= best[0] < hi,
          f"no event in {os.path.basename(seg.path)} leaves room in [{lo}, {hi}) (best {best and best[0]})")
    room, last, tail, removed = best
    return {"seg": seg, "last": last, "tail": tail, "removed": removed, "room": room, "lo": lo, "hi": hi,
            "start": start}


def rewrite(plan, jdir):
    """Write the cut segment into jdir and remove the segments after it. Returns the LSN map of the
    renumbered records, the cut journal's last LSN and its end offset."""
    seg, last, removed = plan["seg"], plan["last"], plan["removed"]
    gone = {o.lsn for o in removed}
    first = removed[0]
    out = bytearray(seg.data[:first.off])
    lsn_map, lsn = {}, first.lsn
    for r in seg.recs:
        if r.lsn < first.lsn or r.lsn in gone:
            continue
        if r.lsn > last.lsn:
            break
        check(r.typ in (jt.REC_EVENT, jt.REC_FEEDPOS), f"LSN {r.lsn}: an unexpected record type {r.typ} to keep")
        lsn_map[r.lsn] = lsn
        crc = jt.crc32c(r.body, jt.crc32c(jt.REC_HDR.pack(r.len, r.typ, r.src, lsn, 0, r.part)))
        out += jt.REC_HDR.pack(r.len, r.typ, r.src, lsn, crc, r.part) + r.body
        lsn += 1
    end = len(out)
    out += bytes(seg.size - end)
    with open(os.path.join(jdir, os.path.basename(seg.path)), "wb") as f:
        f.write(out)
    for f in os.listdir(jdir):
        if f.startswith("seg-") and f > os.path.basename(seg.path):
            os.unlink(os.path.join(jdir, f))
    return lsn_map, lsn - 1, end


def expected_payload(o, lsn_map):
    """The output o as the restart must journal it: its cause is its event's LSN in the cut journal."""
    c = o.cause()
    return o.body[:CAUSE_OFF] + CAUSE.pack(lsn_map.get(c, c)) + o.body[CAUSE_OFF + 8:]


def no_rx(body):
    return body[:RX_TSC.start] + body[RX_TSC.stop:]


def out_text(body):
    typ, op, src = struct.unpack_from("<HBB", body, 0)
    (key,), (seq,), (cause,) = struct.unpack_from("<I", body, 8), struct.unpack_from("<Q", body, 16), \
        CAUSE.unpack_from(body, CAUSE_OFF)
    return f"type {typ} op {op} feed {src} key {key} seq {seq} cause {cause}"


# ---- dadar -----------------------------------------------------------------------------------------

def dadar(pcap, jdir, output, book, expect=0):
    """dadar, run to completion, journaling to jdir with the smallest segments."""
    _n[0] += 1
    name = f"{TAG}-{os.getpid()}-{_n[0]}"
    PREFIXES.append(name)
    INSTANCES.append(name)
    cmd = [DADAR, "--no-huge", "--no-pci", "-m", "1024", "--no-shconf", "--no-telemetry", "--log-level=*:warning",
           "--file-prefix", name, "--lcores", f"(0-1)@({','.join(map(str, cpus()))})",
           "--vdev", f"net_pcap0,rx_pcap={pcap}", "--", "--instance", name, "--exit-on-idle", "300", "--quiet",
           "--journal", jdir, "--journal-segment-mb", str(SEGMENT_MB), "--output", output, "--book-dump", book]
    r = run(cmd, timeout=60)
    if r.returncode != 0 and ("DPDK initialisation failed" in r.stderr or "EAL: FATAL" in r.stderr):
        raise Skip(f"DPDK cannot start here: {r.stderr.strip()[-400:]}")
    if expect is not None and r.returncode != expect:
        raise AssertionError(f"dadar exited {r.returncode}, expected {expect}: {r.stderr.strip()[-1200:]}")
    return r


def journal_tool(*args, expect=None):
    r = run([JOURNAL] + [str(a) for a in args], timeout=60)
    if expect is not None and r.returncode != expect:
        raise AssertionError(f"dadar-journal {' '.join(map(str, args))} exited {r.returncode}, expected {expect}: "
                             f"{(r.stdout + r.stderr).strip()[-1200:]}")
    return r


def lines(p):
    with open(p) as f:
        return [json.loads(x) for x in f if x.endswith("\n")]


def strip(o):
    return {k: v for k, v in o.items() if k not in ("lsn", "cause")}


def replay_clean(jdir, nout, book_want, what):
    book = path(f"replay-{_n[0]}.csv")
    r = journal_tool("replay", jdir, "--book-dump", book, expect=0)
    m = re.search(r"outputs\s+journaled (\d+), derived (\d+), matched (\d+); none derived but not journaled", r.stdout)
    check("result     OK" in r.stdout and m and int(m[1]) == int(m[2]) == int(m[3]) == nout,
          f"{what}: replay should match all {nout} outputs, none missing: {r.stdout.strip()[-600:]}")
    check(open(book).read() == open(book_want).read(),
          f"{what}: replay's book dump differs from the uninterrupted run's")


def verify_clean(jdir, what):
    r = journal_tool("verify", jdir)
    check(r.returncode == 0 and "clean:" in r.stdout, f"{what}: dadar-journal verify exited {r.returncode}: "
          f"{(r.stdout + r.stderr).strip()[-500:]}")
    return r.stdout


# ---- the crash, made ---------------------------------------------------------------------------------

def crash():
    pcap = path("feed.pcap")
    r = run([GEN, "synth", pcap, "--seed", "3", "--instruments", "20", "--messages", str(MESSAGES)])
    check(r.returncode == 0, f"dadar-gen synth failed: {r.stderr.strip()[-400:]}")
    ref_j, ref_out, ref_book = path("ref.j"), path("ref.out"), path("ref.csv")
    shutil.rmtree(ref_j, ignore_errors=True)  # a kept $DD_IT_TMP from an earlier run
    for p in (ref_out, path("j.out")):
        if os.path.exists(p):
            os.unlink(p)
    dadar(pcap, ref_j, ref_out, ref_book)
    check(sorted(os.listdir(ref_j)) == sorted(f for f in os.listdir(ref_j) if f.startswith("seg-")),
          f"the journal holds more than segments (a stop marker?): {os.listdir(ref_j)}")
    ref = read_journal(ref_j)
    ref_outs = [r for r in records(ref) if r.typ == jt.REC_OUTPUT]
    released, raw = lines(ref_out), open(ref_out).readlines()
    check(len(released) == len(ref_outs) > 2 * TAIL,
          f"the uninterrupted run released {len(released)} outputs and journaled {len(ref_outs)}")
    plan = plan_cut(ref)
    jdir, out = path("j"), path("j.out")
    shutil.rmtree(jdir, ignore_errors=True)
    shutil.copytree(ref_j, jdir)
    lsn_map, last_lsn, end = rewrite(plan, jdir)
    first_removed = plan["removed"][0].lsn
    with open(out, "w") as f:  # what was released: the journaled outputs before the first removed one
        f.writelines(x for x, o in zip(raw, released) if o["lsn"] < first_removed)
    expect = [(o.src, o.part, expected_payload(o, lsn_map)) for o in plan["tail"]]
    return {"pcap": pcap, "ref_book": ref_book, "released": released, "nout": len(ref_outs), "plan": plan,
            "jdir": jdir, "out": out, "last_lsn": last_lsn, "end": end, "expect": expect, "lsn_map": lsn_map,
            "seg": os.path.basename(plan["seg"].path), "first_removed": first_removed}


def restart():
    c = cached("crash", crash)
    book = path("restart1.csv")
    before = read_journal(c["jdir"])
    r = dadar(c["pcap"], c["jdir"], c["out"], book, expect=None)
    check("cannot journal the" not in r.stderr and r.returncode == 0,
          f"the restart after the crash exited {r.returncode}: {r.stderr.strip()[-600:]}")
    return {"stderr": r.stderr, "book": book, "before": before}


TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


@test
def test_1_the_cut_journal_ends_near_its_segment_end_with_outputs_derived_but_not_journaled():
    c = cached("crash", crash)
    p = c["plan"]
    segs = read_journal(c["jdir"])
    check(os.path.basename(segs[-1].path) == c["seg"] and segs[-1].end == c["end"]
          and segs[-1].next_lsn == c["last_lsn"] + 1 and segs[-1].recs[-1].typ == jt.REC_EVENT,
          "the cut journal does not end with an event where it was cut")
    v = verify_clean(c["jdir"], "the cut journal")
    check(f"the data ends at {c['seg']} offset {c['end']}\n" in v,
          f"dadar-journal does not see the cut journal end at {c['seg']} offset {c['end']}: {v.strip()[-300:]}")
    r = journal_tool("replay", c["jdir"], expect=0)
    kept = sum(1 for o in c["released"] if o["lsn"] < c["first_removed"])
    check(f"journaled {kept}, derived {kept + TAIL}, matched {kept}" in r.stdout
          and f"{TAIL} outputs derived but not journaled" in r.stdout and "result     OK" in r.stdout,
          f"replay of the cut journal should match {kept} and miss {TAIL}: {r.stdout.strip()[-600:]}")
    return (f"{c['seg']} cut after LSN {c['last_lsn']} at offset {c['end']}: {p['room']} bytes left "
            f"(old start asked {p['lo']}, start records + {TAIL} outputs take {p['hi']}); "
            f"{len(p['removed'])} OUTPUT records removed, {TAIL - len(p['removed'])} never written")


@test
def test_2_the_restart_journals_the_recovered_outputs_in_the_next_segment():
    c = cached("crash", crash)
    rs = cached("restart", restart)
    check(f"{TAIL} outputs derived but not journaled before the stop are journaled now" in rs["stderr"],
          f"the restart does not say it journals the {TAIL} outputs: {rs['stderr'].strip()[-600:]}")
    segs = read_journal(c["jdir"])
    recs = records(segs)
    old = [s for s in segs if os.path.basename(s.path) == c["seg"]]
    check(old and [(r.off, r.len, r.lsn, r.typ, r.body) for r in old[0].recs if r.typ != jt.REC_PAD]
          == [(r.off, r.len, r.lsn, r.typ, r.body) for r in rs["before"][-1].recs],
          f"the records of {c['seg']} changed at the restart")
    after = [r for r in recs if r.lsn > c["last_lsn"] and r.typ != jt.REC_PAD]  # (a PAD may end the cut segment)
    start = c["plan"]["start"]
    n = len(start)
    check([r.typ for r in after[:n]] == [r.typ for r in start],
          f"the restart's first records are not its config and rules: {[r.typ for r in after[:n + 2]]}")
    got = after[n:n + TAIL]
    check(len(got) == TAIL and all(r.typ == jt.REC_OUTPUT for r in got),
          f"the {TAIL} records after the start's are not all outputs: {[r.typ for r in got]}")
    for i, (g, (src, part, want)) in enumerate(zip(got, c["expect"])):
        check((g.src, g.part, no_rx(g.body[:128])) == (src, part, no_rx(want)),
              f"recovered output {i + 1} of {TAIL} at LSN {g.lsn}: {out_text(g.body)}, expected {out_text(want)}")
    new_seg = [s for s in segs if got[0].lsn >= s.first_lsn][-1]
    check(new_seg.first_lsn > c["last_lsn"] and new_seg.first_lsn <= after[0].lsn,
          f"the recovered outputs are in {os.path.basename(new_seg.path)}, not in a segment after {c['seg']}")
    verify_clean(c["jdir"], "after the restart")
    replay_clean(c["jdir"], c["nout"], c["ref_book"], "after the restart")
    check(open(rs["book"]).read() == open(c["ref_book"]).read(),
          "the restart's book dump differs from the uninterrupted run's")
    got_out, want = lines(c["out"]), c["released"]
    lsns = [o["lsn"] for o in got_out]
    check(len(lsns) == len(set(lsns)) and lsns == sorted(lsns), "released outputs: an LSN twice or out of order")
    check(list(map(strip, got_out)) == list(map(strip, want)),
          f"the released outputs differ from the uninterrupted run's ({len(got_out)} lines, {len(want)} expected)")
    k = sum(1 for o in want if o["lsn"] < c["first_removed"])
    check(got_out[:k] == want[:k], "the outputs released before the crash changed")
    check([(o["lsn"], o["cause"]) for o in got_out[k:k + TAIL]]
          == [(g.lsn, CAUSE.unpack_from(w, CAUSE_OFF)[0]) for g, (_s, _p, w) in zip(got, c["expect"])],
          "the recovered outputs were not released under their journaled LSN and cause")
    return f"{TAIL} outputs journaled at LSN {got[0].lsn}..{got[-1].lsn} in {os.path.basename(new_seg.path)}"


@test
def test_3_a_second_restart_starts_and_adds_only_its_start_records():
    c = cached("crash", crash)
    try:
        cached("restart", restart)
    except AssertionError as e:
        raise AssertionError(f"a later start on the same journal fails too: {e}") from None
    before = records(read_journal(c["jdir"]))
    released = open(c["out"]).read()
    book = path("restart2.csv")
    r = dadar(c["pcap"], c["jdir"], c["out"], book, expect=None)
    check(r.returncode == 0 and "cannot journal the" not in r.stderr and "recovered to LSN" in r.stderr
          and "derived but not journaled" not in r.stderr,
          f"the second restart exited {r.returncode}: {r.stderr.strip()[-600:]}")
    after = records(read_journal(c["jdir"]))
    n = len(c["plan"]["start"])
    check(len(after) == len(before) + n
          and [x.typ for x in after[len(before):]] == [x.typ for x in c["plan"]["start"]],
          f"the second restart journaled {len(after) - len(before)} records, expected its {n} start records")
    check(open(c["out"]).read() == released, "the second restart released outputs again")
    check(open(book).read() == open(c["ref_book"]).read(), "the second restart's book dump differs")
    verify_clean(c["jdir"], "after the second restart")
    replay_clean(c["jdir"], c["nout"], c["ref_book"], "after the second restart")


def need_binaries():
    for exe in (DADAR, JOURNAL, GEN):
        if not os.access(exe, os.X_OK):
            raise Skip(f"{exe} is not built")


def main(argv):
    return itlib.main("recovery_test", TESTS, argv, need_binaries, TAG, BUILD)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
