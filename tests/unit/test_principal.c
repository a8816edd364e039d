/* Unit tests of tls_principal_of() (net/tls.c): a client certificate's
 * principal by the node's rule, subject CN or first DNS/URI subject
 * alternative name. The invariant: a principal is read only from the
 * field the rule names, and a name with an embedded NUL (a classic
 * certificate trick) is never taken. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls.h"

static X509 *cert(const char *cn, const char *san)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	assert_non_null(x);
	if (cn)
		X509_NAME_add_entry_by_NID(n, NID_commonName, MBSTRING_UTF8,
					   (const unsigned char *)cn, -1, -1,
					   0);
	X509_set_subject_name(x, n);
	X509_NAME_free(n);
	if (san) {
		X509_EXTENSION *e = X509V3_EXT_conf_nid(
		    NULL, NULL, NID_subject_alt_name, (char *)san);
		assert_non_null(e);
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	return x;
}

static void test_cn(void **state)
{
	char p[128];
	X509 *x = cert("broker-5", "DNS:b5.example.org");
	(void)state;
	tls_principal_of(0, x, p, sizeof p);
	assert_string_equal(p, "broker-5");
	tls_principal_of(1, x, p, sizeof p);
	assert_string_equal(p, "b5.example.org");
	X509_free(x);
}

static void test_san_first_dns_or_uri(void **state)
{
	char p[128];
	X509 *x = cert("ignored", "email:a@b.c,URI:spiffe://synod/app,DNS:d");
	(void)state;
	tls_principal_of(1, x, p, sizeof p);
	assert_string_equal(p, "spiffe://synod/app");
	X509_free(x);
	x = cert("only-cn", NULL);
	tls_principal_of(1, x, p, sizeof p);
	assert_string_equal(p, ""); /* no SAN: no principal, no grant */
	tls_principal_of(0, x, p, sizeof p);
	assert_string_equal(p, "only-cn");
	X509_free(x);
	x = cert(NULL, NULL);
	tls_principal_of(0, x, p, sizeof p);
	assert_string_equal(p, "");
	X509_free(x);
	tls_principal_of(0, NULL, p, sizeof p);
	assert_string_equal(p, "");
}

static void test_too_long(void **state)
{
	char p[8];
	X509 *x = cert("a-very-long-name", "DNS:a-very-long-name");
	(void)state;
	tls_principal_of(1, x, p, sizeof p);
	assert_string_equal(p, ""); /* never truncated into another name */
	tls_principal_of(0, x, p, sizeof p);
	assert_string_equal(p, "");
	X509_free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cn),
	    cmocka_unit_test(test_san_first_dns_or_uri),
	    cmocka_unit_test(test_too_long),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
