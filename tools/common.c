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

static const char *tls_flag[3];

void tool_tls_flags(const char *ca, const char *cert, const char *key)
{
	tls_flag[0] = ca;
	tls_flag[1] = cert;
	tls_flag[2] = key;
}

static const char *tls_get(int i)
{
	static const char *const env[3] = {"SYNOD_CA", "SYNOD_CERT",
					   "SYNOD_KEY"};
	const char *v = tls_flag[i];
	if (v && v[0])
		return v;
	v = getenv(env[i]);
	return v && v[0] ? v : NULL;
}

const char *tool_tls_ca(void)
{
	return tls_get(0);
}

const char *tool_tls_cert(void)
{
	return tls_get(1);
}

const char *tool_tls_key(void)
{
	return tls_get(2);
}

void tool_tls_apply(struct synod_client_config *cfg)
{
	cfg->tls_ca_file = tls_get(0);
	cfg->tls_cert_file = tls_get(1);
	cfg->tls_key_file = tls_get(2);
}

struct synod_client *tool_client(const char *bootstrap, const char *cluster_id,
				 unsigned timeout_ms, int pinned)
{
	struct synod_client_config cfg = {0};
	struct synod_client *c;
	char err[512] = "";
	int rv;
	tool_tls_apply(&cfg);
	cfg.errmsg = err;
	cfg.errmsg_size = sizeof err;
	cfg.bootstrap = bootstrap;
	cfg.cluster_id = cluster_id;
	cfg.request_timeout_ms = timeout_ms;
	cfg.connect_timeout_ms = timeout_ms < 1000 ? timeout_ms : 1000;
	cfg.pinned = pinned;
	rv = synod_client_new(NULL, &cfg, &c);
	if (rv != SYNOD_OK) {
		fprintf(stderr, "cannot create client for '%s': %s%s%s\n",
			bootstrap, synod_strerror(rv), err[0] ? ": " : "", err);
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
