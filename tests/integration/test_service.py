"""Running Outpost as a service (issue 16): [server] user (root dropped
after binding), sd_notify for systemd's Type=notify, HTTPS for the page
and the API, and the refusal of plain HTTP off loopback."""

import grp
import http.client
import json
import os
import pwd
import shutil
import socket
import ssl
import stat
import subprocess
import tempfile

import pytest

import peers as peers_mod
from daemon import Daemon, free_port, message, queue_id, wait_for, \
    wait_listening

TEST_USER = "outpost-test"
TOKEN = "service-test-token-0123456789abcdef"

root_only = pytest.mark.skipif(os.geteuid() != 0,
                               reason="needs root (CI runs the tests as root)")


def make_test_user():
    """The unprivileged user the drop goes to, made if missing."""
    try:
        return pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                        "--home-dir", "/nonexistent", "--shell",
                        "/usr/sbin/nologin", TEST_USER], check=True)
        return pwd.getpwnam(TEST_USER)


def proc_ids(pid):
    """{'Uid': [...4], 'Gid': [...4], 'Groups': [...], 'CapEff': hex}"""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Uid", "Gid", "Groups"):
                out[k] = [int(x) for x in v.split()]
            elif k == "CapEff":
                out[k] = v.strip()
    return out


def db_state(data_dir, mid):
    import sqlite3
    con = sqlite3.connect("file:%s/queue.db?mode=ro" % data_dir, uri=True,
                          timeout=10)
    try:
        row = con.execute("SELECT state FROM messages WHERE id = ?",
                          (mid,)).fetchone()
    finally:
        con.close()
    return row[0] if row else None


# ---- [server] user ----------------------------------------------------

@root_only
def test_root_without_user_is_refused(outpost, monkeypatch):
    monkeypatch.delenv("OUTPOST_ALLOW_ROOT", raising=False)
    conf = outpost.conf(server={"smtp_listen": "127.0.0.1:%d" % free_port(),
                                "http_listen": ""})
    r = outpost.run("serve", conf=conf, timeout=30)
    assert r.rc == 78, r
    assert "user = outpost" in r.err and "user = root" in r.err, r
    assert not (outpost.tmp_path / "data").exists()


@root_only
def test_user_that_does_not_exist_is_refused(outpost, monkeypatch):
    monkeypatch.delenv("OUTPOST_ALLOW_ROOT", raising=False)
    conf = outpost.conf(server={"smtp_listen": "127.0.0.1:%d" % free_port(),
                                "http_listen": "", "user": "no-such-user-x"})
    r = outpost.run("serve", conf=conf, timeout=30)
    assert r.rc == 78, r
    assert "no user 'no-such-user-x'" in r.err and "adduser" in r.err, r


@root_only
def test_drop_to_user_after_binding(outpost, peers, daemons, monkeypatch):
    """Started as root with user = an unprivileged user: the daemon's real,
    effective, saved and file-system ids are that user's, it has no
    capability left, what it made in data_dir is the user's, mail is still
    accepted and delivered, and a SIGHUP reload still reads the settings."""
    monkeypatch.delenv("OUTPOST_ALLOW_ROOT", raising=False)
    # LeakSanitizer stops the world with ptrace, which a process that
    # changed its ids may not do to itself; leaks are checked elsewhere.
    monkeypatch.setenv("ASAN_OPTIONS",
                       "detect_leaks=0:abort_on_error=0:exitcode=86")
    pw = make_test_user()
    peer = peers.aiosmtpd("plain")
    # a place the user can reach: pytest's own tmp dirs are root's, 0700
    top = tempfile.mkdtemp(prefix="outpost-svc-")
    try:
        os.chmod(top, 0o711)
        data_dir = os.path.join(top, "data")
        port = free_port()
        prof = peers_mod.profile(peer.port, enabled=False)
        conf = outpost.conf([("main", prof)], server={
            "smtp_listen": "127.0.0.1:%d" % port, "http_listen": "",
            "data_dir": data_dir, "retry": "1s, 1s", "user": TEST_USER})
        # as the package installs it: root:GROUP 0640
        conf_path = os.path.join(top, "outpost.conf")
        shutil.copy(conf, conf_path)
        os.chown(conf_path, 0, pw.pw_gid)
        os.chmod(conf_path, 0o640)

        d = Daemon(outpost, conf_path, port)
        daemons.append(d)
        ids = wait_for(lambda: (lambda i: i if i["Uid"][0] == pw.pw_uid
                                else None)(proc_ids(d.proc.pid)),
                       what="the drop")
        assert ids["Uid"] == [pw.pw_uid] * 4, ids
        assert ids["Gid"] == [pw.pw_gid] * 4, ids
        assert 0 not in ids["Groups"], ids
        assert int(ids["CapEff"], 16) == 0, ids
        assert "event=privileges_dropped user=%s" % TEST_USER in d.log()

        mid = queue_id(d.send("app@example.com", ["a@example.com"],
                              message("dropped")))
        wait_for(lambda: db_state(data_dir, mid) == "held", what="held")
        st = os.stat(data_dir)
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (pw.pw_uid, 0o700)
        for name in os.listdir(data_dir):
            st = os.lstat(os.path.join(data_dir, name))
            assert st.st_uid == pw.pw_uid, (name, st.st_uid)

        # reload as the user: the settings file is readable by its group
        with open(conf_path) as f:
            text = f.read()
        with open(conf_path, "w") as f:
            f.write(text.replace("enabled = no", "enabled = yes"))
        d.hup()
        wait_for(lambda: db_state(data_dir, mid) == "sent", what="sent")
        assert len(peer.messages) == 1
        assert "event=reload result=ok" in d.log()
        d.stop()
    finally:
        shutil.rmtree(top, ignore_errors=True)


# ---- sd_notify ----------------------------------------------------------

def test_sd_notify_ready_reloading_stopping(outpost, daemons, monkeypatch,
                                            tmp_path):
    sock_path = str(tmp_path / "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(sock_path)
    s.settimeout(30)
    monkeypatch.setenv("NOTIFY_SOCKET", sock_path)
    port = free_port()
    conf = outpost.conf(server={"smtp_listen": "127.0.0.1:%d" % port,
                                "http_listen": ""})
    try:
        d = Daemon(outpost, conf, port)
        daemons.append(d)
        assert s.recv(4096) == b"READY=1"
        d.hup()
        got = s.recv(4096).decode()
        assert got.startswith("RELOADING=1\nMONOTONIC_USEC="), got
        assert int(got.rsplit("=", 1)[1]) > 0
        assert s.recv(4096) == b"READY=1"
        d.stop()
        assert s.recv(4096) == b"STOPPING=1"
    finally:
        s.close()


# ---- HTTPS ----------------------------------------------------------------

def wait_http(port):
    """The daemon answers on its SMTP port first; wait for the page's."""
    wait_listening(port, "the HTTP listener on port %d" % port)


def https_request(port, ca, method, path, body=None, headers=None):
    ctx = ssl.create_default_context(cafile=str(ca))
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
    try:
        hdrs = {"Host": "127.0.0.1:%d" % port}
        hdrs.update(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        c.request(method, path, body=data, headers=hdrs)
        r = c.getresponse()
        raw = r.read()
        return r.status, dict(r.getheaders()), (json.loads(raw) if raw and
                                                 r.getheader("Content-Type", "").startswith("application/json") else raw)
    finally:
        c.close()


def test_https_health_login_and_put(outpost, peers, daemons, certs):
    peer = peers.aiosmtpd("plain")
    port, hport = free_port(), free_port()
    conf = outpost.conf([("main", peers_mod.profile(peer.port))], server={
        "smtp_listen": "127.0.0.1:%d" % port,
        "http_listen": "127.0.0.1:%d" % hport, "api_token": TOKEN,
        "http_tls_cert": str(certs.server[0]),
        "http_tls_key": str(certs.server[1])})
    d = Daemon(outpost, conf, port)
    daemons.append(d)
    wait_http(hport)
    status, _, j = https_request(hport, certs.ca, "GET", "/api/health")
    assert status == 200 and j["https"] is True and j["http_insecure"] is False

    status, hdrs, j = https_request(hport, certs.ca, "POST", "/api/login",
                                    {"token": TOKEN})
    assert status == 200, j
    cookie = hdrs["Set-Cookie"]
    assert "; Secure" in cookie and "HttpOnly" in cookie, cookie
    sid = cookie.split(";", 1)[0]
    status, _, j = https_request(hport, certs.ca, "PUT", "/api/profiles/main",
                                 {"timeout": "20s"},
                                 {"Cookie": sid, "X-CSRF-Token": j["csrf_token"]})
    assert status == 200, j
    assert "timeout = 20s" in conf.read_text()
    assert "event=http_listen addr=127.0.0.1:%d tls=yes" % hport in d.log()
    assert "https://127.0.0.1:%d/" % hport in d.log()

    # plain HTTP to the HTTPS port gets no page
    c = http.client.HTTPConnection("127.0.0.1", hport, timeout=10)
    with pytest.raises((http.client.HTTPException, OSError)):
        c.request("GET", "/api/health")
        r = c.getresponse()
        if r.status == 200:
            pytest.fail("plain HTTP was answered on the HTTPS port")
        raise http.client.HTTPException("refused: %d" % r.status)
    c.close()


def test_https_key_that_does_not_match_is_refused(outpost, certs):
    port, hport = free_port(), free_port()
    conf = outpost.conf(server={
        "smtp_listen": "127.0.0.1:%d" % port,
        "http_listen": "127.0.0.1:%d" % hport,
        "http_tls_cert": str(certs.server[0]),
        "http_tls_key": str(certs.other[1])})
    r = outpost.run("serve", conf=conf, timeout=30)
    assert r.rc == 78, r
    assert "http_tls_cert" in r.err and "http_tls_key" in r.err, r


def test_http_off_loopback_without_tls_is_refused(outpost):
    conf = outpost.conf(server={
        "smtp_listen": "127.0.0.1:%d" % free_port(),
        "http_listen": "0.0.0.0:%d" % free_port()})
    r = outpost.run("serve", conf=conf, timeout=30)
    assert r.rc == 78, r
    assert "http_listen" in r.err and "not a loopback address" in r.err, r
    assert "http_tls_cert" in r.err and "http_insecure = yes" in r.err, r
    r = outpost.run("config", "check", conf=conf)
    assert r.rc == 78, r


def test_cert_without_key_is_refused(outpost, certs):
    conf = outpost.conf(server={"http_tls_cert": str(certs.server[0])})
    r = outpost.run("config", "check", conf=conf)
    assert r.rc == 78, r
    assert "http_tls_cert: is set without http_tls_key" in r.err, r


def test_http_insecure_starts_and_says_so(outpost, daemons):
    port, hport = free_port(), free_port()
    conf = outpost.conf(server={
        "smtp_listen": "127.0.0.1:%d" % port,
        "http_listen": "0.0.0.0:%d" % hport, "http_insecure": True,
        "http_allowed_hosts": "127.0.0.1"})
    d = Daemon(outpost, conf, port)
    daemons.append(d)
    wait_http(hport)
    c = http.client.HTTPConnection("127.0.0.1", hport, timeout=30)
    c.request("GET", "/api/health", headers={"Host": "127.0.0.1:%d" % hport})
    r = c.getresponse()
    j = json.loads(r.read())
    c.close()
    assert r.status == 200 and j["http_insecure"] is True and j["https"] is False
    c = http.client.HTTPConnection("127.0.0.1", hport, timeout=30)
    c.request("GET", "/", headers={"Host": "127.0.0.1:%d" % hport})
    page = c.getresponse().read().decode()
    c.close()
    assert 'id="insecure-banner"' in page and "http_insecure = yes" in page


def test_loopback_http_is_not_flagged(outpost, daemons):
    port, hport = free_port(), free_port()
    conf = outpost.conf(server={"smtp_listen": "127.0.0.1:%d" % port,
                                "http_listen": "127.0.0.1:%d" % hport,
                                "http_insecure": True})
    d = Daemon(outpost, conf, port)
    daemons.append(d)
    wait_http(hport)
    c = http.client.HTTPConnection("127.0.0.1", hport, timeout=30)
    c.request("GET", "/api/health", headers={"Host": "127.0.0.1:%d" % hport})
    j = json.loads(c.getresponse().read())
    c.close()
    assert j["http_insecure"] is False and j["https"] is False
    # no TLS option reaches libmicrohttpd without TLS (it would complain)
    assert "MHD_USE_TLS" not in d.log()
