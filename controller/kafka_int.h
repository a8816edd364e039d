/* controller/kafka_int.h - what the Kafka module's files share (internal):
 * kafka_listener.c (the module, the listener, Metadata, forwarding) and
 * kafka_admin.c (the admin APIs, each a request of the client protocol
 * run through the server's registry, as the HTTP API does).
 *
 * Ownership: a struct kop is its request's (r->data) and is freed with
 * kop_done()/kop_fail(), which answer the request.
 */
#ifndef SYNOD_KAFKA_INT_H
#define SYNOD_KAFKA_INT_H

#include "forward.h"
#include "kafka_server.h"
#include "server_int.h"

struct kjob;
struct kop;

struct kafka {
	struct server *s;
	struct kafka_server *ks;
	uv_tcp_t listener;
	int listening;
	uv_idle_t idle;	   /* runs Metadata slices and the admin steps */
	struct kjob *jobs; /* Metadata answers being built */
	struct kop *ready; /* admin requests whose call answered */
	struct kop *ops;   /* every admin request in flight */
	struct forwarder fwd;
	int handles, closing;
	uint64_t forwarded, forward_failed, dispatched;
};

/* One admin request in flight: the client-protocol calls it makes, one
 * at a time. */
typedef void (*kop_step)(struct kop *op, ProtobufCMessage *m);
struct kop {
	struct kafka *k;
	struct kafka_request *r;
	struct kop *next_ready, *next, *prev;
	struct sconn *call;
	kop_step step; /* runs on a later loop turn with the call's answer */
	const ProtobufCMessageDescriptor *expect;
	uint8_t *ans; /* the answer, packed (NULL: out of memory) */
	size_t ans_len;
	const ProtobufCMessageDescriptor *ans_desc;
	int code;      /* the answer's Status code (SYNOD_OK: none) */
	char msg[256]; /* and its message */
	size_t i, j;   /* the handler's progress */
	void *data;    /* the handler's */
	void (*free_data)(void *data);
};

/* A new op for r (NULL: out of memory, r closed). */
struct kop *kop_new(struct kafka *k, struct kafka_request *r);
/* Send req as API api to this node's registry (the active controller's
 * handlers; local_read: served from this node's store); step(op, m) runs
 * on a later loop turn with the answer decoded as `expect` (the step must
 * not free it). m is NULL when the answer is not an `expect` (a Status
 * alone: op->code says how it went, SYNOD_OK included) or the call
 * failed (op->code says why). */
void kop_call(struct kop *op, uint16_t api, const ProtobufCMessage *req,
	      int local_read, const ProtobufCMessageDescriptor *expect,
	      kop_step step);
/* Answer op's request with its response struct; free op. */
void kop_done(struct kop *op);
/* Close op's connection unanswered; free op. */
void kop_fail(struct kop *op);

/* 1 when r was forwarded to the active controller or closed because this
 * node is not it (the caller returns); 0 when r is to be served here. */
int kafka_relay(struct kafka_request *r);

/* Structs in r's answer arena (zeroed; n + 1 elements, never NULL for 0
 * when memory is left). */
#define KNEW(r, T) ((T *)kf_alloc(&(r)->ra, sizeof(T)))
#define KNEWN(r, T, n) ((T *)kf_alloc(&(r)->ra, (n) * sizeof(T) + 1))

/* The module of r, this node's store. */
struct kafka *kafka_of(struct kafka_request *r);
struct store *kafka_store(struct kafka_request *r);
/* An admin request's op on the active controller, or NULL when r was
 * relayed there (or closed: not active, out of memory). */
struct kop *kafka_begin(struct kafka_request *r);
/* The Kafka error and message of op's call that failed as a whole. */
void kafka_call_error(const struct kop *op, int16_t *err, const char **msg);
/* A message in the answer's arena (null when m is NULL or empty). */
int kafka_msg(struct kafka_request *r, struct kf_val *v, const char *m);

/* Kafka's code for a client-protocol code. */
int16_t kafka_error_of(int code);
/* A string value in r's answer arena (NULL s: null); -1: out of memory. */
int kafka_str(struct kafka_request *r, struct kf_val *v, const char *s);

/* kafka_admin.c: the handlers of the admin APIs (kafka_admin_apis.h). */
void kafka_create_topics(struct kafka_request *r, struct kf_val *resp);
void kafka_delete_topics(struct kafka_request *r, struct kf_val *resp);
void kafka_create_partitions(struct kafka_request *r, struct kf_val *resp);
void kafka_describe_configs(struct kafka_request *r, struct kf_val *resp);
void kafka_alter_configs(struct kafka_request *r, struct kf_val *resp);
void kafka_incremental_alter_configs(struct kafka_request *r,
				     struct kf_val *resp);
void kafka_elect_leaders(struct kafka_request *r, struct kf_val *resp);
void kafka_list_groups(struct kafka_request *r, struct kf_val *resp);
void kafka_describe_groups(struct kafka_request *r, struct kf_val *resp);
void kafka_consumer_group_describe(struct kafka_request *r,
				   struct kf_val *resp);
void kafka_describe_cluster(struct kafka_request *r, struct kf_val *resp);
void kafka_describe_quorum(struct kafka_request *r, struct kf_val *resp);
void kafka_find_coordinator(struct kafka_request *r, struct kf_val *resp);

#endif
