/* msix: MSI-X table, pending-bit array, message control and delivery
 * (layouts from the PCI Local Bus specification 3.0, section 6.8.2). All
 * state is under the msix's own mutex; it is taken below the bus lock (table
 * and capability accesses) and below the device's lock (msix_notify), and
 * nothing is called with it held except the devhost. KVM routes are set up
 * when a vector becomes able to fire or its message changes while it can,
 * never on mask/unmask alone, and dropped at platform reset. */
#include "pci/msix.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log.h"
#include "devhost.h"
#include "iobus.h"
#include "pci/pci.h"

#define MSIX_CAP_CTRL        2
#define MSIX_CAP_TABLE       4
#define MSIX_CAP_PBA         8
#define MSIX_X86_ADDR_MASK   0xFFF00000u
#define MSIX_X86_ADDR_BASE   0xFEE00000u   /* the LAPIC message window */

struct msix_vector {
	uint32_t addr_lo, addr_hi, data, ctrl;
	int efd;          /* eventfd bound as the irqfd, -1 until first needed */
	int gsi;          /* -1: none allocated */
	bool routed;      /* gsi routes to (r_addr, r_data) */
	bool bound;       /* efd is bound to gsi */
	bool warned;      /* a failure to arm was logged */
	uint64_t r_addr;
	uint32_t r_data;
};

struct msix {
	pthread_mutex_t lock;
	const struct devhost *host;
	struct pci_func *fn;
	unsigned nvec;
	unsigned cap;
	bool enabled;     /* message control: MSI-X enable */
	bool fmask;       /* message control: function mask */
	uint64_t *pba;
	struct msix_stats st;
	struct msix_vector v[];
};

static uint32_t msix_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void msix_put32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t msix_vec_addr(const struct msix_vector *v)
{
	return (uint64_t)v->addr_hi << 32 | v->addr_lo;
}

static bool msix_can_fire(const struct msix *m, const struct msix_vector *v)
{
	return m->enabled && !m->fmask && !(v->ctrl & MSIX_VEC_MASKED);
}

/* Make the vector's irqfd route current: eventfd, GSI, route, binding. */
static int msix_arm(struct msix *m, struct msix_vector *v)
{
	uint64_t addr = msix_vec_addr(v);
	unsigned gsi;
	int ret;

	if ((v->addr_lo & MSIX_X86_ADDR_MASK) != MSIX_X86_ADDR_BASE)
		return -EINVAL;
	if (v->efd < 0) {
		v->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (v->efd < 0)
			return -errno;
	}
	if (v->gsi < 0) {
		ret = devhost_gsi_alloc(m->host, &gsi);
		if (ret < 0)
			return ret;
		v->gsi = (int)gsi;
	}
	if (!v->routed || v->r_addr != addr || v->r_data != v->data) {
		v->routed = false;
		ret = devhost_gsi_route_msi(m->host, (unsigned)v->gsi, addr, v->data);
		if (ret < 0)
			return ret;
		v->routed = true;
		v->r_addr = addr;
		v->r_data = v->data;
		m->st.routes++;
	}
	if (!v->bound) {
		ret = devhost_irqfd_bind(m->host, v->efd, (unsigned)v->gsi);
		if (ret < 0)
			return ret;
		v->bound = true;
	}
	return 0;
}

/* Send the vector's message: through its irqfd when the route matches the
 * message, else directly. */
static void msix_fire(struct msix *m, struct msix_vector *v)
{
	uint64_t addr = msix_vec_addr(v), one = 1;

	if ((v->addr_lo & MSIX_X86_ADDR_MASK) != MSIX_X86_ADDR_BASE) {
		m->st.dropped++;
		return;
	}
	if (v->bound && v->routed && v->r_addr == addr && v->r_data == v->data &&
	    write(v->efd, &one, sizeof(one)) == sizeof(one)) {
		m->st.delivered++;
		return;
	}
	if (devhost_msi_send(m->host, addr, v->data) == 0)
		m->st.delivered++;
	else
		m->st.dropped++;
}

/* After anything that may change whether vector i can fire or its message:
 * route it, and send a pending message. (A vector that can fire has no
 * pending bit: bits are set only while it cannot, and cleared here.) */
static void msix_vector_update(struct msix *m, unsigned i)
{
	struct msix_vector *v = &m->v[i];
	uint64_t bit = 1ULL << (i % 64);
	int ret;

	if (!msix_can_fire(m, v))
		return;
	ret = msix_arm(m, v);
	if (ret < 0 && !v->warned) {
		v->warned = true;
		log_warn("msix: vector %u (message 0x%llx/0x%x): no irqfd route: %s", i,
			 (unsigned long long)msix_vec_addr(v), v->data, strerror(-ret));
	}
	if (m->pba[i / 64] & bit) {
		m->pba[i / 64] &= ~bit;
		msix_fire(m, v);
	}
}

/* ---- vector table and PBA (BAR hooks; no device lock) ---- */

static bool msix_access_ok(uint64_t off, unsigned size)
{
	return (size == 4 || size == 8) && (off & (size - 1)) == 0;
}

static void msix_entry_write(struct msix *m, uint64_t off, uint32_t val)
{
	unsigned i = (unsigned)(off / MSIX_ENTRY_SIZE);
	struct msix_vector *v = &m->v[i];

	switch ((off % MSIX_ENTRY_SIZE) / 4) {
	case 0:
		v->addr_lo = val & ~3u;   /* dword aligned */
		break;
	case 1:
		v->addr_hi = val;
		break;
	case 2:
		v->data = val;
		break;
	case 3:
		v->ctrl = val & MSIX_VEC_MASKED;  /* the rest is reserved */
		break;
	}
	msix_vector_update(m, i);
}

static uint32_t msix_entry_read(const struct msix *m, uint64_t off)
{
	const struct msix_vector *v = &m->v[off / MSIX_ENTRY_SIZE];
	const uint32_t f[4] = { v->addr_lo, v->addr_hi, v->data, v->ctrl };

	return f[(off % MSIX_ENTRY_SIZE) / 4];
}

static void msix_table_read(void *opaque, uint64_t off, void *data, unsigned size)
{
	struct msix *m = opaque;

	if (!msix_access_ok(off, size)) {
		memset(data, 0xFF, size);
		return;
	}
	pthread_mutex_lock(&m->lock);
	for (unsigned k = 0; k < size; k += 4)
		msix_put32((uint8_t *)data + k, msix_entry_read(m, off + k));
	pthread_mutex_unlock(&m->lock);
}

static void msix_table_write(void *opaque, uint64_t off, const void *data, unsigned size)
{
	struct msix *m = opaque;

	if (!msix_access_ok(off, size))
		return;
	pthread_mutex_lock(&m->lock);
	for (unsigned k = 0; k < size; k += 4)
		msix_entry_write(m, off + k, msix_get32((const uint8_t *)data + k));
	pthread_mutex_unlock(&m->lock);
}

static void msix_pba_read(void *opaque, uint64_t off, void *data, unsigned size)
{
	struct msix *m = opaque;
	uint64_t word;

	if (!msix_access_ok(off, size)) {
		memset(data, 0xFF, size);
		return;
	}
	pthread_mutex_lock(&m->lock);
	word = m->pba[off / 8] >> (8 * (off % 8));
	pthread_mutex_unlock(&m->lock);
	for (unsigned k = 0; k < size; k++)
		((uint8_t *)data)[k] = (uint8_t)(word >> (8 * k));
}

static const struct vdev_ops msix_table_ops = {
	.name = "msix-table", .read = msix_table_read, .write = msix_table_write,
};

/* The PBA is read-only: writes are ignored. */
static const struct vdev_ops msix_pba_ops = {
	.name = "msix-pba", .read = msix_pba_read,
};

/* ---- message control (configuration hook, bus lock held) ---- */

static void msix_ctrl_write(void *opaque, unsigned off, const void *data, unsigned size)
{
	struct msix *m = opaque;
	uint32_t ctrl = pci_func_cfg_get(m->fn, m->cap + MSIX_CAP_CTRL, 2);
	bool enabled = ctrl & MSIX_CTRL_ENABLE, fmask = ctrl & MSIX_CTRL_FMASK;

	pthread_mutex_lock(&m->lock);
	if (m->enabled != enabled || m->fmask != fmask) {
		m->enabled = enabled;
		m->fmask = fmask;
		for (unsigned i = 0; i < m->nvec; i++)
			msix_vector_update(m, i);
	}
	pthread_mutex_unlock(&m->lock);
}

/* Forget every route (the hypervisor's side is gone or going). */
static void msix_vector_drop(struct msix *m, struct msix_vector *v)
{
	uint64_t junk;

	if (v->bound)
		devhost_irqfd_unbind(m->host, v->efd, (unsigned)v->gsi);
	if (v->gsi >= 0)
		devhost_gsi_free(m->host, (unsigned)v->gsi);
	if (v->efd >= 0)
		while (read(v->efd, &junk, sizeof(junk)) == sizeof(junk))
			;
	*v = (struct msix_vector){ .ctrl = MSIX_VEC_MASKED, .efd = v->efd, .gsi = -1 };
}

static void msix_reset(void *opaque)
{
	struct msix *m = opaque;

	pthread_mutex_lock(&m->lock);
	for (unsigned i = 0; i < m->nvec; i++)
		msix_vector_drop(m, &m->v[i]);
	memset(m->pba, 0, MSIX_PBA_SIZE(m->nvec));
	m->enabled = m->fmask = false;
	pthread_mutex_unlock(&m->lock);
}

static const struct pci_cfg_hook_ops msix_ctrl_ops = {
	.write = msix_ctrl_write, .reset = msix_reset,
};

/* ---- creation ---- */

static int msix_check(const struct pci_func *fn, unsigned nvec, unsigned bar,
		      uint32_t table_off, uint32_t pba_off)
{
	uint64_t size = pci_func_bar_size(fn, bar);
	uint64_t tlen = (uint64_t)nvec * MSIX_ENTRY_SIZE, plen = MSIX_PBA_SIZE(nvec);

	if (nvec == 0 || nvec > MSIX_MAX_VECTORS || (table_off | pba_off) & 7)
		return -EINVAL;
	if (table_off > size || tlen > size - table_off || pba_off > size ||
	    plen > size - pba_off)
		return -EINVAL;
	if (table_off < pba_off + plen && pba_off < table_off + tlen)
		return -EINVAL;
	return 0;
}

static int msix_install(struct msix *m, unsigned bar, uint32_t table_off, uint32_t pba_off)
{
	struct pci_func *fn = m->fn;
	int ret = pci_func_add_cap(fn, PCI_CAP_ID_MSIX, MSIX_CAP_LEN, &m->cap);

	if (ret == 0)
		ret = pci_func_cfg_set(fn, m->cap + MSIX_CAP_CTRL, 2, m->nvec - 1);
	if (ret == 0)
		ret = pci_func_cfg_mask(fn, m->cap + MSIX_CAP_CTRL, 2,
					MSIX_CTRL_ENABLE | MSIX_CTRL_FMASK, 0);
	if (ret == 0)
		ret = pci_func_cfg_set(fn, m->cap + MSIX_CAP_TABLE, 4, table_off | bar);
	if (ret == 0)
		ret = pci_func_cfg_set(fn, m->cap + MSIX_CAP_PBA, 4, pba_off | bar);
	if (ret == 0)
		ret = pci_func_hook_cfg(fn, m->cap + MSIX_CAP_CTRL, 2, &msix_ctrl_ops, m, NULL);
	if (ret == 0)
		ret = pci_func_hook_bar(fn, bar, table_off, (uint64_t)m->nvec * MSIX_ENTRY_SIZE,
					&msix_table_ops, m, NULL);
	if (ret == 0)
		ret = pci_func_hook_bar(fn, bar, pba_off, MSIX_PBA_SIZE(m->nvec),
					&msix_pba_ops, m, NULL);
	return ret;
}

int msix_create(struct pci_func *fn, const struct devhost *host, unsigned nvec,
		unsigned bar, uint32_t table_off, uint32_t pba_off, struct msix **out)
{
	struct msix *m;
	int ret = msix_check(fn, nvec, bar, table_off, pba_off);

	if (ret < 0) {
		log_error("msix: %u vectors with table 0x%x / PBA 0x%x do not fit BAR %u",
			  nvec, table_off, pba_off, bar);
		return ret;
	}
	m = calloc(1, sizeof(*m) + nvec * sizeof(m->v[0]));
	if (!m)
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	m->host = host;
	m->fn = fn;
	m->nvec = nvec;
	for (unsigned i = 0; i < nvec; i++)
		m->v[i] = (struct msix_vector){ .ctrl = MSIX_VEC_MASKED, .efd = -1, .gsi = -1 };
	m->pba = calloc(1, MSIX_PBA_SIZE(nvec));
	ret = m->pba ? msix_install(m, bar, table_off, pba_off) : -ENOMEM;
	if (ret < 0) {
		msix_destroy(m);
		return ret;
	}
	*out = m;
	return 0;
}

void msix_destroy(struct msix *m)
{
	if (!m)
		return;
	for (unsigned i = 0; i < m->nvec; i++) {
		msix_vector_drop(m, &m->v[i]);
		if (m->v[i].efd >= 0)
			close(m->v[i].efd);
	}
	pthread_mutex_destroy(&m->lock);
	free(m->pba);
	free(m);
}

unsigned msix_nvec(const struct msix *m)
{
	return m->nvec;
}

unsigned msix_cap_offset(const struct msix *m)
{
	return m->cap;
}

void msix_notify(struct msix *m, unsigned vector)
{
	struct msix_vector *v;

	if (vector >= m->nvec)
		return;
	v = &m->v[vector];
	pthread_mutex_lock(&m->lock);
	if (msix_can_fire(m, v)) {
		msix_fire(m, v);
	} else {
		m->pba[vector / 64] |= 1ULL << (vector % 64);
		m->st.pended++;
	}
	pthread_mutex_unlock(&m->lock);
}

void msix_get_stats(struct msix *m, struct msix_stats *out)
{
	pthread_mutex_lock(&m->lock);
	*out = m->st;
	pthread_mutex_unlock(&m->lock);
}
