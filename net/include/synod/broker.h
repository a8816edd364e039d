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
 *   fenced, one extra heartbeat per registration is sent at once when the
 *   first answer shows a newer controller version, so the broker reports
 *   that it caught up without waiting a whole interval.
 * - Requests go to the active controller (the client follows
 *   NOT_CONTROLLER). Transport errors, TIMEOUT, NOT_CONTROLLER, UNAVAILABLE
 *   and unknown refusals of a heartbeat change nothing: the next heartbeat
 *   goes out on schedule. A registration is retried with jittered
 *   exponential backoff (100 ms doubling to 2 s).
 * - STALE_BROKER_EPOCH or UNKNOWN_BROKER on a heartbeat: the broker
 *   registers again (state REGISTERING, then a new epoch).
 * - DUPLICATE_BROKER_REGISTRATION: retried for duplicate_retry_ms from the
 *   first such refusal, then FAILED. CLUSTER_ID_MISMATCH (from the
 *   connection handshake or a response), INVALID_REQUEST, INVALID_ARGUMENT
 *   and UNSUPPORTED_VERSION on a registration: FAILED at once.
 * - Request timeout: request_timeout_ms (default 5000). When the
 *   controller's session timeout (from the registration answer) is not
 *   above it, the broker uses half the session timeout instead, replacing
 *   its client (one reconnect) at the next scheduled heartbeat.
 * - Metadata version: until metadata pushes exist, the version reported in
 *   heartbeats is max(the caller's version, the controller's version from
 *   the last answer), so a new broker counts as caught up after one round
 *   trip. Callers that really apply metadata will get their own version
 *   reported once pushes exist.
 * - Shutdown: in FENCED or ACTIVE the state becomes SHUTTING_DOWN and a
 *   heartbeat with want_shutdown goes out at once (or right after the one
 *   in flight), then one per interval until the answer says should_shutdown
 *   (state STOPPED; heartbeats stop). A should_shutdown the broker did not
 *   ask for is ignored. STALE_BROKER_EPOCH or UNKNOWN_BROKER while shutting
 *   down means the registration is gone already: STOPPED. Before any epoch:
 *   STOPPED at once, unless a registration is in flight; then the state is
 *   SHUTTING_DOWN, and the answer decides (granted: shut down as above;
 *   refused or lost: STOPPED).
 *
 * Threading: one libuv loop, the caller's (pass it to synod_broker_new) or
 * a private one run by synod_broker_run(). All calls and callbacks happen
 * on that loop's thread. Ignore SIGPIPE (see synod/client.h). Callbacks may
 * call any function here, synod_broker_close() included.
 *
 * Ownership: the config's strings and arrays are copied. The broker owns
 * its client (one synod_client per broker, created with the cluster id so
 * that every connection's handshake checks it) and its timer;
 * synod_broker_close() releases them (asynchronously on a caller's loop:
 * the struct is freed once its handles are closed; never touch it after
 * close). Strings returned by the accessors belong to the broker.
 */
#ifndef SYNOD_BROKER_H
#define SYNOD_BROKER_H

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
	int32_t broker_id;	/* >= 0 */
	const char *rack;	/* optional */
	const struct synod_endpoint *endpoints;
	unsigned n_endpoints;
	/* 0: use the controller's broker.heartbeat.interval.ms. */
	unsigned heartbeat_interval_ms;
	unsigned request_timeout_ms; /* per request, default 5000 */
	/* A registration refused as DUPLICATE_BROKER_REGISTRATION is retried
	 * for this long (the old incarnation's session may be expiring)
	 * before the state becomes FAILED. Default 0: fail at once. */
	unsigned duplicate_retry_ms;
};

struct synod_broker;

struct synod_broker_callbacks {
	void *arg;
	/* Every state change, in order. */
	void (*state_changed)(void *arg, struct synod_broker *b,
			      enum synod_broker_state old_state,
			      enum synod_broker_state new_state);
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
/* The metadata version this broker has applied (reported in heartbeats).
 * Until metadata pushes exist the library reports max(this, the
 * controller's version from the last answer); callers that apply metadata
 * set it. */
void synod_broker_set_metadata_version(struct synod_broker *b, uint64_t v);
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
/* 1 when the controller's last word was "fenced" (or there is no
 * registration), 0 when unfenced. Meaningful in SHUTTING_DOWN too. */
int synod_broker_fenced(const struct synod_broker *b);
/* The heartbeat interval in use (configured, or the controller's; 0 before
 * the first registration answer when not configured) and the controller's
 * session timeout (0: not known yet). */
unsigned synod_broker_heartbeat_interval(const struct synod_broker *b);
unsigned synod_broker_session_timeout(const struct synod_broker *b);

/* Counters since synod_broker_new, for monitoring. */
struct synod_broker_stats {
	uint64_t registrations;	     /* registration requests sent */
	uint64_t heartbeats;	     /* heartbeat requests sent */
	uint64_t heartbeats_ok;	     /* answered with status OK */
	uint64_t heartbeats_failed;  /* transport error, timeout, refusal */
	uint64_t heartbeats_skipped; /* due while one was in flight */
};
void synod_broker_stats(const struct synod_broker *b,
			struct synod_broker_stats *out);

#endif
