/* controller/config.c - ini file + flags into struct synod_config. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

void config_defaults(struct synod_config *c)
{
	memset(c, 0, sizeof *c);
	/* Failover takes ~1.5-2x this (docs/benchmarks.md); 200 ms gave
	 * zero elections in idle and loaded runs on a 2-core machine. */
	c->election_timeout_ms = 200;
	c->snapshot_threshold = 65536;
	c->snapshot_trailing = 16384;
	c->max_inflight_entries = 256;
	c->max_batch_records = 10000;
	c->connect_retry_ms = 100;
	c->max_frame = 16u << 20;
	/* Client port limits. Brokers keep one connection each to the active
	 * controller (plus tools): 10000 is far above a real cluster's need
	 * and bounds descriptors and per-connection memory; 1000 per address
	 * lets a NAT or a simulator host many brokers and still stops one
	 * host from taking every slot. */
	c->max_client_connections = 10000;
	c->max_client_connections_per_ip = 1000;
	/* Sixteen frames of the default maximum size arriving at once. */
	c->max_read_buffer_bytes = 256u << 20;
	/* Kafka's connections.max.idle.ms; brokers heartbeat every 2 s. */
	c->idle_timeout_ms = 600000;
	c->partial_frame_timeout_ms = 30000;
	/* Pushes stop at 4 MiB queued (PUB_QUEUE_MAX, controller/publisher.h).
	 */
	c->slow_reader_bytes = 4u << 20;
	c->slow_reader_timeout_ms = 30000;
	c->tls_handshake_timeout_ms = 10000;
	c->http_request_timeout_ms = 10000;
	c->kafka_max_request_bytes = 1u << 20;
	c->authorization = 1;
	/* libraft 0.22 reports free log capacity in KiB in an unsigned short:
	 * above ~20 MiB segments it wraps and every write fails with
	 * RAFT_NOSPACE. */
	c->segment_size = 16u << 20;
	c->disk_stall_ms = 5000;
	c->snapshot_save_timeout_ms = 60000;
	c->thread_pool_size = 16;
	c->pre_vote = 1;
	c->log_level = LOG_INFO;
}

int config_check_hostport(const char *s)
{
	const char *colon = strrchr(s, ':');
	char *end;
	long port;
	if (colon == NULL || colon == s || strchr(s, '/') != NULL)
		return -1;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end != '\0' || port < 1 || port > 65535)
		return -1;
	return 0;
}

static int parse_u64(const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long x;
	if (v[0] == '-' || v[0] == '\0')
		return -1;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || *end != '\0' || x < min || x > max)
		return -1;
	*out = x;
	return 0;
}

int config_parse_voters(const char *spec, struct voter_spec *out, unsigned max,
			unsigned *n, char *err, size_t err_size)
{
	char buf[4096], *tok, *save;
	*n = 0;
	if (strlen(spec) >= sizeof buf) {
		snprintf(err, err_size, "voters: too long");
		return -1;
	}
	strcpy(buf, spec);
	for (tok = strtok_r(buf, ", ", &save); tok;
	     tok = strtok_r(NULL, ", ", &save)) {
		char *at = strchr(tok, '@'), *slash;
		struct voter_spec *v;
		if (*n >= max) {
			snprintf(err, err_size, "voters: more than %u", max);
			return -1;
		}
		v = &out[*n];
		if (at == NULL || (slash = strchr(at, '/')) == NULL) {
			snprintf(err, err_size,
				 "voters: '%s' is not "
				 "ID@RAFT_HOST:PORT/CLIENT_HOST:PORT",
				 tok);
			return -1;
		}
		*at = '\0';
		*slash = '\0';
		if (parse_u64(tok, 1, UINT32_MAX, &v->id) != 0) {
			snprintf(err, err_size, "voters: bad node id '%s'",
				 tok);
			return -1;
		}
		if (strlen(at + 1) >= sizeof v->raft_address ||
		    strlen(slash + 1) >= sizeof v->client_address ||
		    config_check_hostport(at + 1) != 0 ||
		    config_check_hostport(slash + 1) != 0) {
			snprintf(err, err_size,
				 "voters: bad address for node %llu",
				 (unsigned long long)v->id);
			return -1;
		}
		strcpy(v->raft_address, at + 1);
		strcpy(v->client_address, slash + 1);
		for (unsigned i = 0; i < *n; i++)
			if (out[i].id == v->id) {
				snprintf(err, err_size,
					 "voters: node id %llu twice",
					 (unsigned long long)v->id);
				return -1;
			}
		(*n)++;
	}
	return 0;
}

/* "true"/"1" or "false"/"0" into *dst. */
static int set_bool(int *dst, const char *key, const char *v, char *err,
		    size_t err_size)
{
	if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
		*dst = 1;
	else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
		*dst = 0;
	else {
		snprintf(err, err_size, "%s: true or false", key);
		return -1;
	}
	return 0;
}

static int set_str(char *dst, size_t size, const char *key, const char *v,
		   char *err, size_t err_size)
{
	if (strlen(v) >= size) {
		snprintf(err, err_size, "%s: value too long", key);
		return -1;
	}
	strcpy(dst, v);
	return 0;
}

#define U(field, min, max)                                                     \
	do {                                                                   \
		uint64_t x_;                                                   \
		if (parse_u64(value, min, max, &x_) != 0) {                    \
			snprintf(err, err_size,                                \
				 "%s: '%s' is not a number in [%llu, %llu]",   \
				 key, value, (unsigned long long)(min),        \
				 (unsigned long long)(max));                   \
			return -1;                                             \
		}                                                              \
		c->field = x_;                                                 \
		return 0;                                                      \
	} while (0)

/* HOST:PORT to listen on, port 0 allowed (any free port). */
static int listen_hostport(const char *value)
{
	char probe[SYNOD_ADDR_MAX];
	size_t n = strlen(value);
	if (n >= sizeof probe)
		return 0; /* never truncated, never written past */
	memcpy(probe, value, n + 1);
	if (n >= 2 && strcmp(probe + n - 2, ":0") == 0)
		probe[n - 1] = '1';
	return config_check_hostport(probe) == 0;
}

int config_set(struct synod_config *c, const char *key, const char *value,
	       char *err, size_t err_size)
{
	if (strcmp(key, "node_id") == 0)
		U(node_id, 1, UINT32_MAX);
	if (strcmp(key, "raft_address") == 0) {
		if (config_check_hostport(value) != 0) {
			snprintf(err, err_size,
				 "raft_address: '%s' is not "
				 "HOST:PORT",
				 value);
			return -1;
		}
		return set_str(c->raft_address, sizeof c->raft_address, key,
			       value, err, err_size);
	}
	if (strcmp(key, "client_address") == 0) {
		if (config_check_hostport(value) != 0) {
			snprintf(err, err_size,
				 "client_address: '%s' is not "
				 "HOST:PORT",
				 value);
			return -1;
		}
		return set_str(c->client_address, sizeof c->client_address, key,
			       value, err, err_size);
	}
	if (strcmp(key, "http_address") == 0) {
		/* Port 0: any free port (the node logs which). */
		if (!listen_hostport(value)) {
			snprintf(err, err_size, "http_address: IP:PORT");
			return -1;
		}
		return set_str(c->http_address, sizeof c->http_address, key,
			       value, err, err_size);
	}
	if (strcmp(key, "kafka_address") == 0) {
		if (!listen_hostport(value)) {
			snprintf(err, err_size, "kafka_address: IP:PORT");
			return -1;
		}
		return set_str(c->kafka_address, sizeof c->kafka_address, key,
			       value, err, err_size);
	}
	if (strcmp(key, "kafka_max_request_bytes") == 0) {
		char *end;
		unsigned long long v = strtoull(value, &end, 10);
		if (value[0] < '0' || value[0] > '9' || *end != '\0' ||
		    v < 1024 || v > (100ull << 20)) {
			snprintf(err, err_size,
				 "kafka_max_request_bytes: 1024 to 104857600");
			return -1;
		}
		c->kafka_max_request_bytes = (size_t)v;
		return 0;
	}
	if (strcmp(key, "plaintext_client_address") == 0) {
		if (!listen_hostport(value) || !config_loopback(value)) {
			snprintf(err, err_size,
				 "plaintext_client_address: a loopback IP:PORT "
				 "(127.0.0.1 or ::1; development only)");
			return -1;
		}
		return set_str(c->plaintext_client_address,
			       sizeof c->plaintext_client_address, key, value,
			       err, err_size);
	}
	if (strcmp(key, "data_dir") == 0)
		return set_str(c->data_dir, sizeof c->data_dir, key, value, err,
			       err_size);
	if (strcmp(key, "cluster_id") == 0) {
		for (const char *p = value; *p; p++)
			if (!((*p >= 'a' && *p <= 'z') ||
			      (*p >= 'A' && *p <= 'Z') ||
			      (*p >= '0' && *p <= '9') || *p == '-' ||
			      *p == '_')) {
				snprintf(err, err_size,
					 "cluster_id: only letters, digits, "
					 "'-' and '_' are allowed");
				return -1;
			}
		if (value[0] == '\0' || strlen(value) > 48) {
			snprintf(err, err_size, "cluster_id: 1-48 characters");
			return -1;
		}
		return set_str(c->cluster_id, sizeof c->cluster_id, key, value,
			       err, err_size);
	}
	if (strcmp(key, "voters") == 0)
		return config_parse_voters(value, c->voters, SYNOD_MAX_VOTERS,
					   &c->n_voters, err, err_size);
	if (strcmp(key, "election_timeout_ms") == 0)
		U(election_timeout_ms, 50, 60000);
	if (strcmp(key, "heartbeat_timeout_ms") == 0)
		U(heartbeat_timeout_ms, 10, 30000);
	if (strcmp(key, "snapshot_threshold") == 0)
		U(snapshot_threshold, 16, 100000000);
	if (strcmp(key, "snapshot_trailing") == 0)
		U(snapshot_trailing, 16, 100000000);
	if (strcmp(key, "digest_every") == 0)
		U(digest_every, 0, 100000000);
	if (strcmp(key, "max_inflight_entries") == 0)
		U(max_inflight_entries, 1, 65536);
	if (strcmp(key, "max_batch_records") == 0)
		U(max_batch_records, 1, 1000000);
	if (strcmp(key, "connect_retry_ms") == 0)
		U(connect_retry_ms, 10, 60000);
	if (strcmp(key, "max_frame_bytes") == 0)
		U(max_frame, 4096, 1u << 30);
	if (strcmp(key, "max_client_connections") == 0)
		U(max_client_connections, 1, 1000000);
	if (strcmp(key, "max_client_connections_per_ip") == 0)
		U(max_client_connections_per_ip, 1, 1000000);
	if (strcmp(key, "max_read_buffer_bytes") == 0)
		U(max_read_buffer_bytes, 4096, 1ull << 40);
	if (strcmp(key, "idle_timeout_ms") == 0) {
		if (strcmp(value, "0") == 0) {
			c->idle_timeout_ms = 0;
			return 0;
		}
		U(idle_timeout_ms, 1000, 86400000);
	}
	if (strcmp(key, "partial_frame_timeout_ms") == 0)
		U(partial_frame_timeout_ms, 1000, 3600000);
	if (strcmp(key, "slow_reader_bytes") == 0)
		U(slow_reader_bytes, 4096, 64u << 20);
	if (strcmp(key, "slow_reader_timeout_ms") == 0)
		U(slow_reader_timeout_ms, 1000, 3600000);
	if (strcmp(key, "tls_cert_file") == 0)
		return set_str(c->tls_cert_file, sizeof c->tls_cert_file, key,
			       value, err, err_size);
	if (strcmp(key, "tls_key_file") == 0)
		return set_str(c->tls_key_file, sizeof c->tls_key_file, key,
			       value, err, err_size);
	if (strcmp(key, "tls_ca_file") == 0)
		return set_str(c->tls_ca_file, sizeof c->tls_ca_file, key,
			       value, err, err_size);
	if (strcmp(key, "tls_handshake_timeout_ms") == 0)
		U(tls_handshake_timeout_ms, 100, 600000);
	if (strcmp(key, "http_request_timeout_ms") == 0)
		U(http_request_timeout_ms, 100, 600000);
	if (strcmp(key, "tls_principal") == 0) {
		if (strcmp(value, "cn") == 0)
			c->tls_principal_san = 0;
		else if (strcmp(value, "san") == 0)
			c->tls_principal_san = 1;
		else {
			snprintf(err, err_size, "tls_principal: cn or san");
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "allow_plaintext") == 0)
		return set_bool(&c->allow_plaintext, key, value, err, err_size);
	if (strcmp(key, "super_users") == 0)
		return set_str(c->super_users, sizeof c->super_users, key,
			       value, err, err_size);
	if (strcmp(key, "authorization") == 0)
		return set_bool(&c->authorization, key, value, err, err_size);
	if (strcmp(key, "tls_allow_tls12") == 0)
		return set_bool(&c->tls_allow_tls12, key, value, err, err_size);
	/* At least 4 MiB: libraft 0.22 refuses appends (RAFT_NOSPACE) while
	 * its open segments' free capacity is under its 4 MiB threshold; with
	 * 1 MiB segments no entry ever committed (a leader retried its
	 * barrier forever). */
	if (strcmp(key, "segment_size_bytes") == 0)
		U(segment_size, 4u << 20, 20u << 20);
	if (strcmp(key, "disk_stall_ms") == 0)
		U(disk_stall_ms, 500, 600000);
	if (strcmp(key, "snapshot_save_timeout_ms") == 0) {
		if (strcmp(value, "0") == 0) {
			c->snapshot_save_timeout_ms = 0;
			return 0;
		}
		U(snapshot_save_timeout_ms, 1000, 3600000);
	}
	if (strcmp(key, "thread_pool_size") == 0)
		U(thread_pool_size, 4, 128);
	if (strcmp(key, "accept_damaged_log_tail") == 0)
		return set_bool(&c->accept_damaged_log_tail, key, value, err,
				err_size);
	if (strcmp(key, "pre_vote") == 0)
		return set_bool(&c->pre_vote, key, value, err, err_size);
	if (strcmp(key, "log_format") == 0) {
		int f = log_parse_format(value);
		if (f < 0) {
			snprintf(err, err_size, "log_format: text or json");
			return -1;
		}
		c->log_json = f;
		return 0;
	}
	if (strcmp(key, "log_level") == 0) {
		int l = log_parse_level(value);
		if (l < 0) {
			snprintf(err, err_size,
				 "log_level: error, warn, info or debug");
			return -1;
		}
		c->log_level = l;
		return 0;
	}
	snprintf(err, err_size, "unknown config key '%s'", key);
	return -1;
}

struct ini_ctx {
	struct synod_config *c;
	char *err;
	size_t err_size;
	int failed;
};

static int on_ini_line(void *user, const char *section, const char *name,
		       const char *value)
{
	struct ini_ctx *x = user;
	char e[256];
	if (x->failed)
		return 0;
	if (section[0] != '\0' && strcmp(section, "synod") != 0) {
		snprintf(x->err, x->err_size, "unknown section [%s]", section);
		x->failed = 1;
		return 0;
	}
	if (config_set(x->c, name, value, e, sizeof e) != 0) {
		snprintf(x->err, x->err_size, "%s", e);
		x->failed = 1;
		return 0;
	}
	return 1;
}

int config_load_file(struct synod_config *c, const char *path, char *err,
		     size_t err_size)
{
	struct ini_ctx x = {c, err, err_size, 0};
	char e[256];
	int rv;
	x.err = e;
	x.err_size = sizeof e;
	rv = ini_parse(path, on_ini_line, &x);
	if (rv == -1) {
		snprintf(err, err_size, "%s: cannot open: %s", path,
			 strerror(errno));
		return -1;
	}
	if (x.failed) {
		snprintf(err, err_size, "%s: %s", path, e);
		return -1;
	}
	if (rv != 0) {
		snprintf(err, err_size, "%s:%d: syntax error", path, rv);
		return -1;
	}
	return 0;
}

int config_loopback(const char *hostport)
{
	char host[SYNOD_ADDR_MAX];
	const char *colon = strrchr(hostport, ':');
	size_t n;
	struct in_addr a4;
	struct in6_addr a6;
	if (colon == NULL)
		return 0;
	n = (size_t)(colon - hostport);
	if (n >= sizeof host)
		return 0;
	memcpy(host, hostport, n);
	host[n] = '\0';
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	if (strcmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return 0;
}

int config_validate(const struct synod_config *c, char *err, size_t err_size)
{
	if (c->node_id == 0) {
		snprintf(err, err_size, "node_id is required");
		return -1;
	}
	if (c->data_dir[0] == '\0') {
		snprintf(err, err_size, "data_dir is required");
		return -1;
	}
	if ((c->tls_cert_file[0] || c->tls_key_file[0] || c->tls_ca_file[0]) &&
	    !(c->tls_cert_file[0] && c->tls_key_file[0] && c->tls_ca_file[0])) {
		snprintf(
		    err, err_size,
		    "TLS needs tls_cert_file, tls_key_file and tls_ca_file "
		    "together (clients are verified against the CA)");
		return -1;
	}
	if (c->cluster_id[0] == '\0') {
		snprintf(err, err_size,
			 "cluster_id is required (the same on every node; "
			 "`synod --new-cluster-id` prints a fresh one)");
		return -1;
	}
	if (c->raft_address[0] == '\0' || c->client_address[0] == '\0') {
		/* Take them from our own voters entry. */
		int found = 0;
		for (unsigned i = 0; i < c->n_voters; i++)
			if (c->voters[i].id == c->node_id)
				found = 1;
		if (!found) {
			snprintf(err, err_size,
				 "raft_address and client_address are "
				 "required unless voters lists node %llu",
				 (unsigned long long)c->node_id);
			return -1;
		}
	}
	for (unsigned i = 0; i < c->n_voters; i++) {
		const struct voter_spec *v = &c->voters[i];
		if (v->id != c->node_id)
			continue;
		if ((c->raft_address[0] &&
		     strcmp(v->raft_address, c->raft_address) != 0) ||
		    (c->client_address[0] &&
		     strcmp(v->client_address, c->client_address) != 0)) {
			snprintf(err, err_size,
				 "voters entry for node %llu does not match "
				 "raft_address/client_address",
				 (unsigned long long)c->node_id);
			return -1;
		}
	}
	if (c->plaintext_client_address[0] &&
	    (c->tls_cert_file[0] == '\0' || !c->allow_plaintext)) {
		snprintf(err, err_size,
			 "plaintext_client_address is a development port "
			 "beside a TLS client port: it needs TLS on and "
			 "allow_plaintext = true (whoever reaches it is an "
			 "admin; docs/security.md)");
		return -1;
	}
	if (c->tls_cert_file[0] == '\0' && !c->allow_plaintext) {
		/* Without TLS, only loopback: anyone who reaches a port could
		 * otherwise change everything (docs/security.md). */
		const char *ra = c->raft_address, *ca = c->client_address;
		for (unsigned i = 0; i < c->n_voters; i++)
			if (c->voters[i].id == c->node_id) {
				if (!ra[0])
					ra = c->voters[i].raft_address;
				if (!ca[0])
					ca = c->voters[i].client_address;
			}
		if (c->kafka_address[0] && !config_loopback(c->kafka_address)) {
			snprintf(err, err_size,
				 "kafka_address %s is not a loopback address, "
				 "and TLS is off: allow_plaintext = true for "
				 "a network you trust",
				 c->kafka_address);
			return -1;
		}
		if (c->http_address[0] && !config_loopback(c->http_address)) {
			snprintf(
			    err, err_size,
			    "http_address %s is not a loopback address, "
			    "and TLS is off: set tls_cert_file, "
			    "tls_key_file and tls_ca_file "
			    "(docs/security.md), or allow_plaintext = true "
			    "for a network you trust",
			    c->http_address);
			return -1;
		}
		if (!config_loopback(ra) || !config_loopback(ca)) {
			snprintf(err, err_size,
				 "%s %s is not a loopback address, and TLS is "
				 "off: set tls_cert_file, tls_key_file and "
				 "tls_ca_file (docs/security.md), or "
				 "allow_plaintext = true for a network you "
				 "trust",
				 !config_loopback(ra) ? "raft_address"
						      : "client_address",
				 !config_loopback(ra) ? ra : ca);
			return -1;
		}
	}
	if (c->max_read_buffer_bytes < c->max_frame) {
		snprintf(err, err_size,
			 "max_read_buffer_bytes must be at least "
			 "max_frame_bytes (a frame of the maximum size must "
			 "fit)");
		return -1;
	}
	unsigned hb = c->heartbeat_timeout_ms ? c->heartbeat_timeout_ms
					      : c->election_timeout_ms / 10;
	if (hb >= c->election_timeout_ms) {
		snprintf(err, err_size,
			 "heartbeat_timeout_ms must be below "
			 "election_timeout_ms");
		return -1;
	}
	return 0;
}
