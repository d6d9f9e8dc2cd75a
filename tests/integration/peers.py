"""Independent SMTP peers for Outpost's integration tests.

Everything here listens on 127.0.0.1 only (an AioPeer on ::1 when a test
asks for IPv6), on ports the kernel picks, and is stopped by the fixture that started it (conftest.py), so no test leaves
a process or a thread behind.

- Certificates: make_certs() runs the `openssl` command to make a private
  CA, a server certificate for localhost/127.0.0.1 signed by it, one for
  the address ::1, a self-signed one, an expired one and one for another
  name.
- AioPeer: aiosmtpd (an SMTP server nobody here wrote) in plain, STARTTLS or
  implicit-TLS mode, with AUTH PLAIN/LOGIN, fault injection (refused
  sender, refused recipient, refused credentials, EHLO keywords removed or
  replaced), and a transcript of every line the client sent, marked with
  whether TLS was on at the time.
- ScriptedPeer: a raw-socket server that plays a script, for what aiosmtpd
  cannot do (a silent greeting, a 421 greeting, bytes injected after
  "220 Ready to start TLS").
- SmtpSink: Postfix's smtp-sink, a second independent peer, dumping each
  message it receives to a directory.
- refused_port() and Blackhole: a port where nothing listens, and one whose
  accept queue is full so that a connect times out.
"""

import os
import pathlib
import shutil
import socket
import ssl
import subprocess
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult

HOST = "127.0.0.1"

# --------------------------------------------------------------------------
# Certificates

_CA_CNF = """\
[ ca ]
default_ca = test_ca
[ test_ca ]
dir = {dir}
database = {dir}/index.txt
new_certs_dir = {dir}
serial = {dir}/serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = copy
x509_extensions = server_ext
[ any ]
commonName = supplied
[ server_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
"""


class Certs:
    """Paths of the test certificates (PEM files) made by make_certs()."""

    def __init__(self, d):
        d = pathlib.Path(d)
        self.dir = d
        self.ca = d / "ca.pem"                 # "Outpost Test CA"
        self.server = (d / "server.pem", d / "server.key")     # localhost
        self.selfsigned = (d / "self.pem", d / "self.key")     # localhost
        self.expired = (d / "expired.pem", d / "expired.key")  # localhost
        self.other = (d / "other.pem", d / "other.key")        # other.example
        self.ipv6 = (d / "ipv6.pem", d / "ipv6.key")           # IP ::1 only
        self.expired_not_after = "2020-01-02"


def _openssl(*args, cwd):
    subprocess.run(("openssl",) + args, cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _newkey_args(keyout):
    return ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(keyout))


def make_certs(d):
    """Make every test certificate in directory d; return a Certs."""
    c = Certs(d)
    d = c.dir
    (d / "index.txt").write_text("")
    (d / "serial").write_text("1000\n")
    (d / "ca.cnf").write_text(_CA_CNF.format(dir=d))
    _openssl("req", "-x509", *_newkey_args(d / "ca.key"), "-out", str(c.ca),
             "-days", "3650", "-subj", "/CN=Outpost Test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)

    def signed(pair, cn, san, dates):
        pem, key = pair
        csr = pem.with_suffix(".csr")
        _openssl("req", "-new", *_newkey_args(key), "-out", str(csr),
                 "-subj", "/CN=" + cn, "-addext", "subjectAltName=" + san,
                 cwd=d)
        _openssl("ca", "-batch", "-notext", "-config", str(d / "ca.cnf"),
                 "-cert", str(c.ca), "-keyfile", str(d / "ca.key"),
                 "-in", str(csr), "-out", str(pem), *dates, cwd=d)

    signed(c.server, "localhost", "DNS:localhost,IP:127.0.0.1",
           ("-days", "825"))
    signed(c.expired, "localhost", "DNS:localhost,IP:127.0.0.1",
           ("-startdate", "20200101000000Z", "-enddate", "20200102000000Z"))
    signed(c.ipv6, "ipv6-loopback", "IP:::1", ("-days", "825"))
    signed(c.other, "other.example",
           "DNS:other.example,DNS:www.other.example", ("-days", "825"))
    _openssl("req", "-x509", *_newkey_args(c.selfsigned[1]),
             "-out", str(c.selfsigned[0]), "-days", "825",
             "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", cwd=d)
    return c


def server_tls_context(pair):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(pair[0]), str(pair[1]))
    return ctx


# --------------------------------------------------------------------------
# Transcripts

class Transcript:
    """What one connection carried: a list of (who, tls, line), who being
    "C" (a command line from the client, i.e. Outpost), "D" (a line of
    message content, after the peer's 354 up to and including the final
    ".") or "S" (the peer); line without CRLF."""

    def __init__(self):
        self.events = []
        self.lock = threading.Lock()
        self.in_data = False

    def add(self, who, tls, line):
        if isinstance(line, bytes):
            line = line.decode("utf-8", "replace")
        line = line.rstrip("\r\n")
        with self.lock:
            if who == "S" and line.startswith("354"):
                self.in_data = True
            elif who == "C" and self.in_data:
                who = "D"
                if line == ".":
                    self.in_data = False
            self.events.append((who, tls, line))

    def data_lines(self):
        """Message content lines as sent (dot-stuffed, final "." last)."""
        with self.lock:
            return [line for who, _, line in self.events if who == "D"]

    def client_lines(self):
        """Command lines the client sent (message content excluded)."""
        with self.lock:
            return [line for who, _, line in self.events if who == "C"]

    def commands(self):
        """The command verbs the client sent, upper-cased (EHLO, MAIL...)."""
        return [line.split(" ", 1)[0].upper() for line in self.client_lines()
                if line]

    def commands_with_tls(self):
        with self.lock:
            return [(line.split(" ", 1)[0].upper(), tls)
                    for who, tls, line in self.events if who == "C" and line]

    def __repr__(self):
        with self.lock:
            return "\n".join("%s%s %s" % (who, "*" if tls else " ", line)
                             for who, tls, line in self.events)


# --------------------------------------------------------------------------
# aiosmtpd

class Delivered:
    """One message that arrived at an AioPeer."""

    def __init__(self, mail_from, rcpt_tos, content, tls, login):
        self.mail_from = mail_from
        self.rcpt_tos = list(rcpt_tos)
        self.content = content          # bytes, as received (CRLF kept)
        self.tls = tls
        self.login = login


class PeerHandler:
    """aiosmtpd handler: records deliveries and injects faults."""

    def __init__(self, reject_senders=(), reject_rcpts=(), ehlo_edit=None,
                 queue_id="4XyZ0123"):
        self.reject_senders = set(reject_senders)
        self.reject_rcpts = set(reject_rcpts)
        self.ehlo_edit = ehlo_edit      # function(list of reply lines) -> list
        self.queue_id = queue_id
        self.messages = []
        self.lock = threading.Lock()

    async def handle_EHLO(self, server, session, envelope, hostname,
                          responses):
        session.host_name = hostname
        if self.ehlo_edit is not None:
            responses = self.ehlo_edit(list(responses))
        return responses

    async def handle_MAIL(self, server, session, envelope, address,
                          mail_options):
        if address in self.reject_senders:
            return "553 5.7.1 <%s>: Sender address rejected: not owned by " \
                   "user" % address
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        if address in self.reject_rcpts:
            return "550 5.1.1 <%s>: Recipient address rejected: User " \
                   "unknown in local recipient table" % address
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        tls = session.ssl is not None or (
            server.transport is not None
            and server.transport.get_extra_info("ssl_object") is not None)
        login = None
        if session.auth_data is not None:
            login = getattr(session.auth_data, "login", None)
        with self.lock:
            self.messages.append(Delivered(envelope.mail_from,
                                           envelope.rcpt_tos,
                                           envelope.original_content
                                           or envelope.content, tls, login))
        return "250 2.0.0 Ok: queued as %s" % self.queue_id


class _RecordingSMTP(SMTP):
    """aiosmtpd's SMTP with every line in and out written to a Transcript."""

    def __init__(self, handler, transcripts, **kwargs):
        super().__init__(handler, **kwargs)
        self._transcript = Transcript()
        transcripts.append(self._transcript)

    def _is_tls(self):
        if self.session is not None and self.session.ssl is not None:
            return True
        t = self.transport
        return t is not None and t.get_extra_info("ssl_object") is not None

    def _client_connected_cb(self, reader, writer):
        super()._client_connected_cb(reader, writer)
        t = self._transcript
        readuntil, readline = reader.readuntil, reader.readline

        async def rec_readuntil(*a, **kw):
            line = await readuntil(*a, **kw)
            t.add("C", self._is_tls(), line)
            return line

        async def rec_readline():
            line = await readline()
            t.add("C", self._is_tls(), line)
            return line

        reader.readuntil = rec_readuntil
        reader.readline = rec_readline

    async def push(self, status):
        self._transcript.add("S", self._is_tls(), status)
        await super().push(status)


class _PeerController(Controller):
    """Controller on an ephemeral port (aiosmtpd 1.4 wants a fixed one)."""

    def __init__(self, handler, transcripts, host=HOST, **kwargs):
        self._transcripts = transcripts
        super().__init__(handler, hostname=host, port=0, **kwargs)

    def factory(self):
        return _RecordingSMTP(self.handler, self._transcripts,
                              **self.SMTP_kwargs)

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class AioPeer:
    """An aiosmtpd server.

    mode: "plain" (no STARTTLS offered), "starttls" (STARTTLS offered and
    required before anything but EHLO/NOOP/QUIT), or "tls" (implicit TLS).
    cert: a (pem, key) pair for starttls/tls.
    users: {login: password} to offer AUTH PLAIN and LOGIN (only over TLS
    unless auth_require_tls is False); None offers AUTH that always fails.
    host: the address to listen on, 127.0.0.1 or "::1".
    """

    def __init__(self, mode="plain", cert=None, users=None,
                 auth_require_tls=True, host=HOST, **handler_kwargs):
        self.mode = mode
        self.handler = PeerHandler(**handler_kwargs)
        self.transcripts = []
        self.users = dict(users or {})
        kwargs = dict(server_hostname="localhost", ready_timeout=10,
                      auth_require_tls=auth_require_tls,
                      authenticator=self._authenticate, timeout=30)
        if mode == "starttls":
            kwargs.update(tls_context=server_tls_context(cert),
                          require_starttls=True)
        elif mode == "tls":
            # The whole connection is TLS; aiosmtpd only knows STARTTLS as
            # "TLS", so AUTH must not wait for it.
            kwargs.update(ssl_context=server_tls_context(cert),
                          auth_require_tls=False)
        elif mode != "plain":
            raise ValueError(mode)
        self.controller = _PeerController(self.handler, self.transcripts,
                                          host=host, **kwargs)
        self.controller.start()
        self.port = self.controller.port
        # The controller's own readiness probe is a connection too.
        self._probe_sessions = 1

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        ok = login in self.users and self.users[login] == password
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    @property
    def messages(self):
        return self.handler.messages

    def sessions(self):
        """Transcripts of the client's connections (probe excluded)."""
        return [t for t in self.transcripts[self._probe_sessions:]]

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


class ReplyHandler(PeerHandler):
    """PeerHandler that answers one phase ("mail", "rcpt" or "data") with a
    provider's own reply, every time."""

    def __init__(self, phase, reply, **kw):
        super().__init__(**kw)
        self.phase = phase
        self.reply = reply
        self.refused = 0

    def _refuse(self):
        with self.lock:
            self.refused += 1
        return self.reply

    async def handle_MAIL(self, server, session, envelope, address,
                          mail_options):
        if self.phase == "mail":
            return self._refuse()
        return await super().handle_MAIL(server, session, envelope, address,
                                         mail_options)

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        if self.phase == "rcpt":
            return self._refuse()
        return await super().handle_RCPT(server, session, envelope, address,
                                         rcpt_options)

    async def handle_DATA(self, server, session, envelope):
        if self.phase == "data":
            return self._refuse()
        return await super().handle_DATA(server, session, envelope)


def use_handler(peer, handler):
    """Make handler (a PeerHandler) answer for the AioPeer peer."""
    peer.controller.handler = handler
    peer.handler = handler
    return peer


class ProviderPeer(AioPeer):
    """A plain aiosmtpd peer (AUTH offered without TLS) that answers like a
    provider: at phase "auth" every login is refused with reply, at "mail",
    "rcpt" or "data" that command is.  reply may hold several lines
    ("534-5.7.9 ...\r\n534 5.7.9 ...")."""

    def __init__(self, phase, reply, users=None):
        super().__init__("plain", users=users or {"u": "p"},
                         auth_require_tls=False)
        self.phase = phase
        self.reply = reply
        if phase != "auth":
            use_handler(self, ReplyHandler(phase, reply))

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        if self.phase == "auth":
            return AuthResult(success=False, handled=False,
                              message=self.reply)
        return super()._authenticate(server, session, envelope, mechanism,
                                     auth_data)


# --------------------------------------------------------------------------
# Scripted raw-socket servers

class Conn:
    """One accepted connection handed to a script."""

    def __init__(self, sock, transcript, timeout=10):
        self.sock = sock
        self.sock.settimeout(timeout)
        self.t = transcript
        self.tls = False
        self.rbuf = b""

    def send(self, *lines):
        """Send the lines (each gets CRLF) in one write: one TCP segment."""
        data = b"".join(line.encode() + b"\r\n" for line in lines)
        for line in lines:
            self.t.add("S", self.tls, line)
        self.sock.sendall(data)

    def readline(self):
        """One line from the client, or None at EOF / timeout / reset."""
        while b"\n" not in self.rbuf:
            try:
                chunk = self.sock.recv(4096)
            except (OSError, ssl.SSLError):
                return None
            if not chunk:
                return None
            self.rbuf += chunk
        line, self.rbuf = self.rbuf.split(b"\n", 1)
        self.t.add("C", self.tls, line)
        return line.decode("utf-8", "replace").rstrip("\r")

    def wait_close(self):
        """Read (and record) until the client closes."""
        while self.readline() is not None:
            pass

    def start_tls(self, ctx):
        self.sock = ctx.wrap_socket(self.sock, server_side=True)
        self.tls = True


def script_silent(conn):
    """Accept and never greet."""
    try:
        while conn.sock.recv(4096):
            pass
    except OSError:
        pass


def script_greet_421(conn):
    conn.send("421 4.3.2 Service not available")
    line = conn.readline()
    if line is not None and line.upper().startswith("QUIT"):
        conn.send("221 2.0.0 Bye")


def answer_commands(conn, greeting, ehlo, replies=None, other=None):
    """The command loop of a scripted server: send greeting, then answer
    each command line until the client closes.  A verb in replies is
    answered with its value; otherwise EHLO and HELO with the lines ehlo,
    QUIT with 221 (and the session ends), any other verb with other.  A
    value is a line, a tuple of lines, None (no answer) or a function of
    (conn, line) that answers itself and returns True to end the session.
    """
    replies = replies or {}
    conn.send(greeting)
    while True:
        line = conn.readline()
        if line is None:
            return
        verb = line.split(" ", 1)[0].upper()
        if verb in replies:
            answer = replies[verb]
        elif verb in ("EHLO", "HELO"):
            answer = tuple(ehlo)
        elif verb == "QUIT":
            conn.send("221 2.0.0 Bye")
            return
        else:
            answer = other
        if callable(answer):
            if answer(conn, line):
                return
        elif isinstance(answer, str):
            conn.send(answer)
        elif answer is not None:
            conn.send(*answer)


def read_data(conn):
    """The lines of a message after 354, up to the lone dot (not kept), or
    None if the client went away first."""
    lines = []
    while True:
        line = conn.readline()
        if line is None:
            return None
        if line == ".":
            return lines
        lines.append(line)


def make_script_starttls_inject(ctx):
    """STARTTLS offered; the 220 reply carries an extra line in the same
    segment (CVE-2011-0411 style injection).  The client must not go on."""

    def starttls(conn, line):
        conn.send("220 2.0.0 Ready to start TLS",
                  "250-injected-line-before-handshake")
        try:
            conn.start_tls(ctx)
        except (OSError, ssl.SSLError):
            return True
        return False

    def script(conn):
        answer_commands(conn, "220 localhost ESMTP scripted",
                        ("250-localhost", "250-PIPELINING", "250 STARTTLS"),
                        {"STARTTLS": starttls}, "250 2.0.0 Ok")
    return script


class ScriptedPeer:
    """A TCP server on 127.0.0.1 that runs script(conn) per connection."""

    def __init__(self, script):
        self.script = script
        self.transcripts = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.threads = []
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            if self.stopping:
                s.close()
                return
            t = Transcript()
            self.transcripts.append(t)
            conn = Conn(s, t)
            self.conns.append(conn)
            th = threading.Thread(target=self._run, args=(conn,), daemon=True)
            self.threads.append(th)
            th.start()

    def _run(self, conn):
        try:
            self.script(conn)
        except (OSError, ssl.SSLError):
            pass
        finally:
            try:
                conn.sock.close()
            except OSError:
                pass

    def sessions(self):
        return list(self.transcripts)

    def stop(self):
        self.stopping = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for conn in self.conns:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.thread.join(5)
        for th in self.threads:
            th.join(5)


# --------------------------------------------------------------------------
# Ports that refuse or never answer

def refused_port():
    """A port on 127.0.0.1 where nothing listens (connection refused)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Blackhole:
    """A listening socket whose accept queue is full and never drained.

    Linux keeps backlog+1 finished connections for listen(0); once one is
    queued, further SYNs are dropped (tcp_abort_on_overflow = 0, the
    default), so a client's connect() times out, all on loopback.  If a
    kernel answered with RST instead, the test would see "refused"; see
    test_check.py.
    """

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((HOST, 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.fillers = []
        for _ in range(4):
            f = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            f.settimeout(0.3)
            try:
                f.connect((HOST, self.port))
            except OSError:
                f.close()
                break
            self.fillers.append(f)

    def is_full(self):
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.settimeout(0.5)
        try:
            probe.connect((HOST, self.port))
        except socket.timeout:
            return True
        except OSError:
            return False
        finally:
            probe.close()
        return False

    def stop(self):
        for f in self.fillers:
            f.close()
        self.sock.close()


# --------------------------------------------------------------------------
# Outpost profiles

def profile(port, **kw):
    """Profile keys for a peer on 127.0.0.1:port (defaults: plain, no AUTH,
    a sender address, a short timeout)."""
    p = {"host": "127.0.0.1", "port": port, "security": "none",
         "auth": False, "from": "sender@example.com", "timeout": "10s"}
    p.update(kw)
    return p


# --------------------------------------------------------------------------
# Postfix smtp-sink

SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"


class SmtpSink:
    """Postfix's smtp-sink on 127.0.0.1, each message dumped to a file in
    dump_dir (smtp-sink's own headers first, then the message)."""

    def __init__(self, dump_dir, extra_args=()):
        self.dump_dir = pathlib.Path(dump_dir)
        self.dump_dir.mkdir(parents=True, exist_ok=True)
        args = [SMTP_SINK, "-h", "localhost"]
        if os.geteuid() == 0:
            # As root, smtp-sink insists on a user to switch to; staying
            # root lets it write dumps into pytest's private (0700)
            # directories.  It only listens on 127.0.0.1.
            args += ["-u", "root"]
        args += ["-d", str(self.dump_dir) + "/%H%M%S."]
        args += list(extra_args)
        last = None
        for _ in range(5):
            self.port = refused_port()
            self.proc = subprocess.Popen(
                args + ["%s:%d" % (HOST, self.port), "16"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT)
            if self._wait_listening():
                return
            last = self._reap()
        raise RuntimeError("smtp-sink did not start: %r" % (last,))

    def _wait_listening(self):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection((HOST, self.port), 0.5) as s:
                    s.settimeout(2)
                    greeting = s.recv(512)
                    s.sendall(b"QUIT\r\n")
                    s.recv(512)
                    return greeting.startswith(b"220")
            except OSError:
                time.sleep(0.05)
        return False

    def _reap(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            out, _ = self.proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        return out

    def messages(self):
        """Dumped messages as (smtp-sink headers dict-list, message bytes).

        smtp-sink writes X-Client-Addr, X-Client-Proto, X-Helo-Args,
        X-Mail-Args, X-Rcpt-Args and a three-line Received: header, then
        the message as received."""
        out = []
        for p in sorted(self.dump_dir.iterdir()):
            if not p.is_file():
                continue
            data = p.read_bytes()
            out.append(_split_sink_dump(data))
        return out

    def stop(self):
        if self.proc is not None:
            self._reap()
            self.proc = None


def _split_sink_dump(data):
    """(list of (name, value) smtp-sink records, message bytes)."""
    lines = data.split(b"\n")
    records = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith(b"Received:"):
            # "Received: from ...\n\tby ...;\n\tdate\n": skip its
            # continuation lines; the message starts after them.
            i += 1
            while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
                i += 1
            break
        name, _, value = line.partition(b":")
        records.append((name.decode(), value.strip().decode()))
        i += 1
    return records, b"\n".join(lines[i:])

