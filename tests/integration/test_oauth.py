"""OAuth2 sign-in for SMTP: the grants, refresh, rotation, the challenge,
`outpost check` hints, and no secret in any output (issue 11).

Against oauth_server.OAuthServer (https with the test CA) and
OAuthSmtpPeer (checks the exact SASL bytes, plays Gmail or Microsoft 365).
"""

import json
import os
import re
import stat
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from daemon import Daemon, free_port, message, wait_for
from oauth_server import OAuthServer, OAuthSmtpPeer
from outputs import record_output

USER = "noreply@contoso.example"


@pytest.fixture
def oauth(certs):
    srv = OAuthServer(certs.server)
    yield srv
    srv.stop()


def oauth_profile(srv, peer, certs, **kw):
    p = {"host": "127.0.0.1", "port": peer.port, "security": "none",
         "allow_plaintext_auth": True, "auth": "oauth2", "username": USER,
         "from": "sender@example.com", "timeout": "10s",
         "tls_ca_file": str(certs.ca), "oauth_client_id": srv.client_id,
         "oauth_authorize_url": "https://127.0.0.1:%d/authorize" % srv.port,
         "oauth_token_url": "https://127.0.0.1:%d/token" % srv.port,
         "oauth_device_url": "https://127.0.0.1:%d/devicecode" % srv.port,
         "oauth_scope": "https://outlook.office.com/SMTP.Send offline_access"}
    p.update(kw)
    return p


def knock(url):
    """Another local program at the login's loopback port, with a state
    that is not the login's: it must end nothing (answered 400)."""
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    back = q["redirect_uri"][0]
    for query in ("state=forged&error=access_denied",
                  "state=forged&code=stolen"):
        try:
            urllib.request.urlopen(back + "?" + query, timeout=20)
            raise AssertionError("a forged redirect was accepted")
        except urllib.error.HTTPError as ex:
            assert ex.code == 400, ex.code


def login(outpost, conf, name="m", knocks=False):
    """`outpost oauth login NAME --no-browser`, with this test as the
    browser: open the printed URL and follow the redirect to the
    loopback port (after forged redirects, with knocks)."""
    proc = subprocess.Popen([outpost.bin, "-c", str(conf), "oauth", "login",
                             name, "--no-browser"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            cwd=outpost.tmp_path)
    url = None
    lines = []
    while url is None:
        line = proc.stdout.readline()
        assert line, "no URL printed: %s" % proc.stderr.read()
        lines.append(line)
        if line.startswith("https://"):
            url = line.strip()
    if knocks:
        knock(url)
    ctx = __import__("ssl").create_default_context(cafile=str(outpost.ca))
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=20) as r:
            page = r.read().decode()
    except urllib.error.HTTPError as ex:
        page = "HTTP %d" % ex.code
    out, err = proc.communicate(timeout=30)
    record_output(outpost.tmp_path, "outpost oauth login " + name,
                  "".join(lines) + out + err + page)
    assert proc.returncode == 0, (out, err)
    assert "Signed in" in page
    return "".join(lines) + out + err


def start_daemon(outpost, conf_profiles, extra_server=None):
    port = free_port()
    srv = {"smtp_listen": "127.0.0.1:%d" % port, "http_listen": ""}
    srv.update(extra_server or {})
    conf = outpost.conf(conf_profiles, server=srv)
    return conf, Daemon(outpost, conf, port)


def secrets_absent(srv, texts):
    for t in texts:
        for s in srv.issued + [srv.client_secret]:
            assert s not in t, "a secret leaked"


def test_login_loopback_then_delivery(outpost, certs, oauth, tmp_path):
    outpost.ca = certs.ca
    peer = OAuthSmtpPeer(oauth, USER, style="microsoft")
    try:
        conf = outpost.conf([("m", oauth_profile(oauth, peer, certs))])
        out = login(outpost, conf, knocks=True)
        d = tmp_path / "data" / "oauth"
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(d / "m.json").st_mode) == 0o600
        st = outpost.run("oauth", "status", "m", "--json", conf=conf)
        assert st.rc == 0, st
        j = json.loads(st.out)
        assert j[0]["signed_in"] is True and j[0]["error"] is None
        conf2, dm = start_daemon(outpost, [("m", oauth_profile(oauth, peer, certs))])
        try:
            dm.send("app@example.com", ["rcpt@example.com"], message("one"))
            wait_for(lambda: len(peer.messages) == 1, what="delivery")
        finally:
            dm.stop()
        assert peer.auths[0] == ("XOAUTH2", True)
        assert peer.errors == []
        secrets_absent(oauth, [out, st.text, dm.log()])
    finally:
        peer.stop()


def test_device_login_and_logout(outpost, certs, oauth):
    peer = OAuthSmtpPeer(oauth, USER)
    try:
        conf = outpost.conf([("m", oauth_profile(oauth, peer, certs))])
        r = outpost.run("oauth", "login", "m", "--device", conf=conf)
        assert r.rc == 0, r
        assert "ABCD-EFGH" in r.out and "Signed in" in r.out
        assert oauth.counts["urn:ietf:params:oauth:grant-type:device_code"] == 3
        st = outpost.run("oauth", "status", "m", conf=conf)
        assert "signed in" in st.out, st
        r = outpost.run("oauth", "logout", "m", conf=conf)
        assert r.rc == 0, r
        st = outpost.run("oauth", "status", "m", conf=conf)
        assert "needs sign-in" in st.out and "oauth login m" in st.out, st
        secrets_absent(oauth, [r.text, st.text])
    finally:
        peer.stop()


def test_client_credentials_and_command_deliver(outpost, certs, oauth, tmp_path):
    peer = OAuthSmtpPeer(oauth, USER, style="gmail")
    # a command grant: a token the server knows, printed by a script
    tok = oauth._issue(False)["access_token"]
    script = tmp_path / "tok.sh"
    script.write_text("#!/bin/sh\necho %s\n" % tok)
    script.chmod(0o700)
    try:
        cc = oauth_profile(oauth, peer, certs, oauth_grant="client_credentials",
                           oauth_client_secret=oauth.client_secret,
                           oauth_scope="https://outlook.office365.com/.default")
        for k in ("oauth_authorize_url", "oauth_device_url"):
            del cc[k]
        cmd = {k: v for k, v in oauth_profile(oauth, peer, certs).items()
               if not k.startswith("oauth_")}
        cmd.update(oauth_grant="command", oauth_token_command=str(script))
        conf, dm = start_daemon(outpost, [("cc", cc)])
        try:
            dm.send("app@example.com", ["rcpt@example.com"], message("cc"))
            wait_for(lambda: len(peer.messages) == 1, what="delivery")
        finally:
            dm.stop()
        log1 = dm.log()
        conf, dm = start_daemon(outpost, [("cmd", cmd)])
        try:
            dm.send("app@example.com", ["rcpt@example.com"], message("cmd"))
            wait_for(lambda: len(peer.messages) == 2, what="delivery")
        finally:
            dm.stop()
        assert [a for a in peer.auths] == [("OAUTHBEARER", True)] * 2
        assert peer.errors == []
        shown = outpost.run("config", "show", conf=outpost.conf([("cc", cc)]))
        assert "oauth_client_secret = ********" in shown.out, shown
        secrets_absent(oauth, [log1, dm.log(), shown.text])
    finally:
        peer.stop()


def test_short_tokens_refreshed_without_failure(outpost, certs, oauth):
    outpost.ca = certs.ca
    oauth.lifetime = 4
    peer = OAuthSmtpPeer(oauth, USER)
    try:
        conf = outpost.conf([("m", oauth_profile(oauth, peer, certs))])
        login(outpost, conf)
        conf, dm = start_daemon(outpost, [("m", oauth_profile(
            oauth, peer, certs, max_connections=4,
            max_messages_per_connection=1))])
        try:
            n = 0
            end = time.monotonic() + 10
            while time.monotonic() < end:
                # several messages at once: several connections need a token
                ths = [threading.Thread(target=dm.send, args=(
                    "app@example.com", ["rcpt@example.com"],
                    message("m%d" % (n + i)))) for i in range(3)]
                for t in ths:
                    t.start()
                for t in ths:
                    t.join()
                n += 3
                time.sleep(1)
            wait_for(lambda: len(peer.messages) == n, what="all delivered")
        finally:
            dm.stop()
        assert all(ok for _, ok in peer.auths), peer.auths
        assert "state=failed" not in dm.log()
        # one refresh per expiry, not one per connection: each refresh
        # token (rotated at every refresh) was sent exactly once, and the
        # refreshes are a token's life apart less its margin (4 s, 1 s):
        # never two for one expiry, however many connections wanted one
        refreshes = oauth.counts.get("refresh_token", 0)
        assert refreshes >= 1, oauth.refresh_times
        assert all(n == 1 for n in oauth.refresh_uses.values()), \
            oauth.refresh_uses
        assert len(oauth.refresh_uses) == refreshes
        gaps = [b - a for a, b in zip(oauth.refresh_times,
                                      oauth.refresh_times[1:])]
        assert all(g >= 2.5 for g in gaps), gaps
        secrets_absent(oauth, [dm.log()])
    finally:
        peer.stop()


def test_rotated_refresh_token_survives_restart(outpost, certs, oauth, tmp_path):
    outpost.ca = certs.ca
    oauth.lifetime = 2
    peer = OAuthSmtpPeer(oauth, USER)
    try:
        conf = outpost.conf([("m", oauth_profile(oauth, peer, certs))])
        login(outpost, conf)
        first = json.loads((tmp_path / "data/oauth/m.json").read_text())
        conf, dm = start_daemon(outpost, [("m", oauth_profile(oauth, peer, certs))])
        time.sleep(2.5)        # the signed-in token expires: a refresh
        dm.send("app@example.com", ["rcpt@example.com"], message("a"))
        wait_for(lambda: len(peer.messages) == 1, what="delivery")
        dm.stop()
        second = json.loads((tmp_path / "data/oauth/m.json").read_text())
        assert second["refresh_token"] != first["refresh_token"]
        assert first["refresh_token"] not in oauth.refresh   # rotated away
        time.sleep(2.5)
        dm.start()
        try:
            dm.send("app@example.com", ["rcpt@example.com"], message("b"))
            wait_for(lambda: len(peer.messages) == 2, what="delivery")
        finally:
            dm.stop()
        assert peer.auths, "no authentication reached the server"
        assert peer.auths[-1][1], peer.auths
    finally:
        peer.stop()


def test_revoked_token_recovers_through_challenge(outpost, certs, oauth):
    outpost.ca = certs.ca
    peer = OAuthSmtpPeer(oauth, USER, style="gmail")
    try:
        conf = outpost.conf([("g", oauth_profile(oauth, peer, certs))])
        login(outpost, conf, "g")
        conf, dm = start_daemon(outpost, [("g", oauth_profile(oauth, peer, certs,
                                max_messages_per_connection=1))])
        try:
            dm.send("app@example.com", ["rcpt@example.com"], message("1"))
            wait_for(lambda: len(peer.messages) == 1, what="first")
            oauth.revoke_all_access()
            dm.send("app@example.com", ["rcpt@example.com"], message("2"))
            wait_for(lambda: len(peer.messages) == 2, what="second")
        finally:
            dm.stop()
        # the challenge was answered with AQ== (checked by the peer)
        assert ("OAUTHBEARER", False) in peer.auths
        assert peer.auths[-1] == ("OAUTHBEARER", True)
        assert peer.errors == []
        assert "state=failed" not in dm.log()
        secrets_absent(oauth, [dm.log()])
    finally:
        peer.stop()


def test_check_hints(outpost, certs, oauth):
    outpost.ca = certs.ca
    peer = OAuthSmtpPeer(oauth, USER)
    try:
        conf = outpost.conf([("m", oauth_profile(oauth, peer, certs))])
        r = outpost.run("check", "m", conf=conf)
        assert r.rc != 0 and "token" in r.out and "oauth login" in r.text, r
        login(outpost, conf)
        r = outpost.run("check", "m", conf=conf)
        assert r.rc == 0, r
        assert re.search(r"token.*access token", r.out), r
        steps = re.findall(r"^  \w+ +(\w+) ", r.out, re.M)
        assert steps.index("token") < steps.index("auth"), steps
        # the refresh token dies: 90 days idle at Microsoft
        oauth.lifetime = 1
        oauth.revoke_all_access()
        oauth.invalid_grant = ("AADSTS700082: The refresh token has expired "
                               "due to inactivity.")
        r = outpost.run("check", "m", conf=conf)
        assert r.rc != 0
        assert "90 days" in r.text and "outpost oauth login m" in r.text, r
        secrets_absent(oauth, [r.text])
    finally:
        peer.stop()


def test_check_smtp_auth_disabled(outpost, certs, oauth):
    outpost.ca = certs.ca
    peer = OAuthSmtpPeer(oauth, USER, disabled=True)
    try:
        conf = outpost.conf([("m", oauth_profile(oauth, peer, certs))])
        login(outpost, conf)
        r = outpost.run("check", "m", conf=conf)
        assert r.rc != 0
        assert "SMTP AUTH is disabled" in r.out, r
        assert "SMTP.SendAsApp" in r.out
    finally:
        peer.stop()


def _msg_row(dm, tmp_path, mid):
    con = dm.db(tmp_path / "data")
    try:
        row = con.execute("SELECT state, attempts, last_error FROM messages "
                          "WHERE id = ?", (mid,)).fetchone()
        rc = con.execute("SELECT r.state, r.reply FROM recipients r JOIN "
                         "messages USING (mid) WHERE id = ?",
                         (mid,)).fetchall()
    finally:
        con.close()
    return row, rc


def test_not_signed_in_waits_without_attempt_then_goes_after_login(
        outpost, certs, oauth, tmp_path):
    """Point 5: no token, no attempt: the message waits deferred with the
    token error as its last error and its recipient's reason; the profile
    needs sign-in; after `outpost oauth login` (another process) the
    daemon notices within seconds and the message goes."""
    outpost.ca = certs.ca
    peer = OAuthSmtpPeer(oauth, USER)
    try:
        prof = oauth_profile(oauth, peer, certs)
        conf, dm = start_daemon(outpost, [("m", prof)],
                                extra_server={"retry": "1h"})
        try:
            mid = dm.send("app@example.com", ["rcpt@example.com"],
                          message("waits")).rsplit(" ", 1)[-1]

            def waiting():
                row, _ = _msg_row(dm, tmp_path, mid)
                return row[2] is not None and "not signed in" in row[2]
            wait_for(waiting, what="the token error as the last error")
            time.sleep(1.5)         # more scheduler passes: still no attempt
            row, rcpts = _msg_row(dm, tmp_path, mid)
            assert row[0] == "deferred" and row[1] == 0, row
            assert "oauth login m" in row[2], row
            assert rcpts[0][0] == "deferred" and "not signed in" in rcpts[0][1]
            st = outpost.run("oauth", "status", "m", "--json", conf=conf)
            j = json.loads(st.out)
            assert j[0]["signed_in"] is False, j
            assert peer.messages == [] and peer.auths == []
            out = login(outpost, conf)
            wait_for(lambda: len(peer.messages) == 1, timeout=15,
                     what="delivery within seconds of the sign-in")
            wait_for(lambda: _msg_row(dm, tmp_path, mid)[0][0] == "sent",
                     what="sent")
            row, _ = _msg_row(dm, tmp_path, mid)
            assert row[1] == 1, row
        finally:
            dm.stop()
        assert "state=failed" not in dm.log()
        secrets_absent(oauth, [out, dm.log()])
    finally:
        peer.stop()


# ---- the web page's sign-in and the API (issue 11: HTTP) ----

def _http(oauth, certs, outpost, profiles):
    from test_http_api import TOKEN, start_serve
    d, api, conf = start_serve(outpost, profiles,
                               server={"api_token": TOKEN, "retry": "1h"})
    return d, api, conf


def _follow_authorize(oauth, certs, url):
    """The browser at the provider: /authorize approves and redirects;
    returns the Location it sends the browser to."""
    import http.client
    import ssl
    import urllib.parse
    u = urllib.parse.urlsplit(url)
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    c = http.client.HTTPSConnection(u.hostname, u.port, context=ctx,
                                    timeout=20)
    try:
        c.request("GET", u.path + "?" + u.query)
        r = c.getresponse()
        r.read()
        assert r.status == 302, r.status
        return r.getheader("Location")
    finally:
        c.close()


def _cookie(reply):
    sc = reply.headers.get("Set-Cookie", "")
    assert sc.startswith("outpost_oauth="), sc
    return sc, sc.split(";", 1)[0]


def _metric(api, name):
    m = api.get("/metrics").text
    return dict(re.findall(r'^%s\{profile="([^"]+)"\} (\d+)$' % name, m, re.M))


def test_web_signin_round_trip(outpost, certs, oauth, tmp_path):
    """Point 1, 2, 4: the page's sign-in (start, the provider, the
    callback bound to the browser by a Lax cookie), the profile's oauth
    status in the API and /metrics, and the waiting mail goes at once."""
    import urllib.parse
    peer = OAuthSmtpPeer(oauth, USER)
    try:
        d, api, conf = _http(oauth, certs, outpost,
                             [("m", oauth_profile(oauth, peer, certs))])
        try:
            p = api.get("/api/profiles").json["profiles"][0]
            assert p["auth"] == "oauth2" and p["oauth_grant"] == "authorization_code"
            assert p["oauth"]["signed_in"] is False, p
            assert p["oauth"]["needs_signin"] is True and p["oauth"]["expires"] is None
            assert p["has_client_secret"] is False
            assert _metric(api, "outpost_oauth_signed_in") == {"m": "0"}
            assert _metric(api, "outpost_oauth_token_expiry_seconds") == {"m": "0"}
            mid = d.send("app@example.com", ["rcpt@example.com"],
                         message("web")).rsplit(" ", 1)[-1]

            def waiting():
                row, _ = _msg_row(d, tmp_path, mid)
                return row[2] is not None and "not signed in" in row[2]
            wait_for(waiting, what="the message waits for the sign-in")
            st = api.get("/api/profiles").json["profiles"][0]["oauth"]
            assert "not signed in" in st["error"], st

            # a start from another browser: its cookie does not match
            r = api.post("/api/profiles/m/oauth/start")
            assert r.status == 200, r
            sc, _ = _cookie(r)
            for part in ("HttpOnly", "SameSite=Lax", "Path=/oauth/callback",
                         "Max-Age=600"):
                assert part in sc, sc
            assert r.json["redirect_uri"] == "http://%s/oauth/callback" % api.host
            q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(
                r.json["authorize_url"]).query))
            assert q["redirect_uri"] == r.json["redirect_uri"]
            assert q["code_challenge_method"] == "S256" and len(q["state"]) == 43
            back = _follow_authorize(oauth, certs, r.json["authorize_url"])
            path = back.split(api.host, 1)[1]
            assert path.startswith("/oauth/callback?"), back
            nocookie = api.get(path, token=None)
            assert nocookie.status == 403 and "did not start" in nocookie.text
            other = api.get(path, token=None,
                            headers={"Cookie": "outpost_oauth=" + "0" * 64})
            assert other.status == 403 and "another session" in other.text
            assert oauth.counts.get("authorization_code", 0) == 0

            # the provider refuses: its error shown, sanitised and escaped
            r = api.post("/api/profiles/m/oauth/start")
            _, cookie = _cookie(r)
            state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(
                r.json["authorize_url"]).query))["state"]
            bad = api.get("/oauth/callback?" + urllib.parse.urlencode({
                "state": state, "error": "access_denied",
                "error_description": "<script>x</script>\nAADSTS65004"}),
                token=None, headers={"Cookie": cookie})
            assert bad.status == 400 and "access_denied" in bad.text
            assert "<script>" not in bad.text and "&lt;script&gt;" in bad.text
            st = api.get("/api/profiles").json["profiles"][0]["oauth"]
            assert "access_denied" in st["error"], st

            # the browser that started it: signed in
            r = api.post("/api/profiles/m/oauth/start")
            _, cookie = _cookie(r)
            back = _follow_authorize(oauth, certs, r.json["authorize_url"])
            ok = api.get(back.split(api.host, 1)[1], token=None,
                         headers={"Cookie": cookie})
            assert ok.status == 200 and "Signed in" in ok.text, ok
            assert ok.headers["Content-Type"].startswith("text/html")
            assert "Max-Age=0" in ok.headers["Set-Cookie"]
            again = api.get(back.split(api.host, 1)[1], token=None,
                            headers={"Cookie": cookie})
            assert again.status == 403, again       # a state is used once
            wait_for(lambda: len(peer.messages) == 1,
                     what="the waiting mail goes after the sign-in")
            st = api.get("/api/profiles").json["profiles"][0]["oauth"]
            assert st["signed_in"] is True and st["error"] is None, st
            assert st["expires"] > time.time()
            assert _metric(api, "outpost_oauth_signed_in") == {"m": "1"}
            exp = int(_metric(api, "outpost_oauth_token_expiry_seconds")["m"])
            assert exp > time.time()
        finally:
            d.stop()
        secrets_absent(oauth, api.seen + [d.log()])
    finally:
        peer.stop()


def test_put_takes_oauth_keys_and_reports_dropped_tokens(outpost, certs, oauth):
    """Point 2: auth is "no" | "yes" | "oauth2"; the oauth_* keys with
    per-field errors; the client secret write-only; a change of client
    id drops the sign-in and says so."""
    outpost.ca = certs.ca
    peer = OAuthSmtpPeer(oauth, USER)
    try:
        prof = oauth_profile(oauth, peer, certs)
        login(outpost, outpost.conf([("m", prof)]))
        d, api, conf = _http(oauth, certs, outpost, [("m", prof)])
        try:
            p = api.get("/api/profiles/m").json["profile"]
            assert p["oauth"]["signed_in"] is True, p
            r = api.put("/api/profiles/m", {
                "auth": "maybe", "oauth_grant": "implicit",
                "oauth_token_url": "http://example.com/token",
                "oauth_token_command": "cat /etc/shadow",
                "oauth_client_secret_file": "/etc/shadow"})
            assert r.status == 422, r
            f = r.json["fields"]
            assert set(f) == {"auth", "oauth_grant", "oauth_token_url",
                              "oauth_token_command",
                              "oauth_client_secret_file"}, f
            assert "oauth2" in f["auth"]
            r = api.put("/api/profiles/m", {"oauth_scope": "https://outlook."
                        "office.com/SMTP.Send offline_access openid",
                        "oauth_client_secret": "app-secret-123"})
            assert r.status == 200, r
            assert r.json["tokens_dropped"] is False
            p = r.json["profile"]
            assert p["has_client_secret"] is True and p["oauth"]["signed_in"]
            assert "app-secret-123" not in json.dumps(api.get("/api/profiles").json)
            assert "oauth_client_secret = app-secret-123" in conf.read_text()
            r = api.put("/api/profiles/m", {"oauth_client_id": "another-app"})
            assert r.status == 200, r
            assert r.json["tokens_dropped"] is True
            assert r.json["profile"]["oauth"]["signed_in"] is False
            r = api.put("/api/profiles/m", {"auth": True})
            # docs/http.md: a PUT takes true for "yes"; a profile that
            # logs in without a password is 422 naming the password (not
            # "auth": true was read), and the profile is untouched
            assert r.status == 422, r
            assert set(r.json["fields"]) == {"password"}, r.json
            assert api.get("/api/profiles/m").json["profile"]["auth"] == \
                "oauth2"
            r = api.put("/api/profiles/m", {"auth": "no"})
            assert r.status == 200 and r.json["profile"]["auth"] == "no", r
            assert "oauth" not in r.json["profile"]
            assert "tokens_dropped=yes" in d.log()
        finally:
            d.stop()
        secrets_absent(oauth, api.seen + [d.log()])
        assert all("app-secret-123" not in t for t in api.seen + [d.log()])
    finally:
        peer.stop()
