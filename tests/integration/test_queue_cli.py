"""`outpost queue list | show | retry | delete`: a round trip over messages
in every state that `send --now` against an aiosmtpd peer can produce, and
the exit codes for unknown ids and bad options."""

import json
import re

import pytest

from peers import profile

ID_RE = re.compile(r"^[0-9a-z]{16}$")


def send(outpost, conf, *args, now=False, rc=0):
    res = outpost.run("send", "--from", "app@example.com", "--subject",
                      "queue test", *args, *(["--now"] if now else []),
                      conf=conf)
    assert res.rc == rc, res
    mid = res.out.splitlines()[0]
    assert ID_RE.match(mid), res
    return mid


def show_json(outpost, conf, mid):
    res = outpost.run("queue", "show", mid, "--json", conf=conf)
    assert res.rc == 0, res
    return json.loads(res.out)


def list_json(outpost, conf, *args):
    res = outpost.run("queue", "list", "--json", *args, conf=conf)
    assert res.rc == 0, res
    return json.loads(res.out)


@pytest.fixture
def world(outpost, peers):
    """A peer refusing bad@example.net, and a configuration using it."""
    peer = peers.aiosmtpd("plain", reject_rcpts=["bad@example.net"],
                          queue_id="Q1")
    conf = outpost.conf([("primary", profile(peer.port))])
    return peer, conf


def test_list_show_retry_delete_round_trip(outpost, world):
    peer, conf = world
    queued = send(outpost, conf, "--to", "later@example.net")
    sent = send(outpost, conf, "--to", "ok@example.net", now=True)
    failed = send(outpost, conf, "--to", "bad@example.net", now=True, rc=65)

    # list: a table, newest first, with a summary line
    res = outpost.run("queue", "list", conf=conf)
    assert res.rc == 0, res
    lines = res.out.splitlines()
    assert lines[0].split()[:6] == ["ID", "STATE", "CREATED", "TRIES",
                                    "RCPTS", "SENDER"]
    rows = [line.split() for line in lines[1:4]]
    assert [r[0] for r in rows] == [failed, sent, queued]
    assert [r[1] for r in rows] == ["failed", "sent", "queued"]
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", r[2])
               for r in rows)
    assert [r[3] for r in rows] == ["1", "1", "0"]
    assert all(r[5] == "app@example.com" for r in rows)
    assert "5.1.1 <bad@example.net>" in lines[1]
    assert lines[4].startswith("3 messages shown; in the queue:")
    assert "1 queued" in lines[4] and "1 sent" in lines[4] and \
        "1 failed" in lines[4]

    # --status filters; --limit bounds
    res = outpost.run("queue", "list", "--status", "failed", conf=conf)
    assert res.rc == 0, res
    assert failed in res.out and sent not in res.out
    res = outpost.run("queue", "list", "--status=held", conf=conf)
    assert res.rc == 0, res
    assert "no message is held" in res.out
    j = list_json(outpost, conf, "--limit", "1")
    assert [m["id"] for m in j["messages"]] == [failed]
    assert j["more"] is True
    assert j["counts"]["sent"] == 1 and j["counts"]["failed"] == 1

    # show: everything about the failed one
    res = outpost.run("queue", "show", failed, conf=conf)
    assert res.rc == 0, res
    out = res.out
    assert out.startswith("message %s\n" % failed)
    for label, value in (("state:", "failed"), ("from:", "app@example.com"),
                         ("subject:", "queue test"), ("attempts:", "1"),
                         ("profile used:", "primary")):
        assert re.search(r"^  %s +%s" % (re.escape(label), re.escape(value)),
                         out, re.M), (label, out)
    assert re.search(r"^  last error: +.*5\.1\.1 <bad@example\.net>: "
                     r"Recipient address rejected", out, re.M), out
    assert "  bad@example.net\n    state: failed, attempts: 1" in out
    assert "    reply: 550 5.1.1 <bad@example.net>: Recipient address " \
           "rejected" in out
    assert re.search(r"^events \(\d+\):\n  \d{4}-.*accepted", out, re.M), out
    j = show_json(outpost, conf, failed)
    assert j["state"] == "failed"
    assert j["recipients"][0]["code"] == 550
    assert j["recipients"][0]["enhanced"] == "5.1.1"
    assert [e["kind"] for e in j["events"]][0] == "accepted"

    # retry: the failed message is queued again, its recipient pending
    res = outpost.run("queue", "retry", failed, conf=conf)
    assert res.rc == 0, res
    assert "queued again" in res.out
    j = show_json(outpost, conf, failed)
    assert j["state"] == "queued"
    assert j["recipients"][0]["state"] == "pending"
    assert "retry" in [e["kind"] for e in j["events"]]
    # nothing to retry in a message delivered to everyone
    res = outpost.run("queue", "retry", sent, conf=conf)
    assert res.rc == 65, res
    assert "retry" in res.err

    # delete, then it is gone
    res = outpost.run("queue", "delete", queued, conf=conf)
    assert res.rc == 0, res
    assert res.out == "message %s deleted\n" % queued
    for cmd in ("show", "retry", "delete"):
        res = outpost.run("queue", cmd, queued, conf=conf)
        assert res.rc == 66, res
        assert "no message with id %s" % queued in res.err
    assert queued not in outpost.run("queue", "list", conf=conf).out
    assert len(peer.messages) == 1


def test_deferred_message_shows_next_attempt(outpost, peers):
    conf = outpost.conf([("primary", profile(peers.refused_port()))])
    mid = send(outpost, conf, "--to", "x@example.net", now=True, rc=69)
    res = outpost.run("queue", "show", mid, conf=conf)
    assert res.rc == 0, res
    assert re.search(r"^  state: +deferred$", res.out, re.M), res
    assert re.search(r"^  next attempt: +\d{4}-", res.out, re.M), res
    assert "    state: deferred, attempts: 1" in res.out
    # the list cuts the error to 60 columns when stdout is not a terminal
    res = outpost.run("queue", "list", conf=conf)
    row = res.out.splitlines()[1]
    error = row.split("app@example.com", 1)[1].strip()
    assert 0 < len(error) <= 60, row
    j = show_json(outpost, conf, mid)
    assert j["next_attempt"] is not None and j["last_error"]


def test_usage_and_unknown_ids(outpost):
    conf = outpost.conf([("primary", profile(1))])
    for args, code, text in (
            ([], 64, "usage: outpost queue"),
            (["frobnicate"], 64, "unknown subcommand"),
            (["list", "--status", "bogus"], 64,
             "queued, sending, deferred, sent, failed, held"),
            (["list", "--limit", "0"], 64, "--limit"),
            (["list", "--limit", "x"], 64, "--limit"),
            (["list", "--status"], 64, "--status"),
            (["list", "extra"], 64, "unexpected argument"),
            (["show"], 64, "needs a message id"),
            (["retry", "a", "b"], 64, "unexpected argument"),
            (["delete", "--json", "0000000000000000"], 64, "unexpected"),
            (["show", "0000000000000000"], 66, "no message with id"),
            (["show", "not-an-id"], 66, "no message with id not-an-id"),
            (["retry", "bbbbbbbbbbbbbbbb"], 66, "no message with id"),
            (["delete", "bbbbbbbbbbbbbbbb"], 66, "no message with id")):
        res = outpost.run("queue", *args, conf=conf)
        assert res.rc == code, (args, res)
        assert text in res.err, (args, res)
    res = outpost.run("queue", "--help")
    assert res.rc == 0 and "queue list" in res.out
    res = outpost.run("queue", "list", conf=conf)
    assert res.rc == 0, res
    assert "the queue is empty" in res.out


def test_control_characters_never_reach_the_terminal(outpost, world):
    peer, conf = world
    # they cannot enter through send ...
    res = outpost.run("send", "--from", "app@example.com", "--to",
                      "ok@example.net", "--subject", "x\x1b[2J", conf=conf)
    assert res.rc == 65, res
    # ... and a Subject handed to sendmail as it is is shown without them
    res = outpost.run("sendmail", "ok@example.net", conf=conf,
                      stdin="Subject: a\x1b]0;owned\x07b\x1b[2J\n\nbody\n")
    assert res.rc == 0, res
    mid = list_json(outpost, conf)["messages"][0]["id"]
    out = outpost.run("queue", "show", mid, conf=conf).out
    assert re.search(r"^  subject: +a\?\]0;owned\?b\?\[2J$", out, re.M), out
    assert "\x1b" not in out and "\x07" not in out


def test_retry_all_and_by_status(outpost, peers):
    """Issue 10 #15: `queue retry --all` and `--status S` retry in bulk:
    every deferred (or every queued, deferred, failed and held) message is
    queued again, due now, its failed and deferred recipients pending;
    sent ones and other states are left alone."""
    peer = peers.aiosmtpd("plain", reject_rcpts=["bad@example.net"])
    dead = outpost.conf([("primary", profile(peers.refused_port()))],
                        server={"retry": "1h"})
    live = outpost.conf([("primary", profile(peer.port))],
                        server={"retry": "1h"})
    d1 = send(outpost, dead, "--to", "x@example.net", now=True, rc=69)
    d2 = send(outpost, dead, "--to", "y@example.net", now=True, rc=69)
    failed = send(outpost, live, "--to", "bad@example.net", now=True, rc=65)
    sent = send(outpost, live, "--to", "ok@example.net", now=True)
    for mid, st in ((d1, "deferred"), (d2, "deferred"), (failed, "failed"),
                    (sent, "sent")):
        assert show_json(outpost, dead, mid)["state"] == st

    res = outpost.run("queue", "retry", "--status", "deferred", conf=dead)
    assert res.rc == 0, res
    assert res.out == "2 messages are queued again, due now; the daemon " \
                      "sends them as soon as a profile can\n", res
    for mid in (d1, d2):
        j = show_json(outpost, dead, mid)
        assert j["state"] == "queued", j
        assert j["recipients"][0]["state"] == "pending", j
        assert j["events"][-1]["kind"] == "retry", j
    assert show_json(outpost, dead, failed)["state"] == "failed"

    res = outpost.run("queue", "retry", "--status=deferred", conf=dead)
    assert res.rc == 0, res
    assert res.out == "no deferred message to retry\n", res

    res = outpost.run("queue", "retry", "--all", conf=dead)
    assert res.rc == 0, res
    assert res.out.startswith("3 messages are queued again"), res
    assert show_json(outpost, dead, failed)["state"] == "queued"
    assert show_json(outpost, dead, sent)["state"] == "sent"
    assert [e["kind"] for e in show_json(outpost, dead, sent)["events"]] \
        .count("retry") == 0

    for args, text in ((["--status", "sent"], "queued, deferred, failed or held"),
                       (["--status", "bogus"], "queued, deferred, failed or held"),
                       (["--status"], "needs a state"),
                       (["--all", d1], "not both"),
                       ([], "--all")):
        res = outpost.run("queue", "retry", *args, conf=dead)
        assert res.rc == 64, (args, res)
        assert text in res.err, (args, res)
