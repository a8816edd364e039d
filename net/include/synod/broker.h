/* synod/broker.h - the broker side of the Synod protocol (public header).
 *
 * A struct synod_broker is one broker process's membership in the cluster:
 * it registers with the active controller (a fresh incarnation id per
 * synod_broker_new), heartbeats on an interval, reports the metadata
 * version it has applied, follows the active controller across failovers
 * (NOT_CONTROLLER hints, reconnects with backoff) and keeps its
 * registration: after a controller failover it goes on heartbeating with
 * the same epoch. It re-registers only when the controller says its epoch
 * is stale or unknown (for example after it was fenced and unregistered);
 * a new registration gets a new epoch.
 *
 * Controlled shutdown: synod_broker_shutdown() asks the controller to move
 * work away; when the controller answers should_shutdown the state becomes
 * SYNOD_BROKER_STOPPED and the process may exit.
 *
 * Behaviour in detail:
 * - States: REGISTERING until the controller grants an epoch, then FENCED
 *   or ACTIVE as the last heartbeat answer's is_fenced says. Every change is
 *   reported through state_changed; close reports nothing.
 * - Heartbeats: at most one request (registration or heartbeat) is in
 *   flight. A heartbeat that falls due while the previous one is still
 *   outstanding is skipped. The first heartbeat follows the registration at
 *   once; the next one comes at a random point within one interval (so
 *   many brokers started together spread out), then one per interval. While
 *   fenced, one extra heartbeat is sent at once when the applied metadata
 *   version reaches the epoch (see Metadata), so the broker reports that it
 *   caught up without waiting a whole interval.
 * - Requests go to the active controller (the client follows
 *   NOT_CONTROLLER). Transport errors, TIMEOUT, NOT_CONTROLLER, UNAVAILABLE
 *   and unknown refusals of a heartbeat change nothing: the next heartbeat
 *   goes out on schedule. A registration is retried with jittered
 *   exponential backoff (100 ms doubling to 2 s).
 * - STALE_BROKER_EPOCH or UNKNOWN_BROKER on a heartbeat: the broker
 *   registers again (state REGISTERING, then a new epoch).
 * - DUPLICATE_BROKER_REGISTRATION: retried for duplicate_retry_ms from the
 *   first such refusal, then FAILED; refusals saying the controller has
 *   not heard from the other incarnation (other_heard false: a new
 *   controller's grace) are retried without counting. CLUSTER_ID_MISMATCH (from
 * the connection handshake or a response), INVALID_REQUEST, INVALID_ARGUMENT
 *   and UNSUPPORTED_VERSION on a registration: FAILED at once.
 * - Request timeout: request_timeout_ms (default 5000). When the
 *   controller's session timeout (from the registration answer) is not
 *   above it, the broker uses half the session timeout instead (at least
 *   100 ms) for every request sent after the registration's answer (no
 *   reconnect: synod_client_set_request_timeout()).
 * - Metadata: the library keeps the broker's metadata view (every topic,
 *   and the full state of every partition this broker replicates) at one
 *   metadata version (a log index), and reports that applied version in
 *   every heartbeat. The active controller pushes MetadataDelta messages
 *   (PUSH frames, api 14) on the connection the broker last registered,
 *   heartbeated or fetched on. A push whose prev_version is the applied
 *   version is applied; one whose version is not above it is ignored;
 *   anything else is a gap, and the broker fetches (METADATA_FETCH, api
 *   15) the changes since its applied version (or gets a full image). A
 *   full image replaces the view when it is newer. prev_version 0 (the
 *   controller's first push for this broker) never continues anything: an
 *   empty view takes only a full image. Undecodable or malformed pushes
 *   count as gaps. Changes are thus applied in version order, without
 *   gaps. While a fetch is in flight, pushes are
 *   ignored; the answer is applied, then pushes continue. A fetch also
 *   goes out right after every (re)registration (the broker is unfenced
 *   only once it reports a version at or above its epoch: then one
 *   heartbeat goes out at once instead of waiting an interval), and after
 *   the next successful heartbeat when the connection was lost or a
 *   heartbeat failed (pushes may have been lost with it). Failed fetches
 *   are retried with jittered backoff (100 ms doubling to 2 s);
 *   STALE_BROKER_EPOCH or UNKNOWN_BROKER lead to a new registration as for
 *   heartbeats. The view is kept across re-registrations.
 * - Pages: a fetch answered in pages (a large view, all_partitions) is not
 *   applied page by page. The controller reads each page when it is asked
 *   for, so the pages of one answer come from different versions, and a
 *   view with some of them applied mixes states (a partition still led by
 *   a broker the first page lists as fenced). The library keeps the pages
 *   aside (the view, its version and what heartbeats report stay as they
 *   were; pushes that continue the answer's version are held, others
 *   ignored). Once the last page is in, unless every page was read at
 *   the answer's version (read_version) or the held pushes reach the
 *   controller's push cursor (pushed_version) and so complete it, it
 *   fetches what changed since that version, until an answer is one
 *   version (one page always is) or after 4 such rounds. Then it
 *   applies them all to a copy of the view, which replaces the view at
 *   once: one metadata callback with a full image of the new view
 *   (prev_version: the version it replaced) and one set of transitions;
 *   nothing when the pages change nothing. While pages of an image of
 *   another history (restored) are kept, heartbeats report version 0.
 *   Until then the packed pages take about the memory of the image.
 * - Old controllers: when METADATA_FETCH is answered UNSUPPORTED_API the
 *   broker stops fetching on that connection and reports only what its
 *   view holds (so such a controller leaves it fenced); it probes again
 *   on every new connection and every registration.
 * - Shutdown: in FENCED or ACTIVE the state becomes SHUTTING_DOWN and a
 *   heartbeat with want_shutdown goes out at once (or right after the one
 *   in flight), then one per interval until the answer says should_shutdown
 *   (state STOPPED; heartbeats stop). A should_shutdown the broker did not
 *   ask for is ignored. STALE_BROKER_EPOCH or UNKNOWN_BROKER while shutting
 *   down means the registration is gone already: STOPPED. Before any epoch:
 *   STOPPED at once, unless a registration is in flight; then the state is
 *   SHUTTING_DOWN, and the answer decides (granted: shut down as above;
 *   refused or lost: STOPPED). The view is kept current meanwhile as in
 *   ACTIVE (a heartbeat answered on a new connection fetches): the broker
 *   leads until the controller has moved its leaders.
 *
 * Threading: one libuv loop, the caller's (pass it to synod_broker_new) or
 * a private one run by synod_broker_run(). All calls and callbacks happen
 * on that loop's thread. Ignore SIGPIPE (see synod/client.h). Callbacks
 * (state_changed, metadata, an alter_isr callback) may call any function
 * here, synod_broker_close() included; the walk callbacks of
 * synod_broker_partitions() and synod_broker_topics() may only read.
 *
 * Ownership: the config's strings and arrays are copied. The broker owns
 * its client (one synod_client per broker, created with the cluster id so
 * that every connection's handshake checks it), its two timers and its
 * metadata view; synod_broker_close() releases them (asynchronously on a
 * caller's loop: the struct is freed once its handles are closed; never
 * touch it after close). Strings returned by the accessors belong to the
 * broker. Messages passed to callbacks (a delta, a partition state)
 * belong to the library and are valid during the call only; copy what you
 * keep. View contents handed out by the accessors point into the view and
 * are valid until the view next changes (a push or fetch answer is
 * applied: only ever between loop callbacks, never during a call to this
 * library that the caller made).
 *
 * Memory: the view costs 64 to 128 bytes per partition held (48-byte
 * hash slots, the table 3/8 to 3/4 full; replica plus ISR lists longer
 * than 6 ids take one more allocation) and about 60 bytes plus the name
 * per topic. Out of memory while applying a delta empties the view
 * (version 0); the next fetch rebuilds it from a full image.
 */
#ifndef SYNOD_BROKER_H
#define SYNOD_BROKER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "synod/client.h"

enum synod_broker_state {
	SYNOD_BROKER_REGISTERING = 0, /* no epoch yet */
	SYNOD_BROKER_FENCED,	      /* registered, fenced */
	SYNOD_BROKER_ACTIVE,	      /* registered, unfenced */
	SYNOD_BROKER_SHUTTING_DOWN,   /* controlled shutdown requested */
	SYNOD_BROKER_STOPPED,	      /* controller said: you may stop */
	SYNOD_BROKER_FAILED,	      /* fatal refusal (duplicate id, other
					 cluster); see synod_broker_error() */
};

/* "registering", "fenced", "active", "shutting-down", "stopped", "failed"
 * (the spelling of BrokerInfo.state); "unknown" for other values. Static
 * strings. */
const char *synod_broker_state_name(enum synod_broker_state s);

struct synod_endpoint {
	const char *name; /* "PLAINTEXT" */
	const char *host;
	uint16_t port;
	const char *security_protocol; /* "PLAINTEXT", "SSL", ... */
};

struct synod_broker_config {
	const char *bootstrap;	/* controllers' client addresses */
	const char *cluster_id; /* required */
	/* TLS to the controllers (synod/client.h, docs/security.md): on
	 * when tls_ca_file is set; the files are read when the library makes
	 * its client. Copied. */
	const char *tls_ca_file;
	const char *tls_cert_file;
	const char *tls_key_file;
	int32_t broker_id; /* >= 0 */
	const char *rack;  /* optional */
	const struct synod_endpoint *endpoints;
	unsigned n_endpoints;
	/* 0: use the controller's broker.heartbeat.interval.ms. */
	unsigned heartbeat_interval_ms;
	unsigned request_timeout_ms; /* per request, default 5000 */
	/* A registration refused as DUPLICATE_BROKER_REGISTRATION is retried
	 * for this long (the old incarnation's session may be expiring)
	 * before the state becomes FAILED. Default (0): one session timeout
	 * (the refusal carries the controller's; else 9000 ms) plus one
	 * second. */
	unsigned duplicate_retry_ms;
	/* Largest frame accepted from a controller (0: the client library's
	 * default, SYNOD_DEFAULT_MAX_FRAME). Controllers answer fetches in
	 * pages of at most 1 MiB, so the default is ample. */
	size_t max_frame;
	/* Silence before a controller connection is probed (0: the client
	 * library's default). */
	unsigned liveness_timeout_ms;
	/* 1: keep the other brokers' states in the view (endpoints, racks,
	 * fencing: to find a partition's leader, to answer Kafka Metadata).
	 * Every fetch asks for them and the controller pushes every
	 * registration change. 0 (default): the view holds no brokers. */
	int other_brokers;
	/* Optional: "IP:PORT" of a Kafka-protocol listener opened by
	 * synod_broker_start() (docs/kafka.md). It answers ApiVersions,
	 * Metadata from the view when the view holds all that is asked
	 * (needs other_brokers; small answers), and relays everything else
	 * (the admin APIs) to the active controller over this broker's
	 * connection, as a KRaft broker forwards (KIP-590). Advertise it as
	 * the broker's first endpoint: Kafka clients connect to that. No TLS
	 * on it yet. Copied. */
	const char *kafka_address;
	size_t kafka_max_request_bytes; /* 0: 1 MiB */
	/* 1: the view holds every partition of the cluster, not only those
	 * this broker replicates (fetches ask for all_partitions and the
	 * controller pushes every partition change to it), as a KRaft
	 * broker's metadata cache does: its Kafka listener answers Metadata
	 * for any topic from the view. Memory and push traffic grow with the
	 * cluster's partitions (about 60 bytes each) instead of the
	 * broker's. Leadership transitions are reported for this broker's
	 * replicas only, as without it. */
	int all_partitions;
};

struct synod_broker;

/* This broker's role in a partition. */
enum synod_role {
	SYNOD_ROLE_NONE = 0,	 /* not a replica (removed, or topic deleted) */
	SYNOD_ROLE_FOLLOWER = 1, /* a replica, not the leader */
	SYNOD_ROLE_LEADER = 2,
};

/* One partition's leadership transition (see the transitions callback).
 * Pointers are valid during the callback only. */
struct synod_transition {
	const uint8_t *topic_id; /* 16 bytes */
	const char *topic;
	int32_t partition;
	enum synod_role old_role, new_role;
	/* new_role != NONE: the partition's leader now (-1: offline) and its
	 * epochs. NONE: the last leader and leader epoch the broker knew;
	 * partition_epoch 0. */
	int32_t leader;
	uint32_t leader_epoch;
	uint32_t partition_epoch;
};

struct synod_broker_callbacks {
	void *arg;
	/* Every state change, in order. */
	void (*state_changed)(void *arg, struct synod_broker *b,
			      enum synod_broker_state old_state,
			      enum synod_broker_state new_state);
	/* Optional. Every delta the library applied to its view, in version
	 * order, right after it was applied (so the accessors already show
	 * the new state and synod_broker_metadata_version() is
	 * delta->version). delta->full: the view was replaced by this image
	 * (every topic, every partition this broker replicates); otherwise
	 * delta->topics are topics created, grown (partition count) or
	 * deleted (deleted: gone with all their partitions),
	 * delta->partitions are partitions whose full state was upserted and
	 * delta->removed are partitions this broker no longer replicates
	 * (removed from the view). Deltas that change nothing (a fetch that
	 * found no news) are not reported. */
	void (*metadata)(void *arg, struct synod_broker *b,
			 const Synod__Wire__MetadataDelta *delta);
	/* Optional. After each applied delta (right after metadata), the
	 * partitions where this broker's role changed (became leader,
	 * became follower, was removed) or whose leader epoch changed while
	 * it stayed leader or follower (a new leader term), in version
	 * order, t[0..n) sorted by topic id then partition. version: the
	 * view's version now. A full image is compared with the view it
	 * replaces. Not called when nothing changed. Act on leadership only
	 * while synod_broker_fenced() is 0: a fenced broker leads nothing
	 * (see Self-fencing). */
	void (*transitions)(void *arg, struct synod_broker *b, uint64_t version,
			    const struct synod_transition *t, size_t n);
};

/* Create (not started); draws a fresh incarnation id (UUID v4 from
 * getrandom). loop NULL: a private loop, run it with synod_broker_run().
 * Returns SYNOD_OK, SYNOD_EINVALID_ARGUMENT (no bootstrap or cluster id,
 * broker_id < 0, an endpoint without name or host), SYNOD_ENOMEM or
 * SYNOD_EUNKNOWN (no random bytes). */
int synod_broker_new(uv_loop_t *loop, const struct synod_broker_config *cfg,
		     const struct synod_broker_callbacks *cbs,
		     struct synod_broker **out);
/* Register and start heartbeating. SYNOD_EBUSY when started already, or
 * the error of the first send (then nothing was started). */
int synod_broker_start(struct synod_broker *b);
/* Begin a controlled shutdown (idempotent; also before start, then the
 * state becomes STOPPED at once). Nothing happens in FAILED. Returns
 * SYNOD_OK. */
int synod_broker_shutdown(struct synod_broker *b);
/* Stop everything (no unregistration: the session simply expires). No
 * callback runs after this. */
void synod_broker_close(struct synod_broker *b);
/* Private loop only: run until STOPPED or FAILED or close. Returns
 * SYNOD_OK when stopped or closed, the error code when FAILED,
 * SYNOD_EINVALID_ARGUMENT on a caller's loop or before start. After close
 * from a callback during run, the broker is freed before run returns;
 * otherwise call synod_broker_close() afterwards. */
int synod_broker_run(struct synod_broker *b);

enum synod_broker_state synod_broker_state(const struct synod_broker *b);
uint64_t synod_broker_epoch(const struct synod_broker *b); /* 0: none */
int32_t synod_broker_id(const struct synod_broker *b);
const char *synod_broker_incarnation(const struct synod_broker *b);
/* Controller's metadata version from the last heartbeat answer. */
uint64_t synod_broker_controller_version(const struct synod_broker *b);
/* Microseconds of the last heartbeat round trip (0: none yet). */
uint64_t synod_broker_last_rtt_us(const struct synod_broker *b);
/* Last error code and text (FAILED state, or the last refused request). */
int synod_broker_error(const struct synod_broker *b, const char **msg);
/* 1 when the broker must not act as a member of the cluster (lead or
 * serve partitions): no registration, the controller's last word was
 * "fenced", or the session may have ended (self-fencing: no heartbeat
 * acknowledged for the session timeout, checked against the clock at
 * each call). 0 when unfenced. Meaningful in SHUTTING_DOWN too. */
int synod_broker_fenced(const struct synod_broker *b);
/* 1 when the library fenced the broker itself (no acknowledged heartbeat
 * for the session timeout) and no answer came since. */
int synod_broker_self_fenced(const struct synod_broker *b);
/* uv_hrtime() at which the last heartbeat the controller acknowledged
 * (or the registration) was sent; 0 without an epoch. The session lasts
 * at least until this plus synod_broker_session_timeout() ms. */
uint64_t synod_broker_last_ack_ns(const struct synod_broker *b);
/* Ask the controller to fence this broker (fence 1: a failed log
 * directory, say; its leaderships move away, as for a session expiry) or
 * to stop fencing it (0: it is unfenced again once caught up). Every
 * heartbeat carries the wish; one goes out at once. SYNOD_OK, or
 * SYNOD_ESHUTTING_DOWN (closed, STOPPED, FAILED). */
int synod_broker_request_fence(struct synod_broker *b, int fence);
/* The heartbeat interval in use (configured, or the controller's; 0 before
 * the first registration answer when not configured) and the controller's
 * session timeout (0: not known yet). */
unsigned synod_broker_heartbeat_interval(const struct synod_broker *b);
unsigned synod_broker_session_timeout(const struct synod_broker *b);

/* ---- metadata view ---- */

/* The metadata version applied to the view (0: none yet). This is what
 * heartbeats report (see "Old controllers" above for the exception). */
uint64_t synod_broker_metadata_version(const struct synod_broker *b);
/* Topics in the view, and partitions in the view (this broker's, or
 * every partition with all_partitions). */
size_t synod_broker_topic_count(const struct synod_broker *b);
size_t synod_broker_partition_count(const struct synod_broker *b);
/* Call cb for every partition in the view, in no particular order. The
 * PartitionState points into the view (see Ownership); cb must not call
 * anything that changes the view or closes the broker. A non-zero return
 * from cb stops the walk and is returned; otherwise 0. */
typedef int (*synod_broker_partition_cb)(void *arg,
					 const Synod__Wire__PartitionState *p);
int synod_broker_partitions(const struct synod_broker *b,
			    synod_broker_partition_cb cb, void *arg);
/* The same for topics (TopicState.deleted is never set). */
typedef int (*synod_broker_topic_cb)(void *arg,
				     const Synod__Wire__TopicState *t);
int synod_broker_topics(const struct synod_broker *b, synod_broker_topic_cb cb,
			void *arg);
/* One partition: SYNOD_OK and *out filled (pointing into the view), or
 * SYNOD_ENOT_FOUND. topic_id: 16 bytes. */
int synod_broker_find_partition(const struct synod_broker *b,
				const uint8_t *topic_id, int32_t partition,
				Synod__Wire__PartitionState *out);

/* Result of synod_broker_alter_isr: code is SYNOD_OK or the controller's
 * refusal (NOT_LEADER, FENCED_LEADER_EPOCH, INVALID_UPDATE_VERSION,
 * INVALID_ISR, UNKNOWN_TOPIC, UNKNOWN_PARTITION, STALE_BROKER_EPOCH, ...)
 * or a client error (TIMEOUT, CONNECTION). state: the partition's new
 * state on SYNOD_OK (NULL if the answer had none, and always on errors);
 * valid during the call only. The library does not apply it to the view:
 * the view changes only in version order, when the controller pushes the
 * change. */
typedef void (*synod_broker_alter_cb)(void *arg, int code,
				      const Synod__Wire__PartitionState *state);
/* As the partition's leader, ask the active controller (ALTER_PARTITION,
 * api 16) to set its ISR to isr[0..n), quoting the leader and partition
 * epochs the broker knows. One request, sent at once, not retried (the
 * client follows NOT_CONTROLLER within the request timeout); any number
 * may be in flight. cb may be NULL. Returns SYNOD_OK (cb runs exactly
 * once, unless the broker is closed first: then never), or, without
 * calling cb: SYNOD_EINVALID_ARGUMENT (topic_id NULL, partition < 0, isr
 * NULL with n > 0), SYNOD_EUNKNOWN_BROKER (no epoch: not registered yet
 * or registering again), SYNOD_ESHUTTING_DOWN (closed, STOPPED or
 * FAILED), SYNOD_ENOMEM or SYNOD_EMESSAGE_TOO_LARGE. */
int synod_broker_alter_isr(struct synod_broker *b, const uint8_t *topic_id,
			   int32_t partition, uint32_t leader_epoch,
			   uint32_t partition_epoch, const int32_t *isr,
			   size_t n, synod_broker_alter_cb cb, void *arg);

/* One ISR change of a batch: as the arguments of synod_broker_alter_isr
 * (topic_id: 16 bytes; isr[0..n_isr)). */
struct synod_isr_change {
	const uint8_t *topic_id;
	int32_t partition;
	uint32_t leader_epoch, partition_epoch;
	const int32_t *isr;
	size_t n_isr;
};
/* Result of synod_broker_alter_isrs. code SYNOD_OK: the controller
 * answered, and results[0..n) has one result per change, in order: its
 * topic_id and partition, its code (as synod_broker_alter_isr's, plus
 * INVALID_REQUEST for a (topic, partition) listed twice: the later one)
 * and, with code 0, the partition's state in `state` (committed, or the
 * current one when nothing had to change). Otherwise code is the refusal
 * of the whole request (STALE_BROKER_EPOCH, UNKNOWN_BROKER,
 * INVALID_ARGUMENT: more changes than the controller's
 * max.partitions.per.request, ...) or a client error (TIMEOUT,
 * CONNECTION), with results NULL and n 0. Valid during the call only; the
 * view is not changed by it (pushes do). */
typedef void (*synod_broker_alter_batch_cb)(
    void *arg, int code,
    const Synod__Wire__AlterPartitionResult *const *results, size_t n);
/* ALTER_PARTITIONS (api 22): the changes items[0..n) in one request, each
 * checked by the controller as ALTER_PARTITION checks it; the changes
 * accepted are committed in as few entries as its page allows, and the
 * answer comes once all of them have committed (or failed). A change
 * whose answer was lost may be sent again as it was: quoting the
 * partition epoch before it and the ISR it made, it is answered OK with
 * the current state. The same contract as synod_broker_alter_isr: one
 * request, not retried by the library beyond the client's NOT_CONTROLLER
 * handling, any number in flight, cb may be NULL and runs exactly once
 * unless the broker is closed first. Returns SYNOD_OK, or without calling
 * cb: SYNOD_EINVALID_ARGUMENT (items NULL or n 0, a change with topic_id
 * NULL, partition < 0, or isr NULL with n_isr > 0), SYNOD_EUNKNOWN_BROKER,
 * SYNOD_ESHUTTING_DOWN, SYNOD_ENOMEM or SYNOD_EMESSAGE_TOO_LARGE. The
 * items are copied into the request before the call returns. */
int synod_broker_alter_isrs(struct synod_broker *b,
			    const struct synod_isr_change *items, size_t n,
			    synod_broker_alter_batch_cb cb, void *arg);

/* Counters since synod_broker_new, for monitoring. */
struct synod_broker_stats {
	uint64_t registrations;	     /* registration requests sent */
	uint64_t heartbeats;	     /* heartbeat requests sent */
	uint64_t heartbeats_ok;	     /* answered with status OK */
	uint64_t heartbeats_failed;  /* transport error, timeout, refusal */
	uint64_t heartbeats_skipped; /* due while one was in flight */
	uint64_t pushes;	     /* metadata push frames received */
	uint64_t pushes_applied;     /* ... applied to the view */
	uint64_t pushes_ignored;     /* ... stale, or during a fetch */
	uint64_t gaps;		     /* pushes that showed missing changes
					(or did not decode) */
	uint64_t fetches;	     /* METADATA_FETCH requests sent */
	uint64_t fetches_failed;     /* transport error, refusal, bad answer */
	uint64_t fetch_pages;	     /* pages of fetches answered in pages */
	uint64_t full_images;	     /* full images applied */
	/* Answers in pages applied at once (with the fetches since their
	 * version that settled them): see "Pages" above. */
	uint64_t staged_commits;
	uint64_t alters;      /* ALTER_PARTITION(S) requests sent */
	uint64_t self_fences; /* sessions the library ended itself */
	/* The Kafka listener (kafka_address): requests received, Metadata
	 * answered from the view, requests relayed to the active
	 * controller, and relayed ones that got no answer. */
	uint64_t kafka_requests;
	uint64_t kafka_local;
	uint64_t kafka_relayed;
	uint64_t kafka_relay_failed;
};
void synod_broker_stats(const struct synod_broker *b,
			struct synod_broker_stats *out);

/* ---- other brokers ----
 *
 * The view also holds every registered broker (this one included): id,
 * epoch, rack, endpoints, fenced, shutting down, as of the view's
 * version. A follower finds its partition leader's endpoints here, and a
 * broker answers Kafka's Metadata from it. Every METADATA_FETCH answer
 * brings the whole list (all_brokers: brokers no longer listed are
 * dropped; a full image replaces it like everything else), and the
 * controller pushes the new state of each broker whose registration
 * changes (registered, fenced, unfenced, shutting down, unregistered:
 * then `removed`, and it leaves the view). The BrokerStates handed out
 * point into the view (see Ownership): rack is NULL when none,
 * has_shutting_down is always set, removed never. Memory: about 100 bytes
 * per broker plus its strings, in an array sorted by id. */

/* Brokers in the view. */
size_t synod_broker_broker_count(const struct synod_broker *b);
/* Call cb for every broker in the view, by id. cb may only read (as for
 * synod_broker_partitions); a non-zero return stops the walk and is
 * returned, else 0. */
typedef int (*synod_broker_broker_cb)(void *arg,
				      const Synod__Wire__BrokerState *broker);
int synod_broker_brokers(const struct synod_broker *b,
			 synod_broker_broker_cb cb, void *arg);
/* Broker `id`: SYNOD_OK and *out filled (pointing into the view), or
 * SYNOD_ENOT_FOUND; SYNOD_EINVALID_ARGUMENT when out is NULL. */
int synod_broker_find_broker(const struct synod_broker *b, int32_t id,
			     Synod__Wire__BrokerState *out);

#endif
