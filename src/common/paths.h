/* paths: the default directories and file names that vmkitd (src/daemon)
 * and the vmkit CLI (src/cli) must agree on. */
#ifndef VMKIT_PATHS_H
#define VMKIT_PATHS_H

#define VMKIT_STATE_DIR "/var/lib/vmkit"     /* vmkitd --state-dir */
#define VMKIT_RUNTIME_DIR "/run/vmkit"       /* vmkitd --runtime-dir */
#define VMKIT_LOG_DIR "/var/log/vmkit"       /* vmkitd --log-dir */
/* In the runtime directory: */
#define VMKIT_RW_SOCKET "vmkitd.sock"
#define VMKIT_RO_SOCKET "vmkitd-ro.sock"
#define VMKIT_PID_FILE "vmkitd.pid"

#endif
