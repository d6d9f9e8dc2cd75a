"""Composed messages re-parsed by an independent parser.

Drives src/mail/mime.c through the test-only program
build/asan/tools/mime_compose (tests/tools/mime_compose.c) and reads what
it writes with Python's email package (policy.default, which records
every defect it finds).  Checks the MIME structure, that text, HTML,
attachments, file names, subjects and display names decode to exactly
what went in, the line rules (CRLF only, at most 998 characters, headers
folded at 78), and that CR/LF in header input is refused.

Run: /usr/bin/python3 -m pytest tests/integration/test_mime_reparse.py
"""
import base64
import email
import email.policy
import os
import random
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "build" / "asan" / "tools" / "mime_compose"
EX_DATAERR = 65


@pytest.fixture(scope="session", autouse=True)
def tool():
    # Built by `make asan`; build it here when the test runs alone.
    if not TOOL.exists():
        subprocess.run(["make", "-s", str(TOOL.relative_to(ROOT))], cwd=ROOT,
                       check=True)
    return TOOL


def field(value):
    if value is None:
        return "-"
    if isinstance(value, str):
        value = value.encode("utf-8")
    return "b:" + base64.b64encode(value).decode("ascii")


def compose(frm=("sender@example.com", None), to=(), cc=(), subject=None,
            text=None, html=None, attachments=(), headers=(), domain=None,
            date=1795000000):
    """Run the composer; returns (exit code, stdout bytes, stderr text)."""
    lines = ["from %s %s" % (field(frm[0]), field(frm[1]))]
    lines += ["to %s %s" % (field(a), field(n)) for a, n in to]
    lines += ["cc %s %s" % (field(a), field(n)) for a, n in cc]
    if subject is not None:
        lines.append("subject " + field(subject))
    if text is not None:
        lines.append("text " + field(text))
    if html is not None:
        lines.append("html " + field(html))
    for name, ctype, data in attachments:
        lines.append("att %s %s %s" % (field(name), field(ctype), field(data)))
    for name, value in headers:
        lines.append("header %s %s" % (field(name), field(value)))
    if domain is not None:
        lines.append("domain " + field(domain))
    lines.append("date %d" % date)
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:exitcode=86")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1:exitcode=87")
    r = subprocess.run([str(TOOL)], input="\n".join(lines).encode(),
                       capture_output=True, env=env, timeout=60)
    return r.returncode, r.stdout, r.stderr.decode("utf-8", "replace")


def ok(**kw):
    rc, out, err = compose(**kw)
    assert rc == 0, err
    check_lines(out)
    msg = email.message_from_bytes(out, policy=email.policy.default)
    for part in msg.walk():
        assert not part.defects, (part.defects, out[:2000])
    return msg, out


def check_lines(raw):
    """CRLF only, every line at most 998 characters, CRLF at the end."""
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    assert raw.endswith(b"\r\n")
    for line in raw.split(b"\r\n"):
        assert len(line) <= 998


def header_lines(raw, name):
    """The physical lines of the first field called name."""
    lines, on = [], False
    for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            if on:
                lines.append(line)
            continue
        if on:
            break
        on = line.lower().startswith(name.lower().encode() + b":")
        if on:
            lines.append(line)
    return lines


def nl(s):
    return s.replace("\r\n", "\n")


def body_text(part):
    return nl(part.get_content())


def test_text_only_ascii_is_7bit():
    msg, raw = ok(to=[("a@example.org", None)], subject="Hello",
                  text="line one\nline two\n")
    assert msg.get_content_type() == "text/plain"
    assert msg["Content-Transfer-Encoding"] == "7bit"
    assert msg.get_content_charset() == "utf-8"
    assert body_text(msg) == "line one\nline two\n"
    assert msg["MIME-Version"] == "1.0"
    assert re.fullmatch(r"<[0-9a-f]{32}@example\.com>", msg["Message-ID"])
    assert msg["Date"].datetime.timestamp() == 1795000000
    assert str(msg["Subject"]) == "Hello"
    assert [a.addr_spec for a in msg["To"].addresses] == ["a@example.org"]


def test_text_non_ascii_is_quoted_printable_and_exact():
    text = "Grüße, naïve café — ✓ 日本語\nsecond line with trailing space \n=equals= and tab\t"
    msg, raw = ok(to=[("a@example.org", None)], text=text)
    assert msg["Content-Transfer-Encoding"] == "quoted-printable"
    assert body_text(msg) == text


def test_long_ascii_line_is_quoted_printable():
    text = "x" * 1500 + "\nshort\n"
    msg, _ = ok(text=text)
    assert msg["Content-Transfer-Encoding"] == "quoted-printable"
    assert body_text(msg) == text


def test_bare_cr_survives_in_quoted_printable():
    text = "a\rb\r\nc"
    msg, _ = ok(text=text)
    assert msg["Content-Transfer-Encoding"] == "quoted-printable"
    assert msg.get_content() in ("a\rb\r\nc", "a\rb\nc")


def test_html_only():
    html = "<html><body><p>Hi ☃</p></body></html>"
    msg, _ = ok(html=html)
    assert msg.get_content_type() == "text/html"
    assert msg.get_content() == html


def test_text_and_html_is_alternative():
    text, html = "plain ✓\n", "<p>rich ✓</p>\n"
    msg, _ = ok(to=[("a@example.org", None)], text=text, html=html)
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert body_text(parts[0]) == text
    assert body_text(parts[1]) == html


def test_text_without_final_newline_is_exact_in_multipart():
    msg, _ = ok(text="no newline", html="<b>no newline</b>")
    parts = list(msg.iter_parts())
    assert parts[0].get_content() == "no newline"
    assert parts[1].get_content() == "<b>no newline</b>"


def test_attachments_mixed_structure_and_bytes():
    rnd = random.Random(5321)
    pdf = bytes(rnd.randrange(256) for _ in range(10000))
    png = b"\x89PNG\r\n\x1a\n" + bytes(rnd.randrange(256) for _ in range(3000))
    csv = "name,amount\nJörg,12\n".encode()
    blob = bytes(range(256)) * 4
    atts = [("report.pdf", None, pdf), ("image.PNG", None, png),
            ("data.csv", None, csv), ("blob", None, blob),
            ("explicit.bin", "application/x-custom; version=2", b"xyz"),
            ("empty.dat", None, b"")]
    msg, raw = ok(to=[("a@example.org", "Alice")], cc=[("c@example.org", None)],
                  subject="Files", text="see attached\n", html="<p>see attached</p>",
                  attachments=atts)
    assert msg.get_content_type() == "multipart/mixed"
    parts = list(msg.iter_parts())
    assert parts[0].get_content_type() == "multipart/alternative"
    inner = list(parts[0].iter_parts())
    assert [p.get_content_type() for p in inner] == ["text/plain", "text/html"]
    assert body_text(inner[0]) == "see attached\n"
    got = parts[1:]
    assert len(got) == len(atts)
    types = ["application/pdf", "image/png", "text/csv",
             "application/octet-stream", "application/x-custom",
             "application/octet-stream"]
    for part, (name, _, data), ctype in zip(got, atts, types):
        assert part.get_content_type() == ctype
        assert part.get_content_disposition() == "attachment"
        assert part.get_filename() == name
        assert part["Content-Transfer-Encoding"] == "base64"
        assert part.get_payload(decode=True) == data
    assert got[2].get_content_charset() == "utf-8"
    assert got[4].get_param("version") == "2"


def test_attachment_only_and_text_only_with_attachment():
    msg, _ = ok(attachments=[("a.txt", None, b"hello\n")])
    assert msg.get_content_type() == "multipart/mixed"
    parts = list(msg.iter_parts())
    assert len(parts) == 1
    assert parts[0].get_content_type() == "text/plain"
    assert parts[0].get_payload(decode=True) == b"hello\n"

    msg, _ = ok(text="body", attachments=[("x.zip", None, b"PK\x03\x04")])
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "application/zip"]
    assert parts[0].get_content() == "body"


def test_non_ascii_filenames_decode():
    names = ["Résumé.pdf", "отчёт за 2026 год — окончательная версия документа.xlsx",
             "日本語のファイル名.txt", "emoji 😀 \"quoted\" name.png",
             "a" * 200 + "é.bin"]
    atts = [(n, None, n.encode() * 3) for n in names]
    msg, raw = ok(text="x", attachments=atts)
    got = list(msg.iter_parts())[1:]
    assert [p.get_filename() for p in got] == names
    for p, (_, _, data) in zip(got, atts):
        assert p.get_payload(decode=True) == data
    # old clients: an RFC 2047 name= on Content-Type as well
    assert b'name="=?UTF-8?' in raw
    assert b"filename*0*=UTF-8''" in raw or b"filename*=UTF-8''" in raw


def test_ascii_filename_with_quote_and_backslash_refused_or_escaped():
    msg, _ = ok(text="x", attachments=[('say "hi".txt', None, b"hi")])
    assert list(msg.iter_parts())[1].get_filename() == 'say "hi".txt'
    rc, out, err = compose(text="x", attachments=[("dir/evil.txt", None, b"x")])
    assert rc == EX_DATAERR and out == b""
    rc, out, err = compose(text="x", attachments=[("evil\r\n.txt", None, b"x")])
    assert rc == EX_DATAERR and out == b""


@pytest.mark.parametrize("subject", [
    "Plain subject",
    "Grüße aus Köln",
    "日本語の件名です。これは長い件名で、折り返しとエンコードされた単語の分割を試験します。" * 3,
    ("A very long ASCII subject " * 20).strip(),
    ("Mixed ✓ " * 60).strip(),
    "contains =?UTF-8?Q?not_a_word?= literally",
    "tabs\tand  double  spaces",
    "x" * 1200,
    "😀" * 100,
])
def test_subject_round_trip(subject):
    msg, raw = ok(to=[("a@example.org", None)], subject=subject, text="t")
    assert str(msg["Subject"]) == subject
    lines = header_lines(raw, "Subject")
    for word in re.findall(r"=\?[^?]+\?[QB]\?[^?]*\?=", b" ".join(lines).decode("ascii")):
        assert len(word) <= 75
    if any(w.startswith(b"=?") for l in lines for w in l.split()):
        assert max(len(l) for l in lines) <= 78   # encoded: always foldable
    elif max(len(w) for w in subject.split()) < 60:
        assert max(len(l) for l in lines) <= 78   # plain with fold points


@pytest.mark.parametrize("name", [
    "Alice", "Alice Smith", "Smith, Alice", "O'Brien (Ops)", 'Say "hi"',
    "Jörg Müller", "Зоя Космодемьянская", "李小龙", "a.b", "back\\slash",
    "=?UTF-8?Q?fake?=", "Very Long Display Name " * 8,
])
def test_display_names_round_trip(name):
    msg, _ = ok(frm=("sender@example.com", name),
                to=[("a@example.org", name), ("b@example.org", None)],
                cc=[("c@example.org", name)], text="t")
    f = msg["From"].addresses[0]
    assert (f.display_name, f.addr_spec) == (name, "sender@example.com")
    to = msg["To"].addresses
    assert [(a.display_name, a.addr_spec) for a in to] == \
        [(name, "a@example.org"), ("", "b@example.org")]
    assert msg["Cc"].addresses[0].display_name == name


def test_subject_surrounding_whitespace_is_not_part_of_it():
    msg, _ = ok(subject="  padded ✓\t ", text="t")
    assert str(msg["Subject"]) == "padded ✓"


def test_many_recipients_fold():
    to = [("user%d@example.org" % i, "User %d" % i) for i in range(60)]
    msg, raw = ok(to=to, text="t")
    assert [a.addr_spec for a in msg["To"].addresses] == [a for a, _ in to]
    lines = header_lines(raw, "To")
    assert len(lines) > 10
    assert max(len(l) for l in lines) <= 78


def test_no_recipients_in_headers_is_undisclosed():
    msg, raw = ok(text="t")
    assert b"To: undisclosed-recipients:;\r\n" in raw
    assert msg["To"].addresses == ()


def test_utf8_address_flags_smtputf8():
    rc, out, err = compose(to=[("jörg@münchen.example", None)], text="t")
    assert rc == 0, err
    assert "smtputf8=1" in err
    rc, out, err = compose(to=[("a@example.org", None)], text="t")
    assert "smtputf8=0" in err


@pytest.mark.parametrize("subject", [
    "Hello\r\nBcc: victim@example.org",
    "Hello\nBcc: victim@example.org",
    "Hello\rBcc: victim@example.org",
    "bell\x07",
])
def test_subject_with_line_break_is_refused(subject):
    rc, out, err = compose(to=[("a@example.org", None)], subject=subject, text="t")
    assert rc == EX_DATAERR, err
    assert out == b""
    assert "subject" in err


@pytest.mark.parametrize("kw", [
    dict(frm=("sender@example.com", "Name\r\nBcc: victim@example.org")),
    dict(to=[("a@example.org\r\nBcc: victim@example.org", None)]),
    dict(to=[("a@example.org", "X\nBcc: v@example.org")]),
    dict(cc=[("c@example.org>\r\nBcc: v@example.org", None)]),
    dict(headers=[("X-Tag", "v\r\nBcc: victim@example.org")]),
    dict(headers=[("X-Tag\r\nBcc", "victim@example.org")]),
    dict(headers=[("X Tag", "v")]),
    dict(frm=("u%relay@example.com", None)),
    dict(to=[("a@b@example.org", None)]),
])
def test_header_injection_and_bad_input_refused(kw):
    kw.setdefault("text", "t")
    rc, out, err = compose(**kw)
    assert rc == EX_DATAERR, err
    assert out == b""


@pytest.mark.parametrize("name", ["From", "to", "CC", "Bcc", "Subject", "Date",
                                  "Message-ID", "MIME-Version", "Content-Type",
                                  "content-transfer-encoding"])
def test_structural_extra_headers_refused(name):
    rc, out, err = compose(text="t", headers=[(name, "x@example.org")])
    assert rc == EX_DATAERR, err
    assert out == b""


def test_extra_headers_allowed_and_encoded():
    hdrs = [("Reply-To", "support@example.com"),
            ("List-Unsubscribe", "<mailto:unsub@example.com>, <https://example.com/u?id=1>"),
            ("X-Campaign", "Frühling ✓"),
            ("X-Long", "word " * 100)]
    msg, raw = ok(text="t", headers=hdrs)
    assert max(len(l) for l in header_lines(raw, "X-Long")) <= 78
    assert msg["Reply-To"].addresses[0].addr_spec == "support@example.com"
    assert str(msg["List-Unsubscribe"]) == hdrs[1][1]
    assert str(msg["X-Campaign"]) == "Frühling ✓"
    assert str(msg["X-Long"]) == ("word " * 100).strip()


def test_message_id_domain_and_uniqueness():
    ids = set()
    for _ in range(5):
        msg, _ = ok(text="t", domain="mail.example.net")
        ids.add(msg["Message-ID"])
        assert msg["Message-ID"].endswith("@mail.example.net>")
    assert len(ids) == 5
    rc, out, err = compose(text="t", domain="bad domain")
    assert rc == EX_DATAERR


def test_bcc_never_in_headers():
    # the composer has no Bcc input at all; a Bcc extra header is refused
    msg, raw = ok(to=[("a@example.org", None)], text="t")
    assert b"bcc" not in raw.lower()


def test_boundaries_do_not_occur_in_content():
    # content that looks like our boundaries, in a 7bit part
    text = "--=_outpost_000000000000000000000000\n--=_outpost_\n"
    msg, raw = ok(text=text, html="<p>x</p>", attachments=[("t.txt", None, text.encode())])
    parts = list(msg.iter_parts())
    assert body_text(list(parts[0].iter_parts())[0]) == text
    assert parts[1].get_payload(decode=True) == text.encode()


def test_random_bodies_round_trip():
    rnd = random.Random(2045)
    alphabet = "abc xyz=\t.-\n\r\nÄé✓😀" + "".join(chr(c) for c in range(0x20, 0x7f))
    for _ in range(30):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 3000)))
        data = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 2000)))
        msg, _ = ok(text=text, html="<p>" + text + "</p>",
                    attachments=[("r.bin", None, data)])
        parts = list(msg.iter_parts())
        alt = list(parts[0].iter_parts())
        assert nl(alt[0].get_content()) == nl(text)
        assert nl(alt[1].get_content()) == nl("<p>" + text + "</p>")
        assert parts[1].get_payload(decode=True) == data
