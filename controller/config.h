/* controller/config.h - the daemon's configuration: an ini file
 * (--config FILE) and command-line flags, flags winning. See
 * deploy/synod.conf.example and docs/operations.md for every key.
 * Plain struct with fixed buffers: nothing to free.
 */
#ifndef SYNOD_CONFIG_H
#define SYNOD_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define SYNOD_MAX_VOTERS 16
#define SYNOD_ADDR_MAX 128

struct voter_spec {
	uint64_t id;
	char raft_address[SYNOD_ADDR_MAX];
	char client_address[SYNOD_ADDR_MAX];
};

struct synod_config {
	uint64_t node_id;
	char raft_address[SYNOD_ADDR_MAX];
	char client_address[SYNOD_ADDR_MAX];
	char http_address[SYNOD_ADDR_MAX];  /* "": no HTTP listener */
	char kafka_address[SYNOD_ADDR_MAX]; /* "": no Kafka listener */
	size_t kafka_max_request_bytes;
	/* A plaintext client port beside a TLS one, for development:
	 * loopback only, and only with allow_plaintext (security.md). */
	char plaintext_client_address[SYNOD_ADDR_MAX];
	char data_dir[PATH_MAX];
	char cluster_id[64];
	struct voter_spec voters[SYNOD_MAX_VOTERS];
	unsigned n_voters;
	unsigned election_timeout_ms;
	unsigned heartbeat_timeout_ms; /* 0: election timeout / 10 */
	unsigned snapshot_threshold;
	unsigned snapshot_trailing;
	unsigned digest_every; /* state digests kept at apply (0: none) */
	unsigned max_inflight_entries;
	unsigned max_batch_records;
	unsigned connect_retry_ms;
	size_t max_frame;
	/* Client port limits (controller/server.c, docs/operations.md). */
	unsigned max_client_connections;
	unsigned max_client_connections_per_ip;
	uint64_t max_read_buffer_bytes; /* all connections, beyond 4 KiB each */
	unsigned idle_timeout_ms;	/* 0: never */
	unsigned partial_frame_timeout_ms;
	uint64_t slow_reader_bytes;
	unsigned slow_reader_timeout_ms;
	/* TLS on the client port (docs/security.md): on when tls_cert_file
	 * is set; clients must present a certificate from tls_ca_file. */
	char tls_cert_file[PATH_MAX];
	char tls_key_file[PATH_MAX];
	char tls_ca_file[PATH_MAX];
	int tls_allow_tls12;
	unsigned tls_handshake_timeout_ms;
	/* HTTP: to send a whole request, and to take a whole answer. */
	unsigned http_request_timeout_ms;
	/* Authorization (controller/acl.h): on with TLS unless disabled;
	 * super_users are admins whatever the replicated grants say. */
	int authorization;
	int tls_principal_san; /* tls_principal = san (default cn) */
	/* Plaintext ports on a non-loopback address (no TLS) only when
	 * set: the safe default is TLS or loopback. */
	int allow_plaintext;
	char super_users[1024];
	size_t segment_size;
	/* A log write unfinished this long: the disk hangs (a write that
	 * fails stops the node); a leader hands over. */
	unsigned disk_stall_ms;
	/* a snapshot save unfinished this long: the node exits with status
	 * 3 for its service manager to restart it (0: never) */
	unsigned snapshot_save_timeout_ms;
	/* libuv's thread pool (UV_THREADPOOL_SIZE, set by main before
	 * anything uses the pool): raft_uv's disk work shares it with
	 * read-only queries, which take at most a quarter of it (query.h). */
	unsigned thread_pool_size;
	/* Start even when an open segment is damaged (libraft then drops
	 * the entries from the damage on): an operator's last resort when
	 * too few nodes start to rebuild any (operations.md 6.6). */
	int accept_damaged_log_tail;
	int pre_vote;
	int log_level;
	int log_json; /* log_format = json */
};

void config_defaults(struct synod_config *c);
/* Load an ini file over *c. Returns 0, or -1 with a message in err. */
int config_load_file(struct synod_config *c, const char *path, char *err,
		     size_t err_size);
/* Set one key ("node_id", "election_timeout_ms", ...) from text. */
int config_set(struct synod_config *c, const char *key, const char *value,
	       char *err, size_t err_size);
/* Check the whole config (required keys, ranges, this node's address in
 * the voters it names). */
/* 1 when HOST:PORT names a loopback host (127.0.0.0/8, ::1,
 * localhost). */
int config_loopback(const char *hostport);

int config_validate(const struct synod_config *c, char *err, size_t err_size);
/* Parse "ID@RAFT_HOST:PORT/CLIENT_HOST:PORT,..." */
int config_parse_voters(const char *spec, struct voter_spec *out, unsigned max,
			unsigned *n, char *err, size_t err_size);
/* Check "host:port" syntax. */
int config_check_hostport(const char *s);

#endif
