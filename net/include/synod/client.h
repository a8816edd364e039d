/* synod/client.h - the Synod client library (public header).
 *
 * Brokers, synodctl, synod-sim and synod-bench talk to the controller
 * quorum through this library. It speaks the framed protocol described in
 * docs/protocol.md: length-prefixed frames with a fixed 12-byte header and
 * a protobuf-c body from net/synod.proto (header "synod.pb-c.h", which is
 * part of this API).
 *
 * Signals: a peer that dies mid-write raises SIGPIPE in the writing
 * process; programs using this library must ignore it
 * (signal(SIGPIPE, SIG_IGN)).
 *
 * Threading: a client runs on one libuv loop, either its own (pass loop =
 * NULL) or the caller's. Every function must be called on that loop's
 * thread; callbacks run on it. The blocking helper synod_client_call() is
 * only for clients with their own loop.
 *
 * Routing: requests that need the active controller go to the node the
 * client believes leads. A NOT_CONTROLLER answer carries the leader's
 * address; the client stops sending on that connection, waits for the
 * answers still due on it (none is lost; one that times out is waited for
 * no longer), then reconnects to the hint and
 * sends the request again: at once the first time, then with a jittered
 * backoff (25 ms doubling to backoff_max_ms) while hints keep leading to
 * nodes that are not the controller. A request that was answered
 * NOT_CONTROLLER more than max_redirects times completes with
 * SYNOD_ENOT_CONTROLLER (body NULL). UNAVAILABLE and SHUTTING_DOWN answers
 * and lost connections make the client try other bootstrap nodes with a
 * jittered exponential backoff until the request's deadline. A request may
 * thus reach the controller more than once. Every request carries the
 * client's random id and its correlation id, which a resend keeps: the
 * controller applies a write once and, for 10 minutes, answers a resend
 * with the first attempt's outcome (a delete that found nothing is
 * NOT_FOUND again, one that deleted is OK; docs/protocol.md section 8,
 * which lists the requests this covers). Without randomness for
 * the id, config writes are still idempotent, but a retried delete may
 * answer NOT_FOUND for its own first attempt.
 *
 * Connections: synod_client_generation() counts the connections that
 * became usable. Whenever it changes, later requests (and pushes) travel
 * on another connection, possibly to another node, even though no request
 * failed: pushes written to the old connection may be lost. The broker
 * library uses it to catch up after hidden reconnects and redirects.
 *
 * Names: addresses are numeric (IPv4, [IPv6]) or host names; names are
 * looked up with uv_getaddrinfo in libuv's thread pool at each connection
 * attempt, never on the loop; a lookup counts against connect_timeout_ms
 * (one that outlives it and then answers starts a connection with a full
 * connect_timeout_ms of its own).
 *
 * Liveness: with a request outstanding for liveness_timeout_ms and no byte
 * received for as long, or a request sent that long ago with no byte
 * received since (even if it has timed out: so also when
 * request_timeout_ms is not above liveness_timeout_ms), the node is
 * probed (NODE_STATUS); when neither
 * the probe's answer nor any other byte arrives within another
 * liveness_timeout_ms, the connection is reset (its unsent bytes
 * discarded, so they never reach that node late) and requests go to
 * another node. A large answer that arrives slowly is thus never dropped
 * as long as its bytes keep coming. A frame above max_frame closes the
 * connection; the request it answered completes with
 * SYNOD_EMESSAGE_TOO_LARGE (see synod_client_errmsg()).
 *
 * Ownership: the client copies the config strings. A request message is
 * packed before synod_client_send() returns; the caller keeps it. The body
 * passed to a response callback is valid only during the callback; the
 * message returned by synod_client_call() belongs to the caller, who frees
 * it with protobuf_c_message_free_unpacked(msg, NULL).
 */
#ifndef SYNOD_CLIENT_H
#define SYNOD_CLIENT_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "synod.pb-c.h"

/* Error codes: in Status.code on the wire, and returned by functions here.
 * 0 is success. Codes are stable; new ones are only appended. */
enum synod_error {
	SYNOD_OK = 0,
	SYNOD_EUNKNOWN = 1,		/* unexpected server error */
	SYNOD_ENOT_CONTROLLER = 2,	/* this node is not the active one */
	SYNOD_EINVALID_REQUEST = 3,	/* malformed frame or body */
	SYNOD_EUNSUPPORTED_VERSION = 4, /* frame or api version unknown */
	SYNOD_EUNSUPPORTED_API = 5,	/* api id unknown */
	SYNOD_EMESSAGE_TOO_LARGE = 6,	/* frame above the maximum size */
	SYNOD_ECLUSTER_ID_MISMATCH = 7, /* request for another cluster */
	SYNOD_EINVALID_CONFIG = 8,	/* config key or value not valid */
	SYNOD_ENOT_FOUND = 9,		/* no such config, node, ... */
	SYNOD_ETIMEOUT = 10,		/* deadline passed */
	SYNOD_EUNAVAILABLE = 11,	/* no quorum / no leader right now */
	SYNOD_EBUSY = 12,		/* another change is in progress */
	SYNOD_EINVALID_ARGUMENT = 13,	/* argument not acceptable */
	SYNOD_ESHUTTING_DOWN = 14,	/* server or client is closing */
	SYNOD_ECONNECTION = 15,		/* (client) could not reach any node */
	SYNOD_ENOMEM = 16,		/* (client) out of memory */
	SYNOD_ECANCELED = 17,		/* (client) request canceled by close */
	SYNOD_ECHANGE_FAILED = 18,	/* quorum change did not complete */
	SYNOD_ESTALE_BROKER_EPOCH =
	    19, /* broker epoch is not the current one */
	SYNOD_EDUPLICATE_BROKER_REGISTRATION =
	    20,			    /* another live incarnation */
	SYNOD_EUNKNOWN_BROKER = 21, /* broker id not registered */
	SYNOD_ETOPIC_ALREADY_EXISTS = 22,
	SYNOD_EINVALID_REPLICATION_FACTOR = 23,
	SYNOD_EINVALID_PARTITIONS = 24,
	SYNOD_EUNKNOWN_TOPIC = 25,
	SYNOD_ENOT_LEADER = 26,		    /* requester does not lead it */
	SYNOD_EFENCED_LEADER_EPOCH = 27,    /* leader epoch is stale */
	SYNOD_EINVALID_UPDATE_VERSION = 28, /* partition epoch is stale */
	SYNOD_EINVALID_ISR = 29,	    /* proposed ISR not acceptable */
	SYNOD_EINVALID_TOPIC = 30,	    /* topic name not valid */
	SYNOD_EELECTION_NOT_NEEDED = 31,    /* leader already the wanted one */
	SYNOD_EUNKNOWN_PARTITION = 32,
	SYNOD_EUNKNOWN_MEMBER_ID = 33,	    /* member id not in the group */
	SYNOD_EFENCED_MEMBER_EPOCH = 34,    /* member epoch not acceptable */
	SYNOD_EUNRELEASED_INSTANCE_ID = 35, /* instance id still in use */
	SYNOD_EFENCED_INSTANCE_ID = 36,	    /* instance id taken over */
	SYNOD_EGROUP_MAX_SIZE_REACHED = 37, /* group.consumer.max.size */
	SYNOD_EUNSUPPORTED_ASSIGNOR = 38,   /* assignor not enabled */
	SYNOD_EINVALID_REGULAR_EXPRESSION = 39, /* regex does not compile */
	SYNOD_EGROUP_ID_NOT_FOUND = 40,		/* no such group */
	SYNOD_ENON_EMPTY_GROUP = 41,		/* group still has members */
	SYNOD_EAUTHORIZATION_FAILED = 42, /* the principal may not do this */
	SYNOD_ERROR_COUNT
};

/* Stable name of a code ("NOT_CONTROLLER") and a sentence for humans. */
const char *synod_error_name(int code);
const char *synod_strerror(int code);

/* API ids (frame header). */
enum synod_api {
	SYNOD_API_METADATA = 1,
	SYNOD_API_NODE_STATUS = 2,
	SYNOD_API_CONFIG_SET = 3,
	SYNOD_API_CONFIG_GET = 4,
	SYNOD_API_CONFIG_LIST = 5,
	SYNOD_API_CONFIG_DELETE = 6,
	SYNOD_API_ADD_VOTER = 7,
	SYNOD_API_REMOVE_VOTER = 8,
	SYNOD_API_TRANSFER_LEADER = 9,
	SYNOD_API_BROKER_REGISTER = 10,
	SYNOD_API_BROKER_HEARTBEAT = 11,
	SYNOD_API_BROKER_UNREGISTER = 12,
	SYNOD_API_BROKER_LIST = 13,
	SYNOD_API_METADATA_PUSH = 14, /* push frames, controller to broker */
	SYNOD_API_METADATA_FETCH = 15,
	SYNOD_API_ALTER_PARTITION = 16,
	SYNOD_API_CREATE_TOPICS = 17,
	SYNOD_API_DELETE_TOPICS = 18,
	SYNOD_API_CREATE_PARTITIONS = 19,
	SYNOD_API_DESCRIBE_TOPICS = 20,
	SYNOD_API_ELECT_LEADERS = 21,
	SYNOD_API_ALTER_PARTITIONS = 22,
	SYNOD_API_GROUP_HEARTBEAT = 23,
	SYNOD_API_GROUP_ASSIGNMENT_PUSH = 24, /* push frames to members */
	SYNOD_API_GROUP_LIST = 25,
	SYNOD_API_GROUP_DESCRIBE = 26,
	SYNOD_API_GROUP_DELETE = 27,
	SYNOD_API_GROUP_REMOVE_MEMBER = 28,
	SYNOD_API_QUERY = 29,	      /* read-only SQL (docs/operations.md) */
	SYNOD_API_KAFKA_FORWARD = 30, /* a Kafka request (docs/kafka.md) */
	SYNOD_API_COUNT
};

/* Config scopes (ConfigEntry.scope; resource: the topic name, the
 * consumer group id, none for the cluster). */
enum {
	SYNOD_SCOPE_CLUSTER = 0,
	SYNOD_SCOPE_TOPIC = 1,
	SYNOD_SCOPE_GROUP = 2,
	SYNOD_SCOPE_PRINCIPAL = 3 /* grants of a TLS principal (security.md) */
};

#define SYNOD_DEFAULT_MAX_FRAME (16u << 20)

struct synod_client_config {
	const char *bootstrap;	      /* "host:port,host:port" (required) */
	const char *cluster_id;	      /* expected cluster id, or NULL */
	unsigned request_timeout_ms;  /* default 10000 */
	unsigned connect_timeout_ms;  /* per attempt, default 1000 */
	unsigned backoff_max_ms;      /* default 1000 */
	unsigned liveness_timeout_ms; /* silence before a node is probed with
					 NODE_STATUS, and the probe's own
					 timeout; default 1000 */
	size_t max_frame;	      /* default SYNOD_DEFAULT_MAX_FRAME */
	int pinned; /* 1: talk only to the first bootstrap node, never
		       follow NOT_CONTROLLER (per-node status) */
	unsigned max_redirects; /* NOT_CONTROLLER answers one request may
				   follow; default 10 */
	int fail_fast;		/* 1: when a connection attempt fails (refused,
				   unreachable), the waiting requests fail at once with
				   SYNOD_ECONNECTION instead of waiting for the node
				   until their timeout (probes of one node) */
	/* TLS (docs/security.md): on when tls_ca_file is set. The nodes'
	 * certificates must chain to that CA bundle (PEM); tls_cert_file and
	 * tls_key_file (PEM, both or neither) are this client's identity,
	 * which nodes that require client certificates need. Read during
	 * synod_client_new() (a later change of the files needs a new
	 * client). TLS 1.3 unless tls_allow_tls12. */
	const char *tls_ca_file;
	const char *tls_cert_file;
	const char *tls_key_file;
	int tls_allow_tls12;
	/* Optional: why synod_client_new() failed (a file it could not
	 * load, ...), NUL-terminated. Not kept after the call. */
	char *errmsg;
	size_t errmsg_size;
};

/* Counters since synod_client_new. */
struct synod_client_stats {
	uint64_t connects;	 /* connection attempts */
	uint64_t connections;	 /* ... that became usable */
	uint64_t redirects;	 /* NOT_CONTROLLER answers to to_leader
				    requests (the one past the limit too) */
	uint64_t redirect_limit; /* requests failed after max_redirects */
	uint64_t liveness_drops; /* connections dropped as silent */
	uint64_t bad_frames;	 /* oversized or malformed frames */
};

struct synod_client;

/* Response callback: status is SYNOD_OK when a response arrived (its own
 * Status may still carry an error: decode the body), or a client error
 * (TIMEOUT, CONNECTION, CANCELED, ...) with body NULL. */
typedef void (*synod_response_cb)(void *arg, int status, const uint8_t *body,
				  size_t len);

/* Create a client. loop NULL: the client makes and owns a loop. */
int synod_client_new(uv_loop_t *loop, const struct synod_client_config *cfg,
		     struct synod_client **out);
/* Close: pending requests complete with SYNOD_ECANCELED; no other
 * callback runs afterwards. Safe from any of the client's callbacks.
 * Caller's loop: the client is freed once its handles closed (a later
 * loop iteration). Own loop: freed before returning, except when called
 * from a callback or during synod_client_call(): then it is freed when
 * synod_client_call() returns, or, if the caller runs the loop itself, by
 * calling synod_client_close() once more after uv_run() returned. */
void synod_client_close(struct synod_client *c);
/* Last error text of this client. */
const char *synod_client_errmsg(const struct synod_client *c);
uv_loop_t *synod_client_loop(struct synod_client *c);

/* Send a request. `to_leader`: 1 routes to the active controller (following
 * NOT_CONTROLLER); 0 accepts any node. On error, cb is never called. Safe
 * from a response callback (a retry): a request sent there is never
 * completed by the failure that called it back. */
int synod_client_send(struct synod_client *c, uint16_t api,
		      const ProtobufCMessage *req, int to_leader,
		      synod_response_cb cb, void *arg);

/* Blocking call on a client with its own loop: sends, runs the loop until
 * the answer, decodes it with `resp_desc` into *resp. Returns SYNOD_OK, a
 * client error, or SYNOD_EINVALID_REQUEST when the body does not decode.
 * The server's Status is in the decoded message. SYNOD_EBUSY from a
 * callback (the loop is running). If a callback closed the client
 * meanwhile, it is freed before this returns. */
int synod_client_call(struct synod_client *c, uint16_t api,
		      const ProtobufCMessage *req, int to_leader,
		      const ProtobufCMessageDescriptor *resp_desc,
		      ProtobufCMessage **resp);

/* Frames of kind PUSH (the active controller's metadata pushes to
 * brokers) are passed to this callback with their api and body (valid
 * during the call only). Without one they are dropped. */
typedef void (*synod_push_cb)(void *arg, uint16_t api, const uint8_t *body,
			      size_t len);
void synod_client_on_push(struct synod_client *c, synod_push_cb cb, void *arg);

/* Changes request_timeout_ms (0: the default) for the requests sent from
 * now on; requests already waiting keep their deadlines. A
 * connect_timeout_ms above the new value is lowered to it. The broker and
 * consumer libraries use it when the controller's session is shorter than
 * the request timeout they were configured with: no reconnect, and no
 * request is cancelled. */
void synod_client_set_request_timeout(struct synod_client *c, unsigned ms);

/* Address (host:port) of the node the client is connected to, or NULL. */
const char *synod_client_peer(const struct synod_client *c);
/* Connections that became usable so far (see Connections above). */
uint64_t synod_client_generation(const struct synod_client *c);
void synod_client_stats(const struct synod_client *c,
			struct synod_client_stats *out);

#endif
