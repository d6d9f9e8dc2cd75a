"""The web page in a real browser: runs tests/browser/run.mjs (Debian's
Chromium driven by playwright-core) against `outpost serve` and an aiosmtpd
peer with STARTTLS and AUTH.  See tests/browser/run.mjs for the steps.

Needs the packages of `scripts/install-deps browser` (chromium, nodejs,
npm); playwright-core itself is installed here from the committed
package-lock.json (`npm ci`) when tests/browser/node_modules is missing.
"""

import os
import pathlib
import re
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BROWSER = ROOT / "tests" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def test_web_page_in_chromium():
    node = shutil.which("node")
    npm = shutil.which("npm")
    if not os.access(CHROMIUM, os.X_OK) or node is None or npm is None:
        pytest.skip("the browser tests need Chromium, Node.js and npm: "
                    "run scripts/install-deps browser")
    if not (BROWSER / "node_modules" / "playwright-core").is_dir():
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=BROWSER,
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, "npm ci failed:\n" + r.stdout + r.stderr
    env = dict(os.environ)
    env.setdefault("OUTPOST_BIN", str(ROOT / "build/asan/outpost"))
    env["CHROMIUM"] = CHROMIUM
    r = subprocess.run([node, str(BROWSER / "run.mjs")], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=900)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    m = re.search(r"^browser: (\d+) passed, 0 failed$", out, re.M)
    assert m and int(m.group(1)) >= 19, out
