"""Installing Outpost (issue 16): `make install` lays out the tree and
`make uninstall` takes it back; the man pages lint clean and name every
command of `outpost --help` and every key of the settings tables in
src/config/conf.c; the systemd unit verifies and its exposure is at most
2.0."""

import os
import re
import shutil
import subprocess

import pytest

import conftest

ROOT = conftest.ROOT
MAN1 = ROOT / "man" / "outpost.1"
MAN5 = ROOT / "man" / "outpost.conf.5"


def need(tool):
    path = shutil.which(tool)
    if path is None:
        pytest.fail("%s is not installed: scripts/install-deps test" % tool)
    return path


def make_install(prefix, *extra):
    r = subprocess.run(["make", "-s", "-C", str(ROOT), "install",
                        "PREFIX=%s" % prefix, *extra],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def help_commands():
    r = subprocess.run([conftest.OUTPOST_BIN, "--help"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0
    cmds = re.findall(r"^  ([a-z][a-z-]*) ", r.stdout, re.M)
    assert "serve" in cmds and "sendmail" in cmds and len(cmds) >= 10, cmds
    return cmds


def conf_keys():
    """{section: [keys]} from the kdef tables of src/config/conf.c."""
    src = (ROOT / "src" / "config" / "conf.c").read_text()
    out = {}
    for sect, body in re.findall(
            r"static const struct kdef (\w+)_keys\[\] = \{(.*?)\n\};", src,
            re.S):
        out[sect] = re.findall(r'\{\s*"([a-z_]+)",', body)
    assert "server" in out and "profile" in out and "dkim" in out, out
    return out


def test_make_install_and_uninstall(tmp_path):
    dest = tmp_path / "dest"
    make_install("/usr", "DESTDIR=%s" % dest, "SYSCONFDIR=/etc")
    files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*")
                   if p.is_file())
    assert files == [
        "etc/outpost/outpost.conf",
        "usr/bin/outpost",
        "usr/lib/systemd/system/outpost.service",
        "usr/share/doc/outpost/outpost.conf.example",
        "usr/share/man/man1/outpost.1",
        "usr/share/man/man5/outpost.conf.5",
    ], files
    assert os.access(dest / "usr/bin/outpost", os.X_OK)
    unit = (dest / "usr/lib/systemd/system/outpost.service").read_text()
    assert ("ExecStart=/usr/bin/outpost -c /etc/outpost/outpost.conf serve"
            in unit), unit
    assert "@BINDIR@" not in unit and "@SYSCONFDIR@" not in unit
    conf = (dest / "etc/outpost/outpost.conf").read_text()
    for line in ("user = outpost", "data_dir = /var/lib/outpost",
                 "smtp_listen = 127.0.0.1:2525",
                 "http_listen = 127.0.0.1:8025"):
        assert line in conf
    # the shipped settings load
    r = subprocess.run([conftest.OUTPOST_BIN, "-c",
                        str(dest / "etc/outpost/outpost.conf"), "config",
                        "check"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr

    # a second install keeps the settings someone edited
    (dest / "etc/outpost/outpost.conf").write_text(conf + "# mine\n")
    make_install("/usr", "DESTDIR=%s" % dest, "SYSCONFDIR=/etc")
    assert "# mine" in (dest / "etc/outpost/outpost.conf").read_text()

    r = subprocess.run(["make", "-s", "-C", str(ROOT), "uninstall",
                        "PREFIX=/usr", "SYSCONFDIR=/etc", "DESTDIR=%s" % dest],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    left = sorted(str(p.relative_to(dest)) for p in dest.rglob("*")
                  if p.is_file())
    assert left == ["etc/outpost/outpost.conf"], left


@pytest.mark.parametrize("page", [MAN1, MAN5], ids=["outpost.1", "outpost.conf.5"])
def test_man_page_lints_and_renders_clean(page):
    need("mandoc")
    r = subprocess.run(["mandoc", "-T", "lint", "-W", "warning", str(page)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", \
        r.stdout + r.stderr
    r = subprocess.run(["mandoc", "-T", "utf8", str(page)],
                       capture_output=True, text=True, timeout=30)
    shown = re.sub(".\x08", "", r.stdout)     # no overstrike
    assert r.returncode == 0 and r.stderr == "" and "SEE ALSO" in shown


def test_man_outpost_1_names_every_command():
    text = MAN1.read_text()
    named = set(re.findall(r"^\.It Cm ([a-z-]+)", text, re.M))
    missing = [c for c in help_commands() if c not in named]
    assert not missing, "commands of --help missing from man/outpost.1: %s" \
        % missing
    for code in (0, 64, 65, 69, 75, 77, 78):
        assert re.search(r"^\.It %d$" % code, text, re.M), code


def test_man_outpost_conf_5_names_every_key():
    text = MAN5.read_text()
    sections = {"server": "[server]", "profile": "[profile NAME]",
                "client": "[client NAME]", "redirect": "[redirect]",
                "report": "[report ADDRESS]", "dkim": "[dkim NAME]",
                "webhook": "[webhook NAME]"}
    missing = []
    for sect, keys in conf_keys().items():
        head = ".Sh " + sections[sect]
        assert head in text, head
        part = text.split(head, 1)[1].split("\n.Sh ", 1)[0]
        named = set(re.findall(r"Cm ([a-z_]+)", part))
        missing += ["%s %s" % (sections[sect], k) for k in keys
                    if k not in named]
    assert not missing, "keys missing from man/outpost.conf.5: %s" % missing


def test_systemd_unit_verifies_with_low_exposure(tmp_path):
    need("systemd-analyze")
    prefix = tmp_path / "p"
    make_install(str(prefix))
    unit = prefix / "lib/systemd/system/outpost.service"
    env = dict(os.environ, MANPATH="%s/share/man:" % prefix)
    # the unit's Documentation= names man pages: checked when man-db is here
    man = [] if shutil.which("man") else ["--man=no"]
    r = subprocess.run(["systemd-analyze", "verify"] + man + [str(unit)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stdout + r.stderr
    r = subprocess.run(["systemd-analyze", "security", "--offline=true",
                        "--no-pager", str(unit)], capture_output=True,
                       text=True, timeout=120)
    m = re.search(r"Overall exposure level for outpost.service: ([0-9.]+)",
                  r.stdout)
    assert m, r.stdout + r.stderr
    print("systemd-analyze security: exposure %s" % m.group(1))
    assert float(m.group(1)) <= 2.0, r.stdout
    text = unit.read_text()
    for want in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID",
                 "User=outpost", "StateDirectory=outpost",
                 "ConfigurationDirectory=outpost", "RuntimeDirectory=outpost",
                 "ProtectSystem=strict", "NoNewPrivileges=yes",
                 "CapabilityBoundingSet=\n", "UMask=0077"):
        assert want in text, want
