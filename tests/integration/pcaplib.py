"""Packets for dadar's integration tests, written from the specifications (pcap, Ethernet, 802.1Q,
IPv4, UDP, MoldUDP64, ITCH 5.0); no code is shared with dadar or dadar-gen.

- read_pcap() / write_pcap(): classic pcap files (micro- or nanosecond magic, either byte order).
- Builders for Ethernet II (+802.1Q tags), IPv4, UDP, ARP, MoldUDP64 datagrams and ITCH messages.
- frame_verdict() and mold_parse(): what a correct receiver must make of one frame and of one
  MoldUDP64 payload, with the reason names dadar reports (errors.* in its JSON summary).
- receive(): runs a whole capture through those two and says what a receiver should count.
- FifoFeed: a capture handed to dadar through a named pipe a part at a time; LineWatch: the whole
  lines a growing output file holds, for deciding when to feed or kill.
"""
import errno
import os
import signal
import struct
import time

ETH_IPV4 = 0x0800
ETH_ARP = 0x0806
ETH_IPV6 = 0x86DD
ETH_VLAN = 0x8100
ETH_QINQ = 0x88A8
PROTO_ICMP, PROTO_TCP, PROTO_UDP = 1, 6, 17

MOLD_HDR = 20
MOLD_EOS = 0xFFFF

# Longest frame dadar reassembles from a chain of mbufs (dataplane/dpdk/lcore.h DD_SCRATCH); longer is
# counted as errors.frame_too_long.
MAX_REASSEMBLED = 16384

# ITCH 5.0 message lengths, type byte included (NASDAQ TotalView-ITCH 5.0 specification).
ITCH_LEN = {
    b"S": 12, b"R": 39, b"H": 25, b"Y": 20, b"L": 26, b"V": 35, b"W": 12, b"K": 28, b"J": 35,
    b"h": 21, b"A": 36, b"F": 40, b"E": 31, b"C": 36, b"X": 23, b"D": 19, b"U": 35, b"P": 44,
    b"Q": 40, b"B": 19, b"I": 50, b"N": 20, b"O": 48,
}


# ---- pcap --------------------------------------------------------------------------------------

def read_pcap(path):
    """[(timestamp_ns, frame bytes)] of a classic pcap file."""
    data = open(path, "rb").read()
    if len(data) < 24:
        raise ValueError(f"{path}: not a pcap file ({len(data)} bytes)")
    for endian in "<>":
        (magic,) = struct.unpack_from(endian + "I", data, 0)
        if magic in (0xA1B2C3D4, 0xA1B23C4D):
            break
    else:
        raise ValueError(f"{path}: bad pcap magic {data[:4].hex()}")
    frac = 1 if magic == 0xA1B23C4D else 1000
    out, off = [], 24
    while off < len(data):
        sec, sub, incl, _orig = struct.unpack_from(endian + "IIII", data, off)
        off += 16
        if off + incl > len(data):
            raise ValueError(f"{path}: record at offset {off - 16} runs past the end")
        out.append((sec * 1_000_000_000 + sub * frac, data[off:off + incl]))
        off += incl
    return out


def write_pcap(path, frames, start_ns=1_735_776_000_000_000_000, step_ns=1000):
    """Nanosecond pcap, Ethernet link type; `frames` are bytes (timestamps step_ns apart)."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1))
        t = start_ns
        for fr in frames:
            f.write(struct.pack("<IIII", t // 1_000_000_000, t % 1_000_000_000, len(fr), len(fr)))
            f.write(fr)
            t += step_ns



class FifoFeed:
    """A pcap handed to dadar's net_pcap through a named pipe, a part at a time. Between the parts
    dadar's RX lcore waits in its read, so what a test does there (a rule reload, say) lands at a
    known point of the stream however fast the machine is: a reload answered before the rest is
    written is in force for the rest (the lcore takes it up at the end of the burst its read
    completes, which may hold frames written before). Give dadar `rx_pcap=<feed.path>`."""

    def __init__(self, pcap, fifo):
        data = open(pcap, "rb").read()
        if data[:4] != struct.pack("<I", 0xA1B23C4D):
            raise ValueError(f"{pcap}: not a little-endian nanosecond pcap")
        self.hdr, self.recs, off = data[:24], [], 24
        while off < len(data):
            end = off + 16 + struct.unpack_from("<I", data, off + 8)[0]
            self.recs.append(data[off:end])
            off = end
        self.path, self.fd, self.sent = fifo, None, 0
        if os.path.exists(fifo):
            os.unlink(fifo)
        os.mkfifo(fifo)

    def send(self, proc, upto, timeout=60):
        """Write the frames up to index `upto` (the pcap's header first); False if dadar is gone."""
        deadline = time.monotonic() + timeout
        while self.fd is None:
            try:
                self.fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
                os.set_blocking(self.fd, True)
                os.write(self.fd, self.hdr)
            except OSError as e:  # ENXIO: dadar has not opened it yet
                if e.errno != errno.ENXIO or proc.poll() is not None or time.monotonic() > deadline:
                    return False
                time.sleep(0.001)
        try:
            data = memoryview(b"".join(self.recs[self.sent:upto]))
            while len(data):
                data = data[os.write(self.fd, data):]
        except BrokenPipeError:
            return False
        self.sent = max(self.sent, upto)
        return True

    def pump(self, proc, cond, limit, step=20, settle=0.02):
        """Write `step` frames at a time (each followed by up to `settle` s for dadar to act on them)
        until `cond()` holds; False if it did not by frame `limit` or dadar is gone."""
        while not cond():
            if self.sent >= limit or not self.send(proc, min(limit, self.sent + step)):
                return False
            deadline = time.monotonic() + settle
            while not cond() and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.001)
        return True

    def pump_then_kill(self, proc, enough, limit=None, step=2000, timeout=120):
        """Write `step` frames at a time, never beyond frame `limit` (default: all but the last, so
        dadar cannot finish), until `enough()` holds; once all it may have is written, wait for it
        (up to `timeout` s in all); then SIGKILL `proc` (it alone, by its pid) if it still runs.
        Returns whether it did."""
        deadline = time.monotonic() + timeout
        done = lambda: enough() or time.monotonic() > deadline  # noqa: E731
        self.pump(proc, done, len(self.recs) - 1 if limit is None else limit, step=step)
        while proc.poll() is None and not done():
            time.sleep(0.001)
        running = proc.poll() is None
        if running:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        return running

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

class LineWatch:
    """Counts the whole lines a growing file holds (with `needle` in them, if given), reading on from
    where the last poll stopped: a line a kill cut short is not counted."""

    def __init__(self, p, needle=None):
        self.p, self.needle, self.off, self.n, self.rest = p, needle, 0, 0, b""

    def poll(self):
        try:
            with open(self.p, "rb") as f:
                f.seek(self.off)
                data = f.read()
        except OSError:  # not written yet
            return self.n
        self.off += len(data)
        data = self.rest + data
        cut = data.rfind(b"\n") + 1
        self.n += data.count(self.needle, 0, cut) if self.needle else data.count(b"\n", 0, cut)
        self.rest = data[cut:]
        return self.n


# ---- building frames ---------------------------------------------------------------------------

def ip_bytes(dotted):
    return bytes(int(x) for x in dotted.split("."))


def csum(data):
    """RFC 1071 Internet checksum of `data`."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f">{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def multicast_mac(dst_ip):
    b = ip_bytes(dst_ip) if isinstance(dst_ip, str) else dst_ip
    return bytes([0x01, 0x00, 0x5E, b[1] & 0x7F, b[2], b[3]])


SRC_MAC = bytes.fromhex("020000da0a99")


def eth(payload, ethertype=ETH_IPV4, vlans=(), dst=None, src=SRC_MAC):
    """Ethernet II frame; `vlans` is a list of (tpid, vid) tags, outermost first. No padding."""
    dst = dst or bytes.fromhex("01005e366c6f")
    tags = b"".join(struct.pack(">HH", tpid, vid) for tpid, vid in vlans)
    return dst + src + tags + struct.pack(">H", ethertype) + payload


def ipv4(payload, proto=PROTO_UDP, src="192.0.2.1", dst="233.54.12.111", ident=0, frag=0x4000,
         ttl=64, options=b"", version=4, ihl=None, total=None, good_csum=True):
    """IPv4 header + payload. `frag` is the flags/fragment-offset word (DF by default)."""
    ihl = ihl if ihl is not None else 5 + len(options) // 4
    total = total if total is not None else 20 + len(options) + len(payload)
    hdr = bytearray(struct.pack(">BBHHHBBH4s4s", version << 4 | ihl, 0, total & 0xFFFF, ident, frag, ttl,
                                proto, 0, ip_bytes(src), ip_bytes(dst)) + options)
    c = csum(bytes(hdr))
    if not good_csum:
        c ^= 0x5A5A
    struct.pack_into(">H", hdr, 10, c)
    return bytes(hdr) + payload


def udp(payload, src="192.0.2.1", dst="233.54.12.111", sport=26477, dport=26477, length=None,
        checksum="good"):
    """UDP header + payload; checksum "good", "zero" (none sent) or "bad"."""
    length = length if length is not None else 8 + len(payload)
    seg = bytearray(struct.pack(">HHHH", sport, dport, length & 0xFFFF, 0) + payload)
    if checksum != "zero":
        pseudo = ip_bytes(src) + ip_bytes(dst) + struct.pack(">BBH", 0, PROTO_UDP, len(seg))
        c = csum(pseudo + bytes(seg)) or 0xFFFF
        if checksum == "bad":
            c = c ^ 0x0101 or 0x1234
        struct.pack_into(">H", seg, 6, c)
    return bytes(seg)


def udp_frame(payload, dst="233.54.12.111", port=26477, src="192.0.2.1", vlans=(), pad_to=60, ident=0,
              checksum="good"):
    """A well-formed Ethernet/IPv4/UDP frame, zero padded to `pad_to` bytes like on the wire."""
    f = eth(ipv4(udp(payload, src, dst, port, port, checksum=checksum), src=src, dst=dst, ident=ident),
            vlans=vlans, dst=multicast_mac(dst))
    return f + b"\0" * max(0, pad_to - len(f))


def arp_request(sender="192.0.2.1", target="192.0.2.254"):
    body = struct.pack(">HHBBH6s4s6s4s", 1, ETH_IPV4, 6, 4, 1, SRC_MAC, ip_bytes(sender), b"\0" * 6,
                       ip_bytes(target))
    return eth(body, ETH_ARP, dst=b"\xff" * 6)


# ---- MoldUDP64 and ITCH --------------------------------------------------------------------------

def session_bytes(name):
    return name.encode().ljust(10, b" ")


def mold(seq, msgs, session="DADAR00001", count=None):
    """A MoldUDP64 downstream datagram carrying `msgs` (each framed by its u16 length)."""
    count = len(msgs) if count is None else count
    body = b"".join(struct.pack(">H", len(m)) + m for m in msgs)
    return session_bytes(session) + struct.pack(">QH", seq, count) + body


def heartbeat(next_seq, session="DADAR00001"):
    return session_bytes(session) + struct.pack(">QH", next_seq, 0)


def end_of_session(next_seq, session="DADAR00001"):
    return session_bytes(session) + struct.pack(">QH", next_seq, MOLD_EOS)


def itch(t, locate=0, body=b"", ts=34_200_000_000_000, tracking=0):
    """One ITCH 5.0 message: type, locate, tracking number, 48-bit timestamp, then `body`."""
    return t + struct.pack(">HH", locate, tracking) + ts.to_bytes(6, "big") + body


def stock(sym):
    return sym.encode().ljust(8, b" ")


def itch_system(code, ts=0):
    return itch(b"S", 0, code, ts)


def itch_directory(locate, sym):
    return itch(b"R", locate, stock(sym) + b"Q" + b"N" + struct.pack(">I", 100) + b"N" + b"C" + b"  " +
                b"P" + b"N" + b"N" + b"1" + b"N" + struct.pack(">I", 0) + b"N")


def itch_trading_action(locate, sym, state=b"T"):
    return itch(b"H", locate, stock(sym) + state + b" " + b"    ")


def itch_add(locate, ref, side, shares, sym, price, mpid=None):
    body = struct.pack(">QcI", ref, side, shares) + stock(sym) + struct.pack(">I", price)
    if mpid is None:
        return itch(b"A", locate, body)
    return itch(b"F", locate, body + mpid.encode().ljust(4, b" "))


def itch_exec(locate, ref, shares, match):
    return itch(b"E", locate, struct.pack(">QIQ", ref, shares, match))


def itch_exec_price(locate, ref, shares, match, price, printable=b"Y"):
    return itch(b"C", locate, struct.pack(">QIQcI", ref, shares, match, printable, price))


def itch_cancel(locate, ref, shares):
    return itch(b"X", locate, struct.pack(">QI", ref, shares))


def itch_delete(locate, ref):
    return itch(b"D", locate, struct.pack(">Q", ref))


def itch_replace(locate, old, new, shares, price):
    return itch(b"U", locate, struct.pack(">QQII", old, new, shares, price))


def itch_trade(locate, sym, shares, price, match, side=b"B"):
    return itch(b"P", locate, struct.pack(">QcI", 0, side, shares) + stock(sym) + struct.pack(">IQ", price, match))


def itch_cross(locate, sym, shares, price, match):
    return itch(b"Q", locate, struct.pack(">Q", shares) + stock(sym) + struct.pack(">IQc", price, match, b"O"))


def itch_broken(match):
    return itch(b"B", 0, struct.pack(">Q", match))


def binaryfile(msgs):
    """NASDAQ BinaryFILE framing: u16 big-endian length before each message."""
    return b"".join(struct.pack(">H", len(m)) + m for m in msgs)


def read_binaryfile(path):
    data, out, i = open(path, "rb").read(), [], 0
    while i < len(data):
        (n,) = struct.unpack_from(">H", data, i)
        out.append(data[i + 2:i + 2 + n])
        i += 2 + n
    return out


# ---- what a receiver must make of a frame ------------------------------------------------------

def frame_verdict(f, check_ip=True, check_udp=False):
    """("udp", (dst_ip, dst_port, payload)) or (reason, None), reason as dadar names it."""
    if len(f) < 14:
        return "eth_short", None
    off = 12
    (etype,) = struct.unpack_from(">H", f, off)
    tags = 0
    while etype in (ETH_VLAN, ETH_QINQ):
        if tags == 2 or len(f) < off + 4 + 2:  # at most two tags, each followed by a type
            return "vlan_short", None
        off += 4
        (etype,) = struct.unpack_from(">H", f, off)
        tags += 1
    off += 2
    if etype != ETH_IPV4:
        return "not_ipv4", None
    ip = f[off:]
    if len(ip) < 20:
        return "ip_short", None
    version, ihl = ip[0] >> 4, (ip[0] & 15) * 4
    (total,) = struct.unpack_from(">H", ip, 2)
    if version != 4 or ihl < 20 or total < ihl or total > len(ip):
        return "ip_bad_header", None
    if check_ip and csum(ip[:ihl]) != 0:
        return "ip_bad_checksum", None
    (frag,) = struct.unpack_from(">H", ip, 6)
    if frag & 0x3FFF:
        return "ip_fragment", None
    if ip[9] != PROTO_UDP:
        return "not_udp", None
    seg = ip[ihl:total]
    if len(seg) < 8:
        return "udp_bad_length", None
    (ulen,) = struct.unpack_from(">H", seg, 4)
    if ulen < 8 or ulen > len(seg):
        return "udp_bad_length", None
    if check_udp:
        (wire,) = struct.unpack_from(">H", seg, 6)
        pseudo = ip[12:20] + struct.pack(">BBH", 0, PROTO_UDP, ulen)
        if wire != 0 and csum(pseudo + seg[:ulen]) != 0:
            return "udp_bad_checksum", None
    dst = ".".join(str(b) for b in ip[16:20])
    (dport,) = struct.unpack_from(">H", seg, 2)
    return "udp", (dst, dport, seg[8:ulen])


def mold_parse(p):
    """(None, (session, seq, count, [messages])) or (reason, None), reason as dadar names it."""
    if len(p) < MOLD_HDR:
        return "short", None
    session, (seq, count) = p[:10], struct.unpack_from(">QH", p, 10)
    if count in (0, MOLD_EOS):
        return (None, (session, seq, count, [])) if len(p) == MOLD_HDR else ("trailing", None)
    if seq == 0 or seq > 2**64 - 1 - count:
        return "bad_seq", None
    off, msgs = MOLD_HDR, []
    for _ in range(count):
        left = len(p) - off
        if left == 0:
            return "count_mismatch", None
        if left < 2 or struct.unpack_from(">H", p, off)[0] > left - 2:
            return "msg_overrun", None
        (n,) = struct.unpack_from(">H", p, off)
        msgs.append(p[off + 2:off + 2 + n])
        off += 2 + n
    if off != len(p):
        return "trailing", None
    return None, (session, seq, count, msgs)


class Received:
    """What a correct receiver counts for a capture (the parts that do not depend on timing)."""

    def __init__(self):
        self.packets = 0
        self.udp = 0
        self.errors = {}      # reason -> count, keys as in dadar's summary "errors" object
        self.datagrams = []   # (line key (dst, port), session, seq, count, [messages]) in arrival order

    def count(self, key, n=1):
        self.errors[key] = self.errors.get(key, 0) + n


def receive(frames, feed_lines=None, check_ip=True, check_udp=False):
    """Classify every frame. `feed_lines`: None for dadar's catch-all feed (every UDP datagram is
    the feed's), or a list of (dst_ip or None, port or None) accepted by the one configured feed."""
    r = Received()
    for f in frames:
        r.packets += 1
        if len(f) > MAX_REASSEMBLED:
            r.count("frame_too_long")
            continue
        v, view = frame_verdict(f, check_ip, check_udp)
        if v != "udp":
            r.count(v)
            continue
        r.udp += 1
        dst, port, payload = view
        if feed_lines is not None and not any((ip is None or ip == dst) and (pt is None or pt == port)
                                              for ip, pt in feed_lines):
            r.count("no_feed")
            continue
        err, d = mold_parse(payload)
        if err:
            r.count("mold_" + err)
            continue
        r.datagrams.append(((dst, port),) + d)
    return r


def data_datagrams(r):
    """The message-bearing datagrams of a Received."""
    return [d for d in r.datagrams if d[3] not in (0, MOLD_EOS)]


def covered_seqs(r):
    """{seq: message} for every message some valid datagram carried."""
    out = {}
    for _line, _s, seq, _count, msgs in data_datagrams(r):
        for i, m in enumerate(msgs):
            out.setdefault(seq + i, m)
    return out


def stream_end(r):
    """One past the last sequence number the capture reveals (messages, heartbeats, end of session)."""
    end = 1
    for _line, _s, seq, count, _msgs in r.datagrams:
        end = max(end, seq if count in (0, MOLD_EOS) else seq + count)
    return end


def ranges(seqs):
    """Sorted maximal runs [first, last] of a set of integers."""
    out = []
    for s in sorted(seqs):
        if out and out[-1][1] == s - 1:
            out[-1][1] = s
        else:
            out.append([s, s])
    return out
