"""The optimised daemon (build/outpost, not the sanitizer build) under
valgrind's memcheck with a small load (issue 6 part 4): messages handed
over by smtplib, delivered to an aiosmtpd peer over a reused connection,
refusals on the way, an HTTP request; then SIGTERM.  valgrind must report
no invalid access, no use of uninitialised memory and no definite leak,
and the daemon must exit 0.

Runs in CI (about 30 s on two cores).  Set OUTPOST_OPT_BIN to test
another binary; the test is skipped only where valgrind is not installed
(scripts/install-deps test installs it).
"""

import http.client
import os
import pathlib
import shutil
import signal
import smtplib
import socket
import subprocess

import pytest

import peers as peers_mod
from daemon import free_port, wait_for
from raw import RawSMTP, query

ROOT = pathlib.Path(__file__).resolve().parents[2]
OPT_BIN = os.environ.get("OUTPOST_OPT_BIN", str(ROOT / "build/outpost"))
VALGRIND = shutil.which("valgrind")


@pytest.mark.skipif(VALGRIND is None, reason="valgrind is not installed "
                    "(scripts/install-deps test)")
def test_daemon_under_valgrind_has_no_errors_or_leaks(outpost, peers):
    if not os.access(OPT_BIN, os.X_OK):
        pytest.fail("%s not found: run make" % OPT_BIN)
    peer = peers.aiosmtpd("plain")
    smtp_port, http_port = free_port(), free_port()
    conf = outpost.conf(
        [("up", peers_mod.profile(peer.port, max_connections=2))],
        server={"smtp_listen": "127.0.0.1:%d" % smtp_port,
                "http_listen": "127.0.0.1:%d" % http_port,
                "api_token": "valgrind-test-token-0123456789",
                "retry": "1s, 1s, 2s", "max_message_size": "64K"})
    vlog = outpost.tmp_path / "valgrind.log"
    out = open(outpost.tmp_path / "serve.log", "wb")
    env = dict(os.environ)
    env.pop("OUTPOST_CONFIG", None)
    proc = subprocess.Popen(
        [VALGRIND, "--quiet", "--leak-check=full",
         "--show-leak-kinds=definite", "--errors-for-leak-kinds=definite",
         "--error-exitcode=99", "--num-callers=30",
         "--log-file=%s" % vlog, OPT_BIN, "-c", str(conf), "serve"],
        stdout=out, stderr=out, cwd=outpost.tmp_path, env=env)
    try:
        def listening():
            assert proc.poll() is None, (outpost.tmp_path / "serve.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", smtp_port), 0.5).close()
                return True
            except OSError:
                return False
        wait_for(listening, timeout=120, step=0.2, what="the listener")

        n = 12
        s = smtplib.SMTP("127.0.0.1", smtp_port, timeout=60, local_hostname="localhost")
        for i in range(n):
            s.sendmail("app@example.com", ["r%d@example.com" % i,
                                           "c%d@example.com" % i],
                       "Subject: valgrind %d\r\n\r\nline\r\n.dot\r\n" % i)
        s.quit()
        # error paths: refused addresses, a long line, a too-big message,
        # a broken-off session
        c = RawSMTP(smtp_port, timeout=60)
        c.expect("EHLO client.example", 250)
        assert c.cmd("MAIL FROM:<u%x@relay.example>")[0] == 553
        assert c.cmd("X" * 600)[0] == 500
        c.expect("MAIL FROM:<app@example.com>", 250)
        c.expect("RCPT TO:<a@example.com>", 250)
        c.expect("DATA", 354)
        c.send("Subject: big\r\n\r\n" + ("y" * 100 + "\r\n") * 700 + ".\r\n")
        assert c.reply()[0] == 552
        c.send("MAIL FROM:<app@example.com>\r\nRCPT TO:<b@example.com>\r\n"
               "DATA\r\npartial")
        c.close()
        h = http.client.HTTPConnection("127.0.0.1", http_port, timeout=60)
        h.request("GET", "/api/health")
        assert h.getresponse().status == 200
        h.close()

        def all_sent():
            rows = query(outpost.tmp_path / "data",
                         "SELECT count(*) FROM messages WHERE state = 'sent'")
            return rows[0][0] == n
        wait_for(all_sent, timeout=120, step=0.5, what="%d deliveries" % n)
        assert len(peer.messages) == n
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait(10)
        out.close()
    report = vlog.read_text(errors="replace")
    log = (outpost.tmp_path / "serve.log").read_text(errors="replace")
    assert rc == 0, "exit %d\n--- valgrind\n%s\n--- log\n%s" % (rc, report,
                                                                 log[-4000:])
    # --quiet: valgrind writes only what it found
    assert "Invalid" not in report and "uninitialised" not in report, report
    assert "definitely lost" not in report, report
    assert "event=stopped" in log
