/* tests/unit/hypervisor/test_uart.c - 8250 registers, FIFO, interrupts (edges), loopback. */
#include "tap.h"
#include "uart.h"

static char outbuf[256];
static size_t outlen;
static int level, edges;

static void out(void *o, const uint8_t *b, size_t n)
{
    (void)o;
    for (size_t i = 0; i < n && outlen < sizeof(outbuf) - 1; i++)
        outbuf[outlen++] = (char)b[i];
}

static void irq(void *o, int l)
{
    (void)o;
    if (l && !level)
        edges++;
    level = l;
}

int main(void)
{
    struct vmm_uart u;
    vmm_uart_init(&u, out, irq, NULL);
    is_int(vmm_uart_read(&u, 5) & 0x60, 0x60, "LSR: THR empty and transmitter idle");
    is_int(vmm_uart_read(&u, 2) & 0x0f, 1, "IIR: no interrupt");
    vmm_uart_write(&u, 0, 'h');
    vmm_uart_write(&u, 0, 'i');
    is_str(outbuf, "hi", "THR writes reach the sink");
    is_int(level, 0, "no interrupt with IER 0");

    vmm_uart_write(&u, 3, 0x80);            /* DLAB */
    vmm_uart_write(&u, 0, 1);
    vmm_uart_write(&u, 1, 0);
    is_int(vmm_uart_read(&u, 0), 1, "divisor latch low");
    vmm_uart_write(&u, 3, 0x03);            /* 8N1 */
    is_str(outbuf, "hi", "DLL write is not output");

    vmm_uart_write(&u, 1, 0x02);            /* THRI */
    is_int(level, 1, "enabling THRI with THR empty raises the line");
    is_int(vmm_uart_read(&u, 2) & 0x0f, 2, "IIR: THR empty");
    is_int(level, 0, "reading IIR clears the THRE interrupt");
    int e0 = edges;
    vmm_uart_write(&u, 0, '!');
    is_int(edges, e0 + 1, "each THR write gives a new edge");
    vmm_uart_write(&u, 0, '?');
    is_int(edges, e0 + 2, "even with the interrupt still pending");

    vmm_uart_write(&u, 1, 0x01);            /* RDI only */
    vmm_uart_read(&u, 2);
    is_int(level, 0, "line low with no input");
    is_int(vmm_uart_input(&u, (const uint8_t *)"ab", 2), 2, "input taken");
    is_int(level, 1, "received data raises the line");
    is_int(vmm_uart_read(&u, 2) & 0x0f, 4, "IIR: received data");
    ok(vmm_uart_read(&u, 5) & 1, "LSR: data ready");
    is_int(vmm_uart_read(&u, 0), 'a', "RBR a");
    is_int(vmm_uart_read(&u, 0), 'b', "RBR b");
    is_int(level, 0, "line low when the FIFO is empty");
    ok(!(vmm_uart_read(&u, 5) & 1), "LSR: no data");

    static uint8_t big[VMM_UART_RX_SIZE + 100];
    is_int(vmm_uart_input(&u, big, sizeof(big)), VMM_UART_RX_SIZE, "FIFO bounds input");
    is_int(vmm_uart_rx_space(&u), 0, "FIFO full");
    vmm_uart_write(&u, 2, 0x07);            /* enable + clear FIFOs */
    is_int(vmm_uart_rx_space(&u), VMM_UART_RX_SIZE, "FCR clears the receive FIFO");
    is_int(vmm_uart_read(&u, 2) & 0xc0, 0xc0, "IIR reports FIFOs enabled");

    vmm_uart_write(&u, 4, 0x10 | 0x0b);     /* loopback, DTR RTS OUT2 */
    is_int(vmm_uart_read(&u, 6) & 0xf0, 0xb0, "loopback MSR mirrors MCR");
    size_t before = outlen;
    vmm_uart_write(&u, 0, 'L');
    is_int(outlen, before, "loopback: nothing transmitted");
    is_int(vmm_uart_read(&u, 0), 'L', "loopback: byte comes back");
    vmm_uart_write(&u, 7, 0x5a);
    is_int(vmm_uart_read(&u, 7), 0x5a, "scratch register");
    vmm_uart_fini(&u);
    return tap_done();
}
