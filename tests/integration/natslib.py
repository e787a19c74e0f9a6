"""A minimal NATS client for the tests, and a JetStream server they start.

Written from the NATS client protocol (INFO, CONNECT, PING/PONG, SUB, PUB, MSG/HMSG) and the
JetStream API subjects ($JS.API.STREAM.INFO.<stream>, $JS.API.STREAM.MSG.GET.<stream>), not from
libnats: the tests read back what dadar's bridge (libnats) published through a second, independent
client.
"""
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import time


class Nats:
    def __init__(self, port, host="127.0.0.1", timeout=5.0):
        self.s = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        line = self._line()
        if not line.startswith(b"INFO "):
            raise RuntimeError(f"not a NATS server: {line[:80]!r}")
        self.info = json.loads(line[5:])
        self._send(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true,'
                   b'"protocol":1}\r\nPING\r\n')
        self._expect_pong()
        self.sid = 0
        self.inbox = f"_INBOX.dadartest.{os.getpid()}.{time.monotonic_ns()}"
        self._send(f"SUB {self.inbox}.* 1\r\n".encode())

    def close(self):
        self.s.close()

    def _send(self, b):
        self.s.sendall(b)

    def _fill(self):
        chunk = self.s.recv(1 << 16)
        if not chunk:
            raise ConnectionError("the NATS server closed the connection")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _bytes(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        b, self.buf = self.buf[:n], self.buf[n + 2:]
        return b

    def _expect_pong(self):
        while True:
            line = self._line()
            if line == b"PONG":
                return
            if line == b"PING":
                self._send(b"PONG\r\n")
            elif line.startswith(b"-ERR"):
                raise RuntimeError(line.decode())

    def _next_msg(self):
        """(subject, headers bytes, payload bytes) of the next MSG/HMSG; answers PINGs."""
        while True:
            line = self._line()
            if line == b"PING":
                self._send(b"PONG\r\n")
                continue
            if line.startswith(b"-ERR"):
                raise RuntimeError(line.decode())
            parts = line.split()
            if parts and parts[0] == b"MSG":
                n = int(parts[-1])
                return parts[1].decode(), b"", self._bytes(n)
            if parts and parts[0] == b"HMSG":
                hl, tl = int(parts[-2]), int(parts[-1])
                b = self._bytes(tl)
                return parts[1].decode(), b[:hl], b[hl:]

    def request(self, subject, payload=b""):
        self.sid += 1
        reply = f"{self.inbox}.{self.sid}"
        self._send(f"PUB {subject} {reply} {len(payload)}\r\n".encode() + payload + b"\r\n")
        while True:
            subj, hdr, data = self._next_msg()
            if subj == reply:
                if hdr.startswith(b"NATS/1.0 503"):
                    raise RuntimeError(f"no responders for {subject} (is JetStream on?)")
                return data

    def publish(self, subject, payload, headers=None):
        """Publish and wait for JetStream's acknowledgement (the JSON of the reply)."""
        self.sid += 1
        reply = f"{self.inbox}.{self.sid}"
        if headers:
            h = ("NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
            self._send(f"HPUB {subject} {reply} {len(h)} {len(h) + len(payload)}\r\n".encode() + h + payload + b"\r\n")
        else:
            self._send(f"PUB {subject} {reply} {len(payload)}\r\n".encode() + payload + b"\r\n")
        while True:
            subj, _hdr, data = self._next_msg()
            if subj == reply:
                return json.loads(data)

    def stream_info(self, stream):
        r = json.loads(self.request(f"$JS.API.STREAM.INFO.{stream}"))
        if "error" in r:
            return None
        return r

    def stream_msg(self, stream, seq):
        """(subject, {header: value}, data) of message `seq`, or None if the stream has none there."""
        r = json.loads(self.request(f"$JS.API.STREAM.MSG.GET.{stream}", json.dumps({"seq": seq}).encode()))
        if "error" in r:
            return None
        m = r["message"]
        headers = {}
        if m.get("hdrs"):
            for ln in base64.b64decode(m["hdrs"]).decode().split("\r\n")[1:]:
                if ":" in ln:
                    k, v = ln.split(":", 1)
                    headers[k.strip()] = v.strip()
        return m["subject"], headers, base64.b64decode(m.get("data", ""))

    def stream_all(self, stream):
        info = self.stream_info(stream)
        if info is None:
            return []
        st = info["state"]
        out = []
        for seq in range(st["first_seq"], st["last_seq"] + 1) if st["messages"] else []:
            m = self.stream_msg(stream, seq)
            if m is not None:
                out.append(m)
        return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """nats-server with JetStream on a free port, storing in `store`."""

    def __init__(self, store, port=None):
        self.exe = shutil.which("nats-server")
        if self.exe is None:
            raise FileNotFoundError("nats-server is not installed (Debian: apt-get install nats-server)")
        self.store = store
        self.port = port or free_port()
        self.p = None

    def start(self):
        self.log = open(os.path.join(self.store, f"nats-{self.port}.log"), "ab")
        self.p = subprocess.Popen([self.exe, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", self.store],
                                  stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                c = Nats(self.port, timeout=1.0)
                c.close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nats-server did not start on port {self.port}")

    def kill(self):
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
            self.p.wait()
        if self.p:
            self.log.close()
        self.p = None

    def url(self):
        return f"nats://127.0.0.1:{self.port}"
