/*
 * toolstack/dm_where.c - parser and evaluator of get_all_records_where
 * expressions: a recursive-descent parser into a small tree, evaluated
 * against records by field text. See dm_where.h for the grammar.
 * Threads: any. Trust: client text; length and nesting are bounded.
 */
#include "dm_where.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "atoll/util.h"

#define MAX_EXPR_LEN 4096
#define MAX_DEPTH 32

enum node_kind { N_TRUE, N_FALSE, N_AND, N_OR, N_NOT, N_EQ, N_NE };
enum opnd_kind { O_LIT, O_FIELD };

struct opnd {
    enum opnd_kind kind;
    char *text; /* literal text or field name */
    int ci;     /* compare case-insensitively (an enum field) */
};

struct ts_dm_where {
    enum node_kind kind;
    struct ts_dm_where *l, *r;
    struct opnd a, b;
};

struct parser {
    const struct ts_dm_class *c;
    const char *s, *p;
    const char *error;
    int depth;
};

static void skip_ws(struct parser *ps)
{
    while (isspace((unsigned char)*ps->p))
        ps->p++;
}

/* Matches a keyword followed by a non-identifier character. */
static int keyword(struct parser *ps, const char *kw)
{
    size_t n = strlen(kw);
    skip_ws(ps);
    if (strncasecmp(ps->p, kw, n) == 0 && !isalnum((unsigned char)ps->p[n]) && ps->p[n] != '_') {
        ps->p += n;
        return 1;
    }
    return 0;
}

static char *read_quoted(struct parser *ps)
{
    char q = *ps->p++;
    size_t cap = 32, n = 0;
    char *out = atoll_malloc(cap);
    while (*ps->p && *ps->p != q) {
        char ch = *ps->p++;
        if (ch == '\\' && *ps->p)
            ch = *ps->p++;
        if (n + 2 > cap)
            out = atoll_realloc(out, cap *= 2);
        out[n++] = ch;
    }
    if (*ps->p != q) {
        free(out);
        ps->error = "unterminated string";
        return NULL;
    }
    ps->p++;
    out[n] = '\0';
    return out;
}

static int read_operand(struct parser *ps, struct opnd *o)
{
    skip_ws(ps);
    if (keyword(ps, "field")) {
        skip_ws(ps);
        if (*ps->p != '"' && *ps->p != '\'') {
            ps->error = "expected a quoted field name after 'field'";
            return -1;
        }
        o->kind = O_FIELD;
        o->text = read_quoted(ps);
    } else if (*ps->p == '"' || *ps->p == '\'') {
        o->kind = O_LIT;
        o->text = read_quoted(ps);
    } else if (isalpha((unsigned char)*ps->p) || *ps->p == '_') {
        const char *st = ps->p;
        while (isalnum((unsigned char)*ps->p) || *ps->p == '_')
            ps->p++;
        o->kind = O_FIELD;
        o->text = atoll_strndup(st, (size_t)(ps->p - st));
    } else if (isdigit((unsigned char)*ps->p) || *ps->p == '-') {
        const char *st = ps->p++;
        while (isalnum((unsigned char)*ps->p) || *ps->p == '.')
            ps->p++;
        o->kind = O_LIT;
        o->text = atoll_strndup(st, (size_t)(ps->p - st));
    } else {
        ps->error = "expected a field or a quoted value";
        return -1;
    }
    if (!o->text)
        return -1;
    if (o->kind == O_FIELD && !ts_dm_field_find(ps->c, o->text, NULL)) {
        /* XAPI's database names nested fields with "__" (name__label, memory__static_max) */
        char *w = o->text;
        for (char *r = o->text; *r; r++) {
            *w++ = *r;
            if (r[0] == '_' && r[1] == '_')
                r++;
        }
        *w = '\0';
        if (!ts_dm_field_find(ps->c, o->text, NULL)) {
            ps->error = "unknown field";
            return -1;
        }
    }
    if (o->kind == O_FIELD) {
        const struct ts_dm_field *f = ts_dm_field_find(ps->c, o->text, NULL);
        o->ci = f->type->kind == TS_DM_ENUM; /* enums compare in any case */
    }
    return 0;
}

static struct ts_dm_where *node(enum node_kind k)
{
    struct ts_dm_where *n = atoll_calloc(1, sizeof(*n));
    n->kind = k;
    return n;
}

static struct ts_dm_where *parse_or(struct parser *ps);

static struct ts_dm_where *parse_unary(struct parser *ps)
{
    if (++ps->depth > MAX_DEPTH) {
        ps->error = "expression nested too deeply";
        return NULL;
    }
    struct ts_dm_where *n = NULL;
    skip_ws(ps);
    if (keyword(ps, "not")) {
        struct ts_dm_where *x = parse_unary(ps);
        if (x) {
            n = node(N_NOT);
            n->l = x;
        }
    } else if (*ps->p == '(') {
        ps->p++;
        n = parse_or(ps);
        skip_ws(ps);
        if (n && *ps->p != ')') {
            ps->error = "expected ')'";
            ts_dm_where_free(n);
            n = NULL;
        } else if (n) {
            ps->p++;
        }
    } else if (keyword(ps, "true")) {
        n = node(N_TRUE);
    } else if (keyword(ps, "false")) {
        n = node(N_FALSE);
    } else {
        struct opnd a = {0}, b = {0};
        enum node_kind k;
        if (read_operand(ps, &a) == 0) {
            skip_ws(ps);
            if (*ps->p == '=') {
                k = N_EQ;
                ps->p += ps->p[1] == '=' ? 2 : 1;
            } else if (!strncmp(ps->p, "<>", 2) || !strncmp(ps->p, "!=", 2)) {
                k = N_NE;
                ps->p += 2;
            } else {
                ps->error = "expected = or <>";
                free(a.text);
                ps->depth--;
                return NULL;
            }
            if (read_operand(ps, &b) == 0) {
                n = node(k);
                n->a = a;
                n->b = b;
                ps->depth--;
                return n;
            }
        }
        free(a.text);
        free(b.text);
    }
    ps->depth--;
    return n;
}

static struct ts_dm_where *parse_and(struct parser *ps)
{
    struct ts_dm_where *l = parse_unary(ps);
    while (l && keyword(ps, "and")) {
        struct ts_dm_where *r = parse_unary(ps);
        if (!r) {
            ts_dm_where_free(l);
            return NULL;
        }
        struct ts_dm_where *n = node(N_AND);
        n->l = l;
        n->r = r;
        l = n;
    }
    return l;
}

static struct ts_dm_where *parse_or(struct parser *ps)
{
    struct ts_dm_where *l = parse_and(ps);
    while (l && keyword(ps, "or")) {
        struct ts_dm_where *r = parse_and(ps);
        if (!r) {
            ts_dm_where_free(l);
            return NULL;
        }
        struct ts_dm_where *n = node(N_OR);
        n->l = l;
        n->r = r;
        l = n;
    }
    return l;
}

int ts_dm_where_compile(const struct ts_dm_class *c, const char *expr, struct ts_dm_where **out,
                        struct atoll_err *err)
{
    struct parser ps = {.c = c, .s = expr, .p = expr};
    struct ts_dm_where *w = NULL;

    if (!expr || strlen(expr) > MAX_EXPR_LEN) {
        ATOLL_ERR(err, ATOLL_E_INVALID_VALUE, "expr", expr ? "(too long)" : "");
        return -1;
    }
    skip_ws(&ps);
    if (!*ps.p) {
        *out = node(N_TRUE); /* an empty expression matches everything */
        return 0;
    }
    w = parse_or(&ps);
    skip_ws(&ps);
    if (w && *ps.p) {
        ps.error = "unexpected text after the expression";
        ts_dm_where_free(w);
        w = NULL;
    }
    if (!w) {
        ATOLL_ERR(err, ATOLL_E_INVALID_VALUE, "expr", expr);
        atoll_err_detail(err, "where-expression: %s at offset %d",
                         ps.error ? ps.error : "syntax error", (int)(ps.p - expr));
        return -1;
    }
    *out = w;
    return 0;
}

static char *opnd_text(const struct opnd *o, const struct atoll_value *rec)
{
    if (o->kind == O_LIT)
        return atoll_strdup(o->text);
    struct atoll_value *v = atoll_value_struct_get(rec, o->text);
    return v ? ts_dm_value_text(v) : atoll_strdup("");
}

int ts_dm_where_match(const struct ts_dm_where *w, const struct atoll_value *rec)
{
    switch (w->kind) {
    case N_TRUE: return 1;
    case N_FALSE: return 0;
    case N_AND: return ts_dm_where_match(w->l, rec) && ts_dm_where_match(w->r, rec);
    case N_OR: return ts_dm_where_match(w->l, rec) || ts_dm_where_match(w->r, rec);
    case N_NOT: return !ts_dm_where_match(w->l, rec);
    case N_EQ:
    case N_NE: {
        ATOLL_AUTOFREE char *a = opnd_text(&w->a, rec);
        ATOLL_AUTOFREE char *b = opnd_text(&w->b, rec);
        int eq = (w->a.ci || w->b.ci) ? strcasecmp(a, b) == 0 : strcmp(a, b) == 0;
        return w->kind == N_EQ ? eq : !eq;
    }
    }
    return 0;
}

void ts_dm_where_free(struct ts_dm_where *w)
{
    if (!w)
        return;
    ts_dm_where_free(w->l);
    ts_dm_where_free(w->r);
    free(w->a.text);
    free(w->b.text);
    free(w);
}
