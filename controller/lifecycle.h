/* controller/lifecycle.h - broker lifecycle decisions as pure functions
 * over plain structs (no sockets, no clock reads: `now` is passed in).
 * The active controller (controller/brokers.c) applies them; unit tests
 * drive them directly (tests/unit/test_lifecycle.c).
 *
 * Model (KIP-631, with Synod's changes): a registration's epoch is the log
 * index of its record; a broker starts fenced; it is unfenced once it
 * heartbeats with the current epoch and has applied metadata up to its
 * registration; it is fenced when its session deadline passes; a new
 * active controller restarts every session's deadline from its takeover.
 */
#ifndef SYNOD_LIFECYCLE_H
#define SYNOD_LIFECYCLE_H

#include <stdint.h>

/* What the active controller knows of one registered broker. */
struct lc_broker {
	uint64_t epoch;		    /* committed registration's epoch */
	const char *incarnation_id; /* committed registration's incarnation */
	int fenced;		    /* committed */
	int shutting_down;	    /* committed */
	uint64_t deadline_ms;	    /* session expiry (controller clock) */
	int stop_acknowledged;	    /* told should_shutdown */
	/* Not heard from (no heartbeat or registration) since this
	 * controller took over: its session is only the takeover's grace. */
	int unheard;
};

enum lc_register_decision {
	LC_REG_NEW,	  /* commit a new registration (new epoch) */
	LC_REG_SAME,	  /* same incarnation: answer with its epoch */
	LC_REG_DUPLICATE, /* another incarnation is still live: refuse */
};

/* existing: NULL when the id is not registered. */
enum lc_register_decision lc_register(const struct lc_broker *existing,
				      const char *incarnation_id,
				      uint64_t now_ms);

enum lc_action {
	LC_NONE = 0,
	LC_UNFENCE,  /* commit UnfenceBroker, then answer */
	LC_FENCE,    /* commit FenceBroker (the broker asked), then answer */
	LC_SHUTDOWN, /* commit BrokerShutdown, then answer */
};

struct lc_heartbeat {
	int error; /* 0, or SYNOD_ESTALE_BROKER_EPOCH /
		      SYNOD_EUNKNOWN_BROKER */
	enum lc_action action;
	int renew; /* extend the session */
	int is_caught_up;
	/* The answer, assuming `action` (if any) commits. */
	int is_fenced;
	int should_shutdown;
};

/* b: NULL when not registered. version: what the broker applied. */
void lc_heartbeat(const struct lc_broker *b, uint64_t epoch, uint64_t version,
		  int want_fence, int want_shutdown, struct lc_heartbeat *out);

/* 1 when the controller must commit a FenceBroker for b now. */
int lc_should_fence(const struct lc_broker *b, uint64_t now_ms);

/* A session's deadline after a heartbeat, or after a takeover (every
 * broker gets a full session of grace from the takeover). */
uint64_t lc_deadline(uint64_t now_ms, uint64_t session_timeout_ms);

#endif
