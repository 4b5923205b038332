/*
 * toolstack/tls.h - the HTTPS server context: loads the host certificate and
 * key, or generates a self-signed pair (EC P-256, 10 years, CN and SAN = the
 * host name, plus 127.0.0.1 and ::1) on first start. The admin replaces the
 * two PEM files to install a real certificate. TLS 1.2 is the minimum.
 * Threads: main thread at start; the SSL_CTX is then shared read-only.
 */
#ifndef TS_TLS_H
#define TS_TLS_H

#include <openssl/ssl.h>

#include "atoll/err.h"

/* Generates cert_path/key_path if both are absent, then builds the context. NULL on error. */
SSL_CTX *ts_tls_server_ctx(const char *cert_path, const char *key_path, struct atoll_err *err);

#endif
