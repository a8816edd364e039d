/* net/kafka_relay.c - a Kafka request relayed to the active controller
 * (see kafka_relay.h). */
#include "kafka_relay.h"

#include "synod.pb-c.h"

static void on_relayed(void *arg, int status, const uint8_t *body, size_t len)
{
	struct kafka_request *r = arg;
	uint64_t *failed = r->data;
	Synod__Wire__KafkaForwardResponse *m = NULL;
	if (status == SYNOD_OK)
		m = synod__wire__kafka_forward_response__unpack(NULL, len,
								body);
	if (m && m->status->code == SYNOD_OK && m->has_response) {
		kafka_respond_raw(r, m->response.data, m->response.len);
	} else {
		if (failed)
			(*failed)++;
		kafka_respond_close(r); /* the client asks again */
	}
	if (m)
		synod__wire__kafka_forward_response__free_unpacked(m, NULL);
}

int kafka_relay_send(struct kafka_request *r, struct synod_client *c,
		     uint64_t *failed)
{
	Synod__Wire__KafkaForwardRequest req =
	    SYNOD__WIRE__KAFKA_FORWARD_REQUEST__INIT;
	if (c == NULL)
		return SYNOD_ECONNECTION;
	req.request.data = (uint8_t *)r->frame;
	req.request.len = r->frame_len;
	req.client = (char *)r->peer;
	r->data = failed;
	return synod_client_send(c, SYNOD_API_KAFKA_FORWARD, &req.base, 1,
				 on_relayed, r);
}
