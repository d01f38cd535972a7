/* vdev_balloon: virtio-balloon requests (see vdev_balloon.h). */
#include "glog.h"
#include "io.h"
#include "lib.h"
#include "vdev_balloon.h"

#define VBAL_QUEUE_MAX 64
#define VBAL_INFLATEQ 0
#define VBAL_DEFLATEQ 1
#define VBAL_STATSQ 2
#define VBAL_CFG_NUM_PAGES 0
#define VBAL_CFG_ACTUAL 4
#define VBAL_STAT_SIZE 10
#define VBAL_TIMEOUT_MS 30000

static void vbal_stats_fill(struct vbal *b)
{
	for (unsigned t = 0; t < VBAL_NSTATS; t++) {
		uint8_t *e = b->stats_buf + VBAL_STAT_SIZE * t;
		uint64_t v = b->stats_vals[t];

		e[0] = (uint8_t)t;
		e[1] = 0;
		for (unsigned i = 0; i < 8; i++)
			e[2 + i] = (uint8_t)(v >> (8 * i));
	}
}

static int vbal_stats_post(struct vbal *b)
{
	struct virtq_sg sg = { vctx_pa(b->c, b->stats_buf), VBAL_STAT_SIZE * VBAL_NSTATS, false };
	int head;

	b->stats_vals[3] = b->stats_sent + 1;  /* minor-faults: this buffer's number */
	vbal_stats_fill(b);
	head = virtq_add(b->stats, &sg, 1);
	if (head < 0)
		return head;
	b->stats_sent++;
	virtio_kick(b->d, b->stats);
	return 0;
}

static int vbal_queues(struct vctx *c, struct virtio_dev *d, bool stats)
{
	int ret = virtio_queue_setup(d, &c->dma, VBAL_INFLATEQ, VBAL_QUEUE_MAX);

	if (!ret)
		ret = virtio_queue_setup(d, &c->dma, VBAL_DEFLATEQ, VBAL_QUEUE_MAX);
	if (!ret && stats)
		ret = virtio_queue_setup(d, &c->dma, VBAL_STATSQ, VBAL_QUEUE_MAX);
	return ret;
}

int vbal_open(struct vctx *c, struct virtio_dev *d, struct vbal *b)
{
	int ret = virtio_begin(d, &c->tsc, VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
			       VIRTIO_BIT(VBAL_F_STATS_VQ), 0);

	if (!ret)
		ret = vbal_queues(c, d, virtio_has(d, VBAL_F_STATS_VQ));
	if (ret)
		return ret;
	b->c = c;
	b->d = d;
	b->inflate = &d->vq[VBAL_INFLATEQ];
	b->deflate = &d->vq[VBAL_DEFLATEQ];
	b->stats = virtio_has(d, VBAL_F_STATS_VQ) ? &d->vq[VBAL_STATSQ] : (struct virtq *)0;
	if (!b->pfns)
		b->pfns = vctx_alloc(c, VBAL_BATCH * 4, 64);
	if (!b->stats_buf)
		b->stats_buf = vctx_alloc(c, VBAL_STAT_SIZE * VBAL_NSTATS, 64);
	if (!b->pfns || !b->stats_buf)
		return -ENOMEM;
	virtio_ready(d);
	return b->stats ? vbal_stats_post(b) : 0;
}

uint32_t vbal_num_pages(const struct vbal *b)
{
	return virtio_cfg32(b->d, VBAL_CFG_NUM_PAGES);
}

uint32_t vbal_actual(const struct vbal *b)
{
	return virtio_cfg32(b->d, VBAL_CFG_ACTUAL);
}

void vbal_set_actual(struct vbal *b, uint32_t pages)
{
	io_mmio_write32(b->d->device + VBAL_CFG_ACTUAL, pages);
}

int vbal_send(struct vbal *b, bool inflate, const uint32_t *pfn, unsigned n)
{
	struct virtq *vq = inflate ? b->inflate : b->deflate;
	struct virtq_sg sg = { vctx_pa(b->c, b->pfns), 4 * n, false };
	uint32_t len;
	int head, ret;

	if (n == 0 || n > VBAL_BATCH)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++)
		b->pfns[i] = pfn[i];  /* x86: already little-endian */
	head = virtq_add(vq, &sg, 1);
	if (head < 0)
		return head;
	virtq_intr(vq, !b->poll);
	virtio_kick(b->d, vq);
	ret = vctx_wait_used(b->c, vq, !b->poll, VBAL_TIMEOUT_MS);
	if (ret) {
		glog("balloon: %s: %s buffer not used within %u ms (status 0x%x)", b->d->name,
		     inflate ? "inflate" : "deflate", VBAL_TIMEOUT_MS, virtio_status(b->d));
		return ret;
	}
	ret = virtq_get_used(vq, &len);
	if (ret != head) {
		glog("balloon: %s: used id %d, expected %d", b->d->name, ret, head);
		return -EIO;
	}
	return 0;
}

void vbal_stats_set(struct vbal *b, unsigned tag, uint64_t val)
{
	if (tag < VBAL_NSTATS)
		b->stats_vals[tag] = val;
}

bool vbal_stats_service(struct vbal *b)
{
	uint32_t len;

	if (!b->stats || !virtq_has_used(b->stats))
		return false;
	if (virtq_get_used(b->stats, &len) < 0)
		return false;
	return vbal_stats_post(b) == 0;
}
