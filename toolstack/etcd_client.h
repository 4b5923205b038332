/*
 * toolstack/etcd_client.h - a small blocking client of etcd v3's HTTP/JSON
 * gateway (POST /v3/kv/range, /v3/kv/txn, ... and the /v3/watch stream) over
 * plain HTTP/1.1 keep-alive, with fail-over across the cluster's endpoints,
 * and base64 helpers (the gateway carries keys and values in base64).
 * Threads: a client serialises its calls (mutex); a watch runs its own
 * thread and connection. Never use it on the libevent thread.
 * Trust: responses come from the network and are parsed defensively.
 */
#ifndef TS_ETCD_CLIENT_H
#define TS_ETCD_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "atoll/err.h"
#include "atoll/value.h"

struct ts_etcd;
struct ts_etcd_watch;

/* endpoints: "http://127.0.0.1:2379[,http://host:port...]". 0 and *out, or -1 with err. */
int ts_etcd_new(const char *endpoints, struct ts_etcd **out, struct atoll_err *err);
void ts_etcd_free(struct ts_etcd *c); /* NULL is a no-op */

/*
 * POSTs req (a struct, encoded as JSON) to path ("/v3/kv/range") and returns
 * the parsed JSON answer in *resp (caller owns). Tries each endpoint once on
 * connection failures. -1 with INTERNAL_ERROR (detail names endpoint and cause)
 * on transport errors, non-200 answers or unparsable bodies.
 */
int ts_etcd_call(struct ts_etcd *c, const char *path, const struct atoll_value *req,
                 struct atoll_value **resp, struct atoll_err *err);

/* Base64 (standard alphabet, padded). Both return malloc'd NUL-terminated strings. */
char *ts_etcd_b64(const char *data, size_t n);
/* NULL on invalid input; *n gets the decoded length. */
char *ts_etcd_unb64(const char *text, size_t *n);

/* Reads an int64 the gateway sends as a string (or a number); missing -> 0. */
uint64_t ts_etcd_u64(const struct atoll_value *obj, const char *key);

/*
 * Watches keys [key, range_end) from start_rev on its own connection and
 * thread, calling fn(arg, revision) for every message the stream delivers
 * (events and progress), reconnecting after failures. key/range_end are raw
 * (not base64). fn runs on the watch thread. 0 and *out, or -1.
 */
int ts_etcd_watch_start(struct ts_etcd *c, const char *key, const char *range_end,
                        uint64_t start_rev, void (*fn)(void *arg, uint64_t revision), void *arg,
                        struct ts_etcd_watch **out, struct atoll_err *err);
void ts_etcd_watch_stop(struct ts_etcd_watch *w); /* NULL is a no-op; joins the thread */

#endif
