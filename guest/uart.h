/* uart: the COM1 16550 at 0x3F8 (IRQ 4): polled transmit, receive polled
 * or interrupt-driven (IER bit 0), and console printing helpers. */
#ifndef TESTGUEST_UART_H
#define TESTGUEST_UART_H

#include <stdbool.h>
#include <stdint.h>

#define UART_COM1_PORT 0x3f8
#define UART_COM1_IRQ  4

void uart_init(void);
void uart_putc(char c);
void uart_puts(const char *s);
void uart_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Receive: is a byte waiting? / take it (only call when ready). */
bool uart_rx_ready(void);
uint8_t uart_getc(void);
/* Raise IRQ 4 when a byte arrives (IER.RDI, MCR.OUT2). */
void uart_enable_rx_irq(void);
void uart_disable_irqs(void);

#endif
