/* net/broker_int.h - what net/broker.c shares with the broker's Kafka
 * listener (net/broker_kafka.c). Internal to synod_net. */
#ifndef SYNOD_BROKER_INT_H
#define SYNOD_BROKER_INT_H

#include <stddef.h>

#include <uv.h>

#include "synod/broker.h"
#include "synod/client.h"

/* The broker's client towards the active controller (NULL between
 * clients: before the start, while it is replaced, after the close). */
struct synod_client *broker_client(struct synod_broker *b);
const char *broker_cluster_id(const struct synod_broker *b);

struct bk;
/* Listen for Kafka clients on address ("IP:PORT"). SYNOD_OK,
 * SYNOD_EINVALID_ARGUMENT (address), SYNOD_ECONNECTION (bind or listen:
 * the port is taken) or SYNOD_ENOMEM. */
int bk_start(struct synod_broker *b, uv_loop_t *loop, const char *address,
	     size_t max_request, struct bk **out);
/* Its counters into st's kafka_* fields. */
void bk_stats(const struct bk *k, struct synod_broker_stats *st);
/* Stop listening; requests being forwarded end with the client's close
 * (CANCELED: their connections close). Freed on a later loop turn. */
void bk_close(struct bk *k);

#endif
