#!/usr/bin/env python3
"""dadar on a real kernel interface: net_af_packet on one end of a veth pair, the sample capture
replayed into the other end by tcpreplay once dadar says READY=1 (sd_notify). Checks the messages
and the book arrive exactly as from the pcap PMD, and that every other frame (the interface's IPv6
chatter, the host's traffic the PMD's socket sees before it is bound) is counted, not decoded. Exits 0 on success, 1 on failure, 77 (skip, loudly) when veth pairs or tcpreplay are not
available (not root, no iproute2, no tcpreplay).

usage: tests/integration/afpacket_test.py   (env B = build dir, default build)
"""
import json
import os
import shutil
import socket
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
        # dadar says READY=1 (sd_notify) once its ports are up and its lcores launched: the replay
        # starts then, not after a guess at how long EAL's start takes on a loaded machine
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock = f"/tmp/dd-afp-{PID}.notify"  # absolute (sd_notify takes no other), short (sun_path)
        if os.path.exists(sock):
            os.unlink(sock)
        notify.bind(sock)
        notify.settimeout(0.1)
        dadar = subprocess.Popen(
            [f"{B}/dadar", "--no-huge", "--no-pci", "-m", "512", "--file-prefix", f"afp{PID}", "--no-telemetry",
             "--log-level=*:warning", "-l", "0-1", "--vdev", f"net_af_packet0,iface={Z}", "--",
             "--exit-on-idle", "2000", "--instance", f"afp-{PID}", "--summary", summary, "--book-dump", book,
             "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=dict(os.environ, NOTIFY_SOCKET=sock))
        ready, deadline = False, time.monotonic() + 60
        while not ready and dadar.poll() is None and time.monotonic() < deadline:
            try:
                ready = b"READY=1" in notify.recv(4096)
            except socket.timeout:
                pass
        notify.close()
        if not ready:
            dadar.kill()
            out, err = dadar.communicate(timeout=30)
            print(f"FAIL: dadar did not say READY=1 (exit {dadar.returncode}): {err[-1500:]}")
            return 1
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
        # the drops are not the capture's: the feed took all its datagrams. The rest is the
        # interface's chatter (IPv6) and whatever crossed the host while the PMD's packet socket was
        # not yet bound to the interface (docs/operations.md: loopback TCP, counted not_udp or, for
        # segments longer than the socket's frames, ip_bad_header)
        check(m["datagrams"] == 342 and s["udp"] >= 342,
              f"the capture's 342 datagrams went to the feed ({m['datagrams']}); dropped: {s['errors']}")
        check(s["packets"] == s["udp"] + sum(s["errors"].values()), "every frame is a datagram or a counted drop")
        ref = os.path.join(tmp, "ref.csv")
        run(sys.executable, "tests/integration/itchbook.py", "tests/data/itch/ex20101224.TEST_ITCH_50.fixed", ref)
        check(open(ref).read() == open(book).read(), "book dump equals the independent book")
        return 0 if ok else 1
    finally:
        if dadar is not None and dadar.poll() is None:
            dadar.kill()
        run("ip", "link", "del", A)
        subprocess.run(["rm", "-rf", tmp, f"/tmp/dd-afp-{PID}.notify", f"/var/run/dpdk/afp{PID}", f"/dev/shm/dadar-afp-{PID}"])


if __name__ == "__main__":
    sys.exit(main())
