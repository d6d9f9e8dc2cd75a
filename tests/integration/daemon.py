"""Running `outpost serve` in a test, and submitting mail to it.

Daemon starts the binary under test on free loopback ports, waits until
its SMTP listener answers, and stops it with SIGTERM, asserting a clean
exit (0, no sanitizer report).  A daemon that is gone before the test
stops it fails the test too, unless the test ended it on purpose
(kill9(), expect_exit()).  The log (stderr) is kept in a file.
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


_handed_out = set()


def free_port():
    """A free port on HOST, never one this process was given before: the
    kernel may hand the same free port to two binds in a row (an SMTP and
    an HTTP listener of one daemon, say) once the first socket is closed."""
    while True:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((HOST, 0))
        port = s.getsockname()[1]
        s.close()
        if port not in _handed_out:
            _handed_out.add(port)
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


def serve_conf(outpost, profiles=(), server=None, raw=""):
    """An outpost.conf for `outpost serve` (listener on a free port, no
    HTTP unless asked, short retries).  Returns (path, smtp port)."""
    port = free_port()
    srv = {"smtp_listen": "%s:%d" % (HOST, port), "http_listen": "",
           "retry": "1s, 1s, 2s"}
    srv.update(server or {})
    return outpost.conf(profiles, server=srv, raw=raw), port


class Run:
    """A finished subprocess (bytes out): rc, out and err as text."""

    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout.decode("utf-8", "replace")
        self.err = proc.stderr.decode("utf-8", "replace")

    def __repr__(self):
        return "rc=%d\n--- stdout\n%s--- stderr\n%s" % (self.rc, self.out,
                                                        self.err)


def port_open(port, host=HOST):
    """1 if something listens on host:port (a connection is made)."""
    try:
        socket.create_connection((host, port), 0.2).close()
        return True
    except OSError:
        return False


def wait_listening(port, what):
    """Poll until something listens on 127.0.0.1:port."""
    wait_for(lambda: port_open(port), what=what)


class Daemon:
    def __init__(self, outpost, conf, smtp_port, http_port=None, wait=True):
        self.outpost = outpost
        self.conf = conf
        self.smtp_port = smtp_port
        self.http_port = http_port
        self.log_path = outpost.tmp_path / ("serve-%d.log" % time.monotonic_ns())
        self.proc = None
        self.expected_exits = set()
        self.checked = False
        self.start(wait)

    def start(self, wait=True):
        """Run `outpost serve`; with wait, return once its SMTP listener
        answers (without, at once: a crash test kills it while it comes
        up)."""
        env = dict(os.environ)
        env.pop("OUTPOST_CONFIG", None)
        self.expected_exits = set()
        self.checked = False
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.outpost.bin, "-c", str(self.conf), "serve"],
            stdout=self.logf, stderr=self.logf, cwd=self.outpost.tmp_path,
            env=env)
        if not wait:
            return
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
        self.proc.kill()
        self.proc.wait(10)
        self.logf.close()
        raise AssertionError("outpost serve did not listen:\n" + self.log())

    def log(self):
        return self.log_path.read_text(errors="replace")

    def hup(self):
        self.proc.send_signal(signal.SIGHUP)

    def expect_exit(self, *codes):
        """Say that the test itself ends the daemon otherwise than with
        stop()'s SIGTERM: an exit with one of these codes (negative: the
        signal that killed it, as subprocess reports it) is then no
        failure.  A sanitizer report in the log still is."""
        self.expected_exits = set(codes)

    def kill9(self):
        """SIGKILL on purpose (a crash test).  The daemon must still be
        running until then: one that died by itself before, with a
        sanitizer report or any other code, fails the test here."""
        exited_before = self.proc.poll()
        self.expect_exit(-signal.SIGKILL)
        self.proc.kill()
        self.proc.wait(10)
        self.logf.close()
        self._check(self.proc.returncode, exited_before)

    def stop(self, timeout=15):
        """SIGTERM; assert exit 0 within timeout and a clean log.  Returns
        the seconds the stop took (0.0 if the daemon had exited already).

        A daemon that exited before (a sanitizer abort, a crash, a fatal
        error) fails the test here too, unless the test said so with
        expect_exit() or kill9(); its log is checked in every case."""
        if self.proc is None:
            return None
        if self.checked:
            return 0.0
        exited_before = self.proc.poll()
        t0 = time.monotonic()
        if exited_before is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            self.logf.close()
            self.checked = True
            raise AssertionError("serve did not exit within %s s of SIGTERM:"
                                 "\n%s" % (timeout, self.log()))
        elapsed = time.monotonic() - t0 if exited_before is None else 0.0
        self.logf.close()
        self._check(rc, exited_before)
        return elapsed

    def _check(self, rc, exited_before):
        """Fail on a sanitizer report or an exit nobody asked for."""
        self.checked = True
        log = self.log()
        assert rc not in conftest.SANITIZER_EXITS, \
            "serve exited %d (sanitizer):\n%s" % (rc, log)
        for mark in conftest.SANITIZER_MARKS:
            assert mark not in log, "sanitizer report (%s):\n%s" % (mark, log)
        if rc in self.expected_exits:
            return
        if exited_before is not None:
            raise AssertionError("serve exited %d before the test stopped "
                                 "it:\n%s" % (rc, log))
        assert rc == 0, "serve exited %d:\n%s" % (rc, log)

    def send(self, sender, rcpts, body, session=None):
        """Hand one message to the listener; returns the 250 reply text."""
        own = session is None
        s = session or smtplib.SMTP(HOST, self.smtp_port, timeout=30, local_hostname="localhost")
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
