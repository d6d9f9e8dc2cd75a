"""Running `outpost serve` in a test, and submitting mail to it.

Daemon starts the binary under test on free loopback ports, waits until
its SMTP listener answers, and stops it with SIGTERM, asserting a clean
exit (0, no sanitizer report).  The log (stderr) is kept in a file.
"""

import os
import signal
import smtplib
import socket
import sqlite3
import subprocess
import time

import conftest

HOST = "127.0.0.1"


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout=20.0, step=0.05, what="condition"):
    """Poll pred() until it is true; fail with what after timeout."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("timed out waiting for %s" % what)


class Daemon:
    def __init__(self, outpost, conf, smtp_port, http_port=None):
        self.outpost = outpost
        self.conf = conf
        self.smtp_port = smtp_port
        self.http_port = http_port
        self.log_path = outpost.tmp_path / ("serve-%d.log" % time.monotonic_ns())
        self.proc = None
        self.start()

    def start(self):
        env = dict(os.environ)
        env.pop("OUTPOST_CONFIG", None)
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.outpost.bin, "-c", str(self.conf), "serve"],
            stdout=self.logf, stderr=self.logf, cwd=self.outpost.tmp_path,
            env=env)
        end = time.monotonic() + 20
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError("outpost serve exited %d:\n%s"
                                     % (self.proc.returncode, self.log()))
            try:
                socket.create_connection((HOST, self.smtp_port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("outpost serve did not listen:\n" + self.log())

    def log(self):
        return self.log_path.read_text(errors="replace")

    def hup(self):
        self.proc.send_signal(signal.SIGHUP)

    def kill9(self):
        self.proc.kill()
        self.proc.wait(10)
        self.logf.close()

    def stop(self, timeout=15):
        """SIGTERM; assert exit 0 within timeout and a clean log."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout)
        elapsed = time.monotonic() - t0
        self.logf.close()
        log = self.log()
        assert rc not in conftest.SANITIZER_EXITS, log
        for mark in conftest.SANITIZER_MARKS:
            assert mark not in log, log
        assert rc == 0, "serve exited %d:\n%s" % (rc, log)
        return elapsed

    def send(self, sender, rcpts, body, session=None):
        """Hand one message to the listener; returns the 250 reply text."""
        own = session is None
        s = session or smtplib.SMTP(HOST, self.smtp_port, timeout=30)
        try:
            s.ehlo("localhost")
            s.mail(sender)
            for r in rcpts:
                code, msg = s.rcpt(r)
                assert code == 250, (code, msg)
            code, msg = s.data(body)
            assert code == 250, (code, msg)
            return msg.decode()
        finally:
            if own:
                s.quit()

    def db(self, data_dir):
        """A read-only connection to the queue database."""
        return sqlite3.connect("file:%s/queue.db?mode=ro" % data_dir, uri=True,
                               timeout=10)


def message(subject, to="rcpt@example.com", sender="app@example.com",
            body="Hello.\r\n"):
    return ("From: %s\r\nTo: %s\r\nSubject: %s\r\n\r\n%s"
            % (sender, to, subject, body))


def queue_id(reply):
    """The id in "2.0.0 Ok: queued as ID"."""
    return reply.rsplit(" ", 1)[-1]
