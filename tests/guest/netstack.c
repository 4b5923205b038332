/*
 * tests/guest/netstack.c - Ethernet, ARP, IPv4, ICMP echo and UDP over vnet.c, and the net,
 * ping, netsend and netrecv commands (see netstack.h). Threads: boot CPU only.
 * Trust: frames come from the network; every length is checked before use.
 */
#include "netstack.h"

#include "arch.h"
#include "console.h"
#include "cpu.h"
#include "lib.h"
#include "timer.h"
#include "vnet.h"

#define ETH_ARP 0x0806
#define ETH_IP 0x0800
#define ARP_N 16
#define UDP_PAYLOAD 1472
#define MS 1000000UL

struct nic_ip {
    uint32_t addr, prefix; /* host order; addr 0: none */
    uint64_t rx, tx, arp_replies, echo_replies;
    int link_seen;
};

static struct nic_ip ips[VNET_MAX];
static struct {
    uint32_t ip;
    uint8_t mac[6];
} arp_cache[ARP_N];
static unsigned arp_next;
static uint64_t irqs_seen;
static int ready;
/* what the running command waits for */
static uint32_t ping_from;
static uint16_t ping_seq_got;
static uint16_t recv_port;
static uint64_t recv_packets, recv_bytes, recv_last_ns;

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

static uint16_t csum(const uint8_t *p, unsigned len)
{
    uint32_t s = 0;
    for (unsigned i = 0; i + 1 < len; i += 2)
        s += be16(p + i);
    if (len & 1)
        s += (uint32_t)p[len - 1] << 8;
    while (s >> 16)
        s = (s & 0xFFFF) + (s >> 16);
    return (uint16_t)~s;
}

static int parse_ip(const char *s, uint32_t *ip, uint32_t *prefix)
{
    uint32_t v = 0, part = 0;
    int dots = 0, digits = 0;
    for (; *s && *s != '/'; s++) {
        if (*s == '.') {
            if (!digits || part > 255 || ++dots > 3)
                return -1;
            v = v << 8 | part;
            part = 0;
            digits = 0;
        } else if (*s >= '0' && *s <= '9' && digits < 3) {
            part = part * 10 + (uint32_t)(*s - '0');
            digits++;
        } else {
            return -1;
        }
    }
    if (dots != 3 || !digits || part > 255)
        return -1;
    *ip = v << 8 | part;
    if (*s == '/') {
        uint64_t p;
        if (!prefix || cmd_parse_u64(s + 1, &p) < 0 || p < 1 || p > 30)
            return -1;
        *prefix = (uint32_t)p;
    } else if (prefix) {
        return -1;
    }
    return 0;
}

static void fmt_ip(char *b, uint32_t ip)
{
    char *p = b;
    for (int i = 3; i >= 0; i--) {
        unsigned o = (ip >> (8 * i)) & 0xFF;
        if (o >= 100)
            *p++ = (char)('0' + o / 100);
        if (o >= 10)
            *p++ = (char)('0' + o / 10 % 10);
        *p++ = (char)('0' + o % 10);
        if (i)
            *p++ = '.';
    }
    *p = 0;
}

static uint32_t mask(uint32_t prefix) { return prefix ? ~0u << (32 - prefix) : 0; }

/* The NIC whose subnet holds ip, or NULL. */
static struct vnet_dev *route(uint32_t ip)
{
    for (unsigned i = 0; i < VNET_MAX; i++) {
        struct vnet_dev *d = vnet_get(i);
        if (d && ips[i].addr && ((ips[i].addr ^ ip) & mask(ips[i].prefix)) == 0)
            return d;
    }
    return NULL;
}

static const uint8_t *arp_lookup(uint32_t ip)
{
    for (unsigned i = 0; i < ARP_N; i++)
        if (arp_cache[i].ip == ip)
            return arp_cache[i].mac;
    return NULL;
}

static void arp_learn(uint32_t ip, const uint8_t *mac)
{
    for (unsigned i = 0; i < ARP_N; i++)
        if (arp_cache[i].ip == ip) {
            memcpy(arp_cache[i].mac, mac, 6);
            return;
        }
    arp_cache[arp_next % ARP_N].ip = ip;
    memcpy(arp_cache[arp_next % ARP_N].mac, mac, 6);
    arp_next++;
}

static void eth_hdr(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    put16(f + 12, type);
}

static void arp_send(struct vnet_dev *d, uint16_t op, const uint8_t *tha, uint32_t tpa)
{
    static const uint8_t bcast[6] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    uint8_t f[60] = {0};
    const uint8_t *me = vnet_mac(d);
    eth_hdr(f, op == 1 ? bcast : tha, me, ETH_ARP);
    uint8_t *a = f + 14;
    put16(a, 1);
    put16(a + 2, ETH_IP);
    a[4] = 6;
    a[5] = 4;
    put16(a + 6, op);
    memcpy(a + 8, me, 6);
    put32(a + 14, ips[vnet_index(d)].addr);
    if (op == 2)
        memcpy(a + 18, tha, 6);
    put32(a + 24, tpa);
    if (vnet_send(d, f, sizeof(f)) == 0)
        ips[vnet_index(d)].tx++;
}

/* IPv4 header at f + 14 for len bytes of payload; returns the frame length. */
static unsigned ip_frame(uint8_t *f, struct vnet_dev *d, const uint8_t *dmac, uint32_t dst,
                         uint8_t proto, unsigned len)
{
    eth_hdr(f, dmac, vnet_mac(d), ETH_IP);
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    ip[1] = 0;
    put16(ip + 2, (uint16_t)(20 + len));
    put16(ip + 4, 0);
    put16(ip + 6, 0x4000); /* DF */
    ip[8] = 64;
    ip[9] = proto;
    put16(ip + 10, 0);
    put32(ip + 12, ips[vnet_index(d)].addr);
    put32(ip + 16, dst);
    put16(ip + 10, csum(ip, 20));
    return 14 + 20 + len;
}

static void on_frame(struct vnet_dev *d, const uint8_t *f, unsigned len)
{
    struct nic_ip *me = &ips[vnet_index(d)];
    me->rx++;
    if (len < 14)
        return;
    uint16_t type = be16(f + 12);
    const uint8_t *p = f + 14;
    unsigned plen = len - 14;
    if (type == ETH_ARP && plen >= 28 && be16(p) == 1 && be16(p + 2) == ETH_IP && p[4] == 6 &&
        p[5] == 4) {
        uint16_t op = be16(p + 6);
        uint32_t spa = be32(p + 14), tpa = be32(p + 24);
        if (!me->addr || tpa != me->addr)
            return;
        arp_learn(spa, p + 8);
        if (op == 1) {
            arp_send(d, 2, p + 8, spa);
            me->arp_replies++;
        }
        return;
    }
    if (type != ETH_IP || plen < 20 || (p[0] >> 4) != 4)
        return;
    unsigned ihl = (p[0] & 15) * 4u, tot = be16(p + 2);
    if (ihl < 20 || tot < ihl || tot > plen || (be16(p + 6) & 0x3FFF))
        return; /* bad header, or a fragment */
    uint32_t src = be32(p + 12), dst = be32(p + 16);
    if (!me->addr || dst != me->addr)
        return;
    const uint8_t *l4 = p + ihl;
    unsigned l4len = tot - ihl;
    if (p[9] == 1 && l4len >= 8) {
        if (l4[0] == 8 && l4len <= 1500 - 20) { /* echo request: answer it */
            static uint8_t r[1514];
            unsigned n = ip_frame(r, d, f + 6, src, 1, l4len);
            memcpy(r + 34, l4, l4len);
            r[34] = 0;
            put16(r + 36, 0);
            put16(r + 36, csum(r + 34, l4len));
            if (vnet_send(d, r, n) == 0) {
                me->tx++;
                me->echo_replies++;
            }
        } else if (l4[0] == 0 && src == ping_from) {
            ping_seq_got = be16(l4 + 6);
        }
        return;
    }
    if (p[9] == 17 && l4len >= 8 && recv_port && be16(l4 + 2) == recv_port) {
        recv_packets++;
        recv_bytes += l4len - 8;
        recv_last_ns = timer_now_ns();
    }
}

/* Receives on every NIC; reports link changes seen after an interrupt. */
static void poll_all(int check_link)
{
    for (unsigned i = 0; i < VNET_MAX; i++) {
        struct vnet_dev *d = vnet_get(i);
        if (!d)
            continue;
        vnet_receive(d, on_frame);
        if (check_link) {
            int up = vnet_link_up(d);
            if (up != ips[i].link_seen) {
                ips[i].link_seen = up;
                con_printf("net event nic=%u link=%s\n", i, up ? "up" : "down");
            }
        }
    }
}

void net_service(void)
{
    if (!ready)
        return;
    uint64_t irqs = vnet_irqs();
    int fresh = irqs != irqs_seen;
    irqs_seen = irqs;
    poll_all(fresh);
}

static void setup(struct guest *g)
{
    if (ready)
        return;
    vnet_probe(g);
    for (unsigned i = 0; i < VNET_MAX; i++) {
        struct vnet_dev *d = vnet_get(i);
        ips[i].link_seen = d ? vnet_link_up(d) : 0;
    }
    irqs_seen = vnet_irqs();
    ready = 1;
}

/* Resolves ip to a MAC through d (ARP, 3 tries of 300 ms); NULL if no answer. */
static const uint8_t *resolve(struct vnet_dev *d, uint32_t ip)
{
    for (int t = 0; t < 3; t++) {
        const uint8_t *m = arp_lookup(ip);
        if (m)
            return m;
        arp_send(d, 1, NULL, ip);
        uint64_t end = timer_now_ns() + 300 * MS;
        while (timer_now_ns() < end && !arp_lookup(ip)) {
            poll_all(0);
            cpu_relax();
        }
    }
    return arp_lookup(ip);
}

static struct vnet_dev *dest(struct cmd_args *a, int i, uint32_t *ip, const uint8_t **mac)
{
    if (i >= a->argc || parse_ip(a->argv[i], ip, NULL) < 0) {
        con_printf("error: expected an IPv4 address A.B.C.D\n");
        return NULL;
    }
    struct vnet_dev *d = route(*ip);
    if (!d) {
        con_printf("error: no NIC has a subnet holding %s (net ip A.B.C.D/P first)\n",
                   a->argv[i]);
        return NULL;
    }
    *mac = resolve(d, *ip);
    if (!*mac) {
        con_printf("error: no ARP answer from %s\n", a->argv[i]);
        return NULL;
    }
    return d;
}

void net_cmd(struct guest *g, struct cmd_args *a)
{
    setup(g);
    const char *sub = a->argc > 1 ? a->argv[1] : "list";
    char b[16];
    uint64_t n = 0;
    if (!strcmp(sub, "list")) {
        unsigned cnt = 0;
        while (cnt < VNET_MAX && vnet_get(cnt))
            cnt++;
        con_printf("net nics=%u\n", cnt);
        for (unsigned i = 0; i < cnt; i++) {
            struct vnet_dev *d = vnet_get(i);
            const uint8_t *m = vnet_mac(d);
            fmt_ip(b, ips[i].addr);
            con_printf("net nic=%u slot=%u mac=%02x:%02x:%02x:%02x:%02x:%02x link=%s ip=%s/%u\n",
                       i, vnet_slot(d), m[0], m[1], m[2], m[3], m[4], m[5],
                       vnet_link_up(d) ? "up" : "down", b, ips[i].prefix);
        }
    } else if (!strcmp(sub, "ip")) {
        uint32_t ip, prefix;
        if (a->argc < 3 || parse_ip(a->argv[2], &ip, &prefix) < 0 ||
            (a->argc > 3 && cmd_parse_u64(a->argv[3], &n) < 0) || !vnet_get((unsigned)n)) {
            con_printf("error: usage: net ip A.B.C.D/P [NIC] (P 1..30, NIC present)\n");
            return;
        }
        ips[n].addr = ip;
        ips[n].prefix = prefix;
        fmt_ip(b, ip);
        con_printf("net ip nic=%lu addr=%s/%u\n", n, b, prefix);
    } else if (!strcmp(sub, "stats")) {
        for (unsigned i = 0; i < VNET_MAX; i++)
            if (vnet_get(i))
                con_printf("net stats nic=%u rx=%lu tx=%lu arp_replies=%lu echo_replies=%lu "
                           "irqs=%lu\n", i, ips[i].rx, ips[i].tx, ips[i].arp_replies,
                           ips[i].echo_replies, vnet_irqs());
    } else if (!strcmp(sub, "bad") && a->argc == 4 && cmd_parse_u64(a->argv[2], &n) == 0 &&
               vnet_get((unsigned)n)) {
        if (vnet_bad(vnet_get((unsigned)n), a->argv[3]) < 0)
            con_printf("error: kind: expected loop, oob, huge, zero or index\n");
    } else if (!strcmp(sub, "reset") && a->argc == 3 && cmd_parse_u64(a->argv[2], &n) == 0) {
        con_printf("net reset nic=%lu ok=%d\n", n, vnet_reset(g, (unsigned)n) == 0);
    } else {
        con_printf("error: usage: net [list] | ip A.B.C.D/P [NIC] | stats | bad NIC "
                   "loop|oob|huge|zero|index | reset NIC\n");
    }
}

void ping_cmd(struct guest *g, struct cmd_args *a)
{
    setup(g);
    uint32_t ip;
    const uint8_t *mac;
    uint64_t count = 3;
    if (a->argc > 2 && (cmd_parse_u64(a->argv[2], &count) < 0 || !count || count > 1000)) {
        con_printf("error: usage: ping A.B.C.D [COUNT 1..1000]\n");
        return;
    }
    struct vnet_dev *d = dest(a, 1, &ip, &mac);
    if (!d)
        return;
    uint8_t dmac[6];
    memcpy(dmac, mac, 6);
    unsigned got = 0;
    ping_from = ip;
    for (uint16_t seq = 1; seq <= count; seq++) {
        uint8_t f[14 + 20 + 64];
        unsigned n = ip_frame(f, d, dmac, ip, 1, 64);
        uint8_t *icmp = f + 34;
        memset(icmp, 0, 64);
        icmp[0] = 8;
        put16(icmp + 4, 0xA701);
        put16(icmp + 6, seq);
        for (int i = 8; i < 64; i++)
            icmp[i] = (uint8_t)i;
        put16(icmp + 2, csum(icmp, 64));
        ping_seq_got = 0;
        if (vnet_send(d, f, n) == 0)
            ips[vnet_index(d)].tx++;
        uint64_t end = timer_now_ns() + 1000 * MS;
        while (timer_now_ns() < end && ping_seq_got != seq) {
            poll_all(0);
            cpu_relax();
        }
        if (ping_seq_got == seq)
            got++;
    }
    ping_from = 0;
    char b[16];
    fmt_ip(b, ip);
    con_printf("ping to=%s sent=%lu received=%u\n", b, count, got);
}

void netsend_cmd(struct guest *g, struct cmd_args *a)
{
    setup(g);
    uint32_t ip;
    const uint8_t *mac;
    uint64_t port, mb;
    if (a->argc != 4 || cmd_parse_u64(a->argv[2], &port) < 0 || !port || port > 65535 ||
        cmd_parse_u64(a->argv[3], &mb) < 0 || !mb || mb > 100000) {
        con_printf("error: usage: netsend A.B.C.D PORT MB\n");
        return;
    }
    struct vnet_dev *d = dest(a, 1, &ip, &mac);
    if (!d)
        return;
    static uint8_t f[14 + 20 + 8 + UDP_PAYLOAD];
    unsigned n = ip_frame(f, d, mac, ip, 17, 8 + UDP_PAYLOAD);
    uint8_t *udp = f + 34;
    put16(udp, 40000);
    put16(udp + 2, (uint16_t)port);
    put16(udp + 4, 8 + UDP_PAYLOAD);
    put16(udp + 6, 0); /* no checksum (allowed for UDP over IPv4) */
    for (unsigned i = 0; i < UDP_PAYLOAD; i++)
        udp[8 + i] = (uint8_t)(i * 7);
    uint64_t total = mb * 1024 * 1024, bytes = 0, packets = 0, errors = 0;
    uint64_t t0 = timer_now_ns();
    while (bytes < total && errors < 1000) {
        put32(udp + 8, (uint32_t)packets);
        if (vnet_send_ex(d, f, n, (packets & 31) != 31) == 0) {
            packets++;
            bytes += UDP_PAYLOAD;
        } else {
            errors++;
        }
        if ((packets & 255) == 0)
            poll_all(0); /* keep the receive ring moving (ARP, pings) */
    }
    vnet_flush(d);
    uint64_t ns = timer_now_ns() - t0;
    ns = ns ? ns : 1;
    ips[vnet_index(d)].tx += packets;
    char b[16];
    fmt_ip(b, ip);
    con_printf("netsend to=%s port=%lu packets=%lu bytes=%lu ms=%lu kbps=%lu errors=%lu\n", b,
               port, packets, bytes, ns / MS, bytes / 1024 * 1000000000UL / ns, errors);
}

void netrecv_cmd(struct guest *g, struct cmd_args *a)
{
    setup(g);
    uint64_t port, ms;
    if (a->argc != 3 || cmd_parse_u64(a->argv[1], &port) < 0 || !port || port > 65535 ||
        cmd_parse_u64(a->argv[2], &ms) < 0 || !ms || ms > 600000) {
        con_printf("error: usage: netrecv PORT MS (ends MS after the start, or 500 ms after "
                   "the last datagram)\n");
        return;
    }
    recv_port = (uint16_t)port;
    recv_packets = recv_bytes = 0;
    uint64_t t0 = timer_now_ns(), end = t0 + ms * MS, first = 0, now = t0;
    while ((now = timer_now_ns()) < end) {
        poll_all(0);
        if (recv_packets && !first)
            first = now;
        if (recv_packets && now > recv_last_ns + 500 * MS)
            break;
        cpu_relax();
    }
    recv_port = 0;
    uint64_t span = recv_packets ? recv_last_ns - first : 0;
    con_printf("netrecv port=%lu packets=%lu bytes=%lu ms=%lu kbps=%lu\n", port, recv_packets,
               recv_bytes, span / MS, span ? recv_bytes / 1024 * 1000000000UL / span : 0);
}
