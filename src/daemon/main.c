/* main: vmkitd's entry point: options, directories, the state-dir lock,
 * daemonizing, loading and re-attaching, the API, autostart, and the
 * threads (docs/architecture.md "vmkitd"): the main thread waits for
 * SIGTERM/SIGINT on a signalfd; the watcher thread runs the event loop
 * (pidfds of the VMMs, console relays); libmicrohttpd runs one thread per
 * connection. On SIGTERM vmkitd exits and the VMs keep running. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parser.h>

#include "common/evloop.h"
#include "common/log.h"
#include "common/paths.h"
#include "dapi.h"
#include "dconsole.h"
#include "ddom.h"
#include "drun.h"
#include "dstore.h"
#include "vmkit-config.h"
#include "vmkitd.h"

#define MAIN_EVENT_RING 4096
/* sun_path holds 107 characters: DIR + "/" + UUID (36) + ".vsock" */
#define MAIN_RUNTIME_MAX (107 - 1 - 36 - 6)

enum main_opt { OPT_FOREGROUND = 'f', OPT_HELP = 'h', OPT_STATE = 256, OPT_RUNTIME, OPT_LOG,
		OPT_VMM, OPT_LOG_LEVEL, OPT_VERSION };

static const struct option main_opts[] = {
	{ "foreground", no_argument, NULL, OPT_FOREGROUND },
	{ "state-dir", required_argument, NULL, OPT_STATE },
	{ "runtime-dir", required_argument, NULL, OPT_RUNTIME },
	{ "log-dir", required_argument, NULL, OPT_LOG },
	{ "vmm", required_argument, NULL, OPT_VMM },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static void main_usage(FILE *f)
{
	fprintf(f, "usage: vmkitd [OPTIONS]\n"
		"The vmkit daemon: manages domains (VMs) through a REST API on unix sockets.\n"
		"  -f, --foreground      stay in the foreground, log to stderr\n"
		"      --state-dir DIR   definitions, autostart flags, lock (" VMKIT_STATE_DIR ")\n"
		"      --runtime-dir DIR sockets, pid and state files (" VMKIT_RUNTIME_DIR ")\n"
		"      --log-dir DIR     one NAME.log per domain, vmkitd.log (" VMKIT_LOG_DIR ")\n"
		"      --vmm PATH        vmkit-vmm to run (default: next to vmkitd)\n"
		"      --log-level L     error|warn|info|debug (info)\n"
		"      --version, -h/--help\n"
		"See docs/api.md for the API.\n");
}

static int main_set(char *dst, size_t size, const char *val, const char *opt)
{
	if (strlen(val) >= size || !val[0]) {
		fprintf(stderr, "vmkitd: --%s: empty or too long\n", opt);
		return -EINVAL;
	}
	strcpy(dst, val);
	return 0;
}

static void main_default_vmm(char *dst)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0) {
		strcpy(dst, "vmkit-vmm");
		return;
	}
	self[n] = 0;
	snprintf(dst, PATH_MAX, "%s/vmkit-vmm", dirname(self));
}

/* 0 = run, 1 = exit 0 (help/version), -EINVAL = usage error. */
static int main_parse(int argc, char **argv, struct vmkitd_config *cfg)
{
	enum log_level lvl;
	int c, ret = 0;

	strcpy(cfg->state_dir, VMKIT_STATE_DIR);
	strcpy(cfg->runtime_dir, VMKIT_RUNTIME_DIR);
	strcpy(cfg->log_dir, VMKIT_LOG_DIR);
	main_default_vmm(cfg->vmm);
	while (ret == 0 && (c = getopt_long(argc, argv, "fh", main_opts, NULL)) != -1) {
		switch (c) {
		case OPT_FOREGROUND: cfg->foreground = true; break;
		case OPT_STATE: ret = main_set(cfg->state_dir, sizeof(cfg->state_dir), optarg, "state-dir"); break;
		case OPT_RUNTIME: ret = main_set(cfg->runtime_dir, sizeof(cfg->runtime_dir), optarg, "runtime-dir"); break;
		case OPT_LOG: ret = main_set(cfg->log_dir, sizeof(cfg->log_dir), optarg, "log-dir"); break;
		case OPT_VMM: ret = main_set(cfg->vmm, sizeof(cfg->vmm), optarg, "vmm"); break;
		case OPT_LOG_LEVEL:
			ret = log_parse_level(optarg, &lvl);
			if (ret == 0)
				log_set_level(lvl);
			else
				fprintf(stderr, "vmkitd: --log-level: '%s' is not error, warn, info or "
					"debug\n", optarg);
			break;
		case OPT_VERSION: printf("vmkitd %s\n", VMKIT_VERSION); return 1;
		case OPT_HELP: main_usage(stdout); return 1;
		default: main_usage(stderr); return -EINVAL;
		}
	}
	if (ret == 0 && optind < argc) {
		fprintf(stderr, "vmkitd: unexpected argument '%s'\n", argv[optind]);
		ret = -EINVAL;
	}
	return ret;
}

/* Create the directories and make their paths absolute. */
static int main_dirs(struct vmkitd_config *cfg)
{
	static const char *const subs[] = { "domains", "autostart" };
	char *dirs[] = { cfg->state_dir, cfg->runtime_dir, cfg->log_dir };
	const unsigned modes[] = { 0700, 0755, 0750 };
	char buf[PATH_MAX];

	for (size_t i = 0; i < 3; i++) {
		int ret = dstore_mkdirs(dirs[i], modes[i]);

		if (ret < 0 || !realpath(dirs[i], buf) || strlen(buf) >= VMKITD_DIR_MAX) {
			fprintf(stderr, "vmkitd: cannot create %s: %s\n", dirs[i],
				strerror(ret < 0 ? -ret : errno));
			return -EIO;
		}
		memcpy(dirs[i], buf, strlen(buf) + 1);
	}
	if (strlen(cfg->runtime_dir) > MAIN_RUNTIME_MAX) {
		fprintf(stderr, "vmkitd: --runtime-dir %s is too long: the unix sockets in it "
			"(UUID.vsock) need it to be at most %d characters\n", cfg->runtime_dir,
			MAIN_RUNTIME_MAX);
		return -ENAMETOOLONG;
	}
	for (size_t i = 0; i < 2; i++) {
		snprintf(buf, sizeof(buf), "%s/%s", cfg->state_dir, subs[i]);
		if (dstore_mkdirs(buf, 0700) < 0) {
			fprintf(stderr, "vmkitd: cannot create %s: %s\n", buf, strerror(errno));
			return -EIO;
		}
	}
	return 0;
}

/* Fork into the background. Returns -1 in the child (go on, *notify = the
 * pipe to report readiness on) or, in the parent, the exit status. */
static int main_daemonize(const struct vmkitd_config *cfg, int *notify)
{
	char log[PATH_MAX], ok = 1;
	int p[2], fd;
	pid_t pid;

	snprintf(log, sizeof(log), "%s/vmkitd.log", cfg->log_dir);
	if (pipe2(p, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
		fprintf(stderr, "vmkitd: cannot fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &ok, 1) != 1 || ok != 0) {
			fprintf(stderr, "vmkitd: failed to start; see %s\n", log);
			return 1;
		}
		return 0;
	}
	close(p[0]);
	setsid();
	fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		close(fd);
	}
	*notify = p[1];
	return -1;
}

static void *main_watcher(void *opaque)
{
	struct vmkitd *d = opaque;

	evloop_run(d->loop);
	return NULL;
}

static void *main_autostart(void *opaque)
{
	drun_autostart_all(opaque);
	return NULL;
}

static void main_pidfile(const struct vmkitd *d, bool create)
{
	char path[PATH_MAX], buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());

	snprintf(path, sizeof(path), "%s/" VMKIT_PID_FILE, d->cfg.runtime_dir);
	if (!create)
		unlink(path);
	else if (dstore_write_runtime(path, buf, (size_t)n) < 0)
		log_warn("cannot write %s", path);
}

/* Tell every waiter that vmkitd stops (their waits end early). */
static void main_stopping(struct vmkitd *d)
{
	pthread_mutex_lock(&d->lock);
	d->stopping = true;
	for (size_t i = 0; i < d->ndoms; i++) {
		pthread_cond_broadcast(&d->doms[i]->cond);
		dconsole_detach_locked(d->doms[i]);   /* libmicrohttpd waits for upgraded sockets */
	}
	pthread_mutex_unlock(&d->lock);
	devent_stop(&d->events);
}

static int main_wait_signal(void)
{
	struct signalfd_siginfo si;
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	fd = signalfd(-1, &set, SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (read(fd, &si, sizeof(si)) < 0 && errno == EINTR)
		;
	log_info("signal %u: vmkitd stops; the VMs keep running", si.ssi_signo);
	close(fd);
	return 0;
}

/* Load, re-attach, serve; returns once stopped. */
static int main_serve(struct vmkitd *d, int notify)
{
	pthread_t watcher, autostart;
	char ok = 0;
	int ret;

	ret = ddom_load_all(d);
	if (ret == 0)
		ret = drun_reattach_all(d);
	if (ret < 0) {
		log_error("cannot load %s or %s: %s", d->cfg.state_dir, d->cfg.runtime_dir,
			  strerror(-ret));
		return ret;
	}
	ret = pthread_create(&watcher, NULL, main_watcher, d);
	if (ret)
		return -ret;
	ret = dapi_start(d);
	if (ret == 0) {
		main_pidfile(d, true);
		log_info("vmkitd %s serving on %s/" VMKIT_RW_SOCKET " (state %s)", VMKIT_VERSION,
			 d->cfg.runtime_dir, d->cfg.state_dir);
		if (notify >= 0 && write(notify, &ok, 1) != 1)
			log_warn("cannot tell the parent that vmkitd is ready");
		ret = -pthread_create(&autostart, NULL, main_autostart, d);
		if (ret == 0) {
			main_wait_signal();
			main_stopping(d);
			pthread_join(autostart, NULL);
		}
		dapi_stop(d);
		main_pidfile(d, false);
	}
	main_stopping(d);
	evloop_stop(d->loop);
	pthread_join(watcher, NULL);
	drun_detach_all(d);
	return ret;
}

static int main_run(struct vmkitd *d, int notify)
{
	char seq[PATH_MAX], last[PATH_MAX];
	int ret;

	snprintf(seq, sizeof(seq), "%s/seq", d->cfg.state_dir);
	ret = devent_init(&d->events, MAIN_EVENT_RING, seq);
	snprintf(last, sizeof(last), "%s/seq.last", d->cfg.runtime_dir);
	if (ret == 0 && devent_track_last(&d->events, last) < 0)
		log_warn("out of memory: %s is not kept", last);
	if (ret < 0) {
		log_error("%s: %s (a sequence number is needed; fix or remove the file)", seq,
			  ret == -EINVAL ? "not a number" : strerror(-ret));
		return ret;
	}
	ret = evloop_create(&d->loop);
	if (ret == 0) {
		ret = main_serve(d, notify);
		evloop_destroy(d->loop);
	}
	ddom_free_all(d);
	devent_fini(&d->events);
	return ret;
}

int main(int argc, char **argv)
{
	struct vmkitd d = { .lock_fd = -1 };
	char err[PATH_MAX + 128];
	int ret, notify = -1;
	sigset_t set;

	log_set_level(LOG_INFO);
	ret = main_parse(argc, argv, &d.cfg);
	if (ret != 0)
		return ret > 0 ? 0 : 2;
	signal(SIGPIPE, SIG_IGN);
	if (main_dirs(&d.cfg) < 0)
		return 1;
	if (dstore_lock(d.cfg.state_dir, &d.lock_fd, err, sizeof(err)) < 0) {
		fprintf(stderr, "vmkitd: %s\n", err);
		return 1;
	}
	if (!d.cfg.foreground) {
		ret = main_daemonize(&d.cfg, &notify);
		if (ret >= 0) {
			close(d.lock_fd);
			return ret;
		}
		dstore_lock_update(d.lock_fd);
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);   /* every thread: signalfd only */
	xmlInitParser();
	pthread_mutex_init(&d.lock, NULL);
	pthread_mutex_init(&d.store, NULL);
	ret = main_run(&d, notify);
	pthread_mutex_destroy(&d.store);
	pthread_mutex_destroy(&d.lock);
	xmlCleanupParser();
	if (notify >= 0)
		close(notify);
	close(d.lock_fd);
	return ret < 0 ? 1 : 0;
}
