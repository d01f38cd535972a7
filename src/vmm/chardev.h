/* chardev: character backends behind the serial port (and later virtio-console):
 * stdio, file:PATH, pty, unix:PATH (listening socket, one client at a time), none.
 * Output never blocks the caller: what the backend cannot take now is buffered up
 * to CHARDEV_OUTBUF bytes and flushed from the event loop; the rest is dropped and
 * counted. Input is read on the event-loop thread and handed to the front end
 * only as fast as it has room (can_recv), so no input is lost.
 * The stdio backend on a tty puts the terminal in raw mode and handles the escape
 * keys (Ctrl-a x quit, Ctrl-a Ctrl-a sends Ctrl-a, Ctrl-a h help); the terminal is
 * restored by chardev_close() and by term_restore_on_signal().
 * With spec->log set, every byte of output is also appended to that file. */
#ifndef VMKIT_CHARDEV_H
#define VMKIT_CHARDEV_H

#include <stddef.h>
#include <stdint.h>

struct evloop;

#define CHARDEV_OUTBUF (64 * 1024)
#define CHARDEV_PATH_MAX 4096

enum chardev_kind {
	CHARDEV_NONE,
	CHARDEV_STDIO,
	CHARDEV_FILE,
	CHARDEV_PTY,
	CHARDEV_UNIX,
};

struct chardev_spec {
	enum chardev_kind kind;
	char path[CHARDEV_PATH_MAX]; /* FILE and UNIX */
	/* A file that receives a copy of all output, appended whatever the
	 * backend does with it ("" = none): what a manager keeps as the
	 * console log even for output nobody read from a pty. */
	char log[CHARDEV_PATH_MAX];
};

/* Front end (the device) callbacks, invoked on the event-loop thread without
 * any chardev lock held. */
struct chardev_frontend {
	size_t (*can_recv)(void *opaque);
	void (*recv)(void *opaque, const uint8_t *buf, size_t len);
	void *opaque;
};

/* Callbacks to the VM (escape keys on stdio). */
struct chardev_hooks {
	void (*quit)(void *opaque); /* Ctrl-a x */
	void *opaque;
};

/* Parse "stdio", "none", "pty", "file:PATH", "unix:PATH" into out's backend
 * (kind and path; out->log is left as it is). 0 or -EINVAL (message logged
 * naming the bad spec); -ENAMETOOLONG for a path longer than a socket
 * address can hold (unix) or PATH_MAX (file). */
int chardev_parse(const char *s, struct chardev_spec *out);
const char *chardev_kind_name(enum chardev_kind kind);

struct chardev;
int chardev_open(const struct chardev_spec *spec, struct evloop *loop,
		 const struct chardev_hooks *hooks, struct chardev **out);
/* The stdio backend on given fds instead of 0/1 (-1: no input / no output);
 * for tests. The fds stay open on close; their file status flags are
 * restored as for stdio. */
int chardev_open_fds(int in_fd, int out_fd, struct evloop *loop,
		     const struct chardev_hooks *hooks, struct chardev **out);
void chardev_close(struct chardev *cd); /* NULL is fine; restores the tty */
void chardev_set_frontend(struct chardev *cd, const struct chardev_frontend *fe);
/* The front end has room again: resume reading input. Any thread. */
void chardev_accept_input(struct chardev *cd);
/* Queue output; never blocks. Returns bytes accepted (the rest was dropped). */
size_t chardev_write(struct chardev *cd, const void *buf, size_t len);
uint64_t chardev_dropped(const struct chardev *cd);
/* The pty slave path (PTY), the file/socket path, or "" . */
const char *chardev_filename(const struct chardev *cd);
enum chardev_kind chardev_kind_of(const struct chardev *cd);

#endif
