/* drun: starting, controlling, stopping and re-attaching to a domain's
 * vmkit-vmm (drun.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/log.h"
#include "common/util.h"
#include "dconsole.h"
#include "dmon.h"
#include "dnet.h"
#include "ddom.h"
#include "domain_json.h"
#include "domain_xml.h"
#include "drun.h"
#include "dstatefile.h"
#include "dstats.h"
#include "dstore.h"
#include "dvmm.h"

#define DRUN_READY_MS 60000      /* the VMM must answer within this */
#define DRUN_CALL_MS 10000       /* one control-socket command */
#define DRUN_TERM_MS 5000        /* destroy: SIGTERM, then SIGKILL */
#define DRUN_GRACE_MS 60000      /* destroy graceful: SIGTERM only */
#define DRUN_EXITING_MS 1000     /* a start that failed: the VMM may be ending */

static int drun_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int drun_signal(struct ddom *dom, int sig)
{
	if (dom->pidfd < 0)
		return -ESRCH;
	return syscall(SYS_pidfd_send_signal, dom->pidfd, sig, NULL, 0) < 0 ? -errno : 0;
}

/* Wait (vmkitd.lock held) until the VMM pid is gone or timeout_ms; pid 0
 * (no VMM) is gone at once. */
static bool drun_wait_gone_locked(struct ddom *dom, pid_t pid, unsigned timeout_ms)
{
	struct timespec ts;

	if (pid <= 0)
		return true;
	util_deadline(&ts, timeout_ms);
	while (dom->pid == pid && !dom->d->stopping)
		if (pthread_cond_timedwait(&dom->cond, &dom->d->lock, &ts) == ETIMEDOUT)
			break;
	return dom->pid != pid;
}

static json_t *drun_state_json_locked(struct ddom *dom)
{
	struct dstatefile sf = { .pid = dom->pid, .starttime = dom->starttime, .id = dom->id,
				 .state = dom->state, .reason = dom->reason, .ntaps = dom->ntaps,
				 .cid = dom->cid, .transient = !dom->persistent,
				 .starting = dom->starting };
	size_t len;

	sf.xml = domain_xml_text(dom->run ? dom->run : dom->def, &len);
	snprintf(sf.pty, sizeof(sf.pty), "%s", dom->pty);
	memcpy(sf.taps, dom->taps, sizeof(sf.taps));
	return dstatefile_to_json(&sf);
}

static void drun_save_state_locked(struct ddom *dom)
{
	char path[PATH_MAX];
	json_t *j = drun_state_json_locked(dom);
	int ret;

	ddom_path(dom, DDOM_STATE, path, sizeof(path));
	ret = j ? dstore_write_json(path, j) : -ENOMEM;
	json_decref(j);
	if (ret < 0)
		log_error("cannot write %s: %s (a restarted vmkitd will not find this VM)",
			  path, strerror(-ret));
}

static void drun_set_state_locked(struct ddom *dom, enum dstate_state s, enum dstate_reason r)
{
	dom->state = s;
	dom->reason = r;
	if (dom->pid)
		drun_save_state_locked(dom);
	pthread_cond_broadcast(&dom->cond);
}

static void drun_unlink(struct ddom *dom, enum ddom_file f)
{
	char path[PATH_MAX];

	ddom_path(dom, f, path, sizeof(path));
	if (unlink(path) < 0 && errno != ENOENT)
		log_warn("cannot remove %s: %s", path, strerror(errno));
}

static void drun_taps_delete(struct ddom *dom)
{
	for (unsigned i = 0; i < dom->ntaps; i++) {
		int ret = dom->taps[i][0] ? dnet_tap_delete(dom->taps[i]) : 0;

		if (ret < 0 && ret != -ENODEV)
			log_warn("domain '%s': cannot delete TAP %s: %s", dom->name, dom->taps[i],
				 strerror(-ret));
	}
	dom->ntaps = 0;
}

/* The TAPs of bridge interfaces (taps[i] for nets[i]; "" for ethernet). */
static int drun_taps_create(struct ddom *dom, const struct domain_def *def, struct derr *err)
{
	char msg[256];
	int ret = 0;

	memset(dom->taps, 0, sizeof(dom->taps));
	dom->ntaps = 0;
	for (unsigned i = 0; ret == 0 && i < def->nnets && i < VMKITD_MAX_TAPS; i++, dom->ntaps++) {
		const struct domain_net *n = &def->nets[i];

		if (n->type != DOMAIN_NET_BRIDGE)
			continue;
		ret = dnet_tap_create(n->bridge, dom->taps[i], msg, sizeof(msg));
		if (ret < 0)
			derr_set(err, DERR_INVALID_CONFIG, "line %ld: <interface type='bridge'>: %s",
				 n->line, msg);
	}
	if (ret < 0)
		drun_taps_delete(dom);
	return ret;
}

/* The "reason" of the VMM's exit file, copied into buf ("" = none). */
static const char *drun_exit_reason(struct ddom *dom, char *buf, size_t len)
{
	char path[PATH_MAX], err[256];
	json_t *j = NULL;
	const char *r;

	ddom_path(dom, DDOM_EXIT, path, sizeof(path));
	if (dstore_read_json(path, &j, err, sizeof(err)) < 0)
		return NULL;
	r = json_string_value(json_object_get(j, "reason"));
	snprintf(buf, len, "%s", r ? r : "none");
	json_decref(j);
	return buf;
}

/* Stop watching the pidfd; reap the VMM if it is our child. */
static void drun_reap_locked(struct ddom *dom)
{
	siginfo_t si;

	if (dom->pidfd < 0)
		return;
	evloop_del(dom->d->loop, dom->pidfd);
	waitid((idtype_t)P_PIDFD, (id_t)dom->pidfd, &si, WEXITED | WNOHANG);
	close(dom->pidfd);
	dom->pidfd = -1;
}

/* The state and reason after the VMM ended (exit file, destroy, start).
 * A VMM that ends during its start with an exit file, other than
 * host-error, did start: the guest just was quick (it powered off or
 * crashed); then the "started" event comes first. */
static void drun_end_state_locked(struct ddom *dom, enum dstate_state *s,
				  enum dstate_reason *r)
{
	char buf[64];
	const char *why = drun_exit_reason(dom, buf, sizeof(buf));

	dstate_from_exit(why, dom->destroying, s, r);
	if (!dom->starting)
		return;
	if (!why || *r == DREASON_HOST_ERROR) {
		*s = DSTATE_SHUTOFF;
		*r = DREASON_FAILED;
		return;
	}
	ddom_event(dom, "started", dom->start_auto ? "autostart" : "booted");
}

/* The VMM is gone (vmkitd.lock held): state from its exit file, files
 * removed, event, transient domains leave the table. */
static void drun_stopped_locked(struct ddom *dom)
{
	static const enum ddom_file files[] = { DDOM_SOCK, DDOM_EXIT, DDOM_PID, DDOM_STATE,
						DDOM_CONFIG, DDOM_VSOCK };
	enum dstate_state s;
	enum dstate_reason r;

	drun_end_state_locked(dom, &s, &r);
	drun_reap_locked(dom);
	dconsole_close_locked(dom);
	dmon_close_locked(dom);
	for (size_t i = 0; i < ARRAY_SIZE(files); i++)
		drun_unlink(dom, files[i]);
	drun_taps_delete(dom);
	dom->pid = 0;
	dom->id = 0;
	dom->pty[0] = 0;
	dom->destroying = false;
	dom->starting = false;
	if (dom->run != dom->def)
		domain_xml_free(dom->run);
	dom->run = NULL;
	log_info("domain '%s' stopped: %s/%s", dom->name, dstate_state_name(s),
		 dstate_reason_name(r));
	drun_set_state_locked(dom, s, r);
	ddom_event(dom, "stopped", dstate_stop_detail(r));
	if (!dom->persistent) {
		drun_unlink(dom, DDOM_TXML);
		ddom_remove_locked(dom);
	}
}

/* Event loop: a watched VMM ended. */
static void drun_on_exit(void *opaque, uint32_t events)
{
	struct ddom *dom = opaque;
	struct vmkitd *d = dom->d;

	pthread_mutex_lock(&d->lock);
	if (dom->pid)
		drun_stopped_locked(dom);
	pthread_mutex_unlock(&d->lock);
	ddom_put(dom);   /* the watch's reference */
	devent_reserve_ahead(&d->events);
}

static int drun_watch_locked(struct ddom *dom)
{
	int ret = evloop_add(dom->d->loop, dom->pidfd, EPOLLIN, drun_on_exit, dom);

	if (ret == 0)
		dom->refs++;
	return ret;
}

/* ---- start ---- */

static void drun_write_pid_locked(struct ddom *dom)
{
	char path[PATH_MAX], buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)dom->pid);

	ddom_path(dom, DDOM_PID, path, sizeof(path));
	if (dstore_write_runtime(path, buf, (size_t)n) < 0)
		log_warn("cannot write %s", path);
}

static int drun_check_file(const char *what, const char *path, struct derr *err)
{
	if (path && access(path, R_OK) < 0)
		return derr_set(err, DERR_INVALID_CONFIG, "%s %s: %s", what, path, strerror(errno));
	return 0;
}

/* What must exist on the host for the definition to run. */
static int drun_check_host(const struct domain_def *def, struct derr *err)
{
	int ret = drun_check_file("kernel", def->kernel, err);

	if (ret == 0)
		ret = drun_check_file("initrd", def->initrd, err);
	for (unsigned i = 0; ret == 0 && i < def->ndisks; i++)
		ret = drun_check_file("disk", def->disks[i].path, err);
	return ret;
}

static int drun_write_config(struct ddom *dom, const struct domain_def *def, bool paused,
			     struct derr *err)
{
	char sock[PATH_MAX], vsock[PATH_MAX], path[PATH_MAX], log[PATH_MAX];
	const char *taps[VMKITD_MAX_TAPS] = { 0 };
	struct domain_vmm_env env = { .api_socket = sock, .taps = taps, .ntaps = dom->ntaps,
				      .vsock_socket = vsock, .vsock_cid = dom->cid,
				      .serial_log = log, .paused = paused };
	struct domain_xml_error xerr = { 0 };
	json_t *j = NULL;
	int ret;

	for (unsigned i = 0; i < dom->ntaps; i++)
		taps[i] = dom->taps[i][0] ? dom->taps[i] : NULL;
	ddom_path(dom, DDOM_SOCK, sock, sizeof(sock));
	ddom_path(dom, DDOM_VSOCK, vsock, sizeof(vsock));
	ddom_path(dom, DDOM_CONFIG, path, sizeof(path));
	ddom_path(dom, DDOM_LOG, log, sizeof(log));
	ret = domain_to_vmm_json(def, &env, &j, &xerr);
	if (ret < 0)
		return derr_set(err, DERR_INVALID_CONFIG, "%s", xerr.msg);
	ret = dstore_write_json(path, j);
	json_decref(j);
	if (ret < 0)
		return derr_set(err, DERR_INTERNAL, "cannot write %s: %s", path, strerror(-ret));
	drun_unlink(dom, DDOM_EXIT);
	return 0;
}

/* The next domain id, persisted first (store held, not vmkitd.lock). */
static int drun_next_id(struct vmkitd *d, long long *id)
{
	char path[PATH_MAX], buf[32];
	int n, ret;

	pthread_mutex_lock(&d->store);
	n = snprintf(buf, sizeof(buf), "%lld\n", d->last_id + 1);
	snprintf(path, sizeof(path), "%s/lastid", d->cfg.state_dir);
	ret = dstore_write_file(path, buf, (size_t)n);
	if (ret == 0)
		*id = ++d->last_id;
	pthread_mutex_unlock(&d->store);
	return ret;
}

/* Everything before the spawn: host checks, TAPs, the id, the --config file
 * (paused: the VMM runs no guest code until "resume"). */
static int drun_prepare(struct ddom *dom, const struct domain_def *def, bool paused,
			struct derr *err)
{
	struct vmkitd *d = dom->d;
	int ret = drun_check_host(def, err);
	long long id = 0;

	if (ret == 0)
		ret = drun_taps_create(dom, def, err);
	if (ret == 0 && drun_next_id(d, &id) < 0)
		ret = derr_set(err, DERR_INTERNAL, "cannot write %s/lastid", d->cfg.state_dir);
	pthread_mutex_lock(&d->lock);
	dom->id = id;
	dom->cid = (uint32_t)id + 2;
	pthread_mutex_unlock(&d->lock);
	if (ret == 0)
		ret = drun_write_config(dom, def, paused, err);
	if (ret < 0)
		drun_taps_delete(dom);
	return ret;
}

/* Prepare and spawn; on success dom->pid/pidfd are set and watched, and
 * *pidp is that pid (read before the lock is dropped: the VMM may end and
 * be handled at once). */
static int drun_spawn(struct ddom *dom, bool paused, bool autostart, pid_t *pidp,
		      struct derr *err)
{
	struct vmkitd *d = dom->d;
	char cfg[PATH_MAX], log[PATH_MAX], msg[512];
	uint64_t start = 0;
	pid_t pid;
	int ret, fd, fd_err;

	ret = drun_prepare(dom, domain_xml_def(dom->def), paused, err);
	if (ret < 0)
		return ret;
	ddom_path(dom, DDOM_CONFIG, cfg, sizeof(cfg));
	ddom_path(dom, DDOM_LOG, log, sizeof(log));
	ret = dvmm_spawn(d->cfg.vmm, cfg, log, &pid, msg, sizeof(msg));
	if (ret < 0) {
		drun_taps_delete(dom);
		drun_unlink(dom, DDOM_CONFIG);
		return derr_set(err, DERR_VMM_FAILED, "%s", msg);
	}
	fd = drun_pidfd_open(pid);
	fd_err = errno;
	dstats_proc_starttime(pid, &start);
	pthread_mutex_lock(&d->lock);
	dom->pid = pid;
	dom->pidfd = fd;
	dom->starttime = start;
	dom->starting = true;
	dom->start_auto = autostart;
	dom->run = dom->def;
	ret = fd < 0 ? -fd_err : drun_watch_locked(dom);
	*pidp = pid;
	if (ret == 0)
		drun_save_state_locked(dom);   /* a vmkitd killed during the start finds it */
	pthread_mutex_unlock(&d->lock);
	if (ret < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		pthread_mutex_lock(&d->lock);
		drun_stopped_locked(dom);
		pthread_mutex_unlock(&d->lock);
		return derr_set(err, DERR_INTERNAL, "cannot watch the VMM (pid %d): %s", (int)pid,
				strerror(-ret));
	}
	return 0;
}

static bool drun_alive(struct ddom *dom, pid_t pid)
{
	bool alive;

	pthread_mutex_lock(&dom->d->lock);
	alive = dom->pid == pid;
	pthread_mutex_unlock(&dom->d->lock);
	return alive;
}

/* Wait until the VMM answers query-status (or ends). */
static int drun_wait_ready(struct ddom *dom, pid_t pid, char *msg, size_t len)
{
	uint64_t deadline = util_now_ns() + DRUN_READY_MS * 1000000ull;
	char sock[PATH_MAX];
	struct timespec nap = { 0, 10 * 1000000 };

	ddom_path(dom, DDOM_SOCK, sock, sizeof(sock));
	while (drun_alive(dom, pid) && !dom->d->stopping) {
		int ret = dvmm_call(sock, "query-status", NULL, 2000, NULL, msg, len);

		if (ret == 0)
			return 0;
		if (ret != -ENOENT && ret != -ECONNREFUSED)
			return ret;
		if (util_now_ns() > deadline) {
			snprintf(msg, len, "the VMM did not open its control socket %.300s within %d s",
				 sock, DRUN_READY_MS / 1000);
			return -ETIMEDOUT;
		}
		nanosleep(&nap, NULL);
	}
	snprintf(msg, len, "the VMM exited during start-up");
	return -ESRCH;
}

/* Serial port 0's pty from query-chardev ("pty:/dev/pts/N"). */
static void drun_find_pty(struct ddom *dom, char *pty, size_t len)
{
	char sock[PATH_MAX], msg[256];
	json_t *ret = NULL, *c;
	size_t i;

	pty[0] = 0;
	ddom_path(dom, DDOM_SOCK, sock, sizeof(sock));
	if (dvmm_call(sock, "query-chardev", NULL, DRUN_CALL_MS, &ret, msg, sizeof(msg)) < 0)
		return;
	json_array_foreach(ret, i, c) {
		const char *label = json_string_value(json_object_get(c, "label"));
		const char *file = json_string_value(json_object_get(c, "filename"));

		if (label && file && strcmp(label, "serial0") == 0 && strncmp(file, "pty:", 4) == 0)
			snprintf(pty, len, "%s", file + 4);
	}
	json_decref(ret);
}

/* The start did not complete after the spawn: make sure the VMM is gone
 * (a VMM on its way out gets a moment to leave its exit file). 0 when it
 * ended on its own after starting (drun_end_state_locked: the answer is
 * then the shut-off domain), else vmm-failed with the end of its log.
 * When vmkitd stops meanwhile, the VMM is left running: its state file
 * says "starting", and the next vmkitd adopts it (or kills it if it never
 * got ready). */
static int drun_start_failed(struct ddom *dom, pid_t pid, const char *msg, struct derr *err)
{
	char log[PATH_MAX], *tail;
	bool started;

	pthread_mutex_lock(&dom->d->lock);
	if (dom->d->stopping && dom->pid == pid) {
		pthread_mutex_unlock(&dom->d->lock);
		return derr_set(err, DERR_INTERNAL, "vmkitd is stopping: the VMM of domain '%s' "
				"(pid %d) is left alone; the next vmkitd adopts it", dom->name,
				(int)pid);
	}
	if (!drun_wait_gone_locked(dom, pid, DRUN_EXITING_MS)) {
		drun_signal(dom, SIGKILL);
		drun_wait_gone_locked(dom, pid, DRUN_READY_MS);
	}
	started = dom->pid != pid && dom->reason != DREASON_FAILED;
	pthread_mutex_unlock(&dom->d->lock);
	if (started)
		return 0;
	ddom_path(dom, DDOM_LOG, log, sizeof(log));
	tail = dvmm_log_tail(log, 600);
	derr_set(err, DERR_VMM_FAILED, "domain '%s': %s; the end of %s:\n%s", dom->name, msg, log,
		 tail ? tail : "");
	free(tail);
	return -EIO;
}

/* Never a second VMM: one of this domain that is still ending (killed at
 * re-attach, or ending as the request came) must be gone first. */
static int drun_start_check(struct ddom *dom, struct derr *err)
{
	pid_t pid;
	bool gone;

	pthread_mutex_lock(&dom->d->lock);
	pid = dom->pid;
	gone = drun_wait_gone_locked(dom, pid, DRUN_TERM_MS);
	pthread_mutex_unlock(&dom->d->lock);
	if (!gone)
		return derr_set(err, DERR_OPERATION_INVALID, "domain '%s': its previous VMM "
				"(pid %d) is still running", dom->name, (int)pid);
	return 0;
}

int drun_start(struct ddom *dom, bool paused, bool autostart, struct derr *err)
{
	char msg[512], pty[64];
	pid_t pid = 0;
	int ret = drun_start_check(dom, err);

	if (ret < 0)
		return ret;
	ret = drun_spawn(dom, paused, autostart, &pid, err);
	if (ret < 0) {
		pthread_mutex_lock(&dom->d->lock);
		dom->id = 0;
		drun_set_state_locked(dom, DSTATE_SHUTOFF, DREASON_FAILED);
		pthread_mutex_unlock(&dom->d->lock);
		return ret;
	}
	ret = drun_wait_ready(dom, pid, msg, sizeof(msg));
	if (ret < 0)
		return drun_start_failed(dom, pid, msg, err);
	drun_find_pty(dom, pty, sizeof(pty));
	pthread_mutex_lock(&dom->d->lock);
	if (dom->pid != pid) {
		pthread_mutex_unlock(&dom->d->lock);
		return drun_start_failed(dom, pid, "the VMM exited during start-up", err);
	}
	dom->starting = false;
	snprintf(dom->pty, sizeof(dom->pty), "%s", pty);
	drun_write_pid_locked(dom);
	dconsole_open_locked(dom);
	dmon_open_locked(dom);
	drun_set_state_locked(dom, paused ? DSTATE_PAUSED : DSTATE_RUNNING,
			      paused ? DREASON_USER : DREASON_BOOTED);
	ddom_event(dom, "started", autostart ? "autostart" : "booted");
	if (paused)
		ddom_event(dom, "suspended", "paused");
	log_info("domain '%s' started: id %lld, pid %d", dom->name, dom->id, (int)pid);
	pthread_mutex_unlock(&dom->d->lock);
	return 0;
}

/* ---- actions through the control socket ---- */

static int drun_cmd(struct ddom *dom, const char *cmd, struct derr *err)
{
	char sock[PATH_MAX], msg[512];

	ddom_path(dom, DDOM_SOCK, sock, sizeof(sock));
	if (dvmm_call(sock, cmd, NULL, DRUN_CALL_MS, NULL, msg, sizeof(msg)) < 0)
		return derr_set(err, DERR_VMM_FAILED, "domain '%s': %s", dom->name, msg);
	return 0;
}

int drun_shutdown(struct ddom *dom, pid_t *pid, struct derr *err)
{
	int ret;

	pthread_mutex_lock(&dom->d->lock);
	*pid = dom->pid;
	pthread_mutex_unlock(&dom->d->lock);
	ret = drun_cmd(dom, "system-powerdown", err);
	return ret;
}

int drun_wait_stopped(struct ddom *dom, pid_t pid, int timeout_s,
		      bool (*left)(void *opaque), void *opaque, struct derr *err)
{
	uint64_t end = util_now_ns() + (uint64_t)timeout_s * 1000000000ull;
	bool gone, away = false;

	pthread_mutex_lock(&dom->d->lock);
	while (!(gone = drun_wait_gone_locked(dom, pid, 1000)) && !dom->d->stopping &&
	       util_now_ns() < end && !(away = left(opaque)))
		;
	pthread_mutex_unlock(&dom->d->lock);
	if (away) {
		log_info("domain '%s': the client waiting for its shutdown left", dom->name);
		return derr_set(err, DERR_TIMEOUT, "the client left");
	}
	if (!gone)
		return derr_set(err, DERR_TIMEOUT, "domain '%s' did not shut down within %d s "
				"(it is still running)", dom->name, timeout_s);
	return 0;
}

int drun_system_reset(struct ddom *dom, struct derr *err)
{
	int ret = drun_cmd(dom, "system-reset", err);

	if (ret == 0) {
		pthread_mutex_lock(&dom->d->lock);
		ddom_event(dom, "rebooted", "reset");
		pthread_mutex_unlock(&dom->d->lock);
	}
	return ret;
}

static int drun_pause_cmd(struct ddom *dom, bool pause, struct derr *err)
{
	int ret = drun_cmd(dom, pause ? "pause" : "resume", err);

	if (ret < 0)
		return ret;
	pthread_mutex_lock(&dom->d->lock);
	if (dom->pid) {
		drun_set_state_locked(dom, pause ? DSTATE_PAUSED : DSTATE_RUNNING,
				      pause ? DREASON_USER : DREASON_UNPAUSED);
		ddom_event(dom, pause ? "suspended" : "resumed", pause ? "paused" : "unpaused");
	}
	pthread_mutex_unlock(&dom->d->lock);
	return 0;
}

int drun_suspend(struct ddom *dom, struct derr *err)
{
	return drun_pause_cmd(dom, true, err);
}

int drun_resume(struct ddom *dom, struct derr *err)
{
	return drun_pause_cmd(dom, false, err);
}

int drun_destroy(struct ddom *dom, bool graceful, struct derr *err)
{
	pid_t pid;
	bool gone;
	int ret = 0;

	pthread_mutex_lock(&dom->d->lock);
	pid = dom->pid;
	if (!pid) {   /* it ended on its own just now */
		pthread_mutex_unlock(&dom->d->lock);
		return 0;
	}
	dom->destroying = true;
	drun_signal(dom, SIGTERM);
	gone = drun_wait_gone_locked(dom, pid, graceful ? DRUN_GRACE_MS : DRUN_TERM_MS);
	if (!gone && !graceful) {
		log_warn("domain '%s': the VMM (pid %d) ignored SIGTERM for %d s: SIGKILL",
			 dom->name, (int)pid, DRUN_TERM_MS / 1000);
		drun_signal(dom, SIGKILL);
		gone = drun_wait_gone_locked(dom, pid, DRUN_READY_MS);
	}
	if (!gone) {
		dom->destroying = false;
		ret = derr_set(err, graceful ? DERR_TIMEOUT : DERR_INTERNAL, "the VMM of domain "
			       "'%s' (pid %d) is still running", dom->name, (int)pid);
	}
	pthread_mutex_unlock(&dom->d->lock);
	return ret;
}

/* ---- re-attaching after a vmkitd restart ---- */

/* What the process named by a state file turned out to be. */
enum drun_ident {
	DRUN_IDENT_GONE,     /* no such process, or another start time: it ended */
	DRUN_IDENT_OTHER,    /* the right process, but it reports another UUID */
	DRUN_IDENT_OURS,     /* the domain's VMM, answering */
	DRUN_IDENT_MUTE,     /* the domain's VMM (pid + start time), not answering */
};

/* Does the command line of process dom->pid name the domain's --config
 * file? (/proc files have no size: read, not util_read_file.) */
static bool drun_cmdline_ours(struct ddom *dom)
{
	char path[PATH_MAX], cfg[PATH_MAX], buf[PATH_MAX * 2 + 64];
	bool ours = false;
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)dom->pid);
	ddom_path(dom, DDOM_CONFIG, cfg, sizeof(cfg));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	len = read(fd, buf, sizeof(buf));
	close(fd);
	for (size_t off = 0, n; len > 0 && off < (size_t)len && !ours; off += n + 1) {
		n = strnlen(buf + off, (size_t)len - off);
		ours = n == strlen(cfg) && memcmp(buf + off, cfg, n) == 0;
	}
	return ours;
}

/* Is dom->pid the VMM that ran this domain? The pidfd is opened first and
 * the start time checked after, so the pidfd is that process; a process
 * with the recorded pid and start time running vmkit-vmm with the domain's
 * --config IS the VMM even when its control socket does not answer
 * (stopped, swapping): it is never treated as ended.
 * On OURS and MUTE dom->pidfd is open; status gets query-status's state. */
static enum drun_ident drun_identify(struct ddom *dom, char *status, size_t len)
{
	char sock[PATH_MAX], msg[256];
	uint64_t now = 0;
	json_t *st = NULL;
	const char *uuid, *s;
	bool ok;

	dom->pidfd = dom->pid > 0 ? drun_pidfd_open(dom->pid) : -1;
	if (dom->pidfd < 0)
		return DRUN_IDENT_GONE;
	if (dstats_proc_starttime(dom->pid, &now) < 0 || now != dom->starttime)
		goto not_ours;
	ddom_path(dom, DDOM_SOCK, sock, sizeof(sock));
	if (dvmm_call(sock, "query-status", NULL, DRUN_CALL_MS, &st, msg, sizeof(msg)) < 0) {
		if (!drun_cmdline_ours(dom)) {
			log_warn("domain '%s': pid %d has the recorded start time but is not its "
				 "VMM (%s)", dom->name, (int)dom->pid, msg);
			goto not_ours;
		}
		log_warn("domain '%s': its VMM (pid %d, start time as recorded) does not answer "
			 "(%s): adopted with its last known state", dom->name, (int)dom->pid, msg);
		return DRUN_IDENT_MUTE;
	}
	uuid = json_string_value(json_object_get(st, "uuid"));
	s = json_string_value(json_object_get(st, "status"));
	ok = uuid && strcasecmp(uuid, dom->uuid) == 0;
	if (!ok)
		log_warn("domain '%s': pid %d reports UUID %s: not its VMM", dom->name,
			 (int)dom->pid, uuid ? uuid : "(none)");
	snprintf(status, len, "%s", s ? s : "running");
	json_decref(st);
	if (ok)
		return DRUN_IDENT_OURS;
not_ours:
	close(dom->pidfd);
	dom->pidfd = -1;
	return now == dom->starttime ? DRUN_IDENT_OTHER : DRUN_IDENT_GONE;
}

/* The domain of a state file: the stored one, or a transient one rebuilt
 * from the state file's XML. NULL when neither. */
static struct ddom *drun_state_domain_locked(struct vmkitd *d, const char *uuid,
					    const struct dstatefile *sf)
{
	struct ddom *dom = ddom_find_locked(d, uuid);
	const char *xml = sf->xml;
	struct domain_xml_error xerr;
	struct domain_xml *dx = NULL;

	if (dom || !xml)
		return dom;
	if (domain_xml_parse(xml, strlen(xml), &dx, &xerr) < 0) {
		log_error("domain %s: the XML in its state file does not parse: %s", uuid, xerr.msg);
		return NULL;
	}
	dom = ddom_new(d, dx, false);
	if (!dom) {
		domain_xml_free(dx);
		return NULL;
	}
	if (strcmp(dom->uuid, uuid) != 0 || ddom_find_locked(d, dom->name) ||
	    ddom_insert_locked(d, dom) < 0) {
		log_error("domain %s: its state file names a UUID or name that is taken", uuid);
		ddom_free(dom);
		return NULL;
	}
	return dom;
}

/* Fill dom's runtime facts from the state file. */
static void drun_state_apply_locked(struct ddom *dom, const struct dstatefile *sf)
{
	struct domain_xml_error xerr;
	struct domain_xml *dx = NULL;
	size_t len;

	dom->pid = sf->pid;
	dom->starttime = sf->starttime;
	dom->id = sf->id;
	dom->cid = sf->cid;
	dom->reason = sf->reason;
	snprintf(dom->pty, sizeof(dom->pty), "%s", sf->pty);
	memcpy(dom->taps, sf->taps, sizeof(dom->taps));
	dom->ntaps = sf->ntaps;
	dom->starting = sf->starting;
	dom->run = dom->def;
	if (strcmp(sf->xml, domain_xml_text(dom->def, &len)) != 0 &&
	    domain_xml_parse(sf->xml, strlen(sf->xml), &dx, &xerr) == 0)
		dom->run = dx;
	if (dom->id > dom->d->last_id)
		dom->d->last_id = dom->id;
}

static void drun_adopt_locked(struct ddom *dom, const char *status)
{
	enum dstate_reason r = dom->reason;
	bool paused = strcmp(status, "paused") == 0;

	if (paused)
		r = DREASON_USER;
	else if (r != DREASON_BOOTED && r != DREASON_UNPAUSED)
		r = DREASON_UNPAUSED;
	if (drun_watch_locked(dom) < 0) {
		log_error("domain '%s': cannot watch its VMM (pid %d)", dom->name, (int)dom->pid);
		close(dom->pidfd);
		dom->pidfd = -1;
	}
	drun_set_state_locked(dom, paused ? DSTATE_PAUSED : DSTATE_RUNNING, r);
	dconsole_open_locked(dom);
	dmon_open_locked(dom);
	log_info("domain '%s': re-attached to its VMM (pid %d, id %lld)", dom->name,
		 (int)dom->pid, dom->id);
}

/* A VMM whose start a previous vmkitd did not finish, answering: the
 * start completes now (console, pid file, event). */
static void drun_adopt_started_locked(struct ddom *dom, const char *status)
{
	char pty[64];

	drun_find_pty(dom, pty, sizeof(pty));
	snprintf(dom->pty, sizeof(dom->pty), "%s", pty);
	dom->starting = false;
	dom->reason = DREASON_BOOTED;
	drun_write_pid_locked(dom);
	drun_adopt_locked(dom, status);
	ddom_event(dom, "started", "booted");
	if (dom->state == DSTATE_PAUSED)   /* start --paused */
		ddom_event(dom, "suspended", "paused");
}

/* A VMM whose start a previous vmkitd did not finish, silent: it never got
 * ready; it is killed and its end (no exit file: failed) comes through the
 * pidfd watch. Until then the domain has a VMM and cannot be started. */
static void drun_kill_unready_locked(struct ddom *dom)
{
	log_warn("domain '%s': its VMM (pid %d) never finished starting: killed", dom->name,
		 (int)dom->pid);
	if (drun_watch_locked(dom) < 0) {
		drun_signal(dom, SIGKILL);
		close(dom->pidfd);
		dom->pidfd = -1;
		drun_stopped_locked(dom);
		return;
	}
	drun_signal(dom, SIGKILL);
}

/* Adopt the state file's VMM, or report how it ended. */
static void drun_reattach_locked(struct ddom *dom, const struct dstatefile *sf)
{
	char status[32];

	switch (drun_identify(dom, status, sizeof(status))) {
	case DRUN_IDENT_OURS:
		if (dom->starting)
			drun_adopt_started_locked(dom, status);
		else
			drun_adopt_locked(dom, status);
		break;
	case DRUN_IDENT_MUTE:
		if (dom->starting)
			drun_kill_unready_locked(dom);
		else
			drun_adopt_locked(dom, dstate_state_name(sf->state));
		break;
	case DRUN_IDENT_GONE:
	case DRUN_IDENT_OTHER:
		drun_stopped_locked(dom);   /* ended while vmkitd was down */
		break;
	}
}

static int drun_reattach_one(void *opaque, const char *dir, const char *name)
{
	struct vmkitd *d = opaque;
	char path[PATH_MAX], uuid[37], err[256];
	struct dstatefile sf;
	struct ddom *dom;
	json_t *st = NULL;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(uuid, sizeof(uuid), "%.*s", (int)(strlen(name) - strlen(".state")), name);
	if (dstore_read_json(path, &st, err, sizeof(err)) < 0 ||
	    dstatefile_from_json(st, &sf, err, sizeof(err)) < 0) {
		log_error("%s: %s (left in place; that VMM, if any, is not managed)", path, err);
		json_decref(st);
		return 0;
	}
	pthread_mutex_lock(&d->lock);
	dom = drun_state_domain_locked(d, uuid, &sf);
	if (dom && !dom->pid) {
		dom->refs++;
		drun_state_apply_locked(dom, &sf);
		drun_reattach_locked(dom, &sf);
	} else {
		dom = NULL;
	}
	pthread_mutex_unlock(&d->lock);
	if (dom)
		ddom_put(dom);
	json_decref(st);
	return 0;
}

int drun_reattach_all(struct vmkitd *d)
{
	char path[PATH_MAX];
	uint8_t *buf;
	size_t len;
	uint64_t v;

	snprintf(path, sizeof(path), "%s/lastid", d->cfg.state_dir);
	if (util_read_file(path, 64, &buf, &len) == 0) {
		buf[len ? len - 1 : 0] = 0;
		if (util_parse_uint((char *)buf, 0, INT64_MAX, &v) == 0)
			d->last_id = (long long)v;
		free(buf);
	}
	return dstore_scan(d->cfg.runtime_dir, ".state", drun_reattach_one, d);
}

void drun_autostart_all(struct vmkitd *d)
{
	struct ddom **v;
	size_t n = 0;

	pthread_mutex_lock(&d->lock);
	v = calloc(d->ndoms + 1, sizeof(*v));
	for (size_t i = 0; v && i < d->ndoms; i++) {
		if (d->doms[i]->autostart && !dstate_active(d->doms[i]->state)) {
			v[n++] = d->doms[i];
			d->doms[i]->refs++;
		}
	}
	pthread_mutex_unlock(&d->lock);
	for (size_t i = 0; i < n; i++) {
		struct derr err;
		bool go;

		pthread_mutex_lock(&v[i]->op);
		pthread_mutex_lock(&d->lock);
		go = !d->stopping && !v[i]->removed && !dstate_active(v[i]->state);
		pthread_mutex_unlock(&d->lock);
		if (go && drun_start(v[i], false, true, &err) < 0)
			log_error("autostart of domain '%s' failed: %s", v[i]->name, err.msg);
		pthread_mutex_unlock(&v[i]->op);
		ddom_put(v[i]);
	}
	free(v);
}

void drun_detach_all(struct vmkitd *d)
{
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < d->ndoms; i++) {
		struct ddom *dom = d->doms[i];

		dconsole_close_locked(dom);
		dmon_close_locked(dom);
		if (dom->pidfd < 0)
			continue;
		evloop_del(d->loop, dom->pidfd);
		close(dom->pidfd);
		dom->pidfd = -1;
		dom->refs--;   /* the watch's */
	}
	pthread_mutex_unlock(&d->lock);
}
