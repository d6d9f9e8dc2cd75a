"""Shared fixtures of Outpost's integration tests.

- certs (session): test certificates made with the `openssl` command.
- peers: starts independent SMTP peers (peers.py) and stops every one of
  them when the test ends, pass or fail.
- no_secret_in_any_output (session, autouse): at the end of the run, no
  token or client secret a test OAuth2 server issued appears in any
  daemon log or command output of the session.
- pg_server (session): a PostgreSQL server of the tests' own
  (scripts/test-pg: initdb into a temporary directory, 127.0.0.1 on a
  free port), stopped at the end of the session; pg: a fresh database on
  it per test (CREATE DATABASE), its URI in pg.uri.  Tests skip when
  PostgreSQL is not installed (scripts/install-deps test).
- outpost: writes outpost.conf files (mode 0600) into the test's tmp_path
  and runs the binary under test, $OUTPOST_BIN (scripts/run-integration
  sets it; default build/asan/outpost), failing the test on any sanitizer
  report.

Every configuration sets `hostname = localhost`; peers use 127.0.0.1 only.
"""

import logging
import os
import pathlib
import subprocess

import pytest

import peers as peers_mod
from outputs import OUTPUT_LOG, record_output
from pgserver import Pg, PgServer

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUTPOST_BIN = os.environ.get("OUTPOST_BIN", str(ROOT / "build/asan/outpost"))

# Same settings as scripts/run-integration, for a bare `pytest` run.
os.environ.setdefault("ASAN_OPTIONS",
                      "detect_leaks=1:abort_on_error=0:exitcode=86")
os.environ.setdefault("UBSAN_OPTIONS",
                      "print_stacktrace=1:halt_on_error=1:exitcode=87")
# CI runs the tests as root: `outpost serve` refuses root without
# [server] user unless told (docs/config.md, user); the tests that check
# the refusal and the drop take this out of their own environment.
os.environ.setdefault("OUTPOST_ALLOW_ROOT", "1")
SANITIZER_EXITS = (86, 87)
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:")

# aiosmtpd logs every session at INFO on "mail.log"; keep test output quiet.
logging.getLogger("mail.log").setLevel(logging.ERROR)


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_output(tmp_path_factory):
    """The whole run's secret check: every access token, refresh token and
    client secret a test OAuth2 server issued or was configured with
    (oauth_server.record_secret) must appear in no daemon log (serve-*.log)
    and no command output (OUTPUT_LOG) of any test of the session."""
    import oauth_server
    path = tmp_path_factory.mktemp("secrets") / "issued.txt"
    path.touch()
    old = os.environ.get(oauth_server.SECRETS_ENV)
    os.environ[oauth_server.SECRETS_ENV] = str(path)
    yield
    if old is None:
        os.environ.pop(oauth_server.SECRETS_ENV, None)
    else:
        os.environ[oauth_server.SECRETS_ENV] = old
    found = [s for s in set(path.read_text().splitlines()) if len(s) >= 8]
    hits = []
    for f in sorted(tmp_path_factory.getbasetemp().rglob("*")):
        if not f.is_file() or not (f.name == OUTPUT_LOG or (
                f.name.startswith("serve-") and f.name.endswith(".log"))):
            continue
        text = f.read_text(errors="replace")
        hits += ["%s: %s..." % (f, s[:6]) for s in found if s in text]
    assert not hits, "secrets in logs or outputs:\n" + "\n".join(hits)
@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    s = PgServer()
    yield s
    s.stop()


@pytest.fixture
def pg(pg_server):
    return Pg(pg_server)


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    return peers_mod.make_certs(tmp_path_factory.mktemp("certs"))


class Peers:
    """Start peers for one test; stop() stops all of them."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.started = []

    def _keep(self, p):
        self.started.append(p)
        return p

    def aiosmtpd(self, mode="plain", **kwargs):
        return self._keep(peers_mod.AioPeer(mode, **kwargs))

    def scripted(self, script):
        return self._keep(peers_mod.ScriptedPeer(script))

    def sink(self, extra_args=()):
        return self._keep(peers_mod.SmtpSink(self.tmp_path / "sink",
                                             extra_args))

    def blackhole(self):
        return self._keep(peers_mod.Blackhole())

    def refused_port(self):
        return peers_mod.refused_port()

    def stop(self):
        for p in reversed(self.started):
            p.stop()
        self.started = []


@pytest.fixture
def daemons():
    """Daemon objects a test starts (it appends them), stopped at its end."""
    started = []
    yield started
    for d in started:
        d.stop()


@pytest.fixture
def peers(tmp_path):
    p = Peers(tmp_path)
    yield p
    p.stop()


def _conf_value(v):
    if v is True:
        return "yes"
    if v is False:
        return "no"
    v = str(v)
    if any(c in v for c in ";# \t\"") or v == "":
        if "\"" in v or "\\" in v:
            raise ValueError("test value needs no escaping: %r" % v)
        return "\"%s\"" % v
    return v


class Result:
    def __init__(self, args, proc):
        self.args = args
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    @property
    def text(self):
        return self.out + self.err

    def __repr__(self):
        return "outpost %s -> %d\n--- stdout\n%s--- stderr\n%s" % (
            " ".join(self.args), self.rc, self.out, self.err)


class Outpost:
    """Writes configurations and runs the binary under test."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.bin = OUTPOST_BIN
        self.nconf = 0

    def conf(self, profiles=(), server=None, raw=""):
        """Write an outpost.conf; profiles is a list of (name, {key: value}).
        Returns its path."""
        self.nconf += 1
        srv = {"hostname": "localhost",
               "data_dir": str(self.tmp_path / "data")}
        srv.update(server or {})
        lines = ["[server]"]
        lines += ["%s = %s" % (k, _conf_value(v)) for k, v in srv.items()]
        for name, keys in profiles:
            lines += ["", "[profile %s]" % name]
            lines += ["%s = %s" % (k, _conf_value(v)) for k, v in keys.items()]
        text = "\n".join(lines) + "\n" + raw
        path = self.tmp_path / ("outpost-%d.conf" % self.nconf)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return path

    def run(self, *args, conf=None, timeout=60, stdin=None):
        """Run `outpost [-c conf] args...`; fail the test on a sanitizer
        report.  The caller asserts the exit code it expects."""
        if not os.access(self.bin, os.X_OK):
            pytest.fail("binary under test not found: %s (run make asan, "
                        "or set OUTPOST_BIN)" % self.bin)
        argv = [self.bin]
        if conf is not None:
            argv += ["-c", str(conf)]
        argv += [str(a) for a in args]
        env = dict(os.environ)
        env.pop("OUTPOST_CONFIG", None)
        proc = subprocess.run(argv, input=stdin, capture_output=True,
                              text=True, timeout=timeout, env=env,
                              cwd=self.tmp_path)
        res = Result([str(a) for a in args], proc)
        record_output(self.tmp_path, "outpost " + " ".join(res.args), res.text)
        assert res.rc not in SANITIZER_EXITS, "sanitizer exit: %r" % res
        for mark in SANITIZER_MARKS:
            assert mark not in res.err, "sanitizer report: %r" % res
        return res


@pytest.fixture
def outpost(tmp_path):
    return Outpost(tmp_path)

