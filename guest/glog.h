/* glog: one diagnostic line on the console, prefixed "testguest: ". The
 * guest prints to COM1 (main.c); host unit tests capture it. */
#ifndef TESTGUEST_GLOG_H
#define TESTGUEST_GLOG_H

void glog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
