"""The SMTP listener against hostile clients: raw bytes over sockets
(issue 6 part 1; the rules in docs/security.md).

Each test drives `outpost serve` (the sanitizer build) with RawSMTP, in the
TCP segments it chooses, and checks three things: the replies, what the
queue stored (tests/adversarial/raw.py reads the database), and, where it
matters, what reached an independent upstream peer (aiosmtpd).  The daemon
must stop cleanly afterwards (exit 0, no sanitizer report): Daemon.stop
asserts it.
"""

import os
import smtplib
import socket
import threading
import time

import pytest

import peers as peers_mod
from daemon import Daemon, serve_conf, wait_for
from raw import ChildWatch, RawSMTP, messages

SENDER = "app@example.com"
RCPT = "rcpt@example.com"
SMUGGLED = ("MAIL FROM:<evil@example.com>\r\nRCPT TO:<victim@example.com>\r\n"
            "DATA\r\nFrom: ceo@example.com\r\nSubject: smuggled\r\n\r\n"
            "pay now\r\n")


def start(outpost, daemons, profiles=(), server=None, raw=""):
    conf, port = serve_conf(outpost, profiles, server, raw)
    d = Daemon(outpost, conf, port)
    daemons.append(d)
    return d


def data_dir(outpost):
    return outpost.tmp_path / "data"


def open_txn(port, rcpts=(RCPT,), helo="EHLO client.example"):
    c = RawSMTP(port)
    assert c.greeting[0] == 220
    c.expect(helo, 250)
    c.expect("MAIL FROM:<%s>" % SENDER, 250)
    for r in rcpts:
        c.expect("RCPT TO:<%s>" % r, 250)
    c.expect("DATA", 354)
    return c


def crlf_only(body):
    return b"\n" not in body.replace(b"\r\n", b"") and \
        b"\r" not in body.replace(b"\r\n", b"")


# ---------------------------------------------------------------------------
# SMTP smuggling (https://sec-consult.com/blog/detail/smtp-smuggling-...):
# every end-of-data variant that is not <CRLF>.<CRLF>, followed by a
# smuggled envelope, in one segment and byte by byte.

VARIANTS = {
    "lf.lf": "\n.\n",
    "cr.cr": "\r.\r",
    "lf.crlf": "\n.\r\n",
    "crlf.lf": "\r\n.\n",
    "crlf.cr-crlf": "\r\n.\r\r\n",
    "cr.crlf": "\r.\r\n",
    "crlf.cr": "\r\n.\r",
}


@pytest.mark.parametrize("split", ["one-segment", "byte-by-byte"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_smuggling_gives_one_message_never_two(outpost, peers, daemons,
                                               variant, split):
    peer = peers.aiosmtpd("plain")
    d = start(outpost, daemons, [("up", peers_mod.profile(peer.port))])
    c = open_txn(d.smtp_port)
    head = "From: %s\r\nTo: %s\r\nSubject: legit\r\n\r\nline one" % (SENDER, RCPT)
    tail = VARIANTS[variant] + SMUGGLED + "\r\n.\r\n"
    if split == "one-segment":
        c.send(head + tail)
    else:
        c.send(head)
        for ch in tail:
            c.send(ch)
            time.sleep(0.001)
    code, text = c.reply()
    assert code == 250 and "queued as" in text[0], (code, text)
    # nothing was taken as a command: the next reply is NOOP's own
    assert c.cmd("NOOP") == (250, ["2.0.0 Ok"])
    c.expect("QUIT", 221)

    msgs = messages(data_dir(outpost))
    assert len(msgs) == 1, msgs
    _, sender, _, rcpts, body = msgs[0]
    assert sender == SENDER and rcpts == [RCPT]
    assert b"MAIL FROM:<evil@example.com>" in body   # body text, not a command
    assert crlf_only(body)

    # Upstream: one message, to the real recipient; the lone "." line is
    # sent dot-stuffed ("..") and the wire ends at one "." only.
    wait_for(lambda: len(peer.messages) >= 1, what="delivery")
    time.sleep(0.2)
    assert len(peer.messages) == 1
    assert peer.messages[0].rcpt_tos == [RCPT]
    lines = peer.sessions()[0].data_lines()
    assert lines[-1] == "." and lines.count(".") == 1, lines
    assert ".." in lines, lines
    assert "victim@example.com" not in "".join(peer.sessions()[0].client_lines())


def test_real_end_of_data_then_pipelined_envelope_is_two_messages(
        outpost, daemons):
    """The control for the test above: with <CRLF>.<CRLF> the same bytes
    ARE two messages, so the smuggling test would see a second one."""
    d = start(outpost, daemons)
    c = open_txn(d.smtp_port)
    c.send("Subject: legit\r\n\r\nline one\r\n.\r\n" + SMUGGLED + "\r\n.\r\n")
    replies = c.replies(5)
    assert [r[0] for r in replies] == [250, 250, 250, 354, 250], replies
    c.expect("QUIT", 221)
    msgs = messages(data_dir(outpost))
    assert [m[3] for m in msgs] == [[RCPT], ["victim@example.com"]]


def test_bare_lf_and_cr_in_body_are_stored_as_crlf(outpost, daemons):
    d = start(outpost, daemons)
    c = open_txn(d.smtp_port)
    c.send("Subject: x\n\na\nb\rc\r\n..d\r\n.\r\n")
    assert c.reply()[0] == 250
    body = messages(data_dir(outpost))[0][4]
    assert body.endswith(b"Subject: x\r\n\r\na\r\nb\r\nc\r\n.d\r\n"), body


# ---------------------------------------------------------------------------
# Pipelining

def test_commands_pipelined_after_data_without_pipelining(outpost, daemons):
    """HELO offers no PIPELINING; a client sends the next envelope in the
    same segment as the end of DATA anyway.  The replies come in order,
    the message's own 250 first (only once it is on disk), nothing is
    lost or answered twice."""
    d = start(outpost, daemons)
    c = open_txn(d.smtp_port, helo="HELO client.example")
    c.send("Subject: one\r\n\r\nfirst\r\n.\r\n"
           "MAIL FROM:<second@example.com>\r\nRCPT TO:<r2@example.com>\r\n"
           "RCPT TO:<r3@example.com>\r\nDATA\r\n")
    replies = c.replies(5)
    assert [r[0] for r in replies] == [250, 250, 250, 250, 354], replies
    assert "queued as" in replies[0][1][0]
    c.send("Subject: two\r\n\r\nsecond\r\n.\r\nNOOP\r\nQUIT\r\n")
    replies = c.replies(3)
    assert [r[0] for r in replies] == [250, 250, 221], replies
    assert "queued as" in replies[0][1][0]
    assert c.closed()
    msgs = messages(data_dir(outpost))
    assert [(m[1], m[3]) for m in msgs] == [
        (SENDER, [RCPT]), ("second@example.com", ["r2@example.com",
                                                  "r3@example.com"])]


def test_pipelined_flood_without_reading_replies_is_bounded(outpost, daemons):
    """A client that pipelines thousands of commands and never reads:
    the listener stops reading once its replies pile up, and serves
    others meanwhile; every command gets its reply, in order, once the
    client reads."""
    d = start(outpost, daemons)
    c = RawSMTP(d.smtp_port)
    c.expect("EHLO flood.example", 250)
    n = 5000
    sender = threading.Thread(target=c.send, args=("NOOP\r\n" * n,))
    sender.start()
    time.sleep(0.5)
    # another client is served while the flood waits
    other = smtplib.SMTP("127.0.0.1", d.smtp_port, timeout=10, local_hostname="localhost")
    assert other.noop()[0] == 250
    other.quit()
    got = c.replies(n)
    sender.join(10)
    assert all(r == (250, ["2.0.0 Ok"]) for r in got)
    c.expect("QUIT", 221)


# ---------------------------------------------------------------------------
# Line limits (RFC 5321 section 4.5.3.1.4 and .6)

def test_command_line_limit_is_512_octets(outpost, daemons):
    d = start(outpost, daemons)
    c = RawSMTP(d.smtp_port)
    c.expect("EHLO client.example", 250)
    ok = "VRFY " + "a" * (510 - 5)         # 510 + CRLF = 512
    assert len(ok) == 510
    assert c.cmd(ok)[0] == 252
    code, text = c.cmd(ok + "b")           # 513 octets
    assert (code, text) == (500, ["5.5.2 Line too long"])
    assert c.cmd("NOOP")[0] == 250


def test_megabyte_command_line_is_refused_and_session_continues(outpost,
                                                                daemons):
    d = start(outpost, daemons)
    c = RawSMTP(d.smtp_port)
    c.expect("EHLO client.example", 250)
    c.send("MAIL FROM:<" + "x" * (2 * 1024 * 1024) + "@example.com>\r\n")
    assert c.reply() == (500, ["5.5.2 Line too long"])
    c.expect("MAIL FROM:<%s>" % SENDER, 250)
    # others are served
    s = smtplib.SMTP("127.0.0.1", d.smtp_port, timeout=10, local_hostname="localhost")
    assert s.noop()[0] == 250
    s.quit()


def test_long_command_line_answered_at_once_and_three_end_session(outpost,
                                                                  daemons):
    """The 500 comes when the limit is passed, before any line end: a
    client that never sends CRLF still hears why.  The third long line
    ends the session with 421 (docs/security.md)."""
    d = start(outpost, daemons)
    c = RawSMTP(d.smtp_port, timeout=10)
    c.expect("EHLO client.example", 250)
    c.send("MAIL FROM:<" + "x" * 600)       # no CRLF (yet)
    assert c.reply() == (500, ["5.5.2 Line too long"])
    # the rest of that line is dropped unanswered
    c.send("y" * 5000 + "@example.com>\r\n")
    assert c.cmd("NOOP") == (250, ["2.0.0 Ok"])
    c.send("z" * 513)
    assert c.reply() == (500, ["5.5.2 Line too long"])
    c.send("\r\n" + "w" * 513)
    assert c.replies(2) == [
        (500, ["5.5.2 Line too long"]),
        (421, ["4.7.0 %s Too many long lines, closing connection"
               % c.greeting[1][0].split()[0]])]
    assert c.closed()
    # others are served
    s = smtplib.SMTP("127.0.0.1", d.smtp_port, timeout=10,
                     local_hostname="localhost")
    assert s.noop()[0] == 250
    s.quit()


@pytest.mark.parametrize("where,data", [
    ("header, line 2", "From: a@example.com\r\nSubject: a\x00b\r\n\r\nhi\r\n"),
    ("body, line 4", "Subject: x\r\n\r\nline 3\r\nli\x00ne 4\r\n"),
])
def test_nul_byte_refused_at_end_of_data(outpost, peers, daemons, where,
                                         data):
    """One rule with `outpost sendmail`: a NUL anywhere is refused with
    5xx at the end of DATA, naming it; nothing stored or relayed; the
    session stays in step."""
    peer = peers.aiosmtpd("plain")
    d = start(outpost, daemons, [("up", peers_mod.profile(peer.port))])
    c = open_txn(d.smtp_port)
    c.send(data + ".\r\n")
    code, text = c.reply()
    assert code == 554, (code, text)
    assert text[0].startswith("5.6.0 Message refused: a NUL byte in the %s;"
                              % where), text
    assert messages(data_dir(outpost)) == []
    c.expect("MAIL FROM:<%s>" % SENDER, 250)
    c.expect("RCPT TO:<%s>" % RCPT, 250)
    c.expect("DATA", 354)
    c.send("Subject: clean\r\n\r\nhi\r\n.\r\n")
    assert c.reply()[0] == 250
    wait_for(lambda: len(peer.messages) == 1, what="delivery")
    assert len(peer.messages) == 1
    assert b"Subject: clean" in peer.messages[0].content


def test_body_line_limit_is_1000_octets(outpost, daemons):
    d = start(outpost, daemons)
    c = open_txn(d.smtp_port)
    c.send("Subject: long\r\n\r\n" + "y" * 998 + "\r\n" + "z" * 999 +
           "\r\nafter\r\n.\r\n")
    assert c.reply() == (554, ["5.6.0 Message refused: a line is longer "
                               "than 1000 octets"])
    assert messages(data_dir(outpost)) == []
    # in step: the next transaction on the same session works, and a line
    # of exactly 1000 octets (998 + CRLF; a stuffed dot not counted) passes
    c.expect("MAIL FROM:<%s>" % SENDER, 250)
    c.expect("RCPT TO:<%s>" % RCPT, 250)
    c.expect("DATA", 354)
    c.send("Subject: ok\r\n\r\n" + "y" * 998 + "\r\n." + "d" * 998 + "\r\n.\r\n")
    assert c.reply()[0] == 250
    body = messages(data_dir(outpost))[0][4]
    assert b"\r\n" + b"y" * 998 + b"\r\n" + b"d" * 998 + b"\r\n" in body


# ---------------------------------------------------------------------------
# Recipients and size

def test_more_than_1000_recipients(outpost, daemons):
    d = start(outpost, daemons)
    c = RawSMTP(d.smtp_port)
    c.expect("EHLO client.example", 250)
    c.expect("MAIL FROM:<%s>" % SENDER, 250)
    n = 1010
    c.send("".join("RCPT TO:<r%d@example.com>\r\n" % i for i in range(n)))
    got = c.replies(n)
    assert all(r[0] == 250 for r in got[:1000])
    assert all(r == (452, ["4.5.3 Too many recipients"]) for r in got[1000:]), \
        got[1000:]
    c.expect("DATA", 354)
    c.send("Subject: many\r\n\r\nhi\r\n.\r\n")
    assert c.reply()[0] == 250
    c.expect("QUIT", 221)
    (_, _, _, rcpts, _), = messages(data_dir(outpost))
    assert rcpts == ["r%d@example.com" % i for i in range(1000)]


def test_size_over_the_limit(outpost, daemons):
    d = start(outpost, daemons, server={"max_message_size": "10K"})
    c = RawSMTP(d.smtp_port)
    code, ehlo = c.expect("EHLO client.example", 250)
    assert "SIZE 10240" in ehlo
    # announced too big: refused before any data
    assert c.cmd("MAIL FROM:<%s> SIZE=10241" % SENDER) == \
        (552, ["5.3.4 Message size exceeds fixed maximum message size"])
    assert c.cmd("MAIL FROM:<%s> SIZE=%s" % (SENDER, "9" * 30))[0] in (501, 552)
    assert c.cmd("MAIL FROM:<%s> SIZE=-1" % SENDER)[0] == 501
    # not announced, and sent anyway: read to the end, then refused
    c.expect("MAIL FROM:<%s> SIZE=100" % SENDER, 250)
    c.expect("RCPT TO:<%s>" % RCPT, 250)
    c.expect("DATA", 354)
    c.send("Subject: big\r\n\r\n" + ("x" * 70 + "\r\n") * 300 + ".\r\n")
    assert c.reply() == (552, ["5.3.4 Message size exceeds fixed maximum "
                               "message size"])
    assert messages(data_dir(outpost)) == []
    # in step afterwards
    c.expect("MAIL FROM:<%s>" % SENDER, 250)
    c.expect("RCPT TO:<%s>" % RCPT, 250)
    c.expect("DATA", 354)
    c.send("Subject: small\r\n\r\nok\r\n.\r\n")
    assert c.reply()[0] == 250
    assert len(messages(data_dir(outpost))) == 1


# ---------------------------------------------------------------------------
# Slow and silent clients

def _drip(port, stop, sent):
    """Send a command one byte at a time, a byte every 0.2 s."""
    try:
        c = RawSMTP(port)
        for ch in "EHLO drip.example\r\n" * 50:
            if stop.is_set():
                break
            c.send(ch)
            sent.append(ch)
            time.sleep(0.2)
        c.close()
    except (OSError, EOFError):
        pass


def test_silent_and_dripping_clients_do_not_stop_others(outpost, daemons):
    d = start(outpost, daemons, server={"smtp_timeout": "5s"})
    silent = [RawSMTP(d.smtp_port) for _ in range(20)]
    stop = threading.Event()
    sent = []
    drips = [threading.Thread(target=_drip, args=(d.smtp_port, stop, sent))
             for _ in range(3)]
    for t in drips:
        t.start()
    try:
        # a normal client hands over five messages meanwhile
        s = smtplib.SMTP("127.0.0.1", d.smtp_port, timeout=10, local_hostname="localhost")
        for i in range(5):
            d.send(SENDER, [RCPT], "Subject: n%d\r\n\r\nhi\r\n" % i, session=s)
        s.quit()
        assert len(messages(data_dir(outpost))) == 5
        # ... while every silent client was still connected and waiting
        for c in silent:
            c.sock.setblocking(False)
            try:
                assert c.sock.recv(1, socket.MSG_PEEK) == b"", "closed early"
            except BlockingIOError:
                pass
            c.sock.setblocking(True)
        # then the silent ones hear 421 and are closed (smtp_timeout)
        for c in silent:
            c.sock.settimeout(15)
            assert c.reply() == (421, ["4.4.2 localhost Timeout, closing "
                                       "connection"])
            assert c.closed()
    finally:
        stop.set()
        for t in drips:
            t.join(30)
        for c in silent:
            c.close()
    assert sent     # the drips did send while the others were served


def test_session_limit_refuses_at_once_and_recovers(outpost, daemons):
    d = start(outpost, daemons, server={"smtp_max_sessions": 5,
                                        "smtp_timeout": "2s"})
    held = [RawSMTP(d.smtp_port) for _ in range(5)]
    extra = RawSMTP(d.smtp_port)
    assert extra.greeting == (421, ["4.3.2 Too many connections, try again "
                                    "later"])
    assert extra.closed()
    for c in held:
        c.close()
    # slots come back: a client is served again
    def served():
        try:
            s = smtplib.SMTP("127.0.0.1", d.smtp_port, timeout=5, local_hostname="localhost")
        except (smtplib.SMTPException, OSError):
            return False
        ok = s.noop()[0] == 250
        s.quit()
        return ok
    wait_for(served, what="a free session slot")


# ---------------------------------------------------------------------------
# Hostile addresses: refused, never "repaired", never executed

REFUSED = [
    "a;id@example.com",            # shell separator: not atext
    "$(id)@example.com",           # command substitution: '(' ')' not atext
    "a(b)@example.com",
    "a<b@example.com",
    "a\\b@example.com",
    "a@",                          # empty domain
    "@example.com",                # empty local part
    "a@example.com.",              # trailing dot
    "a@-bad.example",
    "u%relay.example@example.com",  # percent hack (RFC 1123 5.2.16)
    "x!u@example.com",             # bang path
    "u@x@example.com",             # u@x@y
    "\"a@b\"@example.com",         # '@' inside quotes
    "\"a%b\"@example.com",
    "a..b@example.com",
    "a@exa_mple.com",
    "%s@example.com" % ("l" * 65),  # local part over 64 octets
]


@pytest.mark.parametrize("addr", REFUSED)
def test_hostile_address_refused(outpost, daemons, addr):
    d = start(outpost, daemons)
    c = RawSMTP(d.smtp_port)
    c.expect("EHLO client.example", 250)
    code, _ = c.cmd("MAIL FROM:<%s>" % addr)
    assert code in (501, 553), (addr, code)
    c.expect("MAIL FROM:<%s>" % SENDER, 250)
    code, _ = c.cmd("RCPT TO:<%s>" % addr)
    assert code in (501, 553), (addr, code)
    # the session is usable and the address was not "repaired" into one
    c.expect("RCPT TO:<%s>" % RCPT, 250)
    c.expect("DATA", 354)
    c.send("Subject: x\r\n\r\nx\r\n.\r\n")
    assert c.reply()[0] == 250
    (_, sender, _, rcpts, _), = messages(data_dir(outpost))
    assert (sender, rcpts) == (SENDER, [RCPT])


def test_control_characters_in_addresses_refused(outpost, daemons):
    d = start(outpost, daemons)
    c = RawSMTP(d.smtp_port)
    c.expect("EHLO client.example", 250)
    for bad in ("MAIL FROM:<a\x00b@example.com>", "MAIL FROM:<a\x1bb@example.com>",
                "MAIL FROM:<a\x7fb@example.com>", "MAIL FROM:<a\rb@example.com>"):
        code, _ = c.cmd(bad)
        assert code in (500, 501, 553), (bad, code)
    c.expect("MAIL FROM:<%s>" % SENDER, 250)


# Legal (RFC 5321/5322 atext or a quoted string) but full of shell syntax:
# accepted as the data they are, relayed unchanged, never run.
SHELLISH = [
    "`touch${IFS}pwned-a`@example.com",
    "$HOME|a&b@example.com",
    "\"$(touch pwned-b)\"@example.com",
    "\"`touch pwned-c`\"@example.com",
    "\"a;touch pwned-d\"@example.com",
    "\"|touch pwned-e\"@example.com",
]


def test_shell_syntax_in_addresses_is_never_executed(outpost, peers, daemons):
    peer = peers.aiosmtpd("plain")
    d = start(outpost, daemons, [("up", peers_mod.profile(peer.port))])
    watch = ChildWatch(d.proc.pid)
    try:
        c = RawSMTP(d.smtp_port)
        c.expect("EHLO client.example", 250)
        c.expect("MAIL FROM:<%s>" % SHELLISH[0], 250)
        for a in SHELLISH:
            c.expect("RCPT TO:<%s>" % a, 250)
        c.expect("DATA", 354)
        c.send("Subject: $(touch pwned-f) `touch pwned-g`\r\n\r\n"
               "; touch pwned-h\r\n.\r\n")
        assert c.reply()[0] == 250
        c.expect("QUIT", 221)
        wait_for(lambda: len(peer.messages) == 1, what="delivery")
    finally:
        seen = watch.stop()
    assert watch.polls > 10
    assert seen == {}, "the daemon started processes: %r" % seen
    assert [p for p in os.listdir(outpost.tmp_path) if "pwned" in p] == []
    m = peer.messages[0]
    assert m.mail_from == SHELLISH[0]
    assert sorted(m.rcpt_tos) == sorted(SHELLISH)
    (_, sender, _, rcpts, _), = messages(data_dir(outpost))
    assert sender == SHELLISH[0] and rcpts == SHELLISH


def test_source_route_is_refused(outpost, peers, daemons):
    """A source route is refused (RFC 5321 section 4.1.1.3 lets a server
    decline it): the routed recipient is never stored, never sent upstream
    and never decides where the mail goes."""
    peer = peers.aiosmtpd("plain")
    d = start(outpost, daemons, [("up", peers_mod.profile(peer.port))])
    c = RawSMTP(d.smtp_port)
    c.expect("EHLO client.example", 250)
    c.expect("MAIL FROM:<%s>" % SENDER, 250)
    code, text = c.cmd("RCPT TO:<@evil.example,@relay.example:victim@example.com>")
    assert code == 553, (code, text)
    c.expect("RCPT TO:<%s>" % RCPT, 250)
    c.expect("DATA", 354)
    c.send("Subject: route\r\n\r\nx\r\n.\r\n")
    assert c.reply()[0] == 250
    (_, _, _, rcpts, _), = messages(data_dir(outpost))
    want = (["victim@example.com", RCPT] if code == 250 else [RCPT])
    assert rcpts == want
    wait_for(lambda: len(peer.messages) == 1, what="delivery")
    assert sorted(peer.messages[0].rcpt_tos) == sorted(want)
    sent = "\n".join(peer.sessions()[0].client_lines())
    assert "evil.example" not in sent and "relay.example" not in sent


# ---------------------------------------------------------------------------
# STARTTLS command injection (RFC 3207 section 4.2; CVE-2011-0411 style)

def tls_server(outpost, daemons, certs):
    pem, key = certs.server
    return start(outpost, daemons, server={"smtp_tls_cert": str(pem),
                                           "smtp_tls_key": str(key)})


def pending_bytes(c, wait=0.3):
    """Bytes the server sent that were not read yet (after a short wait)."""
    time.sleep(wait)
    c.sock.setblocking(False)
    try:
        data = c.sock.recv(65536, socket.MSG_PEEK)
    except BlockingIOError:
        data = b""
    finally:
        c.sock.setblocking(True)
    return c.buf + data


def test_starttls_with_commands_in_the_same_packet(outpost, daemons, certs):
    d = tls_server(outpost, daemons, certs)
    c = RawSMTP(d.smtp_port)
    code, ehlo = c.expect("EHLO client.example", 250)
    assert "STARTTLS" in ehlo
    c.send("STARTTLS\r\nEHLO evil.example\r\nMAIL FROM:<evil@example.com>\r\n"
           "RCPT TO:<victim@example.com>\r\n")
    assert c.reply() == (220, ["2.0.0 Ready to start TLS"])
    # nothing else was answered in clear
    assert pending_bytes(c) == b""
    c.starttls(certs.ca)
    # the injected EHLO, MAIL and RCPT were discarded, not run after TLS
    assert c.cmd("MAIL FROM:<%s>" % SENDER) == (503, ["5.5.1 Send HELO/EHLO first"])
    code, ehlo = c.expect("EHLO client.example", 250)
    assert "STARTTLS" not in ehlo
    assert c.cmd("DATA")[0] == 503          # no transaction was carried over
    assert c.cmd("RCPT TO:<%s>" % RCPT)[0] == 503
    c.expect("MAIL FROM:<%s>" % SENDER, 250)
    c.expect("RCPT TO:<%s>" % RCPT, 250)
    c.expect("DATA", 354)
    c.send("Subject: tls\r\n\r\nok\r\n.\r\n")
    assert c.reply()[0] == 250
    c.expect("QUIT", 221)
    msgs = messages(data_dir(outpost))
    assert [(m[1], m[3]) for m in msgs] == [(SENDER, [RCPT])]
    assert "event=smtp_starttls_injection" in d.log()


def test_starttls_injection_in_a_later_packet_before_the_handshake(
        outpost, daemons, certs):
    """Bytes sent after STARTTLS but before the ClientHello are not
    commands; they end up as garbage for the TLS layer: the handshake
    fails and the session ends, with nothing executed."""
    d = tls_server(outpost, daemons, certs)
    c = RawSMTP(d.smtp_port)
    c.expect("EHLO client.example", 250)
    c.send("STARTTLS\r\n")
    assert c.reply()[0] == 220
    c.send("MAIL FROM:<evil@example.com>\r\nRCPT TO:<v@example.com>\r\n"
           "DATA\r\nx\r\n.\r\n")
    assert c.closed()
    assert messages(data_dir(outpost)) == []
    # the daemon goes on serving
    s = smtplib.SMTP("127.0.0.1", d.smtp_port, timeout=10, local_hostname="localhost")
    assert s.noop()[0] == 250
    s.quit()


# ---------------------------------------------------------------------------
# AUTH (smtp_auth = yes): hostile SASL exchanges through GNU SASL

CLIENT_RAW = "\n[client billing]\npassword = \"s3cret pass\"\n" \
             "allowed_from = *@example.com\n"


def test_hostile_auth_exchanges_fail_cleanly(outpost, daemons):
    import base64
    d = start(outpost, daemons, server={"smtp_auth": True}, raw=CLIENT_RAW)
    c = RawSMTP(d.smtp_port)
    code, ehlo = c.expect("EHLO client.example", 250)
    assert any(l.startswith("AUTH ") for l in ehlo), ehlo
    # mail before AUTH is refused
    assert c.cmd("MAIL FROM:<%s>" % SENDER)[0] == 530
    hostile = [
        "AUTH PLAIN !!!not-base64!!!",
        "AUTH PLAIN " + base64.b64encode(b"\0billing\0wrong").decode(),
        "AUTH PLAIN " + base64.b64encode(b"other\0billing\0s3cret pass").decode(),
        "AUTH PLAIN " + base64.b64encode(b"\0nobody\0s3cret pass").decode(),
        "AUTH PLAIN " + base64.b64encode(b"\0\0\0\0").decode(),
        "AUTH SCRAM-SHA-256 " + base64.b64encode(b"garbage").decode(),
        "AUTH SCRAM-SHA-256 " + base64.b64encode(b"n,,n=billing,r=" + b"A" * 3000).decode(),
        "AUTH CRAM-MD5 =",
        "AUTH X-UNKNOWN",
        "AUTH",
    ]
    for line in hostile:
        code, _ = c.cmd(line)
        if code == 334:                       # a challenge: answer rubbish
            code, _ = c.cmd(base64.b64encode(b"\xff" * 200).decode())
        assert code in (501, 504, 535, 454, 500), (line, code)
    # none of them logged in (each error counts: 20 end the session)
    assert c.cmd("MAIL FROM:<%s>" % SENDER)[0] == 530
    # an over-long response line to a 334 challenge (RFC 4954: 12288)
    assert c.cmd("AUTH LOGIN")[0] == 334
    c.send("A" * 20000 + "\r\n")
    assert c.reply()[0] == 500
    # a cancelled exchange
    assert c.cmd("AUTH LOGIN")[0] == 334
    assert c.cmd("*")[0] == 501
    # and then the real credentials work, and allowed_from applies
    good = base64.b64encode(b"\0billing\0s3cret pass").decode()
    assert c.cmd("AUTH PLAIN " + good)[0] == 235
    assert c.cmd("MAIL FROM:<app@elsewhere.example>")[0] == 550
    c.expect("MAIL FROM:<%s>" % SENDER, 250)
    c.expect("QUIT", 221)
    log = d.log()
    assert "s3cret" not in log and "d3Jvbmc" not in log


# ---------------------------------------------------------------------------
# [server] aliases: bare local names (RCPT TO:<root>)

def test_local_name_recipient_goes_to_its_alias_and_reloads(outpost, daemons):
    path = outpost.tmp_path / "aliases"
    path.write_text("root: admin@example.com, ops@example.com\n")
    d = start(outpost, daemons, server={"aliases": str(path)})
    c = RawSMTP(d.smtp_port)
    c.expect("EHLO client.example", 250)
    # a local name is never a sender
    code, text = c.cmd("MAIL FROM:<root>")
    assert code == 553, (code, text)
    c.expect("MAIL FROM:<%s>" % SENDER, 250)
    c.expect("RCPT TO:<Root>", 250)
    c.expect("RCPT TO:<ops@example.com>", 250)
    code, text = c.cmd("RCPT TO:<bob>")     # no entry, no default
    assert code == 550 and text[0].startswith("5.1.1 "), (code, text)
    assert "aliases" in text[0] and "default" in text[0], text
    c.expect("DATA", 354)
    c.send("To: root\r\nSubject: cron\r\n\r\nout\r\n.\r\n")
    assert c.reply()[0] == 250
    (_, _, _, rcpts, _), = messages(data_dir(outpost))
    assert rcpts == ["admin@example.com", "ops@example.com"]
    # SIGHUP reloads the file: a new session sees the new mapping
    path.write_text("root: admin@example.com\ndefault: any@example.com\n")
    d.hup()

    def bob_accepted():
        s = RawSMTP(d.smtp_port)
        s.expect("EHLO client.example", 250)
        s.expect("MAIL FROM:<%s>" % SENDER, 250)
        ok = s.cmd("RCPT TO:<bob>")[0] == 250
        s.cmd("QUIT")
        s.close()
        return ok
    wait_for(bob_accepted, what="the reloaded aliases")


def test_local_name_without_aliases_is_refused_naming_aliases(outpost,
                                                              daemons):
    d = start(outpost, daemons)
    c = RawSMTP(d.smtp_port)
    c.expect("EHLO client.example", 250)
    c.expect("MAIL FROM:<%s>" % SENDER, 250)
    code, text = c.cmd("RCPT TO:<root>")
    assert code == 550, (code, text)
    assert text[0].startswith("5.1.1 ") and "aliases" in text[0], text
    c.expect("RCPT TO:<%s>" % RCPT, 250)


def test_aliases_expanding_past_the_queue_limit_get_452(outpost, daemons):
    # Ten names of 100 addresses each fill a message (the queue takes at
    # most 1000 recipients); an eleventh name, or one more address, is
    # refused at RCPT with 452 4.5.3, not after DATA.
    path = outpost.tmp_path / "aliases"
    path.write_text("".join(
        "big%d: %s\n" % (i, ", ".join("u%d-%d@example.com" % (i, j)
                                       for j in range(100)))
        for i in range(11)))
    d = start(outpost, daemons, server={"aliases": str(path)})
    c = RawSMTP(d.smtp_port)
    c.expect("EHLO client.example", 250)
    c.expect("MAIL FROM:<%s>" % SENDER, 250)
    for i in range(10):
        c.expect("RCPT TO:<big%d>" % i, 250)
    # (not a client error: more of them than max_errors keep the session)
    for r in ["big10", "big0"] + [RCPT] * 25:
        code, text = c.cmd("RCPT TO:<%s>" % r)
        assert code == 452 and text[0].startswith("4.5.3 "), (r, code, text)
    c.expect("DATA", 354)
    c.send("To: big\r\nSubject: many\r\n\r\nout\r\n.\r\n")
    assert c.reply()[0] == 250
    (_, _, _, rcpts, _), = messages(data_dir(outpost))
    assert len(rcpts) == 1000 and rcpts[0] == "u0-0@example.com", rcpts[:3]
    # the count is per transaction: after RSET the names are taken again
    c.expect("RSET", 250)
    c.expect("MAIL FROM:<%s>" % SENDER, 250)
    c.expect("RCPT TO:<big10>", 250)
    c.expect("RCPT TO:<%s>" % RCPT, 250)
    c.expect("QUIT", 221)
