/* term: the controlling terminal when the serial console is on stdio.
 *
 * Owns: raw mode on/off (term_raw/term_restore), the fatal-signal handlers
 * that restore the terminal before the process dies, and the Ctrl-a escape
 * key state machine (term_esc_filter).
 *
 * Raw mode is cfmakeraw() with nothing added back: the guest's serial driver
 * emits CR LF itself, and ISIG is off so Ctrl-c reaches the guest; leaving
 * the VMM is Ctrl-a x.
 *
 * Escape keys (after Ctrl-a, i.e. byte 0x01):
 *   x or X        quit (TERM_ESC_QUIT)
 *   h, H or ?     print term_esc_help (TERM_ESC_HELP)
 *   Ctrl-a        one Ctrl-a byte is passed to the guest
 *   anything else the pair is dropped (neither byte reaches the guest)
 * A Ctrl-a at the end of one buffer is remembered in struct term_esc, so a
 * sequence split across two reads works.
 */
#include "term.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "common/util.h"

#define TERM_ESC_CHAR 0x01 /* Ctrl-a */

/* The one documented piece of mutable process-wide state in vmkit: the
 * terminal mode saved by term_raw(). It has to be reachable from the fatal
 * signal handlers installed by term_restore_on_signal(), which get no
 * context pointer. Written by term_raw() before raw mode is applied; `saved`
 * is the flag term_restore() checks and clears. */
static struct {
	volatile sig_atomic_t saved;
	int fd;
	struct termios tio;
} term_saved;

const char term_esc_help[] =
	"\r\n"
	"vmkit console escape keys:\r\n"
	"  Ctrl-a x        quit the VM\r\n"
	"  Ctrl-a h        show this help\r\n"
	"  Ctrl-a Ctrl-a   send Ctrl-a to the guest\r\n";

int term_raw(int fd)
{
	struct termios tio;

	if (!isatty(fd))
		return -ENOTTY;
	if (tcgetattr(fd, &tio) < 0)
		return -errno;
	/* Keep the first saved mode: a second call must not save raw mode as
	 * the mode to go back to. */
	if (!term_saved.saved) {
		term_saved.fd = fd;
		term_saved.tio = tio;
		term_saved.saved = 1;
	}
	cfmakeraw(&tio);
	if (tcsetattr(fd, TCSANOW, &tio) < 0)
		return -errno;
	return 0;
}

void term_restore(void)
{
	int saved_errno = errno; /* may run in a signal handler */

	if (term_saved.saved) {
		term_saved.saved = 0;
		(void)tcsetattr(term_saved.fd, TCSANOW, &term_saved.tio);
	}
	errno = saved_errno;
}

static void term_fatal_signal(int sig)
{
	term_restore();
	/* SA_RESETHAND put back the default action: re-raise to die with it
	 * (delivered when the handler returns if the signal is blocked). */
	raise(sig);
}

void term_restore_on_signal(void)
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = term_fatal_signal;
	sa.sa_flags = SA_RESETHAND | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		(void)sigaction(sigs[i], &sa, NULL);
}

/* One byte after a Ctrl-a: returns the action, may emit a byte. */
static enum term_esc_action term_esc_second(uint8_t c, uint8_t *out, size_t *o)
{
	switch (c) {
	case TERM_ESC_CHAR:
		out[(*o)++] = TERM_ESC_CHAR;
		return TERM_ESC_NONE;
	case 'x':
	case 'X':
		return TERM_ESC_QUIT;
	case 'h':
	case 'H':
	case '?':
		return TERM_ESC_HELP;
	default:
		return TERM_ESC_NONE; /* unknown escape: the pair is dropped */
	}
}

size_t term_esc_filter(struct term_esc *st, const uint8_t *in, size_t len,
		       uint8_t *out, enum term_esc_action *action, size_t *consumed)
{
	enum term_esc_action act = TERM_ESC_NONE;
	size_t i = 0, o = 0;

	while (i < len && act == TERM_ESC_NONE) {
		uint8_t c = in[i++];

		if (st->pending) {
			st->pending = false;
			act = term_esc_second(c, out, &o);
		} else if (c == TERM_ESC_CHAR) {
			st->pending = true;
		} else {
			out[o++] = c;
		}
	}
	if (action)
		*action = act;
	if (consumed)
		*consumed = i;
	return o;
}
