/* dvmm: vmkitd's side of one vmkit-vmm process: spawning it (own session,
 * stdin /dev/null, stdout+stderr appended to the domain log, default signal
 * dispositions, no inherited descriptors), its CPU time, and the talker for
 * its control socket (connect, read the greeting, one {"execute"} request,
 * its reply, all within a timeout). No daemon state. */
#ifndef VMKIT_DVMM_H
#define VMKIT_DVMM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

/* posix_spawn vmm --config config_path; 0 and *pid, or -errno (err says). */
int dvmm_spawn(const char *vmm, const char *config_path, const char *log_path,
	       pid_t *pid, char *err, size_t errlen);

/* Connect to the VMM's control socket at path sock: 0 and *fd, or -errno
 * (-ENAMETOOLONG when sock does not fit a unix socket address). */
int dvmm_connect(const char *sock, int *fd);
/* Send {"execute": cmd, "arguments": args} (args borrowed, NULL = none) on
 * the control socket at sock and wait for the reply up to timeout_ms.
 * 0 and *ret (the "return" object, new reference; may be NULL when the
 * caller passes ret NULL), or -errno with err naming the problem
 * (-ECONNREFUSED/-ENOENT: nobody listens yet; -EREMOTEIO: the VMM answered
 * with an error; -ETIMEDOUT). */
int dvmm_call(const char *sock, const char *cmd, json_t *args, unsigned timeout_ms,
	      json_t **ret, char *err, size_t errlen);

/* The last at most max bytes of the file at path, one line per line of
 * output, for error messages ("" when unreadable). malloc'd. */
char *dvmm_log_tail(const char *path, size_t max);

#endif
