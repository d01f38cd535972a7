/* devent: the lifecycle event ring. Events get sequence numbers that grow
 * across daemon restarts: the state dir's `seq` file holds a reservation
 * (the highest number this run may hand out before writing a new one), so
 * a crash never reuses a number; gaps are allowed. The newest `capacity`
 * events are kept in memory as ready-made NDJSON lines. Thread-safe; readers
 * block in devent_wait until a newer event or devent_stop. */
#ifndef VMKIT_DEVENT_H
#define VMKIT_DEVENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DEVENT_RESERVE 64      /* numbers reserved per write of the seq file */

struct devent_ring {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char **lines;              /* [capacity], slot = seq % capacity */
	size_t capacity;
	uint64_t next;             /* the next event's seq */
	uint64_t oldest;           /* oldest retained seq (== next when empty) */
	uint64_t reserved;         /* highest seq covered by the seq file */
	bool reserving;            /* devent_reserve_ahead is writing */
	uint64_t written;          /* the value in the seq file (file_lock) */
	char *last_path;           /* RUNTIME file with the newest seq (no fsync) */
	uint64_t gap_lo, gap_hi;   /* (gap_lo, gap_hi]: numbers a crashed run
	                            * reserved and never used (0, 0: none) */
	pthread_mutex_t file_lock; /* one writer of the seq file at a time; never
	                            * waited for while holding lock elsewhere than
	                            * in devent_emit's fallback */
	char *seq_path;            /* NULL: not persisted (tests) */
	bool stopping;
};

/* Load the seq file (missing = start at 1; unreadable or not a number:
 * -EINVAL, and the daemon refuses to start). 0 or -errno. */
int devent_init(struct devent_ring *ring, size_t capacity, const char *seq_path);
void devent_fini(struct devent_ring *ring);
/* Keep the newest seq in path too (runtime dir, written without fsync on
 * every event). Read first: after a crash of the previous vmkitd (not of
 * the host) it tells which reserved numbers were never used, so a client
 * that had seen everything is not told of "lost" events. 0 or -ENOMEM. */
int devent_track_last(struct devent_ring *ring, const char *path);

/* Append {"seq","time_ms","domain":{"name","uuid"},"event","detail"}; 0 or
 * -errno (the seq file could not be written: the event is still kept). */
int devent_emit(struct devent_ring *ring, const char *name, const char *uuid,
		const char *event, const char *detail);

/* Extend the reservation before it runs out: called where no lock is held
 * (after a request, after an exit was handled), so that devent_emit, which
 * runs under vmkitd.lock, writes (and fsyncs) the seq file only when a
 * burst outran this. */
void devent_reserve_ahead(struct devent_ring *ring);

/* Copy retained events with seq > *after into a malloc'd NDJSON text
 * (*out, *len; NULL/0 when none), at most max_bytes unless one line is
 * larger, and advance *after. When *after is older than the ring (events
 * were dropped), the text starts with a "lost" event. 0 or -ENOMEM. */
int devent_read(struct devent_ring *ring, uint64_t *after, size_t max_bytes,
		char **out, size_t *len);
/* The seq of the newest event (0 when none ever). */
uint64_t devent_last(struct devent_ring *ring);
/* Block until an event newer than after exists, devent_stop, or timeout_ms.
 * Returns true unless stopping. */
bool devent_wait(struct devent_ring *ring, uint64_t after, unsigned timeout_ms);
void devent_stop(struct devent_ring *ring);

#endif
