/* dnet: TAP devices for bridged interfaces (see dnet.h). The TAP is made
 * with the tun driver's ioctls (TUNSETIFF, TUNSETPERSIST) and set up with
 * the classic interface ioctls on a datagram socket (MTU, up, SIOCBRADDIF).
 * A TAP is deleted by attaching to it and dropping persistence: the kernel
 * removes it when the last fd closes. */
#include "dnet.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define DNET_TAP_PATTERN "vmk%d"
#define DNET_TAP_FLAGS (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)

static int dnet_err(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int dnet_err(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

/* An interface name the kernel could have: 1..15 bytes, no '/', no
 * whitespace, not "." or "..". */
static bool dnet_name_ok(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len >= DNET_IFNAME_MAX || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return false;
	return strpbrk(name, "/ \t\n:") == NULL;
}

/* /sys/class/net/NAME[/ATTR] exists: 0, or -errno of access(). */
static int dnet_sysfs_has(const char *name, const char *attr)
{
	char path[96];

	snprintf(path, sizeof(path), "/sys/class/net/%s%s%s", name, attr ? "/" : "",
		 attr ? attr : "");
	return access(path, F_OK) == 0 ? 0 : -errno;
}

int dnet_bridge_check(const char *bridge, char *err, size_t errlen)
{
	if (!bridge || !dnet_name_ok(bridge))
		return dnet_err(err, errlen, -EINVAL, "bridge '%s' is not an interface name "
				"(1 to 15 characters, no '/', ':' or spaces)", bridge ? bridge : "");
	if (dnet_sysfs_has(bridge, NULL) < 0)
		return dnet_err(err, errlen, -ENODEV, "bridge '%s' does not exist", bridge);
	if (dnet_sysfs_has(bridge, "bridge") < 0)
		return dnet_err(err, errlen, -EINVAL, "interface '%s' is not a bridge", bridge);
	return 0;
}

static void dnet_ifr(struct ifreq *ifr, const char *name)
{
	memset(ifr, 0, sizeof(*ifr));
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", name);
}

/* A new persistent TAP named by the kernel; *fd stays attached to it. */
static int dnet_tap_new(char name[DNET_IFNAME_MAX], int *fd, char *err, size_t errlen)
{
	struct ifreq ifr;
	int ret;

	*fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (*fd < 0)
		return dnet_err(err, errlen, -errno, "cannot open /dev/net/tun: %s",
				strerror(errno));
	dnet_ifr(&ifr, DNET_TAP_PATTERN);
	ifr.ifr_flags = DNET_TAP_FLAGS;
	if (ioctl(*fd, TUNSETIFF, &ifr) < 0) {
		ret = dnet_err(err, errlen, -errno, "cannot create a TAP: %s", strerror(errno));
		close(*fd);
		*fd = -1;
		return ret;
	}
	snprintf(name, DNET_IFNAME_MAX, "%s", ifr.ifr_name);
	if (ioctl(*fd, TUNSETPERSIST, 1) < 0)
		return dnet_err(err, errlen, -errno, "TAP %s: cannot make it persistent: %s",
				name, strerror(errno));
	return 0;
}

/* The TAP takes the bridge's MTU (a bridge runs at its ports' lowest). */
static int dnet_tap_mtu(int sock, const char *bridge, const char *tap, char *err, size_t errlen)
{
	struct ifreq ifr;
	int mtu;

	dnet_ifr(&ifr, bridge);
	if (ioctl(sock, SIOCGIFMTU, &ifr) < 0)
		return dnet_err(err, errlen, -errno, "bridge %s: cannot read its MTU: %s", bridge,
				strerror(errno));
	mtu = ifr.ifr_mtu;
	dnet_ifr(&ifr, tap);
	ifr.ifr_mtu = mtu;
	if (ioctl(sock, SIOCSIFMTU, &ifr) < 0)
		return dnet_err(err, errlen, -errno, "TAP %s: cannot set MTU %d: %s", tap, mtu,
				strerror(errno));
	return 0;
}

static int dnet_tap_enslave(int sock, const char *bridge, const char *tap, char *err,
			    size_t errlen)
{
	struct ifreq ifr;
	unsigned idx = if_nametoindex(tap);

	if (idx == 0)
		return dnet_err(err, errlen, -ENODEV, "TAP %s vanished", tap);
	dnet_ifr(&ifr, bridge);
	ifr.ifr_ifindex = (int)idx;
	if (ioctl(sock, SIOCBRADDIF, &ifr) < 0)
		return dnet_err(err, errlen, -errno, "cannot add TAP %s to bridge %s: %s", tap,
				bridge, strerror(errno));
	return 0;
}

static int dnet_tap_up(int sock, const char *tap, char *err, size_t errlen)
{
	struct ifreq ifr;

	dnet_ifr(&ifr, tap);
	if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
		return dnet_err(err, errlen, -errno, "TAP %s: cannot read its flags: %s", tap,
				strerror(errno));
	ifr.ifr_flags = (short)(ifr.ifr_flags | IFF_UP);
	if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)
		return dnet_err(err, errlen, -errno, "TAP %s: cannot bring it up: %s", tap,
				strerror(errno));
	return 0;
}

static int dnet_tap_setup(const char *bridge, const char *tap, char *err, size_t errlen)
{
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int ret;

	if (sock < 0)
		return dnet_err(err, errlen, -errno, "cannot open a socket for interface "
				"ioctls: %s", strerror(errno));
	ret = dnet_tap_mtu(sock, bridge, tap, err, errlen);
	if (ret == 0)
		ret = dnet_tap_enslave(sock, bridge, tap, err, errlen);
	if (ret == 0)
		ret = dnet_tap_up(sock, tap, err, errlen);
	close(sock);
	return ret;
}

int dnet_tap_create(const char *bridge, char name[DNET_IFNAME_MAX], char *err, size_t errlen)
{
	int fd = -1;
	int ret = dnet_bridge_check(bridge, err, errlen);

	name[0] = '\0';
	if (ret == 0)
		ret = dnet_tap_new(name, &fd, err, errlen);
	if (ret == 0)
		ret = dnet_tap_setup(bridge, name, err, errlen);
	if (ret < 0 && fd >= 0)
		ioctl(fd, TUNSETPERSIST, 0);  /* the close below removes it */
	if (fd >= 0)
		close(fd);
	if (ret < 0)
		name[0] = '\0';
	return ret;
}

/* NAME is a TAP: its tun_flags hold IFF_TAP. Returns those flags. */
static int dnet_tap_flags(const char *name, unsigned long *flags)
{
	char path[96], buf[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/class/net/%s/tun_flags", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dnet_sysfs_has(name, NULL) < 0 ? -ENODEV : -EINVAL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	*flags = strtoul(buf, NULL, 0);
	return *flags & IFF_TAP ? 0 : -EINVAL;
}

int dnet_tap_delete(const char *name)
{
	unsigned long flags = 0;
	unsigned idx;
	struct ifreq ifr;
	int fd, ret = dnet_name_ok(name) ? dnet_tap_flags(name, &flags) : -EINVAL;

	idx = ret == 0 ? if_nametoindex(name) : 0;
	if (ret < 0 || idx == 0)
		return ret < 0 ? ret : -ENODEV;
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	dnet_ifr(&ifr, name);
	ifr.ifr_flags = (short)(DNET_TAP_FLAGS | (flags & IFF_MULTI_QUEUE));
	ret = ioctl(fd, TUNSETIFF, &ifr) < 0 ? -errno : 0;
	/* Gone between the check and the attach: TUNSETIFF made a new one,
	 * which dropping persistence and closing removes again. */
	if (ret == 0 && if_nametoindex(name) != idx)
		ret = -ENODEV;
	if (ioctl(fd, TUNSETPERSIST, 0) < 0 && ret == 0)
		ret = -errno;
	close(fd);
	return ret;
}
