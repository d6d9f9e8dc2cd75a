"""Several nodes on one PostgreSQL ([server] database, node): delivery end
to end through a PostgreSQL-backed daemon (listener, API, sendmail, send
--now, queue list/show), two nodes sharing the work exactly once, a node
killed mid-delivery whose messages another node delivers after the lease,
and the database stopped and started under load.

The tests' own PostgreSQL server (conftest.py: pg_server, pg) runs on
127.0.0.1; each test gets a fresh database.  Two nodes on one machine use
two data_dirs (one daemon per data_dir).
"""

import re
import smtplib
import subprocess
import threading
import time

import pytest

import peers as peers_mod
from pgserver import Pg, PgServer
from daemon import Daemon, HOST, free_port, wait_for
from test_http_api import Api, TOKEN, _health_ok

SEND_TIMEOUT = 30


def mail(n, tag="m"):
    return ("From: app@example.com\r\nTo: rcpt@example.com\r\n"
            "Subject: %s %d\r\nMessage-ID: <%s-%d@test.example>\r\n\r\n"
            "body %d\r\n" % (tag, n, tag, n, n))


def message_ids(peer):
    """The Message-IDs the peer received, one per delivery."""
    out = []
    for m in list(peer.messages):
        hit = re.search(rb"(?im)^Message-ID:\s*<([^>]+)>", m.content)
        out.append(hit.group(1).decode() if hit else None)
    return out


def node(outpost, pg, name, peer_port, data="data", http=True, extra=None):
    """Start `outpost serve` as node name on the shared database."""
    return node_with(outpost, pg, name, peers_mod.profile(peer_port), data,
                     http, extra)


def states(pg):
    rows = pg.sql("SELECT state, count(*) FROM messages GROUP BY state")
    return {s: int(n) for s, n in (r.split("|") for r in rows.split())}


def test_one_node_end_to_end(outpost, peers, pg):
    """Listener, API, sendmail and send --now on a PostgreSQL queue; queue
    list and show read it, and name the node."""
    peer = peers.aiosmtpd("plain")
    d, api, conf = node(outpost, pg, "alpha", peer.port)
    try:
        reply = d.send("app@example.com", ["rcpt@example.com"], mail(1))
        lid = reply.rsplit(" ", 1)[-1]
        r = api.post("/api/messages", {"from": "app@example.com",
                                       "to": ["api@example.com"],
                                       "subject": "by the API", "text": "x"})
        assert r.status == 202, r
        aid = r.json["id"]
        res = outpost.run("sendmail", "sm@example.com", conf=conf,
                          stdin=mail(2, "sendmail"))
        assert res.rc == 0, res
        res = outpost.run("send", "--from", "app@example.com", "--to",
                          "now@example.com", "--subject", "now", "--text",
                          "-", "--now", conf=conf, stdin="hi\n")
        assert res.rc == 0, res
        nid = res.out.splitlines()[0]

        wait_for(lambda: states(pg).get("sent", 0) == 4, timeout=30,
                 what="four messages sent")
        assert len(peer.messages) == 4
        for mid in (lid, aid, nid):
            m = api.get("/api/messages/" + mid).json
            assert m["state"] == "sent", m
            assert m["node"] == "alpha", m
            assert m["recipients"][0]["node"] == "alpha", m
        res = outpost.run("queue", "list", conf=conf)
        assert res.rc == 0, res
        for mid in (lid, aid, nid):
            assert mid in res.out, res
        res = outpost.run("queue", "show", lid, conf=conf)
        assert res.rc == 0, res
        assert re.search(r"(?m)^\s*node:\s+alpha$", res.out), res
        assert "node: alpha" in res.out, res
        # nothing in data_dir but the lock and the token: the queue is
        # in PostgreSQL
        assert not (outpost.tmp_path / "data" / "queue.db").exists()
    finally:
        d.stop()


def test_two_nodes_deliver_each_message_once(outpost, peers, pg):
    """Two nodes on one database, each receiving submissions: every
    message is delivered exactly once (the peer counts Message-IDs)."""
    peer = peers.aiosmtpd("plain")
    a, _, _ = node(outpost, pg, "node-a", peer.port, data="a", http=False)
    b, _, _ = node(outpost, pg, "node-b", peer.port, data="b", http=False)
    n = 30
    try:
        def submit(d, tag):
            s = smtplib.SMTP(HOST, d.smtp_port, timeout=SEND_TIMEOUT,
                             local_hostname="localhost")
            try:
                for i in range(n):
                    d.send("app@example.com", ["rcpt@example.com"],
                           mail(i, tag), session=s)
            finally:
                s.quit()
        ta = threading.Thread(target=submit, args=(a, "to-a"))
        tb = threading.Thread(target=submit, args=(b, "to-b"))
        ta.start()
        tb.start()
        ta.join(120)
        tb.join(120)
        wait_for(lambda: states(pg).get("sent", 0) == 2 * n, timeout=60,
                 what="every message sent")
        ids = message_ids(peer)
        assert len(ids) == 2 * n, ids
        assert len(set(ids)) == 2 * n, sorted(ids)
        nodes = pg.sql("SELECT DISTINCT node FROM recipients").split()
        assert set(nodes) <= {"node-a", "node-b"}, nodes
    finally:
        a.stop()
        b.stop()


class HangingPeer:
    """Takes messages up to the end of DATA and never answers: the
    deliveries stay in flight until the client goes away."""

    def __init__(self):
        self.in_data = 0
        self.lock = threading.Lock()
        self.gone = threading.Event()

    def data(self, conn, line):
        conn.send("354 go on")
        peers_mod.read_data(conn)
        with self.lock:
            self.in_data += 1
        self.gone.wait(120)
        return True

    def script(self, conn):
        ok = "250 2.0.0 Ok"
        peers_mod.answer_commands(
            conn, "220 localhost ESMTP hanging",
            ("250-localhost", "250 8BITMIME"),
            {"MAIL": ok, "RCPT": ok, "RSET": ok, "NOOP": ok,
             "DATA": self.data},
            lambda conn, line: conn.send("221 2.0.0 Bye") or True)


def test_killed_node_messages_go_to_the_other_after_the_lease(outpost, peers,
                                                              pg):
    """kill -9 of a node while its deliveries hang at a slow peer: the
    other node takes its messages once their leases end and delivers
    every one (nothing lost), with a "recovered" event naming the dead
    node."""
    hang = HangingPeer()
    slow = peers.scripted(hang.script)
    fast = peers.aiosmtpd("plain")
    a, _, _ = node(outpost, pg, "doomed", slow.port, data="a", http=False)
    n = 3
    try:
        for i in range(n):
            a.send("app@example.com", ["rcpt@example.com"], mail(i, "lease"))
        wait_for(lambda: hang.in_data == n, timeout=30,
                 what="the deliveries in flight")
        a.kill9()
    finally:
        hang.gone.set()
    assert states(pg) == {"sending": n}
    b, api, _ = node(outpost, pg, "survivor", fast.port, data="b")
    try:
        # the profiles are the database's (imported from the first node's
        # file, pointing at the hanging peer): move it to the fast one
        r = api.put("/api/profiles/main", {"host": HOST, "port": fast.port})
        assert r.status == 200, r
        # the lease is 30 s, renewed every 10 s; the survivor looks for
        # lapsed ones every 5 s
        wait_for(lambda: states(pg).get("sent", 0) == n, timeout=90,
                 step=0.5, what="the dead node's messages delivered")
        ids = message_ids(fast)
        assert sorted(ids) == sorted("lease-%d@test.example" % i
                                     for i in range(n)), ids
        mid = api.get("/api/messages").json["messages"][0]["id"]
        m = api.get("/api/messages/" + mid).json
        assert m["node"] == "survivor", m
        kinds = [(e["kind"], e["text"]) for e in m["events"]]
        assert any(k == "recovered" and "node doomed" in t
                   for k, t in kinds), kinds
    finally:
        b.stop()


def test_database_stopped_and_started_under_load(outpost, peers):
    """PostgreSQL stopped while clients submit: the listener answers 4xx,
    the API 503 and sendmail exits 75, acknowledging nothing; once it runs
    again the node reconnects by itself, and every message it acknowledged
    is delivered."""
    server = PgServer("pg-outage")
    try:
        pg = Pg(server)
        peer = peers.aiosmtpd("plain")
        d, api, conf = node(outpost, pg, "steady", peer.port)
        # acked: (i, 250, when DATA was sent, when its reply came);
        # refused: (i, code) of replies with an SMTP code; lost: (i, error)
        # of a disconnect or timeout without a code (a loaded machine),
        # kept out of the refused-code check
        acked, refused, lost = [], [], []
        outage = {}              # "down": paused at, "up": resuming at
        stop = threading.Event()

        def load():
            i = 0
            while not stop.is_set():
                i += 1
                code, sent, s = None, None, None
                try:
                    s = smtplib.SMTP(HOST, d.smtp_port, timeout=SEND_TIMEOUT,
                                     local_hostname="localhost")
                    s.ehlo("localhost")
                    s.mail("app@example.com")
                    s.rcpt("rcpt@example.com")
                    sent = time.monotonic()
                    code, _ = s.data(mail(i, "load"))
                except (smtplib.SMTPException, OSError) as ex:
                    code = getattr(ex, "smtp_code", None)
                    if code is None:
                        lost.append((i, repr(ex)))
                if code == 250:
                    acked.append((i, code, sent, time.monotonic()))
                elif code is not None:
                    refused.append((i, code))
                if s is not None:
                    try:
                        s.quit()      # the reply to DATA is what counts
                    except (smtplib.SMTPException, OSError):
                        s.close()
                time.sleep(0.02)

        t = threading.Thread(target=load)
        t.start()
        try:
            wait_for(lambda: len(acked) >= 10, what="mail accepted")
            server.pause()
            outage["down"] = time.monotonic()
            n_refused = len(refused)
            wait_for(lambda: len(refused) >= n_refused + 5,
                     what="submissions refused while the database is down")
            assert all(400 <= c < 500 for _, c in refused), refused
            r = api.post("/api/messages", {"from": "app@example.com",
                                           "to": ["api@example.com"],
                                           "subject": "down", "text": "x"})
            assert r.status == 503, r
            res = outpost.run("sendmail", "sm@example.com", conf=conf,
                              stdin=mail(0, "down"))
            assert res.rc == 75, res
            outage["up"] = time.monotonic()
            server.resume()
            n_acked = len(acked)
            wait_for(lambda: len(acked) >= n_acked + 10, timeout=60,
                     what="mail accepted again after the outage")
        finally:
            stop.set()
            t.join(60)
        # nothing acknowledged while the database was down: no 250 to a
        # DATA sent after the server stopped and answered before it
        # was started again
        during = [a for a in acked
                  if a[2] > outage["down"] and a[3] < outage["up"]]
        assert during == [], (during, outage)
        want = {"load-%d@test.example" % a[0] for a in acked}
        wait_for(lambda: want <= set(message_ids(peer)), timeout=60,
                 what="every acknowledged message delivered")
        log = d.log()
        assert "queue_db_down" in log and "queue_db_back" in log, log[-3000:]
        assert log.index("queue_db_down") < log.rindex("queue_db_back"), \
            log[-3000:]
        d.stop()
    finally:
        server.stop()


def test_database_and_node_keys(outpost):
    """[server] database takes a postgresql:// URI only and is shown with
    its password masked; node takes a plain name."""
    conf = outpost.conf(server={
        "database": "postgresql://outpost:s3cret@db.example.com:5432/mail",
        "node": "mx-1.eu"})
    res = outpost.run("config", "show", conf=conf)
    assert res.rc == 0, res
    assert "s3cret" not in res.text, res
    assert re.search(r"(?m)^database = postgresql://outpost:\S+"
                     r"@db\.example\.com:5432/mail$", res.out), res
    assert re.search(r"(?m)^node = mx-1\.eu$", res.out), res
    # libpq also takes the password as a query parameter: masked too
    for uri, shown in (
            ("postgresql://outpost@db.example.com/mail?password=qu3ry",
             "postgresql://outpost@db.example.com/mail?password=********"),
            ("postgres://db.example.com/mail?sslmode=require&password=qu3ry"
             "&connect_timeout=5",
             "postgres://db.example.com/mail?sslmode=require"
             "&password=********&connect_timeout=5")):
        conf = outpost.conf(server={"database": uri})
        res = outpost.run("config", "show", conf=conf)
        assert res.rc == 0, res
        assert "qu3ry" not in res.text, res
        assert "\ndatabase = %s\n" % shown in res.out, res
    bad = outpost.conf(server={"database": "mysql://db/mail"})
    res = outpost.run("config", "check", conf=bad)
    assert res.rc == 78, res
    assert "postgresql://" in res.err, res
    bad = outpost.conf(server={"node": "two words"})
    res = outpost.run("config", "check", conf=bad)
    assert res.rc == 78, res
    assert "node" in res.err, res


# ---- what the nodes share besides the queue (issue 13, second half) ----

class TimedHandler(peers_mod.PeerHandler):
    """aiosmtpd handler that records when each session began (EHLO), when
    each message arrived (end of DATA), and answers MAIL from a script
    (then accepts), noting when each scripted reply went out."""

    def __init__(self, mail_script=(), **kw):
        super().__init__(**kw)
        self.mail_script = list(mail_script)
        self.sessions_at = []
        self.times = []
        self.scripted_at = []

    async def handle_EHLO(self, server, session, envelope, hostname,
                          responses):
        with self.lock:
            self.sessions_at.append(time.monotonic())
        return await super().handle_EHLO(server, session, envelope, hostname,
                                         responses)

    async def handle_MAIL(self, server, session, envelope, address,
                          mail_options):
        with self.lock:
            step = self.mail_script.pop(0) if self.mail_script else None
            if step is not None:
                self.scripted_at.append(time.monotonic())
        if step is not None:
            return step
        return await super().handle_MAIL(server, session, envelope, address,
                                         mail_options)

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.times.append(time.monotonic())
        return await super().handle_DATA(server, session, envelope)


def timed_peer(peers, **kw):
    return peers_mod.use_handler(peers.aiosmtpd("plain"), TimedHandler(**kw))


def node_with(outpost, pg, name, profile, data, http=False, extra=None):
    """A node whose one profile "main" has the keys of profile."""
    smtp = free_port()
    srv = {"smtp_listen": "%s:%d" % (HOST, smtp),
           "http_listen": "%s:%d" % (HOST, free_port()) if http else "",
           "data_dir": str(outpost.tmp_path / data),
           "database": pg.uri, "node": name, "api_token": TOKEN,
           "retry": "1s, 1s, 2s"}
    srv.update(extra or {})
    conf = outpost.conf([("main", profile)], server=srv)
    d = Daemon(outpost, conf, smtp)
    api = None
    if http:
        api = Api(int(srv["http_listen"].rsplit(":", 1)[1]))
        wait_for(lambda: _health_ok(api), what="the HTTP server")
    return d, api, conf


def submit_many(d, n, tag):
    s = smtplib.SMTP(HOST, d.smtp_port, timeout=SEND_TIMEOUT,
                     local_hostname="localhost")
    try:
        for i in range(n):
            d.send("app@example.com", ["rcpt@example.com"], mail(i, tag),
                   session=s)
    finally:
        s.quit()


def test_shared_limits_hold_across_two_nodes(outpost, peers, pg):
    """limits = 5/s on two nodes is one quota at the peer: no second holds
    more than 5 arrivals.  The quota is counted when a send is reserved
    (in the database's clock), the peer counts when DATA ends: the gap
    between the two varies by a few milliseconds from send to send, so a
    window is taken as 0.9 s (the same slack as the one-node test in
    test_serve.py)."""
    peer = timed_peer(peers)
    prof = peers_mod.profile(peer.port, limits="5/s", max_connections=3)
    a, _, _ = node_with(outpost, pg, "node-a", prof, "a")
    b, _, _ = node_with(outpost, pg, "node-b", prof, "b")
    n = 15
    try:
        ta = threading.Thread(target=submit_many, args=(a, n, "qa"))
        tb = threading.Thread(target=submit_many, args=(b, n, "qb"))
        ta.start()
        tb.start()
        ta.join(120)
        tb.join(120)
        wait_for(lambda: states(pg).get("sent", 0) == 2 * n, timeout=60,
                 what="every message sent")
        t = sorted(peer.handler.times)
        assert len(t) == 2 * n, t
        for i in range(len(t) - 5):
            assert t[i + 5] - t[i] >= 0.9, (i, [round(x - t[0], 3) for x in t])
        nodes = pg.sql("SELECT DISTINCT node FROM recipients").split()
        assert set(nodes) == {"node-a", "node-b"}, nodes
    finally:
        a.stop()
        b.stop()


def test_421_pause_of_one_node_holds_the_other(outpost, peers, pg):
    """A node that meets a 421 pauses the profile for every node (the
    pause is stored in profile_state and notified): during the pause no
    node opens a session to the peer, though both have mail for it."""
    peer = timed_peer(peers, mail_script=["421 4.7.0 Try again later"])
    prof = peers_mod.profile(peer.port, max_connections=1)
    a, _, _ = node_with(outpost, pg, "node-a", prof, "a")
    b, _, _ = node_with(outpost, pg, "node-b", prof, "b")
    try:
        a.send("app@example.com", ["rcpt@example.com"], mail(0, "first"))
        wait_for(lambda: peer.handler.scripted_at, what="the 421")
        t421 = peer.handler.scripted_at[0]
        # mail for both nodes while the profile is paused (1 s, the first
        # step of the backoff)
        submit_many(b, 2, "on-b")
        submit_many(a, 2, "on-a")
        wait_for(lambda: states(pg).get("sent", 0) == 5, timeout=60,
                 what="every message sent")
        later = [t - t421 for t in peer.handler.sessions_at if t > t421]
        assert later, peer.handler.sessions_at
        assert min(later) >= 0.9, later
        assert pg.sql("SELECT count(*) FROM profile_state "
                      "WHERE profile = 'main'").strip() == "1"
    finally:
        a.stop()
        b.stop()


def test_settings_change_on_one_node_used_by_the_other(outpost, peers, pg):
    """PUT /api/profiles/main on node A moves the profile to another
    peer; node B delivers through the new one within seconds, and
    `config show` of B prints the new port (the database's settings)."""
    old = peers.aiosmtpd("plain")
    new = peers.aiosmtpd("plain")
    prof = peers_mod.profile(old.port)
    a, api, _ = node_with(outpost, pg, "node-a", prof, "a", http=True)
    b, _, bconf = node_with(outpost, pg, "node-b", prof, "b")
    try:
        b.send("app@example.com", ["rcpt@example.com"], mail(0, "before"))
        wait_for(lambda: len(old.messages) == 1, what="delivery to the old peer")
        r = api.put("/api/profiles/main", {"host": "127.0.0.1",
                                           "port": new.port})
        assert r.status == 200, r
        deadline = time.monotonic() + 20
        sent = 0
        while not new.messages and time.monotonic() < deadline:
            b.send("app@example.com", ["rcpt@example.com"],
                   mail(sent + 1, "after"))
            sent += 1
            time.sleep(0.5)
        assert new.messages, "node B never used the new settings"
        # /metrics of node A: which node it is, and the deliveries split by
        # the node that recorded them (all of them by B here)
        text = api.get("/metrics").text
        assert 'outpost_node_info{node="node-a"} 1' in text, text
        hit = re.search(r'(?m)^outpost_node_delivery_total\{node="node-b",'
                        r'result="sent"\} (\d+)$', text)
        assert hit and int(hit.group(1)) >= 2, text
        res = outpost.run("config", "show", conf=bconf)
        assert res.rc == 0, res
        assert "port = %d" % new.port in res.out, res.out
        assert "database" in res.err, res.err
    finally:
        a.stop()
        b.stop()
