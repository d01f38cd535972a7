/* aio_ctx: see aio_ctx.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "aio_ctx.h"

struct aio_ctx *aio_ctx_new(void)
{
	struct aio_ctx *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	c->main = pthread_self();
	return c;
}

void aio_ctx_reset(struct aio_ctx *c)
{
	memset(c->calls, 0, sizeof(c->calls));
	memset(c->ret, 0, sizeof(c->ret));
	memset(c->req, 0, sizeof(c->req));
	c->done = 0;
	c->batches = c->done_at_first = c->done_at_last = 0;
}

void aio_ctx_free(struct aio_ctx *c)
{
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void aio_ctx_done(struct blk_req *req, int ret)
{
	struct aio_ctx *c = req->opaque;
	size_t i = (size_t)(req - c->req);

	pthread_mutex_lock(&c->lock);
	c->calls[i]++;
	c->ret[i] = ret;
	if (pthread_equal(pthread_self(), c->main))
		c->on_main = true;
	c->done++;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

void aio_ctx_batch_done(void *opaque)
{
	struct aio_ctx *c = opaque;

	pthread_mutex_lock(&c->lock);
	if (!c->batches++)
		c->done_at_first = c->done;
	c->done_at_last = c->done;
	if (pthread_equal(pthread_self(), c->main))
		c->on_main = true;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

void aio_ctx_wait_batch(struct aio_ctx *c, unsigned n)
{
	pthread_mutex_lock(&c->lock);
	while (c->done_at_last < n)
		pthread_cond_wait(&c->cond, &c->lock);
	pthread_mutex_unlock(&c->lock);
}

void aio_ctx_wait(struct aio_ctx *c, unsigned n)
{
	pthread_mutex_lock(&c->lock);
	while (c->done < n)
		pthread_cond_wait(&c->cond, &c->lock);
	pthread_mutex_unlock(&c->lock);
}

void aio_ctx_submit(struct blk *b, struct aio_ctx *c, size_t i, enum blk_op op, uint64_t off,
		    uint64_t len, uint8_t *buf)
{
	struct blk_req *r = &c->req[i];

	assert_true(i < AIO_CTX_MAX);
	*r = (struct blk_req){ .op = op, .off = off, .len = len, .done = aio_ctx_done,
			       .opaque = c };
	if (buf) {
		c->iov[i] = (struct iovec){ buf, (size_t)len };
		r->iov = &c->iov[i];
		r->iovcnt = 1;
	}
	assert_int_equal(blk_aio_submit(b, r), 0);
}
