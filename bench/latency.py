#!/usr/bin/env python3
"""make bench-latency: wire-to-decision under paced load, dadar against the kernel path, in one run.

One generator (dadar-gen send) offers the same synthetic ITCH day (synth --drain, looped) at each
rate to two receivers on this host:

  dadar   dadar over net_memif, run to completion, `--stamps`: each frame's send stamp is its RX
          time, so wire_to_decision counts from the generator's TSC to the decision.
  kernel  build/bench/peer_kernel: the same MoldUDP64 sequencer, ITCH decoder and book, fed by
          recvmmsg on a UDP socket (busy-polling, and a blocking variant). The generator sends
          through net_tap into a kernel interface; the kernel strips the stamp, so the peer reads each
          message's send TSC from the generator's send log (/dev/shm) instead: the same clock, the
          same instant.

Writes build/bench/latency.json: a JSON array, one object per (system, offered rate), the
interface contract of issue 13:
  {"system": "dadar" | "kernel", "offered": msgs_per_s, "received": n, "lost": n,
   "p50_ns": n, "p99_ns": n, "p999_ns": n, "max_ns": n, ...}
plus build/bench/latency-variants.json with the other configurations (microbursts, the staged
pipeline, the journal on, the kernel's blocking receive), each object naming its variant.

On a 2-core VM the generator and the receiver each spin on one core and everything else (dadar's
control thread, the kernel's softirqs for the tap) competes with them: the figures then say how
the two paths compare on the same starved host, not what an isolated core gives.

usage: bench/latency.py [--seconds S] [--rates R,R,...] [--quick] [--out DIR]   (env B = build dir)
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
B = os.environ.get("B", "build")
B = B if os.path.isabs(B) else os.path.join(ROOT, B)
DADAR, GEN, PEER = (os.path.join(B, x) for x in ("dadar", "dadar-gen", "bench/peer_kernel"))
GROUP, PORT = "233.54.12.111", 26477
TAP, TAP_IP = "ddlat0", "198.18.7.1"
EAL = ["--no-huge", "--no-pci", "--no-telemetry", "--log-level=*:warning"]


def log(msg):
    print(f"bench-latency: {msg}", file=sys.stderr, flush=True)


def cpus():
    c = sorted(os.sched_getaffinity(0))
    return c[0], c[-1]


def sender(vdev, prefix, cap, rate, seconds, extra=(), summary=None, shconf=True):
    gen_cpu, _ = cpus()
    cmd = [GEN, "send"] + EAL + ["-m", "512", "--file-prefix", prefix, "--lcores", f"(0)@({gen_cpu})", "--vdev", vdev]
    if not shconf:
        cmd.append("--no-shconf")
    cmd += ["--", "--pcap", cap, "--rate", str(rate), "--seconds", str(seconds), "--summary", summary] + list(extra)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
    if r.returncode != 0:
        raise RuntimeError(f"dadar-gen send exited {r.returncode}: {r.stderr[-800:]}")
    with open(summary) as f:
        return json.load(f)


def run_dadar(tmp, cap, rate, seconds, variant, burst=None, staged=False, journal=False, stream=False):
    _, rx_cpu = cpus()
    gen_cpu, _ = cpus()
    sock = os.path.join(tmp, f"memif-{os.getpid()}.sock")
    summ = os.path.join(tmp, f"dadar-{variant}-{rate}.json")
    prefix = f"ddlat-d-{os.getpid()}"
    lcores = f"(0-1)@({rx_cpu})" if not staged else f"(0-3)@({gen_cpu},{rx_cpu})"
    vdevs = ["--vdev", f"net_memif0,role=server,socket={sock}"]
    if stream:  # the outputs as a MoldUDP64 stream out of a second port: the release stage times them
        vdevs += ["--vdev", "net_null1,no-rx=1"]  # dadar polls every port: a null port must not invent input
    cmd = [DADAR] + EAL + ["-m", "1024", "--file-prefix", prefix, "--lcores", lcores] + vdevs + \
        ["--", "--instance", prefix, "--stamps", "--summary", summ, "--quiet", "--capacity-orders", "262144"]
    if stream:
        cmd += ["--output-udp", "239.192.26.49:26490@1"]
    if staged:
        cmd += ["--pipeline", "staged", "--workers", "2"]
    if journal:
        cmd += ["--journal", os.path.join(tmp, f"journal-{variant}-{rate}")]
    d = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        time.sleep(1.5)
        if d.poll() is not None:
            raise RuntimeError(f"dadar exited {d.returncode}: {d.stderr.read()[-800:]}")
        extra = ["--burst", burst] if burst else []
        g = sender(f"net_memif0,role=client,socket={sock}", f"ddlat-g-{os.getpid()}", cap, rate, seconds, extra,
                   os.path.join(tmp, f"send-dadar-{variant}-{rate}.json"))
        time.sleep(0.5)
    finally:
        if d.poll() is None:
            d.send_signal(signal.SIGINT)
        try:
            d.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(d.pid, signal.SIGKILL)
            d.wait()
    try:  # dadar keeps its telemetry segment for dadar-lat after it exits: this run's is read
        os.unlink(f"/dev/shm/dadar-{prefix}")
    except OSError:
        pass
    with open(summ) as f:
        s = json.load(f)
    w = s["latency_ns"]["wire_to_decision"]
    m = s["moldudp64"]
    return {"system": "dadar", "offered": rate, "received": m["delivered"], "lost": g["messages"] - m["delivered"],
            "p50_ns": w["p50"], "p99_ns": w["p99"], "p999_ns": w["p999"], "p9999_ns": w["p9999"], "max_ns": w["max"],
            "variant": variant, "sent": g["messages"], "sent_per_s": g["sent_per_s"],
            "sender_late_p99_ns": g["late_p99_ns"], "stamped_datagrams": s["latency_ns"]["send_to_rx"]["count"],
            "send_to_rx_p50_ns": s["latency_ns"]["send_to_rx"]["p50"], "send_to_rx_p99_ns": s["latency_ns"]["send_to_rx"]["p99"],
            "book_p50_ns": s["latency_ns"]["book"]["p50"],
            **({"release_p50_ns": s["latency_ns"]["release"]["p50"], "release_p99_ns": s["latency_ns"]["release"]["p99"],
                "release_p999_ns": s["latency_ns"]["release"]["p999"], "release_count": s["latency_ns"]["release"]["count"],
                "stream_messages": s["output_udp"]["messages"], "stream_tx_dropped": s["output_udp"]["tx_dropped"]}
               if stream else {})}


def sh(*args, check=True):
    r = subprocess.run(args, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {r.stderr.strip()}")
    return r


def run_kernel(tmp, cap, rate, seconds, variant, mode="busy", burst=None):
    _, rx_cpu = cpus()
    logf = f"/dev/shm/ddlat-sendlog-{os.getpid()}"
    out = os.path.join(tmp, f"kernel-{variant}-{rate}.json")
    prefix = f"ddlat-k-{os.getpid()}"
    # the tap exists while the sender runs; the peer must join the group once it is up, so the
    # sender waits (--start-delay-ms) after the link is up, and the peer retries its join
    gen_summary = os.path.join(tmp, f"send-kernel-{variant}-{rate}.json")
    extra = ["--send-log", logf, "--start-delay-ms", "1500"] + (["--burst", burst] if burst else [])
    gen_cpu, _ = cpus()
    cmd = [GEN, "send"] + EAL + ["-m", "512", "--file-prefix", prefix, "--no-shconf", "--lcores", f"(0)@({gen_cpu})",
                                 "--vdev", f"net_tap0,iface={TAP}", "--", "--pcap", cap, "--rate", str(rate),
                                 "--seconds", str(seconds), "--summary", gen_summary] + extra
    g = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    peer = None
    try:
        t0 = time.monotonic()
        while sh("ip", "link", "show", TAP, check=False).returncode != 0:
            if g.poll() is not None or time.monotonic() - t0 > 20:
                raise RuntimeError(f"the tap {TAP} did not appear: {g.stderr.read()[-800:] if g.poll() is not None else ''}")
            time.sleep(0.05)
        sh("ip", "addr", "add", f"{TAP_IP}/24", "dev", TAP, check=False)
        sh("ip", "link", "set", TAP, "up")
        for k in ("rp_filter", "accept_local"):
            sh("sysctl", "-q", "-w", f"net.ipv4.conf.{TAP}.{k}={'0' if k == 'rp_filter' else '1'}", check=False)
        t0 = time.monotonic()
        while not os.path.exists(logf):
            if time.monotonic() - t0 > 20:
                raise RuntimeError("the sender wrote no send log")
            time.sleep(0.05)
        peer = subprocess.Popen(["taskset", "-c", str(rx_cpu), PEER, "--listen", f"{GROUP}:{PORT}", "--interface", TAP_IP,
                                 "--send-log", logf, "--mode", mode, "--idle-exit", "1500", "--json", out,
                                 "--capacity-orders", "262144"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
        if g.wait(timeout=seconds + 120) != 0:
            raise RuntimeError(f"dadar-gen send exited {g.returncode}: {g.stderr.read()[-800:]}")
        if peer.wait(timeout=60) != 0:
            raise RuntimeError(f"peer_kernel exited {peer.returncode}: {peer.stderr.read()[-800:]}")
    finally:
        for p in (g, peer):
            if p is not None and p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        if os.path.exists(logf):
            os.unlink(logf)
    with open(gen_summary) as f:
        gs = json.load(f)
    with open(out) as f:
        k = json.load(f)
    return {"system": "kernel", "offered": rate, "received": k["received"], "lost": gs["messages"] - k["received"],
            "p50_ns": k["p50_ns"], "p99_ns": k["p99_ns"], "p999_ns": k["p999_ns"], "p9999_ns": k["p9999_ns"],
            "max_ns": k["max_ns"], "variant": variant, "mode": mode, "sent": gs["messages"],
            "sent_per_s": gs["sent_per_s"], "sender_late_p99_ns": gs["late_p99_ns"],
            "rcvbuf_drops": k.get("rcvbuf_drops"), "gaps_lost": k.get("lost")}


def main():
    ap = argparse.ArgumentParser(description="wire-to-decision latency, dadar against the kernel path")
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--rates", default="100000,1000000,5000000")
    ap.add_argument("--quick", action="store_true", help="the main comparison only, no variants")
    ap.add_argument("--out", default=os.path.join(B, "bench"))
    a = ap.parse_args()
    for exe in (DADAR, GEN, PEER):
        if not os.access(exe, os.X_OK):
            log(f"{exe} is not built (make all)")
            return 1
    os.makedirs(a.out, exist_ok=True)
    rates = [int(float(x)) for x in a.rates.split(",")]
    can_tap = os.geteuid() == 0 and os.path.exists("/dev/net/tun")
    if not can_tap:
        log("the kernel path needs root and /dev/net/tun (net_tap): only dadar is measured")
    tmp = tempfile.mkdtemp(prefix="bench-latency-", dir=os.path.join(B, "bench"))
    cap = os.path.join(tmp, "day.pcap")
    # datagrams of at most 256 bytes (about 7 messages): a feed's packets outside its bursts, so a
    # message's latency is mostly its own, not the wait for the rest of a full 1400-byte datagram
    r = subprocess.run([GEN, "synth", cap, "--messages", "400000", "--seed", "42", "--instruments", "1000", "--drain",
                        "--max-payload", "256"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        log(f"dadar-gen synth: {r.stderr}")
        return 1
    main_rows, variants = [], []

    def measure(fn, *args, **kw):
        try:
            row = fn(tmp, cap, *args, **kw)
        except (RuntimeError, subprocess.TimeoutExpired, OSError, KeyError, ValueError) as e:
            log(f"{fn.__name__} {args} {kw}: {e}")
            return None
        log(f"{row['system']:6} {row.get('variant', ''):18} offered {row['offered']:>9,}/s: received {row['received']:>10,} "
            f"lost {row['lost']:>9,}  p50 {row['p50_ns']:>9,} p99 {row['p99_ns']:>11,} p99.9 {row['p999_ns']:>11,} "
            f"max {row['max_ns']:>11,} ns")
        return row

    for rate in rates:
        row = measure(run_dadar, rate, a.seconds, "rtc")
        if row:
            main_rows.append(row)
        if can_tap:
            row = measure(run_kernel, rate, a.seconds, "busy")
            if row:
                main_rows.append(row)
    if not a.quick:
        base = 1000000
        for v, kw in (("rtc+bursts", {"burst": "10:200:10000"}), ("rtc+stream", {"stream": True}),
                      ("staged", {"staged": True}),
                      ("rtc+journal", {"journal": True})):
            row = measure(run_dadar, base, a.seconds, v, **kw)
            if row:
                variants.append(row)
        if can_tap:
            for v, kw in (("busy+bursts", {"burst": "10:200:10000"}), ("block", {"mode": "block"})):
                row = measure(run_kernel, base, a.seconds, v, **kw)
                if row:
                    variants.append(row)
    with open(os.path.join(a.out, "latency.json"), "w") as f:
        json.dump(main_rows, f, indent=1)
        f.write("\n")
    with open(os.path.join(a.out, "latency-variants.json"), "w") as f:
        json.dump(variants, f, indent=1)
        f.write("\n")
    log(f"wrote {os.path.join(a.out, 'latency.json')} ({len(main_rows)} rows) and latency-variants.json "
        f"({len(variants)} rows); scratch {tmp}")
    subprocess.run(["rm", "-rf", tmp])
    return 0 if main_rows else 1


if __name__ == "__main__":
    sys.exit(main())
