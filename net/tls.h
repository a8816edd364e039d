/* net/tls.h - TLS contexts for framed connections (internal).
 *
 * A struct tls_ctx holds one OpenSSL SSL_CTX: the certificate and key this
 * side presents, the CA bundle it verifies its peer against, and the
 * protocol versions it accepts. The controller's server makes one for its
 * client port; the client library makes one per client. Connections use
 * it through conn_tls_attach() (net/conn.h): TLS runs over memory BIOs on
 * the connection's libuv stream, so no handshake or record ever blocks the
 * loop.
 *
 * Verification: both sides verify the peer's chain against the CA bundle.
 * A server made with require_peer_cert refuses a client without a
 * certificate. Peer names are not matched against an address: the CA is
 * the cluster's own (docs/security.md), and the principal a server sees
 * is the subject CN of the client's certificate (conn_tls_principal()).
 *
 * Ownership: tls_ctx_new() returns a context the caller frees with
 * tls_ctx_free() once no connection uses it (connections take a reference
 * of their own, so freeing early is safe). Paths are read during the
 * call and not kept. Errors name the file and OpenSSL's reason; no key
 * material is ever written to an error or a log.
 */
#ifndef SYNOD_TLS_H
#define SYNOD_TLS_H

#include <stddef.h>

struct tls_config {
	const char *ca_file;   /* PEM CA bundle; required */
	const char *cert_file; /* PEM certificate chain; NULL: none (client) */
	const char *key_file;  /* PEM private key; with cert_file */
	int server;	       /* 1: the accepting side */
	int require_peer_cert; /* server: a client must present one */
	int allow_tls12;       /* 0: TLS 1.3 only (the default) */
	int principal_san;     /* server: the principal is the peer
				  certificate's first DNS or URI subject
				  alternative name, not its subject CN */
};

struct tls_ctx;

/* 0, or -1 with the reason in err (NUL-terminated when size > 0). */
int tls_ctx_new(const struct tls_config *cfg, struct tls_ctx **out, char *err,
		size_t size);
void tls_ctx_free(struct tls_ctx *t);

/* The SSL_CTX (an SSL_CTX *), for conn.c. */
void *tls_ctx_ssl_ctx(struct tls_ctx *t);

/* A connection's SSL (an SSL *) over two memory BIOs (*rbio: bytes read
 * from the network go in; *wbio: bytes to send come out; both owned by
 * the SSL), in the accept (server) or connect state. NULL when out of
 * memory. Free with SSL_free(). */
void *tls_ssl_new(struct tls_ctx *t, int server, void **rbio, void **wbio);

/* Why a handshake or record on ssl (an SSL *) failed, for a log line:
 * the certificate verification error, else OpenSSL's first queued reason
 * (the queue is cleared), else "closed by the peer". */
void tls_failure_reason(const void *ssl, char *buf, size_t size);

/* The principal of a verified peer certificate (an X509 *): its subject
 * CN, or with san its first DNS/URI subject alternative name; into buf,
 * "" when it has none. tls_ctx_principal_san() is t's rule. */
void tls_principal_of(int san, void *x509, char *buf, size_t size);
int tls_ctx_principal_san(const struct tls_ctx *t);

/* The certificate's notAfter as seconds since the epoch, or -1 when the
 * context has no certificate. */
long long tls_ctx_cert_expiry(struct tls_ctx *t);

/* "serial 1A2B..., expires 2029-03-05T10:00:00Z" for logs ("no
 * certificate" without one). Always NUL-terminated when size > 0. */
void tls_ctx_describe(struct tls_ctx *t, char *buf, size_t size);

#endif
