/*
 * spawn - run one command and report its wall time and peak RSS.
 *
 *   build/bench/spawn [-i INPUT] [-o OUTPUT] [-t SECONDS] COMMAND [ARG]...
 *
 * Forks, executes COMMAND with standard input from INPUT (default
 * /dev/null) and standard output and error appended to OUTPUT (default
 * /dev/null), waits for it with wait4() and prints one line:
 *
 *   wall_us=1234 maxrss_kb=5678 status=0
 *
 * wall_us is CLOCK_MONOTONIC from just before fork() to just after
 * wait4() returned; maxrss_kb is the child's ru_maxrss, the figure
 * `/usr/bin/time -f %M` prints.  A child's ru_maxrss includes what it
 * inherited before exec, so this program is kept small (libc only, no
 * buffers to speak of): its own RSS is the floor of the measurement, and
 * bench.py reports that floor by timing /bin/true.  status is the exit
 * status, or 128 + the signal number.  After SECONDS (default 60) the
 * command is killed.
 *
 * bench.py calls this once per measured command, so the Python
 * interpreter's own fork cost and size stay out of the figures.
 *
 * Exit status: 0 when the command ran (whatever its own status), 64 on a
 * usage error, 71 when it could not be started.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SPAWN_TIMEOUT_DEFAULT 60
#define SPAWN_TIMEOUT_MAX 86400

static volatile sig_atomic_t child_pid;

static void
on_alarm(int sig)
{
	(void)sig;
	if (child_pid > 0)
		kill(child_pid, SIGKILL);
}

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
usage(void)
{
	fprintf(stderr, "usage: spawn [-i INPUT] [-o OUTPUT] [-t SECONDS] COMMAND [ARG]...\n");
	return 64;
}

int
main(int argc, char **argv)
{
	const char *in = "/dev/null", *out = "/dev/null";
	struct sigaction sa;
	struct itimerval it;
	struct rusage ru;
	unsigned long timeout = SPAWN_TIMEOUT_DEFAULT;
	char *end;
	int64_t t0, t1;
	pid_t pid;
	int c, status, fdin, fdout, rc;

	while ((c = getopt(argc, argv, "+i:o:t:")) != -1) {
		switch (c) {
		case 'i':
			in = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 't':
			errno = 0;
			timeout = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || timeout == 0 || timeout > SPAWN_TIMEOUT_MAX)
				return usage();
			break;
		default:
			return usage();
		}
	}
	if (optind >= argc)
		return usage();

	fdin = open(in, O_RDONLY | O_CLOEXEC);
	if (fdin < 0) {
		fprintf(stderr, "spawn: %s: %s\n", in, strerror(errno));
		return 71;
	}
	fdout = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fdout < 0) {
		fprintf(stderr, "spawn: %s: %s\n", out, strerror(errno));
		close(fdin);
		return 71;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);

	t0 = now_us();
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "spawn: fork: %s\n", strerror(errno));
		return 71;
	}
	if (pid == 0) {
		if (dup2(fdin, 0) < 0 || dup2(fdout, 1) < 0 || dup2(fdout, 2) < 0)
			_exit(71);
		execvp(argv[optind], argv + optind);
		/* the message goes to OUTPUT, where the caller looks */
		dprintf(2, "spawn: cannot run %s: %s\n", argv[optind], strerror(errno));
		_exit(127);
	}
	child_pid = pid;
	memset(&it, 0, sizeof(it));
	it.it_value.tv_sec = (time_t)timeout;
	setitimer(ITIMER_REAL, &it, NULL);

	while ((rc = wait4(pid, &status, 0, &ru)) < 0 && errno == EINTR)
		;
	t1 = now_us();
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	close(fdin);
	close(fdout);
	if (rc < 0) {
		fprintf(stderr, "spawn: wait4: %s\n", strerror(errno));
		return 71;
	}
	printf("wall_us=%lld maxrss_kb=%ld status=%d\n", (long long)(t1 - t0), ru.ru_maxrss,
	    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return 0;
}
