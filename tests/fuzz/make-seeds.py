#!/usr/bin/env python3
"""Seed corpora for the libFuzzer targets, from real-derived and generated inputs (committed in
tests/fuzz/seeds/NAME/, small; tests/fuzz/run reads them next to the working corpus).

    tests/fuzz/make-seeds.py [B]        (B: the build directory holding dadar-gen; default build)

  fuzz_feed      frames of a dadar-gen synth capture (gaps, duplicates, reordering and malformed
                 frames injected) and of the RITCH sample, as u16 length + frame records
  fuzz_itch      one message of every ITCH type the RITCH sample and a synth day hold
  fuzz_moldudp64 built records: in order, a gap, duplicates on the other line, heartbeats, end
                 of session, a session change, a raw datagram
  fuzz_jfile     built journals (mode 2): records, PADs, rotations, each kind of damage once
  fuzz_hdr       an interval-log line and base64 of a V2 histogram, from the format's own texts
  fuzz_replay    op lists: a config then events and outputs, snapshots between, raw configs
  fuzz_payments  frames of a dadar-gen payments capture (labelled scenarios, gaps, duplicates and
                 malformed frames injected), as u16 length + frame records, and single messages
  fuzz_rules     the shipped rule files, and rows of each table
  fuzz_mrules    the shipped market rules and the rules of each conformance case, each followed by
                 0xff and bytes the target turns into records and watermarks
  fuzz_outwire   one output message of each type (B D A W L T M), built from docs/wire-formats.md
  fuzz_config    sections joined by 0xff: a config file (the shipped dadar.conf.example, it with every key
                 uncommented, the docs' examples), the command lines of the docs and the Makefile, key=value
                 lines, a CPU list
"""
import base64
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import pcaplib as pl  # noqa: E402

B = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build")
SEEDS = os.path.join(HERE, "seeds")


def put(name, i, data):
    d = os.path.join(SEEDS, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"seed-{i:03d}"), "wb") as f:
        f.write(data)


def frames_records(frames):
    return b"".join(struct.pack(">H", len(f)) + f for f in frames)


def outwire_seeds():
    """fuzz_outwire: one message of each output type, laid out as docs/wire-formats.md says (big-endian
    56-byte header, then the type's body), with distinct values so a mutation lands on a real field."""
    def hdr(letter, lsn, symbol=bytes(8)):
        # type, version, lsn, cause, event_ns, seq, op, feed, rule, rule_version, shard, flags, key, symbol
        return struct.pack(">cBQQQQBBHHHHI8s", letter, 1, lsn, lsn - 1, 34200000000123, 4242, 4, 1, 3, 7, 0,
                           0, 0x0102, symbol)
    bodies = [
        hdr(b"B", 11) + struct.pack(">IIQQIIH", 1234500, 1235000, 300, 0xFFFFFFFFFFFFFFFF, 3, 1, 0x0102),
        hdr(b"D", 12) + struct.pack(">QQqQQIHBBH3s", 900001, 77, -250000, 0, 0xABCDEF, 0x21, 85, 3, 9, 5411,
                                    b"INR"),
        hdr(b"A", 13, b"AAPL    ") + struct.pack(">QQ4qQIBBBB", 34200000000000, 34200000500000, -5, 2**63 - 1,
                                                  -(2**63), 0, 99, 4, 3, 0x08, 0, 1),
        hdr(b"W", 14, b"MSFT    ") + struct.pack(">QQ6q", 34200000000000, 34260000000000, 17, -3, 0, 123456789,
                                                  -(2**63), 2**63 - 1),
        hdr(b"L", 15, b"ZVZZT   ") + struct.pack(">QQQB", 34260000000000, 34270000000000, 34250000000000, 2),
        hdr(b"T", 16) + struct.pack(">8Q", *range(1, 8), 0xFFFFFFFFFFFFFFFF),
        # matched: a message (feed 1, seq 17044), a late window result (window 2, end 34260 s), 5 unused
        hdr(b"M", 17, b"AAPL    ") + struct.pack(">7QBBB", 1 << 56 | 17044,
                                                  1 << 63 | 1 << 62 | 2 << 56 | 34260000000000, 0, 0, 0, 0, 0,
                                                  2, 0, 1),
    ]
    for i, (m, want) in enumerate(zip(bodies, (90, 109, 120, 120, 81, 120, 115))):
        assert len(m) == want, (m[:1], len(m))
        put("fuzz_outwire", i, m)


def config_seeds():
    """fuzz_config: config file, arguments (one a line; the word after --config becomes the file), key=value
    lines and a CPU list, joined by 0xff; the files and command lines are the ones the docs and the Makefile
    show, so a mutation lands on a real key or flag."""
    with open(os.path.join(ROOT, "docs", "service", "dadar.conf.example"), "rb") as fh:
        example = fh.read()
    # every key at its default ("#key = value") and every example ("#   key = ...") uncommented
    def uncomment(ln):
        setting = ln.startswith(b"#") and b" = " in ln and (not ln.startswith(b"# ") or ln.startswith(b"#   "))
        return ln[1:].lstrip() if setting else ln
    every = b"\n".join(uncomment(ln) for ln in example.split(b"\n"))
    nasdaq = (b"# /etc/dadar/nasdaq.conf\npipeline = staged\nworkers = 2\n"
              b"feed.nasdaq = 233.54.12.111:26477, 233.49.196.111:26477\ncapacity.orders = 4194304\n"
              b"capacity.levels = 1048576\nsummary = /var/log/dadar/summary.json\n")
    venues = (b"feed.venue1 = market 233.54.12.121:26477@0, *:26478@1\nfeed.venue2 = 233.54.12.120:26477\n"
              b"feed.pay = payment 239.192.26.48:26480, 239.192.26.49:26480\n"
              b"output_udp = 239.192.26.49:26490@1\noutput_udp.source = 10.1.2.3:26490\n"
              b"output_udp.dst_mac = 01:00:5e:40:1a:31\noutput_udp.request = 0.0.0.0:26491\n"
              b"output_udp.session = SESSION001\nnats = nats://127.0.0.1:4222\nnats.stream = DADAR\n"
              b"journal = /var/lib/dadar/journal\nsnapshot_every = 5000000\njournal.io_cpus = 0,2-3\n"
              b"journal.sync = page\nrelease = immediate\nchain.market = book,test_multi,test_timer\n"
              b"rules = rules/market.rules\nwatermark.all_idle = clock\n")
    run = (b"--exit-on-idle\n200\n--summary\nbuild/sample/summary.json\n--book-dump\nbuild/sample/book.csv\n"
           b"--output\nbuild/sample/outputs.jsonl\n--set\nfraud.merchant_table=build/sample/merchants.csv")
    planted = (b"--rules\nrules/market.rules\n--feed\nvenue1=233.54.12.121:26477\n--feed\n"
               b"venue2=233.54.12.120:26477\n--capacity-orders\n65536\n--capacity-levels\n16384\n"
               b"--exit-on-idle\n200\n--summary\nbuild/sample/planted-summary.json\n--output\n"
               b"build/sample/alerts.jsonl")
    outputs = (b"--journal\n/var/lib/dadar/journal\n--output-udp\n239.192.26.49:26490@1\n--set\n"
               b"output_udp.source=10.1.2.3\n--nats\nnats://broker.example:4222")
    # a file's feeds overridden by --feed, flags after --config, booleans on and off, --rules twice
    flags = (b"--config\nFILE\n--feed\nvenue1=233.54.12.121:26477\n--feed\npay=payment *:26480\n"
             b"--workers\n4\n--pipeline\nstaged\n--route\nsymbol\n--no-check-ip-csum\n--check-udp-csum\n--bench-loop\n"
             b"--rules\na.rules\n--rules\nb.rules\n"
             b"--set\nmold.reorder_window=64\n--instance\nvenue-1_b")
    seeds = [
        (example, b"--config\nFILE\n--exit-on-idle\n200", b"capacity.orders=4194304\ncapacity.levels=1048576", b"0"),
        (every, run, b"feed.nasdaq=233.54.12.111:26477,233.49.196.111:26477\nrules=none", b"0,2-3"),
        (nasdaq, planted, b"output_udp=239.192.26.49:26490@1\noutput_udp.source=10.1.2.3", b"2-5"),
        (venues, flags, b"workers=65\nno.such.key=1\nfeed.nasdaq=256.1.1.1:26477\nquiet=maybe",
         b"5,0,2-3,3,64-65,1023"),
        (b"workers = 4   # four of them\n  rx_burst=64\njust words\n", b"--workers\n--help", b"ring_size=1000",
         b"3-1"),
        (b"", outputs, b"", b"1023"),
    ]
    for i, parts in enumerate(seeds):
        put("fuzz_config", i, b"\xff".join(parts))


def main():
    tmp = tempfile.mkdtemp(prefix="dd-seeds-")
    synth = os.path.join(tmp, "s.pcap")
    itch = os.path.join(tmp, "s.itch")
    subprocess.run([f"{B}/dadar-gen", "synth", synth, "--seed", "3", "--instruments", "4", "--messages", "400",
                    "--gap-rate", "0.05", "--dup-rate", "0.05", "--reorder-rate", "0.05", "--malformed-rate", "0.05",
                    "--lines", "2", "--heartbeat-every", "7",
                    "--itch-out", itch], check=True, capture_output=True)
    sample = os.path.join(tmp, "r.pcap")
    ritch = os.path.join(ROOT, "tests", "data", "itch", "ex20101224.TEST_ITCH_50.fixed")
    subprocess.run([f"{B}/dadar-gen", "itch-file", ritch, sample], check=True, capture_output=True)

    # fuzz_feed: runs of 12 frames
    n = 0
    for cap in (synth, sample):
        frames = [f for _t, f in pl.read_pcap(cap)]
        for k in range(0, min(len(frames), 96), 12):
            put("fuzz_feed", n, frames_records(frames[k:k + 12]))
            n += 1

    # fuzz_itch: one message per type
    seen = {}
    for m in pl.read_binaryfile(ritch) + pl.read_binaryfile(itch):
        seen.setdefault(m[0], m)
    for i, (_t, m) in enumerate(sorted(seen.items())):
        put("fuzz_itch", i, m)

    # fuzz_moldudp64: param byte, then (line|kind<<2, time, session, seq, lengths...)
    def built(line, t, sess, nmsg, seq, lens, kind=1):
        return bytes([line | kind << 2, t, sess | (nmsg << 2), seq & 0xFF] + lens)
    seeds = [
        bytes([0x05]) + built(0, 1, 0, 3, 0, [9, 10, 11]) + built(0, 1, 0, 2, 0, [9, 9]),
        bytes([0x02]) + built(0, 1, 0, 2, 0, [9, 9]) + built(0, 1, 0, 2, 5, [9, 9]) + built(1, 1, 0, 2, 0, [9, 9]),
        bytes([0x13]) + built(0, 1, 0, 0, 0, []) + built(0, 1, 0, 1, 3, []) + built(0, 0xFF, 1, 3, 0, [12, 12, 12]),
        bytes([0x00]) + built(0, 1, 0, 4, 0, [10, 0, 3, 15], kind=2) + bytes([3 << 2, 1, 0, 24]) + b"R" * 24,
    ]
    for i, s in enumerate(seeds):
        put("fuzz_moldudp64", i, s)

    # fuzz_jfile: mode 2 built journals, (op, arg) pairs
    ops = [
        [(13, 1)] * 20,
        [(13, 2), (14, 3), (15, 4)] * 10 + [(11, 5)],
        [(13, 1)] * 8 + [(9, 7)] + [(13, 1)] * 4,
        [(13, 1)] * 8 + [(10, 0x29)] + [(12, 4)] + [(13, 1)] * 2,
    ]
    for i, o in enumerate(ops):
        put("fuzz_jfile", i, bytes([2]) + bytes(x for pair in o for x in pair))

    # fuzz_hdr: an interval-log line (mode 4) and base64 text (mode 3) of a small V2 encoding
    v2 = bytes.fromhex("1c84931300000000000000000000000003000000000000000100000000000000ffff") + bytes(8)
    put("fuzz_hdr", 0, bytes([4]) + b"0.000,1.000,0.099," + base64.b64encode(v2) + b"\n")
    put("fuzz_hdr", 1, bytes([3]) + base64.b64encode(v2))
    put("fuzz_hdr", 2, bytes([2, 1]) + bytes([2, 4, 6, 8, 1, 1, 0, 0]))

    # fuzz_replay: (op, a, c, d) records then payload bytes
    def rec(op, a=0, c=0, d=0):
        return bytes([op, a, c, d])
    body = [rec(0, 0x11, 3), rec(1, 4, 0, 1), rec(2, 4, 0, 2), rec(3, 6, 0, 1), rec(7), rec(4, 8, 0, 2),
            rec(5, 0, 1, 2), rec(6, 0), rec(1, 14, 0, 0), rec(7), rec(2, 4, 1, 3)]
    payload = bytes(range(256)) * 4
    put("fuzz_replay", 0, bytes([len(body)]) + b"".join(body) + payload)
    body = [rec(0, 0x02, 9), rec(1, 4, 0, 5), rec(1, 7, 0, 5), rec(7), rec(1, 8, 0, 5), rec(0, 0x02, 9)]
    put("fuzz_replay", 1, bytes([len(body)]) + b"".join(body) + payload)
    body = [rec(0, 0x80), rec(1, 4, 0, 1)]
    put("fuzz_replay", 2, bytes([len(body)]) + b"".join(body) + payload)

    # fuzz_payments: runs of 8 frames of a payment day, and one raw message
    pay = os.path.join(tmp, "p.pcap")
    subprocess.run([f"{B}/dadar-gen", "payments", pay, "--seed", "5", "--count", "400", "--payers", "60",
                    "--dup-rate", "0.05", "--gap-rate", "0.05", "--malformed-rate", "0.05", "--max-payload", "300"],
                   check=True, capture_output=True)
    frames = [f for _t, f in pl.read_pcap(pay)]
    for n, k in enumerate(range(0, min(len(frames), 64), 8)):
        put("fuzz_payments", n, frames_records(frames[k:k + 8]))
    put("fuzz_payments", 99, frames[0][42 + 20 + 2:42 + 20 + 2 + 73])  # the first message alone

    # fuzz_rules: the shipped rule sets, and table rows
    for n, f in enumerate(("fraud-paytm.rules", "fraud-upi.rules")):
        with open(os.path.join(ROOT, "rules", f), "rb") as fh:
            put("fuzz_rules", n, fh.read())
    put("fuzz_rules", 2, b"1001,85\n1002,50\n")
    put("fuzz_rules", 3, b"5411,10\n7995,40\n")
    put("fuzz_rules", 4, b"19076000,72877700,5.5\n")

    # fuzz_mrules: market rule texts, then 0xff and bytes for the engines
    records = bytes((i * 53 + 7) % 256 for i in range(256))
    with open(os.path.join(ROOT, "rules", "market.rules"), "rb") as fh:
        put("fuzz_mrules", 0, fh.read() + b"\xff" + records)
    cases = os.path.join(ROOT, "tests", "ops", "cep_cases")
    for n, f in enumerate(sorted(os.listdir(cases)), 1):
        with open(os.path.join(cases, f), "rb") as fh:
            put("fuzz_mrules", n, fh.read().split(b"--- stream")[0] + b"\xff" + records)

    outwire_seeds()
    config_seeds()
    print(f"seeds written under {SEEDS}")


if __name__ == "__main__":
    main()
