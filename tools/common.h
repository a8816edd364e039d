/* tools/common.h - helpers shared by synodctl, synod-bench and the tests:
 * building clients from a bootstrap string, reading the Status any
 * response carries, and small time helpers.
 * Ownership: clients returned are the caller's (synod_client_close).
 */
#ifndef SYNOD_TOOLS_COMMON_H
#define SYNOD_TOOLS_COMMON_H

#include <stdint.h>

#include "synod/client.h"

/* The bootstrap string: `flag` if set, else $SYNOD_BOOTSTRAP, else NULL. */
const char *tool_bootstrap(const char *flag);

/* A client on its own loop. Returns NULL (message on stderr) on error. */
struct synod_client *tool_client(const char *bootstrap, const char *cluster_id,
				 unsigned timeout_ms, int pinned);

/* The Status field of a decoded response (every response has one). */
const Synod__Wire__Status *tool_status(const ProtobufCMessage *resp);

uint64_t tool_now_us(void);
uint64_t tool_now_ms(void);

#endif
