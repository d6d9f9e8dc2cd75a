"""pgserver - a PostgreSQL server of the tests' own (scripts/test-pg), and
a fresh database on it.

A module of its own, not part of conftest.py: tests/adversarial has a
conftest.py too, and `conftest.NAME` in a test file may find the other one.
"""
import os
import pathlib
import subprocess
import tempfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


class PgServer:
    """A PostgreSQL server started by scripts/test-pg in its own
    directory; pause()/resume() stop and start it on the same port (an
    outage)."""

    def __init__(self, name="pg"):
        # not under pytest's directories (0700 to root): the server runs
        # as the postgres user when the tests run as root
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="outpost-%s." % name))
        self.dir.rmdir()
        out = subprocess.run([str(ROOT / "scripts/test-pg"), "start",
                              str(self.dir)], capture_output=True, text=True,
                             timeout=120)
        if out.returncode == 69:
            pytest.skip("PostgreSQL is not installed (scripts/install-deps "
                        "test)")
        assert out.returncode == 0, out.stderr
        self.uri = out.stdout.strip()
        self.seq = 0

    def _ctl(self, cmd):
        out = subprocess.run([str(ROOT / "scripts/test-pg"), cmd,
                              str(self.dir)], capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0, out.stderr

    def pause(self):
        self._ctl("pause")

    def resume(self):
        self._ctl("resume")

    def stop(self):
        self._ctl("stop")

    def sql(self, sql, db=None):
        """Run sql with psql; its output, one row a line."""
        out = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v",
                              "ON_ERROR_STOP=1", "-d", db or self.uri,
                              "-c", sql], capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout

    def new_db(self):
        """A fresh database; its URI."""
        self.seq += 1
        name = "t%d_%d" % (os.getpid(), self.seq)
        self.sql("CREATE DATABASE %s" % name)
        return self.uri.rsplit("/", 1)[0] + "/" + name


class Pg:
    def __init__(self, server):
        self.server = server
        self.uri = server.new_db()

    def sql(self, sql):
        return self.server.sql(sql, self.uri)
