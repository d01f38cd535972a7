/* control: the VMM's control socket server (unix stream socket, protocol in
 * ctlproto.h). Any number of clients may connect, disconnect or reconnect at
 * any time; a client that hangs up or stops reading never affects the VM (its
 * output is bounded and it is dropped past the bound). Commands are looked up
 * in a table given by the VM; events are broadcast to every client. */
#ifndef VMKIT_CONTROL_H
#define VMKIT_CONTROL_H

#include <jansson.h>

struct evloop;
struct control;

/* A command handler: fill *ret (an object, may stay NULL for {}) or return
 * -errno and set *err to a malloc'd message. Runs on the event-loop thread. */
typedef int (*control_cmd_fn)(void *vm, json_t *args, json_t **ret, char **err);

struct control_cmd {
	const char *name;
	control_cmd_fn fn;
};

/* Bind path (refusing one longer than sun_path with -ENAMETOOLONG; an existing
 * socket file is replaced), listen, and serve on loop. cmds ends with {NULL}. */
int control_open(const char *path, struct evloop *loop, const struct control_cmd *cmds,
		 void *vm, struct control **out);
/* Close every client, unlink the socket. NULL is fine. Call it on the loop
 * thread or once evloop_run() has returned. */
void control_close(struct control *ctl);
/* Broadcast an event. Safe from any thread. data is stolen (NULL = none). */
void control_event(struct control *ctl, const char *name, json_t *data);

#endif
