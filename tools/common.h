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

/* TLS for every client the tool makes (docs/security.md): the flags
 * (--ca/--cert/--key) when given, else $SYNOD_CA, $SYNOD_CERT and
 * $SYNOD_KEY. tool_tls_flags() records the flags (NULL: not given; the
 * strings must outlive the tool's clients); tool_tls_apply() fills a
 * client configuration's TLS fields (left NULL without a CA). */
void tool_tls_flags(const char *ca, const char *cert, const char *key);
void tool_tls_apply(struct synod_client_config *cfg);
/* The CA, certificate and key in effect (NULL when unset). */
const char *tool_tls_ca(void);
const char *tool_tls_cert(void);
const char *tool_tls_key(void);

/* A client on its own loop. Returns NULL (message on stderr) on error. */
struct synod_client *tool_client(const char *bootstrap, const char *cluster_id,
				 unsigned timeout_ms, int pinned);

/* The Status field of a decoded response (every response has one). */
const Synod__Wire__Status *tool_status(const ProtobufCMessage *resp);

uint64_t tool_now_us(void);
uint64_t tool_now_ms(void);

#endif
