"""Crashes and faults (issue 6 part 3; docs/security.md): the daemon
killed with SIGKILL over and over while mail flows in and out, its data
directory on a tiny filesystem that fills up, and an upstream server that
vanishes in the middle of a stream of deliveries.

What must hold every time: a message that got "250" is never lost (it is
delivered at least once in the end), nothing is refused for good because
of a local fault, the database stays consistent (PRAGMA integrity_check),
and the daemon either keeps serving or restarts cleanly.

OUTPOST_KILL9_ROUNDS sets the number of kill -9 rounds (default 40 in the
test suite; `OUTPOST_KILL9_ROUNDS=300 scripts/run-integration
tests/adversarial/test_faults.py` is the long run).
"""

import os
import random
import shutil
import signal
import smtplib
import sqlite3
import subprocess
import threading
import time

import pytest

import peers as peers_mod
from daemon import Daemon, free_port, wait_for
from raw import query, serve_conf

SENDER = "app@example.com"


def body(tag, size=0):
    return ("From: %s\r\nSubject: %s\r\n\r\n%s\r\n"
            % (SENDER, tag, ("filler line of text\r\n" * (size // 22))))


def integrity(path):
    con = sqlite3.connect(str(path), timeout=30)
    try:
        return con.execute("PRAGMA integrity_check").fetchall()
    finally:
        con.close()


# ---------------------------------------------------------------------------
# kill -9, again and again

def test_kill9_many_times_loses_no_acknowledged_message(outpost, peers):
    rounds = int(os.environ.get("OUTPOST_KILL9_ROUNDS", "40"))
    peer = peers.aiosmtpd("plain")
    conf, port = serve_conf(outpost, [("up", peers_mod.profile(
        peer.port, max_connections=2))], server={"retry": "1s"})
    data_dir = outpost.tmp_path / "data"
    acked = set()
    lock = threading.Lock()
    rnd = random.Random(6)
    for r in range(rounds):
        d = Daemon(outpost, conf, port)
        stop = threading.Event()

        def submitter(n, r=r, stop=stop):
            i = 0
            while not stop.is_set():
                tag = "k%d-%d-%d" % (r, n, i)
                i += 1
                try:
                    s = smtplib.SMTP("127.0.0.1", port, timeout=5)
                    s.sendmail(SENDER, ["%s@example.com" % tag], body(tag))
                    with lock:
                        acked.add(tag)
                    s.quit()
                except (OSError, smtplib.SMTPException):
                    time.sleep(0.005)

        threads = [threading.Thread(target=submitter, args=(n,))
                   for n in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.05 + rnd.random() * 0.3)
        d.kill9()
        stop.set()
        for t in threads:
            t.join(10)
    assert len(acked) > rounds          # mail did flow between the kills
    d = Daemon(outpost, conf, port)
    try:
        def all_delivered():
            got = {m.rcpt_tos[0].split("@")[0] for m in peer.messages}
            return acked <= got
        wait_for(all_delivered, timeout=120, what="every acknowledged message")
        failed = query(data_dir, "SELECT id, last_error FROM messages "
                       "WHERE state = 'failed'")
        assert failed == []
    finally:
        d.stop(timeout=30)
    assert integrity(data_dir / "queue.db") == [("ok",)]


# ---------------------------------------------------------------------------
# A tiny filesystem that fills up (needs root: its own mount namespace)

class TinyFsDaemon(Daemon):
    """`outpost serve` in a mount namespace of its own, with data_dir on a
    tmpfs of `size`; the test reaches the files through /proc/PID/root."""

    def __init__(self, outpost, conf, smtp_port, mountpoint, size):
        self.mountpoint = mountpoint
        self.size = size
        super().__init__(outpost, conf, smtp_port)

    def start(self):
        env = dict(os.environ)
        env.pop("OUTPOST_CONFIG", None)
        self.logf = open(self.log_path, "ab")
        script = ('mount -t tmpfs -o size=%s,mode=0700 outpost-test "$1" '
                  '&& shift && exec "$@"' % self.size)
        self.proc = subprocess.Popen(
            ["unshare", "-m", "sh", "-c", script, "sh", str(self.mountpoint),
             self.outpost.bin, "-c", str(self.conf), "serve"],
            stdout=self.logf, stderr=self.logf, cwd=self.outpost.tmp_path,
            env=env)
        wait_for(self._listening, timeout=20, what="the listener")

    def _listening(self):
        import socket
        if self.proc.poll() is not None:
            raise AssertionError("serve exited %d:\n%s"
                                 % (self.proc.returncode, self.log()))
        try:
            socket.create_connection(("127.0.0.1", self.smtp_port), 0.2).close()
            return True
        except OSError:
            return False

    def path(self, name):
        return "/proc/%d/root%s/%s" % (self.proc.pid, self.mountpoint, name)


def _can_mount_privately():
    """Root, unshare(1), and a kernel that lets us mount a tmpfs in a
    mount namespace of our own (not so in some containers)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c",
                            "mount -t tmpfs -o size=64k probe /mnt"],
                           capture_output=True, timeout=10)
    return probe.returncode == 0


needs_root = pytest.mark.skipif(not _can_mount_privately(),
                                reason="needs root, unshare(1) and a mount "
                                "namespace for a private tmpfs")


@needs_root
def test_full_filesystem_gives_4xx_never_250_and_recovers(outpost, peers,
                                                          daemons):
    peer = peers.aiosmtpd("plain")
    data_dir = outpost.tmp_path / "data"
    data_dir.mkdir()
    conf, port = serve_conf(outpost, [("up", peers_mod.profile(
        peer.port, enabled=False))], server={"data_dir": str(data_dir)})
    d = TinyFsDaemon(outpost, conf, port, data_dir, "2m")
    daemons.append(d)
    # ballast: most of the space, freed later
    with open(d.path("ballast"), "wb") as f:
        f.write(b"\0" * (1024 * 1024 + 512 * 1024))
    acked, refused = [], []
    s = smtplib.SMTP("127.0.0.1", port, timeout=30)
    for i in range(60):
        tag = "full%d" % i
        try:
            s.sendmail(SENDER, ["%s@example.com" % tag], body(tag, 20000))
            acked.append(tag)
        except smtplib.SMTPDataError as e:
            assert 400 <= e.smtp_code < 500, e      # temporary, never 5xx
            refused.append((tag, e.smtp_code, e.smtp_error))
            if len(refused) >= 3:
                break
        except smtplib.SMTPServerDisconnected:
            s = smtplib.SMTP("127.0.0.1", port, timeout=30)
    s.quit()
    assert acked, "nothing fitted at all"
    assert refused, "the filesystem never filled up"
    assert d.proc.poll() is None, d.log()
    # space comes back: mail is accepted again, and delivered with the rest
    os.unlink(d.path("ballast"))
    s = smtplib.SMTP("127.0.0.1", port, timeout=30)
    for i in range(3):
        tag = "after%d" % i
        s.sendmail(SENDER, ["%s@example.com" % tag], body(tag, 20000))
        acked.append(tag)
    s.quit()
    text = conf.read_text().replace("enabled = no", "enabled = yes")
    conf.write_text(text)
    d.hup()
    wait_for(lambda: {m.rcpt_tos[0].split("@")[0] for m in peer.messages}
             >= set(acked), timeout=60, what="every acknowledged message")
    delivered = [m.rcpt_tos[0].split("@")[0] for m in peer.messages]
    assert not set(t for t, _, _ in refused) & set(delivered)
    assert integrity(d.path("queue.db")) == [("ok",)]


# ---------------------------------------------------------------------------
# An upstream that vanishes mid-delivery

SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"


def start_sink(port, dump):
    args = [SMTP_SINK, "-h", "localhost"]
    if os.geteuid() == 0:
        args += ["-u", "root"]
    args += ["-d", str(dump) + "/%H%M%S.", "127.0.0.1:%d" % port, "16"]
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import socket

    def up():
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            return False
    wait_for(up, what="smtp-sink")
    return p


@pytest.mark.skipif(not os.path.exists(SMTP_SINK), reason="no smtp-sink")
def test_upstream_killed_mid_delivery(outpost, peers, daemons, tmp_path):
    """Postfix's smtp-sink, the first profile's server, is killed with
    SIGKILL in the middle of a stream of 60 messages (connections cut
    mid-DATA, then refused).  Every message still ends "sent": the ones
    cut off are retried, the rest fail over to the second profile; none
    is lost or failed for good."""
    up_port = free_port()
    dump = tmp_path / "sink"
    dump.mkdir()
    backup = peers.aiosmtpd("plain")
    sink = start_sink(up_port, dump)
    try:
        conf, port = serve_conf(outpost, [
            ("main", peers_mod.profile(up_port, max_connections=3)),
            ("backup", peers_mod.profile(backup.port))],
            server={"retry": "1s"})
        d = Daemon(outpost, conf, port)
        daemons.append(d)
        s = smtplib.SMTP("127.0.0.1", port, timeout=30)
        for i in range(60):
            if i == 20:
                sink.send_signal(signal.SIGKILL)    # gone, mid-stream
                sink.wait(10)
            d.send(SENDER, ["v%d@example.com" % i], body("v%d" % i, 30000),
                   session=s)
        s.quit()
        data_dir = outpost.tmp_path / "data"

        def all_sent():
            rows = query(data_dir, "SELECT state, count(*) FROM messages "
                         "GROUP BY state")
            return dict(rows).get("sent") == 60
        wait_for(all_sent, timeout=120, what="60 deliveries")
        used = dict(query(data_dir, "SELECT profile_used, count(*) FROM "
                          "messages GROUP BY profile_used"))
        assert used.get("backup", 0) >= 40, used
        assert "event=failover profile=main" in d.log()
        got = {m.rcpt_tos[0] for m in backup.messages}
        assert {"v%d@example.com" % i for i in range(20, 60)} <= got
    finally:
        if sink.poll() is None:
            sink.terminate()
            sink.wait(10)
