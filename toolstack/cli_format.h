/*
 * toolstack/cli_format.h - how the atoll CLI shows XenAPI records the way xe
 * does: field names in xe's spelling (name_label -> name-label), access tags
 * ( RO)/( RW)/(MRO)/(MRW)/(SRO)/(SRW) from the datamodel, enum values in lower
 * case, maps as "k: v; k2: v2", sets as "a; b", refs shown as the uuid of the
 * object they name, records as aligned blocks, --minimal as comma lists.
 * Threads: single-threaded. Trust: records come from the server; any shape prints.
 */
#ifndef TS_CLI_FORMAT_H
#define TS_CLI_FORMAT_H

#include "cli.h"

/* One field of a record as xe shows it; text is computed on first use. */
struct cli_field {
    char *name;                       /* xe spelling (owned) */
    const char *api;                  /* XenAPI name (borrowed from the record) */
    const char *tag;                  /* " RO", " RW", "MRO", "MRW", "SRO", "SRW" */
    const struct atoll_value *val;    /* borrowed from the record */
    const void *type;                 /* struct ts_dm_type * or NULL when unknown */
    char *text;                       /* owned, NULL until cli_field_text */
};

struct cli_view {
    const char *cls;
    struct atoll_value *ref;          /* the object's ref (string value, owned) */
    struct atoll_value *rec;          /* the record (owned reference) */
    struct cli_field *f;
    unsigned n;
    int derived;                      /* cli_view_derive ran */
    struct atoll_value *extra[4];     /* records the derived fields borrow from (owned) */
    unsigned nextra;
};

/* xe name <-> XenAPI name ("name-label" <-> "name_label"); owned results. */
char *cli_xe_name(const char *api);
char *cli_api_name(const char *xe);

/* Builds the view of one record (takes references to ref and rec). */
void cli_view_init(struct cli_view *v, const char *cls, struct atoll_value *ref,
                   struct atoll_value *rec);
void cli_view_fini(struct cli_view *v);
/* The field with xe name (or XenAPI name); NULL if the record has none. */
struct cli_field *cli_view_field(struct cli_view *v, const char *name);
/*
 * Adds the fields xe shows from related objects (VM: memory-actual,
 * VCPUs-number, start-time, install-time from VM_metrics; os-version,
 * PV-drivers-version, networks from VM_guest_metrics; host: memory-total,
 * host-metrics-live), fetched from the server once per view.
 */
void cli_view_derive(struct cli *c, struct cli_view *v);
/* 1 if xe is one of those related fields of class cls. */
int cli_is_derived(const char *cls, const char *xe);
/* cli_view_field, deriving the related fields first when name is not a record field. */
struct cli_field *cli_view_field_any(struct cli *c, struct cli_view *v, const char *name);
/* The field's text as xe prints it (refs resolved through the server, cached). */
const char *cli_field_text(struct cli *c, struct cli_field *f);
/* Text of one map entry, NULL if the field is no map or has no such key. */
const char *cli_field_map_get(const struct cli_field *f, const char *key);
/* 1 if the field is a map (for "field:key" arguments). */
int cli_field_is_map(const struct cli_field *f);
/* 1 if the field's type is an enum (filters compare those case-insensitively). */
int cli_field_is_enum(const struct cli_field *f);

/*
 * Does the record match "key=value" (xe filter semantics: the printed text,
 * "field:mapkey", the pseudo field "<selector>" = name-label or uuid, and
 * "=/=" negation when value starts with "/=")? -1 if key names no field.
 */
int cli_view_match(struct cli *c, struct cli_view *v, const char *key, const char *value,
                   const char *selector);

/*
 * Prints records as xe: the fields named in params (comma list, "all" or NULL
 * for defaults), aligned blocks followed by two blank lines; with minimal, the
 * first selected field of every record joined by commas. -1 after printing an
 * error (unknown field in params).
 */
int cli_print_records(struct cli *c, struct cli_view *views, unsigned n, const char *params,
                      const char *defaults, int minimal);

/* Frees the ref -> uuid cache (end of program). */
void cli_format_fini(void);

#endif
