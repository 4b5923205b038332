/*
 * hypervisor/uart.h - an 8250/16550A UART (COM1, 0x3F8, IRQ 4): divisor latch,
 * FIFO control, interrupt identification with RX-data and THR-empty interrupts,
 * loopback (Linux probes it). Output goes to a sink callback, input comes from
 * vmm_uart_input. Threads: vCPU threads and the main thread; one mutex.
 * Trust: register accesses are guest-controlled; input is bounded by a FIFO.
 */
#ifndef VMM_UART_H
#define VMM_UART_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define VMM_UART_COM1_BASE 0x3F8
#define VMM_UART_COM1_IRQ  4
#define VMM_UART_RX_SIZE   4096

struct vmm_uart {
    pthread_mutex_t lock;
    uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
    int thre_pending;       /* THR-empty interrupt pending */
    int irq_level;          /* last level given to the interrupt line */
    uint8_t rx[VMM_UART_RX_SIZE];
    unsigned rx_head, rx_count;
    /* the transmitted bytes (called with lock held; must not call back into the uart) */
    void (*out)(void *opaque, const uint8_t *buf, size_t len);
    /* sets the interrupt line level (0/1) */
    void (*irq)(void *opaque, int level);
    void *opaque;
};

void vmm_uart_init(struct vmm_uart *u, void (*out)(void *, const uint8_t *, size_t),
                   void (*irq)(void *, int), void *opaque);
void vmm_uart_fini(struct vmm_uart *u);
/* Port access at offset 0..7 from the base. */
uint8_t vmm_uart_read(struct vmm_uart *u, unsigned off);
void vmm_uart_write(struct vmm_uart *u, unsigned off, uint8_t val);
/* Queues received bytes; returns how many were taken (less when the FIFO is full). */
size_t vmm_uart_input(struct vmm_uart *u, const uint8_t *buf, size_t len);
/* Free space in the receive FIFO. */
size_t vmm_uart_rx_space(struct vmm_uart *u);

#endif
