"""bench.py - the Outpost benchmark.  Run it through bench/run (or `make
bench`), which installs what it needs and builds build/outpost first;
bench/README.md says what each figure measures and how.

    bench/run [--quick | --smoke] [--runs N] [--only FIGURES] [--keep]

Prints one table (medians over the runs, ratios taken run by run against
Postfix or msmtp measured in the same invocation, each next to its
target) and writes it to bench/results/latest.txt, with every raw figure
in bench/results/latest.json (and to copies named after the start time
and mode, which later runs do not overwrite).  Exit status: 0 when every figure was
measured (whether or not it meets its target), 1 when a figure could not
be measured, 64 on a usage error, 77 when not run as root, 130 when
interrupted.
"""
import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import latency  # noqa: E402
from benchlib import (BenchError, CpuGroup, Outpost, Postfix, Procs, free_port,  # noqa: E402
                      median, raise_nofile, run_measured, sink_count, smtp_sink,
                      smtp_source)

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MODES = {
    # N: messages per throughput run; N1: the single-session runs;
    # held: messages held for the memory figure; idle: idle connections;
    # lat: seconds of steady load at RATE for the latency figure
    "full": dict(runs=3, n=20000, n1=2000, oneshot=20, held=100000, idle=1000, lat=20.0),
    "quick": dict(runs=1, n=5000, n1=1000, oneshot=5, held=20000, idle=1000, lat=5.0),
    "smoke": dict(runs=1, n=300, n1=100, oneshot=3, held=1000, idle=50, lat=1.0),
}
FIGURES = ("submission", "e2e", "oneshot", "memory", "idle", "latency", "dkim", "pg", "webhook")
SESSIONS = 16
MSG_SIZE = 1024              # smtp-source -l: body bytes per message
RATE = 100.0                 # messages/s for the latency figure
FROM = "app@example.com"
TO = "to@example.net"


class WebhookReceiver:
    """An HTTP/1.1 server on loopback that answers every POST 200 at once
    and counts them (the webhook figure's receiver)."""

    def __init__(self):
        import http.server
        import threading
        rec = self
        self.count = 0
        self.lock = threading.Lock()

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with rec.lock:
                    rec.count += 1

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def say(msg):
    print(msg, file=sys.stderr, flush=True)


class Bench:
    """One invocation: its settings, its processes and its results."""

    def __init__(self, args, mode):
        self.args = args
        self.mode = args.mode
        self.p = dict(mode)
        if args.runs:
            self.p["runs"] = args.runs
        self.binary = args.outpost
        self.spawn = os.path.join(TOP, "build", "bench", "spawn")
        self.procs = Procs()
        self.postfixes = []
        self.tmp = tempfile.mkdtemp(prefix="outpost-bench.", dir=args.tmpdir)
        os.chmod(self.tmp, 0o755)
        self.seq = 0
        self.raw = {}            # figure -> list of per-run dicts
        self.errors = {}         # figure -> message
        self.loads = []          # 1-minute load average before each figure
        ncpu = len(os.sched_getaffinity(0))
        # single-session runs: client on one CPU, server on another
        self.client_cpu, self.server_cpu = ("0", "1") if ncpu >= 2 else (None, None)

    # --- helpers -----------------------------------------------------

    def workdir(self, name):
        self.seq += 1
        d = os.path.join(self.tmp, f"{self.seq:02d}-{name}")
        os.makedirs(d)
        return d

    def outpost(self, name, sink_port, held=False, listen=True, server_extra=None):
        return Outpost(self.procs, self.binary, self.workdir(name),
                       free_port() if listen else None, sink_port, held=held,
                       server_extra=server_extra)

    def postfix(self, name, relay_port=None, hold=False):
        pf = Postfix(self.workdir(name), free_port(), relay_port=relay_port, hold=hold)
        self.postfixes.append(pf)
        return pf

    def discard(self, path):
        """Remove a finished run's directory (a queue of 100,000 messages
        is large), unless --keep asked to keep everything."""
        if not self.args.keep:
            shutil.rmtree(path, ignore_errors=True)

    def stop_postfix(self, pf):
        pf.stop()
        if pf in self.postfixes:
            self.postfixes.remove(pf)
        self.discard(pf.root)

    def sink_timeout(self, n):
        return max(60.0, n / 50.0)

    def wait_sink(self, sink, log, n, t0, what):
        """Wait until smtp-sink's counter (-c, written to `log` at every
        final ".") reaches n; return the seconds since t0, then stop the
        sink.  The counter is polled every 5 ms."""
        deadline = t0 + self.sink_timeout(n)
        try:
            while True:
                got = sink_count(log)
                if got >= n:
                    return time.monotonic() - t0
                if sink.poll() is not None:
                    raise BenchError(f"{what}: smtp-sink exited with status {sink.returncode} "
                                     f"after {got} of {n} messages")
                if time.monotonic() > deadline:
                    raise BenchError(f"{what}: the sink had {got} of {n} messages after "
                                     f"{self.sink_timeout(n):.0f}s")
                time.sleep(0.005)
        finally:
            self.procs.stop(sink)

    def cleanup(self):
        for pf in list(self.postfixes):
            try:
                pf.stop()
            except Exception as e:  # noqa: BLE001 - best effort on the way out
                say(f"bench: stopping Postfix under {pf.root}: {e}")
        self.procs.stop_all()
        if self.args.keep:
            say(f"bench: kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # --- figures -----------------------------------------------------

    def fig_submission(self):
        """Acceptance only, both durable, nothing delivered: Outpost with
        its profile disabled (messages committed and held), Postfix with a
        HOLD action (cleanup writes and fsyncs each queue file into the
        hold queue).  16 sessions unpinned; 1 session with the client on
        one CPU and the server on the other."""
        runs = []
        for i in range(self.p["runs"]):
            r = {}
            for sessions, n, pin in ((SESSIONS, self.p["n"], False), (1, self.p["n1"], True)):
                cpus_c = self.client_cpu if pin else None
                cpus_s = self.server_cpu if pin else None
                o = self.outpost(f"submit{sessions}-outpost", free_port(), held=True)
                cg = CpuGroup(f"submit{sessions}-outpost")
                o.start(cpus=cpus_s, cg=cg)
                t = smtp_source(o.port, n, sessions, MSG_SIZE, cpus=cpus_c)
                cpu_o = cg.usage_s()
                o.stop()
                cg.remove()
                self.discard(o.root)
                pf = self.postfix(f"submit{sessions}-postfix", hold=True)
                cg = CpuGroup(f"submit{sessions}-postfix")
                pf.start(cpus=cpus_s, cg=cg)
                tp = smtp_source(pf.port, n, sessions, MSG_SIZE, cpus=cpus_c)
                held = pf.count("hold")
                cpu_p = cg.usage_s()
                self.stop_postfix(pf)
                cg.remove()
                if cpu_o is not None and cpu_p is not None:
                    r[f"outpost_cpu_us_{sessions}"] = cpu_o / n * 1e6
                    r[f"postfix_cpu_us_{sessions}"] = cpu_p / n * 1e6
                if held != n:
                    raise BenchError(f"Postfix held {held} of {n} messages")
                r[f"outpost_{sessions}"] = n / t
                r[f"postfix_{sessions}"] = n / tp
                r[f"ratio_{sessions}"] = tp / t
                say(f"  submission {sessions:2d} session(s), run {i + 1}: "
                    f"Outpost {n / t:7.0f}/s  Postfix {n / tp:7.0f}/s  ratio {tp / t:.2f}")
            runs.append(r)
        self.raw["submission"] = runs

    def fig_e2e(self):
        """smtp-source -> relay -> smtp-sink; the time from the start of
        smtp-source until the sink has all N (its -c counter says so).  The
        loopback limit (smtp-source straight into smtp-sink) is measured
        in the same run."""
        n = self.p["n"]
        runs = []
        for i in range(self.p["runs"]):
            r = {}
            d = self.workdir("limit")
            port = free_port()
            log = os.path.join(d, "sink.log")
            sink = smtp_sink(self.procs, port, log)
            t0 = time.monotonic()
            smtp_source(port, n, SESSIONS, MSG_SIZE)
            r["limit"] = n / self.wait_sink(sink, log, n, t0, "limit")

            sport = free_port()
            log = os.path.join(d, "sink-outpost.log")
            o = self.outpost("e2e-outpost", sport)
            sink = smtp_sink(self.procs, sport, log)
            cg = CpuGroup("e2e-outpost")
            o.start(cg=cg)
            t0 = time.monotonic()
            ts = smtp_source(o.port, n, SESSIONS, MSG_SIZE)
            t = self.wait_sink(sink, log, n, t0, "end to end through Outpost")
            cpu_o = cg.usage_s()
            o.stop()
            cg.remove()
            self.discard(o.root)
            r["outpost"] = n / t
            r["outpost_accept"] = n / ts

            sport = free_port()
            log = os.path.join(d, "sink-postfix.log")
            pf = self.postfix("e2e-postfix", relay_port=sport)
            sink = smtp_sink(self.procs, sport, log)
            cg = CpuGroup("e2e-postfix")
            pf.start(cg=cg)
            t0 = time.monotonic()
            ts = smtp_source(pf.port, n, SESSIONS, MSG_SIZE)
            tp = self.wait_sink(sink, log, n, t0, "end to end through Postfix")
            cpu_p = cg.usage_s()
            self.stop_postfix(pf)
            cg.remove()
            if cpu_o is not None and cpu_p is not None:
                r["outpost_cpu_us"] = cpu_o / n * 1e6
                r["postfix_cpu_us"] = cpu_p / n * 1e6
            r["postfix"] = n / tp
            r["postfix_accept"] = n / ts
            r["ratio"] = tp / t
            r["of_limit"] = r["outpost"] / r["limit"]
            say(f"  end to end, run {i + 1}: limit {r['limit']:.0f}/s  Outpost {r['outpost']:.0f}/s"
                f"  Postfix {r['postfix']:.0f}/s  ratio {r['ratio']:.2f}"
                f"  Outpost/limit {r['of_limit'] * 100:.1f}%")
            runs.append(r)
        self.raw["e2e"] = runs

    def fig_pg(self):
        """End to end on one node with the PostgreSQL queue beside the
        SQLite one, back to back in the same run: a throwaway PostgreSQL
        (scripts/test-pg, fsync on: both queues durable) started in its own
        control group, so that the CPU of its server processes is counted
        apart from Outpost's."""
        n = self.p["n"]
        runs = []
        test_pg = os.path.join(TOP, "scripts", "test-pg")
        for i in range(self.p["runs"]):
            r = {}
            d = self.workdir("pg")
            sport = free_port()
            log = os.path.join(d, "sink-sqlite.log")
            o = self.outpost("pg-sqlite", sport)
            sink = smtp_sink(self.procs, sport, log)
            cg = CpuGroup("pg-sqlite")
            o.start(cg=cg)
            t0 = time.monotonic()
            smtp_source(o.port, n, SESSIONS, MSG_SIZE)
            t = self.wait_sink(sink, log, n, t0, "end to end on SQLite")
            cpu_o = cg.usage_s()
            o.stop()
            cg.remove()
            self.discard(o.root)
            r["sqlite"] = n / t
            if cpu_o is not None:
                r["sqlite_cpu_us"] = cpu_o / n * 1e6

            pgdir = os.path.join(d, "postgres")
            # the server runs as the postgres user: let it reach its directory
            for x in (self.tmp, d):
                os.chmod(x, 0o711)
            cg_pg = CpuGroup("pg-server")
            env = dict(os.environ, TEST_PG_FSYNC="on")
            st = subprocess.run(cg_pg.prefix() + [test_pg, "start", pgdir], env=env,
                                capture_output=True, text=True, timeout=120)
            if st.returncode != 0:
                cg_pg.remove()
                raise BenchError("scripts/test-pg start failed: " + st.stderr.strip())
            try:
                uri = st.stdout.strip().splitlines()[-1]
                sport = free_port()
                log = os.path.join(d, "sink-pg.log")
                o = self.outpost("pg-postgresql", sport,
                                 server_extra=[f"database = {uri}", "node = bench"])
                sink = smtp_sink(self.procs, sport, log)
                cg = CpuGroup("pg-outpost")
                o.start(cg=cg)
                pg0 = cg_pg.usage_s()
                t0 = time.monotonic()
                smtp_source(o.port, n, SESSIONS, MSG_SIZE)
                t = self.wait_sink(sink, log, n, t0, "end to end on PostgreSQL")
                cpu_o = cg.usage_s()
                cpu_pg = cg_pg.usage_s()
                o.stop()
                cg.remove()
                self.discard(o.root)
            finally:
                subprocess.run([test_pg, "stop", pgdir], capture_output=True, timeout=120)
                cg_pg.remove()
            r["pg"] = n / t
            r["ratio"] = r["pg"] / r["sqlite"]
            if cpu_o is not None and cpu_pg is not None and pg0 is not None:
                r["pg_outpost_cpu_us"] = cpu_o / n * 1e6
                r["pg_server_cpu_us"] = (cpu_pg - pg0) / n * 1e6
            say(f"  PostgreSQL, run {i + 1}: SQLite {r['sqlite']:.0f}/s  PostgreSQL {r['pg']:.0f}/s"
                f"  ratio {r['ratio'] * 100:.0f}%")
            runs.append(r)
        self.raw["pg"] = runs

    def fig_dkim(self):
        """End to end (smtp-source -> Outpost -> smtp-sink) without and
        with a DKIM signature (RSA 2048 for the From: domain of
        smtp-source's messages), 1 KB and 100 KB bodies, in the same run;
        the CPU time per message of Outpost's process in each case."""
        runs = []
        for i in range(self.p["runs"]):
            r = {}
            for size, n in ((1024, self.p["n"] // 4), (100 * 1024, self.p["n1"] // 4)):
                for signed in (False, True):
                    d = self.workdir(f"dkim-{size}-{signed}")
                    extra = []
                    if signed:
                        key = os.path.join(d, "bench.key")
                        k = subprocess.run([self.binary, "dkim", "keygen", "example.com",
                                            "--selector", "bench", "--out", key],
                                           capture_output=True, text=True, check=False)
                        if k.returncode != 0:
                            raise BenchError("dkim keygen failed: " + k.stderr.strip())
                        extra = ["", "[dkim bench]", "domain = example.com",
                                 "selector = bench", f"key_file = {key}"]
                    sport = free_port()
                    log = os.path.join(d, "sink.log")
                    o = self.outpost(f"dkim-outpost-{size}", sport, server_extra=extra)
                    sink = smtp_sink(self.procs, sport, log)
                    cg = CpuGroup(f"dkim-{size}-{int(signed)}")
                    o.start(cg=cg)
                    t0 = time.monotonic()
                    smtp_source(o.port, n, SESSIONS, size)
                    t = self.wait_sink(sink, log, n, t0, "end to end with DKIM" if signed
                                       else "end to end without DKIM")
                    cpu = cg.usage_s()
                    o.stop()
                    cg.remove()
                    self.discard(o.root)
                    tag = f"{size // 1024}k_{'dkim' if signed else 'plain'}"
                    r[tag] = n / t
                    if cpu is not None:
                        r[f"cpu_us_{tag}"] = cpu / n * 1e6
                say(f"  dkim, run {i + 1}, {size // 1024} KB: without {r[f'{size // 1024}k_plain']:.0f}/s"
                    f"  with {r[f'{size // 1024}k_dkim']:.0f}/s")
            runs.append(r)
        self.raw["dkim"] = runs

    def fig_webhook(self):
        """End to end (smtp-source -> Outpost -> smtp-sink) without and
        with one webhook (every outcome event, signed, POSTed to a
        receiver on loopback that answers 200 at once), in the same run.
        Throughput is measured until the sink has every message; the CPU
        time of Outpost's process until the receiver also has every
        event (so it includes the events' delivery)."""
        n = self.p["n"] // 2
        runs = []
        for i in range(self.p["runs"]):
            r = {}
            for hooked in (False, True):
                d = self.workdir(f"webhook-{int(hooked)}")
                extra = []
                rec = None
                if hooked:
                    rec = WebhookReceiver()
                    extra = ["", "[webhook bench]",
                             f"url = http://127.0.0.1:{rec.port}/events",
                             "secret = bench-secret-0123456789abcdef"]
                sport = free_port()
                log = os.path.join(d, "sink.log")
                o = self.outpost("webhook-outpost", sport, server_extra=extra)
                sink = smtp_sink(self.procs, sport, log)
                cg = CpuGroup(f"webhook-{int(hooked)}")
                o.start(cg=cg)
                try:
                    t0 = time.monotonic()
                    smtp_source(o.port, n, SESSIONS, MSG_SIZE)
                    t = self.wait_sink(sink, log, n, t0, "end to end with a webhook" if hooked
                                       else "end to end without a webhook")
                    if rec is not None:
                        end = time.monotonic() + max(60.0, n / 50.0)
                        while rec.count < n and time.monotonic() < end:
                            time.sleep(0.01)
                        if rec.count < n:
                            raise BenchError(f"the webhook receiver had {rec.count} of {n} "
                                             "events")
                        r["events_per_s"] = n / (time.monotonic() - t0)
                    cpu = cg.usage_s()
                finally:
                    o.stop()
                    cg.remove()
                    if rec is not None:
                        rec.stop()
                self.discard(o.root)
                tag = "hook" if hooked else "plain"
                r[tag] = n / t
                if cpu is not None:
                    r[f"cpu_us_{tag}"] = cpu / n * 1e6
            say(f"  webhook, run {i + 1}: without {r['plain']:.0f}/s  with {r['hook']:.0f}/s"
                f"  (events {r['events_per_s']:.0f}/s)")
            runs.append(r)
        self.raw["webhook"] = runs

    def fig_oneshot(self):
        """One message, one process: `outpost send --now` (compose, commit,
        deliver, wait) and msmtp (send) to smtp-sink, and `outpost sendmail`
        (commit only).  Wall time and peak RSS (wait4 ru_maxrss) of each,
        interleaved, after one unmeasured warm-up round."""
        d = self.workdir("oneshot")
        sport = free_port()
        log = os.path.join(d, "sink.log")
        smtp_sink(self.procs, sport, log)
        o = self.outpost("oneshot-outpost", sport, listen=False)
        body = os.path.join(d, "body.txt")
        with open(body, "w", encoding="ascii") as f:
            f.write(("y" * 63 + "\n") * 16)
        msg = os.path.join(d, "message.eml")
        with open(msg, "w", encoding="ascii") as f:
            f.write(f"From: {FROM}\nTo: {TO}\nSubject: Benchmark\n"
                    f"Date: Sun, 22 Nov 2026 12:00:00 +0000\n"
                    f"Message-ID: <bench.oneshot@localhost>\nMIME-Version: 1.0\n"
                    f"Content-Type: text/plain; charset=us-ascii\n"
                    f"Content-Transfer-Encoding: 7bit\n\n")
            with open(body, encoding="ascii") as b:
                f.write(b.read())
        rc = os.path.join(d, "msmtprc")
        with open(rc, "w", encoding="ascii") as f:
            f.write(f"defaults\nauth off\ntls off\nsyslog off\n\naccount bench\n"
                    f"host 127.0.0.1\nport {sport}\nfrom {FROM}\n\naccount default : bench\n")
        os.chmod(rc, 0o600)
        env = dict(os.environ)
        env.pop("OUTPOST_CONFIG", None)
        cmds = {
            "send": (o.command("send", "--from", FROM, "--to", TO, "--subject", "Benchmark",
                               "--text", body, "--now"), None),
            "msmtp": (["msmtp", "-C", rc, "-f", FROM, TO], msg),
            "sendmail": (o.command("sendmail", "-i", "-f", FROM, TO), msg),
            "true": (["/bin/true"], None),
        }
        samples = {k: [] for k in cmds}
        delivered = 0
        for i in range(self.p["oneshot"] + 1):
            for name, (argv, stdin) in cmds.items():
                wall, rss, status, out = run_measured(self.spawn, argv, stdin, env=env, timeout=30)
                if status != 0:
                    raise BenchError(f"{shlex.join(argv)} exited with status {status}: "
                                     f"{out.strip()[-300:]}")
                if name in ("send", "msmtp"):
                    delivered += 1
                if i > 0:
                    samples[name].append({"wall": wall, "rss": rss})
        # the sink saw every message sent: send --now delivered for real
        deadline = time.monotonic() + 5
        while sink_count(log) < delivered and time.monotonic() < deadline:
            time.sleep(0.05)
        got = sink_count(log)
        if got < delivered:
            raise BenchError(f"the sink got {got} of the {delivered} messages "
                             f"send --now and msmtp reported as sent")
        ratios = [m["wall"] / s["wall"] for s, m in zip(samples["send"], samples["msmtp"])]
        self.raw["oneshot"] = {"samples": samples, "send_speedup": ratios}
        for name in ("send", "msmtp", "sendmail", "true"):
            say(f"  one-shot {name:8s}: {median([s['wall'] for s in samples[name]]) * 1000:7.2f} ms"
                f"  {median([s['rss'] for s in samples[name]]):6.0f} KiB")

    def fig_memory(self):
        """RSS of `outpost serve` holding N messages (profile disabled),
        read from /proc/PID/status after the last one was accepted."""
        n = self.p["held"]
        runs = []
        for i in range(self.p["runs"]):
            o = self.outpost("memory-outpost", free_port(), held=True)
            o.start()
            time.sleep(0.3)
            start = o.rss_kb()
            t = smtp_source(o.port, n, SESSIONS, MSG_SIZE, timeout=max(120, n / 100))
            time.sleep(2.0)
            r = {"start_kb": start, "rss_kb": o.rss_kb(), "hwm_kb": o.rss_kb("VmHWM"),
                 "n": n, "accept_rate": n / t}
            o.stop()
            r["db_bytes"] = sum(os.path.getsize(os.path.join(o.data, f))
                                for f in os.listdir(o.data)
                                if os.path.isfile(os.path.join(o.data, f)))
            self.discard(o.root)
            say(f"  memory, run {i + 1}: {n} held: RSS {r['rss_kb'] / 1024:.1f} MiB "
                f"(peak {r['hwm_kb'] / 1024:.1f}, at start {start / 1024:.1f}), "
                f"accepted at {n / t:.0f}/s")
            runs.append(r)
        self.raw["memory"] = runs

    def fig_idle(self):
        """VmRSS growth of `outpost serve` while N connections are open and
        idle (each has read its 220 greeting), divided by N."""
        n = self.p["idle"]
        runs = []
        for i in range(self.p["runs"]):
            o = self.outpost("idle-outpost", free_port(), held=True,
                             server_extra=[f"smtp_max_sessions = {max(1000, n + 100)}"])
            o.start()
            # one full session first, so one-time allocations are not counted
            for _ in range(4):
                with socket.create_connection(("127.0.0.1", o.port), timeout=10) as s:
                    s.recv(512)
                    s.sendall(b"EHLO localhost\r\nQUIT\r\n")
                    while s.recv(4096):
                        pass
            time.sleep(0.5)
            before = o.rss_kb()
            socks = []
            try:
                for _ in range(n):
                    s = socket.create_connection(("127.0.0.1", o.port), timeout=10)
                    socks.append(s)
                    greeting = s.recv(512)
                    if not greeting.startswith(b"220"):
                        raise BenchError(f"connection {len(socks)}: no 220 greeting "
                                         f"({greeting[:80]!r})")
                time.sleep(1.0)
                after = o.rss_kb()
            finally:
                for s in socks:
                    s.close()
            o.stop()
            self.discard(o.root)
            r = {"n": n, "before_kb": before, "after_kb": after,
                 "per_conn_kb": (after - before) / n}
            say(f"  idle connections, run {i + 1}: {before} -> {after} KiB for {n}: "
                f"{r['per_conn_kb']:.1f} KiB each")
            runs.append(r)
        self.raw["idle"] = runs

    def fig_latency(self):
        """A steady RATE messages/s over 4 sessions; per message, the time
        from the relay's 250 to the submitter until the sink's 250 to the
        relay (one process, one monotonic clock: bench/latency.py).  The
        first second is a warm-up, not counted."""
        runs = []
        for i in range(self.p["runs"]):
            r = {}
            for who in ("outpost", "postfix"):
                sport = free_port()
                if who == "outpost":
                    relay = self.outpost("latency-outpost", sport)
                    relay.start()
                else:
                    relay = self.postfix("latency-postfix", relay_port=sport)
                    relay.start()
                try:
                    lat, missing = latency.run(relay.port, sport, RATE, self.p["lat"])
                finally:
                    if who == "outpost":
                        relay.stop()
                        self.discard(relay.root)
                    else:
                        self.stop_postfix(relay)
                if missing:
                    raise BenchError(f"latency through {who}: {missing} messages "
                                     f"did not reach the sink within {latency.GRACE:.0f}s")
                r[who] = {"n": len(lat), "p50": latency.percentile(lat, 50),
                          "p99": latency.percentile(lat, 99), "max": lat[-1]}
            say(f"  latency, run {i + 1}: Outpost p50 {r['outpost']['p50'] * 1000:.2f} ms "
                f"p99 {r['outpost']['p99'] * 1000:.2f} ms; Postfix p50 "
                f"{r['postfix']['p50'] * 1000:.2f} ms p99 {r['postfix']['p99'] * 1000:.2f} ms")
            runs.append(r)
        self.raw["latency"] = runs


# --- the table ---------------------------------------------------------

def fmt_rate(v):
    return f"{v:,.0f}/s"


def fmt_ms(v):
    return f"{v * 1000:.2f} ms" if v < 0.1 else f"{v * 1000:.0f} ms"


def spread(values, fmt):
    if len(values) < 2:
        return ""
    return f"{fmt(min(values))} .. {fmt(max(values))}"


def met(ok):
    return "yes" if ok else "NO"


def build_rows(b):
    """(figure, Outpost, reference, ratio, target, met, Outpost's runs)."""
    rows = []
    raw = b.raw
    if "e2e" in raw:
        v = [r["limit"] for r in raw["e2e"]]
        rows.append(("limit: smtp-source -> smtp-sink directly", "", fmt_rate(median(v)),
                     "", "", "", spread(v, fmt_rate)))
    if "submission" in raw:
        for s, label in ((SESSIONS, "submission, 16 sessions (Outpost vs Postfix)"),
                         (1, "submission, 1 session, pinned (vs Postfix)")):
            o = [r[f"outpost_{s}"] for r in raw["submission"]]
            p = [r[f"postfix_{s}"] for r in raw["submission"]]
            q = median([r[f"ratio_{s}"] for r in raw["submission"]])
            target = ">= 10x" if s == SESSIONS else "-"
            rows.append((label, fmt_rate(median(o)), fmt_rate(median(p)), f"{q:.1f}x Postfix",
                         target, met(q >= 10) if s == SESSIONS else "", spread(o, fmt_rate)))
            rows += cpu_rows(raw["submission"], f"_{s}", f"  CPU per message, submission, {s} "
                             + ("sessions" if s > 1 else "session"))
    if "e2e" in raw:
        o = [r["outpost"] for r in raw["e2e"]]
        p = [r["postfix"] for r in raw["e2e"]]
        q = median([r["ratio"] for r in raw["e2e"]])
        f = median([r["of_limit"] for r in raw["e2e"]])
        rows.append(("end to end, 16 sessions (vs Postfix)", fmt_rate(median(o)),
                     fmt_rate(median(p)), f"{q:.1f}x Postfix", ">= 10x", met(q >= 10),
                     spread(o, fmt_rate)))
        rows += cpu_rows(raw["e2e"], "", "  CPU per message, end to end")
        rows.append(("end to end, Outpost / loopback limit", "", "", f"{f * 100:.0f}% limit",
                     ">= 30%", met(f >= 0.30), ""))
    if "pg" in raw:
        us = lambda x: f"{x:.0f} us"  # noqa: E731
        o = [r["pg"] for r in raw["pg"]]
        q = [r["sqlite"] for r in raw["pg"]]
        f = median([r["ratio"] for r in raw["pg"]])
        rows.append(("end to end on PostgreSQL, 1 node (vs SQLite)", fmt_rate(median(o)),
                     fmt_rate(median(q)), f"{f * 100:.0f}% of SQLite", ">= 40%", met(f >= 0.40),
                     spread(o, fmt_rate)))
        co = [r["pg_outpost_cpu_us"] for r in raw["pg"] if "pg_outpost_cpu_us" in r]
        cs = [r["sqlite_cpu_us"] for r in raw["pg"] if "sqlite_cpu_us" in r]
        cp = [r["pg_server_cpu_us"] for r in raw["pg"] if "pg_server_cpu_us" in r]
        if co and cs and cp:
            rows.append(("  CPU per message, Outpost on PostgreSQL (vs on SQLite)", us(median(co)),
                         us(median(cs)), f"{median(co) / median(cs):.2f}x", "", "", spread(co, us)))
            rows.append(("  CPU per message, the PostgreSQL server", us(median(cp)), "", "", "",
                         "", spread(cp, us)))
    if "dkim" in raw:
        us = lambda x: f"{x:.0f} us"  # noqa: E731
        for kb in (1, 100):
            w = [r[f"{kb}k_dkim"] for r in raw["dkim"]]
            wo = [r[f"{kb}k_plain"] for r in raw["dkim"]]
            rows.append((f"end to end with DKIM, {kb} KB (vs without)", fmt_rate(median(w)),
                         fmt_rate(median(wo)), f"{median(w) / median(wo) * 100:.0f}% of it",
                         "", "", spread(w, fmt_rate)))
            cw = [r[f"cpu_us_{kb}k_dkim"] for r in raw["dkim"] if f"cpu_us_{kb}k_dkim" in r]
            co = [r[f"cpu_us_{kb}k_plain"] for r in raw["dkim"] if f"cpu_us_{kb}k_plain" in r]
            if cw and co:
                rows.append((f"  CPU per message, {kb} KB, with DKIM (vs without)",
                             us(median(cw)), us(median(co)),
                             f"+{median(cw) - median(co):.0f} us", "", "", spread(cw, us)))
    if "webhook" in raw:
        us = lambda x: f"{x:.0f} us"  # noqa: E731
        w = [r["hook"] for r in raw["webhook"]]
        wo = [r["plain"] for r in raw["webhook"]]
        frac = median(w) / median(wo)
        rows.append(("end to end with a webhook (vs without)", fmt_rate(median(w)),
                     fmt_rate(median(wo)), f"{frac * 100:.0f}% of it", ">= 80%",
                     met(frac >= 0.80), spread(w, fmt_rate)))
        ev = [r["events_per_s"] for r in raw["webhook"]]
        rows.append(("  events delivered to the receiver", fmt_rate(median(ev)), "", "", "", "",
                     spread(ev, fmt_rate)))
        cw = [r["cpu_us_hook"] for r in raw["webhook"] if "cpu_us_hook" in r]
        co = [r["cpu_us_plain"] for r in raw["webhook"] if "cpu_us_plain" in r]
        if cw and co:
            rows.append(("  CPU per message, with a webhook (vs without)", us(median(cw)),
                         us(median(co)), f"+{median(cw) - median(co):.0f} us", "", "",
                         spread(cw, us)))
    if "oneshot" in raw:
        sm = raw["oneshot"]["samples"]
        w = {k: [s["wall"] for s in v] for k, v in sm.items()}
        m = {k: [s["rss"] for s in v] for k, v in sm.items()}
        speed = median(raw["oneshot"]["send_speedup"])
        rows.append(("one-shot send --now: wall (vs msmtp)", fmt_ms(median(w["send"])),
                     fmt_ms(median(w["msmtp"])), f"{speed:.1f}x faster", ">= 5x faster",
                     met(speed >= 5), spread(w["send"], fmt_ms)))
        rows.append(("one-shot send --now: peak RSS (vs msmtp)", f"{median(m['send']):,.0f} KiB",
                     f"{median(m['msmtp']):,.0f} KiB",
                     f"{median(m['send']) / median(m['msmtp']):.2f}x msmtp", "<= msmtp",
                     met(median(m["send"]) <= median(m["msmtp"])), ""))
        rows.append(("one-shot sendmail (queue only): wall", fmt_ms(median(w["sendmail"])),
                     "", "", "< 10 ms", met(median(w["sendmail"]) < 0.010),
                     spread(w["sendmail"], fmt_ms)))
        rows.append(("one-shot sendmail: peak RSS (vs msmtp)", f"{median(m['sendmail']):,.0f} KiB",
                     f"{median(m['msmtp']):,.0f} KiB",
                     f"{median(m['sendmail']) / median(m['msmtp']):.2f}x msmtp", "<= msmtp",
                     met(median(m["sendmail"]) <= median(m["msmtp"])), ""))
        rows.append(("  (floor: /bin/true, same measurement)", fmt_ms(median(w["true"])),
                     "", "", "", "", f"{median(m['true']):,.0f} KiB"))
    if "memory" in raw:
        r = raw["memory"][0]
        v = median([x["rss_kb"] for x in raw["memory"]])
        rows.append((f"memory: RSS with {r['n']:,} messages held", f"{v / 1024:.1f} MiB", "", "",
                     "<= 64 MiB", met(v <= 64 * 1024), f"at start {r['start_kb'] / 1024:.1f} MiB"))
    if "idle" in raw:
        r = raw["idle"][0]
        v = [x["per_conn_kb"] for x in raw["idle"]]
        rows.append((f"memory: RSS per idle connection ({r['n']:,} open)", f"{median(v):.1f} KiB",
                     "", "", "<= 50 KiB", met(median(v) <= 50),
                     spread(v, lambda x: f"{x:.1f} KiB")))
    if "latency" in raw:
        L = raw["latency"]
        for k, label in (("p50", "median"), ("p99", "p99")):
            o = [r["outpost"][k] for r in L]
            p = [r["postfix"][k] for r in L]
            rows.append((f"latency at {RATE:.0f} msg/s: {label} (vs Postfix)", fmt_ms(median(o)),
                         fmt_ms(median(p)), f"{median(o) / median(p):.2f}x Postfix",
                         "< 20 ms" if k == "p99" else "", met(median(o) < 0.020) if k == "p99"
                         else "", spread(o, fmt_ms)))
    return rows


def cpu_rows(runs, suffix, label):
    """A row of CPU time per message (each system's processes counted
    whole, in a control group), when the runs measured it."""
    o = [r[f"outpost_cpu_us{suffix}"] for r in runs if f"outpost_cpu_us{suffix}" in r]
    p = [r[f"postfix_cpu_us{suffix}"] for r in runs if f"postfix_cpu_us{suffix}" in r]
    if not o or not p:
        return []
    us = lambda x: f"{x:.0f} us"  # noqa: E731
    return [(label, us(median(o)), us(median(p)), f"{median(o) / median(p):.2f}x Postfix",
             "", "", spread(o, us))]


def render(rows):
    head = ("figure", "Outpost", "opponent", "Outpost is", "target", "met", "Outpost's runs")
    table = [head] + rows
    width = [max(len(r[i]) for r in table) for i in range(len(head))]
    lines = []
    for j, r in enumerate(table):
        lines.append("  ".join(c.ljust(width[i]) if i == 0 else c.rjust(width[i]) if i < 4
                               else c.ljust(width[i]) for i, c in enumerate(r)).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in width))
    return "\n".join(lines)


# --- machine facts ---------------------------------------------------

def _first_line(argv):
    try:
        r = subprocess.run(argv, capture_output=True, check=False, timeout=10)
        return (r.stdout or r.stderr).decode("utf-8", "replace").strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def _fs_type(path):
    best, kind = "", "unknown"
    try:
        with open("/proc/mounts", encoding="utf-8") as f:
            for line in f:
                fields = line.split()
                mnt = fields[1]
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                    best, kind = mnt, f"{fields[2]} on {fields[0]}"
    except OSError:
        pass
    return kind


def _loadavg():
    """The 1/5/15-minute load averages: other work on the machine skews
    every figure, so the table says how busy it was."""
    with open("/proc/loadavg", encoding="ascii") as f:
        return " ".join(f.read().split()[:3])


def _cpu_ticks():
    """(steal, total) jiffies of all CPUs from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[7] if len(v) > 7 else 0), sum(v[:8])


def fsync_latency(directory, samples=200):
    """p50 and p90 of a 4 KiB pwrite + fdatasync in `directory`: what one
    durable commit costs on this disk, now."""
    path = os.path.join(directory, "fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    lat = []
    try:
        for i in range(samples):
            os.pwrite(fd, b"x" * 4096, (i % 16) * 4096)
            t = time.monotonic()
            os.fdatasync(fd)
            lat.append(time.monotonic() - t)
    finally:
        os.close(fd)
        os.unlink(path)
    lat.sort()
    return (f"p50 {lat[len(lat) // 2] * 1000:.2f} ms, p90 {lat[len(lat) * 9 // 10] * 1000:.2f} ms "
            f"({samples} x 4 KiB pwrite + fdatasync in the temp dir)")


def machine_facts(b):
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="utf-8") as f:
        mem = int(f.readline().split()[1]) / 1024 / 1024
    os_name = "unknown"
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    os_name = line.split("=", 1)[1].strip().strip('"')
        with open("/etc/debian_version", encoding="utf-8") as f:
            os_name += f" ({f.read().strip()})"
    except OSError:
        pass
    virt = _first_line(["systemd-detect-virt"]) if shutil.which("systemd-detect-virt") else "unknown"
    commit = _first_line(["git", "-C", TOP, "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", TOP, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, check=False).stdout.strip()
    return {
        "cpus": f"{os.cpu_count()} ({cpu})",
        "memory": f"{mem:.1f} GiB",
        "kernel": platform.release(),
        "os": os_name,
        "virtualization": virt,
        "temp dir": f"{b.tmp} ({_fs_type(b.tmp)})",
        "fdatasync": fsync_latency(b.tmp),
        "outpost": f"{_first_line([b.binary, '--version'])}, git {commit}"
                   + (" with uncommitted changes" if dirty else "")
                   + f", {os.path.relpath(b.binary, TOP)}",
        "postfix": _first_line(["postconf", "-d", "-h", "mail_version"]),
        "msmtp": _first_line(["msmtp", "--version"]),
        "python": platform.python_version(),
    }


def report(b, started, command, facts):
    p = b.p
    out = [f"Outpost benchmark, {started:%Y-%m-%d %H:%M} UTC, mode {b.mode}: {p['runs']} run(s), "
           f"N = {p['n']:,} messages of {MSG_SIZE} body bytes, {SESSIONS} sessions",
           f"command: {command}"]
    out += [f"{k}: {v}" for k, v in facts.items()]
    out.append("")
    rows = build_rows(b)
    out.append(render(rows) if rows else "(no figures)")
    out.append("")
    out.append("Figures are medians over the runs; a ratio is taken run by run (Outpost and its "
               "opponent back to back) and its median shown.")
    out.append(f"The single-session row pins smtp-source to CPU {b.client_cpu} and the server "
               f"(outpost serve; Postfix's master and all its children) to CPU {b.server_cpu}."
               if b.client_cpu else "The single-session row is not pinned (one CPU).")
    if b.mode != "full":
        out.append(f"NOTE: {b.mode} mode: figures from small N and few runs; not for comparison.")
    for fig, msg in b.errors.items():
        out.append(f"ERROR in {fig}: {msg}")
    return "\n".join(out) + "\n"


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main():
    ap = argparse.ArgumentParser(prog="bench/run", description="the Outpost benchmark")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", dest="mode", action="store_const", const="quick",
                   help="smaller N, one run (for development)")
    g.add_argument("--smoke", dest="mode", action="store_const", const="smoke",
                   help="tiny N: checks that the benchmark works, in well under a minute")
    ap.set_defaults(mode="full")
    ap.add_argument("--runs", type=int, help="runs per figure (full: 3)")
    ap.add_argument("--only", help="comma list of figures: " + ",".join(FIGURES))
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--tmpdir", default=os.environ.get("TMPDIR", "/var/tmp"),
                    help="where the throwaway queues go (default $TMPDIR or /var/tmp; "
                         "not a tmpfs: fsync must cost what it costs)")
    ap.add_argument("--outpost", default=os.path.join(TOP, "build", "outpost"))
    ap.add_argument("--results", default=os.path.join(TOP, "bench", "results"))
    args = ap.parse_args()
    figures = FIGURES if not args.only else tuple(f.strip() for f in args.only.split(","))
    for f in figures:
        if f not in FIGURES:
            ap.error(f"unknown figure '{f}' (one of {', '.join(FIGURES)})")
    if args.runs is not None and args.runs < 1:
        ap.error("--runs must be at least 1")
    for prog in (args.outpost, os.path.join(TOP, "build", "bench", "spawn")):
        if not os.access(prog, os.X_OK):
            ap.error(f"{prog} is not built: run bench/run, which builds it")
    if os.geteuid() != 0:
        print("bench/run: run it as root: the private Postfix instance needs it", file=sys.stderr)
        return 77

    raise_nofile()
    started = datetime.datetime.now(datetime.timezone.utc)
    command = "bench/run" + ("".join(" " + shlex.quote(a) for a in sys.argv[1:]))
    b = Bench(args, MODES[args.mode])
    # a TERM (or a hang-up) ends the run like ^C: through the cleanup below
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    t0 = time.monotonic()
    ticks0 = _cpu_ticks()
    interrupted = False
    try:
        facts = machine_facts(b)
        if "tmpfs" in facts["temp dir"]:
            say("bench: warning: the temporary directory is on tmpfs: fsync costs nothing "
                "there; use --tmpdir on a disk")
        for f in figures:
            b.loads.append(_loadavg().split()[0])
            say(f"bench: {f}")
            try:
                getattr(b, "fig_" + f)()
            except (BenchError, OSError, subprocess.SubprocessError) as e:
                b.errors[f] = str(e)
                say(f"bench: {f}: {e}")
                # whatever the failed figure left running goes now
                for pf in list(b.postfixes):
                    b.stop_postfix(pf)
                b.procs.stop_all()
    except KeyboardInterrupt:
        interrupted = True
        say("bench: interrupted; stopping what it started")
    finally:
        b.cleanup()
    if interrupted:
        return 130
    b.loads.append(_loadavg().split()[0])
    ticks1 = _cpu_ticks()
    facts["cpu steal"] = (f"{100.0 * (ticks1[0] - ticks0[0]) / max(1, ticks1[1] - ticks0[1]):.1f}% "
                          "of the CPU time during the run (taken by the hypervisor)")
    facts["load average"] = ("1-minute load at the start of each figure and at the end: "
                             + ", ".join(b.loads) + " (more than the benchmark's own ~2 means "
                             "other work shared the machine)")
    text = report(b, started, command, facts)
    text += f"(the benchmark took {time.monotonic() - t0:.0f} s)\n"
    print(text, end="")
    os.makedirs(args.results, exist_ok=True)
    stamp = f"{started:%Y%m%d-%H%M%S}-{b.mode}"
    record = {"started": started.isoformat(), "command": command, "mode": b.mode,
              "params": b.p, "machine": facts, "raw": b.raw, "errors": b.errors}
    # latest.* is overwritten by every run; the stamped copies keep each one
    for name in ("latest", stamp):
        with open(os.path.join(args.results, name + ".txt"), "w", encoding="utf-8") as f:
            f.write(text)
        with open(os.path.join(args.results, name + ".json"), "w", encoding="utf-8") as f:
            json.dump(record, f, indent=1)
    return 1 if b.errors else 0


if __name__ == "__main__":
    sys.exit(main())
