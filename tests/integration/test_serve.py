"""`outpost serve` against independent peers: the listener, the queue and
delivery together (issue 3).  Peers: aiosmtpd with fault injection, and
Postfix's smtp-sink."""

import asyncio
import email
import email.policy
import json
import os
import random
import signal
import smtplib
import socket
import sqlite3
import subprocess
import threading
import time

import pytest

import daemon as dmod
import peers as peers_mod
from daemon import Daemon, free_port, message, queue_id, serve_conf, wait_for


class FaultHandler(peers_mod.PeerHandler):
    """aiosmtpd handler that answers DATA from a script of replies
    ("451 ...", "drop" = close the connection after the final dot without
    a reply, "tarpit" = no reply for TARPIT_S, then 451, None = accept),
    then accepts; records arrival times."""

    TARPIT_S = 15

    def __init__(self, data_script=(), mail_script=(), **kw):
        super().__init__(**kw)
        self.data_script = list(data_script)
        self.mail_script = list(mail_script)   # replies to MAIL, then accept
        self.times = []
        self.connections = 0
        self.tarpitted = 0

    async def handle_EHLO(self, server, session, envelope, hostname,
                          responses):
        with self.lock:
            self.connections += 1
        return await super().handle_EHLO(server, session, envelope, hostname,
                                         responses)

    async def handle_MAIL(self, server, session, envelope, address,
                          mail_options):
        with self.lock:
            step = self.mail_script.pop(0) if self.mail_script else None
        if step is not None:
            return step
        return await super().handle_MAIL(server, session, envelope, address,
                                         mail_options)

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            step = self.data_script.pop(0) if self.data_script else None
        if step == "drop":
            # the whole message arrived, but the client never hears 250
            with self.lock:
                self.messages.append(peers_mod.Delivered(
                    envelope.mail_from, envelope.rcpt_tos,
                    envelope.original_content or envelope.content, False, None))
            server.transport.abort()
            return "250 2.0.0 never sent"
        if step == "tarpit":
            with self.lock:
                self.tarpitted += 1
            await asyncio.sleep(self.TARPIT_S)
            return "451 4.3.0 Tarpit over"
        if step is not None:
            return step
        with self.lock:
            self.times.append(time.monotonic())
        return await super().handle_DATA(server, session, envelope)


def fault_peer(peers, **kw):
    return peers_mod.use_handler(peers.aiosmtpd("plain"), FaultHandler(**kw))


def start(outpost, daemons, conf, port):
    d = Daemon(outpost, conf, port)
    daemons.append(d)
    return d


def msg_row(d, data_dir, mid):
    con = d.db(data_dir)
    try:
        return con.execute("SELECT state, attempts, profile_used, last_error "
                           "FROM messages WHERE id = ?", (mid,)).fetchone()
    finally:
        con.close()


def rcpt_rows(d, data_dir, mid):
    con = d.db(data_dir)
    try:
        return con.execute(
            "SELECT address, recipients.state, code, enhanced, reply FROM recipients "
            "JOIN messages USING (mid) WHERE id = ? ORDER BY idx",
            (mid,)).fetchall()
    finally:
        con.close()


def events(d, data_dir, mid):
    """The message's events as Outpost shows them (`queue show --json`:
    some are made from the message and recipient rows, not stored)."""
    res = d.outpost.run("queue", "show", mid, "--json", conf=d.conf)
    assert res.rc == 0, res.text
    return [e["kind"] for e in json.loads(res.out)["events"]]


def state_is(d, data_dir, mid, want):
    def pred():
        row = msg_row(d, data_dir, mid)
        return row is not None and row[0] == want
    return pred


def test_many_messages_over_few_connections(outpost, peers, daemons):
    peer = peers.aiosmtpd("plain")
    conf, port = serve_conf(outpost, [("main", peers_mod.profile(
        peer.port, max_connections=2))])
    d = start(outpost, daemons, conf, port)
    s = smtplib.SMTP("127.0.0.1", port, timeout=30, local_hostname="localhost")
    ids = [queue_id(d.send("app@example.com", ["r%d@example.com" % i],
                           message("n%d" % i), session=s)) for i in range(40)]
    s.quit()
    assert len(set(ids)) == 40
    wait_for(lambda: len(peer.messages) >= 40, what="40 deliveries")
    assert sorted(m.rcpt_tos[0] for m in peer.messages) == \
        sorted("r%d@example.com" % i for i in range(40))
    # connections reused: at most max_connections sessions for 40 messages
    # (plus reconnects after idling, which this burst does not reach)
    assert 1 <= len(peer.sessions()) <= 2, len(peer.sessions())
    cmds = peer.sessions()[0].commands()
    assert "RSET" in cmds          # reuse: RSET between messages
    data_dir = outpost.tmp_path / "data"
    wait_for(state_is(d, data_dir, ids[-1], "sent"))
    log = d.log()
    assert "event=delivery id=%s profile=main" % ids[0] in log


def test_delivery_to_smtp_sink(outpost, peers, daemons):
    sink = peers.sink()
    conf, port = serve_conf(outpost, [("sink", peers_mod.profile(sink.port))])
    d = start(outpost, daemons, conf, port)
    mid = queue_id(d.send("app@example.com", ["a@example.com"], message("sink")))
    wait_for(state_is(d, outpost.tmp_path / "data", mid, "sent"))


def test_failover_dead_profile_to_live(outpost, peers, daemons):
    peer = peers.aiosmtpd("plain")
    dead = peers.refused_port()
    conf, port = serve_conf(outpost, [
        ("dead", peers_mod.profile(dead)),
        ("live", peers_mod.profile(peer.port))])
    d = start(outpost, daemons, conf, port)
    mid = queue_id(d.send("app@example.com", ["a@example.com"], message("fo")))
    data_dir = outpost.tmp_path / "data"
    wait_for(state_is(d, data_dir, mid, "sent"))
    state, attempts, used, _ = msg_row(d, data_dir, mid)
    assert used == "live"
    assert attempts == 1           # failing over is not a lost attempt
    assert "failover" in events(d, data_dir, mid)
    assert len(peer.messages) == 1
    assert "event=failover profile=dead" in d.log()


def test_451_on_first_data_then_retry_succeeds(outpost, peers, daemons):
    peer = fault_peer(peers, data_script=["451 4.3.0 Try again later, please"])
    conf, port = serve_conf(outpost, [("main", peers_mod.profile(peer.port))])
    d = start(outpost, daemons, conf, port)
    mid = queue_id(d.send("app@example.com", ["a@example.com"], message("451")))
    data_dir = outpost.tmp_path / "data"
    wait_for(state_is(d, data_dir, mid, "sent"))
    state, attempts, used, _ = msg_row(d, data_dir, mid)
    assert attempts == 2
    kinds = events(d, data_dir, mid)
    assert "deferred" in kinds and "sent" in kinds
    assert len(peer.messages) == 1


def test_sent_after_a_failed_attempt_has_no_last_error(outpost, peers,
                                                       daemons):
    """Issue 10 #4: a message that ended well shows no last error (its
    history keeps the 451), in the queue, `queue list` and `queue show`."""
    peer = fault_peer(peers, data_script=["451 4.3.0 Try again later, please"])
    conf, port = serve_conf(outpost, [("main", peers_mod.profile(peer.port))])
    d = start(outpost, daemons, conf, port)
    mid = queue_id(d.send("app@example.com", ["a@example.com"], message("451")))
    data_dir = outpost.tmp_path / "data"
    wait_for(state_is(d, data_dir, mid, "sent"))
    assert msg_row(d, data_dir, mid)[3] is None
    res = outpost.run("queue", "show", mid, "--json", conf=conf)
    assert res.rc == 0, res.text
    shown = json.loads(res.out)
    assert shown["last_error"] is None, shown
    assert any("451" in (e["text"] or "") for e in shown["events"]), shown
    res = outpost.run("queue", "list", conf=conf)
    assert res.rc == 0, res.text
    row = [l for l in res.out.splitlines() if l.startswith(mid)]
    assert row and "451" not in row[0], res.out


def test_550_for_one_of_three_recipients(outpost, peers, daemons):
    peer = peers.aiosmtpd("plain", reject_rcpts=["nobody@example.com"])
    conf, port = serve_conf(outpost, [("main", peers_mod.profile(peer.port))])
    d = start(outpost, daemons, conf, port)
    rcpts = ["a@example.com", "nobody@example.com", "c@example.com"]
    mid = queue_id(d.send("app@example.com", rcpts, message("mixed")))
    data_dir = outpost.tmp_path / "data"
    wait_for(state_is(d, data_dir, mid, "sent"))
    rows = {r[0]: r for r in rcpt_rows(d, data_dir, mid)}
    assert rows["a@example.com"][1:3] == ("sent", 250)
    assert rows["c@example.com"][1:3] == ("sent", 250)
    assert rows["nobody@example.com"][1:4] == ("failed", 550, "5.1.1")
    assert "User unknown" in rows["nobody@example.com"][4]
    assert len(peer.messages) == 1
    assert sorted(peer.messages[0].rcpt_tos) == ["a@example.com", "c@example.com"]


def test_upstream_drops_after_final_dot_is_retried(outpost, peers, daemons):
    peer = fault_peer(peers, data_script=["drop"])
    conf, port = serve_conf(outpost, [("main", peers_mod.profile(peer.port))])
    d = start(outpost, daemons, conf, port)
    mid = queue_id(d.send("app@example.com", ["a@example.com"], message("drop")))
    data_dir = outpost.tmp_path / "data"
    wait_for(state_is(d, data_dir, mid, "sent"))
    # at least once: the dropped copy and the retried one
    assert len(peer.messages) == 2
    assert msg_row(d, data_dir, mid)[1] == 2


def test_redirect_to_enabled_report_addresses_only(outpost, peers, daemons):
    peer = peers.aiosmtpd("plain")
    raw = ("\n[redirect]\nenabled = yes\n\n[report qa@example.com]\n"
           "enabled = yes\n\n[report off@example.com]\nenabled = no\n")
    conf, port = serve_conf(outpost, [("main", peers_mod.profile(peer.port))],
                            raw=raw)
    d = start(outpost, daemons, conf, port)
    mid = queue_id(d.send("app@example.com",
                          ["alice@customer.example", "bob@customer.example"],
                          message("redir", to="alice@customer.example")))
    data_dir = outpost.tmp_path / "data"
    wait_for(state_is(d, data_dir, mid, "sent"))
    assert len(peer.messages) == 1
    m = peer.messages[0]
    assert m.rcpt_tos == ["qa@example.com"]
    parsed = email.message_from_bytes(m.content, policy=email.policy.default)
    orig = str(parsed["X-Original-To"])
    assert "alice@customer.example" in orig and "bob@customer.example" in orig
    for _, state, _, _, reply in rcpt_rows(d, data_dir, mid):
        assert state == "sent" and "redirected to qa@example.com" in reply


def test_sendmail_t_with_bcc_is_delivered_without_bcc(outpost, peers, daemons):
    peer = peers.aiosmtpd("plain")
    conf, port = serve_conf(outpost, [("main", peers_mod.profile(peer.port))])
    start(outpost, daemons, conf, port)
    text = ("From: app@example.com\nTo: to@example.com\nCc: cc@example.com\n"
            "Bcc: hidden@example.com\nSubject: bcc\n\nbody\n")
    r = outpost.run("sendmail", "-t", "-i", conf=conf, stdin=text)
    assert r.rc == 0, r
    wait_for(lambda: len(peer.messages) == 1, what="delivery")
    m = peer.messages[0]
    assert sorted(m.rcpt_tos) == ["cc@example.com", "hidden@example.com",
                                  "to@example.com"]
    assert b"hidden@example.com" not in m.content
    assert b"\nBcc:" not in m.content and not m.content.startswith(b"Bcc:")
    assert b"\r\n" in m.content and b"\n" not in m.content.replace(b"\r\n", b"")


def test_held_until_a_profile_is_enabled_and_sighup(outpost, peers, daemons):
    peer = peers.aiosmtpd("plain")
    conf, port = serve_conf(outpost, [("main", peers_mod.profile(
        peer.port, enabled=False))])
    d = start(outpost, daemons, conf, port)
    mid = queue_id(d.send("app@example.com", ["a@example.com"], message("hold")))
    data_dir = outpost.tmp_path / "data"
    wait_for(state_is(d, data_dir, mid, "held"))
    time.sleep(0.5)
    assert peer.messages == []
    text = conf.read_text().replace("enabled = no", "enabled = yes")
    conf.write_text(text)
    d.hup()
    wait_for(state_is(d, data_dir, mid, "sent"))
    assert len(peer.messages) == 1
    assert "event=reload result=ok" in d.log()


def test_bad_settings_on_sighup_keep_the_old_ones(outpost, peers, daemons):
    peer = peers.aiosmtpd("plain")
    conf, port = serve_conf(outpost, [("main", peers_mod.profile(peer.port))])
    d = start(outpost, daemons, conf, port)
    good = conf.read_text()
    conf.write_text(good + "\n[profile broken]\nport = notaport\n")
    d.hup()
    wait_for(lambda: "kept old settings" in d.log(), what="reload refusal")
    mid = queue_id(d.send("app@example.com", ["a@example.com"], message("x")))
    wait_for(state_is(d, outpost.tmp_path / "data", mid, "sent"))


def test_reload_refusal_is_one_clean_log_line(outpost, peers, daemons):
    """The refused reload lists every problem on its line, separated by
    "; ", with no escaped newline at the end (issue 10)."""
    peer = peers.aiosmtpd("plain")
    conf, port = serve_conf(outpost, [("main", peers_mod.profile(peer.port))])
    d = start(outpost, daemons, conf, port)
    good = conf.read_text()
    first = len(good.splitlines()) + 2
    conf.write_text(good + "\n[profile broken]\nport = notaport\n")
    d.hup()
    wait_for(lambda: "kept old settings" in d.log(), what="reload refusal")
    line = [x for x in d.log().splitlines() if "event=reload" in x][-1]
    want = ('event=reload result="kept old settings" file=%s problems="'
            "%s:%d: [profile broken]: has no host; add host = the provider's "
            "SMTP server (for example smtp.example.com); %s:%d: port: "
            "'notaport' is not a port (1..65535)\"" % (conf, conf, first, conf,
                                                     first + 1))
    assert line.endswith(want), line
    assert "\\n" not in line, line


def test_rate_limit_per_second_is_observed_at_the_peer(outpost, peers, daemons):
    peer = fault_peer(peers)
    conf, port = serve_conf(outpost, [("main", peers_mod.profile(
        peer.port, limits="2/s", max_connections=3))])
    d = start(outpost, daemons, conf, port)
    s = smtplib.SMTP("127.0.0.1", port, timeout=30, local_hostname="localhost")
    for i in range(8):
        d.send("app@example.com", ["r%d@example.com" % i], message("rl%d" % i),
               session=s)
    s.quit()
    wait_for(lambda: len(peer.handler.times) >= 8, what="8 deliveries")
    t = sorted(peer.handler.times)
    # no three arrivals inside one second (small slack for scheduling)
    for i in range(len(t) - 2):
        assert t[i + 2] - t[i] >= 0.9, t
    assert "outpost_rate_limit_waits" not in d.log()   # metrics are not logs


def test_slowdown_reply_pauses_without_burning_attempts(outpost, peers, daemons):
    peer = fault_peer(peers, data_script=["451 4.7.1 Rate limit exceeded, slow down"])
    conf, port = serve_conf(outpost, [("main", peers_mod.profile(peer.port))],
                            server={"retry": "1h"})
    d = start(outpost, daemons, conf, port)
    mid = queue_id(d.send("app@example.com", ["a@example.com"], message("slow")))
    data_dir = outpost.tmp_path / "data"
    # with retry = 1h, only the adaptive pause (seconds) can deliver it soon
    wait_for(state_is(d, data_dir, mid, "sent"), timeout=30)
    assert msg_row(d, data_dir, mid)[1] == 1
    assert "event=slowdown profile=main" in d.log()


def test_force_from_rewrites_envelope_and_header(outpost, peers, daemons):
    peer = peers.aiosmtpd("plain")
    conf, port = serve_conf(outpost, [("main", peers_mod.profile(
        peer.port, **{"from": "verified@example.com", "force_from": True}))])
    d = start(outpost, daemons, conf, port)
    d.send("app@example.com", ["a@example.com"], message("ff"))
    wait_for(lambda: len(peer.messages) == 1, what="delivery")
    m = peer.messages[0]
    assert m.mail_from == "verified@example.com"
    parsed = email.message_from_bytes(m.content, policy=email.policy.default)
    assert parsed["From"].addresses[0].addr_spec == "verified@example.com"
    assert "app@example.com" in str(parsed["Reply-To"])


def test_swaks_hands_over_a_message(outpost, peers, daemons):
    peer = peers.aiosmtpd("plain")
    conf, port = serve_conf(outpost, [("main", peers_mod.profile(peer.port))])
    start(outpost, daemons, conf, port)
    r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % port,
                        "--to", "user@example.com", "--from", "app@example.com",
                        "--helo", "localhost"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "250 2.0.0 Ok: queued as " in r.stdout
    wait_for(lambda: len(peer.messages) == 1, what="delivery")


def test_sigterm_exits_cleanly_and_quickly(outpost, peers, daemons):
    peer = peers.aiosmtpd("plain")
    conf, port = serve_conf(outpost, [("main", peers_mod.profile(peer.port))])
    d = Daemon(outpost, conf, port)
    # an idle client connected: it gets 421 at shutdown
    s = socket.create_connection(("127.0.0.1", port), 5)
    assert s.recv(512).startswith(b"220 ")
    elapsed = d.stop()
    assert elapsed < 6
    rest = s.recv(512)
    assert rest.startswith(b"421 4.3.2"), rest
    s.close()
    assert "event=stopped" in d.log()


def test_second_daemon_on_the_same_data_dir_refuses_naming_the_first(
        outpost, peers, daemons):
    """One daemon per data_dir: a second `serve` (other ports, same
    data_dir) exits 75 naming the first one's PID and the fix; the first
    keeps serving, and sendmail and send still queue while it runs."""
    peer = peers.aiosmtpd("plain")
    conf, port = serve_conf(outpost, [("main", peers_mod.profile(peer.port))])
    d = Daemon(outpost, conf, port)
    daemons.append(d)
    conf2, port2 = serve_conf(outpost,
                              [("main", peers_mod.profile(peer.port))])
    r = outpost.run("serve", conf=conf2, timeout=30)
    assert r.rc == 75, r
    assert "PID %d" % d.proc.pid in r.err, r
    assert "data_dir" in r.err and "outpost.pid" in r.err, r
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port2), 1).close()
    # the first one is untouched, and the commands that write the queue
    # work beside it
    d.send("app@example.com", ["a@example.com"], message("over smtp"))
    r = outpost.run("sendmail", "b@example.com", conf=conf2,
                    stdin="Subject: by sendmail\n\nhi\n")
    assert r.rc == 0, r
    (outpost.tmp_path / "t.txt").write_text("hi\n")
    r = outpost.run("send", "--from", "app@example.com", "--to",
                    "c@example.com", "--subject", "by send", "--text",
                    str(outpost.tmp_path / "t.txt"), conf=conf2)
    assert r.rc == 0, r
    wait_for(lambda: len(peer.messages) == 3, what="three deliveries")
    with open(outpost.tmp_path / "data" / "outpost.pid") as f:
        assert f.read().strip() == str(d.proc.pid)
    # once the first has stopped, the second starts
    d.stop()
    d2 = Daemon(outpost, conf2, port2)
    daemons.append(d2)
    with open(outpost.tmp_path / "data" / "outpost.pid") as f:
        assert f.read().strip() == str(d2.proc.pid)


def test_non_loopback_listener_without_auth_refuses_to_start(outpost):
    conf = outpost.conf([], server={"smtp_listen": "0.0.0.0:%d" % free_port(),
                                    "http_listen": ""})
    r = outpost.run("serve", conf=conf, timeout=20)
    assert r.rc == 78, r
    assert "open relay" in r.err


def test_kill9_during_submission_loses_no_acknowledged_message(outpost, peers):
    """kill -9 the daemon at random moments while clients submit; after a
    restart every message that got a 250 is delivered at least once."""
    peer = peers.aiosmtpd("plain")
    conf, port = serve_conf(outpost, [("main", peers_mod.profile(peer.port))])
    data_dir = outpost.tmp_path / "data"
    acked = set()
    rnd = random.Random(1234)
    for round_ in range(5):
        d = Daemon(outpost, conf, port)
        stop = threading.Event()
        lock = threading.Lock()

        def submitter(n):
            i = 0
            while not stop.is_set():
                try:
                    s = smtplib.SMTP("127.0.0.1", port, timeout=5, local_hostname="localhost")
                    s.ehlo("localhost")
                    tag = "r%d-%d-%d" % (round_, n, i)
                    i += 1
                    s.mail("app@example.com")
                    s.rcpt("%s@example.com" % tag)
                    code, msg = s.data(message(tag))
                    if code == 250:
                        with lock:
                            acked.add(tag)
                    s.quit()
                except (OSError, smtplib.SMTPException):
                    time.sleep(0.01)

        threads = [threading.Thread(target=submitter, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.2 + rnd.random() * 0.6)
        d.kill9()
        stop.set()
        for t in threads:
            t.join(10)
    d = Daemon(outpost, conf, port)
    try:
        def all_delivered():
            got = {m.rcpt_tos[0].split("@")[0] for m in peer.messages}
            return acked <= got
        wait_for(all_delivered, timeout=60, what="every acknowledged message")
        con = d.db(data_dir)
        try:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        finally:
            con.close()
    finally:
        d.stop()
    assert len(acked) > 0


def test_full_hourly_quota_fails_over_to_the_next_profile(outpost, peers, daemons):
    first = peers.aiosmtpd("plain")
    second = peers.aiosmtpd("plain")
    conf, port = serve_conf(outpost, [
        ("quota", peers_mod.profile(first.port, limits="1/h")),
        ("backup", peers_mod.profile(second.port))])
    d = start(outpost, daemons, conf, port)
    data_dir = outpost.tmp_path / "data"
    ids = [queue_id(d.send("app@example.com", ["r%d@example.com" % i],
                           message("q%d" % i))) for i in range(3)]
    for mid in ids:
        wait_for(state_is(d, data_dir, mid, "sent"))
    assert len(first.messages) == 1
    assert len(second.messages) == 2
    for mid in ids:
        assert msg_row(d, data_dir, mid)[1] == 1   # no attempt lost
    assert "event=quota profile=quota" in d.log()


def test_full_quota_waits_without_burning_attempts(outpost, peers, daemons):
    peer = peers.aiosmtpd("plain")
    conf, port = serve_conf(outpost, [("only", peers_mod.profile(
        peer.port, limits="2/h"))])
    d = start(outpost, daemons, conf, port)
    data_dir = outpost.tmp_path / "data"
    ids = [queue_id(d.send("app@example.com", ["r%d@example.com" % i],
                           message("w%d" % i))) for i in range(3)]
    wait_for(lambda: len(peer.messages) == 2, what="two deliveries")
    time.sleep(1.0)
    assert len(peer.messages) == 2
    rows = [msg_row(d, data_dir, mid) for mid in ids]
    waiting = [r for r in rows if r[0] != "sent"]
    assert len(waiting) == 1
    assert waiting[0][0] == "queued" and waiting[0][1] == 0, waiting
    con = d.db(data_dir)
    try:
        due = con.execute("SELECT next_attempt - strftime('%s','now') FROM "
                          "messages WHERE state = 'queued'").fetchone()[0]
    finally:
        con.close()
    assert due > 3000        # about an hour away, not retried in a loop


def test_corrupt_database_refuses_mail_with_421_and_says_why(outpost, daemons):
    data_dir = outpost.tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    (data_dir / "queue.db").write_bytes(os.urandom(64 * 1024))
    conf, port = serve_conf(outpost, [])
    d = start(outpost, daemons, conf, port)
    s = socket.create_connection(("127.0.0.1", port), 5)
    greeting = s.recv(1024).decode()
    s.close()
    assert greeting.startswith("421 4.3.5 Cannot store mail now: "), greeting
    assert "queue.db" in greeting
    assert "event=start mode=\"refusing mail\"" in d.log()
    # the damaged file is kept as it was, never replaced by an empty queue
    assert (data_dir / "queue.db").stat().st_size == 64 * 1024


def greeting_of(port):
    s = socket.create_connection(("127.0.0.1", port), 5)
    try:
        return s.recv(1024).decode()
    finally:
        s.close()


def digest(path):
    import hashlib
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_empty_database_file_refuses_mail_with_421_and_says_why(outpost,
                                                                 daemons):
    """A queue.db of 0 bytes that this start did not create is a queue
    that lost its contents (truncated, or replaced by an empty file): the
    daemon must not start an empty queue over it and say 250."""
    data_dir = outpost.tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    db = data_dir / "queue.db"
    db.write_bytes(b"")
    db.chmod(0o600)
    conf, port = serve_conf(outpost, [])
    d = start(outpost, daemons, conf, port)
    greeting = greeting_of(port)
    assert greeting.startswith("421 4.3.5 Cannot store mail now: "), greeting
    assert str(db) in greeting
    assert "is empty (0 bytes)" in greeting                 # the cause
    assert "restore it" in greeting and "delete it" in greeting  # the fix
    with pytest.raises(smtplib.SMTPConnectError) as ei:
        smtplib.SMTP("127.0.0.1", port, timeout=10, local_hostname="localhost")
    assert ei.value.smtp_code == 421
    assert "event=start mode=\"refusing mail\"" in d.log()
    # nothing written over it, no queue started beside it (outpost.pid is
    # the daemon's lock: one daemon per data_dir)
    assert db.stat().st_size == 0
    assert sorted(p.name for p in data_dir.iterdir()) == ["outpost.pid",
                                                          "queue.db"]


def test_new_data_dir_gets_a_queue_and_no_leftovers(outpost, peers, daemons):
    """The control: with no queue.db, the daemon makes one (mode 0600,
    tables in it) and takes mail at once."""
    peer = peers.aiosmtpd("plain")
    conf, port = serve_conf(outpost, [("main", peers_mod.profile(peer.port))])
    d = start(outpost, daemons, conf, port)
    data_dir = outpost.tmp_path / "data"
    mid = queue_id(d.send("app@example.com", ["a@example.com"],
                          message("new")))
    wait_for(state_is(d, data_dir, mid, "sent"))
    db = data_dir / "queue.db"
    assert db.stat().st_mode & 0o777 == 0o600
    assert not [p.name for p in data_dir.iterdir() if ".new-" in p.name]


def test_damaged_pages_behind_a_valid_header_refuse_mail_and_keep_the_file(
        outpost, peers, daemons):
    """A real queue whose first page (SQLite header, schema) is intact but
    whose middle pages are garbage: the daemon checks the file at start,
    answers every client 421 saying the database is damaged, and leaves
    the file exactly as it was."""
    data_dir = outpost.tmp_path / "data"
    # a queue with mail waiting in it (the profile is off: nothing leaves)
    conf, port = serve_conf(outpost, [("main", peers_mod.profile(
        free_port(), enabled=False))])
    d = start(outpost, daemons, conf, port)
    s = smtplib.SMTP("127.0.0.1", port, timeout=30, local_hostname="localhost")
    for i in range(40):
        d.send("app@example.com", ["m%d@example.com" % i],
               message("m%d" % i, body="line of the body\r\n" * 1500),
               session=s)
    s.quit()
    d.stop()
    db = data_dir / "queue.db"
    con = d.db(data_dir)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("SELECT count(*) FROM messages").fetchone()[0] == 40
        page = con.execute("PRAGMA page_size").fetchone()[0]
    finally:
        con.close()
    size = db.stat().st_size
    npages = size // page
    assert npages > 40, npages
    # garbage over a run of pages in the middle; page 1 untouched
    rnd = random.Random(6)
    with open(db, "r+b") as f:
        f.seek((npages // 2) * page)
        f.write(bytes(rnd.getrandbits(8) for _ in range(8 * page)))
    with open(db, "rb") as f:
        assert f.read(16) == b"SQLite format 3\0"
    before = digest(db)
    d = start(outpost, daemons, conf, port)
    greeting = greeting_of(port)
    assert greeting.startswith("421 4.3.5 Cannot store mail now: "), greeting
    assert str(db) in greeting
    assert "is damaged" in greeting                          # the cause
    assert "restore them from a backup" in greeting          # the fix
    assert "event=start mode=\"refusing mail\"" in d.log()
    d.stop()
    assert digest(db) == before
    assert db.stat().st_size == size


def test_harness_fails_on_a_daemon_gone_before_stop(outpost):
    """daemon.py itself: a daemon that is gone before the test stops it
    (as one a sanitizer aborts is) fails the test; a test that ends it on
    purpose says so; a sanitizer report fails even a killed one."""
    conf, port = serve_conf(outpost, [])
    d = Daemon(outpost, conf, port)
    d.proc.kill()                       # not through kill9(): unexpected
    d.proc.wait(10)
    with pytest.raises(AssertionError, match="before the test stopped it"):
        d.stop()
    d = Daemon(outpost, conf, port)
    d.expect_exit(-signal.SIGKILL)
    d.proc.kill()
    d.proc.wait(10)
    assert d.stop() == 0.0
    d = Daemon(outpost, conf, port)
    with open(d.log_path, "a") as f:
        f.write("==1==ERROR: AddressSanitizer: heap-use-after-free\n")
    with pytest.raises(AssertionError, match="sanitizer report"):
        d.kill9()


def test_a_dripping_client_is_timed_out_per_command(outpost, daemons):
    """Bytes that complete no command do not extend the command timeout:
    a client dripping one byte every 0.4 s with smtp_timeout = 2s is cut
    off with 421 after about 2 s, not kept for ever."""
    conf, port = serve_conf(outpost, [], server={"smtp_timeout": "2s"})
    start(outpost, daemons, conf, port)
    s = socket.create_connection(("127.0.0.1", port), 5)
    assert s.recv(512).startswith(b"220 ")
    got = b""
    s.settimeout(0.4)
    for ch in b"EHLO drip.example.with.a.long.name.to.send.slowly\r\n":
        try:
            s.send(bytes([ch]))
        except OSError:
            break
        try:
            part = s.recv(512)
        except socket.timeout:
            continue
        if not part:
            break
        got += part
        if b"421" in got:
            break
    s.close()
    # cut off before the line was complete (it takes ~20 s to drip)
    assert b"421 4.4.2" in got, got


def no_more_than(times, n, window=1.0, slack=0.1):
    """Assert no n+1 arrivals fall inside one window (seconds)."""
    t = sorted(times)
    for i in range(len(t) - n):
        assert t[i + n] - t[i] >= window - slack, t


def test_rate_limit_survives_a_restart(outpost, peers, daemons):
    """Sends preloaded after a restart count on the same clock as new ones:
    they leave the window a second later, not in decades."""
    peer = fault_peer(peers)
    conf, port = serve_conf(outpost, [("main", peers_mod.profile(
        peer.port, limits="2/s"))], server={"retry": "1h"})
    data_dir = outpost.tmp_path / "data"
    d = start(outpost, daemons, conf, port)
    first = [queue_id(d.send("app@example.com", ["a%d@example.com" % i],
                             message("before%d" % i))) for i in range(2)]
    for mid in first:
        wait_for(state_is(d, data_dir, mid, "sent"))
    d.stop()
    d = start(outpost, daemons, conf, port)
    later = [queue_id(d.send("app@example.com", ["b%d@example.com" % i],
                             message("after%d" % i))) for i in range(3)]
    for mid in later:
        wait_for(state_is(d, data_dir, mid, "sent"), timeout=30)
    assert len(peer.handler.times) == 5
    no_more_than(peer.handler.times, 2)
    for mid in first + later:
        assert msg_row(d, data_dir, mid)[1] == 1     # no attempt lost
    assert "full_for" not in d.log()                 # never a long wait


def test_rate_limit_change_on_sighup_keeps_counting(outpost, peers, daemons):
    peer = fault_peer(peers)
    conf, port = serve_conf(outpost, [("main", peers_mod.profile(
        peer.port, limits="2/s"))], server={"retry": "1h"})
    data_dir = outpost.tmp_path / "data"
    d = start(outpost, daemons, conf, port)
    first = [queue_id(d.send("app@example.com", ["a%d@example.com" % i],
                             message("before%d" % i))) for i in range(2)]
    for mid in first:
        wait_for(state_is(d, data_dir, mid, "sent"))
    conf.write_text(conf.read_text().replace("limits = 2/s", "limits = 3/s"))
    d.hup()
    wait_for(lambda: d.log().count("event=reload result=ok") >= 1,
             what="reload")
    s = smtplib.SMTP("127.0.0.1", port, timeout=30, local_hostname="localhost")
    later = [queue_id(d.send("app@example.com", ["b%d@example.com" % i],
                             message("after%d" % i), session=s))
             for i in range(4)]
    s.quit()
    for mid in later:
        wait_for(state_is(d, data_dir, mid, "sent"), timeout=30)
    assert len(peer.handler.times) == 6
    no_more_than(peer.handler.times, 3)
    assert "full_for" not in d.log()


def delivery_lines(log, mid):
    return [line for line in log.splitlines()
            if "event=delivery id=%s " % mid in line]


def test_421_on_data_fails_over_without_burning_an_attempt(outpost, peers,
                                                          daemons):
    busy = fault_peer(peers, data_script=["421 4.7.0 Too busy, come back later"])
    live = peers.aiosmtpd("plain")
    conf, port = serve_conf(outpost, [
        ("busy", peers_mod.profile(busy.port)),
        ("live", peers_mod.profile(live.port))], server={"retry": "1h"})
    d = start(outpost, daemons, conf, port)
    data_dir = outpost.tmp_path / "data"
    mid = queue_id(d.send("app@example.com", ["a@example.com"], message("421")))
    wait_for(state_is(d, data_dir, mid, "sent"), timeout=30)
    state, attempts, used, _ = msg_row(d, data_dir, mid)
    assert used == "live" and attempts == 1
    assert len(live.messages) == 1 and busy.messages == []
    lines = delivery_lines(d.log(), mid)
    assert any("profile=busy" in l and "state=deferred code=421 "
               "enhanced=4.7.0" in l for l in lines), lines
    assert any("profile=live" in l and "state=sent" in l for l in lines), lines


@pytest.mark.parametrize("where", ["mail", "data"])
def test_421_through_the_only_profile_waits_instead_of_retrying(
        outpost, peers, daemons, where):
    """A 421 pauses the profile for seconds (adaptive backoff); it is not a
    deferred attempt, which with retry = 1h would wait an hour."""
    reply = "421 4.3.2 Service busy, try later"
    peer = fault_peer(peers, **{where + "_script": [reply]})
    conf, port = serve_conf(outpost, [("only", peers_mod.profile(peer.port))],
                            server={"retry": "1h"})
    d = start(outpost, daemons, conf, port)
    data_dir = outpost.tmp_path / "data"
    mid = queue_id(d.send("app@example.com", ["a@example.com"], message("421")))
    wait_for(state_is(d, data_dir, mid, "sent"), timeout=30)
    assert msg_row(d, data_dir, mid)[1] == 1
    assert len(peer.messages) == 1
    assert peer.handler.connections >= 2
    lines = delivery_lines(d.log(), mid)
    assert any("state=deferred code=421 enhanced=4.3.2" in l for l in lines), lines
    assert "deferred" not in events(d, data_dir, mid)


def test_failed_connect_logs_a_delivery_line_per_recipient(outpost, peers,
                                                           daemons):
    dead = peers.refused_port()
    conf, port = serve_conf(outpost, [("dead", peers_mod.profile(dead))],
                            server={"retry": "1h"})
    d = start(outpost, daemons, conf, port)
    data_dir = outpost.tmp_path / "data"
    rcpts = ["a@example.com", "b@example.com"]
    mid = queue_id(d.send("app@example.com", rcpts, message("dead")))
    wait_for(state_is(d, data_dir, mid, "deferred"))
    wait_for(lambda: len(delivery_lines(d.log(), mid)) >= 2,
             what="delivery lines")
    d.stop()        # nothing more is logged after the stop
    lines = delivery_lines(d.log(), mid)
    assert msg_row(d, data_dir, mid)[1] == 1
    for r in rcpts:
        mine = [l for l in lines if " rcpt=%s " % r in l]
        # one line per recipient and attempt (issue 10 #15): the failed
        # session with its relay, not a second one with relay=- code=0
        assert len(mine) == 1, lines
        assert all(" profile=dead " in l and " state=deferred code=0 " in l
                   and " attempt=1" in l and " delay=" in l for l in mine), mine
        assert all(" relay=127.0.0.1" in l and ":%d " % dead in l
                   for l in mine), mine
        assert all("reply=" in l and "refused" in l.lower() for l in mine), mine


def recv_until(s, marker, timeout=10):
    s.settimeout(timeout)
    got = b""
    while marker not in got:
        part = s.recv(4096)
        if not part:
            break
        got += part
    return got


def test_sigterm_mid_data_loses_nothing_acknowledged(outpost, peers, daemons):
    """A client in the middle of DATA at SIGTERM gets 421 and its message
    (never acknowledged) is not stored nor sent; one acknowledged before is
    delivered; the daemon exits at once, not after its grace."""
    peer = peers.aiosmtpd("plain")
    conf, port = serve_conf(outpost, [("main", peers_mod.profile(peer.port))])
    data_dir = outpost.tmp_path / "data"
    d = Daemon(outpost, conf, port)
    acked = queue_id(d.send("app@example.com", ["acked@example.com"],
                            message("acked")))
    s = socket.create_connection(("127.0.0.1", port), 5)
    assert recv_until(s, b"\r\n").startswith(b"220 ")
    s.sendall(b"EHLO localhost\r\n")
    recv_until(s, b"250 ")
    s.sendall(b"MAIL FROM:<app@example.com>\r\n")
    assert recv_until(s, b"\r\n").startswith(b"250")
    s.sendall(b"RCPT TO:<partial@example.com>\r\n")
    assert recv_until(s, b"\r\n").startswith(b"250")
    s.sendall(b"DATA\r\n")
    assert recv_until(s, b"\r\n").startswith(b"354")
    s.sendall(message("partial").encode() + b"more of the body, no end yet\r\n")
    time.sleep(0.3)
    elapsed = d.stop()
    assert elapsed < 4, elapsed
    rest = recv_until(s, b"\r\n")
    assert rest.startswith(b"421 4.3.2"), rest
    s.close()
    d = start(outpost, daemons, conf, port)
    after = queue_id(d.send("app@example.com", ["after@example.com"],
                            message("after")))
    for mid in (acked, after):
        wait_for(state_is(d, data_dir, mid, "sent"))
    rcpts = sorted(r for m in peer.messages for r in m.rcpt_tos)
    assert rcpts == ["acked@example.com", "after@example.com"], rcpts
    con = d.db(data_dir)
    try:
        n = con.execute("SELECT count(*) FROM messages").fetchone()[0]
    finally:
        con.close()
    assert n == 2


def test_sigterm_during_a_tarpitted_delivery_exits_within_grace(
        outpost, peers, daemons):
    """The upstream holds the final dot unanswered: SIGTERM still ends the
    daemon within its grace (5 s), and the acknowledged message, still
    being sent, is delivered after the restart (at least once)."""
    peer = fault_peer(peers, data_script=["tarpit"])
    conf, port = serve_conf(outpost, [("main", peers_mod.profile(
        peer.port, timeout="30s"))])
    data_dir = outpost.tmp_path / "data"
    d = Daemon(outpost, conf, port)
    mid = queue_id(d.send("app@example.com", ["slow@example.com"],
                          message("tarpit")))
    wait_for(lambda: peer.handler.tarpitted == 1, what="the tarpit")
    elapsed = d.stop()
    assert elapsed < 8, elapsed           # grace 5 s, plus slack
    assert "event=stopped" in d.log()
    d = start(outpost, daemons, conf, port)
    wait_for(state_is(d, data_dir, mid, "sent"), timeout=30)
    assert [m.rcpt_tos for m in peer.messages] == [["slow@example.com"]]


def test_queue_lifetime_over_fails_the_message(outpost, peers, daemons):
    peer = fault_peer(peers, data_script=["451 4.3.0 Temporary local problem"] * 50)
    conf, port = serve_conf(outpost, [("main", peers_mod.profile(peer.port))],
                            server={"retry": "1s", "queue_lifetime": "3s"})
    d = start(outpost, daemons, conf, port)
    data_dir = outpost.tmp_path / "data"
    mid = queue_id(d.send("app@example.com", ["a@example.com"], message("old")))
    wait_for(state_is(d, data_dir, mid, "failed"), timeout=30)
    state, attempts, _, last_error = msg_row(d, data_dir, mid)
    assert attempts >= 2, attempts
    assert "queue lifetime" in last_error, last_error
    rows = rcpt_rows(d, data_dir, mid)
    assert [r[1] for r in rows] == ["failed"]
    assert rows[0][2] == 451
    assert peer.messages == []
    time.sleep(1.5)          # no attempt after it failed
    assert msg_row(d, data_dir, mid)[1] == attempts


def test_max_messages_per_connection_opens_a_new_connection(outpost, peers,
                                                            daemons):
    peer = fault_peer(peers)
    conf, port = serve_conf(outpost, [("main", peers_mod.profile(
        peer.port, max_connections=1, max_messages_per_connection=2))])
    d = start(outpost, daemons, conf, port)
    data_dir = outpost.tmp_path / "data"
    s = smtplib.SMTP("127.0.0.1", port, timeout=30, local_hostname="localhost")
    ids = [queue_id(d.send("app@example.com", ["r%d@example.com" % i],
                           message("rot%d" % i), session=s)) for i in range(5)]
    s.quit()
    for mid in ids:
        wait_for(state_is(d, data_dir, mid, "sent"))
    assert len(peer.messages) == 5
    per_session = [sess.commands().count("DATA") for sess in peer.sessions()]
    assert all(n <= 2 for n in per_session), per_session
    assert sum(per_session) == 5
    assert peer.handler.connections >= 3


def test_retention_removes_old_finished_messages_at_start(outpost, peers,
                                                          daemons):
    peer = fault_peer(peers)
    conf, port = serve_conf(outpost, [("main", peers_mod.profile(peer.port))],
                            server={"retention": "7d"})
    d = start(outpost, daemons, conf, port)
    data_dir = outpost.tmp_path / "data"
    old, new = (queue_id(d.send("app@example.com", ["a@example.com"],
                                message(s))) for s in ("old", "new"))
    for mid in (old, new):
        wait_for(state_is(d, data_dir, mid, "sent"))
    d.stop()
    # as if the first had been stored and sent 8 days ago (unfinished and
    # recent ones are kept: tests/unit/test_queue.c test_purge)
    con = sqlite3.connect(str(data_dir / "queue.db"), timeout=10)
    with con:
        con.execute("UPDATE messages SET created = created - 8 * 86400,"
                    " updated = updated - 8 * 86400 WHERE id = ?", (old,))
    con.close()
    d = start(outpost, daemons, conf, port)
    wait_for(lambda: "event=purge" in d.log(), what="the purge at start")
    assert "event=purge messages=1 retention=7d" in d.log(), d.log()
    con = d.db(data_dir)
    try:
        left = [r[0] for r in con.execute("SELECT id FROM messages")]
        orphans = con.execute(
            "SELECT (SELECT count(*) FROM recipients WHERE mid NOT IN"
            " (SELECT mid FROM messages)) + (SELECT count(*) FROM bodies"
            " WHERE mid NOT IN (SELECT mid FROM messages))").fetchone()[0]
    finally:
        con.close()
    assert left == [new], left
    assert orphans == 0
    r = outpost.run("queue", "show", old, conf=conf)
    assert r.rc != 0 and old in r.err, r
    assert outpost.run("queue", "show", new, conf=conf).rc == 0


def script_always_421(conn):
    """Every session: greeting, EHLO, then 421 to every command but QUIT."""
    peers_mod.answer_commands(conn, "220 localhost ESMTP busy",
                              ("250-localhost", "250 PIPELINING"),
                              other="421 4.3.2 Service busy, try later")


def make_script_421_close(verb_421):
    """Every session: greeting, EHLO (PIPELINING), 250 to the commands
    before verb_421, then 421 to it and the connection closed at once,
    the rest of what was pipelined unanswered (as Gmail does when it
    sheds load)."""
    def busy(conn, line):
        conn.send("421 4.3.2 Service busy, try later")
        return True             # closed by the peer's runner

    def script(conn):
        peers_mod.answer_commands(
            conn, "220 localhost ESMTP busy",
            ("250-localhost", "250-ENHANCEDSTATUSCODES", "250 PIPELINING"),
            {verb_421: busy}, "250 2.0.0 Ok")
    return script


def msg_due(d, data_dir, mid):
    con = d.db(data_dir)
    try:
        return con.execute("SELECT next_attempt FROM messages WHERE id = ?",
                           (mid,)).fetchone()[0]
    finally:
        con.close()


@pytest.mark.parametrize("where", ["greeting", "mail", "mail-close"])
def test_421_wait_is_visible_and_fixing_the_profile_ends_it(
        outpost, peers, daemons, where):
    """Issue 10 #2 and #3: while the only profile answers 421, the reply is
    the message's and the recipient's last error (no attempt is burnt, no
    "unclaimed" event per scheduler pass); fixing the profile's port ends
    its pause and the message goes at once, not when the pause is over.
    A 421 to a pipelined MAIL followed at once by a close (mail-close) is
    that 421, not "the server closed the connection".  The history says
    the profile "paused" (the reply and for how long), not "failover": no
    other profile took the message."""
    scripts = {"greeting": peers_mod.script_greet_421,
               "mail": script_always_421,
               "mail-close": make_script_421_close("MAIL")}
    busy = peers.scripted(scripts[where])
    live = peers.aiosmtpd("plain")
    conf, port = serve_conf(outpost, [("only", peers_mod.profile(busy.port))],
                            server={"retry": "1h"})
    d = start(outpost, daemons, conf, port)
    data_dir = outpost.tmp_path / "data"
    mid = queue_id(d.send("app@example.com", ["a@example.com"], message("421")))

    def waiting_long():
        row = msg_row(d, data_dir, mid)
        return (row[3] is not None and "421 4.3.2" in row[3] and
                msg_due(d, data_dir, mid) - time.time() >= 4)
    # the pause doubles (1 s, 2 s, 4 s, 8 s ...): wait for one of 8 s
    wait_for(waiting_long, timeout=60, what="a long 421 pause")
    state, attempts, _, last_error = msg_row(d, data_dir, mid)
    assert (state, attempts) == ("deferred", 0), (state, attempts)
    assert last_error.startswith("421 4.3.2 Service"), last_error
    (rcpt,) = rcpt_rows(d, data_dir, mid)
    assert rcpt[1:4] == ("deferred", 421, "4.3.2"), rcpt
    assert "Service not available" in rcpt[4] or "Service busy" in rcpt[4]
    assert "closed the connection" not in rcpt[4], rcpt
    assert len(busy.sessions()) >= 3
    res = outpost.run("queue", "list", conf=conf)
    row = [l for l in res.out.splitlines() if l.startswith(mid)]
    assert row and "421 4.3.2" in row[0], res.out
    kinds = events(d, data_dir, mid)
    assert "unclaimed" not in kinds, kinds
    assert "deferred" not in kinds, kinds
    # no other profile took it: it waited, the profile paused
    assert "failover" not in kinds, kinds
    res = outpost.run("queue", "show", mid, "--json", conf=conf)
    paused = [e["text"] for e in json.loads(res.out)["events"]
              if e["kind"] == "paused"]
    assert paused, kinds
    assert all(t.startswith("421 4.3.2 ") and "(profile only paused for "
               in t for t in paused), paused
    assert "event=paused profile=only " in d.log()

    # fix the port: the pause ends with the change
    due = msg_due(d, data_dir, mid)
    conf.write_text(conf.read_text().replace("port = %d" % busy.port,
                                             "port = %d" % live.port))
    d.hup()
    wait_for(state_is(d, data_dir, mid, "sent"), timeout=30)
    assert len(live.messages) == 1
    con = d.db(data_dir)
    sent_at = con.execute("SELECT r.updated FROM recipients r JOIN messages "
                          "USING (mid) WHERE id = ?", (mid,)).fetchone()[0]
    con.close()
    assert sent_at < due, (sent_at, due)
    state, attempts, used, last_error = msg_row(d, data_dir, mid)
    assert (state, attempts, last_error) == ("sent", 1, None)


def test_421_until_the_lifetime_ends_fails_with_an_attempt_and_reason(
        outpost, peers, daemons):
    """Issue 10 #2: a message whose only profile answers 421 until its
    queue_lifetime is over fails with one attempt and the 421 as reason."""
    busy = peers.scripted(script_always_421)
    conf, port = serve_conf(outpost, [("only", peers_mod.profile(busy.port))],
                            server={"retry": "1h", "queue_lifetime": "4s"})
    d = start(outpost, daemons, conf, port)
    data_dir = outpost.tmp_path / "data"
    mid = queue_id(d.send("app@example.com", ["a@example.com"], message("421")))
    wait_for(state_is(d, data_dir, mid, "failed"), timeout=30)
    state, attempts, _, last_error = msg_row(d, data_dir, mid)
    assert attempts == 1, attempts
    assert "queue lifetime" in last_error, last_error
    assert "421 4.3.2 Service busy" in last_error, last_error
    (rcpt,) = rcpt_rows(d, data_dir, mid)
    assert rcpt[1:4] == ("failed", 421, "4.3.2"), rcpt
    kinds = events(d, data_dir, mid)
    assert "unclaimed" not in kinds, kinds
    assert "failed" in kinds, kinds
