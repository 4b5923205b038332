/*
 * tests/guest/console.c - COM1 8250 driver. Each port access is a VM exit, so output fills
 * the 16-byte FIFO after one LSR read instead of polling per byte. Input: the IRQ handler
 * only flags that data is waiting; the command loop itself reads the UART into the ring.
 * Why: on PVM an interrupt can be delivered again while its handler runs (measured: nested
 * and duplicated serial IRQs), so handlers must be idempotent and never touch the device.
 * Threads: output from any CPU under out_lock; input on the boot CPU only.
 */
#include "console.h"

#include <stdarg.h>
#include <stdint.h>

#include "arch.h"
#include "fmt.h"

#define RBR 0
#define THR 0
#define IER 1
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define LSR_DR 0x01
#define LSR_THRE 0x20

#define RING_SIZE 4096

static volatile char ring[RING_SIZE];
static volatile unsigned ring_head, ring_tail; /* head: producer, tail: consumer */
static int irq_mode;
static volatile int rx_kick; /* set by the IRQ handler: the loop drains the UART */
static volatile int out_lock;
static unsigned fifo_room;

void con_init(void)
{
    outb(CON_PORT + IER, 0x00);
    outb(CON_PORT + LCR, 0x80); /* DLAB: 115200 baud */
    outb(CON_PORT + 0, 0x01);
    outb(CON_PORT + 1, 0x00);
    outb(CON_PORT + LCR, 0x03); /* 8N1 */
    outb(CON_PORT + FCR, 0xc7); /* FIFO on, cleared, 14-byte RX trigger */
    outb(CON_PORT + MCR, 0x0b); /* DTR RTS OUT2 (OUT2 gates the IRQ on PCs) */
    fifo_room = 0;
}

void con_break_lock(void)
{
    __atomic_store_n(&out_lock, 0, __ATOMIC_RELEASE);
}

static void lock(void)
{
    while (__atomic_exchange_n(&out_lock, 1, __ATOMIC_ACQUIRE))
        cpu_relax();
}

static void unlock(void)
{
    __atomic_store_n(&out_lock, 0, __ATOMIC_RELEASE);
}

static void put_raw(char c)
{
    while (fifo_room == 0) {
        if (inb(CON_PORT + LSR) & LSR_THRE)
            fifo_room = 16;
        else
            cpu_relax();
    }
    outb(CON_PORT + THR, (uint8_t)c);
    fifo_room--;
}

void con_write(const char *s, size_t n)
{
    lock();
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n')
            put_raw('\r');
        put_raw(s[i]);
    }
    unlock();
}

void con_puts(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    con_write(s, n);
}

void con_printf(const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    va_start(ap, fmt);
    int n = fmt_vformat(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(buf) - 1)
        n = sizeof(buf) - 1;
    con_write(buf, (size_t)n);
}

static void drain(void)
{
    for (int budget = 256; budget > 0 && (inb(CON_PORT + LSR) & LSR_DR); budget--) {
        char c = (char)inb(CON_PORT + RBR);
        unsigned h = ring_head;
        if (h - ring_tail < RING_SIZE) {
            ring[h % RING_SIZE] = c;
            __atomic_store_n(&ring_head, h + 1, __ATOMIC_RELEASE);
        }
    }
}

void con_set_irq_mode(int on)
{
    /* bytes that arrived before the route existed: taken now, before the IRQ can nest */
    drain();
    irq_mode = on;
    outb(CON_PORT + IER, on ? 0x01 : 0x00);
}

void con_irq(unsigned vector)
{
    (void)vector;
    rx_kick = 1;
}

int con_getc(void)
{
    if (!irq_mode || __atomic_exchange_n(&rx_kick, 0, __ATOMIC_ACQ_REL))
        drain();
    unsigned t = ring_tail;
    if (t == __atomic_load_n(&ring_head, __ATOMIC_ACQUIRE))
        return -1;
    char c = ring[t % RING_SIZE];
    __atomic_store_n(&ring_tail, t + 1, __ATOMIC_RELEASE);
    return (unsigned char)c;
}
