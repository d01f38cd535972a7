/* progress: the `-p` progress figure of long img verbs, in qemu-img's form
 * "    (NN.NN/100%)" rewritten in place with '\r' on stdout, reprinted only
 * when it moved by a whole percent so slow terminals are not flooded. */
#include <stdio.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/util.h"

void progress_init(struct progress *p, bool enabled, uint64_t total)
{
	p->enabled = enabled;
	p->fd = STDOUT_FILENO;
	p->shown = -1.0;
	p->total = total;
	if (enabled)
		progress_update(p, 0);
}

static void progress_show(struct progress *p, double pct)
{
	char buf[48];
	int n = snprintf(buf, sizeof(buf), "    (%.2f/100%%)\r", pct);

	fflush(stdout);
	if (n > 0)
		(void)util_write_all(p->fd, buf, (size_t)n);
	p->shown = pct;
}

void progress_update(struct progress *p, uint64_t done)
{
	double pct;

	if (!p->enabled)
		return;
	pct = p->total ? 100.0 * (double)MIN(done, p->total) / (double)p->total : 0.0;
	if (p->shown < 0 || pct - p->shown >= 1.0)
		progress_show(p, pct);
}

void progress_finish(struct progress *p)
{
	if (!p->enabled)
		return;
	if (p->shown < 100.0)
		progress_show(p, 100.0);
	(void)util_write_all(p->fd, "\n", 1);
	p->enabled = false;
}
