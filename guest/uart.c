/* uart: COM1 16550 driver, polled transmit and receive plus the RX
 * interrupt enable; console printing on top of lib_vsnprintf. */
#include <stdarg.h>

#include "io.h"
#include "lib.h"
#include "uart.h"

#define UART_THR 0 /* transmit holding (write) */
#define UART_RBR 0 /* receive buffer (read) */
#define UART_DLL 0 /* divisor low (DLAB=1) */
#define UART_IER 1
#define UART_DLM 1 /* divisor high (DLAB=1) */
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5

#define UART_LSR_DR   0x01
#define UART_LSR_THRE 0x20
#define UART_IER_RDI  0x01
#define UART_MCR_DTR  0x01
#define UART_MCR_RTS  0x02
#define UART_MCR_OUT2 0x08

/* Give up waiting for THRE after this many polls (broken UART). */
#define UART_TX_SPIN_MAX 100000

void uart_init(void)
{
	io_outb(UART_COM1_PORT + UART_IER, 0);
	io_outb(UART_COM1_PORT + UART_LCR, 0x80);    /* DLAB */
	io_outb(UART_COM1_PORT + UART_DLL, 1);       /* 115200 baud */
	io_outb(UART_COM1_PORT + UART_DLM, 0);
	io_outb(UART_COM1_PORT + UART_LCR, 0x03);    /* 8N1 */
	io_outb(UART_COM1_PORT + UART_FCR, 0x07);    /* FIFO on, cleared */
	io_outb(UART_COM1_PORT + UART_MCR, UART_MCR_DTR | UART_MCR_RTS);
}

void uart_putc(char c)
{
	for (unsigned i = 0; i < UART_TX_SPIN_MAX; i++) {
		if (io_inb(UART_COM1_PORT + UART_LSR) & UART_LSR_THRE)
			break;
		io_pause();
	}
	io_outb(UART_COM1_PORT + UART_THR, (uint8_t)c);
}

void uart_puts(const char *s)
{
	for (; *s; s++) {
		if (*s == '\n')
			uart_putc('\r');
		uart_putc(*s);
	}
}

void uart_printf(const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	lib_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	uart_puts(buf);
}

bool uart_rx_ready(void)
{
	return io_inb(UART_COM1_PORT + UART_LSR) & UART_LSR_DR;
}

uint8_t uart_getc(void)
{
	return io_inb(UART_COM1_PORT + UART_RBR);
}

void uart_enable_rx_irq(void)
{
	io_outb(UART_COM1_PORT + UART_MCR, UART_MCR_DTR | UART_MCR_RTS | UART_MCR_OUT2);
	io_outb(UART_COM1_PORT + UART_IER, UART_IER_RDI);
}

void uart_disable_irqs(void)
{
	io_outb(UART_COM1_PORT + UART_IER, 0);
}
