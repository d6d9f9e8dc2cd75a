"""`outpost config check` and `outpost config show` as a user runs them.

check: a bad file exits 78 with every problem as `FILE:LINE: KEY: what is
wrong` on stderr (nothing on stdout); a good file exits 0 with `FILE: ok`.
show: the settings in effect, every secret masked; a password never
appears on either stream.  Both warn when a file holding a password is
readable by other users, and name a missing file.
"""

import os

import pytest


def write(path, text, mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def conf_file(tmp_path, text, mode=0o600, name="outpost.conf"):
    return write(tmp_path / name, text, mode)


BAD = """\
[server]
hostname = localhost
bogus = 1

[profile primary]
host = smtp.example.com
port = 0
security = ssl
"""


@pytest.mark.parametrize("sub", ["check", "show"])
def test_bad_file_exits_78_with_file_line_key(outpost, tmp_path, sub):
    path = conf_file(tmp_path, BAD)
    res = outpost.run("config", sub, conf=path)
    assert res.rc == 78, res
    assert res.out == ""
    # every problem, in line order, one per line
    assert res.err == (
        "%s:3: bogus: unknown key in [server]\n"
        "%s:7: port: '0' is not a port (1..65535)\n"
        "%s:8: security: 'ssl' is not none, starttls or tls (tls is "
        "implicit TLS, also called SSL, on port 465; starttls is port 587)\n"
        % (path, path, path)), res


def test_syntax_error_names_the_line(outpost, tmp_path):
    path = conf_file(tmp_path, "[server]\nhostname = localhost\n[ ]\n")
    res = outpost.run("config", "check", conf=path)
    assert res.rc == 78, res
    assert res.err == "%s:3: [ ]: the section header has no name\n" % path
    path = conf_file(tmp_path, "[server]\nsmtp/auth = no\n")
    res = outpost.run("config", "check", conf=path)
    assert res.rc == 78, res
    assert res.err == ("%s:2: smtp: not a valid key name (letters, digits "
                       "and '_' only) before '='\n" % path)


GOOD = """\
; a small but complete file
[server]
hostname = localhost
smtp_listen = 127.0.0.1:2525

[profile primary]
host = [::1]
port = 2587
security = starttls
from = app@example.com
"""


def test_good_file_is_ok(outpost, tmp_path):
    path = conf_file(tmp_path, GOOD)
    res = outpost.run("config", "check", conf=path)
    assert res.rc == 0, res
    assert res.out == "%s: ok\n" % path
    assert res.err == ""


def test_missing_file(outpost, tmp_path):
    path = tmp_path / "nope.conf"
    for sub in ("check", "show"):
        res = outpost.run("config", sub, conf=path)
        assert res.rc == 78, res
        assert res.out == ""
        assert res.err == ("%s: cannot read: No such file or directory\n"
                           % path), res


SECRETS = {
    "token": "tok-0123456789abcdef0123456789abcdef",
    "client": "client-pass-7f3a",
    "profile": "profile-pass-91c2",
    "file": "file-pass-44d0",
    "command": "command-pass-e81b",
}


def secrets_conf(tmp_path, mode=0o600):
    pwfile = write(tmp_path / "pw.txt", SECRETS["file"] + "\n")
    cmdfile = write(tmp_path / "cmd.txt", SECRETS["command"] + "\n")
    text = """\
[server]
hostname = localhost
api_token = {token}

[client app]
password = {client}

[profile inline]
host = 127.0.0.1
username = u
password = "{profile}"

[profile fromfile]
host = 127.0.0.1
username = u
password_file = {pwfile}

[profile fromcommand]
host = 127.0.0.1
username = u
password_command = /bin/cat {cmdfile}
""".format(pwfile=pwfile, cmdfile=cmdfile, **SECRETS)
    return conf_file(tmp_path, text, mode), pwfile, cmdfile


def test_show_masks_every_secret(outpost, tmp_path):
    path, pwfile, cmdfile = secrets_conf(tmp_path)
    res = outpost.run("config", "show", conf=path)
    assert res.rc == 0, res
    assert res.err == ""
    for name, secret in SECRETS.items():
        assert secret not in res.text, (name, res)
    lines = res.out.splitlines()
    assert "api_token = ********" in lines
    # [client app] and [profile inline]: the password masked
    assert lines.count("password = ********") == 2, res.out
    # a file or a command is shown as written (it is not the secret)
    assert "password_file = %s" % pwfile in lines
    assert "password_command = /bin/cat %s" % cmdfile in lines
    # defaults are filled in
    assert "[profile inline]" in lines and "port = 587" in lines
    assert "auth = yes" in lines
    # check never prints a secret either
    res = outpost.run("config", "check", conf=path)
    assert res.rc == 0, res
    for secret in SECRETS.values():
        assert secret not in res.text


def test_show_reads_back(outpost, tmp_path):
    """What show prints is a settings file that loads to the same."""
    path = conf_file(tmp_path, GOOD)
    res = outpost.run("config", "show", conf=path)
    assert res.rc == 0, res
    again = conf_file(tmp_path, res.out, name="again.conf")
    res2 = outpost.run("config", "show", conf=again)
    assert res2.rc == 0, res2
    assert res2.out == res.out.replace(str(path), str(again))
    assert "host = [::1]" in res.out.splitlines()


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_world_readable_file_with_password_warns(outpost, tmp_path, mode):
    path, _, _ = secrets_conf(tmp_path, mode=mode)
    res = outpost.run("config", "check", conf=path)
    assert res.rc == 0, res
    assert res.out == "%s: ok\n" % path
    assert res.err == ("warning: %s: readable by other users; chmod 600 %s\n"
                       % (path, path)), res
    res = outpost.run("config", "show", conf=path)
    assert res.rc == 0, res
    assert "warning: %s: readable by other users" % path in res.err


def test_readable_file_without_password_does_not_warn(outpost, tmp_path):
    path = conf_file(tmp_path, GOOD, mode=0o644)
    res = outpost.run("config", "check", conf=path)
    assert res.rc == 0, res
    assert res.err == ""


def test_readable_password_file_warns(outpost, tmp_path):
    path, pwfile, _ = secrets_conf(tmp_path)
    os.chmod(pwfile, 0o644)
    res = outpost.run("config", "check", conf=path)
    assert res.rc == 0, res
    assert res.err == ("warning: %s: readable by other users; chmod 600 %s\n"
                       % (pwfile, pwfile)), res


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run as nobody")
def test_unreadable_file_names_the_user_who_must_read_it(outpost, tmp_path):
    """A file the user cannot read: the error names the cause and the fix
    (who must be able to read it), for every file the settings read."""
    import shutil
    import subprocess
    import tempfile
    d = tempfile.mkdtemp(prefix="outpost-eacces-")
    try:
        os.chmod(d, 0o755)
        binary = os.path.join(d, "outpost")
        shutil.copy2(outpost.bin, binary)
        conf = os.path.join(d, "outpost.conf")
        with open(conf, "w") as f:
            f.write("[server]\nhostname = localhost\n")
        os.chmod(conf, 0o600)
        r = subprocess.run(["runuser", "-u", "nobody", "--", binary, "-c",
                            conf, "config", "check"], capture_output=True,
                           text=True, timeout=60, cwd="/")
        assert r.returncode == 78, r
        assert ("%s: cannot read: Permission denied: let the user Outpost "
                "runs as (uid %d) read it" % (conf, __import__("pwd").getpwnam("nobody").pw_uid)) in r.stderr, r
    finally:
        shutil.rmtree(d, ignore_errors=True)
