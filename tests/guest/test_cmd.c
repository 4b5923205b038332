/*
 * tests/guest/test_cmd.c - host unit test of the console line editor, word splitting and
 * number parsing (cmd.c).
 */
#include "cmd.h"

#include "tap.h"

static char echoed[1024];
static size_t echoed_len;

static void echo(const char *s, size_t n, void *ctx)
{
    (void)ctx;
    if (echoed_len + n < sizeof(echoed)) {
        memcpy(echoed + echoed_len, s, n);
        echoed_len += n;
        echoed[echoed_len] = '\0';
    }
}

static int feed(struct cmd_editor *ed, const char *s)
{
    int lines = 0;
    for (; *s; s++)
        lines += cmd_editor_feed(ed, *s);
    return lines;
}

int main(void)
{
    struct cmd_editor ed;
    struct cmd_args a;
    uint64_t v;

    cmd_editor_init(&ed, echo, NULL);
    is_int(feed(&ed, "cpus"), 0, "no line before the end of line");
    is_int(feed(&ed, "\r"), 1, "CR ends a line");
    is_str(ed.line, "cpus", "line content");
    is_str(echoed, "cpus\n", "typed characters and the newline are echoed");
    cmd_editor_reset(&ed);
    is_int(feed(&ed, "\nmem\r\n"), 1, "LF after CR is not a second (empty) line");
    is_str(ed.line, "mem", "CRLF line");
    cmd_editor_reset(&ed);
    feed(&ed, "echx\x7fo hi\x08i\n");
    is_str(ed.line, "echo hi", "backspace and DEL erase");
    cmd_editor_reset(&ed);
    feed(&ed, "a\x01\x1b" "b\tc\n");
    is_str(ed.line, "ab c", "control characters dropped, tab becomes a blank");
    cmd_editor_reset(&ed);
    for (int i = 0; i < 300; i++)
        cmd_editor_feed(&ed, 'x');
    is_int(cmd_editor_feed(&ed, '\n'), 1, "an over-long line still ends");
    ok(ed.overflow && strlen(ed.line) == CMD_LINE_MAX - 1, "overflow flagged, line bounded");

    is_int(cmd_split("  dirty   64 0  ", &a), 3, "split counts words");
    is_str(a.argv[0], "dirty", "word 0");
    is_str(a.argv[1], "64", "word 1");
    is_str(a.argv[2], "0", "word 2");
    is_int(cmd_split("echo  hello   world ", &a), 3, "echo words");
    is_str(a.rest, "hello   world ", "rest keeps the text after the command as typed");
    is_int(cmd_split("", &a), 0, "empty line");
    is_int(cmd_split("echo", &a), 1, "command alone");
    is_str(a.rest, "", "no rest");
    is_int(cmd_split("w a b c d e f g h i j", &a), CMD_MAX_ARGS, "words beyond the limit");
    ok(a.truncated, "truncation flagged");

    ok(cmd_parse_u64("0", &v) == 0 && v == 0, "parse 0");
    ok(cmd_parse_u64("4096", &v) == 0 && v == 4096, "parse decimal");
    ok(cmd_parse_u64("0x1F", &v) == 0 && v == 31, "parse hex");
    ok(cmd_parse_u64("18446744073709551615", &v) == 0 && v == UINT64_MAX, "parse max");
    ok(cmd_parse_u64("18446744073709551616", &v) < 0, "overflow refused");
    ok(cmd_parse_u64("12a", &v) < 0, "stray character refused");
    ok(cmd_parse_u64("", &v) < 0, "empty refused");
    ok(cmd_parse_u64("0x", &v) < 0, "bare 0x refused");
    ok(cmd_parse_u64("-1", &v) < 0, "sign refused");
    return tap_done();
}
