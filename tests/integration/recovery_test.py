#!/usr/bin/env python3
"""Recovery after a crash whose outputs derived but never journaled (dd_recovery.tail, re-derived by
replay from journaled inputs) do not fit the room the journal has left: the restart must journal
every one of them before any input, rotating segments as a running journal does (commits f35e1c8
and the one after it; before f35e1c8 dd_journal_prepend_outputs() failed with ENOSPC whenever they
did not fit the last segment's room, and until the next one whenever they did not fit a whole
segment, on every later start too).

Each crash is made deterministically, not by timing a kill -9:
  1. dadar journals a synthetic ITCH capture to a clean end with the smallest segments
     (journal.segment_mb = 1) and releases its outputs (--output); that journal and those outputs
     are the independent record the rest is checked against.
  2. A copy of it is cut, here in Python, to what a kill -9 could have left: it ends with an EVENT
     record (the cut); the last N outputs derived from the events up to the cut lose their OUTPUT
     records (the ones journaled after the cut never were; the ones before it are taken out); the
     records from the segment of the first one removed on are laid out again the way dadar lays
     them out (a segment takes records while at least one item record, 152 bytes, is left, then a
     PAD fills it), renumbered, every CRC32C and segment header (first LSN, index, outputs before
     it) recomputed; later segments are removed; the output file keeps the outputs released before
     the first removed record. The journal reader and writer here are independent of dadar's C code:
     the record layouts and the CRC32C come from tests/tools/journal_test.py (dadar-journal's test,
     written from docs/wire-formats.md and dataplane/journal/jfile.h).

Case A (run to completion, TAIL = 48 outputs): the cut leaves, in the last full segment, room for the
  start's own records (its config and rules records, 4096 bytes reserved per rules record) and one
  output record, but not for all 48: the restart continues that segment with its start records and
  as many outputs as fit, then rotates (PAD) and journals the rest in the next one.
Case B (run to completion, TAIL_B = 8 outputs): the cut leaves less room than the start's own records
  need (but 24 bytes or more): the start ends that segment the way a rotation ends one, with a PAD,
  and journals its records and the 8 outputs in the next. A journal written the way f35e1c8 and earlier
  wrote this case (the old segment ending in zeros, no PAD) still verifies, replays and restarts.
Case C (staged, one worker, BIG_TAIL outputs, more than a whole 1 MiB segment holds): the tail the
  restart must journal does not fit any segment; it spans segments in the cut journal too.

How large can a real tail be? It is the outputs of journaled inputs whose own records never reached
the journal. Run to completion hands a flush's events and then their outputs to one ring, so it can
lose at most one flush's outputs (DD_RX_RUN = 1025 events'). The staged pipeline journals an input
when the RX lcore reads it, before the worker runs it: per worker, the outputs in its journal ring
(journal.ring_size - 1 = 65,535 by default), the 64 the journal holds back and its producer buffer,
plus the outputs of the inputs journaled but not yet run: the RX lcore's flush (up to 1025), the
worker's event ring (ring_size - 1 slots, a mark per batch of at most 64 events) and its burst (65);
dd_journal_lag() bounds the input side the same way (2 x (workers x ring_size + 2 x
journal.ring_size + 4 x 1025) inputs). That is tens of thousands of outputs, far more than the 6,871
OUTPUT records a 1 MiB segment holds, so case C is a crash a real run can leave: its BIG_TAIL
outputs come from the last W inputs, and with ring_size = RING_SIZE those W inputs and a mark for
each of them fit one worker's event ring (a worker that did not run while the RX lcore and the
journal went on, as on an oversubscribed host); W is also checked against dd_journal_lag().

Tests:
  1 (A) the cut journal: `dadar-journal verify` clean, `replay` matches every journaled output and
    reports exactly TAIL derived but not journaled.
  2 (A) the restart exits 0 and says it journaled the TAIL outputs (after it did); the records after
    the cut are the start's then those TAIL outputs, equal to the removed ones (type, source,
    partition, the 128-byte output but for rx_tsc: cause renumbered as the cut renumbered its event),
    filling the cut segment (which then ends with a PAD) and going on in the next; the cut records
    are unchanged; verify clean; replay re-derives every output, none missing, its book dump (like
    dadar's) equals the uninterrupted run's; the released outputs are the uninterrupted run's, once.
  3 (A) a second restart exits 0, recovers no tail, appends only its start records, releases nothing
    new; verify and replay still clean.
  4 (B) the restart ends the cut segment with a PAD (`dadar-journal stats`: fill 100.0%) and journals
    the start's records and the TAIL_B outputs in the next; verify, replay, book, released outputs.
  5 (B) a journal in the layout f35e1c8 wrote (the cut segment ends in zeros, the next one holds the
    start's records and the TAIL_B outputs) verifies clean, `stats` reads it, replay matches every
    output; dadar restarts on it and ends with the uninterrupted run's books and outputs.
  6 (C) the big cut journal: its tail is larger than a segment and a real crash could leave it (the
    bound above); verify clean, replay reports exactly BIG_TAIL derived but not journaled.
  7 (C) the restart journals all BIG_TAIL outputs, each equal to the removed one, across segments
    that each end with a PAD; verify, replay, book, released outputs as in 2.
  8 (C) a second restart appends only its start records; verify and replay clean.

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
SEG_SIZE = SEGMENT_MB << 20
MESSAGES = 20000  # cases A and B: about 3 segments of 1 MiB
TAIL = 48  # case A: outputs the crash left derived but not journaled
TAIL_B = 8  # case B: few enough that a cut near the segment's end leaves less than a start needs
BIG_MESSAGES = 30000  # case C: about 4 segments
BIG_TAIL = 7500  # case C: more than a segment holds
BIG_AFTER = 2000  # case C: events after the cut, which the restart receives again
RING_SIZE = 65536  # case C: ring_size (events per worker ring)
JRING_SIZE = 65536  # journal.ring_size, its default
RX_RUN = 2 * 512 + 1  # DD_RX_RUN
LAG = 2 * (1 * RING_SIZE + 2 * JRING_SIZE + 4 * RX_RUN)  # dd_journal_lag() of one worker
REC_RULES = 6
MAX_REC = 4096  # DD_J_MAX_REC: the bound a start reserves per rules record
PAGE = jt.PAGE
OUTPUT_REC = jt.REC_HDR.size + 128  # an OUTPUT record: header and the 128-byte struct dd_output
MAX_ITEM = OUTPUT_REC  # the largest record an item makes: a segment with less left rotates
SEG_OUTPUTS = (SEG_SIZE - PAGE) // OUTPUT_REC  # OUTPUT records one segment holds
CAUSE = struct.Struct("<Q")  # struct dd_output: cause at offset 32, rx_tsc at 56 (not compared)
CAUSE_OFF, RX_TSC = 32, slice(56, 64)
H_FIRST_LSN, H_CRC, H_OUTPUTS = 24, 88, 104  # struct dd_jseg_header: first_lsn (segment_index after it), ...
STAGED = ["--pipeline", "staged", "--workers", "1", "--ring-size", str(RING_SIZE)]

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
    def __init__(self, off, n, typ, src, lsn, part, body, crc=None):
        self.off, self.len, self.typ, self.src, self.lsn, self.part, self.body = off, n, typ, src, lsn, part, body
        self.crc = crc

    def cause(self):
        return CAUSE.unpack_from(self.body, CAUSE_OFF)[0]

    def key(self):
        return (self.off, self.len, self.lsn, self.typ, self.body)


class Seg:
    pass


def read_segment(p, lsn=None, index=None):
    """A segment file, every record's framing, LSN and CRC32C checked, and zeros after the data."""
    data = open(p, "rb").read()
    name = os.path.basename(p)
    h = jt.SEG_HDR.unpack_from(data, 0)
    magic, major, _minor, hsize, seg_size, first_lsn, idx = h[:7]
    hcrc = struct.unpack_from("<I", data, H_CRC)[0]
    check(magic == jt.MAGIC and major == jt.MAJOR and hsize == PAGE and seg_size == len(data)
          and jt.crc32c(data[:H_CRC] + bytes(4) + data[H_CRC + 4:128]) == hcrc and name == f"seg-{first_lsn:020d}.ddj"
          and (lsn is None or first_lsn == lsn) and (index is None or idx == index),
          f"{p}: bad segment header (or not continuing LSN {lsn}, index {index})")
    s = Seg()
    s.path, s.name, s.data, s.size, s.first_lsn, s.index = p, name, data, seg_size, first_lsn, idx
    s.outputs_before = struct.unpack_from("<Q", data, H_OUTPUTS)[0]
    s.recs = []
    off, lsn = PAGE, first_lsn
    while off + jt.REC_HDR.size <= len(data):
        n, typ, src, rlsn, crc, part = jt.REC_HDR.unpack_from(data, off)
        if n == 0:
            break
        check(n >= 24 and n % 8 == 0 and off + n <= len(data) and rlsn == lsn,
              f"{name} offset {off}: bad framing or LSN {rlsn} (expected {lsn})")
        hdr = jt.REC_HDR.pack(n, typ, src, rlsn, 0, part)
        check(jt.crc32c(data[off + 24:off + n], jt.crc32c(hdr)) == crc, f"{name} offset {off}: CRC mismatch")
        s.recs.append(Rec(off, n, typ, src, rlsn, part, data[off + 24:off + n], crc))
        off, lsn = off + n, lsn + 1
        if typ == jt.REC_PAD:
            check(off == seg_size, f"{name}: a PAD that does not end the segment")
            break
    check(data.count(0, off) == len(data) - off, f"{name}: non-zero bytes after the data at offset {off}")
    s.end, s.next_lsn = off, lsn
    s.full = s.recs and s.recs[-1].typ == jt.REC_PAD
    return s


def read_journal(d):
    names = sorted(f for f in os.listdir(d) if f.startswith("seg-") and f.endswith(".ddj"))
    segs, lsn, index = [], None, None
    for f in names:
        segs.append(read_segment(os.path.join(d, f), lsn, index))
        lsn, index = segs[-1].next_lsn, segs[-1].index + 1
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


def start_room(start):
    """What a start reserves in the segment it continues (dataplane/dpdk/journal.c start_room()): its
    config record, DD_J_MAX_REC per rules record, one item record."""
    return start[0].len + (len(start) - 1) * MAX_REC + MAX_ITEM


def output_order(recs):
    outs = [r for r in recs if r.typ == jt.REC_OUTPUT]
    check(all(r.len == OUTPUT_REC for r in outs), "an OUTPUT record of an unexpected size")
    causes = [o.cause() for o in outs]
    # one shard, one market chain: outputs are journaled in the order of their causes
    check(causes == sorted(causes), "outputs are not journaled in cause order (one shard expected)")
    return outs, causes


def pack(jdir, hdr, first_lsn, index, outputs_before, recs):
    """Lay recs out in new segment files of jdir as dadar does: from offset 4096, a record goes in
    while at least MAX_ITEM bytes are left, else a PAD fills the rest (24 bytes or more left) and
    the next segment starts. hdr is the header page to copy (first LSN, index, outputs before it and
    its CRC are set). Returns {old LSN: new LSN}, {old LSN: new offset}, the last LSN, the end offset
    of the last segment and the names written."""
    lsn_map, off_map, names = {}, {}, []
    lsn, buf, off = first_lsn, None, PAGE

    def flush():
        name = f"seg-{seg_first:020d}.ddj"
        with open(os.path.join(jdir, name), "wb") as f:
            f.write(buf)
        names.append(name)

    for r in recs:
        if buf is not None and SEG_SIZE - off < MAX_ITEM:
            left = SEG_SIZE - off
            if left >= 24:
                crc = jt.crc32c(bytes(left - 24), jt.crc32c(jt.REC_HDR.pack(left, jt.REC_PAD, 0, lsn, 0, 0)))
                buf[off:off + 24] = jt.REC_HDR.pack(left, jt.REC_PAD, 0, lsn, crc, 0)
                lsn += 1
            flush()
            buf, index = None, index + 1
        if buf is None:
            buf, off, seg_first = bytearray(SEG_SIZE), PAGE, lsn
            h = bytearray(hdr[:PAGE])
            struct.pack_into("<QQ", h, H_FIRST_LSN, lsn, index)
            struct.pack_into("<Q", h, H_OUTPUTS, outputs_before)
            struct.pack_into("<I", h, H_CRC, 0)
            struct.pack_into("<I", h, H_CRC, jt.crc32c(bytes(h[:128])))
            buf[:PAGE] = h
        crc = r.crc if r.crc is not None and r.lsn == lsn else \
            jt.crc32c(r.body, jt.crc32c(jt.REC_HDR.pack(r.len, r.typ, r.src, lsn, 0, r.part)))
        buf[off:off + r.len] = jt.REC_HDR.pack(r.len, r.typ, r.src, lsn, crc, r.part) + r.body
        lsn_map[r.lsn], off_map[r.lsn] = lsn, off
        outputs_before += r.typ == jt.REC_OUTPUT
        lsn, off = lsn + 1, off + r.len
    flush()
    return lsn_map, off_map, lsn - 1, off, names


def cut_journal(ref_j, ref, first, last, removed, jdir):
    """jdir: ref_j cut after EVENT record `last`, without the OUTPUT records `removed`, the segments
    from ref[first] on laid out again. Returns the LSN map, the last LSN, the end offset and the name
    of the last segment."""
    shutil.rmtree(jdir, ignore_errors=True)
    shutil.copytree(ref_j, jdir)
    for s in ref[first:]:
        os.unlink(os.path.join(jdir, s.name))
    gone = {o.lsn for o in removed}
    keep = [r for s in ref[first:] for r in s.recs
            if r.lsn <= last.lsn and r.lsn not in gone and r.typ != jt.REC_PAD]
    check(all(r.typ in (jt.REC_EVENT, jt.REC_FEEDPOS) for r in keep if r.lsn > removed[0].lsn),
          "a record of an unexpected type after the first removed output")
    s0 = ref[first]
    lsn_map, off_map, last_lsn, end, names = pack(jdir, s0.data, s0.first_lsn, s0.index, s0.outputs_before, keep)
    # the layout rule is dadar's: the records before the first removed one stay where dadar put them
    check(all(lsn_map[r.lsn] == r.lsn and off_map[r.lsn] == r.off for r in keep if r.lsn < removed[0].lsn),
          "the Python layout of a segment differs from dadar's for the records the cut keeps")
    return lsn_map, last_lsn, end, names[-1]


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

def dadar(pcap, jdir, output, book, opts=(), expect=0):
    """dadar, journaling to jdir with the smallest segments (run to completion, or `opts`)."""
    _n[0] += 1
    name = f"{TAG}-{os.getpid()}-{_n[0]}"
    PREFIXES.append(name)
    INSTANCES.append(name)
    nl = 2 + ("staged" in opts)
    cmd = [DADAR, "--no-huge", "--no-pci", "-m", "1024", "--no-shconf", "--no-telemetry", "--log-level=*:warning",
           "--file-prefix", name, "--lcores", f"(0-{nl - 1})@({','.join(map(str, cpus()))})",
           "--vdev", f"net_pcap0,rx_pcap={pcap}", "--", "--instance", name, "--exit-on-idle", "300", "--quiet",
           "--journal", jdir, "--journal-segment-mb", str(SEGMENT_MB), "--output", output, "--book-dump", book,
           *opts]
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
    if book_want is not None:
        check(open(book).read() == open(book_want).read(),
              f"{what}: replay's book dump differs from the uninterrupted run's")


def verify_clean(jdir, what):
    r = journal_tool("verify", jdir)
    check(r.returncode == 0 and "clean:" in r.stdout, f"{what}: dadar-journal verify exited {r.returncode}: "
          f"{(r.stdout + r.stderr).strip()[-500:]}")
    return r.stdout


def stats_line(jdir, seg):
    r = journal_tool("stats", jdir, expect=0)
    m = re.search(rf"^  {re.escape(seg)}  .*$", r.stdout, re.M)
    check(m, f"dadar-journal stats lists no {seg}: {r.stdout.strip()[-800:]}")
    return m[0]


# ---- the uninterrupted runs and the crashes, made ------------------------------------------------------

def reference(kind):
    """The uninterrupted run: `rtc` (cases A, B) or `staged` (case C)."""
    staged = kind == "staged"
    pcap = path(f"{kind}.pcap")
    r = run([GEN, "synth", pcap, "--seed", "3", "--instruments", "20", "--messages",
             str(BIG_MESSAGES if staged else MESSAGES)])
    check(r.returncode == 0, f"dadar-gen synth failed: {r.stderr.strip()[-400:]}")
    ref_j, ref_out, ref_book = path(f"{kind}-ref.j"), path(f"{kind}-ref.out"), path(f"{kind}-ref.csv")
    shutil.rmtree(ref_j, ignore_errors=True)  # a kept $DD_IT_TMP from an earlier run
    if os.path.exists(ref_out):
        os.unlink(ref_out)
    opts = STAGED if staged else ()
    dadar(pcap, ref_j, ref_out, ref_book, opts)
    check(sorted(os.listdir(ref_j)) == sorted(f for f in os.listdir(ref_j) if f.startswith("seg-")),
          f"the journal holds more than segments (a stop marker?): {os.listdir(ref_j)}")
    segs = read_journal(ref_j)
    outs = [r for r in records(segs) if r.typ == jt.REC_OUTPUT]
    released = lines(ref_out)
    check(len(released) == len(outs) > 2 * TAIL,
          f"the uninterrupted run released {len(released)} outputs and journaled {len(outs)}")
    return {"pcap": pcap, "j": ref_j, "out": ref_out, "book": ref_book, "segs": segs, "opts": opts,
            "released": released, "raw": open(ref_out).readlines(), "nout": len(outs)}


def plan_cut(segs, lo, hi, ntail):
    """Where to cut: an EVENT record in the last full segment such that, with the last ntail outputs
    derived up to it removed, the room left lies in [lo, hi)."""
    recs = records(segs)
    outs, causes = output_order(recs)
    full = [i for i, s in enumerate(segs) if s.full]
    check(full, f"the run filled no {SEGMENT_MB} MiB segment: raise MESSAGES")
    first = full[-1]
    seg = segs[first]
    target, best = (lo + hi) // 2, None
    for r in seg.recs:
        if r.typ != jt.REC_EVENT:
            continue
        k = bisect.bisect_right(causes, r.lsn)  # outputs derived from the events up to r
        if k < ntail + 1:
            continue
        tail, kept = outs[k - ntail:k], outs[:k - ntail]
        removed = [o for o in tail if o.lsn <= r.lsn]
        if kept[-1].lsn > r.lsn or not removed or removed[0].lsn < seg.first_lsn:
            continue
        room = seg.size - (r.off + r.len - len(removed) * OUTPUT_REC)
        if best is None or abs(room - target) < abs(best[0] - target):
            best = (room, r, tail, removed)
    check(best is not None and lo <= best[0] < hi,
          f"no event in {seg.name} leaves room in [{lo}, {hi}) (best {best and best[0]})")
    room, last, tail, removed = best
    return {"first": first, "last": last, "tail": tail, "removed": removed, "room": room, "lo": lo, "hi": hi}


def plan_big(segs):
    """Case C: the cut BIG_AFTER events before the end; the last BIG_TAIL outputs derived up to it
    removed. Checked to be what a real crash can leave (see the module's comment)."""
    recs = records(segs)
    outs, causes = output_order(recs)
    events = [r.lsn for r in recs if r.typ == jt.REC_EVENT]
    check(len(events) > BIG_AFTER, f"the run journaled {len(events)} events: raise BIG_MESSAGES")
    last_lsn = events[-BIG_AFTER - 1]
    last = [r for r in recs if r.lsn == last_lsn][0]
    k = bisect.bisect_right(causes, last_lsn)
    check(k > BIG_TAIL, f"only {k} outputs derived up to the cut: raise BIG_MESSAGES")
    tail, kept = outs[k - BIG_TAIL:k], outs[:k - BIG_TAIL]
    removed = [o for o in tail if o.lsn <= last_lsn]
    check(removed and kept[-1].lsn < removed[0].lsn, "a kept output after a removed one")
    # the inputs the tail comes from: journaled, not yet run by the worker when it crashed
    w = bisect.bisect_right(events, last_lsn) - bisect.bisect_left(events, tail[0].cause())
    check(2 * w <= RING_SIZE - 1 and w <= LAG,
          f"the tail comes from the last {w} inputs: more than a worker ring of {RING_SIZE} holds with a mark "
          f"each, or than dd_journal_lag() ({LAG}): not a crash a real run can leave")
    check(BIG_TAIL > SEG_OUTPUTS, f"BIG_TAIL {BIG_TAIL} fits one segment ({SEG_OUTPUTS} outputs)")
    first = [i for i, s in enumerate(segs) if s.first_lsn <= removed[0].lsn][-1]
    at = [i for i, s in enumerate(segs) if s.first_lsn <= last_lsn][-1]
    check(at > first, "the removed outputs are all in one segment")
    return {"first": first, "last": last, "tail": tail, "removed": removed, "w": w, "at": at}


def crash(kind, case):
    """Case `case` made from the uninterrupted run `kind`."""
    ref = cached(kind, lambda: reference(kind))
    if case == "C":
        plan = plan_big(ref["segs"])
    else:
        start = start_records(records(ref["segs"]))
        lo, hi = start_room(start), sum(r.len for r in start) + TAIL * OUTPUT_REC
        check(24 < lo < hi, f"TAIL {TAIL} is too small for a window: lo {lo}, hi {hi}")
        plan = plan_cut(ref["segs"], lo, hi, TAIL) if case == "A" else plan_cut(ref["segs"], 24, lo, TAIL_B)
    plan["start"] = start_records(records(ref["segs"]))
    jdir, out = path(f"{case}.j"), path(f"{case}.out")
    lsn_map, last_lsn, end, seg = cut_journal(ref["j"], ref["segs"], plan["first"], plan["last"], plan["removed"],
                                              jdir)
    first_removed = plan["removed"][0].lsn
    with open(out, "w") as f:  # what was released: the journaled outputs before the first removed one
        f.writelines(x for x, o in zip(ref["raw"], ref["released"]) if o["lsn"] < first_removed)
    expect = [(o.src, o.part, expected_payload(o, lsn_map)) for o in plan["tail"]]
    return {"ref": ref, "plan": plan, "jdir": jdir, "out": out, "last_lsn": last_lsn, "end": end,
            "expect": expect, "lsn_map": lsn_map, "seg": seg, "first_removed": first_removed,
            "ntail": len(plan["tail"]), "kept": sum(1 for o in ref["released"] if o["lsn"] < first_removed)}


def crash_a():
    return crash("rtc", "A")


def crash_b():
    c = crash("rtc", "B")
    old = path("B-old.j")  # a copy of the cut journal and its output file for the old layout (test 5)
    shutil.rmtree(old, ignore_errors=True)
    shutil.copytree(c["jdir"], old)
    shutil.copy(c["out"], path("B-old.out"))
    c["old"], c["old_out"] = old, path("B-old.out")
    return c


def crash_c():
    return crash("staged", "C")


def restart(c):
    book = path(f"restart-{_n[0] + 1}.csv")
    before = read_journal(c["jdir"])
    r = dadar(c["ref"]["pcap"], c["jdir"], c["out"], book, c["ref"]["opts"], expect=None)
    check("cannot journal the" not in r.stderr and r.returncode == 0,
          f"the restart after the crash exited {r.returncode}: {r.stderr.strip()[-600:]}")
    return {"stderr": r.stderr, "book": book, "before": before}


def check_cut(c):
    """The cut journal verifies clean and replays with exactly the tail missing."""
    segs = read_journal(c["jdir"])
    check(segs[-1].end == c["end"] and segs[-1].next_lsn == c["last_lsn"] + 1 and segs[-1].recs[-1].typ == jt.REC_EVENT,
          "the cut journal does not end with an event where it was cut")
    v = verify_clean(c["jdir"], "the cut journal")
    check(f"the data ends at {c['seg']} offset {c['end']}\n" in v,
          f"dadar-journal does not see the cut journal end at {c['seg']} offset {c['end']}: {v.strip()[-300:]}")
    r = journal_tool("replay", c["jdir"], expect=0)
    kept, n = c["kept"], c["ntail"]
    check(f"journaled {kept}, derived {kept + n}, matched {kept}" in r.stdout
          and f"{n} outputs derived but not journaled" in r.stdout and "result     OK" in r.stdout,
          f"replay of the cut journal should match {kept} and miss {n}: {r.stdout.strip()[-600:]}")
    return segs


def check_restart(c, rs):
    """What every restart after a crash must have done: after the cut journal's records (unchanged)
    its start records then every recovered output equal to the removed one, every segment but the
    newest full (ending with a PAD); verify, replay, book dump and the released outputs as the
    uninterrupted run's; said it journaled the tail. Returns the segments and the recovered records."""
    n = c["ntail"]
    segs = read_journal(c["jdir"])
    before = rs["before"]
    check([r.key() for r in records(segs)[:len(records(before))]] == [r.key() for r in records(before)],
          "the records of the cut journal changed at the restart")
    for s in segs[:-1]:
        check(s.full or s.size - s.end < 24, f"{s.name} is not the newest segment but does not end with a PAD "
              f"({s.size - s.end} bytes left after offset {s.end})")
    after = [r for r in records(segs) if r.lsn > c["last_lsn"] and r.typ != jt.REC_PAD]
    start = c["plan"]["start"]
    k = len(start)
    check([r.typ for r in after[:k]] == [r.typ for r in start],
          f"the restart's first records are not its config and rules: {[r.typ for r in after[:k + 2]]}")
    got = after[k:k + n]
    check(len(got) == n and all(r.typ == jt.REC_OUTPUT for r in got),
          f"the {n} records after the start's are not all outputs: {len(got)}, "
          f"{sorted(set(r.typ for r in got))}")
    for i, (g, (src, part, want)) in enumerate(zip(got, c["expect"])):
        check((g.src, g.part, no_rx(g.body[:128])) == (src, part, no_rx(want)),
              f"recovered output {i + 1} of {n} at LSN {g.lsn}: {out_text(g.body)}, expected {out_text(want)}")
    ref = c["ref"]
    verify_clean(c["jdir"], "after the restart")
    replay_clean(c["jdir"], ref["nout"], ref["book"], "after the restart")
    check(open(rs["book"]).read() == open(ref["book"]).read(),
          "the restart's book dump differs from the uninterrupted run's")
    got_out, want = lines(c["out"]), ref["released"]
    lsns = [o["lsn"] for o in got_out]
    check(len(lsns) == len(set(lsns)) and lsns == sorted(lsns), "released outputs: an LSN twice or out of order")
    check(list(map(strip, got_out)) == list(map(strip, want)),
          f"the released outputs differ from the uninterrupted run's ({len(got_out)} lines, {len(want)} expected)")
    kept = c["kept"]
    check(got_out[:kept] == want[:kept], "the outputs released before the crash changed")
    check([(o["lsn"], o["cause"]) for o in got_out[kept:kept + n]]
          == [(g.lsn, CAUSE.unpack_from(w, CAUSE_OFF)[0]) for g, (_s, _p, w) in zip(got, c["expect"])],
          "the recovered outputs were not released under their journaled LSN and cause")
    # said once they are in, not before (recovery's own line says they are to be journaled)
    said = f"the {n} outputs derived but not journaled before the stop are journaled now, durable up to LSN "
    check(said in rs["stderr"] and f"; {n} outputs derived but not journaled before the stop (journaled next"
          in rs["stderr"], f"the restart does not say it journaled the {n} outputs: {rs['stderr'].strip()[-600:]}")
    return segs, got


def second_restart(c, first_restart):
    try:
        cached(first_restart, lambda: restart(c))
    except AssertionError as e:
        raise AssertionError(f"a later start on the same journal fails too: {e}") from None
    before = records(read_journal(c["jdir"]))
    released = open(c["out"]).read()
    book = path(f"restart2-{_n[0] + 1}.csv")
    r = dadar(c["ref"]["pcap"], c["jdir"], c["out"], book, c["ref"]["opts"], expect=None)
    check(r.returncode == 0 and "cannot journal the" not in r.stderr and "recovered to LSN" in r.stderr
          and "derived but not journaled" not in r.stderr,
          f"the second restart exited {r.returncode}: {r.stderr.strip()[-600:]}")
    after = records(read_journal(c["jdir"]))
    start = c["plan"]["start"]
    added = [x.typ for x in after[len(before):] if x.typ != jt.REC_PAD]
    check(added == [x.typ for x in start],
          f"the second restart journaled {added}, expected only its {len(start)} start records")
    check(open(c["out"]).read() == released, "the second restart released outputs again")
    check(open(book).read() == open(c["ref"]["book"]).read(), "the second restart's book dump differs")
    verify_clean(c["jdir"], "after the second restart")
    replay_clean(c["jdir"], c["ref"]["nout"], c["ref"]["book"], "after the second restart")


TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


@test
def test_1_A_the_cut_journal_ends_near_its_segment_end_with_outputs_derived_but_not_journaled():
    c = cached("A", crash_a)
    check_cut(c)
    p = c["plan"]
    return (f"{c['seg']} cut after LSN {c['last_lsn']} at offset {c['end']}: {p['room']} bytes left (the start "
            f"reserves {p['lo']}, start records + {TAIL} outputs take {p['hi']}); {len(p['removed'])} OUTPUT records "
            f"removed, {TAIL - len(p['removed'])} never written")


@test
def test_2_A_the_restart_fills_the_segment_with_recovered_outputs_and_goes_on_in_the_next():
    c = cached("A", crash_a)
    rs = cached("A-restart", lambda: restart(c))
    segs, got = check_restart(c, rs)
    old = [s for s in segs if s.name == c["seg"]][0]
    n_old = sum(1 for g in got if g.lsn < old.next_lsn)
    check(old.full and 0 < n_old < TAIL and old.size - (old.recs[-1].off) < MAX_ITEM,
          f"{c['seg']} should take the start's records and some of the {TAIL} outputs, then its PAD "
          f"(it holds {n_old}, then {old.recs[-1].len} bytes of {'PAD' if old.full else 'zeros'})")
    nxt = segs[segs.index(old) + 1]
    check(all(g.lsn >= nxt.first_lsn for g in got[n_old:]), "the outputs after the PAD are not in the next segment")
    return (f"{TAIL} outputs journaled at LSN {got[0].lsn}..{got[-1].lsn}: {n_old} in {c['seg']} (then a PAD of "
            f"{old.recs[-1].len} bytes), {TAIL - n_old} in {nxt.name}")


@test
def test_3_A_a_second_restart_starts_and_adds_only_its_start_records():
    c = cached("A", crash_a)
    second_restart(c, "A-restart")


@test
def test_4_B_a_start_with_no_room_for_its_records_ends_the_segment_with_a_pad():
    c = cached("B", crash_b)
    check_cut(c)
    rs = cached("B-restart", lambda: restart(c))
    segs, got = check_restart(c, rs)
    old = [s for s in segs if s.name == c["seg"]][0]
    room = SEG_SIZE - c["end"]
    pad = old.recs[-1]
    check(old.next_lsn == c["last_lsn"] + 2 and pad.typ == jt.REC_PAD and pad.lsn == c["last_lsn"] + 1
          and pad.off == c["end"] and pad.len == room,
          f"{c['seg']} should end with a PAD of its {room} bytes left at LSN {c['last_lsn'] + 1}, right after the cut")
    nxt = segs[segs.index(old) + 1]
    check(nxt.first_lsn == c["last_lsn"] + 2 and nxt.recs[0].typ == jt.REC_CONFIG and got[-1].lsn < nxt.next_lsn,
          f"the start's records and the {TAIL_B} outputs are not in {nxt.name}, the next segment")
    line = stats_line(c["jdir"], c["seg"])
    check(line.endswith(f"+ pad {room}  fill 100.0%"), f"dadar-journal stats does not see {c['seg']} full: {line}")
    return (f"{c['seg']}: {room} bytes left < {start_room(c['plan']['start'])} the start reserves; stats: "
            f"{line.strip()}")


@test
def test_5_B_a_journal_whose_start_moved_on_without_a_pad_still_verifies_replays_and_restarts():
    c = cached("B", crash_b)
    d = c["old"]
    cut = read_journal(d)[-1]
    # what f35e1c8 (and earlier) wrote: the cut segment as it is, ending in zeros; the next one holds
    # the start's records and the recovered outputs
    recs = [Rec(None, r.len, r.typ, r.src, None, r.part, r.body) for r in c["plan"]["start"]]
    recs += [Rec(None, OUTPUT_REC, jt.REC_OUTPUT, s, None, p, w) for s, p, w in c["expect"]]
    for i, r in enumerate(recs):
        r.lsn = -1 - i  # not an LSN of the journal: never taken for one
    outputs = cut.outputs_before + sum(1 for r in cut.recs if r.typ == jt.REC_OUTPUT)
    _m, _o, _last, _end, names = pack(d, cut.data, c["last_lsn"] + 1, cut.index + 1, outputs, recs)
    check(len(names) == 1, "the old layout's next segment overflowed")
    verify_clean(d, "a journal in f35e1c8's layout")
    line = stats_line(d, c["seg"])
    check("+ pad" not in line and "fill 100.0%" not in line, f"stats: {line}")
    nout = c["kept"] + TAIL_B
    replay_clean(d, nout, None, "a journal in f35e1c8's layout")
    out, book = c["old_out"], path("B-old.csv")
    r = dadar(c["ref"]["pcap"], d, out, book, expect=None)
    check(r.returncode == 0 and "derived but not journaled" not in r.stderr,
          f"dadar on a journal in f35e1c8's layout exited {r.returncode}: {r.stderr.strip()[-600:]}")
    verify_clean(d, "a journal in f35e1c8's layout, restarted")
    replay_clean(d, c["ref"]["nout"], c["ref"]["book"], "a journal in f35e1c8's layout, restarted")
    check(open(book).read() == open(c["ref"]["book"]).read(), "the book dump differs from the uninterrupted run's")
    # the outputs the restart releases: the ones journaled in the new segment (never released), then the rest
    got = lines(out)
    check(list(map(strip, got)) == list(map(strip, c["ref"]["released"])),
          f"the released outputs differ from the uninterrupted run's ({len(got)} lines)")
    return f"{c['seg']} ends in zeros: {line.strip()}"


@test
def test_6_C_the_big_cut_journal_has_a_tail_larger_than_a_segment_that_a_crash_can_leave():
    c = cached("C", crash_c)
    check_cut(c)
    p = c["plan"]
    segs = c["ref"]["segs"]
    return (f"cut after LSN {c['last_lsn']} in {c['seg']}; {BIG_TAIL} outputs (a segment holds {SEG_OUTPUTS}) "
            f"from the last {p['w']} inputs (a worker ring of {RING_SIZE}, dd_journal_lag() {LAG}); "
            f"{len(p['removed'])} OUTPUT records removed from {segs[p['first']].name} to {segs[p['at']].name}, "
            f"{BIG_TAIL - len(p['removed'])} never written")


@test
def test_7_C_the_restart_journals_a_tail_larger_than_a_segment_across_segments():
    c = cached("C", crash_c)
    rs = cached("C-restart", lambda: restart(c))
    segs, got = check_restart(c, rs)
    at = [[s.name for s in segs if s.first_lsn <= g.lsn < s.next_lsn][0] for g in (got[0], got[-1])]
    inside = [s for s in segs if got[0].lsn < s.first_lsn <= got[-1].lsn]
    check(len(inside) >= 1, f"the {BIG_TAIL} recovered outputs did not go on across segments: {at}")
    return (f"{BIG_TAIL} outputs journaled at LSN {got[0].lsn}..{got[-1].lsn}, from {at[0]} to {at[1]} "
            f"({len(inside)} rotation{'s' if len(inside) > 1 else ''} during the start)")


@test
def test_8_C_a_second_restart_starts_and_adds_only_its_start_records():
    c = cached("C", crash_c)
    second_restart(c, "C-restart")


def need_binaries():
    for exe in (DADAR, JOURNAL, GEN):
        if not os.access(exe, os.X_OK):
            raise Skip(f"{exe} is not built")


def main(argv):
    return itlib.main("recovery_test", TESTS, argv, need_binaries, TAG, BUILD)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
