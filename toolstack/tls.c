/*
 * toolstack/tls.c - host certificate generation and the server SSL_CTX (see
 * tls.h). The key file is written 0600 and both files atomically, key first,
 * so a crash never leaves a certificate without its key.
 * Threads: main thread only.
 */
#define ATOLL_LOG_MODULE "tls"
#include "tls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "atoll/log.h"
#include "atoll/util.h"

static int ssl_fail(struct atoll_err *err, const char *what)
{
    char buf[256];
    unsigned long e = ERR_get_error();
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR, what);
    atoll_err_detail(err, "%s: %s", what, e ? buf : "unknown OpenSSL error");
    return -1;
}

/* PEM of a key or certificate into memory. */
static char *pem_of(int is_key, void *obj, size_t *len)
{
    BIO *b = BIO_new(BIO_s_mem());
    int ok = is_key ? PEM_write_bio_PrivateKey(b, obj, NULL, NULL, 0, NULL, NULL)
                    : PEM_write_bio_X509(b, obj);
    char *out = NULL;
    if (ok) {
        char *p;
        long n = BIO_get_mem_data(b, &p);
        out = atoll_strndup(p, (size_t)n);
        *len = (size_t)n;
    }
    BIO_free(b);
    return out;
}

static int add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return -1;
    int rc = X509_add_ext(x, ext, -1) ? 0 : -1;
    X509_EXTENSION_free(ext);
    return rc;
}

static int generate(const char *cert_path, const char *key_path, struct atoll_err *err)
{
    char host[256] = "localhost";
    if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    EVP_PKEY *key = EVP_EC_gen("P-256");
    if (!key)
        return ssl_fail(err, "cannot generate the host key");
    X509 *x = X509_new();
    int rc = -1;
    unsigned char serial[16];
    ATOLL_AUTOFREE char *san = atoll_strdup_printf("DNS:%s,DNS:localhost,IP:127.0.0.1,IP:::1",
                                                   host);
    BIGNUM *bn = NULL;
    if (!x || RAND_bytes(serial, sizeof(serial)) != 1)
        goto out;
    serial[0] &= 0x7f;
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) || !X509_set_version(x, 2) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600) ||
        !X509_set_pubkey(x, key))
        goto out;
    X509_NAME *name = X509_get_subject_name(x);
    if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"Atoll", -1,
                                    -1, 0) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)host, -1,
                                    -1, 0) ||
        !X509_set_issuer_name(x, name))
        goto out;
    if (add_ext(x, NID_subject_alt_name, san) < 0 ||
        add_ext(x, NID_basic_constraints, "critical,CA:FALSE") < 0 ||
        add_ext(x, NID_key_usage, "critical,digitalSignature,keyEncipherment") < 0 ||
        add_ext(x, NID_ext_key_usage, "serverAuth") < 0 || !X509_sign(x, key, EVP_sha256()))
        goto out;
    size_t klen = 0, clen = 0;
    ATOLL_AUTOFREE char *kpem = pem_of(1, key, &klen);
    ATOLL_AUTOFREE char *cpem = pem_of(0, x, &clen);
    if (!kpem || !cpem)
        goto out;
    if (atoll_write_file_atomic(key_path, kpem, klen, 0600) < 0 ||
        atoll_write_file_atomic(cert_path, cpem, clen, 0644) < 0) {
        OPENSSL_cleanse(kpem, klen);
        ATOLL_ERR_ERRNO(err, ATOLL_E_INTERNAL_ERROR, errno, "cannot write the host certificate");
        atoll_err_detail(err, "writing '%s' / '%s': %s", key_path, cert_path, strerror(errno));
        rc = -2;
        goto out;
    }
    OPENSSL_cleanse(kpem, klen);
    log_info("generated a self-signed host certificate for '%s' in '%s'", host, cert_path);
    rc = 0;
out:
    BN_free(bn);
    X509_free(x);
    EVP_PKEY_free(key);
    if (rc == -1)
        return ssl_fail(err, "cannot build the host certificate");
    return rc < 0 ? -1 : 0;
}

SSL_CTX *ts_tls_server_ctx(const char *cert_path, const char *key_path, struct atoll_err *err)
{
    struct stat st;
    int have_cert = stat(cert_path, &st) == 0, have_key = stat(key_path, &st) == 0;
    if (!have_cert && !have_key) {
        if (generate(cert_path, key_path, err) < 0)
            return NULL;
    } else if (!have_cert || !have_key) {
        ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR, "host certificate or key missing");
        atoll_err_detail(err, "'%s' and '%s' must both exist (or both be absent to generate "
                              "a self-signed pair)", cert_path, key_path);
        return NULL;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        ssl_fail(err, "cannot create the TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        ssl_fail(err, "cannot load the host certificate and key");
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}
