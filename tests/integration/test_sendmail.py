"""`outpost sendmail` (and the binary called as `sendmail` / `mailq`).

What is checked is what was committed to the queue: `outpost queue show
--json`, and the SQLite database itself, read-only with Python's sqlite3
module (tables messages, recipients, bodies: see src/queue/queue_sqlite.c).
"""

import email
import email.policy
import email.utils
import os
import sqlite3
import subprocess

import pytest

from conftest import OUTPOST_BIN, SANITIZER_EXITS, SANITIZER_MARKS
from daemon import Run
from peers import profile

MSG = (b"From: App <app@example.com>\n"
       b"To: Alice <alice@example.com>\n"
       b"Subject: hello\n"
       b"\n"
       b"line one\n"
       b"line two\n")


def run(args, stdin=b"", conf=None, argv0=None, cwd=None, timeout=30):
    """Run the binary (as argv0 if given: a path to a symlink) with bytes
    on stdin and OUTPOST_CONFIG=conf; fail on a sanitizer report."""
    env = dict(os.environ)
    env.pop("OUTPOST_CONFIG", None)
    if conf is not None:
        env["OUTPOST_CONFIG"] = str(conf)
    exe = str(argv0) if argv0 is not None else OUTPOST_BIN
    argv = [exe] + [str(a) for a in args]
    proc = subprocess.run(argv, input=stdin, capture_output=True, env=env,
                          timeout=timeout, cwd=cwd)
    r = Run(proc)
    assert r.rc not in SANITIZER_EXITS, r
    for mark in SANITIZER_MARKS:
        assert mark not in r.err, r
    return r


def sendmail(conf, *args, stdin=MSG):
    return run(["sendmail"] + list(args), stdin=stdin, conf=conf)


class Store:
    """The queue database, read-only."""

    def __init__(self, data_dir):
        self.path = os.path.join(str(data_dir), "queue.db")

    def _db(self):
        return sqlite3.connect("file:%s?mode=ro" % self.path, uri=True)

    def exists(self):
        return os.path.exists(self.path)

    def count(self):
        if not self.exists():
            return 0
        with self._db() as db:
            return db.execute("SELECT count(*) FROM messages").fetchone()[0]

    def messages(self):
        """[(id, sender, state, [recipients], body bytes)], oldest first."""
        out = []
        with self._db() as db:
            rows = db.execute("SELECT m.mid, m.id, m.sender, m.state, b.body "
                              "FROM messages m JOIN bodies b USING (mid) "
                              "ORDER BY m.mid").fetchall()
            for mid, mid_id, sender, state, body in rows:
                rcpts = [r[0] for r in db.execute(
                    "SELECT address FROM recipients WHERE mid = ? "
                    "ORDER BY idx", (mid,))]
                out.append((mid_id, sender, state, rcpts, bytes(body)))
        return out

    def only(self):
        msgs = self.messages()
        assert len(msgs) == 1, msgs
        return msgs[0]


@pytest.fixture
def setup(outpost, tmp_path):
    """A configuration with one enabled profile (nothing listens on its
    port: sendmail only queues) and the store it queues into."""
    conf = outpost.conf([("primary", profile(1))])
    return conf, Store(tmp_path / "data")


def parse(body):
    return email.message_from_bytes(body, policy=email.policy.default)


def test_recipients_as_arguments(setup):
    conf, store = setup
    r = sendmail(conf, "bob@example.net", "carol@example.org")
    assert r.rc == 0, r
    assert r.out == "" and r.err == "", r      # sendmail is silent
    mid, sender, state, rcpts, body = store.only()
    assert rcpts == ["bob@example.net", "carol@example.org"]
    assert state == "queued"
    # the first enabled profile's from is the envelope sender
    assert sender == "sender@example.com"
    msg = parse(body)
    # kept as given, with Date and Message-ID added (From was there)
    assert msg["From"] == "App <app@example.com>"
    assert len(msg.get_all("From")) == 1
    assert email.utils.parsedate_to_datetime(msg["Date"]) is not None
    assert msg["Message-ID"].endswith("@localhost>")
    assert body.endswith(b"\n\nline one\nline two\n")
    assert b"\r" not in body                  # the message's own LF style


def test_t_extracts_to_cc_bcc_and_strips_bcc(setup, outpost):
    conf, store = setup
    text = (b"From: app@example.com\r\n"
            b"To: Alice <alice@example.com>, bob@example.net\r\n"
            b"Cc: \"Carol, C.\" <carol@example.org>\r\n"
            b"Bcc: hidden@example.com,\r\n"
            b"  other-hidden@example.com\r\n"
            b"Subject: with bcc\r\n"
            b"\r\n"
            b"Bcc: this body line stays\r\n")
    r = sendmail(conf, "-t", "-i", "extra@example.com", stdin=text)
    assert r.rc == 0, r
    mid, sender, state, rcpts, body = store.only()
    assert sorted(rcpts) == sorted([
        "extra@example.com", "alice@example.com", "bob@example.net",
        "carol@example.org", "hidden@example.com",
        "other-hidden@example.com"])
    head, _, rest = body.partition(b"\r\n\r\n")
    assert b"Bcc" not in head and b"hidden" not in head
    assert rest == b"Bcc: this body line stays\r\n"
    msg = parse(body)
    assert msg["Bcc"] is None
    assert msg["To"].addresses[0].addr_spec == "alice@example.com"
    assert b"\r\n" in head and b"\n" not in head.replace(b"\r\n", b"")

    # what `outpost queue show` says agrees
    res = outpost.run("queue", "show", mid, conf=conf)
    assert res.rc == 0, res
    assert "hidden@example.com" in res.out
    assert "state:" in res.out and "queued" in res.out


def test_bcc_stripped_without_t_and_duplicates_kept_once(setup):
    conf, store = setup
    text = MSG.replace(b"Subject", b"Bcc: x@example.com\nSubject")
    r = sendmail(conf, "-t", "alice@example.com", "alice@example.com",
                 stdin=text)
    assert r.rc == 0, r
    _, _, _, rcpts, body = store.only()
    assert rcpts == ["alice@example.com", "x@example.com"]
    assert b"Bcc" not in body
    r = sendmail(conf, "bob@example.com", stdin=text)
    assert r.rc == 0, r
    assert b"Bcc" not in store.messages()[1][4]


def test_lone_dot_ends_message_unless_i(setup):
    conf, store = setup
    text = b"Subject: dots\n\nbefore\n.\nafter\n"
    assert sendmail(conf, "a@example.com", stdin=text).rc == 0
    for opt in (["-i"], ["-oi"], ["-o", "i"], ["-O", "IgnoreDots=true"]):
        r = sendmail(conf, *opt, "a@example.com", stdin=text)
        assert r.rc == 0, (opt, r)
    bodies = [m[4] for m in store.messages()]
    assert bodies[0].endswith(b"\n\nbefore\n")
    for b in bodies[1:]:
        assert b.endswith(b"\n\nbefore\n.\nafter\n"), b
    # ".." is not unstuffed, and ".\r\n" also ends the message
    r = sendmail(conf, "a@example.com",
                 stdin=b"Subject: x\r\n\r\n..two\r\n.\r\nlost\r\n")
    assert r.rc == 0, r
    assert store.messages()[-1][4].endswith(b"\r\n\r\n..two\r\n")


def test_missing_headers_added_from_f_and_F(setup):
    conf, store = setup
    r = sendmail(conf, "-f", "owner@example.org", "-F", "Jürgen Owner",
                 "a@example.com", stdin=b"just a body line\n")
    assert r.rc == 0, r
    _, sender, _, _, body = store.only()
    assert sender == "owner@example.org"
    msg = parse(body)
    assert msg["From"].addresses[0].addr_spec == "owner@example.org"
    assert msg["From"].addresses[0].display_name == "Jürgen Owner"
    assert msg["Message-ID"].endswith("@localhost>")
    assert email.utils.parsedate_to_datetime(msg["Date"]) is not None
    assert msg.get_content() == "just a body line\n"


def test_sender_defaults(outpost, tmp_path):
    store = Store(tmp_path / "data")
    # no profile has a from: the From field's address
    conf = outpost.conf([("p", {"host": "127.0.0.1", "port": 1,
                                "security": "none"})])
    assert sendmail(conf, "a@example.com").rc == 0
    assert store.messages()[-1][1] == "app@example.com"
    # no From field either: LOGIN@hostname; the From field is added
    r = sendmail(conf, "a@example.com", stdin=b"Subject: s\n\nbody\n")
    assert r.rc == 0, r
    sender, body = store.messages()[-1][1], store.messages()[-1][4]
    assert sender.endswith("@localhost")
    assert parse(body)["From"].addresses[0].addr_spec == sender
    # -f '<>' is the null sender; -f '<x@y>' loses its brackets
    assert sendmail(conf, "-f", "<>", "a@example.com").rc == 0
    assert store.messages()[-1][1] == ""
    assert sendmail(conf, "-f<b@example.com>", "a@example.com").rc == 0
    assert store.messages()[-1][1] == "b@example.com"


def test_no_profile_enabled_message_is_held(outpost, tmp_path):
    store = Store(tmp_path / "data")
    conf = outpost.conf([("p", dict(profile(1), enabled=False))])
    r = sendmail(conf, "-v", "a@example.com")
    assert r.rc == 0, r
    mid, _, state, _, _ = store.only()
    assert state == "held"
    assert r.out == "queued as %s (held: no profile is enabled yet)\n" % mid


@pytest.mark.parametrize("bad", [
    "not-an-address", "a@", "@example.com", "a@b@example.com",
    "a b@example.com", "a@example.com.", "u%x@relay.example.com",
    "a@exa\x01mple.com", "a@example.com\r\nRCPT TO:<x@y.com>"])
def test_invalid_recipient_exits_65_and_queues_nothing(setup, bad):
    conf, store = setup
    r = sendmail(conf, "good@example.com", bad)
    assert r.rc == 65, r
    if bad == "not-an-address":
        # a bare local name: refused for want of an alias (no [server]
        # aliases here), with the hint
        assert "is a local name" in r.err and "aliases" in r.err, r
    else:
        assert "invalid recipient address" in r.err
    assert store.count() == 0


HOSTILE = ["`touch {p}`@example.com", "$(touch {p})@example.com",
           "a;touch {p}@example.com", "a|touch {p}@example.com",
           "a@example.com;touch {p}", "a@example.com|touch {p}",
           "a@example.com && touch {p}", "a@example.com\ntouch {p}"]


@pytest.mark.parametrize("tmpl", HOSTILE)
def test_hostile_addresses_refused_and_never_executed(setup, tmp_path, tmpl):
    conf, store = setup
    pwned = tmp_path / "pwned"
    addr = tmpl.format(p=pwned)
    # as an argument, as -f, and in a To field with -t
    r = sendmail(conf, addr)
    assert r.rc == 65, r
    r = sendmail(conf, "-f", addr, "a@example.com")
    assert r.rc == 65, r
    assert "invalid sender address" in r.err
    assert store.count() == 0
    # In a To field, RFC 5322 syntax applies: "(...)" is a comment there,
    # so "$(touch p)@example.com" is the address "$@example.com".  Either
    # the field is refused or what is stored is a validated address.
    header = addr.replace("\n", " ").encode()
    r = sendmail(conf, "-t", stdin=b"To: " + header + b"\nSubject: x\n\nx\n")
    assert r.rc in (0, 65), r
    if r.rc == 0:
        (_, _, _, rcpts, _), = store.messages()
        for a in rcpts:
            assert not any(c in a for c in " ();|&\n"), rcpts
    assert not pwned.exists()


def test_legacy_options_are_skipped_and_never_open_files(setup, tmp_path):
    conf, store = setup
    logfile = tmp_path / "x-log"
    logfile2 = tmp_path / "x-log-attached"
    # an existing "config file" full of garbage: reading it would fail
    cfile = tmp_path / "c.cf"
    cfile.write_text("this is not [ a config\n")
    os.chmod(cfile, 0o600)
    missing_cf = tmp_path / "missing.cf"
    r = sendmail(conf, "-X", logfile, "-X%s" % logfile2, "-C", cfile,
                 "-C%s" % missing_cf, "-oem", "-odb", "-oQ/tmp/q", "-B",
                 "8BITMIME", "-N", "never", "-R", "hdrs", "-V", "envid",
                 "-L", "tag", "-h", "5", "-O", "DeliveryMode=b", "-U", "-v",
                 "-m", "-n", "-G", "-bm", "-A", "c", "-pSMTP:host",
                 "-e", "m", "-r", "bounce@example.com", "-tiv",
                 "-d0.1", "--", "a@example.com")
    assert r.rc == 0, r
    assert not logfile.exists() and not logfile2.exists()
    assert not missing_cf.exists()
    assert cfile.read_text() == "this is not [ a config\n"
    _, sender, _, rcpts, _ = store.only()
    assert sender == "bounce@example.com"
    # none of the options' arguments became a recipient
    assert rcpts == ["a@example.com", "alice@example.com"]


def test_option_errors(setup):
    conf, store = setup
    for args, code, text in (
            (["-bs"], 64, "-bs"),
            (["-bd"], 64, "outpost serve"),
            (["-bx", "a@example.com"], 64, "unsupported mode"),
            (["-Z", "a@example.com"], 64, "unknown option -Z"),
            (["-f"], 64, "needs an argument"),
            ([], 64, "no recipients"),
            (["-F", "x\ny", "a@example.com"], 65, "full name")):
        r = sendmail(conf, *args)
        assert r.rc == code, (args, r)
        assert text in r.err, (args, r)
    # -t with no address in any field
    r = sendmail(conf, "-t", stdin=b"Subject: x\n\nbody\n")
    assert r.rc == 65, r
    assert "no recipients" in r.err
    # an option after the first recipient is a (bad) recipient, not an
    # option
    r = sendmail(conf, "a@example.com", "-X", "/tmp/x")
    assert r.rc == 65, r
    assert store.count() == 0


def test_malformed_header_exits_65(setup):
    conf, store = setup
    r = sendmail(conf, "a@example.com",
                 stdin=b"Subject: " + b"x" * 1200 + b"\n\nbody\n")
    assert r.rc == 65, r
    r = sendmail(conf, "-t", stdin=b"To: <a@b@c>\nSubject: x\n\nbody\n")
    assert r.rc == 65, r
    assert store.count() == 0


@pytest.mark.parametrize("where,stdin", [
    ("header, line 2", b"To: a@example.com\nSubject: a\x00b\n\nbody\n"),
    ("body, line 4", b"Subject: x\r\n\r\nline 3\r\nli\x00ne 4\r\n"),
])
def test_nul_byte_anywhere_exits_65_naming_it(setup, where, stdin):
    """The listener's rule: a NUL in the header or the body is refused,
    and the message says where."""
    conf, store = setup
    r = sendmail(conf, "-i", "a@example.com", stdin=stdin)
    assert r.rc == 65, r
    assert "a NUL byte in the %s" % where in r.err, r
    assert "base64" in r.err, r
    assert store.count() == 0


def test_message_over_max_message_size_exits_65(outpost, tmp_path):
    store = Store(tmp_path / "data")
    conf = outpost.conf([("p", profile(1))],
                        server={"max_message_size": "2K"})
    big = MSG + b"x" * 3000 + b"\n"
    r = sendmail(conf, "a@example.com", stdin=big)
    assert r.rc == 65, r
    assert "max_message_size" in r.err
    assert store.count() == 0
    # within the bound it is fine
    r = sendmail(conf, "a@example.com", stdin=MSG + b"x" * 1000 + b"\n")
    assert r.rc == 0, r


def test_unwritable_data_dir_exits_75(outpost, tmp_path):
    plain = tmp_path / "plain-file"
    plain.write_text("not a directory\n")
    conf = outpost.conf([("p", profile(1))],
                        server={"data_dir": str(plain / "data")})
    r = sendmail(conf, "a@example.com")
    assert r.rc == 75, r
    assert "not queued" in r.err
    assert plain.read_text() == "not a directory\n"


def test_called_as_sendmail_through_a_symlink(setup, tmp_path):
    conf, store = setup
    bindir = tmp_path / "bin"
    bindir.mkdir()
    link = bindir / "sendmail"
    link.symlink_to(OUTPOST_BIN)
    r = run(["-t", "-i"], stdin=MSG, conf=conf, argv0=link)
    assert r.rc == 0, r
    assert r.out == "" and r.err == ""
    _, _, _, rcpts, _ = store.only()
    assert rcpts == ["alice@example.com"]
    # -bp and mailq list the queue, reading no message
    mid = store.only()[0]
    r = run(["-bp"], conf=conf, argv0=link)
    assert r.rc == 0, r
    assert mid in r.out
    mailq = bindir / "mailq"
    mailq.symlink_to(OUTPOST_BIN)
    r = run([], conf=conf, argv0=mailq)
    assert r.rc == 0, r
    assert mid in r.out and "queued" in r.out
    # -q and -bi have nothing to do and do not read standard input
    for args in (["-q"], ["-q30m"], ["-bi"], ["-I"]):
        r = run(args, stdin=None, conf=conf, argv0=link, timeout=10)
        assert r.rc == 0, (args, r)
    assert store.count() == 1


def test_body_stored_as_given(setup):
    conf, store = setup
    body = (b"Subject: bytes\n\nutf-8: \xc3\xa9\nlatin-1: \xe9\n"
            b"a very long line " + b"y" * 2000 + b"\nlast line no newline")
    r = sendmail(conf, "-i", "a@example.com", stdin=body)
    assert r.rc == 0, r
    stored = store.only()[4]
    assert stored.endswith(body.split(b"\n\n", 1)[1])


def test_concurrent_submissions_all_committed(setup):
    """Several sendmail processes at once (as cron jobs do): each one exits
    0 only with its message stored, none is lost."""
    conf, store = setup
    env = dict(os.environ, OUTPOST_CONFIG=str(conf))
    procs = []
    for i in range(8):
        p = subprocess.Popen([OUTPOST_BIN, "sendmail", "-v",
                              "r%d@example.com" % i],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env)
        procs.append(p)
    outs = []
    for i, p in enumerate(procs):
        out, err = p.communicate(MSG.replace(b"hello", b"n%d" % i),
                                 timeout=60)
        assert p.returncode == 0, (out, err)
        outs.append(out.decode().split()[-1])
    msgs = {m[0]: m for m in store.messages()}
    assert sorted(msgs) == sorted(outs)
    for i, mid in enumerate(outs):
        assert msgs[mid][3] == ["r%d@example.com" % i]
        assert b"Subject: n%d\n" % i in msgs[mid][4]


def test_queued_while_the_daemon_is_down_is_delivered_when_it_starts(
        outpost, peers, tmp_path):
    from daemon import Daemon, free_port, wait_for
    peer = peers.aiosmtpd("plain")
    port = free_port()
    conf = outpost.conf([("main", profile(peer.port))],
                        server={"smtp_listen": "127.0.0.1:%d" % port,
                                "http_listen": ""})
    store = Store(tmp_path / "data")
    r = sendmail(conf, "-t", "-i", stdin=MSG.replace(
        b"Subject", b"Bcc: hidden@example.com\nSubject"))
    assert r.rc == 0, r
    assert len(peer.messages) == 0
    d = Daemon(outpost, conf, port)
    try:
        wait_for(lambda: len(peer.messages) == 1, what="delivery")
        # and what is queued while it runs is delivered too
        r = sendmail(conf, "late@example.com")
        assert r.rc == 0, r
        wait_for(lambda: len(peer.messages) == 2, what="second delivery")
    finally:
        d.stop()
    first, second = peer.messages
    assert sorted(first.rcpt_tos) == ["alice@example.com",
                                      "hidden@example.com"]
    assert b"hidden" not in first.content
    assert second.rcpt_tos == ["late@example.com"]
    assert [m[2] for m in store.messages()] == ["sent", "sent"]


# ---------------------------------------------------------------------------
# [server] aliases: bare local names (cron mails "root")

ALIASES = (b"# who gets the machine's mail\n"
           b"root: admin@example.com\n"
           b"\n"
           b"Postmaster: admin@example.com,\n"
           b"    # a comment inside the entry\n"
           b"\tops@example.com, admin@example.com\n"
           b"default: catchall@example.com\n")


def aliases_conf(outpost, tmp_path, text=ALIASES):
    path = tmp_path / "aliases"
    path.write_bytes(text)
    conf = outpost.conf([("primary", profile(1))],
                        server={"aliases": str(path)})
    return conf, Store(tmp_path / "data"), path


def test_local_names_go_to_their_aliases(outpost, tmp_path):
    conf, store, _ = aliases_conf(outpost, tmp_path)
    # what cron runs: sendmail root; case does not matter
    for name, want in (("root", ["admin@example.com"]),
                       ("ROOT", ["admin@example.com"]),
                       ("postmaster", ["admin@example.com",
                                       "ops@example.com"]),
                       ("www-data", ["catchall@example.com"])):
        r = sendmail(conf, "-i", name, stdin=b"Subject: cron\n\nout\n")
        assert r.rc == 0, (name, r)
        assert store.messages()[-1][3] == want, name
    # -t: the To/Cc/Bcc fields too, mixed with full addresses, each once
    r = sendmail(conf, "-t", "root", stdin=b"To: root, bob@example.org\n"
                 b"Cc: Postmaster\nSubject: x\n\nhi\n")
    assert r.rc == 0, r
    assert store.messages()[-1][3] == ["admin@example.com",
                                       "bob@example.org", "ops@example.com"]
    # a bare name is never a sender
    r = sendmail(conf, "-f", "root", "root")
    assert r.rc == 65, r


def test_local_name_target_resolves_through_the_file(outpost, tmp_path):
    """A stock Debian /etc/aliases names local names as targets
    (postmaster: root): they resolve through the same file."""
    conf, store, path = aliases_conf(outpost, tmp_path,
                                     b"postmaster: root\n"
                                     b"root: admin@example.com\n")
    r = outpost.run("config", "check", conf=conf)
    assert r.rc == 0, r
    r = sendmail(conf, "-i", "postmaster", stdin=b"Subject: cron\n\nout\n")
    assert r.rc == 0, r
    assert store.messages()[-1][3] == ["admin@example.com"]
    # a loop is refused when the file is read, naming it
    path.write_bytes(b"postmaster: root\nroot: postmaster\n")
    r = outpost.run("config", "check", conf=conf)
    assert r.rc == 78, r
    assert "%s:2: root: 'postmaster' makes a loop (postmaster -> root -> "\
        "postmaster)" % path in r.err, r


def test_local_name_without_alias_is_refused_naming_aliases(outpost,
                                                             tmp_path):
    store = Store(tmp_path / "data")
    conf = outpost.conf([("primary", profile(1))])
    r = sendmail(conf, "root")
    assert r.rc == 65, r
    assert "aliases" in r.err and "root: admin@example.com" in r.err, r
    r = sendmail(conf, "-t", stdin=b"To: root\nSubject: x\n\nhi\n")
    assert r.rc == 65, r
    assert "aliases" in r.err, r
    # a file without the name and without default
    conf, store, path = aliases_conf(outpost, tmp_path,
                                     b"root: admin@example.com\n")
    r = sendmail(conf, "bob")
    assert r.rc == 65, r
    assert "'bob'" in r.err and str(path) in r.err and "default" in r.err, r
    assert store.count() == 0


def test_aliases_file_errors_name_file_and_line(outpost, tmp_path):
    bad = (b"root: |/usr/bin/procmail\n"         # 1 a pipe
           b"files: /var/mail/x\n"               # 2 a file
           b"list: :include:/etc/list\n"         # 3 :include:
           b"local: admin\n"                     # 4 a bare name as target
           b"bob admin@example.com\n"            # 5 no ':'
           b"ok: a@example.com\n"
           b"OK: b@example.com,\n"               # 7 twice (any case)
           b"   c@example.com\n"                 # continues line 7
           b"x@y: a@example.com\n")              # 9 not a local name
    conf, store, path = aliases_conf(outpost, tmp_path, bad)
    r = outpost.run("config", "check", conf=conf)
    assert r.rc == 78, r
    for line, what in ((1, "pipe"), (2, "file"), (3, ":include:"),
                       (4, "'admin' is a local name"), (5, "no ':'"),
                       (7, "defined twice (first at line 6)"),
                       (9, "not a local name")):
        hit = [x for x in r.err.splitlines()
               if "aliases: %s:%d: " % (path, line) in x]
        assert hit and what in hit[0], (line, what, r.err)
    # sendmail -bi (newaliases) checks the same file
    r = sendmail(conf, "-bi")
    assert r.rc == 78, r
    assert "%s:1:" % path in r.err, r
    # too large a file
    path.write_bytes(b"# x\n" * (300 * 1024))
    r = outpost.run("config", "check", conf=conf)
    assert r.rc == 78 and "larger than" in r.err, r
    path.write_bytes(ALIASES)
    r = outpost.run("config", "check", conf=conf)
    assert r.rc == 0, r
    assert sendmail(conf, "-bi").rc == 0
