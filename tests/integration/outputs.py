"""outputs - every command's output kept per test, for the session's
secret check in conftest.py (no token or secret may appear in any of it).

A module of its own, not a conftest.py function: tests/adversarial has a
conftest.py too, and `from conftest import ...` in a test file finds
whichever of the two came first on sys.path.
"""
OUTPUT_LOG = "outpost-output.log"      # every command's output, per test


def record_output(tmp_path, what, text):
    """Keep a command's output for the session's secret check."""
    with open(tmp_path / OUTPUT_LOG, "a", errors="replace") as f:
        f.write("$ %s\n%s\n" % (what, text))
