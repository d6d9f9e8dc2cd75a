"""Raw-socket SMTP for the adversarial tests: bytes exactly as written, in
the segments the test chooses, and replies read as they come.

- RawSMTP: a client connection to the listener (optionally upgraded to TLS
  with STARTTLS) that sends raw bytes and reads whole replies.
- serve_conf(): an outpost.conf for `outpost serve` on a free port.
- db helpers: messages and recipients as the queue stored them.
- ChildWatch: records every process that appears under a pid while it runs
  (/proc/PID/task/TID/children), for "never executed" checks.
"""

import os
import socket
import sqlite3
import ssl
import threading
import time


HOST = "127.0.0.1"


class RawSMTP:
    def __init__(self, port, timeout=20):
        self.sock = socket.create_connection((HOST, port), timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.greeting = self.reply()

    def send(self, data):
        """Write data (bytes or str) in one sendall: one segment on
        loopback for anything that fits."""
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def _line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; unread: %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def reply(self):
        """One whole reply: (code, [text lines]).  Each line must end in
        CRLF and carry the same code."""
        lines = []
        code = None
        while True:
            raw = self._line()
            assert raw.endswith(b"\r"), "reply line without CRLF: %r" % raw
            line = raw[:-1].decode("latin-1")
            assert len(line) >= 3 and line[:3].isdigit(), line
            if code is None:
                code = int(line[:3])
            assert int(line[:3]) == code, (code, line)
            lines.append(line[4:])
            if len(line) == 3 or line[3] == " ":
                return code, lines

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def expect(self, line, code):
        got = self.cmd(line)
        assert got[0] == code, "%s -> %r (wanted %d)" % (line, got, code)
        return got

    def replies(self, n):
        return [self.reply() for _ in range(n)]

    def closed(self, timeout=10):
        """True if the server closes the connection (EOF) within timeout
        (bytes it still sends are read and dropped)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except (socket.timeout, TimeoutError):
            return False
        except OSError:
            return True

    def starttls(self, cafile, server_hostname="localhost"):
        ctx = ssl.create_default_context(cafile=str(cafile))
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def db(data_dir):
    return sqlite3.connect("file:%s/queue.db?mode=ro" % data_dir, uri=True,
                           timeout=10)


def query(data_dir, sql, args=()):
    con = db(data_dir)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def messages(data_dir):
    """[(id, sender, state, [recipients], body bytes)] in queue order."""
    out = []
    for mid, qid, sender, state in query(
            data_dir, "SELECT mid, id, sender, state FROM messages ORDER BY mid"):
        rcpts = [r[0] for r in query(
            data_dir, "SELECT address FROM recipients WHERE mid = ? "
            "ORDER BY idx", (mid,))]
        body = query(data_dir, "SELECT body FROM bodies WHERE mid = ?",
                     (mid,))
        out.append((qid, sender, state, rcpts, bytes(body[0][0]) if body
                    else None))
    return out


class ChildWatch:
    """Polls /proc for children of pid (any thread) until stop(); the set
    of child pids seen, with their command lines, is in .seen."""

    def __init__(self, pid, interval=0.002):
        self.pid = pid
        self.interval = interval
        self.seen = {}
        self.polls = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _children(self):
        kids = set()
        try:
            tids = os.listdir("/proc/%d/task" % self.pid)
        except OSError:
            return kids
        for tid in tids:
            try:
                with open("/proc/%d/task/%s/children" % (self.pid, tid)) as f:
                    kids.update(int(k) for k in f.read().split())
            except OSError:
                pass
        return kids

    def _run(self):
        while not self._stop.is_set():
            for k in self._children():
                if k not in self.seen:
                    try:
                        with open("/proc/%d/cmdline" % k, "rb") as f:
                            self.seen[k] = f.read().replace(b"\0", b" ")
                    except OSError:
                        self.seen[k] = b"?"
            self.polls += 1
            time.sleep(self.interval)

    def stop(self):
        self._stop.set()
        self._t.join(5)
        return self.seen
