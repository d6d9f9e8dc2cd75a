"""DKIM signing (docs/dkim.md): keys made by `outpost dkim keygen`, every
message signed at delivery checked by two independent verifiers, Debian's
python3-dkim (dkimpy) and Perl's Mail::DKIM (RSA only in Debian 12), with
the keys' records served by a local DNS server (dkimtools.DnsServer): no
name is looked up on the internet.  The receiving peer is aiosmtpd, which
keeps the bytes as received (dot-stuffing undone, CRLF kept).
"""

import json
import os
import re
import subprocess

import pytest

import dkimtools
from daemon import Daemon, free_port, wait_for
from peers import profile
from test_http_api import TOKEN, start_serve

DOMAIN = "example.org"
SIGNED = ["from", "to", "cc", "subject", "date", "message-id", "reply-to",
          "mime-version", "content-type", "content-transfer-encoding",
          "list-unsubscribe"]


@pytest.fixture
def dns():
    d = dkimtools.DnsServer()
    yield d
    d.stop()


class Keys:
    """Keys made with keygen; their records published on the DnsServer."""

    def __init__(self, outpost, tmp_path, dns):
        self.outpost = outpost
        self.tmp_path = tmp_path
        self.dns = dns
        self.sections = []

    def make(self, name, selector, type_="rsa", domain=DOMAIN, publish=True,
             extra=()):
        path = self.tmp_path / ("%s.%s.key" % (domain, selector))
        res = self.outpost.run("dkim", "keygen", domain, "--selector",
                               selector, "--type", type_, "--out", path,
                               *extra)
        assert res.rc == 0, res
        value = dkimtools.record(res.out)
        if publish:
            self.dns.records["%s._domainkey.%s" % (selector, domain)] = value
        self.sections.append("[dkim %s]\ndomain = %s\nselector = %s\n"
                             "key_file = %s\n" % (name, domain, selector, path))
        return path, value, res

    @property
    def raw(self):
        return "\n" + "\n".join(self.sections)


@pytest.fixture
def keys(outpost, tmp_path, dns):
    k = Keys(outpost, tmp_path, dns)
    k.make("org-rsa", "s1", "rsa")
    k.make("org-ed", "s2", "ed25519")
    return k


def verify_all(raw, dns, n=2):
    """Both verifiers on every signature; returns the python results."""
    py = dkimtools.verify_python(raw, dns.records)
    assert len(py) == n, (py, raw[:3000])
    for alg, d, ok in py:
        assert ok, ("dkimpy refused", alg, d, raw[:3000])
        assert d == DOMAIN
    pl = dkimtools.verify_perl(raw, dns)
    rsa = [r for r in pl if r[0] == "rsa-sha256"]
    assert rsa, pl
    assert all(r[2] == "pass" for r in rsa), pl
    return py


def header_section(raw):
    return raw.split(b"\r\n\r\n", 1)[0]


def check_sig_form(raw):
    head = header_section(raw)
    assert b"\n" not in head.replace(b"\r\n", b""), "a bare LF in the header"
    assert b"\r" not in head.replace(b"\r\n", b""), "a bare CR in the header"
    sigs = dkimtools.signatures(raw)
    assert sigs, "no DKIM-Signature in %r" % raw[:2000]
    hs = []
    for sig in sigs:                             # every one, not the first
        assert dkimtools.tag(sig, "c") == "relaxed/relaxed", sig
        h = dkimtools.tag(sig, "h").lower().split(":")
        assert h.count("from") == 2, h           # oversigned
        hs.append(h)
    return hs


def serve(outpost, peer, keys, dns, monkeypatch, server=None, raw=""):
    monkeypatch.setenv("OUTPOST_DNS_SERVER", dns.env)
    port = free_port()
    srv = {"smtp_listen": "127.0.0.1:%d" % port, "http_listen": "",
           "retry": "1s, 1s, 2s"}
    srv.update(server or {})
    conf = outpost.conf([("main", profile(peer.port,
                                          **{"from": "bounce@" + DOMAIN}))],
                        server=srv, raw=keys.raw + raw)
    return Daemon(outpost, conf, port), conf


BODY_8BIT = ("Grüße aus Köln – ça marche.\r\n"
             ".a line starting with a dot\r\n"
             "..two dots\r\n"
             ".\r\n"           # smtplib stuffs it; a lone dot line
             "  indented line with trailing spaces   \r\n"
             "\r\n\r\n\r\n")  # trailing blank lines


def test_listener_message_signed_rsa_and_ed25519(outpost, peers, keys, dns,
                                                 monkeypatch):
    peer = peers.aiosmtpd("plain")
    d, _ = serve(outpost, peer, keys, dns, monkeypatch)
    try:
        msg = ("From: App <app@example.org>\r\n"
               "To: a@example.net,\r\n  b@example.net\r\n"
               "Cc: c@example.net\r\n"
               "Subject: a subject folded\r\n\tover two lines\r\n"
               "Date: Mon, 7 Dec 2026 10:00:00 +0000\r\n"
               "Message-ID: <dkim-1@example.org>\r\n"
               "Reply-To: help@example.org\r\n"
               "MIME-Version: 1.0\r\n"
               "Content-Type: text/plain; charset=utf-8\r\n"
               "Content-Transfer-Encoding: 8bit\r\n"
               "List-Unsubscribe: <mailto:unsub@example.org>\r\n"
               "X-Not-Signed: yes\r\n"
               "\r\n" + BODY_8BIT)
        d.send("app@example.org", ["a@example.net"], msg.encode("utf-8"))
        wait_for(lambda: peer.messages, what="the delivery")
        raw = peer.messages[0].content
        for h in check_sig_form(raw):
            for name in SIGNED:
                assert name in h, (name, h)
            assert "x-not-signed" not in h
        py = verify_all(raw, dns, n=2)
        assert sorted(a for a, _, _ in py) == ["ed25519-sha256", "rsa-sha256"]
        assert "Grüße".encode() in raw and b"\r\n.a line" in raw
        # the verifiers do verify: one changed byte and both refuse
        bad = raw.replace(b"two dots", b"two dotz")
        assert not any(ok for _, _, ok in
                       dkimtools.verify_python(bad, dns.records))
        assert all(r[2] == "fail" for r in dkimtools.verify_perl(bad, dns)
                   if r[0] == "rsa-sha256")
    finally:
        d.stop()


def test_sendmail_bare_lf_signed(outpost, peers, keys, dns, monkeypatch):
    peer = peers.aiosmtpd("plain")
    d, conf = serve(outpost, peer, keys, dns, monkeypatch)
    try:
        msg = ("From: Cron <cron@example.org>\n"
               "To: ops@example.net\n"
               "Subject: nightly\n  report\n"
               "\n"
               "line one\n.dot line\n\n\n")
        res = outpost.run("sendmail", "-t", "-i", conf=conf, stdin=msg)
        assert res.rc == 0, res
        wait_for(lambda: peer.messages, what="the delivery")
        raw = peer.messages[0].content
        check_sig_form(raw)
        verify_all(raw, dns)
        assert b"\r\n.dot line\r\n" in raw
    finally:
        d.stop()


def test_send_now_2mb_attachment_signed(outpost, peers, keys, dns, tmp_path):
    peer = peers.aiosmtpd("plain")
    conf = outpost.conf([("main", profile(peer.port))], raw=keys.raw)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(2 * 1024 * 1024))
    text = tmp_path / "t.txt"
    text.write_text("Bonjour, voilà le fichier.\n.leading dot\n\n\n")
    res = outpost.run("send", "--from", "Reports <reports@example.org>",
                      "--to", "x@example.net", "--subject", "the file",
                      "--text", text, "--attach", big, "--now", conf=conf,
                      timeout=120)
    assert res.rc == 0, res
    assert len(peer.messages) == 1
    raw = peer.messages[0].content
    assert len(raw) > 2 * 1024 * 1024
    check_sig_form(raw)
    verify_all(raw, dns)


def test_api_message_signed(outpost, peers, keys, dns, monkeypatch):
    monkeypatch.setenv("OUTPOST_DNS_SERVER", dns.env)
    peer = peers.aiosmtpd("plain")
    d, api, _ = start_serve(outpost, [("main", profile(peer.port))],
                            server={"api_token": TOKEN}, raw=keys.raw)
    try:
        r = api.post("/api/messages", {
            "from": "Shop <shop@example.org>", "to": ["buyer@example.net"],
            "subject": "Your receipt – №42", "text": "Total: 10 €\n.\n\n",
            "html": "<p>Total: <b>10 €</b></p>",
            "headers": {"List-Unsubscribe": "<mailto:u@example.org>"}},
            token=TOKEN)
        assert r.status == 202, r
        wait_for(lambda: peer.messages, what="the delivery")
        raw = peer.messages[0].content
        check_sig_form(raw)
        verify_all(raw, dns)
    finally:
        d.stop()


def test_redirected_copy_signed(outpost, peers, keys, dns):
    peer = peers.aiosmtpd("plain")
    conf = outpost.conf([("main", profile(peer.port))],
                        raw=keys.raw + "\n[redirect]\nenabled = yes\n\n"
                        "[report ops@example.net]\n")
    res = outpost.run("send", "--from", "app@example.org", "--to",
                      "customer@example.com", "--subject", "redirected",
                      "--text", "-", "--now", conf=conf, stdin="hello\n")
    assert res.rc == 0, res
    assert len(peer.messages) == 1
    m = peer.messages[0]
    assert m.rcpt_tos == ["ops@example.net"]
    assert b"X-Original-To: customer@example.com" in m.content
    check_sig_form(m.content)
    verify_all(m.content, dns)


def test_force_from_signed_after_the_rewrite(outpost, peers, keys, dns):
    """force_from puts the profile's address (at the signed domain) in
    From: the signature covers the rewritten From."""
    peer = peers.aiosmtpd("plain")
    conf = outpost.conf([("main", profile(
        peer.port, **{"from": "Outpost <relay@example.org>",
                      "force_from": True}))], raw=keys.raw)
    res = outpost.run("send", "--from", "app@elsewhere.test", "--to",
                      "x@example.net", "--subject", "forced", "--text", "-",
                      "--now", conf=conf, stdin="hi\n")
    assert res.rc == 0, res
    raw = peer.messages[0].content
    assert re.search(rb"^From: .*relay@example\.org", raw, re.M), raw[:500]
    check_sig_form(raw)
    verify_all(raw, dns)


def test_from_at_another_domain_is_not_signed(outpost, peers, keys, dns):
    peer = peers.aiosmtpd("plain")
    conf = outpost.conf([("main", profile(peer.port))], raw=keys.raw)
    res = outpost.run("send", "--from", "app@example.com", "--to",
                      "x@example.net", "--subject", "other domain",
                      "--text", "-", "--now", conf=conf, stdin="hi\n")
    assert res.rc == 0, res
    raw = peer.messages[0].content
    assert b"DKIM-Signature" not in raw
    assert b"From: app@example.com" in raw


def test_keygen_writes_0600_and_record_strings(outpost, tmp_path):
    conf = outpost.conf()
    res = outpost.run("dkim", "keygen", "example.org", "--selector", "s9",
                      conf=conf)
    assert res.rc == 0, res
    path = tmp_path / "data" / "dkim" / "example.org.s9.key"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert "s9._domainkey.example.org" in res.out
    zone = re.search(r"IN TXT \( (.*) \)", res.out).group(1)
    strings = re.findall(r'"([^"]*)"', zone)
    assert len(strings) == 2 and all(len(s) <= 255 for s in strings)
    assert "".join(strings) == dkimtools.record(res.out)
    assert "[dkim example.org-s9]" in res.out
    p = subprocess.run(["openssl", "pkey", "-in", str(path), "-noout",
                        "-text"], capture_output=True, text=True)
    assert "2048 bit" in p.stdout
    # never over an existing key; too small refused
    again = outpost.run("dkim", "keygen", "example.org", "--selector", "s9",
                        conf=conf)
    assert again.rc != 0 and "already exists" in again.err
    weak = outpost.run("dkim", "keygen", "example.org", "--selector", "s8",
                       "--bits", "512", conf=conf)
    assert weak.rc == 64 and "1024" in weak.err


def _bad_key(tmp_path, kind):
    p = tmp_path / ("bad-%s.key" % kind)
    if kind == "missing":
        return p
    if kind == "directory":
        p.mkdir()
        return p
    if kind == "rsa512":
        args = ["genpkey", "-algorithm", "rsa", "-pkeyopt",
                "rsa_keygen_bits:512"]
    elif kind == "ec":
        args = ["genpkey", "-algorithm", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256"]
    else:
        args = ["genpkey", "-algorithm", "ed25519"]
    subprocess.run(["openssl"] + args + ["-out", str(p)], check=True,
                   capture_output=True)
    if kind == "public":
        pub = subprocess.run(["openssl", "pkey", "-in", str(p), "-pubout"],
                             check=True, capture_output=True).stdout
        p.write_bytes(pub)
    if kind == "garbage":
        p.write_text("not a key\n")
    os.chmod(p, 0o600)
    return p


@pytest.mark.parametrize("kind,words", [
    ("missing", "does not exist"),
    ("directory", "not a regular file"),
    ("rsa512", "too weak"),
    ("ec", "cannot sign DKIM"),
    ("public", "public key"),
    ("garbage", "not a PEM private key"),
])
def test_config_check_refuses_bad_keys(outpost, tmp_path, kind, words):
    path = _bad_key(tmp_path, kind)
    conf = outpost.conf(raw="\n[dkim bad]\ndomain = example.org\n"
                        "selector = s1\nkey_file = %s\n" % path)
    res = outpost.run("config", "check", conf=conf)
    assert res.rc == 78, res
    # FILE:LINE: key_file: [dkim bad]: ...
    assert re.search(r"outpost-1\.conf:\d+: key_file: \[dkim bad\]: .*%s"
                     % re.escape(words), res.err), res


def test_config_check_refuses_unreadable_key(outpost, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads a file of mode 000")
    path = _bad_key(tmp_path, "ed")
    os.chmod(path, 0)
    conf = outpost.conf(raw="\n[dkim bad]\ndomain = example.org\n"
                        "selector = s1\nkey_file = %s\n" % path)
    res = outpost.run("config", "check", conf=conf)
    assert res.rc == 78 and "cannot read" in res.err, res


def test_config_check_accepts_keygen_keys(outpost, keys):
    res = outpost.run("config", "check", conf=outpost.conf(raw=keys.raw))
    assert res.rc == 0, res


def test_check_says_published_not_found_different(outpost, peers, dns,
                                                  tmp_path, monkeypatch):
    k = Keys(outpost, tmp_path, dns)
    k.make("good", "s1", "rsa")
    k.make("absent", "s2", "ed25519", publish=False)
    k.make("other", "s3", "rsa")
    other = outpost.run("dkim", "keygen", DOMAIN, "--selector", "s4",
                        "--out", tmp_path / "unused.key")
    other_value = dkimtools.record(other.out)
    dns.records["s3._domainkey." + DOMAIN] = other_value
    peer = peers.aiosmtpd("plain")
    monkeypatch.setenv("OUTPOST_DNS_SERVER", dns.env)
    conf = outpost.conf([("main", profile(peer.port))], raw=k.raw)
    res = outpost.run("check", "--json", conf=conf)
    assert res.rc == 0, res
    steps = [s for s in json.loads(res.out)["steps"] if s["step"] == "dkim"]
    assert len(steps) == 3, steps
    assert "[dkim good]" in steps[0]["detail"]
    assert "published, the same rsa key" in steps[0]["detail"]
    assert steps[0]["hint"] is None
    assert "not found" in steps[1]["detail"]
    assert "v=DKIM1; k=ed25519; p=" in steps[1]["hint"]
    assert "different key" in steps[2]["detail"]
    text = outpost.run("check", conf=conf)
    assert "s2._domainkey.example.org: not found" in text.out, text


def test_page_check_has_the_dkim_steps(outpost, peers, keys, dns,
                                       monkeypatch):
    monkeypatch.setenv("OUTPOST_DNS_SERVER", dns.env)
    peer = peers.aiosmtpd("plain")
    d, api, _ = start_serve(outpost, [("main", profile(peer.port))],
                            server={"api_token": TOKEN}, raw=keys.raw)
    try:
        r = api.post("/api/profiles/main/check", {})
        assert r.status == 200, r
        steps = [s for s in r.json["steps"] if s["step"] == "dkim"]
        assert [s["status"] for s in steps] == ["ok", "ok"], steps
    finally:
        d.stop()
