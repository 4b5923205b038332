/*
 * tests/guest/cmd.h - the console line editor (echo, backspace, CR/LF handling) and command
 * line splitting and number parsing. Pure code (host unit test test_cmd).
 * Threads: the command loop only.
 */
#ifndef GUEST_CMD_H
#define GUEST_CMD_H

#include <stddef.h>
#include <stdint.h>

#define CMD_LINE_MAX 256
#define CMD_MAX_ARGS 8

struct cmd_editor {
    char line[CMD_LINE_MAX];
    size_t len;
    int overflow;  /* the line was longer than CMD_LINE_MAX - 1 */
    int last_cr;   /* the previous byte was CR: a following LF is part of the same end */
    void (*echo)(const char *s, size_t n, void *ctx);
    void *ctx;
};

void cmd_editor_init(struct cmd_editor *ed, void (*echo)(const char *, size_t, void *),
                     void *ctx);

/* Feeds one received byte. Returns 1 when a line is complete (then ed->line holds it,
 * NUL-terminated, and the editor is ready for the next one after cmd_editor_reset), else 0. */
int cmd_editor_feed(struct cmd_editor *ed, char c);
void cmd_editor_reset(struct cmd_editor *ed);

struct cmd_args {
    int argc;
    char *argv[CMD_MAX_ARGS];
    int truncated;    /* more than CMD_MAX_ARGS words: the rest were not split */
    const char *rest; /* the text after the first word, leading blanks skipped */
    char buf[CMD_LINE_MAX];
};

/* Splits line on blanks into a->argv (copies into a->buf); returns argc. Words beyond
 * CMD_MAX_ARGS are left unsplit and a->truncated is set. */
int cmd_split(const char *line, struct cmd_args *a);

/* Parses a decimal or 0x-prefixed hexadecimal unsigned number, the whole string. Returns 0,
 * or -1 on an empty string, a stray character or overflow. */
int cmd_parse_u64(const char *s, uint64_t *out);

#endif
