/* net/kafka_server.h - the serving side of Kafka's protocol, shared by the
 * controller node's listener (controller/kafka_listener.c) and the broker
 * library's (net/broker_kafka.c): connections, frames, the API table,
 * ApiVersions, answers in request order (docs/kafka.md).
 *
 * The embedder gives a table of the APIs it serves (versions, schemas, one
 * handler each). A request is decoded on the loop and handed to its
 * handler with a response struct at its defaults; the handler answers at
 * once or later, exactly once, with kafka_respond() (the struct, encoded
 * here: on the thread pool when large), kafka_respond_raw() (bytes made
 * elsewhere: a forwarded request's answer) or kafka_respond_close() (no
 * answer: the connection closes). A connection reads nothing more while
 * one of its requests waits, as a Kafka broker mutes a channel: answers go
 * out in request order and a client that pipelines waits in its socket
 * buffer, not in memory here.
 *
 * Bad input (a frame outside 8..max_request_bytes, an unknown API key, a
 * version outside the table for an API other than ApiVersions, a body that
 * does not decode within the arena's budget) closes its connection only.
 *
 * Ownership: the server owns its connections and requests. A request
 * (its frame, its decoded body in r->a, the answer's values in r->ra) lives
 * until its handler answers; the handler must not touch it after that. A
 * handler that waits sets r->cancel: kafka_server_close() calls it for each
 * waiting request, and it must release what it waits on and answer
 * (usually kafka_respond_close()). The server is freed once closed and
 * every request answered. Loop thread only.
 */
#ifndef SYNOD_KAFKA_SERVER_H
#define SYNOD_KAFKA_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "kafka.h"
#include "workgate.h"

struct kafka_server;
struct kafka_request;

/* Fill resp (a struct of the API's response schema, at its defaults, in
 * r->ra) and answer, now or later. */
typedef void (*kafka_handler)(struct kafka_request *r, struct kf_val *resp);

struct kafka_api {
	int16_t key;
	const char *name;
	int16_t min, max, flexible_min; /* KF_NEVER: never flexible */
	const struct kf_schema *request, *response;
	kafka_handler handle; /* NULL: ApiVersions, answered here */
};

/* The APIs Synod's listeners serve, in key order, with versions and
 * schemas: the controller's and the brokers' tables are this one with
 * their handlers. */
#define KAFKA_SERVED_APIS 15
/* Fill out[KAFKA_SERVED_APIS] with the served APIs, each with pick(key)
 * as its handler (ApiVersions keeps NULL: answered by the server). */
void kafka_apis_fill(struct kafka_api *out, kafka_handler (*pick)(int16_t key));

struct kafka_request {
	struct kafka_server *ks;
	void *arg; /* the config's */
	const struct kafka_api *api;
	struct kf_request_header h;
	int16_t version;
	int flexible;
	struct kf_val body;
	struct kf_val *resp;
	const uint8_t *frame; /* the request after its size: header, body */
	size_t frame_len;
	const char *peer;   /* "IP" of the client, or the dispatcher's name */
	struct kf_arena a;  /* the request's values (bounded) */
	struct kf_arena ra; /* the answer's */
	void *data;	    /* the handler's */
	void (*cancel)(struct kafka_request *r);
	/* internal */
	struct kconn *c;
	struct kafka_request *next_waiting, *prev_waiting;
	struct workgate_req work; /* encoding off the loop (workgate.h) */
	struct kf_buf out;
	void (*dispatched)(void *arg, const uint8_t *resp, size_t len);
	void *dispatched_arg;
	char peer_buf[96]; /* a dispatch's peer, copied */
};

enum { KAFKA_LOG_DEBUG, KAFKA_LOG_INFO, KAFKA_LOG_WARN };

struct kafka_server_config {
	uv_loop_t *loop;
	const struct kafka_api *apis; /* borrowed: must outlive the server */
	size_t n_apis;
	void *arg; /* r->arg */
	size_t max_request_bytes;
	unsigned max_connections; /* 0: 1024 */
	uint64_t idle_ms;	  /* 0: 600000 (connections.max.idle.ms) */
	/* Optional: where the server's log lines go. */
	void (*log)(void *arg, int level, const char *msg);
};

/* 0, or -1 (out of memory). cfg is copied. */
int kafka_server_new(const struct kafka_server_config *cfg,
		     struct kafka_server **out);
/* The listener's connection callback: set listener->data to the server
 * and pass this to uv_listen (the embedder binds, so it keeps its own
 * address policy). */
void kafka_server_on_connection(uv_stream_t *listener, int status);
/* Close every connection, cancel the waiting requests, free the server
 * once they answered. The embedder closes its listener itself. */
void kafka_server_close(struct kafka_server *ks);

/* Answer r with r->resp (encoded at r->version). */
void kafka_respond(struct kafka_request *r);
/* Answer r with the bytes of a response (its header and body, without the
 * size; copied). */
void kafka_respond_raw(struct kafka_request *r, const uint8_t *resp,
		       size_t len);
/* No answer: close r's connection. */
void kafka_respond_close(struct kafka_request *r);
/* 1 when nobody waits for r's answer any more (its connection closed). */
int kafka_request_orphaned(const struct kafka_request *r);

/* Serve one request frame (header and body, without the size) without a
 * connection: its answer's bytes (header and body) go to done(arg, resp,
 * len) once, perhaps before this returns; (NULL, 0) when the request gets
 * no answer (a connection would close). peer names the requester in logs.
 * 0, or -1 when the frame is no request of the table (done not called). */
int kafka_server_dispatch(
    struct kafka_server *ks, const uint8_t *frame, size_t len, const char *peer,
    void (*done)(void *arg, const uint8_t *resp, size_t len), void *arg);

/* The API table entry of key, or NULL. */
const struct kafka_api *kafka_server_api(const struct kafka_server *ks,
					 int16_t key);

struct kafka_server_stats {
	unsigned connections;
	uint64_t requests, refused_frames, waiting;
};
void kafka_server_stats(const struct kafka_server *ks,
			struct kafka_server_stats *st);

#endif
