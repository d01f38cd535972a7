/* evloop: the epoll event loop that runs backends, timers and control clients
 * off the vCPU threads. Registration calls are safe from any thread. */
#ifndef VMKIT_EVLOOP_H
#define VMKIT_EVLOOP_H

#include <stdint.h>
#include <sys/epoll.h>

struct evloop;
/* Called on the loop thread with the epoll events that fired. */
typedef void (*evloop_fn)(void *opaque, uint32_t events);

int evloop_create(struct evloop **out);
void evloop_destroy(struct evloop *loop);
/* Watch fd for events (EPOLLIN, EPOLLOUT...); one registration per fd. */
int evloop_add(struct evloop *loop, int fd, uint32_t events, evloop_fn fn, void *opaque);
int evloop_mod(struct evloop *loop, int fd, uint32_t events);
int evloop_del(struct evloop *loop, int fd);
/* Run callbacks until evloop_stop(); returns 0 or -errno. */
int evloop_run(struct evloop *loop);
/* Make evloop_run() return; safe from any thread and from signal context. */
void evloop_stop(struct evloop *loop);
/* Queue fn(opaque) to run once on the loop thread; safe from any thread. */
int evloop_call(struct evloop *loop, void (*fn)(void *opaque), void *opaque);
/* free(p) on the loop thread, after the callbacks of events it has already
 * taken (which may still hold p); at once when called on the loop thread,
 * while evloop_run() is not running, or if the call cannot be queued. */
void evloop_free_later(struct evloop *loop, void *p);

#endif
