"""The command line itself: --help, --version, usage errors (exit 64)."""

import pathlib

VERSION = (pathlib.Path(__file__).resolve().parents[2] / "VERSION") \
    .read_text().strip()

COMMANDS = ("serve", "check", "test-email", "send", "sendmail", "queue",
            "config")


def test_help_lists_commands(outpost):
    for opt in ("--help", "-h", "help"):
        res = outpost.run(opt)
        assert res.rc == 0, res
        assert res.out.startswith("usage: outpost")
        for cmd in COMMANDS:
            assert "\n  %s " % cmd in res.out, (cmd, res)
        assert "64 usage" in res.out
        assert res.err == ""


def test_version(outpost):
    for opt in ("--version", "-V"):
        res = outpost.run(opt)
        assert res.rc == 0, res
        assert res.out == "outpost %s\n" % VERSION


def test_help_and_version_need_no_config(outpost, tmp_path):
    missing = tmp_path / "does-not-exist.conf"
    res = outpost.run("--help", conf=missing)
    assert res.rc == 0, res
    res = outpost.run("--version", conf=missing)
    assert res.rc == 0, res


def test_usage_errors_exit_64(outpost):
    for args in ([], ["no-such-command"], ["--no-such-option"],
                 ["-c"], ["-x", "check"]):
        res = outpost.run(*args)
        assert res.rc == 64, res
        assert "usage: outpost" in res.err
        assert res.out == ""


def test_check_usage_errors(outpost):
    conf = outpost.conf([("p", {"host": "127.0.0.1", "port": 25,
                                "security": "none"})])
    for args in (["check", "--bogus"], ["check", "a", "b"],
                 ["check", "--json", "x", "y"]):
        res = outpost.run(*args, conf=conf)
        assert res.rc == 64, res
        assert "usage: outpost check" in res.err


def test_check_help(outpost):
    res = outpost.run("check", "--help")
    assert res.rc == 0, res
    assert "check [PROFILE] [--json]" in res.out
    res = outpost.run("test-email", "--help")
    assert res.rc == 0, res
    assert "test-email --to ADDR" in res.out
