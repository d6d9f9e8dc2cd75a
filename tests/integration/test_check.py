"""`outpost check [PROFILE] [--json]` against independent peers.

Every failure class has its own test: the exit code (docs/check.md) and the
key words of the hint.  Where it matters the peer's transcript shows what
Outpost sent: nothing in clear after a missing STARTTLS, no AUTH before
TLS, MAIL FROM but no RCPT or DATA (check sends no mail).
"""

import json
import subprocess
import time

import pytest

from peers import answer_commands, make_script_starttls_inject, profile, \
    script_greet_421, script_silent

USERS = {"outpost": "s3cret-pass"}


def auth_keys(user="outpost", password="s3cret-pass"):
    return {"auth": True, "username": user, "password": password}


def check(outpost, prof, *args, name="primary"):
    conf = outpost.conf([(name, prof)])
    return outpost.run("check", *args, conf=conf)


def check_json(outpost, prof, name="primary"):
    res = check(outpost, prof, "--json", name=name)
    doc = json.loads(res.out)
    assert_contract_shape(doc)
    return res, doc


def assert_contract_shape(doc):
    """docs/check.md: {"ok":bool,"steps":[{"step","ok","detail","hint"}]}."""
    assert set(doc) == {"ok", "steps"}
    assert isinstance(doc["ok"], bool)
    assert isinstance(doc["steps"], list) and doc["steps"]
    for s in doc["steps"]:
        assert set(s) == {"step", "ok", "detail", "hint"}, s
        assert isinstance(s["step"], str) and s["step"]
        assert isinstance(s["ok"], bool)
        assert isinstance(s["detail"], str)
        assert s["hint"] is None or isinstance(s["hint"], str)
    assert doc["ok"] == all(s["ok"] for s in doc["steps"])


def failed_step(doc):
    bad = [s for s in doc["steps"] if not s["ok"]]
    assert len(bad) == 1, doc
    return bad[0]


def only_session(peer):
    sessions = peer.sessions()
    assert len(sessions) == 1, sessions
    return sessions[0]


# ---------------------------------------------------------------- success

def test_starttls_auth_all_steps_ok(outpost, peers, certs):
    peer = peers.aiosmtpd("starttls", cert=certs.server, users=USERS)
    prof = profile(peer.port, host="localhost", security="starttls",
                   tls_ca_file=certs.ca, **auth_keys())
    res = check(outpost, prof)
    assert res.rc == 0, res
    out = res.out
    for step in ("resolve", "connect", "greeting", "ehlo", "starttls",
                 "tls", "certificate", "auth", "sender"):
        assert step in out, res
    assert "FAIL" not in out
    assert "TLSv1." in out
    assert "CN=localhost" in out and "Outpost Test CA" in out
    assert "PLAIN" in out
    assert "sender@example.com" in out

    t = only_session(peer)
    cmds = t.commands_with_tls()
    verbs = [v for v, _ in cmds]
    # No mail is sent: the sender is tried, then the transaction reset.
    assert "MAIL" in verbs and "RCPT" not in verbs and "DATA" not in verbs
    assert verbs.index("RSET") > verbs.index("MAIL")
    assert verbs[-1] == "QUIT"
    # STARTTLS first; AUTH and MAIL only over TLS; EHLO again after TLS.
    assert verbs[:2] == ["EHLO", "STARTTLS"]
    assert ("EHLO", True) in cmds
    assert all(tls for v, tls in cmds if v in ("AUTH", "MAIL", "RSET"))
    assert not peer.messages


def test_starttls_auth_json(outpost, peers, certs):
    peer = peers.aiosmtpd("starttls", cert=certs.server, users=USERS)
    prof = profile(peer.port, host="localhost", security="starttls",
                   tls_ca_file=certs.ca, **auth_keys())
    res, doc = check_json(outpost, prof)
    assert res.rc == 0, res
    assert doc["ok"] is True
    names = [s["step"] for s in doc["steps"]]
    for step in ("resolve", "connect", "greeting", "ehlo", "starttls",
                 "tls", "certificate", "auth", "sender"):
        assert step in names
    cert = [s for s in doc["steps"] if s["step"] == "certificate"][0]
    assert "CN=localhost" in cert["detail"]
    assert "verified" in cert["detail"]
    tls = [s for s in doc["steps"] if s["step"] == "tls"][0]
    assert "TLSv1." in tls["detail"]
    # Nothing but JSON on stdout.
    assert res.out.strip().startswith("{") and res.out.strip().endswith("}")


def test_implicit_tls_ok(outpost, peers, certs):
    peer = peers.aiosmtpd("tls", cert=certs.server, users=USERS)
    prof = profile(peer.port, host="localhost", security="tls",
                   tls_ca_file=certs.ca, **auth_keys())
    res, doc = check_json(outpost, prof)
    assert res.rc == 0, res
    names = [s["step"] for s in doc["steps"]]
    assert "tls" in names and "starttls" not in names
    t = only_session(peer)
    assert all(tls for _, tls in t.commands_with_tls())


def test_smtp_sink_plain_ok(outpost, peers):
    sink = peers.sink()
    res = check(outpost, profile(sink.port))
    assert res.rc == 0, res
    assert "smtp-sink" not in res.err
    res, doc = check_json(outpost, profile(sink.port))
    assert res.rc == 0
    tls = [s for s in doc["steps"] if s["step"] == "tls"]
    assert tls and tls[0]["ok"] and "security = none" in tls[0]["detail"]
    assert not sink.messages()


def test_ipv6_literal_host(outpost, peers, certs):
    """host = [::1], as outpost.conf allows an IPv6 address: resolved
    without the brackets, reached over IPv6, and the certificate checked
    against the address ::1 (the one peer certificate naming it)."""
    peer = peers.aiosmtpd("starttls", cert=certs.ipv6, users=USERS,
                          host="::1")
    prof = profile(peer.port, host="[::1]", security="starttls",
                   tls_ca_file=certs.ca, **auth_keys())
    res, doc = check_json(outpost, prof)
    assert res.rc == 0, res
    assert doc["ok"] is True
    steps = {s["step"]: s for s in doc["steps"]}
    assert "does not resolve" not in res.text
    assert "::1" in steps["resolve"]["detail"], steps["resolve"]
    assert "::1" in steps["connect"]["detail"], steps["connect"]
    assert "verified" in steps["certificate"]["detail"]
    assert "CN=ipv6-loopback" in steps["certificate"]["detail"]
    assert ("AUTH", True) in only_session(peer).commands_with_tls()

    # The same peer is not valid for 127.0.0.1's certificate, and the
    # name check really uses the address: localhost's certificate fails.
    peer2 = peers.aiosmtpd("tls", cert=certs.server, host="::1")
    res, doc = check_json(outpost, profile(peer2.port, host="[::1]",
                                           security="tls",
                                           tls_ca_file=certs.ca))
    assert res.rc != 0, res
    step = failed_step(doc)
    assert step["step"] == "certificate", step
    assert "::1" in step["detail"] + (step["hint"] or ""), step


def test_first_enabled_profile_is_default(outpost, peers):
    sink = peers.sink()
    dead = peers.refused_port()
    conf = outpost.conf([
        ("off", dict(profile(dead), enabled=False)),
        ("second", profile(sink.port)),
    ])
    res = outpost.run("check", conf=conf)
    assert res.rc == 0, res
    assert "second" in res.out
    # Naming the disabled profile checks it anyway.
    res = outpost.run("check", "off", conf=conf)
    assert res.rc == 69, res


# ---------------------------------------------------------------- profiles

def test_no_enabled_profile(outpost):
    conf = outpost.conf([("p", dict(profile(25), enabled=False))])
    res = outpost.run("check", conf=conf)
    assert res.rc == 78, res
    assert "no enabled profile" in res.err
    assert "[profile NAME]" in res.err


def test_unknown_profile_names_known_ones(outpost):
    conf = outpost.conf([("alpha", profile(25)), ("beta", profile(26))])
    res = outpost.run("check", "gamma", conf=conf)
    assert res.rc == 78, res
    assert "gamma" in res.err
    assert "alpha" in res.err and "beta" in res.err


def test_unknown_profile_with_json_option(outpost):
    conf = outpost.conf([("alpha", profile(25))])
    res = outpost.run("check", "nope", "--json", conf=conf)
    assert res.rc == 78, res
    assert "alpha" in res.err


# ---------------------------------------------------------------- network

def test_name_does_not_resolve(outpost):
    prof = profile(587, host="no-such-host.invalid")
    res, doc = check_json(outpost, prof)
    assert res.rc == 69, res
    step = failed_step(doc)
    assert step["step"] == "resolve"
    assert "does not resolve" in step["detail"] + step["hint"]
    assert "host" in step["hint"]
    res = check(outpost, prof)
    assert res.rc == 69
    assert "FAIL" in res.out and "no-such-host.invalid" in res.out


def test_connection_refused(outpost, peers):
    port = peers.refused_port()
    res, doc = check_json(outpost, profile(port))
    assert res.rc == 69, res
    step = failed_step(doc)
    assert step["step"] == "connect"
    assert "refused" in step["detail"]
    assert "Nothing listens" in step["hint"]
    assert "host and port" in step["hint"]
    assert str(port) in step["detail"]


def test_connection_timed_out(outpost, peers):
    # A listening socket whose accept queue is full: the kernel drops the
    # SYN, so connect() times out without leaving loopback.
    hole = peers.blackhole()
    if not hole.is_full():
        pytest.skip("this kernel does not drop SYNs on a full accept queue")
    res, doc = check_json(outpost, profile(hole.port, timeout="2s"))
    assert res.rc == 69, res
    step = failed_step(doc)
    assert step["step"] == "connect"
    assert "timed out" in step["detail"]
    assert "firewall" in step["hint"]
    assert "587" in step["hint"] and "465" in step["hint"]


def test_never_greets(outpost, peers):
    peer = peers.scripted(script_silent)
    res, doc = check_json(outpost, profile(peer.port, timeout="2s"))
    assert res.rc == 69, res
    step = failed_step(doc)
    assert step["step"] == "greeting"
    hint = step["hint"]
    assert "wrong port" in hint and "proxy" in hint


def test_greeting_421(outpost, peers):
    peer = peers.scripted(script_greet_421)
    res, doc = check_json(outpost, profile(peer.port))
    assert res.rc == 75, res
    step = failed_step(doc)
    assert step["step"] == "greeting"
    assert "421 4.3.2 Service not available" in step["detail"]
    assert "busy" in step["hint"]
    assert "this address" in step["hint"]
    res = check(outpost, profile(peer.port))
    assert res.rc == 75
    assert "421 4.3.2" in res.out


# ---------------------------------------------------------------- TLS

def test_plaintext_answered_on_tls_port(outpost, peers):
    peer = peers.aiosmtpd("plain")
    res, doc = check_json(outpost, profile(peer.port, security="tls"))
    assert res.rc == 69, res
    step = failed_step(doc)
    assert step["step"] == "tls"
    assert "security = starttls" in step["hint"]
    assert "587" in step["hint"]
    # The client spoke TLS only (aiosmtpd reads its ClientHello as a
    # garbage line): no SMTP command reached the peer.
    for t in peer.sessions():
        assert not {"EHLO", "HELO", "AUTH", "MAIL"} & set(t.commands()), t


IMPLICIT_TLS_HINT = ("This port expects implicit TLS: set security = tls "
                     "(port 465 is implicit TLS, 587 is STARTTLS).")


def assert_tls_answered(res, doc):
    """A TLS server where the profile expected a greeting in clear: it
    fails at the greeting (the server waits in silence for a ClientHello),
    the detail says a TLS handshake worked, and the hint names
    security = tls on 465, not STARTTLS on 587."""
    assert res.rc == 69, res
    step = failed_step(doc)
    assert step["step"] == "greeting", step
    assert [s["step"] for s in doc["steps"]] == ["resolve", "connect",
                                                 "greeting"], doc
    assert "did not greet within 3 s" in step["detail"], step
    assert "a TLS handshake on the same port worked (TLSv1." \
        in step["detail"], step
    assert step["hint"] == IMPLICIT_TLS_HINT, step


def test_tls_answered_on_starttls_port(outpost, peers, certs):
    peer = peers.aiosmtpd("tls", cert=certs.server)
    prof = profile(peer.port, security="starttls", timeout="3s")
    res, doc = check_json(outpost, prof)
    assert_tls_answered(res, doc)
    # the text form names the failed step and the same fix
    res = check(outpost, prof)
    assert res.rc == 69, res
    assert "FAIL  greeting" in res.out, res
    assert "set security = tls (port 465 is" in res.out, res
    assert "Check failed at greeting (exit 69)." in res.out, res


def test_tls_answered_on_plain_port(outpost, peers, certs):
    peer = peers.aiosmtpd("tls", cert=certs.server)
    res, doc = check_json(outpost, profile(peer.port, security="none",
                                           timeout="3s"))
    assert_tls_answered(res, doc)


def test_tls_port_with_starttls_found_long_before_timeout(outpost, peers,
                                                          certs):
    """With a long timeout, the silent implicit-TLS port is still found out
    within seconds: a TLS handshake is tried on a second connection once
    the greeting is 3 s late, not after the whole timeout (issue 10)."""
    peer = peers.aiosmtpd("tls", cert=certs.server)
    prof = profile(peer.port, security="starttls", timeout="60s")
    started = time.monotonic()
    res, doc = check_json(outpost, prof)
    took = time.monotonic() - started
    assert_tls_answered(res, doc)
    assert took < 20, "check took %.1f s with timeout = 60s" % took


def _script_slow_greeting(conn):
    """A plain SMTP server that greets after 4.5 s (later than the 3 s after
    which check tries TLS on a second connection)."""
    time.sleep(4.5)
    answer_commands(conn, "220 localhost ESMTP slow",
                    ("250-localhost", "250 8BITMIME"),
                    {"MAIL": "250 2.0.0 Ok", "RSET": "250 2.0.0 Ok"},
                    "500 5.5.2 What")


def test_slow_greeting_is_waited_for_after_the_tls_probe(outpost, peers):
    """A server that is only slow to greet is checked to the end: the TLS
    probe on the second connection gets plain SMTP, and the first connection
    goes on waiting for its greeting."""
    peer = peers.scripted(_script_slow_greeting)
    res, doc = check_json(outpost, profile(peer.port, security="none",
                                           timeout="30s"))
    assert res.rc == 0, res
    assert doc["ok"] is True, doc
    steps = {s["step"]: s for s in doc["steps"]}
    assert steps["greeting"]["detail"] == "220 localhost ESMTP slow", steps
    assert len(peer.sessions()) == 2, peer.sessions()   # check + probe


def test_starttls_port_with_tls_found_long_before_timeout(outpost, peers,
                                                          certs):
    """The reverse: security = tls against a port that greets in clear
    ends at once with the STARTTLS hint, whatever the timeout."""
    peer = peers.aiosmtpd("starttls", cert=certs.server)
    started = time.monotonic()
    res, doc = check_json(outpost, profile(peer.port, security="tls",
                                           timeout="60s"))
    took = time.monotonic() - started
    assert res.rc == 69, res
    step = failed_step(doc)
    assert step["step"] == "tls", step
    assert step["hint"] == ("This port speaks plain SMTP/STARTTLS, not "
                            "implicit TLS: set security = starttls (port "
                            "587)."), step
    assert took < 20, "check took %.1f s with timeout = 60s" % took


def test_starttls_not_offered_sends_nothing_in_clear(outpost, peers):
    peer = peers.aiosmtpd("plain")
    prof = profile(peer.port, security="starttls", **auth_keys())
    res, doc = check_json(outpost, prof)
    assert res.rc == 69, res
    step = failed_step(doc)
    assert "STARTTLS" in step["detail"] + step["hint"]
    assert "nothing was sent" in step["hint"]
    assert "security = tls" in step["hint"]
    verbs = only_session(peer).commands()
    assert "AUTH" not in verbs and "MAIL" not in verbs
    assert set(verbs) <= {"EHLO", "QUIT"}, verbs


def test_injection_after_starttls_220(outpost, peers, certs):
    from peers import server_tls_context
    peer = peers.scripted(make_script_starttls_inject(
        server_tls_context(certs.server)))
    prof = profile(peer.port, host="localhost", security="starttls",
                   tls_ca_file=certs.ca, **auth_keys())
    res, doc = check_json(outpost, prof)
    assert res.rc == 69, res
    step = failed_step(doc)
    assert step["step"] == "starttls"
    assert "before the TLS handshake" in step["hint"]
    t = only_session(peer)
    verbs = t.commands()
    assert verbs[:2] == ["EHLO", "STARTTLS"], t
    # Nothing after STARTTLS: no EHLO, no AUTH, no MAIL, in clear or not.
    assert verbs[2:] == [], t


def test_self_signed_certificate(outpost, peers, certs):
    peer = peers.aiosmtpd("starttls", cert=certs.selfsigned, users=USERS)
    prof = profile(peer.port, host="localhost", security="starttls",
                   **auth_keys())
    res, doc = check_json(outpost, prof)
    assert res.rc == 69, res
    step = failed_step(doc)
    assert step["step"] == "certificate"
    assert "not trusted" in step["hint"]
    assert "tls_ca_file" in step["hint"] and "tls_verify = no" in step["hint"]
    assert "CN=localhost" in step["detail"]
    assert "AUTH" not in only_session(peer).commands()


def test_unknown_ca(outpost, peers, certs):
    peer = peers.aiosmtpd("starttls", cert=certs.server, users=USERS)
    prof = profile(peer.port, host="localhost", security="starttls",
                   **auth_keys())
    res, doc = check_json(outpost, prof)
    assert res.rc == 69, res
    step = failed_step(doc)
    assert step["step"] == "certificate"
    assert "not trusted" in step["hint"] and "tls_ca_file" in step["hint"]
    assert "Outpost Test CA" in step["detail"]


def test_expired_certificate(outpost, peers, certs):
    peer = peers.aiosmtpd("tls", cert=certs.expired, users=USERS)
    prof = profile(peer.port, host="localhost", security="tls",
                   tls_ca_file=certs.ca, **auth_keys())
    res, doc = check_json(outpost, prof)
    assert res.rc == 69, res
    step = failed_step(doc)
    assert step["step"] == "certificate"
    assert "expired" in step["hint"]
    assert certs.expired_not_after in step["hint"]
    assert all("AUTH" not in t.commands() for t in peer.sessions())


def test_certificate_for_another_name(outpost, peers, certs):
    peer = peers.aiosmtpd("starttls", cert=certs.other, users=USERS)
    prof = profile(peer.port, host="localhost", security="starttls",
                   tls_ca_file=certs.ca, **auth_keys())
    res, doc = check_json(outpost, prof)
    assert res.rc == 69, res
    step = failed_step(doc)
    assert step["step"] == "certificate"
    assert "other.example" in step["hint"]
    assert "www.other.example" in step["hint"]   # the subjectAltNames
    assert "localhost" in step["hint"]
    assert "AUTH" not in only_session(peer).commands()


def _valid_until(pem):
    """The certificate's notAfter date as the check shows it (YYYY-MM-DD)."""
    out = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-in",
                          str(pem)], check=True, capture_output=True,
                         text=True).stdout.strip()
    when = time.strptime(out.split("=", 1)[1].replace("  ", " "),
                         "%b %d %H:%M:%S %Y GMT")
    return time.strftime("%Y-%m-%d", when)


def _cert_step(outpost, prof):
    res, doc = check_json(outpost, prof)
    assert res.rc == 69, res
    step = failed_step(doc)
    assert step["step"] == "certificate", step
    return step


# Each certificate problem is named for what it is, with the names the
# certificate holds; never an unknown issuer told as a name mismatch (issue
# 10) nor the other way round.  Exact texts.

def test_certificate_text_unknown_issuer(outpost, peers, certs):
    peer = peers.aiosmtpd("starttls", cert=certs.server)
    step = _cert_step(outpost, profile(peer.port, host="localhost",
                                       security="starttls"))
    assert step["detail"] == (
        "CN=localhost issued by CN=Outpost Test CA, valid until %s; the "
        "certificate is not trusted: its issuer CN=Outpost Test CA is not a "
        "trusted CA" % _valid_until(certs.server[0])), step
    assert step["hint"] == (
        "The certificate is not trusted: it was issued by CN=Outpost Test "
        "CA, which is not a CA this machine trusts. Set tls_ca_file to that "
        "CA's certificate (for a private CA), or tls_verify = no only for "
        "testing."), step


def test_certificate_text_name_mismatch(outpost, peers, certs):
    peer = peers.aiosmtpd("starttls", cert=certs.other)
    step = _cert_step(outpost, profile(peer.port, host="localhost",
                                       security="starttls",
                                       tls_ca_file=certs.ca))
    assert step["detail"] == (
        "CN=other.example issued by CN=Outpost Test CA, valid until %s; the "
        "certificate is not valid for localhost: it names other.example, "
        "www.other.example" % _valid_until(certs.other[0])), step
    assert step["hint"] == (
        "The certificate is for other.example, www.other.example, not for "
        "localhost: set host to a name on the certificate (the SMTP host "
        "name the provider documents)."), step


def test_certificate_text_expired(outpost, peers, certs):
    peer = peers.aiosmtpd("tls", cert=certs.expired)
    step = _cert_step(outpost, profile(peer.port, host="localhost",
                                       security="tls", tls_ca_file=certs.ca))
    assert step["detail"] == (
        "CN=localhost issued by CN=Outpost Test CA, valid until 2020-01-02; "
        "the certificate expired on 2020-01-02"), step
    assert step["hint"] == (
        "The server's certificate expired on 2020-01-02: the provider must "
        "renew it (tls_verify = no only for testing)."), step


def test_certificate_text_self_signed(outpost, peers, certs):
    peer = peers.aiosmtpd("tls", cert=certs.selfsigned)
    step = _cert_step(outpost, profile(peer.port, host="localhost",
                                       security="tls"))
    assert step["detail"] == (
        "CN=localhost issued by CN=localhost, valid until %s; the "
        "certificate is not trusted: it is self-signed"
        % _valid_until(certs.selfsigned[0])), step
    assert step["hint"] == (
        "The certificate is not trusted: it is self-signed. Set tls_ca_file "
        "to the certificate itself if you trust it, or tls_verify = no only "
        "for testing."), step


def test_tls_verify_no_is_a_warning(outpost, peers, certs):
    peer = peers.aiosmtpd("starttls", cert=certs.selfsigned, users=USERS)
    prof = profile(peer.port, host="localhost", security="starttls",
                   tls_verify=False, **auth_keys())
    res, doc = check_json(outpost, prof)
    assert res.rc == 0, res
    assert doc["ok"] is True
    cert = [s for s in doc["steps"] if s["step"] == "certificate"][0]
    assert "not verified" in cert["detail"]
    assert cert["hint"] and "tls_verify = no" in cert["hint"]
    res = check(outpost, prof)
    assert res.rc == 0
    assert "warning" in res.out.lower() and "tls_verify = no" in res.out


# ---------------------------------------------------------------- AUTH

def _drop_auth(lines):
    return [line for line in lines if not line.startswith("250-AUTH")]


def _odd_auth(lines):
    return ["250-AUTH NTLM X-OUTPOST-NONE" if line.startswith("250-AUTH")
            else line for line in lines]


def test_auth_not_offered(outpost, peers, certs):
    peer = peers.aiosmtpd("starttls", cert=certs.server, users=USERS,
                          ehlo_edit=_drop_auth)
    prof = profile(peer.port, host="localhost", security="starttls",
                   tls_ca_file=certs.ca, **auth_keys())
    res, doc = check_json(outpost, prof)
    assert res.rc == 77, res
    step = failed_step(doc)
    assert step["step"] == "auth"
    assert "does not offer AUTH" in step["hint"]
    assert "auth = no" in step["hint"]
    assert "MAIL" not in only_session(peer).commands()


def test_no_common_mechanism(outpost, peers, certs):
    peer = peers.aiosmtpd("starttls", cert=certs.server, users=USERS,
                          ehlo_edit=_odd_auth)
    prof = profile(peer.port, host="localhost", security="starttls",
                   tls_ca_file=certs.ca, **auth_keys())
    res, doc = check_json(outpost, prof)
    assert res.rc == 77, res
    step = failed_step(doc)
    assert step["step"] == "auth"
    text = step["detail"] + " " + step["hint"]
    assert "NTLM X-OUTPOST-NONE" in text      # what the server offers
    assert "PLAIN" in step["hint"] and "SCRAM-SHA-256" in step["hint"]


def test_credentials_refused(outpost, peers, certs):
    peer = peers.aiosmtpd("starttls", cert=certs.server, users=USERS)
    prof = profile(peer.port, host="localhost", security="starttls",
                   tls_ca_file=certs.ca,
                   **auth_keys(password="wrong-password"))
    res, doc = check_json(outpost, prof)
    assert res.rc == 77, res
    step = failed_step(doc)
    assert step["step"] == "auth"
    assert "535 5.7.8" in step["detail"]
    hint = step["hint"]
    assert "username" in hint and "password" in hint
    assert "app password" in hint
    assert "wrong-password" not in res.out + res.err
    t = only_session(peer)
    assert all(tls for v, tls in t.commands_with_tls() if v == "AUTH")
    assert "MAIL" not in t.commands()


# ---------------------------------------------------------------- sender

def test_sender_refused(outpost, peers, certs):
    peer = peers.aiosmtpd("starttls", cert=certs.server, users=USERS,
                          reject_senders={"sender@example.com"})
    prof = profile(peer.port, host="localhost", security="starttls",
                   tls_ca_file=certs.ca, **auth_keys())
    res, doc = check_json(outpost, prof)
    assert res.rc == 65, res
    step = failed_step(doc)
    assert step["step"] == "sender"
    assert "553 5.7.1" in step["detail"]
    assert "sender@example.com" in step["hint"]
    assert "allows" in step["hint"]
    verbs = only_session(peer).commands()
    assert "MAIL" in verbs and "RCPT" not in verbs and "DATA" not in verbs


def test_human_output_shows_hint_under_failure(outpost, peers):
    port = peers.refused_port()
    res = check(outpost, profile(port))
    assert res.rc == 69
    lines = res.out.splitlines()
    fail = [i for i, line in enumerate(lines) if "FAIL" in line]
    assert len(fail) == 1, res
    after = lines[fail[0] + 1]
    assert after.startswith(" ") and "Nothing listens" in after
