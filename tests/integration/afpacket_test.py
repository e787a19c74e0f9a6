#!/usr/bin/env python3
"""dadar on a real kernel interface: net_af_packet on one end of a veth pair, the sample capture
replayed into the other end by tcpreplay. Checks the messages and the book arrive exactly as from
the pcap PMD, and that the interface's own chatter (IPv6 neighbour discovery, ...) is counted, not
decoded. Exits 0 on success, 1 on failure, 77 (skip, loudly) when veth pairs or tcpreplay are not
available (not root, no iproute2, no tcpreplay).

usage: tests/integration/afpacket_test.py   (env B = build dir, default build)
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

B = os.environ.get("B", "build")
PID = os.getpid()
A, Z = f"dda{PID % 100000}", f"ddz{PID % 100000}"  # interface names are at most 15 characters


def skip(why):
    print(f"SKIP: afpacket_test: {why}", file=sys.stderr)
    sys.exit(77)


def run(*args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def main():
    for tool in ("ip", "tcpreplay"):
        if shutil.which(tool) is None:
            skip(f"{tool} is not installed (make deps installs iproute2 and tcpreplay)")
    if os.geteuid() != 0:
        skip("creating a veth pair needs root")
    tmp = tempfile.mkdtemp(prefix="dd-afp-", dir=os.path.join(B, "it") if os.path.isdir(os.path.join(B, "it")) else None)
    pcap = os.path.join(tmp, "sample.pcap")
    r = run(f"{B}/dadar-gen", "itch-file", "tests/data/itch/ex20101224.TEST_ITCH_50", pcap)
    if r.returncode != 0:
        print(r.stderr)
        return 1
    r = run("ip", "link", "add", A, "type", "veth", "peer", "name", Z)
    if r.returncode != 0:
        skip(f"cannot create a veth pair: {r.stderr.strip()}")
    dadar = None
    try:
        for dev in (A, Z):
            run("ip", "link", "set", dev, "up")
        summary = os.path.join(tmp, "summary.json")
        book = os.path.join(tmp, "book.csv")
        dadar = subprocess.Popen(
            [f"{B}/dadar", "--no-huge", "--no-pci", "-m", "512", "--file-prefix", f"afp{PID}", "--no-telemetry",
             "--log-level=*:warning", "-l", "0-1", "--vdev", f"net_af_packet0,iface={Z}", "--",
             "--exit-on-idle", "2000", "--instance", f"afp-{PID}", "--summary", summary, "--book-dump", book,
             "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)  # EAL init and the port up before the first packet
        r = run("tcpreplay", "-q", "-i", A, "--mbps", "200", pcap)
        if r.returncode != 0:
            print(r.stdout, r.stderr)
            return 1
        out, err = dadar.communicate(timeout=30)
        if dadar.returncode != 0:
            print(f"FAIL: dadar exited {dadar.returncode}: {err}")
            return 1
        s = json.load(open(summary))
        want = {"S": 6, "R": 3, "H": 3, "A": 4997, "F": 3, "E": 198, "X": 45, "D": 1745, "U": 12, "P": 5000}
        ok = True

        def check(cond, what):
            nonlocal ok
            print(f"  {'PASS' if cond else 'FAIL'}  {what}")
            ok &= bool(cond)

        check(s["itch"]["messages"] == want, f"every ITCH message arrived once: {s['itch']['messages']}")
        m = s["moldudp64"]
        check((m["gaps"], m["missing"], m["duplicates"]) == (0, 0, 0), f"no gap, no duplicate: {m}")
        other = {k: v for k, v in s["errors"].items() if k not in ("not_ipv4", "not_udp")}
        check(other == {}, f"only the interface's own non-IPv4/non-UDP traffic was dropped: {s['errors']}")
        check(s["packets"] == s["udp"] + sum(s["errors"].values()), "every frame is a datagram or a counted drop")
        ref = os.path.join(tmp, "ref.csv")
        run(sys.executable, "tests/integration/itchbook.py", "tests/data/itch/ex20101224.TEST_ITCH_50.fixed", ref)
        check(open(ref).read() == open(book).read(), "book dump equals the independent book")
        return 0 if ok else 1
    finally:
        if dadar is not None and dadar.poll() is None:
            dadar.kill()
        run("ip", "link", "del", A)
        subprocess.run(["rm", "-rf", tmp, f"/var/run/dpdk/afp{PID}", f"/dev/shm/dadar-afp-{PID}"])


if __name__ == "__main__":
    sys.exit(main())
