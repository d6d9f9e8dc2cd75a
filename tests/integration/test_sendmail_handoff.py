"""`outpost sendmail` run by an ordinary user, who can read neither the
settings nor the queue (the Debian package: outpost.conf 0640
root:outpost, data_dir 0700 outpost): the message is handed to the local
daemon's SMTP listener instead (src/cli/sendmail_handoff.c).

The daemon runs as root from files in pytest's private directory; the
command runs as the unprivileged user outpost-test (made if missing)
through runuser, and what arrives at an aiosmtpd peer is checked.
"""

import os
import pathlib
import pwd
import shutil
import subprocess
import tempfile

import pytest

from conftest import OUTPOST_BIN, SANITIZER_EXITS, SANITIZER_MARKS
from daemon import Daemon, Run, free_port, wait_for
from peers import profile

TEST_USER = "outpost-test"

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="needs root to run as another user")

MSG = (b"From: App <app@example.com>\n"
       b"To: Alice <alice@example.com>\n"
       b"Bcc: hidden@example.com\n"
       b"Subject: hello\n"
       b"\n"
       b"line one\n"
       b".leading dot\n"
       b"line two\n")


def make_test_user():
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group",
                        "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", TEST_USER],
                       check=True)
        return pwd.getpwnam(TEST_USER)


USER_BIN = None     # a copy of the binary the test user can run


@pytest.fixture(scope="module", autouse=True)
def user_binary():
    """The checkout may sit where only root can enter (/root): the test
    user runs a copy of the binary under test from an open directory."""
    global USER_BIN
    d = tempfile.mkdtemp(prefix="outpost-bin-")
    os.chmod(d, 0o755)
    USER_BIN = os.path.join(d, "outpost")
    shutil.copy2(OUTPOST_BIN, USER_BIN)
    os.chmod(USER_BIN, 0o755)
    yield
    shutil.rmtree(d, ignore_errors=True)


def as_user(args, stdin, conf, submit=None):
    """`outpost sendmail args` as TEST_USER, OUTPOST_CONFIG=conf."""
    make_test_user()
    env = dict(os.environ)
    env.pop("OUTPOST_SUBMIT", None)
    env["OUTPOST_CONFIG"] = str(conf)
    if submit is not None:
        env["OUTPOST_SUBMIT"] = str(submit)
    proc = subprocess.run(["runuser", "-u", TEST_USER, "--", USER_BIN,
                           "sendmail"] + [str(a) for a in args],
                          input=stdin, capture_output=True, env=env,
                          timeout=60, cwd="/")
    r = Run(proc)
    assert r.rc not in SANITIZER_EXITS, r
    for mark in SANITIZER_MARKS:
        assert mark not in r.err, r
    return r


@pytest.fixture
def rundir():
    """A directory everyone can read (what systemd's RuntimeDirectory,
    /run/outpost, is), for the daemon's submit file; pytest's own
    directories stay private."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="outpost-run-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def daemon(outpost, peers, tmp_path, rundir, monkeypatch):
    """A daemon (root) whose settings and data_dir the user cannot read,
    relaying to an aiosmtpd peer; writes rundir/submit."""
    started = []

    def start(server=None, raw=""):
        peer = peers.aiosmtpd("plain")
        port = free_port()
        srv = {"smtp_listen": "127.0.0.1:%d" % port, "http_listen": ""}
        srv.update(server or {})
        conf = outpost.conf([("main", profile(peer.port))], server=srv,
                            raw=raw)
        monkeypatch.setenv("RUNTIME_DIRECTORY", str(rundir))
        d = Daemon(outpost, conf, port)
        started.append(d)
        wait_for(lambda: (rundir / "submit").exists(), what="submit file")
        return d, conf, peer, port

    yield start
    for d in started:
        d.stop()


def test_t_through_the_daemon_when_nothing_is_readable(daemon, rundir):
    d, conf, peer, port = daemon()
    assert oct(os.stat(rundir / "submit").st_mode & 0o777) == "0o644"
    r = as_user(["-t"], MSG, conf, submit=rundir / "submit")
    assert r.rc == 0, r
    wait_for(lambda: len(peer.messages) == 1, what="delivery")
    m = peer.messages[0]
    # the sender sendmail picks without -f: the profile's from
    assert m.mail_from == "sender@example.com"
    assert sorted(m.rcpt_tos) == ["alice@example.com", "hidden@example.com"]
    assert b"hidden" not in m.content
    assert b"\r\n.leading dot\r\n" in m.content
    assert b"Message-ID: <" in m.content and b"Date: " in m.content
    assert b"Received: from localhost (127.0.0.1" in m.content
    # -f, -i, and a bare local name the daemon's aliases resolve
    r = as_user(["-f", "bob@example.org", "-i", "carol@example.com"],
                b"Subject: x\n\n.\nafter the dot\n", conf,
                submit=rundir / "submit")
    assert r.rc == 0, r
    wait_for(lambda: len(peer.messages) == 2, what="second delivery")
    m = peer.messages[1]
    assert m.mail_from == "bob@example.org"
    assert m.rcpt_tos == ["carol@example.com"]
    assert b"\r\n..\r\nafter the dot" not in m.content
    assert b"\r\n.\r\nafter the dot\r\n" in m.content
    assert b"From: bob@example.org" in m.content


def test_local_name_goes_to_the_daemons_alias(daemon, tmp_path):
    aliases = tmp_path / "aliases"
    aliases.write_bytes(b"root: admin@example.com\n")
    d, conf, peer, port = daemon({"aliases": str(aliases)})
    # the address from the environment, no submit file
    r = as_user(["root"], b"Subject: cron\n\nout\n", conf,
                submit="127.0.0.1:%d" % port)
    assert r.rc == 0, r
    wait_for(lambda: len(peer.messages) == 1, what="delivery")
    assert peer.messages[0].rcpt_tos == ["admin@example.com"]
    # a name without an alias: the daemon's 550, exit 65, nothing sent
    r = as_user(["nobody-here"], b"Subject: cron\n\nout\n", conf,
                submit="127.0.0.1:%d" % port)
    assert r.rc == 65, r
    assert "aliases" in r.err, r


def test_readable_settings_unwritable_data_dir(outpost, peers, tmp_path,
                                               rundir):
    """Settings readable (0644 in an open directory), data_dir not: the
    listener is the settings' smtp_listen, without OUTPOST_SUBMIT."""
    peer = peers.aiosmtpd("plain")
    port = free_port()
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    conf = rundir / "outpost.conf"
    conf.write_text("[server]\nhostname = localhost\ndata_dir = %s\n"
                    "smtp_listen = 127.0.0.1:%d\nhttp_listen =\n\n"
                    "[profile main]\nhost = 127.0.0.1\nport = %d\n"
                    "security = none\nauth = no\nfrom = sender@example.com\n"
                    "timeout = 10s\n" % (data, port, peer.port))
    os.chmod(conf, 0o644)
    d = Daemon(outpost, conf, port)
    try:
        r = as_user(["-t"], MSG, conf)
        assert r.rc == 0, r
        wait_for(lambda: len(peer.messages) == 1, what="delivery")
    finally:
        d.stop()
    assert peer.messages[0].mail_from == "sender@example.com"


def test_daemon_stopped_exits_75_naming_cause_and_fix(daemon, rundir):
    d, conf, peer, port = daemon()
    d.stop()
    r = as_user(["-t"], MSG, conf, submit=rundir / "submit")
    assert r.rc == 75, r
    assert "127.0.0.1:%d" % port in r.err, r
    assert "outpost serve" in r.err and "systemctl start outpost" in r.err, r
    # nothing listening at the address of the environment either
    r = as_user(["-t"], MSG, conf, submit="127.0.0.1:%d" % free_port())
    assert r.rc == 75, r


def test_nul_refused_65_before_any_handoff(daemon, rundir):
    d, conf, peer, port = daemon()
    r = as_user(["-t"], MSG + b"bad\0byte\n", conf, submit=rundir / "submit")
    assert r.rc == 65, r
    assert "NUL" in r.err, r
    assert len(peer.messages) == 0


def test_listener_with_smtp_auth_cannot_take_it(daemon, rundir):
    d, conf, peer, port = daemon(
        {"smtp_auth": True},
        raw="\n[client app]\npassword = secret-app-password-123\n")
    r = as_user(["-t"], MSG, conf, submit=rundir / "submit")
    assert r.rc == 69, r
    assert "smtp_auth" in r.err, r
    # the same when only the address is known: the listener's 530
    r = as_user(["-t"], MSG, conf, submit="127.0.0.1:%d" % port)
    assert r.rc == 69, r
    assert "smtp_auth" in r.err, r
    assert "secret-app-password" not in r.err


def test_oversized_submit_file_refused_78_not_cut(daemon, rundir):
    """A submit file larger than its 4096-byte bound is an error naming
    the file and the bound, not read in part (exit 78, nothing sent)."""
    d, conf, peer, port = daemon()
    big = rundir / "big-submit"
    text = (rundir / "submit").read_bytes()
    big.write_bytes(text + b"# padding\n" * 500)
    os.chmod(big, 0o644)
    r = as_user(["-t"], MSG, conf, submit=big)
    assert r.rc == 78, r
    assert str(big) in r.err and "larger than 4096 bytes" in r.err, r
    assert len(peer.messages) == 0
