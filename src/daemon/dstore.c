/* dstore: atomic files, the state-dir lock, directory scans (dstore.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "dstore.h"

static int dstore_fsync_dir(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	int fd, ret = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		slash[slash == dir] = 0;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static int dstore_write(const char *path, const void *data, size_t len, bool durable)
{
	char tmp[PATH_MAX];
	int fd, ret;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	ret = util_write_all(fd, data, len);
	if (ret == 0 && durable && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && rename(tmp, path) < 0)
		ret = -errno;
	if (ret < 0) {
		unlink(tmp);
		return ret;
	}
	return durable ? dstore_fsync_dir(path) : 0;
}

int dstore_write_file(const char *path, const void *data, size_t len)
{
	return dstore_write(path, data, len, true);
}

int dstore_write_runtime(const char *path, const void *data, size_t len)
{
	return dstore_write(path, data, len, false);
}

int dstore_unlink(const char *path)
{
	if (unlink(path) < 0)
		return errno == ENOENT ? 0 : -errno;
	return dstore_fsync_dir(path);
}

int dstore_write_json(const char *path, json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT);
	int ret;

	if (!text)
		return -ENOMEM;
	ret = dstore_write_runtime(path, text, strlen(text));
	free(text);
	return ret;
}

int dstore_read_json(const char *path, json_t **out, char *err, size_t errlen)
{
	json_error_t jerr;
	uint8_t *buf;
	size_t len;
	int ret;

	ret = util_read_file(path, 16 << 20, &buf, &len);
	if (ret < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	*out = json_loadb((char *)buf, len, 0, &jerr);
	free(buf);
	if (*out && json_is_object(*out))
		return 0;
	snprintf(err, errlen, "%s: %s", path, *out ? "not a JSON object" : jerr.text);
	json_decref(*out);
	*out = NULL;
	return -EINVAL;
}

int dstore_lock_update(int fd)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());

	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n)
		return -errno;
	return 0;
}

int dstore_lock(const char *state_dir, int *fd, char *err, size_t errlen)
{
	char path[PATH_MAX], pid[32] = "?";
	ssize_t n;
	int lfd;

	snprintf(path, sizeof(path), "%s/lock", state_dir);
	lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	if (flock(lfd, LOCK_EX | LOCK_NB) == 0 && dstore_lock_update(lfd) == 0) {
		*fd = lfd;
		return 0;
	}
	n = pread(lfd, pid, sizeof(pid) - 1, 0);
	pid[n > 0 ? n : 1] = 0;
	pid[strcspn(pid, "\n")] = 0;
	snprintf(err, errlen, "another vmkitd (pid %s) holds %s", pid, path);
	close(lfd);
	return -EBUSY;
}

int dstore_mkdirs(const char *path, unsigned mode)
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int dstore_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int dstore_scan(const char *dir, const char *suffix,
		int (*fn)(void *opaque, const char *dir, const char *name), void *opaque)
{
	size_t n = 0, cap = 0, sl = strlen(suffix);
	char **names = NULL;
	struct dirent *de;
	int ret = 0;
	DIR *dp = opendir(dir);

	if (!dp)
		return -errno;
	while ((de = readdir(dp)) != NULL && ret == 0) {
		size_t l = strlen(de->d_name);
		char **p;

		if (l <= sl || strcmp(de->d_name + l - sl, suffix) != 0)
			continue;
		p = n == cap ? realloc(names, (cap = cap * 2 + 16) * sizeof(*names)) : names;
		names = p ? p : names;
		if (!p || !(names[n] = strdup(de->d_name)))
			ret = -ENOMEM;
		else
			n++;
	}
	closedir(dp);
	if (n)
		qsort(names, n, sizeof(*names), dstore_cmp);
	for (size_t i = 0; i < n; i++) {
		if (ret == 0)
			ret = fn(opaque, dir, names[i]);
		free(names[i]);
	}
	free(names);
	return ret;
}
