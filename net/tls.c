/* net/tls.c - OpenSSL contexts for framed connections. */
#include "tls.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct tls_ctx {
	SSL_CTX *ctx;
	int principal_san;
	long long expiry;
	char serial[80];
};

/* OpenSSL's first queued reason (the queue is cleared). */
static void ssl_reason(char *buf, size_t size)
{
	unsigned long e = ERR_get_error();
	if (size == 0)
		return;
	if (e == 0)
		snprintf(buf, size, "unknown error");
	else
		ERR_error_string_n(e, buf, size);
	ERR_clear_error();
}

static void fail(char *err, size_t size, const char *what, const char *file)
{
	char why[200];
	ssl_reason(why, sizeof why);
	if (size)
		snprintf(err, size, "%s %s: %s", what, file, why);
}

static long long asn1_epoch(const ASN1_TIME *t)
{
	struct tm tm;
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return -1;
	return (long long)timegm(&tm);
}

int tls_ctx_new(const struct tls_config *cfg, struct tls_ctx **out, char *err,
		size_t size)
{
	struct tls_ctx *t;
	int mode;
	if (size)
		err[0] = '\0';
	if (cfg->ca_file == NULL || cfg->ca_file[0] == '\0') {
		snprintf(err, size, "TLS needs a CA bundle (ca file)");
		return -1;
	}
	if ((cfg->cert_file == NULL) != (cfg->key_file == NULL)) {
		snprintf(
		    err, size,
		    "TLS needs both a certificate and its key, or neither");
		return -1;
	}
	if (cfg->server && cfg->cert_file == NULL) {
		snprintf(err, size, "a TLS server needs a certificate");
		return -1;
	}
	t = calloc(1, sizeof *t);
	if (t == NULL) {
		snprintf(err, size, "out of memory");
		return -1;
	}
	t->expiry = -1;
	t->principal_san = cfg->principal_san;
	t->ctx = SSL_CTX_new(cfg->server ? TLS_server_method()
					 : TLS_client_method());
	if (t->ctx == NULL) {
		fail(err, size, "cannot create a TLS context", "");
		goto bad;
	}
	SSL_CTX_set_min_proto_version(
	    t->ctx, cfg->allow_tls12 ? TLS1_2_VERSION : TLS1_3_VERSION);
	/* Memory BIOs never block, but a record may be written in parts
	 * when the caller's buffer moved (it is copied out at once). */
	SSL_CTX_set_mode(t->ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				     SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_OFF);
	/* AES-128-GCM first: the cheapest of the TLS 1.3 suites with AES
	 * instructions, as strong as the cluster needs. */
	SSL_CTX_set_ciphersuites(t->ctx, "TLS_AES_128_GCM_SHA256:"
					 "TLS_AES_256_GCM_SHA384:"
					 "TLS_CHACHA20_POLY1305_SHA256");
	SSL_CTX_set_num_tickets(t->ctx, 0);
	if (SSL_CTX_load_verify_locations(t->ctx, cfg->ca_file, NULL) != 1) {
		fail(err, size, "cannot load the CA bundle", cfg->ca_file);
		goto bad;
	}
	if (cfg->cert_file) {
		X509 *x;
		if (SSL_CTX_use_certificate_chain_file(t->ctx,
						       cfg->cert_file) != 1) {
			fail(err, size, "cannot load the certificate",
			     cfg->cert_file);
			goto bad;
		}
		if (SSL_CTX_use_PrivateKey_file(t->ctx, cfg->key_file,
						SSL_FILETYPE_PEM) != 1) {
			fail(err, size, "cannot load the private key",
			     cfg->key_file);
			goto bad;
		}
		if (SSL_CTX_check_private_key(t->ctx) != 1) {
			fail(err, size,
			     "the key does not match the certificate",
			     cfg->cert_file);
			goto bad;
		}
		x = SSL_CTX_get0_certificate(t->ctx);
		if (x) {
			BIGNUM *bn =
			    ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
			char *hex = bn ? BN_bn2hex(bn) : NULL;
			t->expiry = asn1_epoch(X509_get0_notAfter(x));
			snprintf(t->serial, sizeof t->serial, "%s",
				 hex ? hex : "?");
			OPENSSL_free(hex);
			BN_free(bn);
		}
	}
	mode = SSL_VERIFY_PEER;
	if (cfg->server && cfg->require_peer_cert)
		mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	SSL_CTX_set_verify(t->ctx, mode, NULL);
	if (cfg->server) {
		STACK_OF(X509_NAME) *names =
		    SSL_load_client_CA_file(cfg->ca_file);
		if (names)
			SSL_CTX_set_client_CA_list(t->ctx, names);
	}
	*out = t;
	return 0;
bad:
	tls_ctx_free(t);
	return -1;
}

void tls_ctx_free(struct tls_ctx *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

void *tls_ctx_ssl_ctx(struct tls_ctx *t)
{
	return t->ctx;
}

void *tls_ssl_new(struct tls_ctx *t, int server, void **rbio, void **wbio)
{
	SSL *ssl = SSL_new(t->ctx);
	BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_mem());
	if (ssl == NULL || r == NULL || w == NULL) {
		BIO_free(r);
		BIO_free(w);
		SSL_free(ssl);
		ERR_clear_error();
		return NULL;
	}
	SSL_set_bio(ssl, r, w);
	if (server)
		SSL_set_accept_state(ssl);
	else
		SSL_set_connect_state(ssl);
	*rbio = r;
	*wbio = w;
	return ssl;
}

void tls_failure_reason(const void *ssl, char *buf, size_t size)
{
	long v = SSL_get_verify_result(ssl);
	unsigned long e = ERR_peek_error();
	if (size == 0)
		return;
	if (v != X509_V_OK)
		snprintf(buf, size, "certificate verify failed: %s",
			 X509_verify_cert_error_string(v));
	else if (e != 0)
		ERR_error_string_n(e, buf, size);
	else
		snprintf(buf, size, "closed by the peer");
	ERR_clear_error();
}

int tls_ctx_principal_san(const struct tls_ctx *t)
{
	return t->principal_san;
}

void tls_principal_of(int san, void *x509, char *buf, size_t size)
{
	X509 *x = x509;
	if (size == 0)
		return;
	buf[0] = '\0';
	if (x == NULL)
		return;
	if (san) {
		GENERAL_NAMES *names =
		    X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
		for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
			const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
			const ASN1_STRING *s =
			    g->type == GEN_DNS ? g->d.dNSName
			    : g->type == GEN_URI
				? g->d.uniformResourceIdentifier
				: NULL;
			int n = s ? ASN1_STRING_length(s) : 0;
			if (n <= 0 || (size_t)n >= size ||
			    memchr(ASN1_STRING_get0_data(s), 0, (size_t)n))
				continue;
			memcpy(buf, ASN1_STRING_get0_data(s), (size_t)n);
			buf[n] = '\0';
			break;
		}
		GENERAL_NAMES_free(names);
		return;
	}
	{
		/* The first CN, whole: never truncated into another name,
		 * never with an embedded NUL. */
		X509_NAME *n = X509_get_subject_name(x);
		int i = X509_NAME_get_index_by_NID(n, NID_commonName, -1);
		const ASN1_STRING *s =
		    i < 0 ? NULL
			  : X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i));
		int len = s ? ASN1_STRING_length(s) : 0;
		if (len <= 0 || (size_t)len >= size ||
		    memchr(ASN1_STRING_get0_data(s), 0, (size_t)len))
			return;
		memcpy(buf, ASN1_STRING_get0_data(s), (size_t)len);
		buf[len] = '\0';
	}
}

long long tls_ctx_cert_expiry(struct tls_ctx *t)
{
	return t->expiry;
}

void tls_ctx_describe(struct tls_ctx *t, char *buf, size_t size)
{
	time_t e = (time_t)t->expiry;
	struct tm tm;
	char when[32] = "?";
	if (t->expiry < 0) {
		snprintf(buf, size, "no certificate");
		return;
	}
	if (gmtime_r(&e, &tm))
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(buf, size, "serial %s, expires %s", t->serial, when);
}
