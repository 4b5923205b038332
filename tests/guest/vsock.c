/*
 * tests/guest/vsock.c - virtio-vsock driver and the `vsock` command (see vsock.h). One
 * receive queue of 4 KiB buffers (header and payload in one), one transmit queue whose
 * descriptor i always points at transmit buffer i, the event queue set up but unused.
 * Each connection has a 64 KiB receive ring: its size is the buf_alloc we advertise, and
 * fwd_cnt counts what was echoed or read out of it.
 * Threads: boot CPU only. Trust: packets come from the VMM under test and are checked.
 */
#include "vsock.h"

#include "apic.h"
#include "arch.h"
#include "console.h"
#include "cpu.h"
#include "lib.h"
#include "memmap.h"
#include "timer.h"
#include "vio.h"

#define QSZ 64
#define BUF 4096
#define HDR 44
#define NCONN 8
#define NLISTEN 4
#define CBUF 65536u
#define HOST_CID 2
#define WAIT_NS 3000000000ULL
enum { Q_RX, Q_TX, Q_EVT };
enum { OP_REQUEST = 1, OP_RESPONSE, OP_RST, OP_SHUTDOWN, OP_RW, OP_CREDIT_UPDATE,
       OP_CREDIT_REQUEST };
enum { ST_FREE, ST_CONNECTING, ST_OPEN, ST_CLOSED };
#define SHUT_RCV 1u
#define SHUT_SEND 2u

struct hdr {
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port, len;
    uint16_t type, op;
    uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));
_Static_assert(sizeof(struct hdr) == HDR, "vsock header");

struct gconn {
    int st, echo, reset;
    uint32_t lport, pport;
    uint8_t *buf;
    uint32_t head, len;
    uint32_t rx_cnt, fwd_cnt, last_fwd;
    uint32_t peer_alloc, peer_fwd, tx_cnt;
    uint32_t peer_shut;
};

static struct {
    int probed, found, ready;
    struct vio_dev d;
    struct vio_q q[3];
    uint64_t cid;
    uint8_t *mem, *rxbuf, *txbuf, *cbufs;
    uint16_t free_tx[QSZ];
    unsigned nfree;
    struct gconn c[NCONN];
    struct { uint32_t port; int echo; } listen[NLISTEN];
    unsigned nlisten;
    uint32_t next_port;
    uint64_t rx_packets, tx_packets, resets;
} v;
static volatile uint64_t irqs;

static void vsock_irq(unsigned vector)
{
    (void)vector;
    if (!v.d.msix)
        vio_isr_ack(&v.d); /* INTx: lowers the line */
    irqs++;
    lapic_eoi();
}

static void reclaim_tx(void)
{
    uint32_t id, len;
    while (vio_used(&v.q[Q_TX], &id, &len))
        if (id < QSZ && v.nfree < QSZ)
            v.free_tx[v.nfree++] = (uint16_t)id;
}

/* Queues one packet; waits up to 1 s for a free transmit buffer. 0 or -1. */
static int tx(uint32_t lport, uint32_t pport, uint16_t op, uint32_t flags, const void *data,
              uint32_t len, struct gconn *c)
{
    uint64_t end = timer_now_ns() + 1000000000ULL;
    reclaim_tx();
    while (!v.nfree) {
        if (timer_now_ns() > end)
            return -1;
        cpu_relax();
        reclaim_tx();
    }
    uint16_t i = v.free_tx[--v.nfree];
    uint8_t *b = v.txbuf + (uint64_t)i * BUF;
    struct hdr h = {v.cid, HOST_CID, lport, pport, len, 1, op, flags, 0, 0};
    if (c) {
        h.buf_alloc = CBUF;
        h.fwd_cnt = c->fwd_cnt;
        c->last_fwd = c->fwd_cnt;
    }
    memcpy(b, &h, HDR);
    if (len)
        memcpy(b + HDR, data, len);
    v.q[Q_TX].desc[i] = (struct vio_desc){(uintptr_t)b, HDR + len, 0, 0};
    vio_post(&v.q[Q_TX], i);
    vio_publish(&v.q[Q_TX]);
    v.tx_packets++;
    return 0;
}

static int ctl(struct gconn *c, uint16_t op, uint32_t flags)
{
    return tx(c->lport, c->pport, op, flags, NULL, 0, c);
}

static struct gconn *find(uint32_t lport, uint32_t pport)
{
    for (unsigned i = 0; i < NCONN; i++)
        if (v.c[i].st != ST_FREE && v.c[i].lport == lport && v.c[i].pport == pport)
            return &v.c[i];
    return NULL;
}

static struct gconn *conn_new(uint32_t lport, uint32_t pport)
{
    for (unsigned i = 0; i < NCONN; i++) {
        struct gconn *c = &v.c[i];
        if (c->st != ST_FREE && c->st != ST_CLOSED)
            continue;
        uint8_t *buf = v.cbufs + (uint64_t)i * CBUF;
        *c = (struct gconn){.st = ST_CONNECTING, .lport = lport, .pport = pport, .buf = buf};
        return c;
    }
    return NULL;
}

static uint32_t peer_free(const struct gconn *c)
{
    uint32_t used = c->tx_cnt - c->peer_fwd;
    return used >= c->peer_alloc ? 0 : c->peer_alloc - used;
}

/* Marks n bytes of the ring consumed and tells the host when it believes we are full. */
static void consumed(struct gconn *c, uint32_t n)
{
    c->head = (c->head + n) % CBUF;
    c->len -= n;
    c->fwd_cnt += n;
    if (c->fwd_cnt - c->last_fwd >= CBUF / 2)
        ctl(c, OP_CREDIT_UPDATE, 0);
}

/* Sends as much of the ring back as the host's credit allows. */
static void echo_out(struct gconn *c)
{
    while (c->st == ST_OPEN && c->len) {
        uint32_t n = c->len, credit = peer_free(c);
        uint32_t contig = CBUF - c->head;
        if (n > contig)
            n = contig;
        if (n > BUF - HDR)
            n = BUF - HDR;
        if (n > credit)
            n = credit;
        if (!n)
            return;
        if (tx(c->lport, c->pport, OP_RW, 0, c->buf + c->head, n, c) < 0)
            return;
        c->tx_cnt += n;
        consumed(c, n);
    }
}

static int listening(uint32_t port, int *echo)
{
    for (unsigned i = 0; i < v.nlisten; i++)
        if (v.listen[i].port == port) {
            *echo = v.listen[i].echo;
            return 1;
        }
    return 0;
}

static void handle(const struct hdr *h, const uint8_t *data, uint32_t avail)
{
    if (h->dst_cid != v.cid || h->src_cid != HOST_CID || h->type != 1 || h->len > avail)
        return;
    struct gconn *c = find(h->dst_port, h->src_port);
    if (!c) {
        int echo = 0;
        if (h->op == OP_REQUEST && listening(h->dst_port, &echo) &&
            (c = conn_new(h->dst_port, h->src_port))) {
            c->st = ST_OPEN;
            c->echo = echo;
            c->peer_alloc = h->buf_alloc;
            c->peer_fwd = h->fwd_cnt;
            ctl(c, OP_RESPONSE, 0);
        } else if (h->op != OP_RST) {
            tx(h->dst_port, h->src_port, OP_RST, 0, NULL, 0, NULL);
        }
        return;
    }
    c->peer_alloc = h->buf_alloc;
    c->peer_fwd = h->fwd_cnt;
    switch (h->op) {
    case OP_RESPONSE:
        if (c->st == ST_CONNECTING)
            c->st = ST_OPEN;
        break;
    case OP_RST:
        if (c->st != ST_CLOSED)
            v.resets++;
        c->reset = c->st == ST_CONNECTING || c->peer_shut != (SHUT_RCV | SHUT_SEND);
        c->st = ST_CLOSED;
        break;
    case OP_SHUTDOWN:
        c->peer_shut |= h->flags & (SHUT_RCV | SHUT_SEND);
        if (c->peer_shut == (SHUT_RCV | SHUT_SEND)) {
            ctl(c, OP_RST, 0); /* as Linux: the full shutdown is answered with RST */
            c->st = ST_CLOSED;
        }
        break;
    case OP_RW:
        if (c->st != ST_OPEN)
            break;
        for (uint32_t i = 0; i < h->len && c->len < CBUF; i++) {
            c->buf[(c->head + c->len) % CBUF] = data[i];
            c->len++;
        }
        c->rx_cnt += h->len;
        if (c->echo)
            echo_out(c);
        break;
    case OP_CREDIT_UPDATE:
        if (c->echo)
            echo_out(c);
        break;
    case OP_CREDIT_REQUEST:
        ctl(c, OP_CREDIT_UPDATE, 0);
        break;
    }
}

/* Handles every received packet; returns how many. */
static unsigned rx(void)
{
    uint32_t id, len;
    unsigned n = 0;
    while (vio_used(&v.q[Q_RX], &id, &len)) {
        if (id < QSZ && len >= HDR && len <= BUF) {
            const uint8_t *b = v.rxbuf + (uint64_t)id * BUF;
            struct hdr h;
            memcpy(&h, b, HDR);
            v.rx_packets++;
            handle(&h, b + HDR, len - HDR);
        }
        if (id < QSZ)
            vio_post(&v.q[Q_RX], (uint16_t)id);
        n++;
    }
    if (n)
        vio_publish(&v.q[Q_RX]);
    return n;
}

static int setup(struct guest *g)
{
    uint32_t got = 0;
    v.ready = 0;
    int rc = vio_begin(&v.d, 0, &got);
    if (rc < 0)
        return rc;
    if (!v.mem) {
        uint64_t m = mm_alloc(&g->mm, 3 * VIO_QMEM + 2 * QSZ * BUF + NCONN * CBUF, 4096, 0);
        if (!m)
            return -4;
        v.mem = (uint8_t *)(uintptr_t)m;
        v.rxbuf = v.mem + 3 * VIO_QMEM;
        v.txbuf = v.rxbuf + QSZ * BUF;
        v.cbufs = v.txbuf + QSZ * BUF;
    }
    memset(v.c, 0, sizeof(v.c));
    v.cid = (uint64_t)vio_cfg32(&v.d, 0) | (uint64_t)vio_cfg32(&v.d, 4) << 32;
    int msix = vio_msix(&v.d, VEC_VSOCK) == 0;
    vio_config_vector(&v.d, 0xFFFF);
    if (!msix)
        vio_intx(&v.d, VEC_VSOCK);
    if (vio_queue(&v.d, Q_RX, &v.q[Q_RX], v.mem, QSZ, msix ? 0 : 0xFFFF) < 0 ||
        vio_queue(&v.d, Q_TX, &v.q[Q_TX], v.mem + VIO_QMEM, QSZ, 0xFFFF) < 0 ||
        vio_queue(&v.d, Q_EVT, &v.q[Q_EVT], v.mem + 2 * VIO_QMEM, QSZ, 0xFFFF) < 0)
        return -5;
    v.q[Q_TX].avail[0] = 1; /* transmit completions are polled */
    for (unsigned i = 0; i < QSZ; i++) {
        v.q[Q_RX].desc[i] = (struct vio_desc){(uintptr_t)(v.rxbuf + (uint64_t)i * BUF), BUF,
                                              VIO_DESC_WRITE, 0};
        vio_post(&v.q[Q_RX], (uint16_t)i);
        v.free_tx[i] = (uint16_t)(QSZ - 1 - i);
    }
    v.nfree = QSZ;
    if (vio_ready(&v.d) < 0)
        return -6;
    vio_publish(&v.q[Q_RX]);
    v.ready = 1;
    return 0;
}

static void probe(struct guest *g)
{
    v.probed = 1;
    v.next_port = 49152;
    int slot = vio_find(19, 0, 0);
    if (slot < 0)
        return;
    v.found = 1;
    v.d.slot = (unsigned)slot;
    cpu_set_handler(VEC_VSOCK, vsock_irq);
    int rc = setup(g);
    if (rc < 0)
        con_printf("error: vsock at slot %d: setup failed at step %d\n", slot, -rc);
}

int vsock_poll(struct guest *g)
{
    if (!v.probed)
        probe(g);
    if (!v.ready)
        return 0;
    reclaim_tx();
    unsigned n = rx();
    for (unsigned i = 0; i < NCONN; i++)
        if (v.c[i].st == ST_OPEN && v.c[i].echo && v.c[i].len)
            echo_out(&v.c[i]);
    return n != 0;
}

static struct gconn *conn_arg(struct cmd_args *a, int i, unsigned *idx)
{
    uint64_t n;
    if (i >= a->argc || cmd_parse_u64(a->argv[i], &n) < 0 || n >= NCONN ||
        v.c[n].st == ST_FREE) {
        con_printf("error: connection: expected an index from 'vsock list'\n");
        return NULL;
    }
    *idx = (unsigned)n;
    return &v.c[n];
}

/* Waits (handling packets) until c leaves st or the time is up; 1 if it left. */
static int wait_state(struct gconn *c, int st, uint64_t ns)
{
    uint64_t end = timer_now_ns() + ns;
    while (c->st == st && timer_now_ns() < end) {
        if (!rx())
            cpu_relax();
    }
    return c->st != st;
}

/* Sends len bytes from fn-generated data on c, waiting for credit. Returns bytes sent. */
static uint64_t send_stream(struct gconn *c, const uint8_t *text, uint64_t len, uint64_t base)
{
    uint8_t chunk[BUF - HDR];
    uint64_t sent = 0, now = timer_now_ns(), end = now + WAIT_NS, ask = now + WAIT_NS / 4;
    while (sent < len && c->st == ST_OPEN) {
        uint64_t n = len - sent;
        if (n > sizeof(chunk))
            n = sizeof(chunk);
        if (n > peer_free(c))
            n = peer_free(c);
        if (!n) { /* no credit: wait for an update, ask for one if it is slow to come */
            now = timer_now_ns();
            if (now > end)
                break;
            if (now > ask) {
                ctl(c, OP_CREDIT_REQUEST, 0);
                ask = now + WAIT_NS / 4;
            }
            if (!rx())
                cpu_relax();
            continue;
        }
        for (uint64_t i = 0; i < n; i++)
            chunk[i] = text ? text[sent + i] : (uint8_t)((base + sent + i) % 251);
        if (tx(c->lport, c->pport, OP_RW, 0, chunk, (uint32_t)n, c) < 0)
            break;
        c->tx_cnt += (uint32_t)n;
        sent += n;
        end = timer_now_ns() + WAIT_NS;
        ask = end - WAIT_NS + WAIT_NS / 4;
        rx();
    }
    return sent;
}

static const char *state_name(int st)
{
    static const char *const n[] = {"free", "connecting", "open", "closed"};
    return n[st & 3];
}

void vsock_cmd(struct guest *g, struct cmd_args *a)
{
    if (!v.probed)
        probe(g);
    const char *sub = a->argc > 1 ? a->argv[1] : "info";
    if (!strcmp(sub, "info")) {
        unsigned n = 0;
        for (unsigned i = 0; i < NCONN; i++)
            n += v.c[i].st == ST_OPEN;
        con_printf("vsock found=%d cid=%lu conns=%u irqs=%lu rx_packets=%lu tx_packets=%lu "
                   "resets=%lu\n", v.found, v.cid, n, irqs, v.rx_packets, v.tx_packets,
                   v.resets);
        return;
    }
    if (!v.ready) {
        con_printf("error: no vsock device (start atoll-vmm with --vsock cid=N,uds=PATH)\n");
        return;
    }
    vsock_poll(g);
    uint64_t num = 0;
    unsigned idx;
    struct gconn *c;
    if (!strcmp(sub, "listen") || !strcmp(sub, "echo-server")) {
        int echo = sub[0] == 'e' || (a->argc > 3 && !strcmp(a->argv[3], "echo"));
        if (a->argc < 3 || cmd_parse_u64(a->argv[2], &num) < 0 || num > 0xFFFFFFFFULL) {
            con_printf("error: usage: vsock listen PORT [echo] | vsock echo-server PORT\n");
            return;
        }
        int old;
        if (!listening((uint32_t)num, &old)) {
            if (v.nlisten == NLISTEN) {
                con_printf("error: at most %d listeners\n", NLISTEN);
                return;
            }
            v.listen[v.nlisten].port = (uint32_t)num;
            v.listen[v.nlisten++].echo = echo;
        }
        con_printf("vsock listen port=%lu echo=%d\n", num, echo);
    } else if (!strcmp(sub, "connect")) {
        if (a->argc < 3 || cmd_parse_u64(a->argv[2], &num) < 0 || num > 0xFFFFFFFFULL) {
            con_printf("error: usage: vsock connect PORT\n");
            return;
        }
        c = conn_new(v.next_port++, (uint32_t)num);
        if (!c) {
            con_printf("error: at most %d connections\n", NCONN);
            return;
        }
        ctl(c, OP_REQUEST, 0);
        wait_state(c, ST_CONNECTING, WAIT_NS);
        idx = (unsigned)(c - v.c);
        if (c->st == ST_OPEN)
            con_printf("vsock connect port=%lu conn=%u ok=1\n", num, idx);
        else if (c->st == ST_CLOSED)
            con_printf("vsock connect port=%lu ok=0 reset=1\n", num);
        else {
            c->st = ST_CLOSED;
            con_printf("vsock connect port=%lu ok=0 timeout=1\n", num);
        }
    } else if (!strcmp(sub, "send") || !strcmp(sub, "sendbulk")) {
        if (!(c = conn_arg(a, 2, &idx)))
            return;
        uint64_t sent, want;
        if (sub[4] == 'b') {
            if (a->argc < 4 || cmd_parse_u64(a->argv[3], &want) < 0) {
                con_printf("error: usage: vsock sendbulk CONN BYTES\n");
                return;
            }
            sent = send_stream(c, NULL, want, 0);
        } else {
            const char *t = a->rest; /* skip "send" and the index */
            for (int w = 0; w < 2; w++) {
                while (*t && *t != ' ')
                    t++;
                while (*t == ' ')
                    t++;
            }
            static uint8_t line[CMD_LINE_MAX + 1];
            size_t n = strlen(t);
            memcpy(line, t, n);
            line[n++] = '\n';
            want = n;
            sent = send_stream(c, line, n, 0);
        }
        con_printf("vsock %s conn=%u bytes=%lu ok=%d\n", sub, idx, sent, sent == want);
    } else if (!strcmp(sub, "recv")) {
        if (!(c = conn_arg(a, 2, &idx)))
            return;
        char out[201];
        uint32_t n = c->len < 200 ? c->len : 200;
        for (uint32_t i = 0; i < n; i++) {
            uint8_t ch = c->buf[(c->head + i) % CBUF];
            out[i] = ch >= 0x20 && ch < 0x7f && ch != '"' ? (char)ch : '.';
        }
        out[n] = 0;
        consumed(c, n);
        con_printf("vsock recv conn=%u bytes=%u data=\"%s\"\n", idx, n, out);
    } else if (!strcmp(sub, "close")) {
        if (!(c = conn_arg(a, 2, &idx)))
            return;
        int ok = 0;
        if (c->st == ST_OPEN) {
            ctl(c, OP_SHUTDOWN, SHUT_RCV | SHUT_SEND);
            ok = wait_state(c, ST_OPEN, WAIT_NS);
        }
        c->st = ST_FREE;
        con_printf("vsock close conn=%u ok=%d\n", idx, ok);
    } else if (!strcmp(sub, "list")) {
        for (unsigned i = 0; i < NCONN; i++)
            if (v.c[i].st != ST_FREE)
                con_printf("vsock conn=%u state=%s lport=%u pport=%u rx=%u tx=%u echo=%d\n", i,
                           state_name(v.c[i].st), v.c[i].lport, v.c[i].pport, v.c[i].rx_cnt,
                           v.c[i].tx_cnt, v.c[i].echo);
    } else {
        con_printf("error: usage: vsock [info] | listen PORT [echo] | echo-server PORT | "
                   "connect PORT | send CONN TEXT | sendbulk CONN BYTES | recv CONN | "
                   "close CONN | list\n");
    }
}
