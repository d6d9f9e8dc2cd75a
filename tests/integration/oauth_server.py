"""A small OAuth2 authorization server and OAuth2 SMTP peers for tests.

OAuthServer (Python's http.server + ssl, https with the test CA of
peers.make_certs): /authorize (PKCE S256 checked, redirects to the
loopback redirect_uri with code and state), /token (authorization_code,
refresh_token with rotation, client_credentials, device_code),
/devicecode (authorization_pending, then success), configurable token
lifetime, revocation, invalid_grant with AADSTS texts.  It counts the
requests of each grant.

OAuthSmtpPeer: a threaded raw-socket SMTP server (plain; the profile uses
security = none with allow_plaintext_auth) that checks the exact XOAUTH2 /
OAUTHBEARER bytes against the valid tokens of an OAuthServer, and answers
a bad token like Gmail (334 base64 JSON, then 535 after the empty line /
AQ==) or Microsoft 365 (535 5.7.3 at once; 535 5.7.139 when SMTP AUTH is
"disabled").
"""

import base64
import hashlib
import http.server
import json
import os
import secrets
import socket
import ssl
import threading
import time
import urllib.parse

HOST = "127.0.0.1"
# Every secret a server issues or is configured with is appended to this
# file (one a line) when the variable is set: conftest.py greps the whole
# run's daemon logs and command outputs for them at the end.
SECRETS_ENV = "OUTPOST_TEST_SECRETS"
_record_lock = threading.Lock()


def record_secret(s):
    path = os.environ.get(SECRETS_ENV)
    if path and s:
        with _record_lock, open(path, "a") as f:
            f.write(s + "\n")


class OAuthServer:
    def __init__(self, cert, lifetime=3600, client_id="cid",
                 client_secret="client-secret-XYZ", rotate=True):
        self.lifetime = lifetime
        self.client_id = client_id
        self.client_secret = client_secret
        self.rotate = rotate
        self.lock = threading.Lock()
        self.codes = {}         # code -> (challenge, redirect_uri)
        self.refresh = {}       # refresh token -> True
        self.access = {}        # access token -> expiry
        self.devices = {}       # device_code -> polls left
        self.counts = {}        # grant -> requests
        self.refresh_times = []
        self.invalid_grant = None   # an error_description to refuse with
        self.issued = []        # every token handed out (for the grep)
        self.refresh_uses = {}  # refresh token -> refresh requests with it
        record_secret(client_secret)
        srv = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _json(self, code, obj):
                b = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(b)))
                self.end_headers()
                self.wfile.write(b)

            def do_GET(self):
                u = urllib.parse.urlsplit(self.path)
                q = dict(urllib.parse.parse_qsl(u.query))
                if u.path != "/authorize":
                    return self._json(404, {"error": "not_found"})
                ok = (q.get("response_type") == "code"
                      and q.get("client_id") == srv.client_id
                      and q.get("code_challenge_method") == "S256"
                      and len(q.get("code_challenge", "")) == 43
                      and q.get("state"))
                ru = q.get("redirect_uri", "")
                if not ok or not ru.startswith("http://127.0.0.1:"):
                    return self._json(400, {"error": "invalid_request"})
                code = secrets.token_urlsafe(16)
                with srv.lock:
                    srv.codes[code] = (q["code_challenge"], ru)
                self.send_response(302)
                self.send_header("Location", ru + "?" + urllib.parse.urlencode(
                    {"code": code, "state": q["state"]}))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                f = dict(urllib.parse.parse_qsl(self.rfile.read(n).decode()))
                path = urllib.parse.urlsplit(self.path).path
                if path == "/devicecode":
                    dc = secrets.token_urlsafe(16)
                    with srv.lock:
                        srv.devices[dc] = 2
                    return self._json(200, {
                        "device_code": dc, "user_code": "ABCD-EFGH",
                        "verification_uri": "https://127.0.0.1/device",
                        "interval": 1, "expires_in": 60})
                if path != "/token":
                    return self._json(404, {"error": "not_found"})
                code, obj = srv.token(f)
                self._json(code, obj)

        self.httpd = http.server.ThreadingHTTPServer((HOST, 0), H)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = "https://localhost:%d" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def _issue(self, with_refresh):
        a = "at-" + secrets.token_urlsafe(24)
        self.access[a] = time.time() + self.lifetime
        self.issued.append(a)
        record_secret(a)
        out = {"access_token": a, "token_type": "Bearer",
               "expires_in": self.lifetime}
        if with_refresh:
            r = "rt-" + secrets.token_urlsafe(24)
            self.refresh[r] = True
            self.issued.append(r)
            record_secret(r)
            out["refresh_token"] = r
        return out

    def token(self, f):
        g = f.get("grant_type", "")
        with self.lock:
            self.counts[g] = self.counts.get(g, 0) + 1
            if f.get("client_id") != self.client_id:
                return 400, {"error": "invalid_client"}
            if g == "authorization_code":
                ch, ru = self.codes.pop(f.get("code", ""), (None, None))
                v = f.get("code_verifier", "")
                calc = base64.urlsafe_b64encode(
                    hashlib.sha256(v.encode()).digest()).rstrip(b"=").decode()
                if ch is None or calc != ch or f.get("redirect_uri") != ru:
                    return 400, {"error": "invalid_grant",
                                 "error_description": "bad code or verifier"}
                return 200, self._issue(True)
            if g == "refresh_token":
                self.refresh_times.append(time.time())
                rt = f.get("refresh_token", "")
                self.refresh_uses[rt] = self.refresh_uses.get(rt, 0) + 1
                if self.invalid_grant is not None or rt not in self.refresh:
                    return 400, {"error": "invalid_grant",
                                 "error_description": self.invalid_grant or
                                 "unknown refresh token"}
                if self.rotate:
                    del self.refresh[rt]
                return 200, self._issue(self.rotate)
            if g == "client_credentials":
                if f.get("client_secret") != self.client_secret:
                    return 401, {"error": "invalid_client",
                                 "error_description": "AADSTS7000215: "
                                 "Invalid client secret provided."}
                return 200, self._issue(False)
            if g == "urn:ietf:params:oauth:grant-type:device_code":
                dc = f.get("device_code", "")
                if dc not in self.devices:
                    return 400, {"error": "expired_token"}
                if self.devices[dc] > 0:
                    self.devices[dc] -= 1
                    return 400, {"error": "authorization_pending"}
                del self.devices[dc]
                return 200, self._issue(True)
            return 400, {"error": "unsupported_grant_type"}

    def valid(self, token):
        with self.lock:
            exp = self.access.get(token)
            return exp is not None and exp > time.time()

    def revoke_all_access(self):
        with self.lock:
            self.access.clear()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class OAuthSmtpPeer:
    """style: "microsoft" (XOAUTH2 only, 535 5.7.3 at once) or "gmail"
    (XOAUTH2 and OAUTHBEARER, 334 JSON challenge); disabled: answer every
    AUTH with 535 5.7.139."""

    def __init__(self, oauth, user, style="microsoft", disabled=False):
        self.oauth = oauth
        self.user = user
        self.style = style
        self.disabled = disabled
        self.messages = []
        self.auths = []         # (mechanism, ok)
        self.errors = []        # format problems seen
        self.sock = socket.socket()
        self.sock.bind((HOST, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(c,),
                             daemon=True).start()

    def _check(self, mech, raw):
        u = self.user
        if mech == "XOAUTH2":
            pre, post = "user=%s\x01auth=Bearer " % u, "\x01\x01"
        else:
            pre = "n,a=%s,\x01host=127.0.0.1\x01port=%d\x01auth=Bearer " % (
                u, self.port)
            post = "\x01\x01"
        if not (raw.startswith(pre) and raw.endswith(post)):
            self.errors.append("bad %s format: %r" % (mech, raw[:60]))
            return None
        return raw[len(pre):-len(post)]

    def _session(self, c):
        f = c.makefile("rb")
        w = lambda s: c.sendall((s + "\r\n").encode())
        try:
            w("220 localhost ESMTP oauth peer")
            authed = False
            mail = None
            rcpts = []
            while True:
                line = f.readline()
                if not line:
                    return
                line = line.decode().rstrip("\r\n")
                cmd = line.split(" ")[0].upper()
                if cmd == "EHLO":
                    mechs = "XOAUTH2" if self.style == "microsoft" else \
                        "PLAIN XOAUTH2 OAUTHBEARER"
                    w("250-localhost")
                    w("250-AUTH " + mechs)
                    w("250 8BITMIME")
                elif cmd == "AUTH":
                    parts = line.split(" ")
                    mech = parts[1].upper()
                    raw = base64.b64decode(parts[2]).decode() \
                        if len(parts) > 2 else ""
                    tok = self._check(mech, raw)
                    ok = tok is not None and self.oauth.valid(tok)
                    self.auths.append((mech, ok))
                    if self.disabled:
                        w("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.")
                    elif ok:
                        authed = True
                        w("235 2.7.0 Accepted")
                    elif self.style == "gmail":
                        w("334 " + base64.b64encode(json.dumps({
                            "status": "401", "schemes": "Bearer",
                            "scope": "https://mail.google.com/"}).encode()
                        ).decode())
                        ans = f.readline().decode().rstrip("\r\n")
                        want = "" if mech == "XOAUTH2" else "AQ=="
                        if ans != want:
                            self.errors.append("bad answer to the "
                                               "challenge: %r" % ans)
                        w("535-5.7.8 Username and Password not accepted.")
                        w("535 5.7.8 https://support.google.com/mail/?p=BadCredentials")
                    else:
                        w("535 5.7.3 Authentication unsuccessful")
                elif cmd == "MAIL":
                    if not authed:
                        w("530 5.7.0 Authentication required")
                        continue
                    mail, rcpts = line, []
                    w("250 2.1.0 OK")
                elif cmd == "RCPT":
                    rcpts.append(line)
                    w("250 2.1.5 OK")
                elif cmd == "DATA":
                    w("354 go ahead")
                    body = []
                    while True:
                        l = f.readline()
                        if not l or l in (b".\r\n", b".\n"):
                            break
                        body.append(l)
                    self.messages.append((mail, rcpts, b"".join(body)))
                    w("250 2.0.0 OK queued")
                elif cmd == "RSET":
                    w("250 OK")
                elif cmd == "NOOP":
                    w("250 OK")
                elif cmd == "QUIT":
                    w("221 bye")
                    return
                else:
                    w("502 5.5.2 unknown")
        except OSError:
            pass
        finally:
            c.close()

    def stop(self):
        self.stopping = True
        self.sock.close()
