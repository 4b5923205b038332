/*
 * tests/guest/console.h - the 8250 serial console on COM1 (0x3f8): output through the FIFO,
 * input into a ring filled by the IRQ 4 handler (or by polling until the IRQ is routed).
 * Threads: any CPU may print (a spinlock serialises lines); only the boot CPU's command loop
 * reads; con_irq may run nested or twice and only sets a flag.
 */
#ifndef GUEST_CONSOLE_H
#define GUEST_CONSOLE_H

#include <stddef.h>

#define CON_PORT 0x3f8
#define CON_IRQ 4

void con_init(void);
void con_write(const char *s, size_t n); /* "\n" goes out as "\r\n" */
void con_puts(const char *s);
__attribute__((format(printf, 1, 2))) void con_printf(const char *fmt, ...);

/* Forgets a held output lock: only for the panic path, which must print whatever happens. */
void con_break_lock(void);
/* Switches input to interrupts (the IOAPIC route must exist) or back to polling. */
void con_set_irq_mode(int on);
/* The IRQ handler: flags that the UART has data (idempotent, re-entrant). */
void con_irq(unsigned vector);
/* Next received byte, or -1 when none is waiting (reads the UART when flagged). */
int con_getc(void);

#endif
