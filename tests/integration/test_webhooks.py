"""Events for the application: signed webhooks, metadata, idempotency,
suppression and finding a message, against `outpost serve`.

A webhook receiver (Python's http.server on 127.0.0.1) checks every
signature as docs/webhooks.md tells an application to; mail goes to an
aiosmtpd peer that refuses or defers chosen recipients.
"""

import hashlib
import hmac
import http.server
import json
import threading
import time
import types

import peers as peers_mod
from daemon import wait_for
from test_http_api import TOKEN, start_serve

SECRET = "whsec-0123456789abcdef0123456789abcdef"


class Receiver:
    """An HTTP server on 127.0.0.1 that records the events POSTed to it
    and checks their signatures (constant-time); start() again on the
    same port after stop() (a receiver that was down)."""

    def __init__(self, secret=SECRET):
        self.secret = secret.encode()
        self.events = []
        self.bad = []
        self.lock = threading.Lock()
        self.server = None
        self.port = 0
        self.start()

    def start(self):
        rec = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                ok = rec.verify(self.headers.get("Outpost-Signature", ""),
                                body)
                with rec.lock:
                    if ok:
                        rec.events.append(json.loads(body))
                    else:
                        rec.bad.append((dict(self.headers), body))
                self.send_response(200 if ok else 400)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port),
                                                      H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def verify(self, header, body, tolerance=300):
        # the verifier of docs/webhooks.md
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        t, sig = parts.get("t", ""), parts.get("v1", "")
        if not t.isdigit() or abs(time.time() - int(t)) > tolerance:
            return False
        mac = hmac.new(self.secret, t.encode() + b"." + body, hashlib.sha256)
        return hmac.compare_digest(mac.hexdigest(), sig)

    def of(self, rcpt=None, kind=None, mid=None):
        with self.lock:
            return [e for e in self.events
                    if (rcpt is None or e["recipient"] == rcpt)
                    and (kind is None or e["event"] == kind)
                    and (mid is None or e["id"] == mid)]


def scripted_rcpts(peer, script):
    """The peer answers RCPT TO of an address with the replies of
    script[address] in turn (then 250); it records every RCPT it saw."""
    seen = []
    left = {a: list(r) for a, r in script.items()}
    plain = peer.handler.handle_RCPT

    async def handle_RCPT(self, server, session, envelope, address, options):
        seen.append(address)
        if left.get(address):
            return left[address].pop(0)
        return await plain(server, session, envelope, address, options)

    peer.handler.handle_RCPT = types.MethodType(handle_RCPT, peer.handler)
    return seen


def webhook_conf(port, events=None):
    text = "\n[webhook app]\nurl = http://127.0.0.1:%d/hooks/mail\n" \
           "secret = %s\n" % (port, SECRET)
    if events is not None:
        text += "events = %s\n" % events
    return text


def submit(api, to, metadata=None, key=None, subject="Your invitation"):
    body = {"from": "app@example.com", "to": to, "subject": subject,
            "text": "Hello.\n"}
    if metadata is not None:
        body["metadata"] = metadata
    headers = {"Idempotency-Key": key} if key is not None else None
    return api.post("/api/messages", body, headers=headers)


def test_events_for_each_outcome_and_the_suppression_round_trip(
        outpost, peers):
    """sent, deferred (451 then delivered), failed (550 5.1.1) and
    suppressed events, signed, with the metadata; the suppressed address
    is not contacted again until it is deleted from the list."""
    rec = Receiver()
    peer = peers.aiosmtpd("plain")
    seen = scripted_rcpts(peer, {
        "slow@example.org": ["451 4.3.0 Try again later"],
        "dead@example.org": ["550 5.1.1 <dead@example.org>: user unknown"] * 5,
    })
    d, api, conf = start_serve(
        outpost, [("main", peers_mod.profile(peer.port))],
        server={"api_token": TOKEN, "retry": "1s, 1s, 1s"},
        raw=webhook_conf(rec.port))
    try:
        meta = {"survey": "42", "invite": "9031"}
        r = submit(api, ["ok@example.org", "slow@example.org",
                         "dead@example.org"], metadata=meta)
        assert r.status == 202, r
        mid = r.json["id"]
        assert r.json["replayed"] is False
        wait_for(lambda: rec.of("slow@example.org", "sent"), timeout=30,
                 what="the deferred recipient delivered")
        wait_for(lambda: rec.of("dead@example.org", "failed"),
                 what="the failed event")
        sent = rec.of("ok@example.org", "sent")[0]
        assert sent["id"] == mid and sent["code"] == 250
        assert sent["profile"] == "main" and sent["attempt"] == 1
        assert sent["metadata"] == meta and sent["webhook"] == "app"
        assert isinstance(sent["time"], int) and sent["event_id"] > 0
        deferred = rec.of("slow@example.org", "deferred")
        assert deferred and deferred[0]["code"] == 451
        assert deferred[0]["enhanced"] == "4.3.0"
        failed = rec.of("dead@example.org", "failed")[0]
        assert (failed["code"], failed["enhanced"]) == (550, "5.1.1")
        assert "user unknown" in failed["reply"]
        # in order per message: deferred before sent for slow@
        kinds = [e["event"] for e in rec.of("slow@example.org")]
        assert kinds.index("deferred") < kinds.index("sent")
        assert rec.bad == []
        assert not rec.of(kind="queued")        # not asked for

        # dead@ is suppressed now
        r = api.get("/api/suppressions")
        assert r.status == 200, r
        sup = r.json["suppressions"]
        assert [s["address"] for s in sup] == ["dead@example.org"]
        assert sup[0]["id"] == mid and "5.1.1" in sup[0]["reason"]
        cli = outpost.run("suppressions", "list", conf=conf)
        assert cli.rc == 0 and "dead@example.org" in cli.out, cli

        # a later message: dead@ fails at once, never contacted
        contacted = seen.count("dead@example.org")
        r = submit(api, ["Dead@Example.org", "ok2@example.org"])
        mid2 = r.json["id"]
        wait_for(lambda: rec.of("Dead@Example.org", "suppressed", mid2),
                 what="the suppressed event")
        wait_for(lambda: rec.of("ok2@example.org", "sent", mid2),
                 what="the other recipient delivered")
        assert seen.count("dead@example.org") == contacted
        assert "Dead@Example.org" not in seen
        m = api.get("/api/messages/" + mid2).json
        dead = [x for x in m["recipients"] if x["address"] == "Dead@Example.org"]
        assert dead[0]["state"] == "failed"
        assert "suppressed" in dead[0]["reply"]

        # only suppressed recipients: failed without a connection
        sessions = len(peer.sessions())
        r = submit(api, ["dead@example.org"])
        mid3 = r.json["id"]
        wait_for(lambda: api.get("/api/messages/" + mid3).json["state"]
                 == "failed", what="the message failed")
        wait_for(lambda: rec.of("dead@example.org", "suppressed", mid3),
                 what="its suppressed event")
        assert len(peer.sessions()) == sessions

        # `send --now` (another process) honours the list too
        res = outpost.run("send", "--from", "app@example.com", "--to",
                          "dead@example.org", "--subject", "now", "--text",
                          "-", "--now", conf=conf, stdin="hi\n")
        assert res.rc == 65 and "suppression list" in res.out + res.err, res
        assert len(peer.sessions()) == sessions

        # deleted from the list: contacted again
        r = api.delete("/api/suppressions/DEAD@example.org")
        assert r.status == 204, r
        assert api.get("/api/suppressions").json["suppressions"] == []
        assert api.delete("/api/suppressions/dead@example.org").status == 404
        res = outpost.run("suppressions", "delete", "dead@example.org",
                          conf=conf)
        assert res.rc == 66 and "not suppressed" in res.err, res
        r = submit(api, ["dead@example.org"])
        mid4 = r.json["id"]
        wait_for(lambda: rec.of("dead@example.org", "failed", mid4),
                 what="dead@ tried again")
        assert seen.count("dead@example.org") == contacted + 1
    finally:
        d.stop()
        rec.stop()


def test_receiver_down_loses_nothing_and_keeps_the_order(outpost, peers):
    """Events wait in the outbox while the receiver is down and all
    arrive, in order per message, once it is back; the events filter
    sends only what was asked for."""
    rec = Receiver()
    port = rec.port
    rec.stop()                              # down from the start
    peer = peers.aiosmtpd("plain", reject_rcpts={"gone@example.org"})
    d, api, conf = start_serve(
        outpost, [("main", peers_mod.profile(peer.port))],
        server={"api_token": TOKEN}, raw=webhook_conf(port, "queued, sent"))
    try:
        ids = []
        for i in range(3):
            r = submit(api, ["a%d@example.org" % i, "gone@example.org"])
            assert r.status == 202, r
            ids.append(r.json["id"])
        wait_for(lambda: all(api.get("/api/messages/" + i).json["state"]
                             == "sent" for i in ids), what="mail delivered")
        wait_for(lambda: "event=webhook_retry" in d.log(),
                 what="a failed delivery of an event")
        rec.port = port
        rec.start()
        wait_for(lambda: len(rec.of(kind="sent")) == 3, timeout=30,
                 what="the events after the receiver came back")
        for i, mid in enumerate(ids):
            kinds = [(e["event"], e["recipient"]) for e in rec.of(mid=mid)]
            # queued (both recipients), then sent; nothing failed (not
            # asked for)
            assert kinds[:2] == [("queued", "a%d@example.org" % i),
                                 ("queued", "gone@example.org")], kinds
            assert kinds[2:] == [("sent", "a%d@example.org" % i)], kinds
        assert not rec.of(kind="failed")
        assert rec.bad == []
    finally:
        d.stop()
        rec.stop()


def test_idempotency_metadata_search_and_raw(outpost, peers):
    peer = peers.aiosmtpd("plain")
    d, api, conf = start_serve(
        outpost, [("main", peers_mod.profile(peer.port))],
        server={"api_token": TOKEN})
    try:
        r1 = submit(api, ["Person@Example.org"], key="invite-9031",
                    metadata={"invite": "9031"}, subject="Invitation 9031")
        assert r1.status == 202, r1
        r2 = submit(api, ["Person@Example.org"], key="invite-9031")
        assert r2.status == 200, r2
        assert r2.json["id"] == r1.json["id"] and r2.json["replayed"] is True
        assert r2.headers["Idempotent-Replayed"] == "true"
        r3 = submit(api, ["other@example.org"], key="invite-9032",
                    subject="Reminder")
        assert r3.status == 202 and r3.json["id"] != r1.json["id"]
        assert submit(api, ["x@example.org"], key="bad\x7fkey").status == 400

        # metadata bounds, a field each
        r = submit(api, ["x@example.org"], metadata={"n": 1})
        assert r.status == 422 and "metadata.n" in r.json["fields"], r
        r = submit(api, ["x@example.org"],
                   metadata={"k%d" % i: "v" for i in range(21)})
        assert r.status == 422 and "metadata" in r.json["fields"], r
        r = submit(api, ["x@example.org"], metadata={"k": "v" * 501})
        assert r.status == 422 and "metadata.k" in r.json["fields"], r

        # search by recipient, any case; the others narrow it
        r = api.get("/api/messages?to=person@example.ORG")
        assert r.status == 200, r
        assert [m["id"] for m in r.json["messages"]] == [r1.json["id"]]
        m = r.json["messages"][0]
        assert m["metadata"] == {"invite": "9031"}
        assert m["first_recipient"] == "Person@Example.org"
        assert m["subject"] == "Invitation 9031"
        r = api.get("/api/messages?subject=remind")
        assert [m["id"] for m in r.json["messages"]] == [r3.json["id"]]
        r = api.get("/api/messages?from=APP@example.com&since=%d"
                    % (int(time.time()) - 3600))
        assert len(r.json["messages"]) == 2
        r = api.get("/api/messages?to=nobody@example.org")
        assert r.json["messages"] == []
        assert api.get("/api/messages?too=x").status == 400
        assert api.get("/api/messages?since=yesterday").status == 400

        # the stored message
        r = api.get("/api/messages/%s/raw" % r1.json["id"])
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("message/rfc822")
        assert "Subject: Invitation 9031" in r.text
        assert api.get("/api/messages/0000000000000000/raw").status == 404
    finally:
        d.stop()


def test_two_postgresql_nodes_send_each_event_once(outpost, peers, pg):
    """Two nodes on one PostgreSQL database with the same webhook: each
    event is sent by one node only (outbox rows are claimed with FOR
    UPDATE SKIP LOCKED), and names the node that recorded it."""
    from daemon import HOST, free_port
    rec = Receiver()
    peer = peers.aiosmtpd("plain")
    nodes = []
    try:
        for name in ("node-a", "node-b"):
            smtp = free_port()
            srv = {"smtp_listen": "%s:%d" % (HOST, smtp), "http_listen": "",
                   "data_dir": str(outpost.tmp_path / name),
                   "database": pg.uri, "node": name, "api_token": TOKEN}
            conf = outpost.conf([("main", peers_mod.profile(peer.port))],
                                server=srv, raw=webhook_conf(rec.port))
            from daemon import Daemon
            nodes.append(Daemon(outpost, conf, smtp))
        n = 20
        for i in range(n):
            nodes[i % 2].send("app@example.com", ["r%d@example.org" % i],
                              "Subject: m %d\r\n\r\nx\r\n" % i)
        wait_for(lambda: len(rec.of(kind="sent")) >= n, timeout=60,
                 what="every sent event")
        # every event delivered and removed: a second send of one would
        # have come before its removal
        wait_for(lambda: pg.sql("SELECT count(*) FROM outbox").strip() == "0",
                 what="the outbox empty")
        ids = [e["event_id"] for e in rec.of(kind="sent")]
        assert len(ids) == n and len(set(ids)) == n, ids
        assert {e["node"] for e in rec.of(kind="sent")} <= {"node-a", "node-b"}
        assert rec.bad == []
    finally:
        for d in nodes:
            d.stop()
        rec.stop()
