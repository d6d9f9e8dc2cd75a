"""The JSON API and the web page's server, against `outpost serve`.

Every endpoint of docs/http.md, and every refusal: no or
wrong token (401), a foreign Host (403), a cookie session without its
CSRF token (403), bodies over their bound (413, the daemon healthy
afterwards), malformed JSON (400), invalid settings (422, the file
untouched), stale versions (409).  Mail goes to an aiosmtpd peer on
127.0.0.1.  Requests are made with http.client so every header is under
the test's control.
"""

import base64
import email
import email.policy
import hashlib
import http.client
import json
import os
import re
import socket
import signal
import stat
import subprocess
import threading
import time

import pytest

import conftest
import peers as peers_mod
from daemon import Daemon, free_port, wait_for

TOKEN = "t0ken-for-the-http-tests-0123456789"
PASSWORD = "Sup3r;secret \"quoted\" pass"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
PROTECTED = [
    ("GET", "/api/profiles"), ("GET", "/api/profiles/main"),
    ("PUT", "/api/profiles/main"), ("DELETE", "/api/profiles/main"),
    ("POST", "/api/profiles/main/check"), ("POST", "/api/profiles/order"),
    ("POST", "/api/test-email"), ("GET", "/api/redirect"),
    ("PUT", "/api/redirect"), ("POST", "/api/messages"),
    ("GET", "/api/messages"), ("GET", "/api/messages/0000000000000000"),
    ("POST", "/api/messages/0000000000000000/retry"),
    ("DELETE", "/api/messages/0000000000000000"), ("GET", "/metrics"),
    ("GET", "/api/session"), ("POST", "/api/logout"),
    ("POST", "/api/profiles/main/oauth/start"),
]


class Reply:
    def __init__(self, resp):
        self.status = resp.status
        self.headers = resp.headers
        self.raw = resp.read()
        self.text = self.raw.decode("utf-8", "replace")
        self.json = None
        if resp.headers.get("Content-Type", "").startswith("application/json"):
            self.json = json.loads(self.text)

    def __repr__(self):
        return "%d %s" % (self.status, self.text[:500])


class Api:
    """HTTP client for one server; remembers every body it received."""

    def __init__(self, port):
        self.port = port
        self.host = "127.0.0.1:%d" % port
        self.seen = []

    def request(self, method, path, body=None, token=TOKEN, headers=None,
                host=None, raw=None):
        h = {"Host": host or self.host}
        if token is not None:
            h["Authorization"] = "Bearer " + token
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            c.putrequest(method, path, skip_host=True,
                         skip_accept_encoding=True)
            for k, v in h.items():
                if v is not None:
                    c.putheader(k, v)
            if data is not None:
                c.putheader("Content-Length", str(len(data)))
            c.endheaders(data)
            r = Reply(c.getresponse())
        finally:
            c.close()
        self.seen.append(r.text)
        return r

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def put(self, path, body, **kw):
        return self.request("PUT", path, body, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body if body is not None else {}, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


class Served:
    def __init__(self, daemon, api, conf, peer):
        self.daemon = daemon
        self.api = api
        self.conf = conf
        self.peer = peer

    def log(self):
        return self.daemon.log()


def start_serve(outpost, profiles=(), server=None, raw=""):
    http_port, smtp_port = free_port(), free_port()
    srv = {"smtp_listen": "127.0.0.1:%d" % smtp_port,
           "http_listen": "127.0.0.1:%d" % http_port,
           "retry": "1s, 1s, 2s"}
    srv.update(server or {})
    conf = outpost.conf(profiles, server=srv, raw=raw)
    d = Daemon(outpost, conf, smtp_port, http_port)
    api = Api(http_port)
    wait_for(lambda: _health_ok(api), what="the HTTP server")
    return d, api, conf


def _health_ok(api):
    try:
        return api.get("/api/health", token=None).status == 200
    except OSError:
        return False


COMMENTED = """
; the relay's upstream servers
# keep this comment: the editor must not lose it
"""


@pytest.fixture
def served(outpost, peers):
    peer = peers.aiosmtpd("plain")
    profile = peers_mod.profile(peer.port, username="apikey",
                                password="plain-peer-pw",
                                allow_plaintext_auth=True, auth=False)
    d, api, conf = start_serve(
        outpost, [("main", profile)],
        server={"api_token": TOKEN},
        raw=COMMENTED + "[profile spare]   ; a second provider\n"
        "enabled = no\nhost = 127.0.0.1\nport = %d\nsecurity = none\n"
        "from = spare@example.com\n" % peer.port)
    s = Served(d, api, conf, peer)
    yield s
    d.stop()


def check_security_headers(r):
    for k, v in SECURITY_HEADERS.items():
        assert v in (r.headers.get(k) or ""), (k, r.headers)


# ---------------------------------------------------------------------------
# health, headers, the page


def test_health_needs_no_auth_and_counts_the_queue(served):
    r = served.api.get("/api/health", token=None)
    assert r.status == 200
    assert r.json["status"] == "ok"
    assert re.match(r"^\d+\.\d+\.\d+", r.json["version"])
    assert set(r.json["queue"]) == {"queued", "sending", "deferred", "sent",
                                    "failed", "held"}
    check_security_headers(r)


def test_page_and_its_files_are_served_with_a_strict_policy(served):
    r = page = served.api.get("/", token=None)
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("text/html")
    assert "<script" in r.text and "app.js" in r.text
    # no inline script or style: the policy forbids them
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", r.text)
    assert " style=" not in r.text
    check_security_headers(r)
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    for path, ctype in (("/app.js", "text/javascript"), ("/style.css", "text/css"),
                        ("/icon.svg", "image/svg+xml")):
        r = served.api.get(path, token=None)
        assert r.status == 200 and r.headers["Content-Type"].startswith(ctype)
        assert len(r.raw) > 100
    for label in ("Host", "Port", "Security", "Use authentication", "Username",
                  "Password", "Sender address", "Verify TLS certificate",
                  "Enabled"):
        assert re.search(r"<label for=\"[^\"]+\">%s</label>" % re.escape(label),
                         page.text), label


def test_unknown_path_404_and_wrong_method_405(served):
    r = served.api.get("/api/nothing-here")
    assert r.status == 404 and "error" in r.json
    r = served.api.request("PATCH", "/api/profiles/main", {"host": "x"})
    assert r.status == 405
    assert "PUT" in r.headers["Allow"] and "DELETE" in r.headers["Allow"]
    check_security_headers(r)


# ---------------------------------------------------------------------------
# authentication


@pytest.mark.parametrize("token", [None, "wrong-token-wrong-token", ""])
def test_every_endpoint_refuses_without_the_token(served, token):
    for method, path in PROTECTED:
        body = {} if method in ("PUT", "POST") else None
        r = served.api.request(method, path, body, token=token)
        assert r.status == 401, (method, path, r)
        assert "error" in r.json
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        check_security_headers(r)


def test_basic_auth_is_not_a_token(served):
    basic = base64.b64encode(("x:" + TOKEN).encode()).decode()
    r = served.api.get("/api/profiles", token=None,
                       headers={"Authorization": "Basic " + basic})
    assert r.status == 401


def test_login_session_cookie_and_csrf(served):
    api = served.api
    r = api.post("/api/login", {"token": "not-it"}, token=None)
    assert r.status == 401 and "Set-Cookie" not in r.headers
    r = api.post("/api/login", {"token": TOKEN}, token=None)
    assert r.status == 200
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    sid = re.match(r"outpost_session=([0-9a-f]{64});", cookie).group(1)
    csrf = r.json["csrf_token"]
    assert re.fullmatch(r"[0-9a-f]{64}", csrf) and csrf != sid
    jar = {"Cookie": "outpost_session=" + sid}

    r = api.get("/api/session", token=None, headers=jar)
    assert r.status == 200 and r.json["csrf_token"] == csrf
    r = api.get("/api/profiles", token=None, headers=jar)
    assert r.status == 200
    # state-changing requests with the cookie need the CSRF token
    for hdrs in (jar, dict(jar, **{"X-CSRF-Token": "0" * 64}),
                 dict(jar, **{"X-CSRF-Token": ""})):
        r = api.put("/api/profiles/main", {"enabled": False}, token=None,
                    headers=hdrs)
        assert r.status == 403, r
        assert "CSRF" in r.json["error"]
    r = api.put("/api/profiles/main", {"timeout": "20s"}, token=None,
                headers=dict(jar, **{"X-CSRF-Token": csrf}))
    assert r.status == 200, r
    # a bearer token needs no CSRF token
    r = api.put("/api/profiles/main", {"timeout": "25s"})
    assert r.status == 200
    # logout ends the session
    r = api.post("/api/logout", token=None,
                 headers=dict(jar, **{"X-CSRF-Token": csrf}))
    assert r.status == 204 and "Max-Age=0" in r.headers["Set-Cookie"]
    assert api.get("/api/profiles", token=None, headers=jar).status == 401
    # a made-up cookie is no session
    r = api.get("/api/profiles", token=None,
                headers={"Cookie": "outpost_session=" + "a" * 64})
    assert r.status == 401


def test_failed_logins_are_throttled(served):
    codes = [served.api.post("/api/login", {"token": "guess-%d" % i},
                             token=None).status for i in range(25)]
    assert codes[:20] == [401] * 20
    assert 429 in codes[20:]
    # the bearer token still works
    assert served.api.get("/api/profiles").status == 200


# ---------------------------------------------------------------------------
# Host check (DNS rebinding)


def test_foreign_host_is_refused(served):
    api = served.api
    port = api.port
    for host in ("evil.example", "evil.example:%d" % port, "127.0.0.2:%d" % port,
                 "localhost:%d" % (port + 1), "localhost.evil.example",
                 "127.0.0.1:%d:1" % port, "[::2]:%d" % port):
        for path in ("/api/health", "/", "/api/profiles"):
            r = api.get(path, host=host)
            assert r.status == 403, (host, path, r)
            assert "Host" in r.json["error"]
            check_security_headers(r)
    for host in ("127.0.0.1:%d" % port, "localhost:%d" % port, "LOCALHOST",
                 "[::1]:%d" % port, "127.0.0.1"):
        assert api.get("/api/health", host=host).status == 200, host


def test_missing_host_is_refused(served):
    c = http.client.HTTPConnection("127.0.0.1", served.api.port, timeout=10)
    c._http_vsn, c._http_vsn_str = 10, "HTTP/1.0"
    c.putrequest("GET", "/api/health", skip_host=True)
    c.endheaders()
    r = c.getresponse()
    assert r.status in (400, 403)
    c.close()


def test_allowed_hosts_setting(outpost):
    d, api, _ = start_serve(outpost, server={
        "api_token": TOKEN,
        "http_allowed_hosts": "relay.example.org, Admin.Example.org"})
    try:
        assert api.get("/api/health", host="relay.example.org").status == 200
        assert api.get("/api/health", host="relay.example.org:1234").status == 200
        assert api.get("/api/health", host="admin.example.org:8443").status == 200
        assert api.get("/api/health", host="ADMIN.example.org").status == 200
        assert api.get("/api/health", host="other.example.org").status == 403
    finally:
        d.stop()


# ---------------------------------------------------------------------------
# bounds


def test_50mb_body_is_refused_before_it_is_read(served):
    api = served.api
    size = 50 * 1024 * 1024
    s = socket.create_connection(("127.0.0.1", api.port), timeout=30)
    s.sendall(("POST /api/messages HTTP/1.1\r\nHost: %s\r\n"
               "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
               "Content-Length: %d\r\n\r\n" % (api.host, TOKEN, size)).encode())
    # the answer comes before a single byte of the body was sent
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 413"), head
    assert b"Connection: close" in head
    # and the connection ends: sending the body fails or is ignored
    sent = 0
    try:
        block = b"x" * 65536
        while sent < size:
            s.sendall(block)
            sent += len(block)
    except OSError:
        pass
    assert sent < size, "the server read all 50 MB"
    s.close()
    r = api.get("/api/health", token=None)
    assert r.status == 200 and r.json["status"] == "ok"


def test_chunked_body_over_the_bound_ends_the_connection(served):
    api = served.api
    s = socket.create_connection(("127.0.0.1", api.port), timeout=30)
    s.sendall(("PUT /api/redirect HTTP/1.1\r\nHost: %s\r\n"
               "Authorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n\r\n"
               % (api.host, TOKEN)).encode())
    reply = b""
    try:
        for _ in range(4 * 1024):      # up to 64 MB
            s.sendall(b"4000\r\n" + b"{" * 0x4000 + b"\r\n")
    except OSError:
        pass
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    except OSError:
        pass
    s.close()
    assert reply == b"" or reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert api.get("/api/health", token=None).status == 200


def test_settings_body_bound_is_64k(served):
    big = {"host": "a" * (70 * 1024)}
    r = served.api.put("/api/profiles/main", big)
    assert r.status == 413
    assert served.api.get("/api/health", token=None).status == 200


def test_malformed_json_is_400_with_a_clear_message(served):
    api = served.api
    cases = [
        (b"{not json", "not valid JSON"),
        (b'{"host": "\xff\xfe"}', "UTF-8"),
        (b'{"host": "\xed\xa0\x80"}', "UTF-8"),          # a surrogate
        (b"[" * 40 + b"]" * 40, "deeper"),
        (b'["a list"]', "object"),
        (b'{"host": "a", "host": "b"}', "duplicate"),
        (b'{"host": "a\\u0000b"}', "not valid JSON"),
        (b"", "JSON object"),
    ]
    for raw, words in cases:
        r = api.request("PUT", "/api/profiles/main", raw=raw,
                        headers={"Content-Type": "application/json"})
        assert r.status == 400, (raw, r)
        assert words.lower() in r.json["error"].lower(), (raw, r)
    # nothing was changed
    assert api.get("/api/profiles/main").json["profile"]["host"] == "127.0.0.1"


# ---------------------------------------------------------------------------
# profiles


def file_text(served):
    return open(served.conf, encoding="utf-8").read()


def test_profiles_list_never_shows_a_password(served):
    r = served.api.get("/api/profiles")
    assert r.status == 200
    names = [p["name"] for p in r.json["profiles"]]
    assert names == ["main", "spare"]
    main = r.json["profiles"][0]
    assert main["has_password"] is True and "password" not in main
    assert main["host"] == "127.0.0.1" and main["security"] == "none"
    assert main["enabled"] is True and r.json["profiles"][1]["enabled"] is False
    assert re.fullmatch(r"[0-9a-f]{32}", r.json["version"])
    assert r.headers["ETag"] == '"%s"' % r.json["version"]
    assert "plain-peer-pw" not in r.text


def test_put_creates_updates_and_keeps_comments(served):
    api = served.api
    before = file_text(served)
    r = api.put("/api/profiles/new-one", {
        "host": "smtp.example.net", "port": 465, "security": "tls",
        "auth": True, "username": "me@example.net", "password": PASSWORD,
        "from": "me@example.net", "limits": ["14/s", "10000/d"],
        "timeout": 20, "enabled": False})
    assert r.status == 201, r
    assert r.headers["Location"] == "/api/profiles/new-one"
    p = r.json["profile"]
    assert p["host"] == "smtp.example.net" and p["port"] == 465
    assert p["security"] == "tls" and p["has_password"] is True
    assert p["limits"] == "14/s, 10000/d" and p["timeout"] == "20s"
    assert p["enabled"] is False
    after = file_text(served)
    # every line that was there is still there, comments included
    for line in before.splitlines():
        assert line in after.splitlines(), line
    assert "# keep this comment: the editor must not lose it" in after
    assert "[profile spare]   ; a second provider" in after
    assert "[profile new-one]" in after
    # the password is in the file (quoted so it reads back the same) ...
    assert '"Sup3r;secret \\"quoted\\" pass"' in after
    # ... and effective at once, without a restart
    r = api.get("/api/profiles/new-one")
    assert r.status == 200 and r.json["profile"]["username"] == "me@example.net"

    # the port moves without the password: the stored one is cleared
    # (docs/security.md); the profile still logs in, so it now
    # lacks a password, and says so
    r = api.put("/api/profiles/new-one", {"port": 2465})
    assert r.status == 200 and r.json["profile"]["port"] == 2465
    assert r.json["password_cleared"] is True
    assert r.json["profile"]["has_password"] is False
    assert r.json["profile"]["auth"] == "yes"
    assert r.json["profile"]["password_source"] == "none"
    assert "Sup3r" not in file_text(served)
    # other changes to it are fine; it stays without a password
    r = api.put("/api/profiles/new-one", {"timeout": "25s"})
    assert r.status == 200 and r.json["password_cleared"] is False
    assert r.json["profile"]["has_password"] is False
    r = api.put("/api/profiles/new-one", {"auth": True, "password": PASSWORD})
    assert r.status == 200 and r.json["profile"]["has_password"] is True
    assert r.json["password_cleared"] is False
    # "" removes a password a login needs: refused, the file untouched
    before = file_text(served)
    r = api.put("/api/profiles/new-one", {"password": ""})
    assert r.status == 422 and "password" in r.json["fields"], r
    assert file_text(served) == before
    # turning authentication off with the move: nothing needs a password
    r = api.put("/api/profiles/new-one", {"port": 2466, "auth": False})
    assert r.status == 200 and r.json["password_cleared"] is True
    assert r.json["profile"]["has_password"] is False
    r = api.put("/api/profiles/new-one", {"auth": True, "password": PASSWORD})
    assert r.status == 200 and r.json["profile"]["has_password"] is True
    # the same with a password keeps it
    r = api.put("/api/profiles/new-one", {"host": "smtp2.example.net",
                                          "password": PASSWORD})
    assert r.status == 200 and r.json["profile"]["has_password"] is True
    assert r.json["password_cleared"] is False
    # unrelated changes keep it
    r = api.put("/api/profiles/new-one", {"timeout": "45s", "enabled": True})
    assert r.status == 200 and r.json["profile"]["has_password"] is True
    # a value null puts the default back
    r = api.put("/api/profiles/new-one", {"timeout": None})
    assert r.status == 200 and r.json["profile"]["timeout"] == "30s"
    assert "timeout" not in file_text(served).split("[profile new-one]")[1]


def test_a_move_without_the_password_clears_it_and_the_check_says_so(
        served, peers):
    """docs/security.md: changing host, port or security without entering the
    password again clears the stored one.  The profile keeps logging in,
    so it is left without a password: visible in the profile, in the
    file's warning, and as the check's failed first step; the new server
    never sees the old password."""
    api = served.api
    users = {"u": "pw-for-the-old-server"}
    old_peer = peers.aiosmtpd("plain", users=users, auth_require_tls=False)
    new_peer = peers.aiosmtpd("plain", users=users, auth_require_tls=False)
    r = api.put("/api/profiles/login", {
        "host": "127.0.0.1", "port": old_peer.port, "security": "none",
        "allow_plaintext_auth": True, "username": "u",
        "password": users["u"], "from": "a@example.com"})
    assert r.status == 201, r
    assert api.post("/api/profiles/login/check").json["ok"] is True
    r = api.put("/api/profiles/login", {"port": new_peer.port})
    assert r.status == 200, r
    assert r.json["password_cleared"] is True
    p = r.json["profile"]
    assert p["port"] == new_peer.port and p["auth"] == "yes"
    assert p["has_password"] is False and p["password_source"] == "none"
    section = file_text(served).split("[profile login]")[1]
    assert "password" not in section.replace("allow_plaintext_auth", "")
    assert users["u"] not in file_text(served)
    # the list says the same after a reload of the settings
    listed = {x["name"]: x for x in api.get("/api/profiles").json["profiles"]}
    assert listed["login"]["has_password"] is False
    # the check fails at once, saying the password is missing, and
    # nothing reached the new server
    r = api.post("/api/profiles/login/check")
    assert r.status == 200 and r.json["ok"] is False
    failed = [s for s in r.json["steps"] if not s["ok"]]
    assert len(failed) == 1, r.json
    assert "no password" in failed[0]["detail"]
    assert "password" in failed[0]["hint"]
    assert new_peer.sessions() == []
    # entering it again makes the profile whole
    r = api.put("/api/profiles/login", {"password": users["u"]})
    assert r.status == 200 and r.json["profile"]["has_password"] is True
    assert r.json["password_cleared"] is False
    assert api.post("/api/profiles/login/check").json["ok"] is True
    served.daemon.stop()
    log = served.log()
    assert "authentication needs a password" in log
    assert users["u"] not in log


def test_a_new_profile_that_logs_in_needs_a_password(served):
    api = served.api
    before = file_text(served)
    r = api.put("/api/profiles/fresh", {
        "host": "127.0.0.1", "port": 2525, "security": "starttls",
        "username": "u"})
    assert r.status == 422, r
    assert "password" in r.json["fields"]
    assert file_text(served) == before


def test_put_validation_is_per_field_and_the_file_is_untouched(served):
    api = served.api
    before = file_text(served)
    r = api.put("/api/profiles/main", {
        "port": 0, "security": "ssl-please", "from": "not an address",
        "limits": "3/x", "timeout": "soon", "enabled": "maybe",
        "max_connections": 0, "frobnicate": 1,
        "password_command": "cat /etc/shadow"})
    assert r.status == 422, r
    f = r.json["fields"]
    assert set(f) >= {"port", "security", "from", "limits", "timeout",
                      "enabled", "max_connections", "frobnicate",
                      "password_command"}
    assert "1..65535" in f["port"]
    assert "starttls" in f["security"]
    assert file_text(served) == before
    # a new profile needs a host
    r = api.put("/api/profiles/nohost", {"port": 587})
    assert r.status == 422 and "host" in r.json["fields"]
    # the loader's own checks (the same as `outpost config check`)
    r = api.put("/api/profiles/main", {"tls_ca_file": "/nonexistent/ca.pem"})
    assert r.status == 422, r
    assert "cannot read" in r.json["fields"]["tls_ca_file"]
    r = api.put("/api/profiles/spare", {"auth": True})
    assert r.status == 422, r
    assert "username" in r.json["fields"]["auth"]
    assert file_text(served) == before
    # a bad profile name
    r = api.put("/api/profiles/-bad", {"host": "x.example"})
    assert r.status == 422 and "name" in r.json["fields"]
    assert file_text(served) == before


def test_stale_version_is_a_conflict(served):
    api = served.api
    v = api.get("/api/profiles").json["version"]
    r = api.put("/api/profiles/main", {"timeout": "40s"},
                headers={"If-Match": '"%s"' % v})
    assert r.status == 200
    # someone else's version is now stale
    before = file_text(served)
    r = api.put("/api/profiles/main", {"timeout": "50s"},
                headers={"If-Match": '"%s"' % v})
    assert r.status == 409, r
    assert file_text(served) == before
    # an edit of the file on disk is noticed too
    v = api.get("/api/profiles").json["version"]
    with open(served.conf, "a", encoding="utf-8") as f:
        f.write("; edited by hand\n")
    r = api.delete("/api/profiles/spare", headers={"If-Match": '"%s"' % v})
    assert r.status == 409
    assert "[profile spare]" in file_text(served)


def _sha256_prefix(text):
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def test_version_is_not_derived_from_the_password(served):
    """The version (ETag) is readable by any token holder; were it a hash of
    the file, passwords could be guessed offline against it.  It changes on
    every write (a password-only change included) but the same file bytes
    can give different versions, and no hash of the file's text with a
    guessed password matches it."""
    api = served.api
    guesses = ["pw-one-1234", "pw-two-5678"]
    base = {"host": "127.0.0.1", "port": served.peer.port, "security": "none",
            "allow_plaintext_auth": True, "username": "u",
            "from": "a@example.com"}
    r = api.put("/api/profiles/guess", dict(base, password=guesses[0]))
    assert r.status == 201
    v1, text1 = r.json["version"], file_text(served)
    assert api.get("/api/profiles").json["version"] == v1   # stable
    assert re.fullmatch(r"[0-9a-f]{32}", v1)
    r = api.put("/api/profiles/guess", {"password": guesses[1]})
    assert r.status == 200
    v2, text2 = r.json["version"], file_text(served)
    assert v2 != v1                       # a password-only change is seen
    assert text2 == text1.replace(guesses[0], guesses[1])
    r = api.put("/api/profiles/guess", {"password": guesses[0]})
    v3, text3 = r.json["version"], file_text(served)
    assert text3 == text1 and v3 not in (v1, v2)   # same bytes, new version
    # no guess checked against a hash of the file confirms the password
    for version, text in ((v1, text1), (v2, text2), (v3, text3)):
        for g in guesses:
            candidate = text.replace(guesses[0], g).replace(guesses[1], g)
            assert _sha256_prefix(candidate) != version
    # and the stale-version rule still holds for a password-only change
    r = api.put("/api/profiles/guess", {"password": guesses[1]},
                headers={"If-Match": '"%s"' % v1})
    assert r.status == 409
    assert file_text(served) == text3
    r = api.put("/api/profiles/guess", {"password": guesses[1]},
                headers={"If-Match": '"%s"' % v3})
    assert r.status == 200


def test_enable_reorder_rename_delete(served):
    api = served.api
    r = api.put("/api/profiles/spare", {"enabled": True})
    assert r.status == 200 and r.json["profile"]["enabled"] is True
    r = api.post("/api/profiles/order", {"order": ["spare", "main"]})
    assert r.status == 200, r
    assert [p["name"] for p in r.json["profiles"]] == ["spare", "main"]
    assert [p["name"] for p in api.get("/api/profiles").json["profiles"]] == \
        ["spare", "main"]
    text = file_text(served)
    assert text.index("[profile spare]") < text.index("[profile main]")
    assert "# keep this comment" in text
    # an order that does not name every profile exactly once
    for order in (["main"], ["main", "main"], ["main", "spare", "ghost"]):
        r = api.post("/api/profiles/order", {"order": order})
        assert r.status == 409, (order, r)
    r = api.post("/api/profiles/order", {"order": "main"})
    assert r.status == 400
    # rename
    r = api.put("/api/profiles/spare", {"name": "backup"})
    assert r.status == 200 and r.json["profile"]["name"] == "backup"
    r = api.put("/api/profiles/backup", {"name": "main"})
    assert r.status == 409
    # delete
    assert api.delete("/api/profiles/backup").status == 204
    assert api.delete("/api/profiles/backup").status == 404
    assert api.get("/api/profiles/backup").status == 404
    assert [p["name"] for p in api.get("/api/profiles").json["profiles"]] == ["main"]
    assert "[profile backup]" not in file_text(served)


class SlowDataPeer:
    """A scripted SMTP server that holds its reply to the end of DATA
    until release() (at most 20 s): a delivery stays in flight for as
    long as the test needs.  messages counts the messages it finished
    receiving; in_data is set when one is waiting for its reply."""

    def __init__(self):
        self.in_data = threading.Event()
        self.released = threading.Event()
        self.messages = []
        self.lock = threading.Lock()

    def release(self):
        self.released.set()

    def data(self, conn, line):
        conn.send("354 End data with <CR><LF>.<CR><LF>")
        lines = peers_mod.read_data(conn)
        if lines is None:
            return True
        with self.lock:
            self.messages.append(lines)
        self.in_data.set()
        self.released.wait(20)
        conn.send("250 2.0.0 Ok: queued as SLOW%d" % len(self.messages))
        return False

    def script(self, conn):
        ok = "250 2.0.0 Ok"
        peers_mod.answer_commands(
            conn, "220 localhost ESMTP slow", ("250-localhost", "250 8BITMIME"),
            {"MAIL": ok, "RCPT": ok, "RSET": ok, "NOOP": ok,
             "DATA": self.data}, "502 5.5.2 Command not recognized")


def test_saving_settings_does_not_disturb_a_delivery_in_flight(outpost, peers):
    """Issue 4: a PUT takes effect at once "without disturbing in-flight
    deliveries".  While the upstream server holds its reply to DATA, the
    profile is moved to another server: the PUT answers at once, the
    message in flight is delivered exactly once (by the old server, with
    its reply recorded), and the next message goes to the new server."""
    slow = SlowDataPeer()
    slow_peer = peers.scripted(slow.script)
    fast = peers.aiosmtpd("plain")
    d, api, conf = start_serve(outpost, [("main", peers_mod.profile(slow_peer.port))],
                               server={"api_token": TOKEN})
    try:
        r = api.post("/api/messages", {"from": "app@example.com",
                                       "to": ["first@example.com"],
                                       "subject": "in flight", "text": "x"})
        assert r.status == 202
        first = r.json["id"]
        assert slow.in_data.wait(20), "the first message never reached DATA"
        assert api.get("/api/messages/" + first).json["state"] == "sending"

        t0 = time.monotonic()
        r = api.put("/api/profiles/main", {"port": fast.port})
        assert r.status == 200, r
        assert time.monotonic() - t0 < 5          # not held up by the delivery
        assert r.json["profile"]["port"] == fast.port
        assert "port = %d" % fast.port in open(conf).read()
        # still in flight, untouched by the change
        assert api.get("/api/messages/" + first).json["state"] == "sending"
        slow.release()

        m = wait_state(api, first, ("sent", "failed", "deferred"))
        assert m["state"] == "sent", m
        assert m["attempts"] == 1, m
        assert "SLOW1" in m["recipients"][0]["reply"]

        r = api.post("/api/messages", {"from": "app@example.com",
                                       "to": ["second@example.com"],
                                       "subject": "after the change",
                                       "text": "x"})
        second = wait_state(api, r.json["id"], ("sent", "failed", "deferred"))
        assert second["state"] == "sent", second
        assert [x.rcpt_tos for x in fast.messages] == [["second@example.com"]]
        assert "queued as 4XyZ0123" in second["recipients"][0]["reply"]
        # exactly once: one session and one message at the old server,
        # and nothing more arrives there later
        time.sleep(1.5)
        assert len(slow.messages) == 1
        assert len(slow_peer.sessions()) == 1
        assert slow_peer.sessions()[0].commands().count("DATA") == 1
        assert len(fast.messages) == 1
        assert api.get("/api/messages/" + first).json["attempts"] == 1
    finally:
        slow.release()
        d.stop()


# ---------------------------------------------------------------------------
# redirect


def test_redirect_get_put(served):
    api = served.api
    r = api.get("/api/redirect")
    assert r.status == 200 and r.json["enabled"] is False and r.json["reports"] == []
    r = api.put("/api/redirect", {"enabled": True, "reports": []})
    assert r.status == 422 and "reports" in r.json["fields"]
    r = api.put("/api/redirect", {"enabled": True, "reports": [
        {"email": "qa@example.com", "enabled": True},
        {"email": "dev@example.com", "enabled": False}]})
    assert r.status == 200, r
    assert r.json == {"enabled": True, "version": r.json["version"],
                      "editable": True, "reports": [
                          {"email": "qa@example.com", "enabled": True},
                          {"email": "dev@example.com", "enabled": False}]}
    text = file_text(served)
    assert "[report qa@example.com]" in text and "[report dev@example.com]" in text
    assert api.get("/api/health", token=None).json["redirect"] is True
    r = api.put("/api/redirect", {"reports": [{"email": "not-an-address"}]})
    assert r.status == 422 and "reports[0]" in r.json["fields"]
    r = api.put("/api/redirect", {"enabled": False,
                                  "reports": [{"email": "qa@example.com"}]})
    assert r.status == 200
    assert r.json["reports"] == [{"email": "qa@example.com", "enabled": True}]
    assert "[report dev@example.com]" not in file_text(served)
    assert api.get("/api/health", token=None).json["redirect"] is False


# ---------------------------------------------------------------------------
# messages


def wait_state(api, mid, states, timeout=30, **kw):
    def pred():
        r = api.get("/api/messages/" + mid, **kw)
        return r.json if r.status == 200 and r.json["state"] in states else None
    return wait_for(pred, timeout=timeout, what="message %s in %s" % (mid, states))


def test_submit_is_delivered_with_bcc_only_in_the_envelope(served):
    api = served.api
    att = base64.b64encode(b"col1,col2\r\n1,2\r\n").decode()
    r = api.post("/api/messages", {
        "from": {"email": "app@example.com", "name": "The App"},
        "to": ["a@example.com"], "cc": ["c@example.com"],
        "bcc": ["hidden@example.com"], "subject": "Report \u2713",
        "text": "Hello,\nthe report.\n", "html": "<p>Hello, <b>the report</b></p>",
        "headers": {"Reply-To": "help@example.com", "X-Campaign": "q3"},
        "attachments": [{"filename": "report.csv", "content_type": "text/csv",
                         "content_base64": att}]})
    assert r.status == 202, r
    mid = r.json["id"]
    assert re.fullmatch(r"[0-9a-z]{16}", mid)
    m = wait_state(api, mid, ("sent",))
    assert {x["address"] for x in m["recipients"]} == {
        "a@example.com", "c@example.com", "hidden@example.com"}
    for x in m["recipients"]:
        assert x["state"] == "sent" and x["code"] == 250
        assert x["reply"] and "queued" in x["reply"]
    assert m["events"] and all({"at", "kind", "text"} <= set(e) for e in m["events"])
    assert m["subject"]
    assert len(served.peer.messages) == 1
    got = served.peer.messages[0]
    assert sorted(got.rcpt_tos) == ["a@example.com", "c@example.com",
                                    "hidden@example.com"]
    msg = email.message_from_bytes(got.content, policy=email.policy.default)
    assert "hidden@example.com" not in got.content.decode("utf-8", "replace")
    assert msg["Subject"] == "Report \u2713"
    assert msg["Reply-To"] == "help@example.com"
    parts = [p.get_filename() for p in msg.walk() if p.get_filename()]
    assert parts == ["report.csv"]
    # the list shows it
    r = api.get("/api/messages?status=sent&limit=10")
    assert r.status == 200 and mid in [x["id"] for x in r.json["messages"]]
    assert r.json["counts"]["sent"] >= 1
    assert api.get("/api/messages?status=failed").json["messages"] == []


def test_header_injection_adds_no_recipient(served):
    api = served.api
    for subject in ("Hi\r\nBcc: x@y.example", "Hi\nBcc: x@y.example",
                    "Hi\rBcc: x@y.example"):
        r = api.post("/api/messages", {"from": "app@example.com",
                                       "to": ["a@example.com"],
                                       "subject": subject, "text": "x"})
        assert r.status == 400, r
        assert "subject" in r.json["fields"]
    for hdrs in ({"X-A": "v\r\nBcc: x@y.example"}, {"X-A\r\nBcc": "x@y.example"},
                 {"Bcc": "x@y.example"}):
        r = api.post("/api/messages", {"from": "app@example.com",
                                       "to": ["a@example.com"],
                                       "headers": hdrs, "text": "x"})
        assert r.status == 400, r
    r = api.post("/api/messages", {"from": "app@example.com",
                                   "to": ["a@example.com\r\nRCPT TO:<x@y.example>"],
                                   "text": "x"})
    assert r.status == 400 and "to[0]" in r.json["fields"]
    # nothing was queued: a good message after them is the only one sent
    assert api.get("/api/messages").json["messages"] == []
    r = api.post("/api/messages", {"from": "app@example.com",
                                   "to": ["a@example.com"], "subject": "ok",
                                   "text": "x"})
    wait_state(api, r.json["id"], ("sent",))
    assert [m.rcpt_tos for m in served.peer.messages] == [["a@example.com"]]


def test_submit_field_errors(served):
    api = served.api
    r = api.post("/api/messages", {"to": "bad", "cc": [1], "subject": 5,
                                   "profile": "ghost", "attachments": [
                                       {"content_base64": "***"}],
                                   "surprise": True})
    assert r.status == 400
    assert set(r.json["fields"]) >= {"from", "to", "cc[0]", "subject", "profile",
                                     "attachments[0]", "surprise"}
    r = api.post("/api/messages", {"from": "a@example.com", "text": "x"})
    assert r.status == 400 and "to" in r.json["fields"]


def test_retry_delete_and_unknown_ids(served):
    api = served.api
    served.peer.handler.reject_rcpts.add("nobody@example.com")
    r = api.post("/api/messages", {"from": "app@example.com",
                                   "to": ["nobody@example.com"], "text": "x"})
    assert r.status == 202
    mid = r.json["id"]
    m = wait_state(api, mid, ("failed",))
    assert m["recipients"][0]["code"] == 550
    assert m["recipients"][0]["enhanced"] == "5.1.1"
    assert "User unknown" in m["recipients"][0]["reply"]
    served.peer.handler.reject_rcpts.clear()
    r = api.post("/api/messages/%s/retry" % mid)
    assert r.status == 200, r
    wait_state(api, mid, ("sent",))
    r = api.post("/api/messages/%s/retry" % mid)
    assert r.status == 409            # nothing left to retry
    assert api.delete("/api/messages/" + mid).status == 204
    assert api.get("/api/messages/" + mid).status == 404
    assert api.delete("/api/messages/" + mid).status == 404
    assert api.get("/api/messages/not-an-id").status == 404
    assert api.post("/api/messages/zzzzzzzzzzzzzzzz/retry").status == 404
    assert api.get("/api/messages?status=bogus").status == 400
    assert api.get("/api/messages?limit=0").status == 400
    assert api.get("/api/messages?limit=abc").status == 400


# ---------------------------------------------------------------------------
# check, test email, metrics


def test_check_reports_every_step(served):
    r = served.api.post("/api/profiles/main/check")
    assert r.status == 200, r
    assert r.json["ok"] is True
    steps = r.json["steps"]
    assert [s["step"] for s in steps][:3] == ["resolve", "connect", "greeting"]
    assert "sender" in [s["step"] for s in steps]
    for s in steps:
        assert set(s) >= {"step", "ok", "detail", "hint"}
    assert served.api.post("/api/profiles/ghost/check").status == 404


def test_check_of_a_dead_server_fails_with_a_hint(served, peers):
    dead = peers.refused_port()
    assert served.api.put("/api/profiles/dead", {
        "host": "127.0.0.1", "port": dead, "security": "none",
        "from": "a@example.com"}).status == 201
    r = served.api.post("/api/profiles/dead/check")
    assert r.status == 200 and r.json["ok"] is False
    failed = [s for s in r.json["steps"] if not s["ok"]]
    assert failed and failed[0]["step"] == "connect" and failed[0]["hint"]


def test_test_email_arrives_and_is_in_the_log(served):
    api = served.api
    r = api.post("/api/test-email", {"to": "me@example.com", "profile": "main"})
    assert r.status == 200, r
    assert r.json["ok"] is True and r.json["code"] == 250
    assert "queued as" in r.json["reply"]
    assert len(served.peer.messages) == 1
    assert served.peer.messages[0].rcpt_tos == ["me@example.com"]
    mid = r.json["id"]
    m = api.get("/api/messages/" + mid).json
    assert m["state"] == "sent" and m["recipients"][0]["code"] == 250
    assert "Outpost test email" in m["subject"]
    # the log entry is never delivered by the queue: a message queued
    # after it is sent, and the test email was not sent again
    r = api.post("/api/messages", {"from": "app@example.com",
                                   "to": ["b@example.com"], "text": "x"})
    wait_state(api, r.json["id"], ("sent",))
    assert [m.rcpt_tos for m in served.peer.messages] == [
        ["me@example.com"], ["b@example.com"]]
    r = api.post("/api/test-email", {"to": "not an address", "profile": "main"})
    assert r.status == 400 and "to" in r.json["fields"]
    r = api.post("/api/test-email", {"to": "me@example.com", "profile": "ghost"})
    assert r.status == 404
    r = api.post("/api/test-email", {"profile": "main"})
    assert r.status == 400


def parse_metrics(text):
    """{(name, frozenset of (label, value))}: value, from Prometheus text;
    also checks every line is a comment or a well-formed sample."""
    out = {}
    sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+]+|\+Inf)$')
    for line in text.splitlines():
        if not line or line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        m = sample.match(line)
        assert m, "not a sample line: %r" % line
        labels = frozenset(re.findall(r'([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"',
                                      m.group(2) or ""))
        key = (m.group(1), labels)
        assert key not in out, "sample twice: %r" % line
        out[key] = float(m.group(3))
    return out


def metric(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def test_metrics(outpost, peers):
    """Counters by profile for messages and recipients, the latency
    histogram, the connections gauge and rate-limit waits, after three
    messages through a profile limited to one per second, one recipient
    refused by the peer."""
    peer = peers.aiosmtpd("plain", reject_rcpts={"nobody@example.com"})
    # nobody@ is refused twice: without the suppression list (on by
    # default), the second refusal is the provider's too
    d, api, _ = start_serve(
        outpost, [("limited", peers_mod.profile(peer.port, limits="1/s"))],
        server={"api_token": TOKEN, "suppress": False})
    try:
        rcpts = [["a@example.com", "nobody@example.com"],   # sent, 1 of 2
                 ["b@example.com", "c@example.com"],         # sent
                 ["nobody@example.com"]]                     # failed
        t0 = time.monotonic()
        ids = []
        for to in rcpts:
            r = api.post("/api/messages", {"from": "app@example.com",
                                           "to": to, "text": "x"})
            assert r.status == 202, r
            ids.append(r.json["id"])
        states = [wait_state(api, mid, ("sent", "failed"))["state"]
                  for mid in ids]
        elapsed = time.monotonic() - t0
        assert states == ["sent", "sent", "failed"]
        # one send per second: the second message waited for the first
        assert elapsed >= 0.9, elapsed
        assert sorted(sum((m.rcpt_tos for m in peer.messages), [])) == [
            "a@example.com", "b@example.com", "c@example.com"]
        # suppress = no: nothing was put on the list
        assert api.get("/api/suppressions").json["suppressions"] == []

        # counted once each outcome is on disk, just after the state the
        # API shows: wait until all three are in
        def counted():
            r = api.get("/metrics")
            m = parse_metrics(r.text)
            done = sum(metric(m, "outpost_delivery_%s_total" % k,
                              profile="limited") or 0
                       for k in ("sent", "failed", "deferred"))
            return (r, m) if done >= 3 else None
        r, m = wait_for(counted, what="three outcomes counted")
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        for line in ("# TYPE outpost_delivery_sent_total counter",
                     "# TYPE outpost_recipients_sent_total counter",
                     "# TYPE outpost_recipients_deferred_total counter",
                     "# TYPE outpost_recipients_failed_total counter",
                     "# TYPE outpost_delivery_latency_seconds histogram",
                     "# TYPE outpost_upstream_connections_open gauge",
                     "# TYPE outpost_rate_limit_waits_total counter"):
            assert line in r.text, line
        prof = {"profile": "limited"}
        assert metric(m, "outpost_queue_messages", state="sent") == 2
        assert metric(m, "outpost_queue_messages", state="failed") == 1
        # messages: a message with one recipient sent is sent
        assert metric(m, "outpost_delivery_sent_total", **prof) == 2
        assert metric(m, "outpost_delivery_failed_total", **prof) == 1
        assert metric(m, "outpost_delivery_deferred_total", **prof) in (None, 0)
        # recipients: each result counts
        assert metric(m, "outpost_recipients_sent_total", **prof) == 3
        assert metric(m, "outpost_recipients_failed_total", **prof) == 2
        assert metric(m, "outpost_recipients_deferred_total", **prof) in (None, 0)
        # quotas: at least one send had to wait
        assert metric(m, "outpost_rate_limit_waits_total", **prof) > 0
        # connections: the series exists; 0 or the idle session kept open
        conns = metric(m, "outpost_upstream_connections_open", **prof)
        assert conns is not None and 0 <= conns <= 4, conns
        # latency: buckets cumulative, +Inf = count = messages sent
        name = "outpost_delivery_latency_seconds"
        buckets = sorted(
            ((float("inf") if dict(k[1])["le"] == "+Inf" else float(dict(k[1])["le"])), v)
            for k, v in m.items()
            if k[0] == name + "_bucket" and dict(k[1]).get("profile") == "limited")
        assert len(buckets) >= 5 and buckets[-1][0] == float("inf")
        values = [v for _, v in buckets]
        assert values == sorted(values), buckets
        count = metric(m, name + "_count", **prof)
        assert count == 2 and values[-1] == count
        assert 0 <= metric(m, name + "_sum", **prof) < 60
        assert metric(m, "outpost_http_requests_total", code="202") >= 3
        assert api.get("/metrics", token=None).status == 401
    finally:
        d.stop()


def _port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def test_fresh_start_as_the_readme_says(tmp_path, peers):
    """README "First steps": `outpost serve` in a directory without any
    settings file runs on the built-in defaults (web page on
    127.0.0.1:8025) and prints the login token once.  Logged in with it
    as the page does (session cookie + CSRF token), a profile saved
    creates ./outpost.conf (mode 0600) holding it, and mail held until
    then, and mail sent after, is delivered through it."""
    if os.path.exists("/etc/outpost/outpost.conf"):
        pytest.skip("/etc/outpost/outpost.conf exists: not a fresh start")
    if not (_port_free(8025) and _port_free(2525)):
        pytest.skip("the default ports 127.0.0.1:8025/2525 are in use")
    peer = peers.aiosmtpd("plain")
    work = tmp_path / "fresh"
    work.mkdir()
    env = dict(os.environ)
    env.pop("OUTPOST_CONFIG", None)
    logpath = tmp_path / "fresh-serve.log"
    logf = open(logpath, "wb")
    proc = subprocess.Popen([conftest.OUTPOST_BIN, "serve"], cwd=work, env=env,
                            stdout=logf, stderr=logf)
    try:
        pat = re.compile(r"outpost: web page: (http://[^ ]+/) \(log in with this "
                         r"token, kept in (.+)/api_token\): ([0-9a-f]{64})")

        def started():
            assert proc.poll() is None, logpath.read_text(errors="replace")
            return pat.search(logpath.read_text(errors="replace"))
        m = wait_for(started, what="the start-up line with the token")
        url, data_dir, token = m.groups()
        assert url == "http://127.0.0.1:8025/"
        assert (work / data_dir).resolve() == (work / "outpost-data").resolve()
        assert stat.S_IMODE(os.stat(work / "outpost-data").st_mode) == 0o700
        assert stat.S_IMODE(os.stat(work / "outpost-data/api_token").st_mode) == 0o600
        assert not (work / "outpost.conf").exists()

        api = Api(8025)
        wait_for(lambda: _health_ok(api), what="the HTTP server")
        assert api.get("/", token=None).status == 200
        r = api.post("/api/login", {"token": token}, token=None)
        assert r.status == 200, r
        sid = re.match(r"outpost_session=([0-9a-f]+);", r.headers["Set-Cookie"]).group(1)
        page = {"Cookie": "outpost_session=" + sid,
                "X-CSRF-Token": r.json["csrf_token"]}
        r = api.get("/api/profiles", token=None, headers=page)
        assert r.status == 200 and r.json["profiles"] == [] and r.json["editable"]

        # mail before any profile is held, not lost
        r = api.post("/api/messages", {"from": "app@example.com",
                                       "to": ["early@example.com"], "text": "x"},
                     token=None, headers=page)
        assert r.status == 202, r
        early = r.json["id"]
        assert wait_state(api, early, ("held",), token=None, headers=page)

        r = api.put("/api/profiles/first", {
            "host": "127.0.0.1", "port": peer.port, "security": "none",
            "from": "app@example.com"}, token=None, headers=page)
        assert r.status == 201, r
        conf = work / "outpost.conf"
        assert conf.is_file()
        assert stat.S_IMODE(os.stat(conf).st_mode) == 0o600
        text = conf.read_text()
        assert "[profile first]" in text and "port = %d" % peer.port in text
        assert token not in text

        r = api.post("/api/messages", {"from": "app@example.com",
                                       "to": ["later@example.com"], "text": "x"},
                     token=None, headers=page)
        assert r.status == 202, r
        later = r.json["id"]
        for mid in (early, later):
            m = wait_state(api, mid, ("sent", "failed"), token=None,
                           headers=page)
            assert m["state"] == "sent", m
            assert m["profile_used"] == "first"
        assert sorted(x.rcpt_tos[0] for x in peer.messages) == [
            "early@example.com", "later@example.com"]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        rc = proc.wait(15)
        logf.close()
    log = logpath.read_text(errors="replace")
    assert rc == 0, log
    for mark in conftest.SANITIZER_MARKS:
        assert mark not in log, log
    assert log.count(token) == 1


# ---------------------------------------------------------------------------
# secrets


def test_password_never_leaves_and_never_logged(served):
    api = served.api
    api.put("/api/profiles/secret", {"host": "127.0.0.1", "port": served.peer.port,
                                     "security": "none", "username": "u",
                                     "password": PASSWORD,
                                     "allow_plaintext_auth": True,
                                     "from": "a@example.com"})
    api.get("/api/profiles")
    api.get("/api/profiles/secret")
    api.put("/api/profiles/secret", {"password": PASSWORD, "port": 0})
    api.post("/api/profiles/secret/check")
    api.request("PUT", "/api/profiles/secret",
                raw=('{"password": "%s", "port": "x"' % "Sup3r").encode())
    served.daemon.stop()
    for body in api.seen:
        assert "Sup3r" not in body and "plain-peer-pw" not in body, body
    log = served.log()
    assert "Sup3r" not in log and "plain-peer-pw" not in log


def test_generated_token_file_and_shown_once(outpost):
    d, api, _ = start_serve(outpost)
    data = outpost.tmp_path / "data"
    tok_path = data / "api_token"
    mode = stat.S_IMODE(os.stat(tok_path).st_mode)
    assert mode == 0o600
    token = tok_path.read_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    assert api.get("/api/profiles", token=token).status == 200
    assert api.get("/api/profiles", token=token[:-1]).status == 401
    d.stop()
    assert d.log().count(token) == 1
    # the second start reads the same token and does not show it again
    d2 = Daemon(outpost, d.conf, d.smtp_port, d.http_port)
    try:
        wait_for(lambda: _health_ok(api), what="the HTTP server")
        assert api.get("/api/profiles", token=token).status == 200
    finally:
        d2.stop()
    assert d2.log().count(token) == 0


def test_token_in_the_settings_wins_and_rotating_it_ends_sessions(outpost):
    d, api, conf = start_serve(outpost, server={"api_token": TOKEN})
    try:
        r = api.post("/api/login", {"token": TOKEN}, token=None)
        sid = re.match(r"outpost_session=([0-9a-f]+);",
                       r.headers["Set-Cookie"]).group(1)
        jar = {"Cookie": "outpost_session=" + sid}
        assert api.get("/api/profiles", token=None, headers=jar).status == 200
        text = open(conf).read().replace(TOKEN, TOKEN + "-new")
        with open(conf, "w") as f:
            f.write(text)
        d.hup()
        wait_for(lambda: api.get("/api/profiles", token=TOKEN + "-new").status == 200,
                 what="the new token")
        assert api.get("/api/profiles").status == 401
        assert api.get("/api/profiles", token=None, headers=jar).status == 401
    finally:
        d.stop()


def test_header_injection_in_every_compose_field_is_refused(served):
    """CR or LF in any field that ends up in a header (issue 6): from, to,
    cc, bcc, subject, custom headers, attachment name and type.  Each is
    refused with 400 naming the field; nothing is queued."""
    api = served.api
    evil = "x\r\nBcc: stolen@example.org"
    base = {"from": "app@example.com", "to": ["a@example.com"],
            "subject": "s", "text": "x"}
    att = {"filename": "a.txt", "content_type": "text/plain",
           "content_base64": "aGk="}
    variants = [
        ("from", dict(base, **{"from": "app@example.com" + evil})),
        ("to[0]", dict(base, to=["a@example.com" + evil])),
        ("cc[0]", dict(base, cc=["c@example.com" + evil])),
        ("bcc[0]", dict(base, bcc=["b@example.com" + evil])),
        ("subject", dict(base, subject="s" + evil)),
        ("headers", dict(base, headers={"X-Tag": "t" + evil})),
        ("attachments[0]", dict(base, attachments=[dict(att, filename="a" + evil)])),
        ("attachments[0]", dict(base, attachments=[dict(att, content_type="text/plain" + evil)])),
    ]
    # the display name of an address, with CRLF, a bare LF and a bare CR
    for brk in ("\r\n", "\n", "\r"):
        name = "x" + brk + "Bcc: evil@example.org"
        variants += [
            ("from", dict(base, **{"from": {"email": "app@example.com",
                                            "name": name}})),
            ("to[0]", dict(base, to=[{"email": "a@example.com", "name": name}])),
            ("to[1]", dict(base, to=["a@example.com",
                                     {"email": "b@example.com", "name": name}])),
            ("cc[0]", dict(base, cc=[{"email": "c@example.com", "name": name}])),
            ("bcc[0]", dict(base, bcc=[{"email": "d@example.com", "name": name}])),
        ]
    for field, body in variants:
        r = api.post("/api/messages", body)
        assert r.status == 400, (field, r)
        fields = r.json.get("fields") or {}
        assert field in fields or (field == "headers" and any(
            k.startswith("headers") for k in fields)), (field, r.json)
    assert api.get("/api/messages").json["messages"] == []
    counts = api.get("/api/health", token=None).json["queue"]
    assert sum(counts.values()) == 0, counts
    assert served.peer.messages == []


def test_metrics_count_send_now_and_test_emails(outpost, peers):
    """Issue 10 #9: every delivery is counted, whoever made it: `send
    --now` (another process) and the page's test email (inside the daemon)
    as well as the daemon's own deliveries."""
    peer = peers.aiosmtpd("plain", reject_rcpts={"nobody@example.com"})
    d, api, conf = start_serve(
        outpost, [("main", peers_mod.profile(peer.port))],
        server={"api_token": TOKEN})
    prof = {"profile": "main"}
    try:
        res = outpost.run("send", "--from", "app@example.com", "--to",
                          "a@example.com", "--cc", "nobody@example.com",
                          "--subject", "now", "--now", conf=conf)
        assert res.rc == 65, res           # one recipient refused
        r = api.post("/api/test-email", {"to": "me@example.com",
                                         "profile": "main"})
        assert r.status == 200, r
        assert len(peer.messages) == 2
        m = parse_metrics(api.get("/metrics").text)
        assert metric(m, "outpost_delivery_sent_total", **prof) == 2, m
        assert metric(m, "outpost_recipients_sent_total", **prof) == 2, m
        assert metric(m, "outpost_recipients_failed_total", **prof) == 1, m
        # and the daemon's own delivery adds to the same counters
        r = api.post("/api/messages", {"from": "app@example.com",
                                       "to": ["b@example.com"], "text": "x"})
        assert r.status == 202, r
        wait_state(api, r.json["id"], ("sent",))

        def counted():
            m = parse_metrics(api.get("/metrics").text)
            return m if metric(m, "outpost_delivery_sent_total",
                               **prof) == 3 else None
        m = wait_for(counted, what="three messages counted")
        assert metric(m, "outpost_recipients_sent_total", **prof) == 3, m
    finally:
        d.stop()
    # counted once: a restart shows the same totals
    d, api, conf = start_serve_again(outpost, conf, d)
    try:
        m = parse_metrics(api.get("/metrics").text)
        assert metric(m, "outpost_delivery_sent_total", **prof) == 3, m
    finally:
        d.stop()


def start_serve_again(outpost, conf, old):
    d = Daemon(outpost, conf, old.smtp_port, old.http_port)
    api = Api(old.http_port)
    wait_for(lambda: _health_ok(api), what="the HTTP server")
    return d, api, conf


def test_display_names_are_taken_in_the_usual_string_form(served):
    """Issue 10 point 11: "Name <addr>" strings for from, to, cc, bcc and
    reply_to (as `outpost send` takes them), next to {"email", "name"};
    the envelope gets the bare addresses, the headers the names; CR or LF
    in a name is refused as before."""
    api = served.api
    r = api.post("/api/messages", {
        "from": "Survey Team <noreply@example.com>",
        "to": ["\"Doe, Jane\" <jane@example.com>", "Bob <bob@example.com>"],
        "cc": "Carol <carol@example.com>",
        "bcc": ["Audit Log <audit@example.com>"],
        "reply_to": "Help Desk <help@example.com>",
        "subject": "Survey", "text": "x"})
    assert r.status == 202, r
    wait_state(api, r.json["id"], ("sent",))
    got = served.peer.messages[-1]
    assert got.mail_from == "noreply@example.com"
    assert sorted(got.rcpt_tos) == ["audit@example.com", "bob@example.com",
                                    "carol@example.com", "jane@example.com"]
    msg = email.message_from_bytes(got.content, policy=email.policy.default)
    assert msg["From"].addresses[0].display_name == "Survey Team"
    assert msg["From"].addresses[0].addr_spec == "noreply@example.com"
    assert [(a.display_name, a.addr_spec) for a in msg["To"].addresses] == [
        ("Doe, Jane", "jane@example.com"), ("Bob", "bob@example.com")]
    assert msg["Cc"].addresses[0].display_name == "Carol"
    assert msg["Reply-To"].addresses[0].display_name == "Help Desk"
    assert msg["Reply-To"].addresses[0].addr_spec == "help@example.com"
    assert "Audit" not in got.content.decode("utf-8", "replace")
    # the same header-injection rules for the string form
    base = {"from": "app@example.com", "to": ["a@example.com"], "text": "x"}
    for field, body in [
            ("from", dict(base, **{"from": "X\r\nBcc: e@example.org <a@example.com>"})),
            ("to[0]", dict(base, to=["Y\nBcc: e@example.org <b@example.com>"])),
            ("reply_to", dict(base, reply_to="Z\r <c@example.com>")),
            ("to[0]", dict(base, to=["Survey Team noreply@example.com"])),
            ("reply_to", dict(base, reply_to="h@example.com",
                              headers={"Reply-To": "h@example.com"}))]:
        r = api.post("/api/messages", body)
        assert r.status == 400 and field in r.json["fields"], (field, r)
    assert "Name <user@example.org>" in api.post("/api/messages", dict(
        base, to=["Survey Team noreply@example.com"])).json["fields"]["to[0]"]


def test_a_profile_from_may_carry_a_display_name(served):
    """Issue 10 point 11: a profile's from "Name <addr>": the envelope of a
    test email uses the address, its From: field the name."""
    api = served.api
    r = api.put("/api/profiles/main", {"from": "Survey Team <noreply@example.com>"})
    assert r.status == 200, r
    assert r.json["profile"]["from"] == "Survey Team <noreply@example.com>"
    assert "from = Survey Team <noreply@example.com>" in file_text(served)
    assert api.get("/api/profiles/main").json["profile"]["from"] == \
        "Survey Team <noreply@example.com>"
    r = api.post("/api/test-email", {"to": "me@example.com", "profile": "main"})
    assert r.status == 200 and r.json["ok"], r
    got = served.peer.messages[-1]
    assert got.mail_from == "noreply@example.com"
    msg = email.message_from_bytes(got.content, policy=email.policy.default)
    assert msg["From"].addresses[0].display_name == "Survey Team"
    assert msg["From"].addresses[0].addr_spec == "noreply@example.com"
    # force_from: every message is sent as the profile's from, name included
    assert api.put("/api/profiles/main", {"force_from": True}).status == 200
    r = api.post("/api/messages", {"from": "app@example.com", "to": "b@example.com",
                                   "subject": "forced", "text": "x"})
    assert r.status == 202, r
    wait_state(api, r.json["id"], ("sent",))
    got = served.peer.messages[-1]
    assert got.mail_from == "noreply@example.com"
    msg = email.message_from_bytes(got.content, policy=email.policy.default)
    assert (msg["From"].addresses[0].display_name,
            msg["From"].addresses[0].addr_spec) == ("Survey Team", "noreply@example.com")
    # a name with a comma reads back quoted, and loads again
    r = api.put("/api/profiles/main", {"from": "\"Doe, Jane\" <jane@example.com>"})
    assert r.status == 200, r
    assert r.json["profile"]["from"] == "\"Doe, Jane\" <jane@example.com>"
    before = file_text(served)
    for bad in ("X\nBcc: e@example.org <a@example.com>", "Team <not an address>",
                "Survey Team noreply@example.com"):
        r = api.put("/api/profiles/main", {"from": bad})
        assert r.status in (400, 422) and "from" in r.json["fields"], (bad, r)
    assert file_text(served) == before


def test_create_refuses_a_name_already_taken(served):
    """Issue 10 point 1: creating a profile never overwrites one: PUT with
    If-None-Match: * is 412 and POST /api/profiles is 409 when the name is
    taken, and outpost.conf does not change."""
    api = served.api
    before = file_text(served)
    new = {"host": "127.0.0.1", "port": 2500, "security": "none",
           "from": "x@example.com"}
    r = api.put("/api/profiles/main", new, headers={"If-None-Match": "*"})
    assert r.status == 412, r
    assert "already exists" in r.json["fields"]["name"]
    r = api.post("/api/profiles", dict(new, name="main"))
    assert r.status == 409, r
    assert "already exists" in r.json["fields"]["name"]
    assert file_text(served) == before
    # free names are created, once
    r = api.put("/api/profiles/third", new, headers={"If-None-Match": "*"})
    assert r.status == 201, r
    r = api.post("/api/profiles", dict(new, name="fourth"))
    assert r.status == 201 and r.headers["Location"] == "/api/profiles/fourth", r
    assert r.json["profile"]["name"] == "fourth"
    after = file_text(served)
    assert api.post("/api/profiles", dict(new, name="fourth")).status == 409
    assert api.put("/api/profiles/third", {"port": 1},
                   headers={"If-None-Match": "*"}).status == 412
    assert file_text(served) == after
    r = api.post("/api/profiles", new)
    assert r.status == 422 and "name" in r.json["fields"], r
    # a plain PUT still creates or updates
    assert api.put("/api/profiles/third", {"port": 2501}).status == 200


def test_test_first_save_stores_only_what_passes_the_check(served, peers):
    """Issue 10 point 14: PUT ?check=yes runs the diagnostics of `outpost
    check` on the candidate settings and stores them only when every step
    passes; a plain PUT stores at once."""
    api = served.api
    dead = peers.refused_port()
    before = file_text(served)
    r = api.put("/api/profiles/main?check=yes", {"port": dead})
    assert r.status == 422, r
    assert r.json["saved"] is False and r.json["check"]["ok"] is False
    failed = [s for s in r.json["check"]["steps"] if not s["ok"]]
    assert failed[0]["step"] == "connect" and failed[0]["hint"], r.json
    assert "nothing was saved" in r.json["error"]
    assert file_text(served) == before
    assert api.get("/api/profiles/main").json["profile"]["port"] == served.peer.port
    # a new profile is checked too, and not created
    r = api.put("/api/profiles/cand?check=1", {"host": "127.0.0.1", "port": dead,
                                              "security": "none",
                                              "from": "c@example.com"})
    assert r.status == 422 and r.json["check"]["ok"] is False, r
    assert api.get("/api/profiles/cand").status == 404
    assert file_text(served) == before
    # settings that work are stored, with the check's report
    r = api.put("/api/profiles/main?check=yes", {"timeout": "20s"})
    assert r.status == 200, r
    assert r.json["check"]["ok"] is True and r.json["profile"]["timeout"] == "20s"
    assert "sender" in [s["step"] for s in r.json["check"]["steps"]]
    # the plain PUT stores without a check ("save anyway"; scripts)
    r = api.put("/api/profiles/main", {"port": dead})
    assert r.status == 200 and "check" not in r.json, r
    assert api.get("/api/profiles/main").json["profile"]["port"] == dead


def test_message_list_refuses_unknown_query_parameters(served):
    """Issue 10 point 15: GET /api/messages refuses a parameter it does not
    know (a typo such as ?stauts=failed would otherwise list everything)."""
    api = served.api
    for q in ("stauts=failed", "status=sent&limt=5", "page=2", "x"):
        r = api.get("/api/messages?" + q)
        assert r.status == 400, (q, r)
        assert r.json["fields"] and "status, limit" in r.json["error"], (q, r)
    r = api.get("/api/messages?stauts=failed")
    assert list(r.json["fields"]) == ["stauts"]
    assert api.get("/api/messages?status=all&limit=5&before=").status == 200
    assert api.get("/api/messages").status == 200
