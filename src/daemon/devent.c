/* devent: the event ring and its persisted sequence numbers (devent.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/log.h"
#include "common/util.h"
#include "devent.h"
#include "dstore.h"

static int devent_load_seq(struct devent_ring *ring)
{
	uint8_t *buf = NULL;
	size_t len;
	uint64_t v;
	int ret;

	ret = util_read_file(ring->seq_path, 64, &buf, &len);
	if (ret == -ENOENT)
		return 0;
	if (ret < 0)
		return ret;
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		len--;
	buf[len] = 0;
	ret = util_parse_uint((char *)buf, 0, UINT64_MAX / 2, &v);
	free(buf);
	if (ret < 0)
		return -EINVAL;
	ring->next = ring->oldest = v + 1;
	ring->reserved = ring->written = v;
	return 0;
}

int devent_init(struct devent_ring *ring, size_t capacity, const char *seq_path)
{
	int ret;

	memset(ring, 0, sizeof(*ring));
	ring->capacity = capacity;
	ring->next = ring->oldest = 1;
	ring->lines = calloc(capacity, sizeof(*ring->lines));
	ring->seq_path = seq_path ? strdup(seq_path) : NULL;
	if (!ring->lines || (seq_path && !ring->seq_path)) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = seq_path ? devent_load_seq(ring) : 0;
	if (ret < 0)
		goto fail;
	pthread_mutex_init(&ring->lock, NULL);
	pthread_mutex_init(&ring->file_lock, NULL);
	pthread_cond_init(&ring->cond, NULL);
	return 0;
fail:
	free(ring->lines);
	free(ring->seq_path);
	return ret;
}

void devent_fini(struct devent_ring *ring)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", ring->next - 1);

	/* A clean stop continues without a gap; a crash leaves the reservation. */
	if (ring->seq_path && ring->next > 1 && dstore_write_file(ring->seq_path, buf, (size_t)n) < 0)
		log_warn("cannot write %s", ring->seq_path);
	for (size_t i = 0; i < ring->capacity; i++)
		free(ring->lines[i]);
	free(ring->lines);
	free(ring->seq_path);
	if (ring->last_path)
		unlink(ring->last_path);   /* the seq file is exact now */
	free(ring->last_path);
	pthread_cond_destroy(&ring->cond);
	pthread_mutex_destroy(&ring->file_lock);
	pthread_mutex_destroy(&ring->lock);
}

static uint64_t devent_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static char *devent_line(uint64_t seq, json_t *domain, const char *event, const char *detail)
{
	json_t *j = json_pack("{s:I,s:I,s:o,s:s,s:s}", "seq", (json_int_t)seq,
			      "time_ms", (json_int_t)devent_now_ms(), "domain", domain,
			      "event", event, "detail", detail);
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	char *line = text ? malloc(strlen(text) + 2) : NULL;

	if (line)
		sprintf(line, "%s\n", text);
	free(text);
	json_decref(j);
	return line;
}

/* The seq file only grows (two writers may race: the larger value wins). */
static int devent_write_seq(struct devent_ring *ring, uint64_t v)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", v);
	int ret = 0;

	pthread_mutex_lock(&ring->file_lock);
	if (v > ring->written)
		ret = dstore_write_file(ring->seq_path, buf, (size_t)n);
	if (ret == 0)
		ring->written = MAX(ring->written, v);
	pthread_mutex_unlock(&ring->file_lock);
	return ret;
}

/* Keep the seq file ahead of the numbers handed out. Called locked; only
 * writes when devent_reserve_ahead did not keep up. */
static int devent_reserve(struct devent_ring *ring)
{
	uint64_t v = ring->next + DEVENT_RESERVE - 1;

	if (!ring->seq_path || ring->next <= ring->reserved)
		return 0;
	if (devent_write_seq(ring, v) < 0)
		return -EIO;
	ring->reserved = MAX(ring->reserved, v);
	return 0;
}

void devent_reserve_ahead(struct devent_ring *ring)
{
	uint64_t v = 0;
	int ret;

	pthread_mutex_lock(&ring->lock);
	if (ring->seq_path && !ring->reserving &&
	    ring->next + DEVENT_RESERVE / 2 > ring->reserved) {
		ring->reserving = true;
		v = ring->next + DEVENT_RESERVE - 1;
	}
	pthread_mutex_unlock(&ring->lock);
	if (!v)
		return;
	ret = devent_write_seq(ring, v);
	if (ret < 0)
		log_warn("cannot write %s: %s", ring->seq_path, strerror(-ret));
	pthread_mutex_lock(&ring->lock);
	ring->reserving = false;
	if (ret == 0)
		ring->reserved = MAX(ring->reserved, v);   /* durable now */
	pthread_mutex_unlock(&ring->lock);
}

int devent_track_last(struct devent_ring *ring, const char *path)
{
	uint8_t *buf = NULL;
	size_t len;
	uint64_t v;

	ring->last_path = strdup(path);
	if (!ring->last_path)
		return -ENOMEM;
	if (util_read_file(path, 64, &buf, &len) < 0)
		return 0;
	while (len && buf[len - 1] == '\n')
		buf[--len] = 0;
	if (util_parse_uint((char *)buf, 0, UINT64_MAX / 2, &v) == 0 && v < ring->next - 1 &&
	    ring->next == ring->oldest) {
		ring->gap_lo = v;
		ring->gap_hi = ring->next - 1;
	}
	free(buf);
	return 0;
}

/* The newest seq to the runtime file (ring locked). */
static void devent_write_last(struct devent_ring *ring)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", ring->next - 1);

	if (ring->last_path && dstore_write_runtime(ring->last_path, buf, (size_t)n) < 0)
		log_warn("cannot write %s", ring->last_path);
}

int devent_emit(struct devent_ring *ring, const char *name, const char *uuid,
		const char *event, const char *detail)
{
	size_t slot;
	char *line;
	int ret;

	pthread_mutex_lock(&ring->lock);
	ret = devent_reserve(ring);
	line = devent_line(ring->next, json_pack("{s:s,s:s}", "name", name, "uuid", uuid),
			   event, detail);
	if (!line) {
		pthread_mutex_unlock(&ring->lock);
		return -ENOMEM;
	}
	slot = ring->next % ring->capacity;
	free(ring->lines[slot]);
	ring->lines[slot] = line;
	ring->next++;
	if (ring->next - ring->oldest > ring->capacity)
		ring->oldest = ring->next - ring->capacity;
	devent_write_last(ring);
	pthread_cond_broadcast(&ring->cond);
	pthread_mutex_unlock(&ring->lock);
	return ret;
}

/* Append text to *out (growing it). */
static int devent_append(char **out, size_t *len, const char *text)
{
	size_t n = strlen(text);
	char *p = realloc(*out, *len + n + 1);

	if (!p)
		return -ENOMEM;
	memcpy(p + *len, text, n + 1);
	*out = p;
	*len += n;
	return 0;
}

static int devent_lost(struct devent_ring *ring, uint64_t *after, char **out, size_t *len)
{
	char detail[48], *line;
	int ret;

	uint64_t n = ring->oldest - 1 - *after;

	if (*after < ring->gap_lo && ring->oldest > ring->gap_hi)
		n -= ring->gap_hi - ring->gap_lo;   /* numbers never used */
	snprintf(detail, sizeof(detail), "%" PRIu64 " events", n);
	line = devent_line(ring->oldest - 1, json_pack("{s:s,s:s}", "name", "", "uuid", ""),
			   "lost", detail);
	if (!line)
		return -ENOMEM;
	ret = devent_append(out, len, line);
	free(line);
	*after = ring->oldest - 1;
	return ret;
}

int devent_read(struct devent_ring *ring, uint64_t *after, size_t max_bytes,
		char **out, size_t *len)
{
	int ret = 0;

	*out = NULL;
	*len = 0;
	pthread_mutex_lock(&ring->lock);
	if (*after >= ring->gap_lo && *after < ring->gap_hi)
		*after = ring->gap_hi;   /* those numbers were never used */
	if (*after + 1 < ring->oldest)
		ret = devent_lost(ring, after, out, len);
	for (uint64_t s = MAX(*after + 1, ring->oldest); ret == 0 && s < ring->next; s++) {
		const char *line = ring->lines[s % ring->capacity];

		if (*len && *len + strlen(line) > max_bytes)
			break;
		ret = devent_append(out, len, line);
		*after = s;
	}
	pthread_mutex_unlock(&ring->lock);
	return ret;
}

uint64_t devent_last(struct devent_ring *ring)
{
	uint64_t v;

	pthread_mutex_lock(&ring->lock);
	v = ring->next - 1;
	pthread_mutex_unlock(&ring->lock);
	return v;
}

bool devent_wait(struct devent_ring *ring, uint64_t after, unsigned timeout_ms)
{
	struct timespec ts;
	bool ok;

	util_deadline(&ts, timeout_ms);
	pthread_mutex_lock(&ring->lock);
	while (!ring->stopping && ring->next - 1 <= after)
		if (pthread_cond_timedwait(&ring->cond, &ring->lock, &ts) == ETIMEDOUT)
			break;
	ok = !ring->stopping;
	pthread_mutex_unlock(&ring->lock);
	return ok;
}

void devent_stop(struct devent_ring *ring)
{
	pthread_mutex_lock(&ring->lock);
	ring->stopping = true;
	pthread_cond_broadcast(&ring->cond);
	pthread_mutex_unlock(&ring->lock);
}
