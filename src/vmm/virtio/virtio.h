/* virtio: the contract between the virtio PCI transport (virtio_pci.c) and
 * the device models (virtio_blk.c, virtio_net.c, virtio_console.c,
 * virtio_rng.c, ...). A device model knows nothing of PCI: it describes
 * itself with a struct virtio_dev_info (ops, queues, offered features,
 * configuration size) and talks to the driver only through the calls below.
 * Unit tests link a device file with a fake transport that implements them.
 *
 * Threads and locks: every device has one mutex, owned by the transport
 * (virtio_dev_lock). The transport holds it around every ops callback: for
 * register accesses on vCPU threads and for queue work on the event-loop
 * thread. Anything else (a block-layer worker completing a request, a
 * backend thread) takes it before touching the device's queues. */
#ifndef VMKIT_VIRTIO_H
#define VMKIT_VIRTIO_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

struct config_console;
struct config_disk;
struct config_net;
struct config_ratelimit;
struct config_vsock;
struct config_balloon;
struct devhost;
struct evloop;
struct gmem;
struct virtqueue;
struct virtio_dev;   /* the transport's side of one device */

/* Device IDs (virtio 1.x, section 5). */
#define VIRTIO_ID_NET      1
#define VIRTIO_ID_BLOCK    2
#define VIRTIO_ID_CONSOLE  3
#define VIRTIO_ID_RNG      4
#define VIRTIO_ID_BALLOON  5
#define VIRTIO_ID_VSOCK    19

/* Device-independent feature bits. The transport offers INDIRECT_DESC,
 * EVENT_IDX and VERSION_1 itself; devices list only their own bits. */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX     29
#define VIRTIO_F_VERSION_1     32

/* Device status bits. */
#define VIRTIO_STATUS_ACKNOWLEDGE  0x01
#define VIRTIO_STATUS_DRIVER       0x02
#define VIRTIO_STATUS_DRIVER_OK    0x04
#define VIRTIO_STATUS_FEATURES_OK  0x08
#define VIRTIO_STATUS_NEEDS_RESET  0x40
#define VIRTIO_STATUS_FAILED       0x80

#define VIRTIO_MAX_QUEUES 18     /* virtio-net: 8 queue pairs + control, with room */
#define VIRTIO_ID_MAX     32     /* user-visible device id ("disk0"), NUL included */
#define VIRTIO_CFG_MAX    256    /* device-specific configuration structure */

static inline bool virtio_has_feature(uint64_t features, unsigned bit)
{
	return (features >> bit) & 1;
}

/* For a cfg_read built from a structure of len bytes that may be shorter
 * than the info's cfg_size: the window [off, off+size) of it, bytes past
 * its end reading 0. */
static inline void virtio_cfg_copy(const void *cfg, size_t len, unsigned off, void *data,
				   unsigned size)
{
	memset(data, 0, size);
	if (off < len)
		memcpy(data, (const uint8_t *)cfg + off, size < len - off ? size : len - off);
}

struct virtio_device_ops {
	const char *name;        /* "virtio-blk": messages and queries */
	uint16_t device_id;      /* VIRTIO_ID_* */
	/* The device-specific configuration structure; off + size never
	 * exceeds the info's cfg_size (the transport checks). cfg_write may
	 * be NULL: the structure is read-only and writes are ignored. */
	void (*cfg_read)(void *dev, unsigned off, void *data, unsigned size);
	void (*cfg_write)(void *dev, unsigned off, const void *data, unsigned size);
	/* The driver set DRIVER_OK: the features are final (a subset of those
	 * offered) and every enabled queue is set up (virtio_queue() returns
	 * it). Start the backends. 0, or -errno: the device then fails
	 * (DEVICE_NEEDS_RESET) with the error logged. */
	int (*activate)(void *dev, uint64_t features);
	/* Queue q has work: the driver kicked it, or virtio_queue_kick() was
	 * called. Event-loop thread. Pop until empty (or until the backend
	 * is full: then arrange for a virtio_queue_kick() when it has room),
	 * push, virtio_queue_interrupt(). A malformed chain (virtqueue_pop()
	 * < 0): call virtio_dev_fail() and return. */
	void (*queue_notify)(void *dev, unsigned q);
	/* Back to the power-on state: the driver wrote status 0, the machine
	 * was reset, or the device failed and is now being reset. Stop using
	 * the queues; requests still in flight in a backend must finish or be
	 * cancelled before this returns, and must not touch guest memory or
	 * the queues afterwards. May drop and retake nothing: it runs with the
	 * device lock held, so a worker waiting for that lock must not be
	 * waited for here (complete such work through a flag it checks). */
	void (*reset)(void *dev);
	/* Optional control-socket facts (lock held): add members to obj, for
	 * query-block / query-blockstats / query-netstats / query-virtio. */
	void (*query)(void *dev, json_t *obj);
	/* Optional: set-link (virtio-net). 0 or -errno. */
	int (*set_link)(void *dev, bool up);
	/* Optional: set-rate-limit (virtio-blk, virtio-net): replace the
	 * device's limits; takes effect for the next request. 0 or -errno. */
	int (*set_rate_limit)(void *dev, const struct config_ratelimit *limit);
	/* Optional: balloon-set (virtio-balloon): the guest should give the
	 * host enough pages that it keeps target bytes. 0 or -errno. */
	int (*balloon_set)(void *dev, uint64_t target);
	/* Free the device's state; the transport no longer calls anything. */
	void (*destroy)(void *dev);
};

/* What a device model asks of the transport when it is plugged in. */
struct virtio_dev_info {
	const struct virtio_device_ops *ops;
	void *dev;                  /* the device's state, passed to every op */
	struct virtio_dev **handle; /* set to the transport's handle before
	                             * virtio_pci_create() returns and before
	                             * any op runs; lives in the device's state */
	char id[VIRTIO_ID_MAX];     /* user-visible id, unique in the VM */
	unsigned nqueues;           /* 1..VIRTIO_MAX_QUEUES */
	uint16_t queue_max;         /* largest queue size offered, power of two */
	uint64_t features;          /* device-specific feature bits offered */
	unsigned cfg_size;          /* bytes of device configuration, <= VIRTIO_CFG_MAX */
};

/* Where a device lives; given to every device's create function. */
struct virtio_env {
	struct evloop *loop;
	const struct devhost *host;
	const struct gmem *gm;
	unsigned ncpus;             /* vCPUs: multi-queue devices size to it */
};

/* ---- device constructors (one file each: vblk.c, vnet.c, vconsole.c,
 * vrng.c, vvsock.c, vballoon.c) ----
 * Build the device's state from its configuration entry and describe it in
 * *info. Errors (missing image, image locked by another user, TAP that does
 * not exist, ...) are logged once, naming the device id and the problem;
 * -errno is returned and nothing stays allocated. The VM plugs every device
 * before the guest starts, so such errors stop the VM before it runs. */
int vblk_create(const struct virtio_env *env, const struct config_disk *cfg,
		struct virtio_dev_info *info);
int vnet_create(const struct virtio_env *env, const struct config_net *cfg,
		struct virtio_dev_info *info);
int vconsole_create(const struct virtio_env *env, const struct config_console *cfg,
		    struct virtio_dev_info *info);
int vrng_create(const struct virtio_env *env, struct virtio_dev_info *info);
int vvsock_create(const struct virtio_env *env, const struct config_vsock *cfg,
		  struct virtio_dev_info *info);
int vballoon_create(const struct virtio_env *env, const struct config_balloon *cfg,
		    struct virtio_dev_info *info);

/* ---- device -> transport (device lock held unless said otherwise) ---- */

pthread_mutex_t *virtio_dev_lock(struct virtio_dev *vd);
/* Queue q once the driver enabled it and the device is active; else NULL. */
struct virtqueue *virtio_queue(struct virtio_dev *vd, unsigned q);
/* Used buffers were pushed on q: interrupt the driver if the ring asks
 * for one (event idx / NO_INTERRUPT), through the queue's MSI-X vector.
 * This does the asking: do not call virtqueue_need_interrupt() first (it
 * keeps event-idx state, and a second call would swallow the interrupt). */
void virtio_queue_interrupt(struct virtio_dev *vd, unsigned q);
/* True once virtio_dev_fail ran, until the driver resets the device: the
 * device must not take requests (the transport no longer calls
 * queue_notify; a device serving a queue on its own checks this). */
bool virtio_dev_failed(const struct virtio_dev *vd);
/* Have queue_notify(q) run on the event loop soon. Any thread, no lock. */
void virtio_queue_kick(struct virtio_dev *vd, unsigned q);
/* The device is broken (malformed ring, impossible request): set
 * DEVICE_NEEDS_RESET, send a configuration interrupt, stop calling
 * queue_notify until the driver resets the device, and report a
 * DEVICE_NEEDS_RESET event naming the device id and the reason. The VM and
 * the other devices carry on. */
void virtio_dev_fail(struct virtio_dev *vd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The device configuration changed (e.g. link status): config interrupt. */
void virtio_config_changed(struct virtio_dev *vd);
/* Negotiated features (valid from activate on). */
uint64_t virtio_features(const struct virtio_dev *vd);
const char *virtio_dev_id(const struct virtio_dev *vd);
struct evloop *virtio_evloop(const struct virtio_dev *vd);

#endif
