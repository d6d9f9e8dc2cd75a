"""Issue 12: providers.  Each provider rule of relay/hints.c against a peer
that answers with that provider's own reply (the hint shown by `check` or
the test email, and its exit code); quota replies pause the profile and
defer the message (one profile) or fail it over (two); the presets as
`outpost providers` and `config show` give them.
"""

import json
import time

import pytest

import peers as peers_mod
from daemon import Daemon, free_port, message, queue_id, serve_conf, wait_for

GMAIL_534 = ("534-5.7.9 Application-specific password required. For more "
             "information, go to\r\n534 5.7.9  https://support.google.com/"
             "mail/?p=InvalidSecondFactor d2-20020a05 - gsmtp")
GMAIL_535 = ("535-5.7.8 Username and Password not accepted. For more "
             "information, go to\r\n535 5.7.8  https://support.google.com/"
             "mail/?p=BadCredentials a1si - gsmtp")
GMAIL_QUOTA = ("550-5.4.5 Daily user sending limit exceeded. For more "
               "information on Gmail\r\n550-5.4.5 sending limits go to\r\n"
               "550 5.4.5  https://support.google.com/a/answer/166852 - gsmtp")
SES_QUOTA = "554 Throttling failure: Daily message quota exceeded."
MS_QUOTA = ("554 5.2.0 STOREDRV.Submission.Exception:"
            "SubmissionQuotaExceededException; Failed to process message "
            "due to a permanent exception with message Cannot submit message.")

# (provider, phase, the provider's reply, exit code, words of the hint)
RULES = [
    ("gmail", "auth", GMAIL_534, 77, "app password"),
    ("gmail", "auth", GMAIL_535, 77, "full address (name@gmail.com)"),
    ("google-workspace", "mail", GMAIL_QUOTA, 75, "daily sending limit"),
    ("microsoft365", "auth",
     "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is "
     "disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for "
     "more information. [SN4PR0201CA0045.namprd02.prod.outlook.com]",
     77, "Set-CASMailbox"),
    ("microsoft365", "auth",
     "535 5.7.139 Authentication unsuccessful, user is locked by your "
     "organization's security defaults policy. Contact your administrator.",
     77, "security defaults block"),
    ("microsoft365", "auth",
     "535 5.7.139 Authentication unsuccessful, basic authentication is "
     "disabled. [BN9PR03CA0123.namprd03.prod.outlook.com]",
     77, "basic authentication is disabled or blocked"),
    ("microsoft365", "auth",
     "535 5.7.3 Authentication unsuccessful [BN9PR03CA0123.namprd03.prod."
     "outlook.com]", 77, "an app password when multi-factor"),
    ("microsoft365", "data",
     "554 5.2.252 SendAsDenied; sender@example.com not allowed to send as "
     "other@example.com; STOREDRV.Submission.Exception:SendAsDenied"
     "Exception.MapiExceptionSendAsDenied; Failed to process message due "
     "to a permanent exception", 65, "Send As permission"),
    ("microsoft365", "mail",
     "550 5.7.60 SMTP; Client does not have permissions to send as this "
     "sender", 65, "grant it Send As"),
    ("outlook", "mail",
     "530 5.7.57 Client not authenticated to send mail. [MW4PR03CA0123]",
     77, "takes mail only after a login"),
    ("microsoft365", "data", MS_QUOTA, 75, "10,000 recipients a day"),
    ("microsoft365", "rcpt",
     "550 5.1.90 Your message can't be sent because you've reached your "
     "daily limit for message recipients.", 75, "daily recipient limit"),
    ("microsoft365", "mail",
     "550 5.7.708 Service unavailable. Access denied, traffic not accepted "
     "from this IP.", 75, "sending threshold is exceeded"),
    ("ses", "data",
     "554 Message rejected: Email address is not verified. The following "
     "identities failed the check in region US-EAST-1: sender@example.com",
     65, "verify the sender address or its domain in the SES console"),
    ("ses", "data", SES_QUOTA, 75, "daily sending quota"),
    ("ses", "mail", "454 Throttling failure: Maximum sending rate exceeded.",
     75, "sending rate is exceeded"),
    ("ses", "auth", "535 Authentication Credentials Invalid", 77,
     "not the AWS access key"),
    ("sendgrid", "auth", "535 Authentication failed: Bad username / password",
     77, "the word apikey"),
    ("sendgrid", "data",
     "550 The from address does not match a verified Sender Identity. Mail "
     "cannot be sent until this error is resolved. Visit https://sendgrid."
     "com/docs/for-developers/sending-email/sender-identity/ to see the "
     "Sender Identity requirements", 65, "Single Sender Verification"),
    ("sendgrid", "mail", "451 Authentication failed: Maximum credits exceeded",
     75, "no credits left"),
    ("mailgun", "mail",
     "421 Domain sandbox0123.mailgun.org is not allowed to send: Free "
     "accounts are for test purposes only. Please upgrade or add the "
     "address to authorized recipients in Account Settings.", 65,
     "authorized recipients"),
    ("mailgun", "auth", "535 Authentication failed", 77,
     "postmaster@mg.example.com"),
    ("postmark", "data",
     "550 5.7.1 The 'From' address you supplied (sender@example.com) is not "
     "a Sender Signature on your account.", 65, "confirmed Sender Signature"),
    ("postmark", "auth", "535 5.7.8 Authentication failed", 77,
     "both the Server API Token"),
    ("brevo", "auth", "525 5.7.1 Unauthorized IP address - 198.51.100.7", 77,
     "Authorized IPs"),
    ("brevo", "auth", "535 5.7.8 Authentication failed", 77,
     "not the v3 API key"),
    ("brevo", "mail", "550 5.7.1 Sender not valid: sender@example.com", 65,
     "verified sender"),
    ("zoho", "mail", "553 Sender is not allowed to relay emails", 65,
     "Send Mail As"),
    ("zoho", "auth", "535 Authentication Failed", 77, "smtppro.zoho.com"),
]


def provider_profile(port, provider, **kw):
    p = {"provider": provider, "host": "127.0.0.1", "port": port,
         "security": "none", "allow_plaintext_auth": True, "username": "u",
         "password": "p", "from": "sender@example.com", "timeout": "10s",
         "limits": "100/s"}
    p.update(kw)
    return p


@pytest.mark.parametrize("provider,phase,reply,rc,words", RULES,
                         ids=["%s-%s-%s" % (r[0], r[1], r[2][:9].strip())
                              for r in RULES])
def test_provider_reply_is_explained(outpost, peers, provider, phase, reply,
                                     rc, words):
    peer = peers._keep(peers_mod.ProviderPeer(phase, reply))
    conf = outpost.conf([("a", provider_profile(peer.port, provider))])
    if phase in ("auth", "mail"):
        res = outpost.run("check", "a", "--json", conf=conf)
        assert res.rc == rc, res
        steps = json.loads(res.out)["steps"]
        failed = [s for s in steps if not s["ok"]]
        assert len(failed) == 1, steps
        assert words in (failed[0]["hint"] or ""), failed[0]
    else:
        res = outpost.run("test-email", "--to", "rcpt@example.com",
                          "--profile", "a", conf=conf)
        assert res.rc == rc, res
        assert "hint: " in res.err and words in res.err, res


def test_gmail_rule_needs_the_gmail_provider(outpost, peers):
    """A rule made for one provider does not explain another's reply: the
    same 535 from a custom server keeps the generic hint."""
    peer = peers._keep(peers_mod.ProviderPeer("auth", GMAIL_535))
    conf = outpost.conf([("a", provider_profile(peer.port, "custom"))])
    res = outpost.run("check", "a", "--json", conf=conf)
    assert res.rc == 77, res
    failed = [s for s in json.loads(res.out)["steps"] if not s["ok"]]
    assert "name@gmail.com" not in failed[0]["hint"], failed
    assert "check username and password" in failed[0]["hint"], failed


# ---- quotas ---------------------------------------------------------------

def msg_row(d, mid):
    con = d.db(d.outpost.tmp_path / "data")
    try:
        return con.execute(
            "SELECT state, attempts, profile_used, last_error, "
            "next_attempt - strftime('%s','now') FROM messages WHERE id = ?",
            (mid,)).fetchone()
    finally:
        con.close()


def rcpt_rows(d, mid):
    con = d.db(d.outpost.tmp_path / "data")
    try:
        return con.execute(
            "SELECT address, recipients.state, code, enhanced, reply FROM "
            "recipients JOIN messages USING (mid) WHERE id = ? ORDER BY idx",
            (mid,)).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("provider,phase,reply,code,pause", [
    ("gmail", "mail", GMAIL_QUOTA, 550, 3600),
    ("ses", "data", SES_QUOTA, 554, 3600),
    ("microsoft365", "data", MS_QUOTA, 554, 3600),
    ("microsoft365", "mail", "550 5.7.708 Service unavailable. Access denied, "
     "traffic not accepted from this IP.", 550, None),
])
def test_quota_with_one_profile_defers_and_pauses(outpost, peers, daemons,
                                                  provider, phase, reply,
                                                  code, pause):
    """A quota reply (5xx) fails nothing: the message is deferred with that
    reply and no attempt, the profile pauses for the quota's window (an
    hour, or until midnight UTC), and a second message is not even tried."""
    peer = peers._keep(peers_mod.ProviderPeer(phase, reply))
    conf, port = serve_conf(outpost, [("only", provider_profile(peer.port,
                                                                provider))])
    d = Daemon(outpost, conf, port)
    daemons.append(d)
    mid = queue_id(d.send("app@example.com", ["a@example.com"],
                          message("quota")))

    def waiting():
        row = msg_row(d, mid)
        return row is not None and row[0] == "deferred" and row[3]
    wait_for(waiting, timeout=30, what="the message deferred by the quota")
    state, attempts, _, last_error, due = msg_row(d, mid)
    assert (state, attempts) == ("deferred", 0), (state, attempts)
    assert last_error.startswith(str(code)), last_error
    (rcpt,) = rcpt_rows(d, mid)
    assert rcpt[1] == "deferred" and rcpt[2] == code, rcpt
    now = time.gmtime()
    to_midnight = 86400 - (now.tm_hour * 3600 + now.tm_min * 60 + now.tm_sec)
    want = pause if pause is not None else to_midnight
    assert want - 120 <= due <= want + 5, (due, want)
    assert "event=quota profile=only" in d.log()
    lines = [l for l in d.log().splitlines()
             if "event=delivery id=%s " % mid in l]
    assert lines and all("state=deferred" in l and "class=quota" in l
                         for l in lines), lines
    refused = peer.handler.refused if phase != "auth" else 0
    assert refused == 1, refused

    # paused: the next message is not tried through the profile
    mid2 = queue_id(d.send("app@example.com", ["b@example.com"],
                           message("quota 2")))
    wait_for(lambda: msg_row(d, mid2)[0] == "deferred", timeout=30,
             what="the second message waiting")
    assert msg_row(d, mid2)[1] == 0
    assert peer.handler.refused == 1
    assert not peer.messages


def test_quota_with_two_profiles_delivers_through_the_second(outpost, peers,
                                                             daemons):
    full = peers._keep(peers_mod.ProviderPeer("mail", GMAIL_QUOTA))
    live = peers.aiosmtpd("plain", users={"u": "p"}, auth_require_tls=False)
    conf, port = serve_conf(outpost, [
        ("gmail", provider_profile(full.port, "gmail", max_connections=1)),
        ("backup", provider_profile(live.port, "custom"))],
        server={"retry": "1h"})
    d = Daemon(outpost, conf, port)
    daemons.append(d)
    ids = [queue_id(d.send("app@example.com", ["r%d@example.com" % i],
                           message("q%d" % i))) for i in range(3)]
    for mid in ids:
        wait_for(lambda: msg_row(d, mid)[0] == "sent", timeout=30,
                 what="sent through the second profile")
    for mid in ids:
        state, attempts, used, last_error, _ = msg_row(d, mid)
        assert (state, attempts, used) == ("sent", 1, "backup")
    assert len(live.messages) == 3
    assert full.handler.refused == 1      # paused after the first reply
    assert "event=quota profile=gmail" in d.log()


def test_rate_reply_slows_down_without_failing(outpost, peers, daemons):
    """SES's 454 rate reply is not a failure: the profile pauses briefly
    and the message goes through once the peer takes it."""
    peer = peers._keep(peers_mod.ProviderPeer(
        "mail", "454 Throttling failure: Maximum sending rate exceeded."))
    conf, port = serve_conf(outpost, [("ses", provider_profile(peer.port,
                                                               "ses"))],
                            server={"retry": "1h"})
    d = Daemon(outpost, conf, port)
    daemons.append(d)
    mid = queue_id(d.send("app@example.com", ["a@example.com"], message("r")))
    wait_for(lambda: peer.handler.refused >= 2, timeout=30,
             what="a second try after the pause")
    peer.handler.phase = None             # the rate is fine again
    wait_for(lambda: msg_row(d, mid)[0] == "sent", timeout=30)
    assert msg_row(d, mid)[1] == 1
    assert "event=slowdown profile=ses" in d.log()


# ---- presets as the commands show them -----------------------------------

def test_config_show_names_preset_values(outpost):
    conf = outpost.conf([("sg", {"provider": "sendgrid", "password": "SG.x",
                                 "from": "a@example.com"})])
    res = outpost.run("config", "show", conf=conf)
    assert res.rc == 0, res
    assert "host = smtp.sendgrid.net   ; from provider sendgrid\n" in res.out
    assert "username = apikey   ; from provider sendgrid\n" in res.out


def test_bad_region_is_a_config_error_with_line(outpost):
    conf = outpost.conf([("m", {"provider": "mailgun", "region": "mars",
                                "username": "u", "password": "p"})])
    res = outpost.run("config", "check", conf=conf)
    assert res.rc == 78, res
    line = [i + 1 for i, l in enumerate(conf.read_text().splitlines())
            if l.startswith("region")][0]
    assert "%s:%d: region: 'mars' is not a region of mailgun; write one " \
           "of us, eu" % (conf, line) in res.err, res


# ---- detection -------------------------------------------------------------

USERS = {"outpost": "s3cret-pass"}


def detect_peers(peers, certs):
    starttls = peers.aiosmtpd("starttls", cert=certs.server, users=USERS)
    tls = peers.aiosmtpd("tls", cert=certs.server, users=USERS)
    plain = peers.aiosmtpd("plain", users=USERS, auth_require_tls=False)
    closed = peers.refused_port()
    return starttls, tls, plain, closed


def test_detect_each_kind_of_port(outpost, peers, certs, monkeypatch):
    """STARTTLS on one port, implicit TLS on another, plain SMTP and a
    closed port, all tried at once: which work, how, with the certificate
    verdict (the test CA trusted through SSL_CERT_FILE) and the AUTH
    mechanisms; the proposal is the first port given with trusted TLS."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.ca))
    starttls, tls, plain, closed = detect_peers(peers, certs)
    order = [plain.port, tls.port, starttls.port, closed]
    res = outpost.run("detect", "127.0.0.1", "--ports",
                      ",".join(str(p) for p in order), "--json")
    assert res.rc == 0, res
    doc = json.loads(res.out)
    ports = {p["port"]: p for p in doc["ports"]}
    assert [p["port"] for p in doc["ports"]] == order
    s = ports[starttls.port]
    assert (s["works"], s["security"], s["tls"], s["certificate_ok"]) == \
        (True, "starttls", True, True), s
    assert s["certificate"].startswith("trusted"), s
    assert "PLAIN" in s["auth"] and "LOGIN" in s["auth"], s
    t = ports[tls.port]
    assert (t["works"], t["security"], t["tls"], t["certificate_ok"]) == \
        (True, "tls", True, True), t
    p = ports[plain.port]
    assert (p["works"], p["security"], p["tls"]) == (True, "none", False), p
    assert "no STARTTLS" in p["detail"] and "PLAIN" in p["auth"], p
    c = ports[closed]
    assert not c["works"] and "connection refused" in c["detail"], c
    assert doc["proposal"] == {"host": "127.0.0.1", "port": tls.port,
                               "security": "tls"}, doc


def test_detect_untrusted_certificate_and_text_output(outpost, peers, certs):
    """Without the test CA the certificate verdict says who issued it; the
    port still works and is proposed, with tls_ca_file named."""
    starttls = peers.aiosmtpd("starttls", cert=certs.server, users=USERS)
    closed = peers.refused_port()
    res = outpost.run("detect", "127.0.0.1", "--ports",
                      "%d,%d" % (closed, starttls.port))
    assert res.rc == 0, res
    assert "port %-5d FAIL does not work: connection refused" % closed \
        in res.out, res
    assert "not trusted: issued by" in res.out and "Outpost Test CA" in \
        res.out, res
    assert "AUTH offered: PLAIN LOGIN" in res.out or \
        "AUTH offered: LOGIN PLAIN" in res.out, res
    assert ("use: host = 127.0.0.1, port = %d, security = starttls (the "
            "certificate is not trusted: set tls_ca_file" % starttls.port) \
        in res.out, res


def test_detect_nothing_works(outpost, peers):
    res = outpost.run("detect", "127.0.0.1", "--ports",
                      str(peers.refused_port()))
    assert res.rc == 69, res
    assert "nothing works: no port of 127.0.0.1 answered" in res.out, res
    res = outpost.run("detect", "127.0.0.1", "--ports", "0")
    assert res.rc == 64 and "'0' is not a port" in res.err, res
    res = outpost.run("detect", "bad host!")
    assert res.rc == 64, res


def test_providers_command(outpost):
    res = outpost.run("providers", "--json")
    assert res.rc == 0, res
    table = {p["name"]: p for p in json.loads(res.out)["providers"]}
    assert list(table) == ["gmail", "google-workspace", "microsoft365",
                           "outlook", "ses", "sendgrid", "mailgun",
                           "postmark", "brevo", "zoho", "custom"]
    assert table["sendgrid"]["username"] == "apikey"
    assert table["microsoft365"]["limits"] == "30/m, 10000/d"
    assert [r["name"] for r in table["mailgun"]["regions"]] == ["us", "eu"]
    assert table["ses"]["limits"] == "1/s, 200/d"
    res = outpost.run("providers")
    assert res.rc == 0, res
    assert "sendgrid (SendGrid)\n  fills: host = smtp.sendgrid.net, port = " \
           "587, security = starttls, auth = yes, username = apikey\n" \
        in res.out, res


# ---- the API ---------------------------------------------------------------

TOKEN = "providers-test-token-0123456789"


def api_call(port, method, path, body=None):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    h = {"Authorization": "Bearer " + TOKEN, "Host": "127.0.0.1:%d" % port}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    try:
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        text = r.read().decode()
        return r.status, (json.loads(text) if text else None)
    finally:
        c.close()


def test_api_providers_detect_and_profile_provider(outpost, peers, certs,
                                                   daemons):
    starttls = peers.aiosmtpd("starttls", cert=certs.server, users=USERS)
    http_port, smtp_port = free_port(), free_port()
    conf = outpost.conf([("main", {"host": "127.0.0.1", "port": starttls.port,
                                   "from": "a@example.com"})],
                        server={"smtp_listen": "127.0.0.1:%d" % smtp_port,
                                "http_listen": "127.0.0.1:%d" % http_port,
                                "api_token": TOKEN})
    d = Daemon(outpost, conf, smtp_port, http_port)
    daemons.append(d)

    def up():
        try:
            return api_call(http_port, "GET", "/api/providers")[0] == 200
        except OSError:
            return False
    wait_for(up, what="the HTTP server")
    st, doc = api_call(http_port, "GET", "/api/providers")
    assert st == 200 and len(doc["providers"]) == 11, doc
    assert doc["providers"][5]["name"] == "sendgrid"
    assert "apikey" in doc["providers"][5]["hint"]

    st, doc = api_call(http_port, "POST", "/api/detect",
                       {"host": "127.0.0.1", "ports": [starttls.port]})
    assert st == 200, doc
    assert doc["ports"][0]["works"] and doc["ports"][0]["tls"], doc
    assert doc["proposal"]["security"] == "starttls", doc
    st, doc = api_call(http_port, "POST", "/api/detect", {"host": ""})
    assert st == 400 and "host" in doc["fields"], doc
    st, doc = api_call(http_port, "POST", "/api/detect",
                       {"host": "127.0.0.1", "ports": [70000]})
    assert st == 400 and "ports" in doc["fields"], doc

    # provider and region through the API: the file gets them, the
    # preset fills what the profile does not write
    st, doc = api_call(http_port, "PUT", "/api/profiles/sg", {
        "provider": "mailgun", "region": "eu", "username": "postmaster@mg."
        "example.com", "password": "pw", "from": "a@mg.example.com"})
    assert st in (200, 201), doc
    text = conf.read_text()
    assert "provider = mailgun" in text and "region = eu" in text, text
    wait_for(lambda: api_call(http_port, "GET", "/api/profiles/sg")[0] == 200,
             what="the new profile in effect")
    st, doc = api_call(http_port, "GET", "/api/profiles/sg")
    p = doc["profile"]
    assert (p["provider"], p["region"], p["host"], p["port"]) == \
        ("mailgun", "eu", "smtp.eu.mailgun.org", 587), p
    assert "host" in p["from_provider"] and "port" in p["from_provider"], p
    st, doc = api_call(http_port, "PUT", "/api/profiles/sg",
                       {"region": "asia"})
    assert st == 422 and "region" in doc["fields"], doc
    st, doc = api_call(http_port, "PUT", "/api/profiles/sg",
                       {"provider": "nosuch"})
    assert st == 422 and "not a provider" in doc["fields"]["provider"], doc
    # another region is another server: the old password does not follow
    st, doc = api_call(http_port, "PUT", "/api/profiles/sg", {"region": "us"})
    assert st == 200, doc
    assert "password = pw" not in conf.read_text()
