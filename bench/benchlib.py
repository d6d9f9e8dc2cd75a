"""benchlib - processes, peers and numbers for bench/bench.py.

Everything runs on 127.0.0.1, under one temporary directory, and is
cleaned up at the end: every process is started through Procs, which
remembers its pid and stops exactly that pid (TERM, then KILL after a
grace period); a private Postfix instance is stopped with
`postfix -c DIR stop` and, should that fail, its master's pid.

Nothing here touches the system Postfix: each instance has its own
config_directory, queue_directory and data_directory and listens on a
high port picked at run time.
"""
import os
import resource
import shutil
import socket
import subprocess
import tempfile
import time

# The benchmark may run as root: `outpost serve` refuses root without
# [server] user unless told so.
os.environ.setdefault("OUTPOST_ALLOW_ROOT", "1")

NOFILE_WANT = 65536          # fds for 1,000 idle connections and then some


def raise_nofile():
    """Raise this process's soft fd limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = NOFILE_WANT if hard == resource.RLIM_INFINITY else min(hard, NOFILE_WANT)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class BenchError(Exception):
    """A step of the benchmark failed; the message says which and why."""


_ports_given = set()


def free_port():
    """A TCP port on 127.0.0.1 that is free now and not handed out before."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _ports_given:
            _ports_given.add(port)
            return port
    raise BenchError("cannot find a free port on 127.0.0.1")


def wait_listening(port, timeout=10.0, proc=None, what="server"):
    """Wait until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise BenchError(f"{what} exited with status {proc.returncode} "
                             f"before listening on port {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise BenchError(f"{what} is not listening on 127.0.0.1:{port} "
                                 f"after {timeout:.0f}s") from None
            time.sleep(0.02)


def rss_kb(pid, key="VmRSS"):
    """VmRSS (or VmHWM, ...) of a process in KiB, from /proc."""
    with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise BenchError(f"no {key} in /proc/{pid}/status")


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cpu_prefix(cpus):
    """The taskset prefix that pins a command to `cpus` ("" or None: none)."""
    return ["taskset", "-c", cpus] if cpus else []


class CpuGroup:
    """A control group that counts the CPU time of one system under test,
    every process of it counted whole (Postfix's master, smtpd, cleanup,
    qmgr, smtp, ...; Outpost's one process with all its threads).

    A command started through prefix() joins the group before it execs,
    and every process it forks stays in it.  cgroup v1's cpuacct
    controller where it is mounted, else the cgroup v2 hierarchy (whose
    cpu.stat counts usage whether or not a controller is enabled).
    usage_s() is the CPU time (user + system) used so far; None when
    neither hierarchy can be written here (the figure is then left out).
    """
    ROOTS = (("/sys/fs/cgroup/cpuacct", "cpuacct.usage"),
             ("/sys/fs/cgroup/unified", "cpu.stat"),
             ("/sys/fs/cgroup", "cpu.stat"))

    def __init__(self, name):
        self.path = None
        self.counter = None
        for root, counter in self.ROOTS:
            if not os.path.exists(os.path.join(root, "cgroup.procs")):
                continue
            path = os.path.join(root, f"outpost-bench-{os.getpid()}-{name}")
            try:
                os.mkdir(path)
            except FileExistsError:
                pass
            except OSError:
                continue
            if os.path.exists(os.path.join(path, counter)):
                self.path, self.counter = path, counter
                break
            try:
                os.rmdir(path)
            except OSError:
                pass

    def prefix(self):
        if self.path is None:
            return []
        return ["sh", "-c", 'echo $$ > "$0" && exec "$@"',
                os.path.join(self.path, "cgroup.procs")]

    def usage_s(self):
        if self.path is None:
            return None
        with open(os.path.join(self.path, self.counter), encoding="ascii") as f:
            text = f.read()
        if self.counter == "cpuacct.usage":
            return int(text.strip()) / 1e9
        for line in text.splitlines():
            k, _, v = line.partition(" ")
            if k == "usage_usec":
                return int(v) / 1e6
        return None

    def remove(self):
        """Remove the group once its processes are gone (waits up to 5 s
        for stragglers such as Postfix's children to exit)."""
        if self.path is None:
            return
        deadline = time.monotonic() + 5
        while True:
            try:
                os.rmdir(self.path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        self.path = None


class Procs:
    """The processes this benchmark started; stops them by pid."""

    def __init__(self):
        self.live = []

    def start(self, argv, log=None, cpus=None, stdin=None, env=None, cg=None):
        out = open(log, "ab") if log else subprocess.DEVNULL
        try:
            argv = cpu_prefix(cpus) + (cg.prefix() if cg else []) + list(argv)
            p = subprocess.Popen(argv, stdin=stdin or subprocess.DEVNULL,
                                 stdout=out, stderr=subprocess.STDOUT, env=env)
        finally:
            if log:
                out.close()
        self.live.append(p)
        return p

    def stop(self, p, grace=10.0):
        """TERM the process, KILL it after `grace` seconds; return its status."""
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p in self.live:
            self.live.remove(p)
        return p.returncode

    def forget(self, p):
        if p in self.live:
            self.live.remove(p)

    def stop_all(self):
        for p in list(self.live):
            self.stop(p, grace=5.0)


def smtp_sink(procs, port, log, cpus=None):
    """Start Postfix's smtp-sink on 127.0.0.1:port; -c writes its running
    counters to `log` (sink_count() reads them)."""
    argv = ["smtp-sink", "-c"]
    if os.geteuid() == 0:
        argv += ["-u", "postfix"]
    argv += [f"127.0.0.1:{port}", "256"]
    p = procs.start(argv, log=log, cpus=cpus)
    wait_listening(port, proc=p, what="smtp-sink")
    return p


def sink_count(log):
    """The last message count smtp-sink -c wrote to its log (0 if none)."""
    try:
        with open(log, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            tail = f.read().decode("ascii", "replace")
    except OSError:
        return 0
    n = 0
    for field in tail.replace("\r", " ").replace("\n", " ").split():
        if field.startswith("mesg="):
            try:
                n = int(field[5:])
            except ValueError:
                pass
    return n


def smtp_source(port, count, sessions, size=1024, cpus=None, timeout=None):
    """Run smtp-source (persistent sessions, -d) and return its wall time."""
    argv = cpu_prefix(cpus) + [
        "smtp-source", "-d", "-s", str(sessions), "-l", str(size), "-m", str(count),
        "-f", "app@example.com", "-t", "to@example.net", "-M", "localhost",
        f"127.0.0.1:{port}"]
    t0 = time.monotonic()
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                       check=False)
    t = time.monotonic() - t0
    if r.returncode != 0:
        raise BenchError(f"smtp-source into port {port} failed (status {r.returncode}): "
                         + (r.stderr or r.stdout).decode("utf-8", "replace").strip()[-300:])
    return t


def run_measured(spawn, argv, stdin_path=None, env=None, timeout=60):
    """Run a command through build/bench/spawn (bench/spawn.c); return
    (wall seconds, peak RSS KiB, status, output).

    The helper forks and waits in C, so neither this interpreter's fork
    cost nor its size (a child's ru_maxrss counts what it had before
    exec) lands in the figures.
    """
    with tempfile.NamedTemporaryFile(prefix="spawn.", suffix=".out") as out:
        r = subprocess.run([spawn, "-i", stdin_path or "/dev/null", "-o", out.name,
                            "-t", str(int(timeout))] + list(argv),
                           capture_output=True, env=env, check=False)
        if r.returncode != 0:
            raise BenchError(f"{spawn} failed (status {r.returncode}): "
                             + r.stderr.decode("utf-8", "replace").strip())
        fields = dict(f.split("=", 1) for f in r.stdout.decode("ascii").split())
        text = out.read(65536).decode("utf-8", "replace")
    return (int(fields["wall_us"]) / 1e6, int(fields["maxrss_kb"]), int(fields["status"]), text)


def _script_output(argv):
    """Postfix's commands print their errors only to a terminal (and to
    syslog); run one under script(1) to show why it failed."""
    if shutil.which("script") is None:
        return ""
    r = subprocess.run(["script", "-q", "-e", "-c", " ".join(argv), "/dev/null"],
                       capture_output=True, check=False)
    return (r.stdout + r.stderr).decode("utf-8", "replace").strip()


class Postfix:
    """A private Postfix instance under `root`, listening on 127.0.0.1:port.

    relay_port: relayhost = [127.0.0.1]:relay_port (the smtp-sink).
    hold: every accepted message goes to the hold queue (cleanup still
    writes and fsyncs it; nothing is delivered): acceptance only.
    Everything else is as shipped (postconf -d), apart from what a relay
    on loopback needs: no local delivery, no TLS, no DNS.
    """

    def __init__(self, root, port, relay_port=None, hold=False):
        self.root = root
        self.port = port
        self.etc = os.path.join(root, "etc")
        self.queue = os.path.join(root, "queue")
        self.data = os.path.join(root, "data")
        self.log = os.path.join(root, "maillog")
        self.master_pid = None
        os.makedirs(self.etc)
        os.makedirs(self.queue)
        os.makedirs(self.data)
        # the postfix user must reach its queue through our directories
        for d in (root, self.etc, self.queue):
            os.chmod(d, 0o755)
        shutil.chown(self.data, "postfix")
        main = [
            "compatibility_level = 3.6",
            f"queue_directory = {self.queue}",
            f"data_directory = {self.data}",
            "mail_owner = postfix",
            "setgid_group = postdrop",
            "inet_interfaces = 127.0.0.1",
            "inet_protocols = ipv4",
            "myhostname = localhost",
            "mydomain = localdomain",
            "myorigin = localhost",
            "mydestination =",
            "mynetworks = 127.0.0.0/8",
            "smtpd_relay_restrictions = permit_mynetworks, reject",
            "alias_maps =",
            "alias_database =",
            "local_recipient_maps =",
            "smtp_tls_security_level = none",
            "smtpd_tls_security_level = none",
            "biff = no",
            "append_dot_mydomain = no",
            "readme_directory = no",
            f"maillog_file = {self.log}",
            f"maillog_file_prefixes = {root}",
        ]
        # a held instance never delivers; its relayhost is a port nobody
        # listens on, so that smtpd accepts the recipients
        main.append(f"relayhost = [127.0.0.1]:{relay_port or free_port()}")
        if hold:
            main.append("smtpd_end_of_data_restrictions = check_client_access static:HOLD")
        with open(os.path.join(self.etc, "main.cf"), "w", encoding="ascii") as f:
            f.write("\n".join(main) + "\n")
        shutil.copyfile("/etc/postfix/master.cf", os.path.join(self.etc, "master.cf"))
        # our listener instead of port 25, and no chroot (the queue
        # directory holds no copy of /etc)
        self._run(["postconf", "-c", self.etc, "-M#", "smtp/inet"])
        self._run(["postconf", "-c", self.etc, "-Me",
                   f"127.0.0.1:{port}/inet=127.0.0.1:{port} inet n - n - - smtpd"])
        self._run(["postconf", "-c", self.etc, "-F", "*/*/chroot = n"])
        self._run(["postfix", "-c", self.etc, "check"])

    @staticmethod
    def _run(argv, cpus=None, cg=None):
        r = subprocess.run(cpu_prefix(cpus) + (cg.prefix() if cg else []) + argv,
                           capture_output=True, check=False)
        if r.returncode != 0:
            why = (r.stderr or r.stdout).decode("utf-8", "replace").strip() or _script_output(argv)
            raise BenchError(f"{' '.join(argv)} failed (status {r.returncode}): {why}")

    def start(self, cpus=None, cg=None):
        """Start the instance (pinned to `cpus`: master and every process
        it spawns inherit the affinity, and the control group `cg`) and
        wait for its listener."""
        self._run(["postfix", "-c", self.etc, "start"], cpus=cpus, cg=cg)
        pidfile = os.path.join(self.queue, "pid", "master.pid")
        with open(pidfile, encoding="ascii") as f:
            self.master_pid = int(f.read().strip())
        wait_listening(self.port, what="Postfix")

    def stop(self):
        if self.master_pid is None:
            return
        try:
            self._run(["postfix", "-c", self.etc, "stop"])
        except BenchError:
            pass
        deadline = time.monotonic() + 15
        while pid_alive(self.master_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(self.master_pid):
            os.kill(self.master_pid, 9)
        self.master_pid = None

    def count(self, queue_name):
        """Number of queue files under one of the queue directories."""
        n = 0
        for _, _, files in os.walk(os.path.join(self.queue, queue_name)):
            n += len(files)
        return n


class Outpost:
    """One `outpost serve` with a throwaway config under `root`.

    The single profile points at 127.0.0.1:sink_port with security = none
    and otherwise the defaults; held = True disables it, so every message
    is accepted, committed and held.
    """

    def __init__(self, procs, binary, root, port, sink_port, held=False, server_extra=None):
        self.procs = procs
        self.binary = binary
        self.root = root
        self.port = port
        self.conf = os.path.join(root, "outpost.conf")
        self.log = os.path.join(root, "outpost.log")
        self.data = os.path.join(root, "data")
        self.proc = None
        os.makedirs(root, exist_ok=True)
        lines = ["[server]",
                 f"smtp_listen = 127.0.0.1:{port}" if port else 'smtp_listen = ""',
                 'http_listen = ""',
                 f"data_dir = {self.data}",
                 "hostname = localhost"]
        lines += list(server_extra or [])
        lines += ["",
                  "[profile sink]",
                  f"enabled = {'no' if held else 'yes'}",
                  "host = 127.0.0.1",
                  f"port = {sink_port}",
                  "security = none",
                  "from = app@example.com"]
        with open(self.conf, "w", encoding="ascii") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(self.conf, 0o600)

    def command(self, *args):
        return [self.binary, "-c", self.conf] + list(args)

    def start(self, cpus=None, cg=None):
        self.proc = self.procs.start(self.command("serve"), log=self.log, cpus=cpus, cg=cg)
        wait_listening(self.port, proc=self.proc, what="outpost serve")
        return self.proc

    def rss_kb(self, key="VmRSS"):
        return rss_kb(self.proc.pid, key)

    def stop(self):
        if self.proc is not None:
            status = self.procs.stop(self.proc, grace=15.0)
            self.proc = None
            if status not in (0, None):
                raise BenchError(f"outpost serve exited with status {status}; see {self.log}")

    def log_tail(self, lines=5):
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""


def median(values):
    v = sorted(values)
    n = len(v)
    if n == 0:
        return float("nan")
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
