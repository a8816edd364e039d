/* tests/fuzz/fuzz_fake_client.h - what the targets that compile a client
 * library in (fuzz_group: net/group.c, fuzz_view: net/broker.c) fake
 * alike: the clocks (a counter the input moves on) and the client's
 * connection (its generation, whether it is connected, the request
 * timeout last set). Include it
 * before the library's .c file: it renames uv_hrtime, uv_now and the
 * synod_client_* functions the libraries call to fz_* and declares them
 * through synod/client.h. Each target defines fz_client_new, _close and
 * _send itself (its requests), and resets fake_ns and fz_conn per run. */
#ifndef SYNOD_FUZZ_FAKE_CLIENT_H
#define SYNOD_FUZZ_FAKE_CLIENT_H

#include <stdint.h>
#include <uv.h>

static uint64_t fake_ns = 1000000000ull;
static uint64_t fz_hrtime(void)
{
	return fake_ns;
}
static uint64_t fz_now(const uv_loop_t *l)
{
	(void)l;
	return fake_ns / 1000000u;
}
#define uv_hrtime fz_hrtime
#define uv_now fz_now

#define synod_client_new fz_client_new
#define synod_client_close fz_client_close
#define synod_client_errmsg fz_client_errmsg
#define synod_client_send fz_client_send
#define synod_client_on_push fz_client_on_push
#define synod_client_peer fz_client_peer
#define synod_client_generation fz_client_generation
#define synod_client_set_request_timeout fz_client_set_request_timeout

#include "synod/client.h"

static struct {
	uint64_t generation; /* a new one: the client reconnected */
	int connected;
	unsigned request_timeout_ms; /* last set (0: never) */
} fz_conn;

const char *fz_client_errmsg(const struct synod_client *c)
{
	(void)c;
	return "fake client";
}

void fz_client_on_push(struct synod_client *c, synod_push_cb cb, void *arg)
{
	(void)c, (void)cb, (void)arg;
}

const char *fz_client_peer(const struct synod_client *c)
{
	(void)c;
	return fz_conn.connected ? "127.0.0.1:1" : NULL;
}

void fz_client_set_request_timeout(struct synod_client *c, unsigned ms)
{
	(void)c;
	fz_conn.request_timeout_ms = ms;
}

uint64_t fz_client_generation(const struct synod_client *c)
{
	(void)c;
	return fz_conn.generation;
}

#endif
