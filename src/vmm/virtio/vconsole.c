/* vconsole: the virtio-console device (virtio 1.x, 5.3), port 0 only (no
 * MULTIPORT; Linux's hvc0): receiveq 0, transmitq 1. Owns its chardev
 * backend (stdio, pty, file, unix, none; opened at create), the flow of
 * bytes both ways, the emergency-write register and the statistics.
 *
 * Input: the chardev reads its backend on the event loop only as far as
 * can_recv() allows, and can_recv() is what the posted receive buffers can
 * take (counted by popping the chains and giving them back). With no
 * buffers it is 0: the chardev stops reading (the input waits in the
 * backend) until the driver kicks the receive queue and we call
 * chardev_accept_input(). recv() fills chains in ring order, each pushed
 * with the bytes written.
 *
 * Output: every device-readable segment of a transmit chain goes to
 * chardev_write(), which never blocks (what the backend cannot take is
 * buffered, then dropped and counted by the chardev). A transmit chain with
 * device-writable segments, or a receive chain with device-readable ones,
 * is a malformed ring: the device fails. At most VCON_TX_BUDGET chains per
 * pass; then the queue is kicked again.
 *
 * Locking: ops run with the device lock held (the transport takes it); the
 * chardev calls can_recv/recv on the event loop without its own lock, and
 * they take the device lock. Lock order device -> chardev. */
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chardev.h"
#include "common/log.h"
#include "common/util.h"
#include "config.h"
#include "virtio/virtio.h"
#include "virtio/virtqueue.h"

#define VCON_RXQ            0
#define VCON_TXQ            1
#define VCON_QUEUE_MAX      128
#define VCON_F_EMERG_WRITE  2
#define VCON_CFG_SIZE       12    /* cols, rows, max_nr_ports, emerg_wr */
#define VCON_CFG_EMERG_WR   8
#define VCON_RECV_MAX       4096  /* can_recv reports at most this */
#define VCON_TX_BUDGET      256

struct vconsole {
	struct virtio_dev *vd;
	struct chardev *cd;
	char id[VIRTIO_ID_MAX];
	char backend[CHARDEV_PATH_MAX + 16];
	bool active;                 /* between activate and reset */
	bool failed;                 /* virtio_dev_fail called; until reset */
	struct virtqueue_chain *rxc, *txc;
	uint64_t rx_bytes, tx_bytes, rx_lost;
};

__attribute__((format(printf, 2, 3)))
static void vcon_fail(struct vconsole *c, const char *fmt, ...)
{
	char msg[VIRTQUEUE_REASON_MAX + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->failed = true;
	virtio_dev_fail(c->vd, "%s", msg);
}

static void vcon_queue_fail(struct vconsole *c, struct virtqueue *vq, const char *qname,
			    int err)
{
	vcon_fail(c, "%s queue: %s", qname,
		  virtqueue_broken(vq) ? virtqueue_reason(vq) : strerror(-err));
}

static struct virtqueue *vcon_queue(struct vconsole *c, unsigned q)
{
	if (!c->vd || !c->active || c->failed)
		return NULL;
	return virtio_queue(c->vd, q);
}

/* Pop the next receive chain: 1, 0 (none) or -errno (device failed). */
static int vcon_rx_pop(struct vconsole *c, struct virtqueue *vq)
{
	int ret = virtqueue_pop(vq, c->rxc);

	if (ret < 0) {
		vcon_queue_fail(c, vq, "receive", ret);
	} else if (ret > 0 && c->rxc->nout) {
		vcon_fail(c, "receive queue: chain %u has device-readable segments", c->rxc->head);
		ret = -EINVAL;
	}
	return ret;
}

/* Bytes the posted receive buffers can take, at most VCON_RECV_MAX; with
 * none, kicks are re-enabled first. Lock held. */
static size_t vcon_rx_room(struct vconsole *c)
{
	struct virtqueue *vq = vcon_queue(c, VCON_RXQ);
	unsigned popped = 0;
	uint64_t room = 0;
	int ret = 1;

	if (!vq)
		return 0;
	if (!virtqueue_has_avail(vq) && !virtqueue_rearm(vq))
		return 0;
	while (room < VCON_RECV_MAX && ret > 0) {
		ret = vcon_rx_pop(c, vq);
		if (ret < 0)
			return 0;
		popped += (unsigned)ret;
		room += ret > 0 ? c->rxc->in_bytes : 0;
	}
	while (popped--)
		(void)virtqueue_unpop(vq);
	return (size_t)MIN(room, VCON_RECV_MAX);
}

/* Put len bytes into receive chains; returns how many fitted. Lock held. */
static size_t vcon_rx_fill(struct vconsole *c, const uint8_t *buf, size_t len)
{
	struct virtqueue *vq = vcon_queue(c, VCON_RXQ);
	size_t done = 0, n;

	while (vq && done < len && vcon_rx_pop(c, vq) > 0) {
		n = virtqueue_chain_write(c->rxc, 0, buf + done, len - done);
		if (virtqueue_push(vq, c->rxc->head, (uint32_t)n) < 0) {
			vcon_queue_fail(c, vq, "receive", vq->error);
			return done;
		}
		done += n;
	}
	if (done) {
		c->rx_bytes += done;
		virtio_queue_interrupt(c->vd, VCON_RXQ);
	}
	return done;
}

/* ---- chardev front end (event-loop thread, device lock not held) ---- */

static size_t vcon_can_recv(void *opaque)
{
	struct vconsole *c = opaque;
	size_t room;

	if (!c->vd)
		return 0;
	pthread_mutex_lock(virtio_dev_lock(c->vd));
	room = vcon_rx_room(c);
	pthread_mutex_unlock(virtio_dev_lock(c->vd));
	return room;
}

static void vcon_recv(void *opaque, const uint8_t *buf, size_t len)
{
	struct vconsole *c = opaque;
	size_t done;

	if (!c->vd)
		return;
	pthread_mutex_lock(virtio_dev_lock(c->vd));
	done = vcon_rx_fill(c, buf, len);
	c->rx_lost += len - done; /* only if the device was reset meanwhile */
	pthread_mutex_unlock(virtio_dev_lock(c->vd));
}

/* ---- transmit ---- */

/* Write the popped chain's bytes to the backend. 0, or -EPROTO when the
 * chain has device-writable segments. */
static int vcon_tx_chain(struct vconsole *c)
{
	const struct virtqueue_chain *ch = c->txc;

	if (ch->nin)
		return -EPROTO;
	for (unsigned i = 0; i < ch->nout; i++)
		(void)chardev_write(c->cd, ch->out[i].iov_base, ch->out[i].iov_len);
	c->tx_bytes += ch->out_bytes;
	return 0;
}

/* Pop and write up to VCON_TX_BUDGET chains into done[]: how many, or
 * -errno after failing the device. */
static int vcon_tx_batch(struct vconsole *c, struct virtqueue *vq, struct virtqueue_used *done)
{
	unsigned nd = 0;
	int ret;

	while (nd < VCON_TX_BUDGET) {
		ret = virtqueue_pop(vq, c->txc);
		if (ret == 0 && virtqueue_rearm(vq))
			continue;
		if (ret < 0)
			vcon_queue_fail(c, vq, "transmit", ret);
		if (ret <= 0)
			return ret < 0 ? ret : (int)nd;
		if (vcon_tx_chain(c) < 0) {
			vcon_fail(c, "transmit queue: chain %u has device-writable segments",
				  c->txc->head);
			return -EPROTO;
		}
		done[nd++] = (struct virtqueue_used){ .head = c->txc->head, .len = 0 };
	}
	return (int)nd;
}

static void vcon_tx_run(struct vconsole *c)
{
	struct virtqueue *vq = vcon_queue(c, VCON_TXQ);
	struct virtqueue_used done[VCON_TX_BUDGET];
	int nd;

	if (!vq)
		return;
	nd = vcon_tx_batch(c, vq, done);
	if (nd > 0 && virtqueue_push_batch(vq, done, (unsigned)nd) < 0)
		vcon_queue_fail(c, vq, "transmit", vq->error);
	else if (nd > 0)
		virtio_queue_interrupt(c->vd, VCON_TXQ);
	if (nd == VCON_TX_BUDGET)
		virtio_queue_kick(c->vd, VCON_TXQ);
}

/* ---- ops ---- */

static void vcon_cfg_read(void *dev, unsigned off, void *data, unsigned size)
{
	uint8_t cfg[VCON_CFG_SIZE] = { 0 };
	uint32_t ports = htole32(1);

	(void)dev;
	memcpy(cfg + 4, &ports, sizeof(ports)); /* cols = rows = 0, emerg_wr reads 0 */
	virtio_cfg_copy(cfg, sizeof(cfg), off, data, size);
}

/* Only emerg_wr is writable: its low byte goes to the backend. */
static void vcon_cfg_write(void *dev, unsigned off, const void *data, unsigned size)
{
	struct vconsole *c = dev;

	if (off == VCON_CFG_EMERG_WR && size >= 1) {
		(void)chardev_write(c->cd, data, 1);
		c->tx_bytes++;
	}
}

static int vcon_activate(void *dev, uint64_t features)
{
	struct vconsole *c = dev;

	(void)features;
	c->active = true;
	c->failed = false;
	chardev_accept_input(c->cd);
	return 0;
}

static void vcon_queue_notify(void *dev, unsigned q)
{
	struct vconsole *c = dev;

	if (q == VCON_TXQ)
		vcon_tx_run(c);
	else if (q == VCON_RXQ && vcon_queue(c, VCON_RXQ))
		chardev_accept_input(c->cd); /* buffers posted: read input again */
}

static void vcon_reset(void *dev)
{
	struct vconsole *c = dev;

	c->active = false;
	c->failed = false;
}

static void vcon_query(void *dev, json_t *obj)
{
	const struct vconsole *c = dev;

	json_object_set_new(obj, "backend", json_string(c->backend));
	json_object_set_new(obj, "stats", json_pack("{s:I,s:I,s:I,s:I}",
		"rx-bytes", (json_int_t)c->rx_bytes, "tx-bytes", (json_int_t)c->tx_bytes,
		"rx-lost", (json_int_t)c->rx_lost,
		"tx-dropped", (json_int_t)chardev_dropped(c->cd)));
}

static void vcon_free(struct vconsole *c)
{
	chardev_close(c->cd);
	virtqueue_chain_free(c->rxc);
	virtqueue_chain_free(c->txc);
	free(c);
}

static void vcon_destroy(void *dev)
{
	vcon_free(dev);
}

static const struct virtio_device_ops vcon_ops = {
	.name = "virtio-console",
	.device_id = VIRTIO_ID_CONSOLE,
	.cfg_read = vcon_cfg_read,
	.cfg_write = vcon_cfg_write,
	.activate = vcon_activate,
	.queue_notify = vcon_queue_notify,
	.reset = vcon_reset,
	.query = vcon_query,
	.set_link = NULL,
	.destroy = vcon_destroy,
};

/* ---- create ---- */

static int vcon_open_backend(struct vconsole *c, const struct virtio_env *env,
			     const struct config_console *cfg)
{
	const struct chardev_frontend fe = { .can_recv = vcon_can_recv, .recv = vcon_recv,
					     .opaque = c };
	const char *file;
	int ret = chardev_open(&cfg->backend, env->loop, NULL, &c->cd);

	if (ret < 0) {
		log_error("%s: cannot open the console backend %s: %s", cfg->id,
			  chardev_kind_name(cfg->backend.kind), strerror(-ret));
		return ret;
	}
	file = chardev_filename(c->cd);
	snprintf(c->backend, sizeof(c->backend), "%s%s%s",
		 chardev_kind_name(cfg->backend.kind), file[0] ? ":" : "", file);
	if (cfg->backend.kind == CHARDEV_PTY)
		log_info("%s: virtio console (hvc0) on %s", cfg->id, file);
	chardev_set_frontend(c->cd, &fe);
	return 0;
}

int vconsole_create(const struct virtio_env *env, const struct config_console *cfg,
		    struct virtio_dev_info *info)
{
	struct vconsole *c = calloc(1, sizeof(*c));
	int ret = -ENOMEM;

	if (!c)
		goto fail;
	snprintf(c->id, sizeof(c->id), "%s", cfg->id);
	c->rxc = virtqueue_chain_new(VCON_QUEUE_MAX);
	c->txc = virtqueue_chain_new(VCON_QUEUE_MAX);
	if (!c->rxc || !c->txc)
		goto fail;
	ret = vcon_open_backend(c, env, cfg);
	if (ret < 0)
		goto fail;
	*info = (struct virtio_dev_info){
		.ops = &vcon_ops,
		.dev = c,
		.handle = &c->vd,
		.nqueues = 2,
		.queue_max = VCON_QUEUE_MAX,
		.features = 1ull << VCON_F_EMERG_WRITE,
		.cfg_size = VCON_CFG_SIZE,
	};
	snprintf(info->id, sizeof(info->id), "%s", cfg->id);
	return 0;
fail:
	if (ret == -ENOMEM)
		log_error("%s: %s", cfg->id, strerror(-ret));
	if (c)
		vcon_free(c);
	return ret;
}
