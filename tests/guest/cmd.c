/*
 * tests/guest/cmd.c - line editing and splitting for the command loop (see cmd.h). Input
 * bytes come from whoever drives the serial line, so every length is bounded here.
 * Pure code; threads: the command loop only.
 */
#include "cmd.h"

#include "lib.h"

void cmd_editor_init(struct cmd_editor *ed, void (*echo)(const char *, size_t, void *), void *ctx)
{
    memset(ed, 0, sizeof(*ed));
    ed->echo = echo;
    ed->ctx = ctx;
}

void cmd_editor_reset(struct cmd_editor *ed)
{
    ed->len = 0;
    ed->overflow = 0;
    ed->line[0] = '\0';
}

static void echo(struct cmd_editor *ed, const char *s, size_t n)
{
    if (ed->echo)
        ed->echo(s, n, ed->ctx);
}

int cmd_editor_feed(struct cmd_editor *ed, char c)
{
    int was_cr = ed->last_cr;

    ed->last_cr = c == '\r';
    if (c == '\n' && was_cr)
        return 0;
    if (c == '\r' || c == '\n') {
        echo(ed, "\n", 1);
        ed->line[ed->len] = '\0';
        return 1;
    }
    if (c == 0x7f || c == 0x08) {
        if (ed->len > 0) {
            ed->len--;
            echo(ed, "\b \b", 3);
        }
        return 0;
    }
    if ((unsigned char)c < 0x20 && c != '\t')
        return 0;
    if (c == '\t')
        c = ' ';
    if (ed->len + 1 >= CMD_LINE_MAX) {
        ed->overflow = 1;
        return 0;
    }
    ed->line[ed->len++] = c;
    echo(ed, &c, 1);
    return 0;
}

int cmd_split(const char *line, struct cmd_args *a)
{
    size_t n = strlen(line);

    if (n >= CMD_LINE_MAX)
        n = CMD_LINE_MAX - 1;
    memcpy(a->buf, line, n);
    a->buf[n] = '\0';
    a->argc = 0;
    a->truncated = 0;
    a->rest = line + n;
    char *p = a->buf;
    for (;;) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        if (a->argc == CMD_MAX_ARGS) {
            a->truncated = 1;
            break;
        }
        if (a->argc == 1)
            a->rest = line + (p - a->buf);
        a->argv[a->argc++] = p;
        while (*p && *p != ' ')
            p++;
        if (*p)
            *p++ = '\0';
    }
    return a->argc;
}

int cmd_parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    unsigned base = 10;

    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    if (!*s)
        return -1;
    for (; *s; s++) {
        unsigned d;
        if (*s >= '0' && *s <= '9')
            d = (unsigned)(*s - '0');
        else if (base == 16 && *s >= 'a' && *s <= 'f')
            d = (unsigned)(*s - 'a' + 10);
        else if (base == 16 && *s >= 'A' && *s <= 'F')
            d = (unsigned)(*s - 'A' + 10);
        else
            return -1;
        if (v > (UINT64_MAX - d) / base)
            return -1;
        v = v * base + d;
    }
    *out = v;
    return 0;
}
