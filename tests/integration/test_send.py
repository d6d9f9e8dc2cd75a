"""`outpost send`: compose (MIME), validate, queue, and with --now deliver
through an independent peer (aiosmtpd) and report each recipient's reply.

The stored message is read back from the queue database (read-only) and
parsed with Python's email package.
"""

import email
import email.policy
import email.utils
import json
import os
import sqlite3

import pytest

from peers import profile

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01"
       b"\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8"
       b"\xff\xff?\x00\x05\xfe\x02\xfe\xa75\x81\x84\x00\x00\x00\x00IEND\xaeB`"
       b"\x82")


def stored(tmp_path, mid):
    """(sender, [recipients], state, body bytes) of message mid."""
    path = tmp_path / "data" / "queue.db"
    with sqlite3.connect("file:%s?mode=ro" % path, uri=True) as db:
        row = db.execute("SELECT m.mid, m.sender, m.state, b.body FROM "
                         "messages m JOIN bodies b USING (mid) WHERE m.id = ?",
                         (mid,)).fetchone()
        assert row is not None, mid
        rcpts = [r[0] for r in db.execute(
            "SELECT address FROM recipients WHERE mid = ? ORDER BY idx",
            (row[0],))]
    return row[1], rcpts, row[2], bytes(row[3])


def count(tmp_path):
    path = tmp_path / "data" / "queue.db"
    if not path.exists():
        return 0
    with sqlite3.connect("file:%s?mode=ro" % path, uri=True) as db:
        return db.execute("SELECT count(*) FROM messages").fetchone()[0]


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


def content(part):
    """A text part's content with the wire's CRLF line ends as LF."""
    return part.get_content().replace("\r\n", "\n")


def show(outpost, conf, mid):
    res = outpost.run("queue", "show", mid, "--json", conf=conf)
    assert res.rc == 0, res
    return json.loads(res.out)


@pytest.fixture
def conf(outpost):
    """One enabled profile where nothing listens (queued mail stays)."""
    return outpost.conf([("primary", profile(1))])


def the_id(res):
    lines = res.out.splitlines()
    assert lines and len(lines[0]) == 16, res
    return lines[0]


def test_text_html_attachment(outpost, conf, tmp_path):
    (tmp_path / "body.txt").write_text("Hello Zoë,\nthe report is attached.\n"
                                       "A line: . alone next\n.\n")
    (tmp_path / "body.html").write_text("<p>Hello <b>Zoë</b></p>\n")
    (tmp_path / "pixel.png").write_bytes(PNG)
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    subject = "Grüße – report ✓ for Zoë"
    res = outpost.run(
        "send", "--from", "Zoë Sender <zoe@example.com>",
        "--to", "Alice <alice@example.com>", "--to", "bob@example.net",
        "--cc", "\"Carol, C.\" <carol@example.org>",
        "--bcc", "hidden@example.com", "--subject", subject,
        "--text", "body.txt", "--html", tmp_path / "body.html",
        "--attach", tmp_path / "pixel.png", "--attach", "data.csv",
        "--header", "Reply-To: replies@example.com",
        "--header", "X-Campaign:  spring ", conf=conf)
    assert res.rc == 0, res
    mid = the_id(res)
    assert res.out == mid + "\n" and res.err == "", res
    sender, rcpts, state, body = stored(tmp_path, mid)
    assert sender == "zoe@example.com"
    assert rcpts == ["alice@example.com", "bob@example.net",
                     "carol@example.org", "hidden@example.com"]
    assert state == "queued"
    assert b"\n" not in body.replace(b"\r\n", b"")    # CRLF only
    assert max(len(x) for x in body.split(b"\r\n")) <= 998
    assert b"hidden" not in body                       # Bcc: envelope only
    msg = parse(body)
    assert msg["Subject"] == subject
    assert msg["From"].addresses[0].display_name == "Zoë Sender"
    assert msg["From"].addresses[0].addr_spec == "zoe@example.com"
    assert [a.addr_spec for a in msg["To"].addresses] == [
        "alice@example.com", "bob@example.net"]
    assert msg["Cc"].addresses[0].display_name == "Carol, C."
    assert msg["Reply-To"].addresses[0].addr_spec == "replies@example.com"
    assert msg["X-Campaign"] == "spring"
    assert email.utils.parsedate_to_datetime(msg["Date"]) is not None
    assert msg["Message-ID"].endswith("@example.com>")
    assert msg["MIME-Version"] == "1.0"

    assert msg.get_content_type() == "multipart/mixed"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == [
        "multipart/alternative", "image/png", "text/csv"]
    alt = list(parts[0].iter_parts())
    assert [p.get_content_type() for p in alt] == ["text/plain", "text/html"]
    assert content(alt[0]) == ("Hello Zoë,\nthe report is attached.\n"
                                    "A line: . alone next\n.\n")
    assert content(alt[1]) == "<p>Hello <b>Zoë</b></p>\n"
    assert parts[1].get_filename() == "pixel.png"
    assert parts[1].get_content_disposition() == "attachment"
    assert parts[1].get_content() == PNG
    assert parts[2].get_filename() == "data.csv"
    assert content(parts[2]) == "a,b\n1,2\n"

    # the queue agrees
    j = show(outpost, conf, mid)
    assert j["subject"] == subject and j["from"] == "zoe@example.com"
    assert [r["address"] for r in j["recipients"]] == rcpts


def test_text_from_stdin(outpost, conf, tmp_path):
    res = outpost.run("send", "--from", "a@example.com", "--to",
                      "b@example.com", "--subject", "stdin", "--text", "-",
                      conf=conf, stdin="from standard input\n")
    assert res.rc == 0, res
    _, _, _, body = stored(tmp_path, the_id(res))
    msg = parse(body)
    assert msg.get_content_type() == "text/plain"
    assert content(msg) == "from standard input\n"
    assert msg["Subject"] == "stdin"


def test_html_only_and_empty_subject(outpost, conf, tmp_path):
    (tmp_path / "b.html").write_text("<p>x</p>")
    res = outpost.run("send", "--from=a@example.com", "--to=<b@example.com>",
                      "--subject=", "--html=b.html", conf=conf)
    assert res.rc == 0, res
    _, rcpts, _, body = stored(tmp_path, the_id(res))
    assert rcpts == ["b@example.com"]
    msg = parse(body)
    assert msg.get_content_type() == "text/html"


@pytest.mark.parametrize("args,code,text", [
    (["--to", "b@example.com", "--subject", "s"], 64, "--from"),
    (["--from", "a@example.com", "--subject", "s"], 64, "recipient"),
    (["--from", "a@example.com", "--to", "b@example.com"], 64, "--subject"),
    (["--from", "a@example.com", "--to", "b@example.com", "--subject", "s",
      "--bogus"], 64, "unknown option --bogus"),
    (["--from", "a@example.com", "--to", "b@example.com", "--subject", "s",
      "extra"], 64, "unexpected argument extra"),
    (["--from", "a@example.com", "--to"], 64, "needs a value"),
    (["--from", "a@example.com", "--to", "b@example.com", "--subject", "s",
      "--attach", "-"], 64, "--attach needs a file"),
    (["--from", "a@example.com", "--to", "b@example.com", "--subject", "s",
      "--header", "no colon"], 64, "Name: value"),
    (["--from", "not-an-address", "--to", "b@example.com", "--subject",
      "s"], 65, "--from 'not-an-address'"),
    (["--from", "a@example.com", "--to", "b@example.com", "--to",
      "x y@example.com", "--subject", "s"], 65, "--to 'x y@example.com'"),
    (["--from", "a@example.com", "--to", "b@example.com", "--bcc",
      "$(touch pwned)@example.com", "--subject", "s"], 65, "--bcc"),
    (["--from", "a@example.com", "--to", "Name <b@example.com", "--subject",
      "s"], 65, "--to"),
    (["--from", "a@example.com", "--to", "b@example.com", "--subject",
      "two\nlines"], 65, "ubject"),
    (["--from", "a@example.com", "--to", "b@example.com", "--subject", "s",
      "--header", "From: evil@example.com"], 65, "From"),
    (["--from", "a@example.com", "--to", "b@example.com", "--subject", "s",
      "--header", "X-Evil: a\r\nBcc: x@example.com"], 65, "one line"),
    (["--from", "a@example.com", "--to", "b@example.com", "--subject", "s",
      "--attach", "no-such-file"], 66, "no-such-file"),
    (["--from", "a@example.com", "--to", "b@example.com", "--subject", "s",
      "--text", "."], 66, "cannot read"),
    (["--from", "a@example.com", "--to", "b@example.com", "--subject", "s",
      "--profile", "nope"], 78, "nope"),
])
def test_refused_input(outpost, conf, tmp_path, args, code, text):
    res = outpost.run("send", *args, conf=conf)
    assert res.rc == code, res
    assert text in res.err, res
    assert res.out == ""
    assert count(tmp_path) == 0
    assert not (tmp_path / "pwned").exists()


def test_bad_utf8_text_and_size_bound(outpost, tmp_path):
    conf = outpost.conf([("primary", profile(1))],
                        server={"max_message_size": "4K"})
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9\n")
    res = outpost.run("send", "--from", "a@example.com", "--to",
                      "b@example.com", "--subject", "s", "--text",
                      "latin1.txt", conf=conf)
    assert res.rc == 65, res
    assert "UTF-8" in res.err
    (tmp_path / "big.bin").write_bytes(os.urandom(5000))
    res = outpost.run("send", "--from", "a@example.com", "--to",
                      "b@example.com", "--subject", "s", "--attach",
                      "big.bin", conf=conf)
    assert res.rc == 65, res
    assert "max_message_size" in res.err
    # a file within the bound whose base64 form is not
    (tmp_path / "mid.bin").write_bytes(os.urandom(3500))
    res = outpost.run("send", "--from", "a@example.com", "--to",
                      "b@example.com", "--subject", "s", "--attach",
                      "mid.bin", conf=conf)
    assert res.rc == 65, res
    assert "max_message_size" in res.err
    assert count(tmp_path) == 0


def test_disabled_profile_refused_and_no_profile_holds(outpost, tmp_path):
    conf = outpost.conf([("primary", dict(profile(1), enabled=False))])
    base = ["send", "--from", "a@example.com", "--to", "b@example.com",
            "--subject", "s"]
    res = outpost.run(*base, "--profile", "primary", conf=conf)
    assert res.rc == 78, res
    assert "not enabled" in res.err
    res = outpost.run(*base, conf=conf)
    assert res.rc == 0, res
    mid = the_id(res)
    assert stored(tmp_path, mid)[2] == "held"
    assert "held" in res.err
    res = outpost.run(*base, "--now", conf=conf)
    assert res.rc == 75, res
    assert "held" in res.err


def test_now_delivers_and_prints_the_reply(outpost, peers, tmp_path):
    peer = peers.aiosmtpd("plain", queue_id="NOW00001")
    conf = outpost.conf([("primary", profile(peer.port))])
    res = outpost.run("send", "--from", "a@example.com", "--to",
                      "Bob <bob@example.net>", "--subject", "now",
                      "--text", "-", "--now", conf=conf, stdin="hi\n.\nend\n")
    assert res.rc == 0, res
    mid = the_id(res)
    assert res.out.splitlines()[1] == \
        "bob@example.net: sent: 250 2.0.0 Ok: queued as NOW00001"
    assert len(peer.messages) == 1
    m = peer.messages[0]
    assert m.mail_from == "a@example.com"
    assert m.rcpt_tos == ["bob@example.net"]
    msg = parse(m.content)
    assert msg["Subject"] == "now"
    assert content(msg) == "hi\n.\nend\n"
    j = show(outpost, conf, mid)
    assert j["state"] == "sent"
    assert j["attempts"] == 1
    assert j["profile_used"] == "primary"
    (r,) = j["recipients"]
    assert (r["state"], r["code"], r["enhanced"]) == ("sent", 250, "2.0.0")


def test_now_with_a_refused_recipient(outpost, peers, tmp_path):
    peer = peers.aiosmtpd("plain", reject_rcpts=["bad@example.net",
                                                  "worse@example.net"])
    conf = outpost.conf([("primary", profile(peer.port))])
    res = outpost.run("send", "--from", "a@example.com", "--to",
                      "good@example.net", "--cc", "bad@example.net",
                      "--subject", "mixed", "--now", conf=conf)
    assert res.rc == 65, res
    mid = the_id(res)
    lines = res.out.splitlines()[1:]
    assert lines[0].startswith("good@example.net: sent: 250 ")
    assert lines[1].startswith("bad@example.net: failed: 550 5.1.1 "
                               "<bad@example.net>: Recipient address "
                               "rejected")
    assert "refused for good for 1 of 2 recipients" in res.err
    assert [m.rcpt_tos for m in peer.messages] == [["good@example.net"]]
    j = show(outpost, conf, mid)
    assert j["state"] == "sent"
    assert [r["state"] for r in j["recipients"]] == ["sent", "failed"]

    # every recipient refused: the message failed
    res = outpost.run("send", "--from", "a@example.com", "--to",
                      "worse@example.net", "--subject", "refused", "--now",
                      conf=conf)
    assert res.rc == 65, res
    assert "550 5.1.1" in res.out
    assert show(outpost, conf, the_id(res))["state"] == "failed"

    # bad@ was refused with 5.1.1: suppressed, not asked again
    sessions = len(peer.sessions())
    res = outpost.run("send", "--from", "a@example.com", "--to",
                      "bad@example.net", "--subject", "again", "--now",
                      conf=conf)
    assert res.rc == 65, res
    assert "bad@example.net: failed: suppressed" in res.out, res
    assert show(outpost, conf, the_id(res))["state"] == "failed"
    assert len(peer.sessions()) == sessions


def test_now_unreachable_stays_queued(outpost, peers, tmp_path):
    conf = outpost.conf([("primary", profile(peers.refused_port()))])
    res = outpost.run("send", "--from", "a@example.com", "--to",
                      "b@example.net", "--subject", "later", "--now",
                      conf=conf)
    assert res.rc == 69, res
    mid = the_id(res)
    assert "b@example.net: deferred" in res.out
    assert "stays queued" in res.err

    # with -v, one event=delivery line per recipient and attempt (issue 10
    # #15), not a second one with relay=- code=0
    res = outpost.run("-v", "send", "--from", "a@example.com", "--to",
                      "b@example.net", "--subject", "later", "--now",
                      conf=conf)
    assert res.rc == 69, res
    lines = [l for l in res.err.splitlines() if "event=delivery " in l]
    assert len(lines) == 1, res.err
    assert " relay=127.0.0.1:" in lines[0] and " state=deferred " in lines[0]
    j = show(outpost, conf, mid)
    assert j["state"] == "deferred"
    assert j["next_attempt"] is not None
    assert j["recipients"][0]["state"] == "deferred"


def test_now_through_the_named_profile(outpost, peers, tmp_path):
    first = peers.aiosmtpd("plain", queue_id="FIRST")
    second = peers.aiosmtpd("plain", queue_id="SECOND")
    conf = outpost.conf([("first", profile(first.port)),
                         ("second", profile(second.port))])
    res = outpost.run("send", "--from", "a@example.com", "--to",
                      "b@example.net", "--subject", "p", "--profile",
                      "second", "--now", conf=conf)
    assert res.rc == 0, res
    assert "queued as SECOND" in res.out
    assert len(first.messages) == 0 and len(second.messages) == 1


def test_now_while_the_daemon_runs_delivers_once(outpost, peers, tmp_path):
    from daemon import Daemon, free_port, wait_for
    peer = peers.aiosmtpd("plain", queue_id="ONCE")
    port = free_port()
    conf = outpost.conf([("primary", profile(peer.port))],
                        server={"smtp_listen": "127.0.0.1:%d" % port,
                                "http_listen": ""})
    d = Daemon(outpost, conf, port)
    try:
        ids = []
        for i in range(3):
            res = outpost.run("send", "--from", "a@example.com", "--to",
                              "r%d@example.net" % i, "--subject", "race",
                              "--now", conf=conf)
            assert res.rc == 0, res
            assert "sent: 250 2.0.0 Ok: queued as ONCE" in res.out
            ids.append(the_id(res))
        # plain send: the daemon delivers it
        res = outpost.run("send", "--from", "a@example.com", "--to",
                          "later@example.net", "--subject", "daemon",
                          conf=conf)
        assert res.rc == 0, res
        wait_for(lambda: len(peer.messages) == 4, what="daemon delivery")
    finally:
        d.stop()
    assert sorted(m.rcpt_tos[0] for m in peer.messages) == [
        "later@example.net", "r0@example.net", "r1@example.net",
        "r2@example.net"]
    for mid in ids:
        assert stored(tmp_path, mid)[2] == "sent"
