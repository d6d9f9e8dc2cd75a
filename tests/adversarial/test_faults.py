"""Crashes and faults (issue 6 part 3; docs/security.md): the daemon
killed with SIGKILL over and over while mail flows in and out, its data
directory on a tiny filesystem that fills up, and an upstream server that
vanishes in the middle of a transaction (scripted: cut off in the body or
after the final dot) or of a stream of deliveries (smtp-sink killed).

What must hold every time: a message that got "250" is never lost (it is
delivered at least once in the end), one that was refused or cut off
before its final dot is never delivered, nothing is refused for good
because of a local fault, the database stays consistent (PRAGMA
integrity_check), and the daemon either keeps serving or restarts cleanly.

OUTPOST_KILL9_ROUNDS sets the number of kill -9 rounds (default 200 in
the test suite; `OUTPOST_KILL9_ROUNDS=1000 scripts/run-integration
tests/adversarial/test_faults.py` is the long run).
"""

import json
import os
import random
import shutil
import signal
import smtplib
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time

import pytest

import peers as peers_mod
from daemon import Daemon, free_port, serve_conf, wait_for, wait_listening
from raw import query

SENDER = "app@example.com"


def body(tag, size=0):
    return ("From: %s\r\nSubject: %s\r\n\r\n%s\r\n"
            % (SENDER, tag, ("filler line of text\r\n" * (size // 22))))


def integrity(path):
    """PRAGMA integrity_check over a read-only connection: it reads the
    -wal file as the daemon left it, and (unlike a read-write one) does
    not checkpoint it into the file when it closes, so the next start
    still has to recover it by itself."""
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=30)
    try:
        return con.execute("PRAGMA integrity_check").fetchall()
    finally:
        con.close()


# ---------------------------------------------------------------------------
# kill -9, again and again

class Outcomes:
    """What each submission got, by tag (the recipient's local part):
    acked - "250" to the final dot;
    refused - no final dot sent (connection lost or refused before it was
      all written) or any other reply to it, or an error reply earlier;
    unknown - the final dot was sent but no reply came (the daemon died
      in between): it may or may not have been stored."""

    def __init__(self):
        self.lock = threading.Lock()
        self.acked, self.refused, self.unknown = set(), set(), set()

    def add(self, kind, tag):
        with self.lock:
            getattr(self, kind).add(tag)


def submit_one(port, tag, out):
    """One message over a new connection, recorded in out."""
    try:
        s = smtplib.SMTP("127.0.0.1", port, timeout=5, local_hostname="localhost")
    except (OSError, smtplib.SMTPException):
        return                      # never connected: nothing was sent
    try:
        try:
            ok = (s.ehlo("localhost")[0] == 250
                  and s.mail(SENDER)[0] == 250
                  and s.rcpt("%s@example.com" % tag)[0] == 250
                  and s.docmd("DATA")[0] == 354)
        except (OSError, smtplib.SMTPException):
            ok = False
        if not ok:
            out.add("refused", tag)
            return
        data = body(tag).encode("ascii")       # CRLF, no line starts "."
        try:
            s.send(data + b".\r\n")
        except (OSError, smtplib.SMTPException):
            out.add("refused", tag)  # the final dot not (all) written
            return
        try:
            code, _ = s.getreply()
        except (OSError, smtplib.SMTPException):
            out.add("unknown", tag)
            return
        out.add("acked" if code == 250 else "refused", tag)
        try:
            s.quit()
        except (OSError, smtplib.SMTPException):
            pass
    finally:
        s.close()


def test_kill9_many_times_loses_no_acknowledged_message(outpost, peers):
    """kill -9 at random moments, OUTPOST_KILL9_ROUNDS times (default 200):
    while three clients submit and deliveries run, and (every fourth
    round) within 60 ms of the start, while the queue is opened, created
    (round 0) or recovered and the listener comes up.  After each kill
    the database passes PRAGMA integrity_check.  In the end every message
    that got 250 is delivered at least once, none that was refused or cut
    off before its final dot is delivered or even stored, and none failed."""
    rounds = int(os.environ.get("OUTPOST_KILL9_ROUNDS", "200"))
    peer = peers.aiosmtpd("plain")
    conf, port = serve_conf(outpost, [("up", peers_mod.profile(
        peer.port, max_connections=2))], server={"retry": "1s"})
    data_dir = outpost.tmp_path / "data"
    out = Outcomes()
    rnd = random.Random(6)
    early = 0
    for r in range(rounds):
        if r % 4 == 0:
            # kill while it starts: opening (or creating) the queue,
            # recovering claimed mail, binding the listener
            d = Daemon(outpost, conf, port, wait=False)
            time.sleep(rnd.random() * 0.06)
            d.kill9()
            early += 1
        else:
            d = Daemon(outpost, conf, port)
            stop = threading.Event()

            def submitter(n, r=r, stop=stop):
                i = 0
                while not stop.is_set():
                    submit_one(port, "k%d-%d-%d" % (r, n, i), out)
                    i += 1

            threads = [threading.Thread(target=submitter, args=(n,))
                       for n in range(3)]
            for t in threads:
                t.start()
            time.sleep(0.03 + rnd.random() * 0.25)
            d.kill9()
            stop.set()
            for t in threads:
                t.join(10)
        db = data_dir / "queue.db"
        if db.exists():
            assert integrity(db) == [("ok",)], "after round %d" % r
    assert len(out.acked) > rounds          # mail did flow between the kills
    assert out.refused, "no submission was ever cut off: kills too late"
    d = Daemon(outpost, conf, port)
    try:
        def delivered():
            return {m.rcpt_tos[0].split("@")[0] for m in peer.messages}

        def drained():
            left = query(data_dir, "SELECT count(*) FROM messages WHERE "
                         "state IN ('queued', 'deferred', 'sending')")
            return left[0][0] == 0 and out.acked <= delivered()
        wait_for(drained, timeout=120, what="every acknowledged message")
        failed = query(data_dir, "SELECT id, last_error FROM messages "
                       "WHERE state = 'failed'")
        assert failed == []
        stored = {a.split("@")[0] for (a,) in query(
            data_dir, "SELECT address FROM recipients")}
    finally:
        d.stop(timeout=30)
    got = delivered()
    assert out.acked <= got
    assert not (out.refused & got), sorted(out.refused & got)[:10]
    assert not (out.refused & stored), sorted(out.refused & stored)[:10]
    assert got <= out.acked | out.unknown, sorted(got - out.acked
                                                  - out.unknown)[:10]
    assert integrity(data_dir / "queue.db") == [("ok",)]
    print("kill -9: %d rounds (%d early), %d acked, %d refused or cut off, "
          "%d unknown (%d of them delivered)"
          % (rounds, early, len(out.acked), len(out.refused),
             len(out.unknown), len(out.unknown & got)))


# ---------------------------------------------------------------------------
# A tiny filesystem that fills up (needs root: its own mount namespace)

class TinyFsDaemon(Daemon):
    """`outpost serve` in a mount namespace of its own, with data_dir on a
    tmpfs of `size`; the test reaches the files through /proc/PID/root."""

    def __init__(self, outpost, conf, smtp_port, mountpoint, size):
        self.mountpoint = mountpoint
        self.size = size
        super().__init__(outpost, conf, smtp_port)

    def start(self, wait=True):
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

    def integrity(self, name):
        """integrity() of a database on the tmpfs, run inside the daemon's
        mount namespace (nsenter): SQLite resolves the symbolic links of a
        path itself, and /proc/PID/root would lead it to the directory
        under the mount, in this namespace."""
        script = ("import json, sqlite3, sys\n"
                  "con = sqlite3.connect('file:%s?mode=ro' % sys.argv[1],"
                  " uri=True, timeout=30)\n"
                  "print(json.dumps(con.execute('PRAGMA integrity_check')"
                  ".fetchall()))\n")
        r = subprocess.run(["nsenter", "-t", str(self.proc.pid), "-m",
                            sys.executable, "-c", script,
                            "%s/%s" % (self.mountpoint, name)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return [tuple(row) for row in json.loads(r.stdout)]


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
    s = smtplib.SMTP("127.0.0.1", port, timeout=30, local_hostname="localhost")
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
            s = smtplib.SMTP("127.0.0.1", port, timeout=30, local_hostname="localhost")
    s.quit()
    assert acked, "nothing fitted at all"
    assert refused, "the filesystem never filled up"
    assert d.proc.poll() is None, d.log()
    # space comes back: mail is accepted again, and delivered with the rest
    os.unlink(d.path("ballast"))
    s = smtplib.SMTP("127.0.0.1", port, timeout=30, local_hostname="localhost")
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
    assert d.integrity("queue.db") == [("ok",)]
    # (not integrity(d.path(...)): see TinyFsDaemon.integrity)
    assert not (data_dir / "queue.db").exists()


# ---------------------------------------------------------------------------
# An upstream that vanishes mid-delivery

class VanishingUpstream:
    """A scripted upstream (peers.ScriptedPeer) that takes the first
    connection up to DATA, then vanishes: it stops listening (later
    connections are refused) and drops the connection, either
    "mid-body" (after about 64 KB of the message: a FIN, the rest of
    the message read and dropped, no reply), "mid-body-rst" (a reset
    there), or "after-dot" (the whole message and its final dot read, a
    FIN, no reply ever sent)."""

    CUT = 64 * 1024

    def __init__(self, peers, how):
        self.how = how
        self.got = []           # the message lines read before vanishing
        self.peer = peers.scripted(self.script)

    def vanish(self, conn):
        try:
            self.peer.sock.shutdown(socket.SHUT_RDWR)   # no more accepts
        except OSError:
            pass
        if self.how == "mid-body-rst":
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
        elif self.how == "mid-body":
            # a FIN, then the rest read and dropped (closing with unread
            # bytes would send a reset instead)
            conn.sock.shutdown(socket.SHUT_WR)
            try:
                while conn.sock.recv(65536):
                    pass
            except OSError:
                pass
        conn.sock.close()

    def data(self, conn, line):
        conn.send("354 End data with <CR><LF>.<CR><LF>")
        n = 0
        while True:
            line = conn.readline()
            if line is None:
                return True
            self.got.append(line)
            n += len(line) + 2
            if line == "." and self.how == "after-dot":
                break
            if line == "." or (self.how != "after-dot" and n >= self.CUT):
                break
        self.vanish(conn)
        return True

    def script(self, conn):
        ok = "250 2.0.0 Ok"
        peers_mod.answer_commands(
            conn, "220 localhost ESMTP vanishing",
            ("250-localhost", "250-PIPELINING", "250 SIZE 0"),
            {"MAIL": ok, "RCPT": ok, "RSET": ok, "NOOP": ok,
             "DATA": self.data}, "502 5.5.2 Not here")


@pytest.mark.parametrize("how", ["mid-body", "mid-body-rst", "after-dot"])
def test_upstream_vanishes_mid_transaction(outpost, peers, daemons, how):
    """The first profile's server goes away in the middle of DATA (cut
    off in the body, or after the final dot before any reply).  The
    message is deferred - not failed, not lost - and the next attempt,
    finding that server gone, goes to the second profile's server and
    delivers it: two attempts in its history."""
    flaky = VanishingUpstream(peers, how)
    good = peers.aiosmtpd("plain")
    conf, port = serve_conf(outpost, [
        ("flaky", peers_mod.profile(flaky.peer.port)),
        ("good", peers_mod.profile(good.port))],
        server={"retry": "3s"})
    d = Daemon(outpost, conf, port)
    daemons.append(d)
    data_dir = outpost.tmp_path / "data"
    text = body("vanish-" + how, 300 * 1024)
    mid = d.send(SENDER, ["v@example.com"], text).rsplit(" ", 1)[-1]

    def row():
        return query(data_dir, "SELECT state, attempts FROM messages "
                     "WHERE id = ?", (mid,))[0]
    # first attempt: cut off, so deferred (a temporary failure), no more
    wait_for(lambda: row()[0] != "queued" and row()[0] != "sending",
             timeout=30, what="the first attempt")
    assert row() == ("deferred", 1), row()
    assert query(data_dir, "SELECT r.state FROM recipients r JOIN messages "
                 "USING (mid) WHERE id = ?", (mid,)) == [("deferred",)]
    assert good.messages == []
    if how == "after-dot":
        assert flaky.got[-1] == "."         # it had it all: outcome unknown
    else:
        assert "." not in flaky.got
    # the retry: flaky is gone (connection refused), good takes it
    wait_for(lambda: row()[0] == "sent", timeout=30, what="the retry")
    res = outpost.run("queue", "show", mid, "--json", conf=conf)
    assert res.rc == 0, res
    shown = json.loads(res.out)
    kinds = [e["kind"] for e in shown["events"]]
    assert shown["state"] == "sent" and shown["attempts"] >= 2, shown
    assert shown["profile_used"] == "good", shown
    # deferred (attempt 1), then, in attempt 2, a failover away from the
    # vanished server and sent (made from the recipient row at read time:
    # within the same second its place among the stored events varies)
    assert "deferred" in kinds and "sent" in kinds, kinds
    assert kinds.index("deferred") < kinds.index("sent"), kinds
    assert kinds.index("deferred") < kinds.index("failover"), kinds
    deferred = [e["text"] for e in shown["events"] if e["kind"] == "deferred"]
    assert "via flaky" in deferred[0] and "data phase" in deferred[0], deferred
    assert sum(k in ("deferred", "sent") for k in kinds) >= 2, kinds
    assert shown["recipients"][0]["attempts"] >= 2, shown
    assert len(good.messages) == 1
    assert good.messages[0].content.replace(b"\r\n", b"\n").endswith(
        text.replace("\r\n", "\n").encode()), "the message arrived changed"


SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"


def start_sink(port, dump):
    args = [SMTP_SINK, "-h", "localhost"]
    if os.geteuid() == 0:
        args += ["-u", "root"]
    args += ["-d", str(dump) + "/%H%M%S.", "127.0.0.1:%d" % port, "16"]
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(port, "smtp-sink")
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
        s = smtplib.SMTP("127.0.0.1", port, timeout=30, local_hostname="localhost")
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
