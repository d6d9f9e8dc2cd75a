"""Fixtures of Outpost's adversarial tests (issue 6; docs/security.md).

They reuse the integration test infrastructure in tests/integration
(certificates, independent peers, the Daemon class): that directory is put
on sys.path and its conftest is loaded under another module name, so its
fixtures (certs, peers, outpost, daemons: Daemon objects started by a
test, stopped - SIGTERM, exit 0, no sanitizer report - when it ends; one
already gone by then fails the test unless the test ended it on purpose,
Daemon.kill9, Daemon.expect_exit) serve this directory too.

Added here:
- extra_certs (session): certificates the integration set lacks (one for
  "localhost" without an IP SAN).
"""

import importlib.util
import pathlib
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
INTEGRATION = HERE.parent / "integration"
if str(INTEGRATION) not in sys.path:
    sys.path.insert(0, str(INTEGRATION))
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

_spec = importlib.util.spec_from_file_location(
    "outpost_integration_conftest", INTEGRATION / "conftest.py")
_ic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_ic)

# Fixtures shared with tests/integration (pytest finds them by name here).
certs = _ic.certs
peers = _ic.peers
outpost = _ic.outpost
daemons = _ic.daemons
# daemon.py and some integration tests say `import conftest` and get
# whichever of the two conftest.py files Python found first: the
# integration conftest's other names (not its fixtures) are here too.
for _name in dir(_ic):
    _obj = getattr(_ic, _name)
    if (not _name.startswith("_") and _name not in globals()
            and not hasattr(_obj, "_pytestfixturefunction")):
        globals()[_name] = _obj
OUTPOST_BIN = _ic.OUTPOST_BIN

import peers as peers_mod  # noqa: E402  (tests/integration/peers.py)


class ExtraCerts:
    def __init__(self, d, base):
        self.dir = d
        # Signed by the integration CA for DNS:localhost only: no IP SAN,
        # so a profile with host = 127.0.0.1 must refuse it.
        self.dns_only = (d / "dnsonly.pem", d / "dnsonly.key")
        self.ca = base.ca


@pytest.fixture(scope="session")
def extra_certs(certs, tmp_path_factory):
    d = tmp_path_factory.mktemp("extra-certs")
    c = ExtraCerts(d, certs)
    pem, key = c.dns_only
    csr = d / "dnsonly.csr"
    peers_mod._openssl("req", "-new", *peers_mod._newkey_args(key),
                       "-out", str(csr), "-subj", "/CN=localhost",
                       "-addext", "subjectAltName=DNS:localhost", cwd=d)
    peers_mod._openssl("ca", "-batch", "-notext",
                       "-config", str(certs.dir / "ca.cnf"),
                       "-cert", str(certs.ca),
                       "-keyfile", str(certs.dir / "ca.key"),
                       "-in", str(csr), "-out", str(pem), "-days", "825",
                       cwd=certs.dir)
    return c
