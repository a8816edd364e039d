/* controller/server_int.h - what the server offers the modules' request
 * handlers (controller/module.h) and the publisher: connections, waiting
 * requests, answers, status. Internal to the daemon.
 *
 * Ownership: a struct pending holds a reference on its connection and owns
 * the decoded request in `msg`; srv_pending_free() releases both. An answer
 * to a connection that closed meanwhile is dropped.
 */
#ifndef SYNOD_SERVER_INT_H
#define SYNOD_SERVER_INT_H

#include "conn.h"
#include "node.h"
#include "acl.h"
#include "server.h"

/* A grant's groups value: a config value (at most 1024 bytes) + NUL. */
#define GRANT_GROUPS_MAX 1025
#include "synod.pb-c.h"

/* Back-pressure per connection: stop reading while this many requests
 * wait for raft, resume below half; close a peer that does not read its
 * responses once this much output is queued. */
#define MAX_OUTSTANDING 4096
#define MAX_OUTPUT_BYTES (64u << 20)

struct sconn {
	struct conn conn;
	struct server *server;
	struct sconn *next, *prev;
	int refs;
	int closed;
	uint64_t seq; /* accept order, from 1 (0: an internal request) */
	unsigned outstanding; /* requests waiting for raft */
	/* Limits (server.c): the source address, counted in its table while
	 * `served`; read-buffer bytes counted in server->rbuf_bytes; waiting
	 * for that budget (`blocked`, with the growth it asked for); what the
	 * 1 s timer saw: bytes read, last activity, since when a frame is
	 * incomplete (and frames_in then), since when output is above
	 * slow_reader_bytes. */
	uint8_t addr[16];
	int served;
	size_t rbuf_counted;
	int blocked;
	size_t blocked_want;
	struct sconn *bnext, *bprev;
	uint64_t seen_bytes_in;
	uint64_t active_ms;
	int partial;
	uint64_t partial_ms, partial_frames;
	int slow;
	uint64_t slow_ms;
	uint64_t accepted_ms; /* the TLS handshake's deadline runs from it */
	int plaintext;	      /* came through plaintext_client_address */
	/* The principal's grant, read from the store at acl_gen (0: not
	 * read yet; the server's acl_gen starts at 1). */
	uint64_t acl_gen;
	struct acl_grant grant;
	char *grant_groups; /* GRANT_GROUPS_MAX bytes, allocated when read */
	/* An internal call (srv_call): no socket; the answer goes to
	 * `answer` once. `local_read`: linearizable reads are served from
	 * this node's store (srv_check_read, srv_read). */
	int internal;
	int local_read;
	void (*answer)(void *arg, const struct frame_header *h,
		       const ProtobufCMessage *resp);
	void *answer_arg;
};

/* A request waiting for raft. */
struct pending {
	struct waiter w;
	struct sconn *sc;
	struct frame_header h;
	void *msg; /* decoded request, freed with the pending */
	const ProtobufCMessageDescriptor *desc;
};

/* Makes p's first proposal exactly-once when its request carries a client
 * id (FRAME_F_CLIENT_ID): a resend of a request already applied gets
 * STORE_R_DUPLICATE for its records (or the first apply's last failure,
 * store.h) instead of applying them again. Only
 * for handlers that propose once with p->w. */
void srv_pending_once(struct pending *p);
/* The same for a waiter of the handler's own (w proposes for the request
 * h; h must outlive the proposal: the pending's header). */
void srv_waiter_once(struct waiter *w, const struct frame_header *h);
/* 1 when h carries a client id and that request was applied before with
 * none of its records failing (a resend after a lost answer, perhaps to a
 * new controller): a handler whose checks would now refuse it (the topic
 * is gone, it has the partitions already) answers as the first attempt
 * did instead. 0 otherwise, store errors included. A request one of whose
 * records failed at apply (refused, stale, not found) gives 0: the
 * handler checks (which may answer first) and proposes again, and apply
 * answers the resend with that failure (store.h, STORE_R_DUPLICATE), so
 * it is never answered OK for what did not happen. */
int srv_resend_applied(struct store *st, const struct frame_header *h);
/* *out = what apply remembers of h's request (all zero without a client
 * id, or on a store error); returns out->seen. CREATE_TOPICS then asks
 * which topics its first attempt created (store_client_request_created). */
int srv_resend_lookup(struct store *st, const struct frame_header *h,
		      struct store_client_request *out);

/* A request handler (a module's api table entry). */
typedef void (*srv_handler)(void *self, struct sconn *sc,
			    const struct frame_header *h,
			    ProtobufCMessage *msg);
/* For requests answered from memory (heartbeats): run fn(self, sc, h, msg)
 * now when this node's leadership lease holds (node_lease_valid) or when
 * it is not the active controller (fn answers the refusal); otherwise
 * once a barrier commits (fn then runs without another check, in the
 * loop turn that confirms it: the waiter is marked `now`, not queued
 * behind other reads, whose answers may take some turns), or answer
 * the barrier's failure (NOT_CONTROLLER). A deposed controller that has
 * not noticed yet thus never answers from its stale state. fn owns msg,
 * as a handler does. */
void srv_with_lease(struct node *n, srv_handler fn, void *self,
		    struct sconn *sc, const struct frame_header *h,
		    ProtobufCMessage *msg);

/* Reads (DESCRIBE_TOPICS, BROKER_LIST, CONFIG_GET/LIST): the active
 * controller's check, and its read barrier (node_read: w's callback runs
 * once the barrier commits). For an internal call that asked for a local
 * read (a follower's HTTP /v1 answer), the check passes and w's callback
 * runs at once, before srv_read returns, over this node's store. */
int srv_check_read(struct sconn *sc);
int srv_read(struct sconn *sc, struct waiter *w);

/* An internal call: run one request through the registry as if an
 * authorized client sent it (the caller checked the principal): the API's
 * newest version (this build's messages), the request packed and decoded as a
 * frame's would be, the handler run. Its answer (the API's response, or a
 * Status-only AnyResponse) is passed to answer(arg, h, resp) once, perhaps
 * before srv_call returns; resp is valid during the call only. Returns the
 * call, to be released with srv_call_release() (at any time: after the answer,
 * or before to drop it, then answer is never called), or NULL when out of
 * memory (answer not called). */
struct sconn *srv_call(struct server *s, uint16_t api,
		       const ProtobufCMessage *req, int local_read,
		       void (*answer)(void *arg, const struct frame_header *h,
				      const ProtobufCMessage *resp),
		       void *arg);
void srv_call_release(struct sconn *sc);

void srv_conn_ref(struct sconn *sc);
void srv_conn_unref(struct sconn *sc);
void srv_send(struct sconn *sc, const struct frame_header *req,
	      const ProtobufCMessage *body);
/* Fill a Status; with NOT_CONTROLLER/UNAVAILABLE add the leader hint
 * (leader[] must outlive the send). */
void srv_fill_status(struct server *s, Synod__Wire__Status *st, int code,
		     const char *msg, uint64_t *leader_id, char *leader,
		     size_t leader_size);
/* Answer with a Status-only body. */
void srv_reply_status(struct sconn *sc, const struct frame_header *h, int code,
		      const char *msg);
/* A request that will be answered later (takes a connection reference and
 * ownership of msg). NULL when out of memory. */
struct pending *srv_pending_new(struct sconn *sc, const struct frame_header *h,
				void *msg,
				const ProtobufCMessageDescriptor *desc,
				waiter_cb done);
void srv_pending_free(struct pending *p);
/* NODE_STATUS: every module's fields (module.h, status) and the client
 * port's counters into *cc, set as m->connections (cc must outlive the
 * send). */
void srv_status(struct server *s, Synod__Wire__NodeStatusResponse *m,
		Synod__Wire__ClientConnections *cc);

#endif
