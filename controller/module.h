/* controller/module.h - what a controller module is, and how the server
 * reaches it.
 *
 * A module (cluster, brokers, topics; later groups and the HTTP and Kafka
 * front ends) is a struct of its own behind a header of its own. It tells
 * the server, through one struct module registered at start
 * (server_register), the APIs it serves and the events it wants:
 *
 * - apis[]: for each API id, the versions it accepts, whether it needs
 *   the active controller, the request message's descriptor and the
 *   handler. The server keeps connections, framing, back-pressure and
 *   replies (server_int.h, which handlers include); it checks the frame kind,
 * looks the API up in the registry (unknown: UNSUPPORTED_API), checks the
 * version (UNSUPPORTED_VERSION), decodes the body (INVALID_REQUEST when it does
 *   not decode) and calls the handler, which owns the decoded message from
 *   then on. Handlers of APIs marked `active` answer NOT_CONTROLLER
 *   themselves (node_check_active), after whatever checks any node makes
 *   (a cluster id, arguments).
 * - leadership(active): this node became (1) or stopped being (0) the
 *   active controller; modules are told in registration order.
 * - applied(index, batch): a command entry was applied to the store (every
 *   node, every role), with its decoded records; in registration order.
 * - status(m): fill this module's fields of a NODE_STATUS answer.
 * - close(): the server is closing; the module closes its handles and
 *   frees itself once they are closed (it may still see waiters of
 *   proposals fail afterwards, as before).
 *
 * Modules do not include each other's internals. Where one needs another
 * (topics needs the broker sessions' liveness; brokers calls the topic
 * logic's departure hooks), the composition root (controller/controller.c)
 * passes what is needed explicitly at creation.
 *
 * Ownership: server_register() copies the struct module; the apis array
 * it points to must outlive the server (a static table). `self` is the
 * module's, passed back to every call.
 */
#ifndef SYNOD_MODULE_H
#define SYNOD_MODULE_H

#include <stddef.h>
#include <stdint.h>

#include "acl.h"
#include "frame.h"
#include "records.pb-c.h"
#include "synod.pb-c.h"

/* The server's side (server_int.h): handlers include it for replies. */
struct server;
struct sconn;

/* Handle one decoded request; takes ownership of msg. */
typedef void (*module_handler)(void *self, struct sconn *sc,
			       const struct frame_header *h,
			       ProtobufCMessage *msg);

struct module_api {
	uint16_t api;	      /* SYNOD_API_* */
	const char *name;     /* "BROKER_REGISTER" (logs, docs) */
	uint16_t min_version; /* accepted api versions */
	uint16_t max_version;
	int active; /* served by the active controller only */
	const ProtobufCMessageDescriptor *request;
	module_handler handle;
	/* Authorization (controller/acl.h, docs/security.md): the API's
	 * operation class (ACL_ADMIN, 0, when left out), and optionally a
	 * function that picks the class from the decoded request (a config
	 * change of principal scope is ADMIN). The subject (broker id, group
	 * id) is read by the server from the request's broker_id or group_id
	 * field. */
	enum acl_op acl;
	enum acl_op (*acl_of)(const ProtobufCMessage *msg);
};

struct module {
	const char *name; /* "brokers" */
	void *self;
	const struct module_api *apis;
	size_t n_apis;
	/* All optional. */
	void (*leadership)(void *self, int active);
	void (*applied)(void *self, uint64_t index,
			const Synod__Rec__RecordBatch *b);
	void (*status)(void *self, Synod__Wire__NodeStatusResponse *m);
	void (*close)(void *self);
};

/* Add a module: its APIs join the registry, it gets the events. Returns 0,
 * or -1 (errmsg set) when an API id is out of range or already served by
 * another module, or too many modules are registered. Before the first
 * request only. */
int server_register(struct server *s, const struct module *m);

/* Every registered API, in id order (for listings). */
void server_foreach_api(const struct server *s,
			void (*cb)(void *arg, const struct module *m,
				   const struct module_api *a),
			void *arg);

#endif
