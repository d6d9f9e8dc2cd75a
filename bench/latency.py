"""latency - how long a relay takes to pass a message on, at a steady rate.

    /usr/bin/python3 bench/latency.py RELAY_PORT SINK_PORT [-r RATE] [-d SECONDS]
                                      [-w WARMUP_SECONDS]

One process plays both ends, so both time stamps come from the same
monotonic clock:

- a sink on 127.0.0.1:SINK_PORT (the relay's upstream) that speaks just
  enough ESMTP (EHLO with PIPELINING, MAIL, RCPT, DATA, RSET, NOOP, QUIT)
  and stamps each message at the moment it writes its 250 for the final
  ".";
- a submitter that hands RATE messages a second (default 100) to the relay
  on 127.0.0.1:RELAY_PORT over a few persistent SMTP sessions, on a fixed
  schedule, and stamps each message when the relay's 250 for it arrives.

Each message carries its sequence number in an X-Bench-Seq header; the
latency of a message is sink stamp minus submitter stamp.  The first
WARMUP_SECONDS (default 1) of messages are sent but not counted.  run()
returns the sorted latencies (seconds) and the count of counted messages
that never arrived within the grace period.
"""
import argparse
import asyncio
import sys
import time

SESSIONS = 4                 # submitter sessions; enough to never queue at 100/s
BODY_LINE = "x" * 62 + "\r\n"
BODY = BODY_LINE * 16        # 1 KiB of body, like smtp-source -l 1024
LINE_MAX = 4096              # longer lines from the relay are a bug: give up
GRACE = 30.0                 # seconds to wait for the last arrivals


class Sink:
    """The relay's upstream: records arrival[seq] = time of the 250."""

    def __init__(self):
        self.arrival = {}
        self.messages = 0
        self.event = asyncio.Event()
        self.expect = None

    async def session(self, reader, writer):
        try:
            await self._converse(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _converse(self, reader, writer):
        writer.write(b"220 latsink ESMTP\r\n")
        await writer.drain()
        while True:
            line = await reader.readline()
            if not line:
                return
            if len(line) > LINE_MAX:
                raise ConnectionError("command line too long")
            verb = line[:4].upper()
            if verb == b"EHLO":
                writer.write(b"250-latsink\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                             b"250 ENHANCEDSTATUSCODES\r\n")
            elif verb == b"HELO":
                writer.write(b"250 latsink\r\n")
            elif verb == b"DATA":
                writer.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                await writer.drain()
                seq = await self._data(reader)
                now = time.monotonic()
                writer.write(b"250 2.0.0 Ok: queued\r\n")
                self.messages += 1
                if seq is not None:
                    self.arrival[seq] = now
                if self.expect is not None and len(self.arrival) >= self.expect:
                    self.event.set()
            elif verb == b"QUIT":
                writer.write(b"221 2.0.0 Bye\r\n")
                await writer.drain()
                return
            else:
                # MAIL, RCPT, RSET, NOOP: accept everything
                writer.write(b"250 2.0.0 Ok\r\n")
            await writer.drain()

    @staticmethod
    async def _data(reader):
        seq = None
        in_header = True
        while True:
            line = await reader.readline()
            if not line:
                raise ConnectionError("connection closed in DATA")
            if line == b".\r\n":
                return seq
            if in_header:
                if line in (b"\r\n", b"\n"):
                    in_header = False
                elif line[:13].lower() == b"x-bench-seq: ":
                    seq = int(line[13:].strip())


async def _reply(reader):
    """Read one SMTP reply; return its code."""
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("the relay closed the connection")
        if len(line) < 4 or line[3:4] != b"-":
            return int(line[:3])


async def _expect(reader, want, what):
    code = await _reply(reader)
    if code != want:
        raise RuntimeError(f"relay answered {code} to {what}")


class Submitter:
    """Hands messages to the relay; records submitted[seq] = time of the 250."""

    def __init__(self, port):
        self.port = port
        self.submitted = {}
        self.todo = asyncio.Queue()

    async def session(self):
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            await _expect(reader, 220, "the connection")
            writer.write(b"EHLO latency.localhost\r\n")
            await _expect(reader, 250, "EHLO")
            while True:
                seq = await self.todo.get()
                if seq is None:
                    break
                await self._send(reader, writer, seq)
            writer.write(b"QUIT\r\n")
            await writer.drain()
            await _reply(reader)
        finally:
            writer.close()

    async def _send(self, reader, writer, seq):
        writer.write(b"MAIL FROM:<app@example.com>\r\n")
        await _expect(reader, 250, "MAIL")
        writer.write(b"RCPT TO:<to@example.net>\r\n")
        await _expect(reader, 250, "RCPT")
        writer.write(b"DATA\r\n")
        await _expect(reader, 354, "DATA")
        msg = (f"From: <app@example.com>\r\nTo: <to@example.net>\r\n"
               f"Subject: latency {seq}\r\nMessage-ID: <lat{seq}@localhost>\r\n"
               f"X-Bench-Seq: {seq}\r\n\r\n{BODY}.\r\n")
        writer.write(msg.encode())
        await _expect(reader, 250, "the message")
        self.submitted[seq] = time.monotonic()


async def _run(relay_port, sink_port, rate, seconds, warmup):
    sink = Sink()
    server = await asyncio.start_server(sink.session, "127.0.0.1", sink_port,
                                        reuse_address=True)
    first = int(rate * warmup)
    total = first + max(1, int(rate * seconds))
    sink.expect = total
    sub = Submitter(relay_port)
    sessions = [asyncio.create_task(sub.session()) for _ in range(SESSIONS)]
    start = time.monotonic()
    try:
        for seq in range(total):
            delay = start + seq / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await sub.todo.put(seq)
            for t in sessions:
                if t.done():
                    t.result()          # raises the session's error
        for _ in sessions:
            await sub.todo.put(None)
        await asyncio.gather(*sessions)
        try:
            await asyncio.wait_for(sink.event.wait(), GRACE)
        except asyncio.TimeoutError:
            pass
    finally:
        for t in sessions:
            t.cancel()
        server.close()
    lat = sorted(sink.arrival[s] - sub.submitted[s]
                 for s in sub.submitted if s >= first and s in sink.arrival)
    missing = total - first - len(lat)
    return lat, missing


def run(relay_port, sink_port, rate=100.0, seconds=20.0, warmup=1.0):
    """Send for warmup + seconds at `rate`; return (sorted latencies in
    seconds of the messages after the warm-up, how many of those never
    arrived).  The warm-up lets the relay open its first connections."""
    return asyncio.run(_run(relay_port, sink_port, rate, seconds, warmup))


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list (p in 0..100)."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1,
                   -(-len(sorted_values) * p // 100) - 1))
    return sorted_values[int(k)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("relay_port", type=int)
    ap.add_argument("sink_port", type=int)
    ap.add_argument("-r", "--rate", type=float, default=100.0)
    ap.add_argument("-d", "--seconds", type=float, default=20.0)
    ap.add_argument("-w", "--warmup", type=float, default=1.0)
    a = ap.parse_args()
    lat, missing = run(a.relay_port, a.sink_port, a.rate, a.seconds, a.warmup)
    if not lat:
        print("no message arrived", file=sys.stderr)
        return 1
    print(f"messages={len(lat)} missing={missing} "
          f"p50={percentile(lat, 50) * 1000:.2f}ms "
          f"p99={percentile(lat, 99) * 1000:.2f}ms "
          f"max={lat[-1] * 1000:.2f}ms")
    return 0 if missing == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
