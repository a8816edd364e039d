/* tools/common.c - helpers shared by the command-line tools. */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

const char *tool_bootstrap(const char *flag)
{
	const char *env;
	if (flag && flag[0])
		return flag;
	env = getenv("SYNOD_BOOTSTRAP");
	return env && env[0] ? env : NULL;
}

struct synod_client *tool_client(const char *bootstrap, const char *cluster_id,
				 unsigned timeout_ms, int pinned)
{
	struct synod_client_config cfg = {0};
	struct synod_client *c;
	int rv;
	cfg.bootstrap = bootstrap;
	cfg.cluster_id = cluster_id;
	cfg.request_timeout_ms = timeout_ms;
	cfg.connect_timeout_ms = timeout_ms < 1000 ? timeout_ms : 1000;
	cfg.pinned = pinned;
	rv = synod_client_new(NULL, &cfg, &c);
	if (rv != SYNOD_OK) {
		fprintf(stderr, "cannot create client for '%s': %s\n",
			bootstrap, synod_strerror(rv));
		return NULL;
	}
	return c;
}

const Synod__Wire__Status *tool_status(const ProtobufCMessage *resp)
{
	/* Field 1 of every response message is `Status status`; protobuf-c
	 * lays fields out in order after the base, so read it through the
	 * descriptor to stay independent of the concrete type. */
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field(resp->descriptor, 1);
	if (f == NULL)
		return NULL;
	return *(const Synod__Wire__Status *const *)((const char *)resp +
						     f->offset);
}

uint64_t tool_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t tool_now_ms(void)
{
	return tool_now_us() / 1000u;
}
