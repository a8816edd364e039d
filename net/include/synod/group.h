/* synod/group.h - a consumer group member (public header).
 *
 * A struct synod_consumer is one consumer's membership in one consumer
 * group, the member side of KIP-848's protocol over GROUP_HEARTBEAT (api
 * 23; docs/groups.md): it joins, heartbeats, receives the partitions the
 * active controller assigns it (in heartbeat answers and in
 * GroupAssignmentPush frames, api 24), gives up the partitions it must
 * revoke once the application says it is done with them, and leaves. The
 * controller computes the assignment (server-side assignors); the
 * application only ever sees two sets: partitions it may use from now on
 * (assigned) and partitions it must stop using (revoking).
 *
 * Behaviour in detail:
 * - States: JOINING until the first join is answered, then RECONCILING or
 *   STABLE (see enum synod_consumer_state); FENCED while rejoining after
 *   the membership was lost; LEAVING, LEFT after synod_consumer_leave();
 *   FAILED on a fatal refusal. Every change is reported through
 *   state_changed, in order; close reports nothing.
 * - Join: member epoch 0, the consumer's member id (a random UUID chosen
 *   by synod_consumer_new, or the one a controller that chose its own
 *   answered the last join with: every join of this consumer, rejoins
 *   and retries, is the same member to the controller, which leaves no
 *   ghost holding partitions; docs/groups.md 2), and every field: instance id
 *   (static membership), rack, client id, rebalance timeout,
 *   subscription (topic names, always present, possibly empty, and the
 *   regex, "" when there is none), server assignor (when configured) and
 *   an empty owned set. A failed join is retried with jittered
 *   exponential backoff (100 ms doubling to 2 s).
 * - Heartbeats: at most one request (join, heartbeat or leave) is in
 *   flight. The next heartbeat goes out heartbeat_interval_ms (from the
 *   controller's answers; 5000 until one says) after the last answer; one
 *   that falls due while a request is in flight is skipped. A steady
 *   heartbeat carries only group id, member id and member epoch, plus the
 *   owned set whenever it changed since the last acknowledged heartbeat
 *   (with the version of the assignment it was computed from, so that
 *   the controller counts a newer assignment, maybe still on its way, as
 *   owned).
 *   A "full" heartbeat (every field again, owned included) goes out after
 *   any failed or refused request, after the connection changed (a
 *   reconnect or redirect: pushes may have been lost; the answer to a
 *   full request always carries the assignment), and after
 *   synod_consumer_subscribe(). One goes out at once (not at the next
 *   interval) when the connection changed during a request, after a
 *   subscription change, and when the last outstanding revocation was
 *   completed (so the controller learns at once that the partitions are
 *   gone).
 * - Assignments: an answer's assignment is applied unless its version is
 *   below the last one applied; a push is applied only when it names
 *   this group and member id, its member epoch is not below the
 *   consumer's (a higher one is adopted: the controller moved the member
 *   forward), and its version is above the last applied one (older
 *   pushes are ignored: never go back). Pushes are ignored while not a
 *   member and while leaving. Applying an assignment A: the owned
 *   partitions not in A (and not already being revoked) are reported in
 *   one revoking call with a fresh token; the partitions of A not owned
 *   are reported in one assigned call, right after, without waiting for
 *   the revocation (the controller never assigns a partition before its
 *   previous owner reported it gone, so what it lists is usable now).
 *   Partitions being revoked stay owned (and are reported as owned to the
 *   controller) until synod_consumer_revoke_done(token); if a later
 *   assignment lists one of them again, it is assigned again (a new
 *   assigned call) after that revocation completed.
 * - Lost partitions: when the membership ends without a revocation
 *   (UNKNOWN_MEMBER_ID or FENCED_MEMBER_EPOCH from the controller,
 *   self-fencing, FENCED_INSTANCE_ID, any other fatal refusal), every
 *   owned partition, those being revoked included, is reported in one
 *   revoking call with token SYNOD_CONSUMER_LOST. The library does not
 *   wait for anything: the controller has already given them (or will
 *   give them when the session ends) to other members, so the
 *   application must stop using them at once and may not commit for
 *   them. Tokens of revocations still outstanding become invalid.
 * - Errors: UNKNOWN_MEMBER_ID or FENCED_MEMBER_EPOCH: the partitions are
 *   lost, the state becomes FENCED and the consumer rejoins (epoch 0, the
 *   same member id and instance id): at once the first time, with
 *   backoff if it is fenced again before a heartbeat of the new
 *   membership was acknowledged. UNRELEASED_INSTANCE_ID on a join (the
 *   previous holder of the instance id may still be in its session):
 *   the join is retried with backoff, for unreleased_retry_ms (default:
 *   forever), then FAILED. FENCED_INSTANCE_ID, GROUP_MAX_SIZE_REACHED,
 *   UNSUPPORTED_ASSIGNOR, INVALID_REQUEST, INVALID_REGULAR_EXPRESSION,
 *   INVALID_ARGUMENT, UNSUPPORTED_VERSION and CLUSTER_ID_MISMATCH (from a
 *   connection handshake or an answer): the partitions are lost and the
 *   state becomes FAILED (synod_consumer_error() says why). Anything else
 *   (transport errors, TIMEOUT, NOT_CONTROLLER after the client's
 *   redirects, UNAVAILABLE once the client's own retries reached the
 *   request's deadline, UNSUPPORTED_API, malformed answers): nothing
 *   changes; the next heartbeat (a full one) goes out at a random point
 *   in the second half of the next interval (a join: after its backoff).
 * - Self-fencing: the controller ends a member's session when no
 *   heartbeat arrived for its session timeout. The consumer counts from
 *   the send time of the last heartbeat the controller acknowledged
 *   (which is no later than its arrival): when session_timeout_ms passed
 *   since then without another acknowledgement, the partitions are lost
 *   (revoking with SYNOD_CONSUMER_LOST), the state becomes FENCED and it
 *   rejoins; an answer to a request sent before is then ignored. The
 *   timeout is the configured session_timeout_ms, lowered to the group's
 *   as soon as an answer says it (GroupHeartbeatResponse
 *   .session_timeout_ms), so it never exceeds the controller's.
 *   synod_consumer_session_expired() checks the clock itself, for a
 *   process whose loop could not run (stopped, swapped out).
 * - Leave: synod_consumer_leave() revokes every owned partition (one
 *   revoking call with a token; state LEAVING), keeps heartbeating while
 *   the application works, and once every revocation is done sends the
 *   leave (group, member id, instance id when static): member epoch -1,
 *   or -2 for a static member (instance id set: "will come back"; the
 *   controller keeps its assignment for the next consumer with that
 *   instance id, until the session ends). The state
 *   becomes LEFT when that request completes, whatever its outcome
 *   (answer, refusal, request timeout). Assignments are ignored while
 *   leaving. Without a membership the state becomes LEFT at once (or,
 *   with a join in flight, after its answer: a granted join is left at
 *   once without applying its assignment).
 *
 * Threading: one libuv loop, the caller's (pass it to synod_consumer_new)
 * or a private one run by synod_consumer_run(). All calls and callbacks
 * happen on that loop's thread. Ignore SIGPIPE (see synod/client.h).
 * Callbacks run only from the loop (timers, answers, pushes), never
 * inside a call the application makes to this library: what a call
 * causes (a revocation's report, the leave's revoking call, state
 * changes) happens from the next loop iteration on. Callbacks may call
 * any function here, synod_consumer_close() included, and
 * synod_consumer_revoke_done() from within the revoking call itself.
 *
 * Ownership: the config's strings and arrays are copied. The consumer
 * owns its client (one synod_client per consumer, created with the
 * cluster id, so every connection's handshake checks it) and its timers;
 * synod_consumer_close() releases them (asynchronously on a caller's
 * loop: the struct is freed once its handles are closed; never touch it
 * after close). The partition arrays passed to assigned and revoking,
 * and the topic names they point to, belong to the library and are valid
 * during the call only; copy what you keep (struct synod_tp copies by
 * value, except the name). Strings returned by the accessors belong to
 * the consumer: the member id until the membership changes, the error
 * text until the next error.
 *
 * Close: no callback runs after synod_consumer_close(); it does not
 * leave the group (the session expires on the controller, and the
 * partitions stay with the member until then): call synod_consumer_leave()
 * and wait for LEFT for a clean exit.
 *
 * Memory: 32 bytes (sizeof struct synod_tp) per partition in each of two
 * sorted arrays, the owned set and the last assignment (so about 64 bytes
 * per partition held, up to twice that while an array has grown by
 * doubling), plus each topic's name once. Revocations in progress copy
 * their partitions once more until done.
 */
#ifndef SYNOD_GROUP_H
#define SYNOD_GROUP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "synod/client.h"

enum synod_consumer_state {
	SYNOD_CONSUMER_JOINING = 0, /* no membership yet (first join) */
	SYNOD_CONSUMER_RECONCILING, /* a member; a revocation is outstanding
				       or its completion not yet
				       acknowledged by the controller */
	SYNOD_CONSUMER_STABLE,	    /* a member; every assignment applied
				       and every revocation reported */
	SYNOD_CONSUMER_FENCED,	    /* the membership was lost (fenced by
				       the controller or self-fenced): owns
				       nothing, rejoining */
	SYNOD_CONSUMER_LEAVING,	    /* synod_consumer_leave() in progress */
	SYNOD_CONSUMER_LEFT,	    /* left (or never joined); final */
	SYNOD_CONSUMER_FAILED,	    /* fatal refusal; final; see
				       synod_consumer_error() */
};

/* "joining", "reconciling", "stable", "fenced", "leaving", "left",
 * "failed"; "unknown" for other values. Static strings. */
const char *synod_consumer_state_name(enum synod_consumer_state s);

/* One partition: topic id, topic name when the controller named it
 * (NULL otherwise), partition number. */
struct synod_tp {
	uint8_t topic_id[16];
	const char *topic;
	int32_t partition;
};

/* The revoking callback's token for lost partitions (nothing to call
 * back; synod_consumer_revoke_done() ignores it). */
#define SYNOD_CONSUMER_LOST 0u

struct synod_consumer_config {
	const char *bootstrap;	/* controllers' client addresses (required) */
	const char *cluster_id; /* required */
	/* TLS to the controllers (synod/client.h, docs/security.md): on
	 * when tls_ca_file is set; the files are read when the library makes
	 * its client. Copied. */
	const char *tls_ca_file;
	const char *tls_cert_file;
	const char *tls_key_file;
	const char *group_id; /* required, 1 to 255 bytes */
	/* Static membership: a name that stays the same across restarts of
	 * this consumer (optional). */
	const char *instance_id;
	const char *rack;      /* optional */
	const char *client_id; /* optional, for operators */
	/* The subscription: topic names and/or a POSIX extended regular
	 * expression (regcomp REG_EXTENDED, as the controller compiles it;
	 * matched against whole topic names only if anchored). At least one
	 * of them. */
	const char *const *topics;
	size_t n_topics;
	const char *topic_regex;
	/* "uniform", "range", ...; NULL: the group's default. */
	const char *server_assignor;
	/* How long the controller waits for a revocation before fencing
	 * the member (Kafka's max.poll.interval.ms). Default 300000. */
	unsigned rebalance_timeout_ms;
	/* The session timeout the consumer assumes for self-fencing until
	 * an answer gives the group's (then the lower of the two). Default
	 * 45000 (group.consumer.session.timeout.ms's default). */
	unsigned session_timeout_ms;
	/* Per request; default 5000, at most half the session timeout
	 * (lowered with it when an answer gives a shorter group session:
	 * later requests take the new value, no reconnect). */
	unsigned request_timeout_ms;
	/* How long a join refused as UNRELEASED_INSTANCE_ID is retried
	 * before FAILED. 0 (default): forever. */
	unsigned unreleased_retry_ms;
	/* Largest frame accepted (0: the client library's default). */
	size_t max_frame;
	/* Silence before a connection is probed (0: the client's
	 * default). */
	unsigned liveness_timeout_ms;
};

struct synod_consumer;

struct synod_consumer_callbacks {
	void *arg;
	/* Every state change, in order. */
	void (*state_changed)(void *arg, struct synod_consumer *c,
			      enum synod_consumer_state old_state,
			      enum synod_consumer_state new_state);
	/* Partitions newly usable, tps[0..n) sorted by topic id then
	 * partition (n > 0). They are owned from this call on. */
	void (*assigned)(void *arg, struct synod_consumer *c,
			 const struct synod_tp *tps, size_t n);
	/* Partitions to give up, tps[0..n) sorted (n > 0). token != 0: stop
	 * using them (commit, flush), then call
	 * synod_consumer_revoke_done(c, token), now or later (any loop
	 * turn, any callback); the library reports them gone to the
	 * controller only then, and the controller hands them to another
	 * member only then. The rebalance timeout bounds how long this may
	 * take. token == SYNOD_CONSUMER_LOST: already gone (see "Lost
	 * partitions"): stop at once, nothing to call back. NULL: every
	 * revocation completes at once. */
	void (*revoking)(void *arg, struct synod_consumer *c,
			 const struct synod_tp *tps, size_t n, uint64_t token);
	/* Optional, informational: every failed or refused request, every
	 * malformed answer or push, and the error that made the state
	 * FAILED (code and text, as synod_consumer_error() then returns
	 * them). The library acts on each as described above. */
	void (*error)(void *arg, struct synod_consumer *c, int code,
		      const char *msg);
};

/* Create (not started). loop NULL: a private loop, run it with
 * synod_consumer_run(). Returns SYNOD_OK, SYNOD_EINVALID_ARGUMENT (no
 * bootstrap, cluster id or group id, a group id above 255 bytes, no
 * subscription, an empty or NULL topic name, a regex that does not
 * compile), SYNOD_ENOMEM or SYNOD_EUNKNOWN (no random bytes). */
int synod_consumer_new(uv_loop_t *loop, const struct synod_consumer_config *cfg,
		       const struct synod_consumer_callbacks *cbs,
		       struct synod_consumer **out);
/* Send the join. SYNOD_EBUSY when started already (or LEFT, FAILED), or
 * the error of the first send (then nothing was started). */
int synod_consumer_start(struct synod_consumer *c);
/* The application is done with the partitions of revoking call `token`.
 * SYNOD_OK; SYNOD_ENOT_FOUND for SYNOD_CONSUMER_LOST, a token done
 * already, or one made invalid by a lost membership; SYNOD_ESHUTTING_DOWN
 * after close. The partitions stop being owned now
 * (synod_consumer_owned()); the controller is told from the next loop
 * iteration, at once when no other revocation is outstanding. */
int synod_consumer_revoke_done(struct synod_consumer *c, uint64_t token);
/* Replace the subscription (copied; same rules as the config's). A full
 * heartbeat carries it from the next loop iteration. SYNOD_OK,
 * SYNOD_EINVALID_ARGUMENT, SYNOD_ENOMEM (nothing changed), or
 * SYNOD_ESHUTTING_DOWN (closed, leaving, LEFT, FAILED). */
int synod_consumer_subscribe(struct synod_consumer *c,
			     const char *const *topics, size_t n_topics,
			     const char *topic_regex);
/* Leave the group (see "Leave"). Idempotent; nothing happens after
 * close, in LEFT and in FAILED. Returns SYNOD_OK. */
int synod_consumer_leave(struct synod_consumer *c);
/* Stop everything (no leave: see "Close"). No callback runs after this. */
void synod_consumer_close(struct synod_consumer *c);
/* Private loop only: run until LEFT or FAILED or close. Returns SYNOD_OK
 * when left or closed, the error code when FAILED,
 * SYNOD_EINVALID_ARGUMENT on a caller's loop or before start. After close
 * from a callback during run, the consumer is freed before run returns;
 * otherwise call synod_consumer_close() afterwards. */
int synod_consumer_run(struct synod_consumer *c);

enum synod_consumer_state synod_consumer_state(const struct synod_consumer *c);
/* The member id the controller gave ("" without a membership). */
const char *synod_consumer_member_id(const struct synod_consumer *c);
/* The member epoch (0 without a membership). */
int32_t synod_consumer_member_epoch(const struct synod_consumer *c);
/* The heartbeat interval in use (the controller's, or 5000 before its
 * first answer). */
unsigned synod_consumer_heartbeat_interval(const struct synod_consumer *c);
/* Version (log index) of the last assignment applied (0: none). */
uint64_t synod_consumer_assignment_version(const struct synod_consumer *c);
/* The partitions owned now (assigned, including those being revoked),
 * sorted by topic id then partition: *out points into the consumer and
 * is valid until the owned set next changes (in a loop callback, or in
 * synod_consumer_revoke_done()). Returns the count. */
size_t synod_consumer_owned(const struct synod_consumer *c,
			    const struct synod_tp **out);
/* Revocations handed to the application and not yet done. */
size_t synod_consumer_revocations_outstanding(const struct synod_consumer *c);
/* 1 when the member may no longer trust its partitions: a membership
 * exists and no heartbeat was acknowledged for session_timeout_ms
 * (checked against the clock at each call, ahead of the timer that
 * self-fences). */
int synod_consumer_session_expired(const struct synod_consumer *c);
/* Last error code and text (FAILED state, or the last failure). */
int synod_consumer_error(const struct synod_consumer *c, const char **msg);

/* Counters since synod_consumer_new, for monitoring. */
struct synod_consumer_stats {
	uint64_t joins;		  /* join requests sent */
	uint64_t heartbeats;	  /* other heartbeats sent (leave too) */
	uint64_t full_heartbeats; /* ... of them full */
	uint64_t answers_ok;	  /* requests answered OK */
	uint64_t failures;	  /* transport errors, refusals, bad answers */
	uint64_t skipped;	  /* heartbeats due while one was in flight */
	uint64_t pushes;	  /* assignment push frames received */
	uint64_t pushes_applied;  /* ... applied */
	uint64_t pushes_ignored;  /* ... old, other member, malformed */
	uint64_t assignments;	  /* assignments applied (answers, pushes) */
	uint64_t revocations;	  /* revoking calls with a token */
	uint64_t losses;	  /* revoking calls with SYNOD_CONSUMER_LOST */
	uint64_t fences;	  /* memberships ended by the controller */
	uint64_t self_fences;	  /* ... by the session timer */
};
void synod_consumer_stats(const struct synod_consumer *c,
			  struct synod_consumer_stats *out);

#endif
