/* term: the controlling terminal of vmkit-vmm when the serial console is on
 * stdio: raw mode, and restoring the saved mode on every exit path, fatal
 * signals included (the saved termios is kept where a signal handler can
 * reach it; this is the one piece of process-wide state, owned by main()). */
#ifndef VMKIT_TERM_H
#define VMKIT_TERM_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

/* Put fd (a tty) in raw mode; 0, or -ENOTTY when fd is not a terminal. */
int term_raw(int fd);
/* Restore what term_raw() saved. Idempotent, async-signal-safe. */
void term_restore(void);
/* Install handlers for fatal signals (SEGV, BUS, ABRT, ILL, FPE) that restore
 * the terminal and re-raise. */
void term_restore_on_signal(void);

/* Escape-key state machine for Ctrl-a sequences on stdin. */
enum term_esc_action {
	TERM_ESC_NONE,   /* nothing special */
	TERM_ESC_QUIT,   /* Ctrl-a x */
	TERM_ESC_HELP,   /* Ctrl-a h */
};

struct term_esc {
	bool pending; /* saw Ctrl-a */
};

/* Filter in[0..len) into out (same size or larger): escape sequences are
 * removed, Ctrl-a Ctrl-a becomes one Ctrl-a. Returns bytes written to out;
 * *action reports the first action seen (processing stops after it). */
size_t term_esc_filter(struct term_esc *st, const uint8_t *in, size_t len,
		       uint8_t *out, enum term_esc_action *action, size_t *consumed);
extern const char term_esc_help[];

#endif
