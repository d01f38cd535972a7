/* dstore: vmkitd's files (docs/api.md "Files"): atomic writes (tmp + fsync
 * + rename + fsync of the directory), the state-dir lock, the list of
 * stored definitions, JSON files. Paths are built by the caller. */
#ifndef VMKIT_DSTORE_H
#define VMKIT_DSTORE_H

#include <stddef.h>

#include <jansson.h>

/* Write data to path atomically (mode 0600) and durably (fsync of the file
 * and its directory): the state dir. 0 or -errno. */
int dstore_write_file(const char *path, const void *data, size_t len);
/* Atomically but without fsync: the runtime dir, whose files describe
 * processes that a host crash ends anyway. */
int dstore_write_runtime(const char *path, const void *data, size_t len);
/* Remove path (a missing one is fine) and fsync its directory, so that the
 * removal survives a host crash: the state dir. 0 or -errno. */
int dstore_unlink(const char *path);
/* json_dumps + dstore_write_runtime. */
int dstore_write_json(const char *path, json_t *j);
/* Read a JSON object (at most 16 MiB). 0 or -errno (-EINVAL: not a JSON
 * object; err says why). */
int dstore_read_json(const char *path, json_t **out, char *err, size_t errlen);

/* Take STATE/lock (flock, and our pid written into it). 0 and *fd, or
 * -EBUSY with err "another vmkitd (pid N) holds STATE/lock", or -errno. */
int dstore_lock(const char *state_dir, int *fd, char *err, size_t errlen);
/* Write the current pid into the lock file (after daemonizing). */
int dstore_lock_update(int fd);

/* mkdir -p with mode (existing directories are fine). 0 or -errno. */
int dstore_mkdirs(const char *path, unsigned mode);

/* Call fn(opaque, dir, name) for each entry of dir whose name ends with
 * suffix (sorted by name). 0 or the first negative return of fn / -errno. */
int dstore_scan(const char *dir, const char *suffix,
		int (*fn)(void *opaque, const char *dir, const char *name), void *opaque);

#endif
