/* controller/forward.c - this node as a client of the quorum (see
 * forward.h). */
#include "forward.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* This node's METADATA answer (served at once, from memory). */
static void on_metadata(void *arg, const struct frame_header *fh,
			const ProtobufCMessage *resp)
{
	Synod__Wire__MetadataResponse **out = arg;
	size_t len = protobuf_c_message_get_packed_size(resp);
	uint8_t *buf = malloc(len ? len : 1);
	(void)fh;
	if (buf == NULL)
		return;
	protobuf_c_message_pack(resp, buf);
	*out = synod__wire__metadata_response__unpack(NULL, len, buf);
	free(buf);
}

Synod__Wire__MetadataResponse *fwd_local_metadata(struct server *s)
{
	Synod__Wire__MetadataRequest req = SYNOD__WIRE__METADATA_REQUEST__INIT;
	Synod__Wire__MetadataResponse *md = NULL;
	struct sconn *call =
	    srv_call(s, SYNOD_API_METADATA, &req.base, 1, on_metadata, &md);
	if (call)
		srv_call_release(call);
	return md;
}

void fwd_client_config(struct server *s, struct synod_client_config *cfg)
{
	const struct synod_config *nc = s->node->cfg;
	memset(cfg, 0, sizeof *cfg);
	cfg->cluster_id = nc->cluster_id;
	if (nc->tls_ca_file[0]) {
		cfg->tls_ca_file = nc->tls_ca_file;
		cfg->tls_cert_file = nc->tls_cert_file;
		cfg->tls_key_file = nc->tls_key_file;
		cfg->tls_allow_tls12 = nc->tls_allow_tls12;
	}
}

void forwarder_init(struct forwarder *f, struct server *s, unsigned timeout_ms)
{
	memset(f, 0, sizeof *f);
	f->s = s;
	f->timeout_ms = timeout_ms;
}

struct synod_client *forwarder_client(struct forwarder *f, char *err,
				      size_t size)
{
	Synod__Wire__MetadataResponse *md = fwd_local_metadata(f->s);
	struct synod_client_config cfg;
	char list[4096];
	size_t o = 0;
	list[0] = '\0';
	for (size_t i = 0; md && i < md->n_nodes; i++)
		if (md->nodes[i]->client_address &&
		    md->nodes[i]->client_address[0] && o + 2 < sizeof list)
			o += (size_t)snprintf(list + o, sizeof list - o, "%s%s",
					      o ? "," : "",
					      md->nodes[i]->client_address);
	if (md)
		synod__wire__metadata_response__free_unpacked(md, NULL);
	if (list[0] == '\0') {
		snprintf(err, size, "no client address of the quorum known");
		return NULL;
	}
	if (f->c && f->bootstrap && strcmp(f->bootstrap, list) == 0)
		return f->c;
	forwarder_close(f);
	f->bootstrap = strdup(list);
	fwd_client_config(f->s, &cfg);
	cfg.bootstrap = list;
	cfg.request_timeout_ms = f->timeout_ms;
	cfg.errmsg = err;
	cfg.errmsg_size = size;
	if (f->bootstrap == NULL ||
	    synod_client_new(f->s->loop, &cfg, &f->c) != SYNOD_OK) {
		f->c = NULL;
		return NULL;
	}
	return f->c;
}

void forwarder_close(struct forwarder *f)
{
	if (f->c)
		synod_client_close(f->c); /* its requests: CANCELED */
	f->c = NULL;
	free(f->bootstrap);
	f->bootstrap = NULL;
}

const Synod__Wire__Status *fwd_status_of(const ProtobufCMessage *m)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field(m->descriptor, 1);
	if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE ||
	    f->descriptor != &synod__wire__status__descriptor)
		return NULL;
	return *(const Synod__Wire__Status *const *)((const char *)m +
						     f->offset);
}
