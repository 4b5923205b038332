/*
 * hypervisor/uart.c - 8250/16550A emulation. Transmission is instantaneous:
 * THR is always empty, so a THR write raises THRE again at once (the line is
 * lowered first so an edge-triggered IOAPIC pin sees a new edge).
 * Threads: any, under u->lock. Trust: guest register values are masked.
 */
#include "uart.h"

#include <string.h>

enum {
    RBR_THR = 0, IER = 1, IIR_FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7,
};
#define LCR_DLAB 0x80
#define MCR_LOOP 0x10
#define IER_RDI  0x01
#define IER_THRI 0x02
#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_RDI  0x04
#define LSR_DR   0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

void vmm_uart_init(struct vmm_uart *u, void (*out)(void *, const uint8_t *, size_t),
                   void (*irq)(void *, int), void *opaque)
{
    memset(u, 0, sizeof(*u));
    pthread_mutex_init(&u->lock, NULL);
    u->out = out;
    u->irq = irq;
    u->opaque = opaque;
    u->dll = 12;   /* 9600 baud */
}

void vmm_uart_fini(struct vmm_uart *u)
{
    pthread_mutex_destroy(&u->lock);
}

static uint8_t iir_of(const struct vmm_uart *u)
{
    uint8_t fifo = (u->fcr & 1) ? 0xc0 : 0;
    if ((u->ier & IER_RDI) && u->rx_count)
        return IIR_RDI | fifo;
    if ((u->ier & IER_THRI) && u->thre_pending)
        return IIR_THRI | fifo;
    return IIR_NONE | fifo;
}

static void update_irq(struct vmm_uart *u)
{
    /* like QEMU, OUT2 does not gate the line: guests written for either work */
    int level = !(iir_of(u) & IIR_NONE);
    if (level != u->irq_level) {
        u->irq_level = level;
        if (u->irq)
            u->irq(u->opaque, level);
    }
}

static void rx_push(struct vmm_uart *u, uint8_t c)
{
    if (u->rx_count < VMM_UART_RX_SIZE) {
        u->rx[(u->rx_head + u->rx_count) % VMM_UART_RX_SIZE] = c;
        u->rx_count++;
    }
}

uint8_t vmm_uart_read(struct vmm_uart *u, unsigned off)
{
    uint8_t v = 0xff;
    pthread_mutex_lock(&u->lock);
    switch (off) {
    case RBR_THR:
        if (u->lcr & LCR_DLAB) {
            v = u->dll;
        } else if (u->rx_count) {
            v = u->rx[u->rx_head];
            u->rx_head = (u->rx_head + 1) % VMM_UART_RX_SIZE;
            u->rx_count--;
        } else {
            v = 0;
        }
        break;
    case IER:
        v = (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
        break;
    case IIR_FCR:
        v = iir_of(u);
        if ((v & 0x0f) == IIR_THRI)
            u->thre_pending = 0;    /* reading IIR clears a THRE interrupt */
        break;
    case LCR:
        v = u->lcr;
        break;
    case MCR:
        v = u->mcr;
        break;
    case LSR:
        v = LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0);
        break;
    case MSR:
        if (u->mcr & MCR_LOOP) {
            /* DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD */
            v = (uint8_t)(((u->mcr & 0x01) << 5) | ((u->mcr & 0x02) << 3) |
                          ((u->mcr & 0x04) << 4) | ((u->mcr & 0x08) << 4));
        } else {
            v = 0xb0;               /* DCD, DSR, CTS */
        }
        break;
    case SCR:
        v = u->scr;
        break;
    }
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
    return v;
}

void vmm_uart_write(struct vmm_uart *u, unsigned off, uint8_t val)
{
    pthread_mutex_lock(&u->lock);
    switch (off) {
    case RBR_THR:
        if (u->lcr & LCR_DLAB) {
            u->dll = val;
            break;
        }
        u->thre_pending = 0;
        update_irq(u);
        if (u->mcr & MCR_LOOP)
            rx_push(u, val);
        else if (u->out)
            u->out(u->opaque, &val, 1);
        u->thre_pending = 1;
        break;
    case IER:
        if (u->lcr & LCR_DLAB) {
            u->dlm = val;
            break;
        }
        if (!(u->ier & IER_THRI) && (val & IER_THRI))
            u->thre_pending = 1;    /* THR is empty: enabling THRI interrupts at once */
        u->ier = val & 0x0f;
        break;
    case IIR_FCR:
        u->fcr = val & 0xc9;
        if (val & 0x02) {           /* clear receive FIFO */
            u->rx_head = 0;
            u->rx_count = 0;
        }
        break;
    case LCR:
        u->lcr = val;
        break;
    case MCR:
        u->mcr = val & 0x1f;
        break;
    case SCR:
        u->scr = val;
        break;
    default:
        break;
    }
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
}

size_t vmm_uart_input(struct vmm_uart *u, const uint8_t *buf, size_t len)
{
    size_t n = 0;
    pthread_mutex_lock(&u->lock);
    while (n < len && u->rx_count < VMM_UART_RX_SIZE)
        rx_push(u, buf[n++]);
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
    return n;
}

size_t vmm_uart_rx_space(struct vmm_uart *u)
{
    pthread_mutex_lock(&u->lock);
    size_t s = VMM_UART_RX_SIZE - u->rx_count;
    pthread_mutex_unlock(&u->lock);
    return s;
}
