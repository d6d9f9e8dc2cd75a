"""Start what the browser tests need, and answer questions about it.

Run by run.mjs with /usr/bin/python3 (Debian's, with python3-aiosmtpd):

    launch.py WORKDIR

starts, all on 127.0.0.1 and ports the kernel picks:
  - an aiosmtpd peer (tests/integration/peers.py) with STARTTLS and AUTH,
    its certificate signed by a private test CA;
  - a test OAuth2 server (https, the same CA; /authorize approves at
    once) and an SMTP peer that takes its tokens (XOAUTH2);
  - `outpost serve` ($OUTPOST_BIN, default build/asan/outpost) with no
    profile yet and a known API token.
It prints one JSON line {"base", "token", "peer_port", "ca_file",
"username", "password"} and then reads commands, one per line, answering
each with one JSON line:
    messages   -> {"messages": [{"from", "to": [...], "tls", "login",
                   "subject"}]}
    log        -> {"log": "the daemon's log so far"}
    oauth      -> the OAuth2 side (oauth_server.py): {"messages": n at the
                  OAuth SMTP peer, "auths", "errors", "codes": sign-ins
                  traded, "secrets": every token issued and the client
                  secret}
    reject A   -> the peer refuses recipient A (550 5.1.1): {"ok": true}
    accept     -> the peer takes every recipient again: {"ok": true}
    stop       -> stops everything, checks the daemon exits 0 without a
                  sanitizer report, answers {"ok": true, "rc": 0}, exits.
"""

import email
import email.policy
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

import logging  # noqa: E402

import peers  # noqa: E402
from daemon import free_port  # noqa: E402
from oauth_server import OAuthServer, OAuthSmtpPeer  # noqa: E402

logging.getLogger("mail.log").setLevel(logging.ERROR)

TOKEN = "browser-test-token-0123456789abcdef"
OAUTH_USER = "noreply@contoso.example"
USERNAME = "relay-user"
PASSWORD = "Correct horse; battery \"staple\""
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:")


def main():
    work = pathlib.Path(sys.argv[1])
    work.mkdir(parents=True, exist_ok=True)
    (work / "certs").mkdir(exist_ok=True)
    certs = peers.make_certs(work / "certs")
    peer = peers.AioPeer("starttls", cert=certs.server,
                         users={USERNAME: PASSWORD})
    oauth = OAuthServer(certs.server)
    opeer = OAuthSmtpPeer(oauth, OAUTH_USER)
    http_port, smtp_port = free_port(), free_port()
    conf = work / "outpost.conf"
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("; Outpost for the browser tests\n"
                "[server]\n"
                "http_listen = 127.0.0.1:%d\n"
                "smtp_listen = 127.0.0.1:%d\n"
                "data_dir = %s\n"
                "hostname = localhost\n"
                "retry = 1s, 2s\n"
                "api_token = %s\n" % (http_port, smtp_port, work / "data", TOKEN))
    binary = os.environ.get("OUTPOST_BIN", str(ROOT / "build/asan/outpost"))
    env = dict(os.environ)
    env.pop("OUTPOST_CONFIG", None)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=86")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1:exitcode=87")
    env.setdefault("OUTPOST_ALLOW_ROOT", "1")   # CI runs as root
    log_path = work / "serve.log"
    logf = open(log_path, "ab")
    proc = subprocess.Popen([binary, "-c", str(conf), "serve"], stdout=logf,
                            stderr=logf, cwd=work, env=env)
    end = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise SystemExit("outpost serve exited %d:\n%s"
                             % (proc.returncode, log_path.read_text()))
        try:
            socket.create_connection(("127.0.0.1", http_port), 0.2).close()
            break
        except OSError:
            if time.monotonic() > end:
                raise SystemExit("outpost serve did not listen")
            time.sleep(0.05)

    print(json.dumps({"base": "http://127.0.0.1:%d" % http_port, "token": TOKEN,
                      "peer_port": peer.port, "ca_file": str(certs.ca),
                      "username": USERNAME, "password": PASSWORD,
                      "oauth_url": "https://127.0.0.1:%d" % oauth.port,
                      "oauth_client_id": oauth.client_id,
                      "oauth_smtp_port": opeer.port,
                      "oauth_user": OAUTH_USER}), flush=True)
    try:
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "messages":
                out = []
                for m in list(peer.messages):
                    msg = email.message_from_bytes(m.content,
                                                   policy=email.policy.default)
                    login = m.login.decode() if isinstance(m.login, bytes) else m.login
                    out.append({"from": m.mail_from, "to": m.rcpt_tos, "tls": m.tls,
                                "login": login, "subject": str(msg["Subject"])})
                print(json.dumps({"messages": out}), flush=True)
            elif cmd == "oauth":
                print(json.dumps({"messages": len(opeer.messages),
                                  "auths": opeer.auths, "errors": opeer.errors,
                                  "codes": oauth.counts.get(
                                      "authorization_code", 0),
                                  "secrets": oauth.issued +
                                  [oauth.client_secret]}), flush=True)
            elif cmd == "conf":
                print(json.dumps({"text": conf.read_text(errors="replace")}),
                      flush=True)
            elif cmd == "log":
                print(json.dumps({"log": log_path.read_text(errors="replace")}),
                      flush=True)
            elif cmd.startswith("reject "):
                peer.handler.reject_rcpts.add(cmd.split(" ", 1)[1])
                print(json.dumps({"ok": True}), flush=True)
            elif cmd == "accept":
                peer.handler.reject_rcpts.clear()
                print(json.dumps({"ok": True}), flush=True)
            elif cmd == "stop":
                break
            else:
                print(json.dumps({"error": "unknown command " + cmd}), flush=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        logf.close()
        peer.stop()
        opeer.stop()
        oauth.stop()
    log = log_path.read_text(errors="replace")
    bad = [m for m in SANITIZER_MARKS if m in log]
    print(json.dumps({"ok": rc == 0 and not bad, "rc": rc, "sanitizer": bad}),
          flush=True)


if __name__ == "__main__":
    main()
