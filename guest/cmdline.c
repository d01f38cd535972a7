/* cmdline: command-line parsing for the test guest (see cmdline.h). */
#include "cmdline.h"
#include "glog.h"
#include "lib.h"

static bool cmdline_key(const char *tok, size_t klen, const char *key)
{
	return klen == lib_strlen(key) && lib_memeq(tok, key, klen);
}

static int cmdline_number(const char *key, const char *v, size_t vlen,
			  uint64_t min, uint64_t max, uint32_t *out)
{
	uint64_t n;

	if (lib_parse_u64(v, vlen, max, &n) || n < min) {
		glog("cmdline: %s= needs a number in %lu..%lu", key, min, max);
		return -EINVAL;
	}
	*out = (uint32_t)n;
	return 0;
}

/* One "key=value" token tok[0..len). */
static int cmdline_token(struct cmdline *c, const char *tok, size_t len)
{
	size_t k = 0;
	const char *v;

	while (k < len && tok[k] != '=')
		k++;
	if (k == len)
		return 0;
	v = tok + k + 1;
	len -= k + 1;
	if (cmdline_key(tok, k, "workload")) {
		if (len == 0 || len >= CMDLINE_NAME_MAX) {
			glog("cmdline: workload= needs a name of 1..%u characters",
			     CMDLINE_NAME_MAX - 1);
			return -EINVAL;
		}
		lib_strlcpy_n(c->workload, sizeof(c->workload), v, len);
		return 0;
	}
	if (cmdline_key(tok, k, "cpus")) {
		c->have_cpus = true;
		return cmdline_number("cpus", v, len, 1, 255, &c->cpus);
	}
	if (cmdline_key(tok, k, "exit")) {
		c->have_exit = true;
		return cmdline_number("exit", v, len, 0, 0xffffffffu, &c->exit_code);
	}
	if (cmdline_key(tok, k, "acpi"))
		c->acpi_off = len == 3 && lib_memeq(v, "off", 3);
	return 0;
}

int cmdline_parse(const char *s, struct cmdline *c)
{
	int ret = 0;

	*c = (struct cmdline){ 0 };
	lib_strlcpy_n(c->raw, sizeof(c->raw), s, sizeof(c->raw) - 1);
	while (*s && !ret) {
		size_t len = 0;

		while (*s == ' ' || *s == '\t' || *s == '\n')
			s++;
		while (s[len] && s[len] != ' ' && s[len] != '\t' && s[len] != '\n')
			len++;
		if (len)
			ret = cmdline_token(c, s, len);
		s += len;
	}
	if (!c->workload[0])
		lib_strlcpy_n(c->workload, sizeof(c->workload),
			      c->have_exit ? "exit" : "hello", CMDLINE_NAME_MAX);
	return ret;
}

/* Find key=VALUE in s: the value and its length, or NULL. */
static const char *cmdline_find(const char *s, const char *key, size_t *vlen)
{
	size_t klen = lib_strlen(key);

	while (*s) {
		size_t len = 0;

		while (*s == ' ' || *s == '\t' || *s == '\n')
			s++;
		while (s[len] && s[len] != ' ' && s[len] != '\t' && s[len] != '\n')
			len++;
		if (len > klen && s[klen] == '=' && lib_memeq(s, key, klen)) {
			*vlen = len - klen - 1;
			return s + klen + 1;
		}
		s += len;
	}
	return (const char *)0;
}

int cmdline_u64(const struct cmdline *c, const char *key, uint64_t def, uint64_t min,
		uint64_t max, uint64_t *out)
{
	size_t vlen;
	const char *v = cmdline_find(c->raw, key, &vlen);

	if (!v) {
		*out = def;
		return 0;
	}
	if (lib_parse_u64(v, vlen, max, out) || *out < min) {
		glog("cmdline: %s= needs a number in %lu..%lu", key, min, max);
		return -EINVAL;
	}
	return 0;
}

int cmdline_str(const struct cmdline *c, const char *key, char *buf, size_t size)
{
	size_t vlen;
	const char *v = cmdline_find(c->raw, key, &vlen);

	if (size)
		buf[0] = '\0';
	if (!v)
		return -ENOENT;
	if (vlen >= size) {
		glog("cmdline: %s= is longer than %lu characters", key, size - 1);
		return -E2BIG;
	}
	lib_strlcpy_n(buf, size, v, vlen);
	return 0;
}

bool cmdline_flag(const struct cmdline *c, const char *key)
{
	char v[8];

	if (cmdline_str(c, key, v, sizeof(v)))
		return false;
	return lib_streq(v, "1") || lib_streq(v, "on") || lib_streq(v, "yes") ||
	       lib_streq(v, "true");
}

bool cmdline_list_has(const char *list, const char *word)
{
	size_t wlen = lib_strlen(word);

	if (!*list)
		return true;
	while (*list) {
		size_t n = 0;

		while (list[n] && list[n] != ',')
			n++;
		if (n == wlen && lib_memeq(list, word, n))
			return true;
		list += n;
		if (*list == ',')
			list++;
	}
	return false;
}
