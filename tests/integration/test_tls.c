/* tests/integration/test_tls.c - TLS with client certificates on the
 * client port (docs/security.md).
 *
 * A 3-node quorum whose nodes present certificates of a CA made by
 * deploy/gen-certs.sh and require client certificates of that CA. The
 * test's own clients use $SYNOD_CA/$SYNOD_CERT/$SYNOD_KEY (an admin
 * identity), as the tools do.
 *
 * Invariants checked: a client is served only over TLS with a certificate
 * of the cluster's CA, and only when it trusts the nodes' CA; a refused
 * client changes nothing in the state (its write is never applied); a
 * connection that never completes a handshake is closed after
 * tls_handshake_timeout_ms; brokers register over TLS; the quorum fails
 * over with TLS clients following the new leader. On the raft port, nodes
 * talk TLS with certificates of the same CA whose CN names the node id:
 * a new node with such a certificate joins as a voter, a node with a
 * certificate of another CA cannot (the quorum refuses its connections
 * and the change never completes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <signal.h>
#include <unistd.h>

#include "itest.h"

#ifndef SYNOD_BIN
#define SYNOD_BIN NULL
#endif
#ifndef SYNOD_CTL
#define SYNOD_CTL "synodctl"
#endif
#ifndef GEN_CERTS
#define GEN_CERTS "deploy/gen-certs.sh"
#endif

#define WAIT_MS 15000
#define KEY "max.partitions.per.request"

struct fixture {
	struct itest it;
	char dir[256]; /* certificates: dir/a (the cluster's), dir/b */
	char http[64]; /* node 1's HTTPS address */
	struct synod_broker *b;
};

static int setup(void **state)
{
	return itest_alloc(state, sizeof(struct fixture));
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[600];
	int rv;
	if (f->b)
		synod_broker_close(f->b);
	rv = itest_teardown(&f->it, NULL, 0, 0);
	if (f->dir[0]) {
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", f->dir);
	}
	unsetenv("SYNOD_CA");
	unsetenv("SYNOD_CERT");
	unsetenv("SYNOD_KEY");
	free(f);
	return rv;
}

static void path(const struct fixture *f, char *out, size_t size,
		 const char *ca, const char *file)
{
	snprintf(out, size, "%s/%s/%s", f->dir, ca, file);
}

static void make_certs(struct fixture *f)
{
	char cmd[800];
	snprintf(f->dir, sizeof f->dir, "/tmp/synod-tls-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(cmd, sizeof cmd,
		 "sh '%s' '%s/a' 4 2 reader-1 op-1 cons-1 >/dev/null && sh "
		 "'%s' '%s/b' 5 1 "
		 ">/dev/null",
		 GEN_CERTS, f->dir, GEN_CERTS, f->dir);
	assert_int_equal(system(cmd), 0);
}

/* a/expired.pem and .key: CN admin, signed by the cluster's CA, valid
 * from two days ago until yesterday. */
static void make_expired(struct fixture *f)
{
	char ca[300], cakey[300], cert[300], key[300];
	FILE *fp;
	X509 *cax, *x;
	EVP_PKEY *cak, *k;
	X509_NAME *n;
	path(f, ca, sizeof ca, "a", "ca.pem");
	path(f, cakey, sizeof cakey, "a", "ca.key");
	path(f, cert, sizeof cert, "a", "expired.pem");
	path(f, key, sizeof key, "a", "expired.key");
	assert_non_null(fp = fopen(ca, "r"));
	assert_non_null(cax = PEM_read_X509(fp, NULL, NULL, NULL));
	fclose(fp);
	assert_non_null(fp = fopen(cakey, "r"));
	assert_non_null(cak = PEM_read_PrivateKey(fp, NULL, NULL, NULL));
	fclose(fp);
	assert_non_null(k = EVP_EC_gen("P-256"));
	assert_non_null(x = X509_new());
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
	X509_gmtime_adj(X509_getm_notBefore(x), -2 * 86400);
	X509_gmtime_adj(X509_getm_notAfter(x), -86400);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
				   (const unsigned char *)"admin", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(cax));
	X509_set_pubkey(x, k);
	assert_true(X509_sign(x, cak, EVP_sha256()) > 0);
	assert_non_null(fp = fopen(cert, "w"));
	PEM_write_X509(fp, x);
	fclose(fp);
	assert_non_null(fp = fopen(key, "w"));
	PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL);
	fclose(fp);
	X509_free(x);
	X509_free(cax);
	EVP_PKEY_free(k);
	EVP_PKEY_free(cak);
}

/* The cluster's value of KEY, read by the admin client. */
static char *read_key(struct fixture *f)
{
	Synod__Wire__ConfigGetRequest q = SYNOD__WIRE__CONFIG_GET_REQUEST__INIT;
	Synod__Wire__ConfigGetResponse *r = NULL;
	char *v;
	q.scope = SYNOD_SCOPE_CLUSTER;
	q.key = KEY;
	assert_int_equal(
	    itest_call(&f->it, SYNOD_API_CONFIG_GET, &q.base,
		       &synod__wire__config_get_response__descriptor,
		       (ProtobufCMessage **)&r),
	    SYNOD_OK);
	v = strdup(r->entry && r->entry->value ? r->entry->value : "");
	synod__wire__config_get_response__free_unpacked(r, NULL);
	return v;
}

/* Principal-scope configs, set by the admin (a super user). */
static void grant(struct fixture *f, const char *principal, const char *key,
		  const char *value)
{
	Synod__Wire__ConfigSetRequest r = SYNOD__WIRE__CONFIG_SET_REQUEST__INIT;
	Synod__Wire__ConfigEntry e = SYNOD__WIRE__CONFIG_ENTRY__INIT, *ep = &e;
	e.scope = SYNOD_SCOPE_PRINCIPAL;
	e.resource = (char *)principal;
	e.key = (char *)key;
	e.value = (char *)value;
	r.n_entries = 1;
	r.entries = &ep;
	assert_int_equal(
	    itest_call(&f->it, SYNOD_API_CONFIG_SET, &r.base,
		       &synod__wire__config_set_response__descriptor, NULL),
	    SYNOD_OK);
}

/* A client on its own loop as principal `name` (a/name.pem). */
static struct synod_client *client_as(struct fixture *f, const char *name)
{
	struct synod_client_config cfg = {0};
	struct synod_client *cl;
	char ca[300], cert[300], key[300], file[80];
	path(f, ca, sizeof ca, "a", "ca.pem");
	snprintf(file, sizeof file, "%s.pem", name);
	path(f, cert, sizeof cert, "a", file);
	snprintf(file, sizeof file, "%s.key", name);
	path(f, key, sizeof key, "a", file);
	cfg.bootstrap = f->it.c.bootstrap;
	cfg.request_timeout_ms = 5000;
	cfg.tls_ca_file = ca;
	cfg.tls_cert_file = cert;
	cfg.tls_key_file = key;
	assert_int_equal(synod_client_new(NULL, &cfg, &cl), SYNOD_OK);
	return cl;
}

/* A request as cl: the answer's Status code, its message in msg. */
static int call_as(struct synod_client *cl, uint16_t api,
		   const ProtobufCMessage *req,
		   const ProtobufCMessageDescriptor *desc, char *msg,
		   size_t size)
{
	ProtobufCMessage *resp = NULL;
	const Synod__Wire__Status *st;
	int rv = synod_client_call(cl, api, req, 1, desc, &resp);
	msg[0] = '\0';
	if (rv != SYNOD_OK)
		return rv;
	st = tool_status(resp);
	rv = st ? (int)st->code : SYNOD_EUNKNOWN;
	snprintf(msg, size, "%s", st && st->message ? st->message : "");
	protobuf_c_message_free_unpacked(resp, NULL);
	return rv;
}

/* cl's CONFIG_SET of KEY (cluster scope) or, with principal, of that
 * principal's role. */
static int set_as(struct synod_client *cl, const char *principal,
		  const char *value, char *msg, size_t size)
{
	Synod__Wire__ConfigSetRequest r = SYNOD__WIRE__CONFIG_SET_REQUEST__INIT;
	Synod__Wire__ConfigEntry e = SYNOD__WIRE__CONFIG_ENTRY__INIT, *ep = &e;
	e.scope = principal ? SYNOD_SCOPE_PRINCIPAL : SYNOD_SCOPE_CLUSTER;
	e.resource = (char *)principal;
	e.key = principal ? "role" : KEY;
	e.value = (char *)value;
	r.n_entries = 1;
	r.entries = &ep;
	return call_as(cl, SYNOD_API_CONFIG_SET, &r.base,
		       &synod__wire__config_set_response__descriptor, msg,
		       size);
}

/* cl's CONFIG_GET of KEY at cluster scope. */
static int get_as(struct synod_client *cl, char *msg, size_t size)
{
	Synod__Wire__ConfigGetRequest q = SYNOD__WIRE__CONFIG_GET_REQUEST__INIT;
	q.scope = SYNOD_SCOPE_CLUSTER;
	q.key = KEY;
	return call_as(cl, SYNOD_API_CONFIG_GET, &q.base,
		       &synod__wire__config_get_response__descriptor, msg,
		       size);
}

/* A client with the given TLS files (NULL: none) tries to set KEY to
 * "13": it must fail, with want in its error message. */
static void refused(struct fixture *f, const char *ca, const char *cert,
		    const char *key, const char *want)
{
	struct synod_client_config cfg = {0};
	struct synod_client *cl;
	Synod__Wire__ConfigSetRequest r = SYNOD__WIRE__CONFIG_SET_REQUEST__INIT;
	Synod__Wire__ConfigEntry e = SYNOD__WIRE__CONFIG_ENTRY__INIT, *ep = &e;
	ProtobufCMessage *resp = NULL;
	int rv;
	cfg.bootstrap = f->it.c.bootstrap;
	cfg.request_timeout_ms = 1500;
	cfg.connect_timeout_ms = 500;
	cfg.tls_ca_file = ca;
	cfg.tls_cert_file = cert;
	cfg.tls_key_file = key;
	assert_int_equal(synod_client_new(NULL, &cfg, &cl), SYNOD_OK);
	e.scope = SYNOD_SCOPE_CLUSTER;
	e.key = KEY;
	e.value = "13";
	r.n_entries = 1;
	r.entries = &ep;
	rv = synod_client_call(cl, SYNOD_API_CONFIG_SET, &r.base, 1,
			       &synod__wire__config_set_response__descriptor,
			       &resp);
	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	if (rv == SYNOD_OK || strstr(synod_client_errmsg(cl), want) == NULL)
		fail_msg("client (ca %s, cert %s) got %s: '%s', wanted an "
			 "error saying '%s'",
			 ca ? ca : "-", cert ? cert : "-", synod_strerror(rv),
			 synod_client_errmsg(cl), want);
	synod_client_close(cl);
}

static void test_tls_client_port(void **state)
{
	struct fixture *f = *state;
	char flags[1024], ca[300], cert[300], key[300], oca[300], ocert[300],
	    okey[300];
	char *v;
	unsigned leader;
	long from;
	make_certs(f);
	path(f, ca, sizeof ca, "a", "ca.pem");
	path(f, cert, sizeof cert, "a", "admin.pem");
	path(f, key, sizeof key, "a", "admin.key");
	path(f, oca, sizeof oca, "b", "ca.pem");
	path(f, ocert, sizeof ocert, "b", "admin.pem");
	path(f, okey, sizeof okey, "b", "admin.key");
	assert_int_equal(setenv("SYNOD_CA", ca, 1), 0);
	assert_int_equal(setenv("SYNOD_CERT", cert, 1), 0);
	assert_int_equal(setenv("SYNOD_KEY", key, 1), 0);
	snprintf(flags, sizeof flags,
		 "--tls-cert-file %s/a/node-{id}.pem --tls-key-file "
		 "%s/a/node-{id}.key "
		 "--tls-ca-file %s --tls-handshake-timeout-ms 1000 "
		 "--super-users admin --http-address 127.0.0.1:0 "
		 "--allow-plaintext true --plaintext-client-address "
		 "127.0.0.1:0",
		 f->dir, f->dir, ca);
	itest_start(&f->it, 3, SYNOD_BIN, flags);
	itest_start_client(&f->it);
	assert_int_equal(itest_set_config(&f->it, KEY, "7"), SYNOD_OK);
	v = read_key(f);
	assert_string_equal(v, "7");
	free(v);

	/* Refused, each with its reason; nothing they asked is applied. */
	from = itest_log_size(&f->it.c, 1);
	refused(f, ca, NULL, NULL, "certificate required");
	{
		char ecert[300], ekey[300];
		make_expired(f);
		path(f, ecert, sizeof ecert, "a", "expired.pem");
		path(f, ekey, sizeof ekey, "a", "expired.key");
		refused(f, ca, ecert, ekey, "certificate expired");
	}
	refused(f, ca, ocert, okey, "unknown ca");
	refused(f, oca, cert, key, "certificate verify failed");
	refused(f, NULL, NULL, NULL, "timed out");
	v = read_key(f);
	assert_string_equal(v, "7");
	free(v);
	/* The nodes log each refusal with its peer and reason. */
	{
		int seen = 0;
		for (unsigned id = 1; id <= 3; id++)
			seen += itest_log_contains_after(
			    &f->it.c, id, id == 1 ? from : 0,
			    "peer did not return a certificate");
		assert_true(seen > 0);
	}

	/* The HTTP port is HTTPS with client certificates of the CA. */
	if (system("command -v curl >/dev/null 2>&1") == 0) {
		char addr[64] = "", cmd[1600];
		assert_int_equal(
		    itest_log_word_after(
			&f->it.c, 1,
			"http: serving /healthz /readyz /metrics /v1 on ", addr,
			sizeof addr),
		    0);
		snprintf(f->http, sizeof f->http, "%s", addr);
		snprintf(
		    cmd, sizeof cmd,
		    "curl -sf --max-time 5 --cacert '%s' --cert '%s' --key "
		    "'%s' https://%s/healthz | grep -qx ok",
		    ca, cert, key, addr);
		assert_int_equal(system(cmd), 0);
		snprintf(
		    cmd, sizeof cmd,
		    "curl -sf --max-time 5 --cacert '%s' https://%s/healthz "
		    ">/dev/null 2>&1",
		    ca, addr);
		assert_int_not_equal(system(cmd), 0);
		/* /v1/quorum: the node probes the others over TLS with its
		 * own certificate (a member's principal may read): every
		 * node reachable. */
		snprintf(cmd, sizeof cmd,
			 "curl -sf --max-time 10 --cacert '%s' --cert '%s' "
			 "--key '%s' https://%s/v1/quorum | grep -c "
			 "'\"reachable\": true' | grep -qx 3",
			 ca, cert, key, addr);
		assert_int_equal(system(cmd), 0);
		snprintf(cmd, sizeof cmd,
			 "curl -sf --max-time 5 http://%s/healthz >/dev/null "
			 "2>&1",
			 addr);
		assert_int_not_equal(system(cmd), 0);
	}

	/* The development port: plaintext, loopback, admin. */
	{
		const char *tag = "plaintext client port (development: every "
				  "client on it is an admin) on ";
		char addr[64] = "";
		Synod__Wire__MetadataRequest mr =
		    SYNOD__WIRE__METADATA_REQUEST__INIT;
		Synod__Wire__MetadataResponse *md;
		int fd;
		assert_int_equal(
		    itest_log_word_after(&f->it.c, 1, tag, addr, sizeof addr),
		    0);
		fd = itest_raw_connect(NULL, addr, 0);
		md = (Synod__Wire__MetadataResponse *)itest_raw_call(
		    fd, SYNOD_API_METADATA, NULL, 7, &mr.base,
		    &synod__wire__metadata_response__descriptor);
		assert_non_null(md);
		assert_int_equal(md->status->code, SYNOD_OK);
		protobuf_c_message_free_unpacked(&md->base, NULL);
		close(fd);
	}

	/* On the wire: a plaintext frame is not answered, the connection
	 * is closed; so is one that never starts a handshake (1 s). */
	{
		uint8_t buf[16];
		uint64_t t0;
		int fd =
		    itest_raw_connect(NULL, f->it.c.nodes[0].client_address, 0);
		Synod__Wire__MetadataRequest m =
		    SYNOD__WIRE__METADATA_REQUEST__INIT;
		itest_raw_request(fd, SYNOD_API_METADATA, NULL, 1, &m.base);
		assert_int_equal(itest_raw_read(fd, buf, sizeof buf), 1);
		close(fd);
		fd =
		    itest_raw_connect(NULL, f->it.c.nodes[1].client_address, 0);
		t0 = tool_now_ms();
		assert_int_equal(itest_raw_read(fd, buf, 1), 1);
		assert_true(tool_now_ms() - t0 >= 900);
		close(fd);
	}

	/* A broker registers over TLS with its own certificate. */
	grant(f, "broker-1", "role", "broker");
	grant(f, "broker-1", "broker.id", "1");
	{
		struct synod_broker_config bc = {0};
		struct synod_endpoint ep = {"PLAINTEXT", "127.0.0.1", 9092,
					    "PLAINTEXT"};
		char bcert[300], bkey[300];
		path(f, bcert, sizeof bcert, "a", "broker-1.pem");
		path(f, bkey, sizeof bkey, "a", "broker-1.key");
		bc.bootstrap = f->it.c.bootstrap;
		bc.cluster_id = f->it.c.cluster_id;
		bc.tls_ca_file = ca;
		bc.tls_cert_file = bcert;
		bc.tls_key_file = bkey;
		bc.broker_id = 1;
		bc.endpoints = &ep;
		bc.n_endpoints = 1;
		assert_int_equal(
		    synod_broker_new(&f->it.loop, &bc, NULL, &f->b), SYNOD_OK);
		assert_int_equal(synod_broker_start(f->b), SYNOD_OK);
		for (uint64_t end = tool_now_ms() + WAIT_MS;
		     synod_broker_state(f->b) != SYNOD_BROKER_ACTIVE;) {
			if (tool_now_ms() > end)
				fail_msg("the broker did not register over "
					 "TLS");
			itest_pump(&f->it.loop, 20);
		}
	}

	/* Authorization. Invariant: a principal gets what its role grants
	 * and nothing more, the refusal names it, and a refused request
	 * changes nothing. */
	{
		struct synod_client *cl;
		char msg[600];
		Synod__Wire__BrokerHeartbeatRequest hb =
		    SYNOD__WIRE__BROKER_HEARTBEAT_REQUEST__INIT;
		Synod__Wire__GroupHeartbeatRequest gh =
		    SYNOD__WIRE__GROUP_HEARTBEAT_REQUEST__INIT;
		Synod__Wire__GroupTopicNames names =
		    SYNOD__WIRE__GROUP_TOPIC_NAMES__INIT;
		Synod__Wire__AddVoterRequest add =
		    SYNOD__WIRE__ADD_VOTER_REQUEST__INIT;
		char *topic = "t";
		long from_log[4];
		for (unsigned id = 1; id <= 3; id++)
			from_log[id] = itest_log_size(&f->it.c, id);
		grant(f, "reader-1", "role", "reader");
		grant(f, "op-1", "role", "operator");
		grant(f, "cons-1", "role", "consumer");
		grant(f, "cons-1", "groups", "g-*");

		/* No grant at all: not even the cluster's metadata. */
		cl = client_as(f, "broker-2");
		assert_int_equal(set_as(cl, NULL, "21", msg, sizeof msg),
				 SYNOD_EAUTHORIZATION_FAILED);
		assert_non_null(
		    strstr(msg, "principal 'broker-2' (role none)"));
		synod_client_close(cl);

		/* reader: reads, writes nothing. */
		cl = client_as(f, "reader-1");
		assert_int_equal(get_as(cl, msg, sizeof msg), SYNOD_OK);
		assert_int_equal(set_as(cl, NULL, "21", msg, sizeof msg),
				 SYNOD_EAUTHORIZATION_FAILED);
		assert_non_null(strstr(msg, "'reader-1' (role reader) may not "
					    "CONFIG_SET"));
		synod_client_close(cl);
		v = read_key(f);
		assert_string_equal(v, "7");
		free(v);

		/* operator: configs yes; grants and the quorum, no. */
		cl = client_as(f, "op-1");
		assert_int_equal(set_as(cl, NULL, "8", msg, sizeof msg),
				 SYNOD_OK);
		assert_int_equal(set_as(cl, "op-1", "admin", msg, sizeof msg),
				 SYNOD_EAUTHORIZATION_FAILED);
		add.id = 9;
		add.raft_address = "127.0.0.1:1";
		add.client_address = "127.0.0.1:2";
		assert_int_equal(
		    call_as(cl, SYNOD_API_ADD_VOTER, &add.base,
			    &synod__wire__quorum_change_response__descriptor,
			    msg, sizeof msg),
		    SYNOD_EAUTHORIZATION_FAILED);
		synod_client_close(cl);
		v = read_key(f);
		assert_string_equal(v, "8");
		free(v);

		/* broker-1 speaks for broker 1 only. */
		cl = client_as(f, "broker-1");
		hb.broker_id = 2;
		hb.broker_epoch = 1;
		assert_int_equal(
		    call_as(cl, SYNOD_API_BROKER_HEARTBEAT, &hb.base,
			    &synod__wire__broker_heartbeat_response__descriptor,
			    msg, sizeof msg),
		    SYNOD_EAUTHORIZATION_FAILED);
		assert_non_null(strstr(msg, "broker 1, not 2"));
		assert_int_equal(set_as(cl, NULL, "22", msg, sizeof msg),
				 SYNOD_EAUTHORIZATION_FAILED);
		synod_client_close(cl);

		/* cons-1 joins groups g-* only. */
		cl = client_as(f, "cons-1");
		names.n_names = 1;
		names.names = &topic;
		gh.subscribed_topic_names = &names;
		gh.member_epoch = 0;
		gh.has_rebalance_timeout_ms = 1;
		gh.rebalance_timeout_ms = 10000;
		gh.group_id = "other";
		assert_int_equal(
		    call_as(cl, SYNOD_API_GROUP_HEARTBEAT, &gh.base,
			    &synod__wire__group_heartbeat_response__descriptor,
			    msg, sizeof msg),
		    SYNOD_EAUTHORIZATION_FAILED);
		assert_non_null(strstr(msg, "group 'other'"));
		gh.group_id = "g-1";
		assert_int_equal(
		    call_as(cl, SYNOD_API_GROUP_HEARTBEAT, &gh.base,
			    &synod__wire__group_heartbeat_response__descriptor,
			    msg, sizeof msg),
		    SYNOD_OK);
		synod_client_close(cl);

		/* Refusals are logged with the principal. */
		{
			int seen = 0;
			for (unsigned id = 1; id <= 3; id++)
				seen += itest_log_contains_after(
				    &f->it.c, id, from_log[id],
				    "AUTHORIZATION_FAILED: principal");
			assert_true(seen > 0);
		}
		/* HTTPS: /metrics needs a role that may read; /healthz
		 * any certified client. */
		if (f->http[0]) {
			char cmd[1600], pem[300], pkey[300];
			const char *who[] = {"op-1", "broker-2"};
			const int want[] = {200, 403};
			for (int k = 0; k < 2; k++) {
				char file[64], out[64] = "";
				FILE *p;
				snprintf(file, sizeof file, "%s.pem", who[k]);
				path(f, pem, sizeof pem, "a", file);
				snprintf(file, sizeof file, "%s.key", who[k]);
				path(f, pkey, sizeof pkey, "a", file);
				snprintf(
				    cmd, sizeof cmd,
				    "curl -s -o /dev/null -w '%%{http_code}' "
				    "--max-time 5 --cacert '%s' --cert '%s' "
				    "--key '%s' https://%s/metrics",
				    ca, pem, pkey, f->http);
				p = popen(cmd, "r");
				assert_non_null(p);
				if (fgets(out, sizeof out, p) == NULL)
					out[0] = '\0';
				pclose(p);
				if (atoi(out) != want[k])
					fail_msg("%s: /metrics answered %s, "
						 "wanted %d",
						 who[k], out, want[k]);
			}
			snprintf(
			    cmd, sizeof cmd,
			    "curl -sf --max-time 5 --cacert '%s' --cert "
			    "'%s' --key '%s' https://%s/healthz | grep -qx "
			    "ok",
			    ca, pem, pkey, f->http);
			assert_int_equal(system(cmd), 0);
		}

		/* synodctl acl, as the admin. */
		{
			json_t *j = NULL, *e;
			size_t k;
			int found = 0;
			assert_int_equal(
			    itest_synodctl(&f->it, SYNOD_CTL,
					   "acl add reader-2 reader", &j),
			    0);
			json_decref(j);
			assert_int_equal(
			    itest_synodctl(&f->it, SYNOD_CTL, "acl list", &j),
			    0);
			assert_true(json_is_array(j));
			json_array_foreach(j, k, e)
			{
				if (strcmp(json_string_value(
					       json_object_get(e, "principal")),
					   "reader-2") == 0 &&
				    strcmp(json_string_value(
					       json_object_get(e, "role")),
					   "reader") == 0)
					found = 1;
			}
			json_decref(j);
			assert_true(found);
			assert_int_equal(itest_synodctl(&f->it, SYNOD_CTL,
							"acl remove reader-2",
							&j),
					 0);
			json_decref(j);
			assert_int_equal(itest_synodctl(&f->it, SYNOD_CTL,
							"acl remove reader-2",
							&j),
					 1);
			json_decref(j);
		}
		/* quorum status shows each node's certificate expiry. */
		{
			json_t *j = NULL, *n;
			assert_int_equal(itest_synodctl(&f->it, SYNOD_CTL,
							"quorum status", &j),
					 0);
			n = json_array_get(json_object_get(j, "nodes"), 0);
			assert_true(json_integer_value(json_object_get(
					n, "tls_certificate_expiry")) >
				    (json_int_t)time(NULL) + 86400);
			json_decref(j);
		}
		/* A grant taken back applies at once. */
		grant(f, "reader-1", "role", "none");
		cl = client_as(f, "reader-1");
		assert_int_equal(get_as(cl, msg, sizeof msg),
				 SYNOD_EAUTHORIZATION_FAILED);
		synod_client_close(cl);
	}

	/* Failover: the client follows the new leader over TLS. */
	leader = cluster_wait_leader(&f->it.c, WAIT_MS);
	assert_int_not_equal(leader, 0);
	assert_int_equal(cluster_kill(&f->it.c, leader), 0);
	assert_int_equal(itest_set_config(&f->it, KEY, "9"), SYNOD_OK);
	v = read_key(f);
	assert_string_equal(v, "9");
	free(v);
	for (unsigned id = 1; id <= 3; id++)
		assert_true(cluster_log_contains(&f->it.c, id,
						 "raft port: TLS, peers "
						 "verified against"));
	assert_int_equal(cluster_start_node(&f->it.c, leader), 0);

	/* A fourth node with a certificate of the cluster's CA joins. */
	{
		Synod__Wire__AddVoterRequest add =
		    SYNOD__WIRE__ADD_VOTER_REQUEST__INIT;
		assert_int_equal(cluster_add_node(&f->it.c), 4);
		assert_int_equal(cluster_start_node(&f->it.c, 4), 0);
		add.id = 4;
		add.raft_address = f->it.c.nodes[3].raft_address;
		add.client_address = f->it.c.nodes[3].client_address;
		assert_int_equal(
		    itest_call(&f->it, SYNOD_API_ADD_VOTER, &add.base,
			       &synod__wire__quorum_change_response__descriptor,
			       NULL),
		    SYNOD_OK);
		assert_int_equal(itest_set_config(&f->it, KEY, "11"), SYNOD_OK);
	}

	/* SIGHUP: node 1 takes a new certificate without a restart; a
	 * node whose new key is damaged keeps its current files. Both go on
	 * serving and the quorum keeps committing. */
	{
		char cmd[900], serial[128] = "", want[200], file[300];
		FILE *p;
		long from1 = itest_log_size(&f->it.c, 1),
		     from2 = itest_log_size(&f->it.c, 2);
		Synod__Wire__NodeStatusResponse *ns;
		snprintf(cmd, sizeof cmd,
			 "rm -f '%s/a/node-1.pem' '%s/a/node-1.key' && sh '%s' "
			 "'%s/a' 4 2 >/dev/null && openssl x509 -noout -serial "
			 "-in '%s/a/node-1.pem'",
			 f->dir, f->dir, GEN_CERTS, f->dir, f->dir);
		p = popen(cmd, "r");
		assert_non_null(p);
		assert_non_null(fgets(serial, sizeof serial, p));
		assert_int_equal(pclose(p), 0);
		serial[strcspn(serial, "\n")] = '\0';
		assert_non_null(strstr(serial, "serial="));
		snprintf(want, sizeof want,
			 "SIGHUP: TLS certificates reloaded (serial %s,",
			 strchr(serial, '=') + 1);
		path(f, file, sizeof file, "a", "node-2.key");
		p = fopen(file, "w");
		assert_non_null(p);
		fputs("not a key\n", p);
		fclose(p);
		assert_int_equal(kill(f->it.c.nodes[0].pid, SIGHUP), 0);
		assert_int_equal(kill(f->it.c.nodes[1].pid, SIGHUP), 0);
		for (uint64_t end = tool_now_ms() + WAIT_MS;;) {
			if (itest_log_contains_after(&f->it.c, 1, from1,
						     want) &&
			    itest_log_contains_after(
				&f->it.c, 2, from2,
				"keeping the current certificates"))
				break;
			if (tool_now_ms() > end)
				fail_msg("no reload logged (%s)", want);
			itest_sleep_ms(50);
		}
		for (unsigned id = 1; id <= 2; id++) {
			ns = cluster_node_status(&f->it.c, id, 5000);
			assert_non_null(ns);
			synod__wire__node_status_response__free_unpacked(ns,
									 NULL);
		}
		assert_int_equal(itest_set_config(&f->it, KEY, "12"), SYNOD_OK);
	}

	/* A fifth one with a certificate of another CA (its CN says node
	 * 5) cannot: every connection between it and the quorum is
	 * refused, so the change never completes. */
	{
		Synod__Wire__AddVoterRequest add =
		    SYNOD__WIRE__ADD_VOTER_REQUEST__INIT;
		struct synod_client_config cfg = {0};
		struct synod_client *cl;
		ProtobufCMessage *resp = NULL;
		int rv, seen = 0;
		assert_int_equal(cluster_add_node(&f->it.c), 5);
		snprintf(f->it.c.extra_flags, sizeof f->it.c.extra_flags,
			 "--tls-cert-file %s/b/node-5.pem --tls-key-file "
			 "%s/b/node-5.key --tls-ca-file %s",
			 f->dir, f->dir, oca);
		assert_int_equal(cluster_start_node(&f->it.c, 5), 0);
		add.id = 5;
		add.raft_address = f->it.c.nodes[4].raft_address;
		add.client_address = f->it.c.nodes[4].client_address;
		tool_tls_apply(&cfg);
		cfg.bootstrap = f->it.c.bootstrap;
		cfg.request_timeout_ms = 3000;
		assert_int_equal(synod_client_new(NULL, &cfg, &cl), SYNOD_OK);
		rv = synod_client_call(
		    cl, SYNOD_API_ADD_VOTER, &add.base, 1,
		    &synod__wire__quorum_change_response__descriptor, &resp);
		if (resp)
			protobuf_c_message_free_unpacked(resp, NULL);
		synod_client_close(cl);
		assert_int_not_equal(rv, SYNOD_OK);
		for (uint64_t end = tool_now_ms() + WAIT_MS; !seen;) {
			for (unsigned id = 1; id <= 4; id++)
				seen += cluster_log_contains(
				    &f->it.c, id, "raft: connection to node 5");
			if (!seen && tool_now_ms() > end)
				fail_msg("no refused raft connection to node 5 "
					 "logged");
			if (!seen)
				itest_sleep_ms(100);
		}
	}
	f->it.passed = 1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_tls_client_port, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
