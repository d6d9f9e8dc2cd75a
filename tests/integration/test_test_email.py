"""`outpost test-email --to ADDR [--profile P]` against independent peers.

The message is parsed at the peer with Python's email package: one
well-formed message with Date, Message-ID, From, To, Subject, MIME-Version
and a text/plain UTF-8 body that says which profile sent it.
"""

import email
import email.policy
import email.utils
import re
import time

from peers import profile, script_greet_421

USERS = {"outpost": "s3cret-pass"}
TO = "rcpt@example.net"


def auth_keys(password="s3cret-pass"):
    return {"auth": True, "username": "outpost", "password": password}


def starttls_profile(peer, certs, **kw):
    return profile(peer.port, host="localhost", security="starttls",
                   tls_ca_file=certs.ca, **dict(auth_keys(), **kw))


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


def assert_well_formed(msg_bytes, profile_name, sender, to, port):
    # Only CRLF line ends on the wire.
    assert b"\n" not in msg_bytes.replace(b"\r\n", b"")
    msg = parse(msg_bytes)
    for h in ("Date", "Message-ID", "From", "To", "Subject", "MIME-Version"):
        assert len(msg.get_all(h) or []) == 1, (h, msg_bytes)
    assert email.utils.parsedate_to_datetime(msg["Date"]) is not None
    mid = msg["Message-ID"].strip()
    assert mid.startswith("<") and mid.endswith(">") and "@" in mid
    assert msg["From"].addresses[0].addr_spec == sender
    assert msg["To"].addresses[0].addr_spec == to
    assert "Outpost test email" in msg["Subject"]
    assert profile_name in msg["Subject"]
    assert msg["MIME-Version"].strip() == "1.0"
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    body = msg.get_content()
    assert profile_name in body
    assert str(port) in body
    return msg, body


def assert_sent_at(msg, body, before, after):
    """The body says when it was sent: the Date header's time, within the
    run of the command (whole seconds)."""
    m = re.search(r"^Sent at: +(.+)$", body, re.M)
    assert m, body
    sent = email.utils.parsedate_to_datetime(m.group(1).strip())
    assert sent.utcoffset() is not None
    assert int(before) <= sent.timestamp() <= after + 1, (m.group(1), body)
    assert sent == email.utils.parsedate_to_datetime(msg["Date"])


def test_starttls_auth_delivers_one_message(outpost, peers, certs):
    peer = peers.aiosmtpd("starttls", cert=certs.server, users=USERS,
                          queue_id="TEST0001")
    conf = outpost.conf([("primary", starttls_profile(peer, certs))])
    before = time.time()
    res = outpost.run("test-email", "--to", TO, conf=conf)
    after = time.time()
    assert res.rc == 0, res
    assert "250 2.0.0 Ok: queued as TEST0001" in res.out
    assert len(peer.messages) == 1
    m = peer.messages[0]
    assert m.mail_from == "sender@example.com"
    assert m.rcpt_tos == [TO]
    assert m.tls and m.login == b"outpost"
    msg, body = assert_well_formed(m.content, "primary",
                                   "sender@example.com", TO, peer.port)
    assert "localhost" in body
    assert "Server:   localhost port %d (security = starttls, with login)" \
        % peer.port in body.splitlines(), body
    assert_sent_at(msg, body, before, after)
    # AUTH and the message only over TLS.
    (t,) = peer.sessions()
    cmds = t.commands_with_tls()
    assert all(tls for v, tls in cmds if v in ("AUTH", "MAIL", "RCPT",
                                               "DATA"))
    verbs = [v for v, _ in cmds]
    assert verbs.index("AUTH") < verbs.index("MAIL") < verbs.index("DATA")
    assert verbs.count("DATA") == 1 and verbs[-1] == "QUIT"
    assert t.data_lines()[-1] == "."


def test_profile_option_picks_the_profile(outpost, peers, certs):
    sink = peers.sink()
    dead = peers.refused_port()
    conf = outpost.conf([
        ("first", profile(dead)),
        ("viasink", profile(sink.port, **{"from": "ops@example.org"})),
    ])
    res = outpost.run("test-email", "--to", TO, "--profile", "viasink",
                      conf=conf)
    assert res.rc == 0, res
    msgs = sink.messages()
    assert len(msgs) == 1
    records, raw = msgs[0]
    rec = dict(records)
    assert rec["X-Mail-Args"].startswith("<ops@example.org>")
    assert rec["X-Rcpt-Args"].startswith("<%s>" % TO)
    msg = parse(raw)
    assert msg["From"].addresses[0].addr_spec == "ops@example.org"
    assert "viasink" in msg["Subject"]
    assert "viasink" in msg.get_content()


def test_default_profile_is_first_enabled(outpost, peers):
    sink = peers.sink()
    conf = outpost.conf([
        ("off", dict(profile(peers.refused_port()), enabled=False)),
        ("on", profile(sink.port)),
    ])
    res = outpost.run("test-email", "--to", TO, conf=conf)
    assert res.rc == 0, res
    assert "250" in res.out
    assert len(sink.messages()) == 1


def test_implicit_tls(outpost, peers, certs):
    peer = peers.aiosmtpd("tls", cert=certs.server, users=USERS)
    prof = profile(peer.port, host="localhost", security="tls",
                   tls_ca_file=certs.ca, **auth_keys())
    conf = outpost.conf([("p465", prof)])
    res = outpost.run("test-email", "--to", TO, conf=conf)
    assert res.rc == 0, res
    assert len(peer.messages) == 1
    assert_well_formed(peer.messages[0].content, "p465",
                       "sender@example.com", TO, peer.port)


def test_ipv6_literal_host(outpost, peers, certs):
    """host = [::1]: the message goes to a peer listening on IPv6
    loopback, over STARTTLS verified against the address ::1."""
    peer = peers.aiosmtpd("starttls", cert=certs.ipv6, users=USERS,
                          host="::1", queue_id="IPV6TEST")
    prof = profile(peer.port, host="[::1]", security="starttls",
                   tls_ca_file=certs.ca, **auth_keys())
    conf = outpost.conf([("v6", prof)])
    before = time.time()
    res = outpost.run("test-email", "--to", TO, conf=conf)
    after = time.time()
    assert res.rc == 0, res
    assert "does not resolve" not in res.text
    assert "250 2.0.0 Ok: queued as IPV6TEST" in res.out
    assert len(peer.messages) == 1
    m = peer.messages[0]
    assert m.tls and m.login == b"outpost"
    msg, body = assert_well_formed(m.content, "v6", "sender@example.com",
                                   TO, peer.port)
    assert "Server:   [::1] port %d (security = starttls, with login)" \
        % peer.port in body.splitlines(), body
    assert_sent_at(msg, body, before, after)


def test_refused_recipient(outpost, peers, certs):
    bad = "nobody@example.net"
    peer = peers.aiosmtpd("starttls", cert=certs.server, users=USERS,
                          reject_rcpts={bad})
    conf = outpost.conf([("primary", starttls_profile(peer, certs))])
    res = outpost.run("test-email", "--to", bad, conf=conf)
    assert res.rc == 65, res
    assert "550 5.1.1" in res.text
    assert not peer.messages
    # aiosmtpd offers no PIPELINING: with its only recipient refused, the
    # client must not go on to DATA.
    assert "DATA" not in peer.sessions()[0].commands()


def test_refused_sender(outpost, peers, certs):
    peer = peers.aiosmtpd("starttls", cert=certs.server, users=USERS,
                          reject_senders={"sender@example.com"})
    conf = outpost.conf([("primary", starttls_profile(peer, certs))])
    res = outpost.run("test-email", "--to", TO, conf=conf)
    assert res.rc == 65, res
    assert "553 5.7.1" in res.text
    assert not peer.messages


def test_auth_refused(outpost, peers, certs):
    peer = peers.aiosmtpd("starttls", cert=certs.server, users=USERS)
    conf = outpost.conf([("primary", starttls_profile(
        peer, certs, password="bad-password"))])
    res = outpost.run("test-email", "--to", TO, conf=conf)
    assert res.rc == 77, res
    assert "535" in res.text
    assert "bad-password" not in res.text
    assert not peer.messages


def test_cannot_connect(outpost, peers):
    conf = outpost.conf([("primary", profile(peers.refused_port()))])
    res = outpost.run("test-email", "--to", TO, conf=conf)
    assert res.rc == 69, res
    assert "refused" in res.err


def test_greeting_421_is_temporary(outpost, peers):
    peer = peers.scripted(script_greet_421)
    conf = outpost.conf([("primary", profile(peer.port))])
    res = outpost.run("test-email", "--to", TO, conf=conf)
    assert res.rc == 75, res
    assert "421 4.3.2" in res.text


def test_profile_without_from(outpost, peers):
    sink = peers.sink()
    prof = profile(sink.port)
    del prof["from"]
    conf = outpost.conf([("nofrom", prof)])
    res = outpost.run("test-email", "--to", TO, conf=conf)
    assert res.rc == 78, res
    assert "from" in res.err and "nofrom" in res.err
    assert not sink.messages()


def test_bad_recipient_address(outpost, peers):
    sink = peers.sink()
    conf = outpost.conf([("primary", profile(sink.port))])
    for bad in ("not-an-address", "a@b@c", "user@", "x%y@example.com"):
        res = outpost.run("test-email", "--to", bad, conf=conf)
        assert res.rc == 65, res
        assert bad in res.err
    assert not sink.messages()


def test_unknown_profile(outpost):
    conf = outpost.conf([("alpha", profile(25))])
    res = outpost.run("test-email", "--to", TO, "--profile", "beta",
                      conf=conf)
    assert res.rc == 78, res
    assert "beta" in res.err and "alpha" in res.err


def test_usage_errors(outpost):
    conf = outpost.conf([("alpha", profile(25))])
    for args in (["test-email"], ["test-email", "--to"],
                 ["test-email", "--to", TO, "--bogus"],
                 ["test-email", "--to", TO, "extra"],
                 ["test-email", "--profile"]):
        res = outpost.run(*args, conf=conf)
        assert res.rc == 64, res
        assert "usage" in res.err
