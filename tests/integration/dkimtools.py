"""DKIM helpers for the tests: a local DNS server and two independent
verifiers.

- DnsServer: a tiny authoritative server (python3-dnslib) on 127.0.0.1 and a
  free port, UDP and TCP, answering TXT queries from a dict; nothing else
  is looked up anywhere.  Outpost is pointed at it with the test-only
  environment variable OUTPOST_DNS_SERVER=127.0.0.1:PORT.
- verify_python(): Debian's python3-dkim (dkimpy; python3-nacl for
  Ed25519), each signature of a message checked by index, keys taken from
  the same dict through its dnsfunc.
- verify_perl(): Perl's Mail::DKIM (libmail-dkim-perl; RSA only in
  Debian 12's version), querying the DnsServer through Net::DNS.
- record(): the TXT value out of `outpost dkim keygen`'s output.
"""

import re
import subprocess
import threading

import dkim
from dnslib import QTYPE, RR, TXT
from dnslib.server import BaseResolver, DNSServer

HOST = "127.0.0.1"


def record(keygen_out):
    """The value line "v=DKIM1; k=...; p=..." printed by keygen."""
    m = re.search(r"^  value: (v=DKIM1;.*)$", keygen_out, re.M)
    assert m, keygen_out
    return m.group(1)


def txt_strings(value):
    """The value as DNS character-strings of at most 255 bytes."""
    b = value.encode()
    return [b[i:i + 255] for i in range(0, len(b), 255)] or [b""]


class _Resolver(BaseResolver):
    def __init__(self, records):
        self.records = records

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        if request.q.qtype == QTYPE.TXT and name in self.records:
            reply.add_answer(RR(request.q.qname, QTYPE.TXT, ttl=60,
                                rdata=TXT(txt_strings(self.records[name]))))
        elif name not in self.records:
            reply.header.rcode = 3      # NXDOMAIN
        return reply


class _Quiet:
    def __getattr__(self, name):
        return lambda *a, **k: None


class DnsServer:
    """records: {"s1._domainkey.example.org": "v=DKIM1; ..."}; changes to
    the dict are seen by later queries."""

    def __init__(self, records=None):
        self.records = records if records is not None else {}
        resolver = _Resolver(self.records)
        for _ in range(50):     # a UDP port whose TCP twin is free too
            self.udp = DNSServer(resolver, address=HOST, port=0,
                                 logger=_Quiet())
            self.port = self.udp.server.server_address[1]
            try:
                self.tcp = DNSServer(resolver, address=HOST, port=self.port,
                                     tcp=True, logger=_Quiet())
                break
            except OSError:
                self.udp.server.server_close()
        else:
            raise AssertionError("no free port pair for the DNS server")
        self.udp.start_thread()
        self.tcp.start_thread()

    @property
    def env(self):
        return "%s:%d" % (HOST, self.port)

    def stop(self):
        self.udp.stop()
        self.tcp.stop()


def signatures(raw):
    """The DKIM-Signature fields of a message (unfolded text)."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    out = []
    for m in re.finditer(rb"^DKIM-Signature:((?:.*\r\n)(?:[ \t].*\r\n)*)",
                         head + b"\r\n", re.M | re.I):
        out.append(re.sub(rb"\r\n", b"", m.group(1)).decode())
    return out


def tag(sig, name):
    m = re.search(r"(?:^|;)\s*%s=([^;]*)" % name, sig)
    return re.sub(r"\s+", "", m.group(1)) if m else None


def verify_python(raw, records):
    """[(a=, d=, ok)] for each signature, verified by dkimpy."""
    def dnsfunc(name, timeout=5):
        n = name.decode() if isinstance(name, bytes) else name
        v = records.get(n.rstrip(".").lower())
        return v.encode() if v is not None else None

    d = dkim.DKIM(raw)
    out = []
    for i, sig in enumerate(signatures(raw)):
        try:
            ok = d.verify(idx=i, dnsfunc=dnsfunc)
        except dkim.DKIMException:
            ok = False          # a body hash mismatch is raised
        out.append((tag(sig, "a"), tag(sig, "d"), bool(ok)))
    return out


PERL = r'''
use strict; use warnings;
use Mail::DKIM::Verifier; use Net::DNS;
my $r = Net::DNS::Resolver->new(nameservers => ['127.0.0.1'], port => $ARGV[0],
    recurse => 0, tcp_timeout => 5, udp_timeout => 5, retry => 1);
Mail::DKIM::DNS::resolver($r);
binmode STDIN;
my $v = Mail::DKIM::Verifier->new();
local $/; my $msg = <STDIN>;
$v->PRINT($msg); $v->CLOSE;
foreach my $s ($v->signatures) {
    print join(" ", $s->algorithm, $s->domain, $s->result), "\n";
}
'''

_perl_lock = threading.Lock()


def verify_perl(raw, dns):
    """[(a=, d=, result)] from Mail::DKIM ("pass", "fail", "invalid" ...)."""
    with _perl_lock:
        p = subprocess.run(["perl", "-e", PERL, str(dns.port)], input=raw,
                           capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return [tuple(line.split(" ", 2)) for line in
            p.stdout.decode().splitlines()]
