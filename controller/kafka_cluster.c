/* controller/kafka_cluster.c - Kafka's cluster APIs on a controller node
 * (docs/kafka.md 2): DescribeCluster and FindCoordinator from any node's
 * store (as Metadata), DescribeQuorum from the active controller's raft
 * progress. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_admin_apis.h"
#include "kafka_int.h"
#include "log.h"
#include "store.h"

/* ---- DescribeCluster (60): any node, from its store ---- */

struct dcl {
	struct kafka_request *r;
	struct kf_val *brokers;
	int32_t first;
	int failed;
};

static int dcl_broker(void *arg, const struct store_broker *b)
{
	struct dcl *d = arg;
	struct kf_val *e;
	if (b->fenced || b->shutting_down || b->n_endpoints == 0)
		return 0;
	if ((e = kf_struct(&d->r->ra, &kf_describe_cluster_broker)) == NULL ||
	    kafka_str(d->r, &e->v[KF_DCLB_HOST], b->endpoints[0].host) ||
	    kafka_str(d->r, &e->v[KF_DCLB_RACK],
		      b->has_rack ? b->rack : NULL)) {
		d->failed = 1;
		return -1;
	}
	e->v[KF_DCLB_BROKER_ID].i = b->id;
	e->v[KF_DCLB_PORT].i = b->endpoints[0].port;
	if (d->brokers->n % 64 == 0) {
		struct kf_val *v =
		    kf_alloc(&d->r->ra, (d->brokers->n + 64) * sizeof *v);
		if (v == NULL) {
			d->failed = 1;
			return -1;
		}
		if (d->brokers->n)
			memcpy(v, d->brokers->v, d->brokers->n * sizeof *v);
		d->brokers->v = v;
	}
	d->brokers->v[d->brokers->n++] = *e;
	if (d->first < 0 || b->id < d->first)
		d->first = b->id;
	return 0;
}

void kafka_describe_cluster(struct kafka_request *r, struct kf_val *resp)
{
	struct kafka *k = kafka_of(r);
	struct dcl d = {r, &resp->v[KF_DCL_BROKERS], -1, 0};
	resp->v[KF_DCL_ERROR_MSG].null = 1;
	if (r->version >= 1 && r->body.v[KF_DCLQ_ENDPOINT_TYPE].i != 1) {
		/* KIP-919's controller endpoints: this node knows the
		 * others' client ports, not their Kafka ports. */
		resp->v[KF_DCL_ERROR].i = KF_ERR_UNSUPPORTED_ENDPOINT_TYPE;
		if (kafka_str(r, &resp->v[KF_DCL_ERROR_MSG],
			      "only broker endpoints (type 1) are served"))
			goto oom;
		kafka_respond(r);
		return;
	}
	if (kafka_str(r, &resp->v[KF_DCL_CLUSTER_ID],
		      k->s->node->cfg->cluster_id))
		goto oom;
	if (kf_array(&r->ra, d.brokers, 0) != 0 ||
	    store_broker_list(kafka_store(r), dcl_broker, &d) != 0 || d.failed)
		goto oom;
	/* As in Metadata: admin requests go to a live broker. */
	resp->v[KF_DCL_CONTROLLER_ID].i = d.first;
	kafka_respond(r);
	return;
oom:
	kafka_respond_close(r);
}

/* ---- FindCoordinator (10): any node, from its store ---- */

/* Groups are coordinated by the active controller; Kafka clients reach it
 * through a broker's listener, as for admin requests: the coordinator
 * named is the lowest live broker (the controller id of Metadata). */
struct first_live {
	struct store_broker b;
	int found;
};

static int first_live(void *arg, const struct store_broker *b)
{
	struct first_live *f = arg;
	if (b->fenced || b->shutting_down || b->n_endpoints == 0)
		return 0;
	if (!f->found || b->id < f->b.id) {
		f->b = *b;
		f->found = 1;
	}
	return 0;
}

static int coordinator(struct kafka_request *r, const struct first_live *f,
		       int64_t key_type, struct kf_val *err, struct kf_val *msg,
		       struct kf_val *id, struct kf_val *host,
		       struct kf_val *port)
{
	msg->null = 1;
	if (key_type != 0) {
		err->i = KF_ERR_COORDINATOR_NOT_AVAILABLE;
		id->i = -1;
		port->i = -1;
		return kafka_str(r, msg,
				 "Synod coordinates consumer groups "
				 "only (key type 0)");
	}
	if (!f->found) {
		err->i = KF_ERR_COORDINATOR_NOT_AVAILABLE;
		id->i = -1;
		port->i = -1;
		return kafka_str(r, msg, "no live broker");
	}
	id->i = f->b.id;
	port->i = f->b.endpoints[0].port;
	return kafka_str(r, host, f->b.endpoints[0].host);
}

void kafka_find_coordinator(struct kafka_request *r, struct kf_val *resp)
{
	struct first_live f;
	int64_t type = r->body.v[KF_FCQ_KEY_TYPE].i;
	memset(&f, 0, sizeof f);
	if (store_broker_list(kafka_store(r), first_live, &f) != 0)
		goto fail;
	if (r->version < 4) {
		if (coordinator(r, &f, type, &resp->v[KF_FC_ERROR],
				&resp->v[KF_FC_ERROR_MSG],
				&resp->v[KF_FC_NODE_ID], &resp->v[KF_FC_HOST],
				&resp->v[KF_FC_PORT]))
			goto fail;
	} else {
		const struct kf_val *keys = &r->body.v[KF_FCQ_KEYS];
		struct kf_val *cs = &resp->v[KF_FC_COORDINATORS];
		if (kf_array(&r->ra, cs, keys->n) != 0)
			goto fail;
		for (size_t i = 0; i < keys->n; i++) {
			struct kf_val *c = kf_struct(&r->ra, &kf_coordinator);
			if (c == NULL ||
			    kafka_str(r, &c->v[KF_FCC_KEY], keys->v[i].p) ||
			    coordinator(r, &f, type, &c->v[KF_FCC_ERROR],
					&c->v[KF_FCC_ERROR_MSG],
					&c->v[KF_FCC_NODE_ID],
					&c->v[KF_FCC_HOST], &c->v[KF_FCC_PORT]))
				goto fail;
			cs->v[i] = *c;
		}
	}
	kafka_respond(r);
	return;
fail:
	kafka_respond_close(r);
}

/* ---- DescribeQuorum (55): the active controller's raft progress ---- */

static void dq_done(struct kop *op, ProtobufCMessage *m)
{
	struct kafka_request *r = op->r;
	struct kafka *k = kafka_of(r);
	const Synod__Wire__NodeStatusResponse *st = (const void *)m;
	Synod__Wire__MetadataResponse *md;
	struct kf_val *topics = &r->resp->v[KF_DQ_TOPICS], *t, *p;
	struct kf_val *voters, *observers;
	size_t nv = 0, no = 0;
	if (m == NULL || op->code != SYNOD_OK) {
		const char *why;
		int16_t err;
		kafka_call_error(op, &err, &why);
		r->resp->v[KF_DQ_ERROR].i = err;
		kop_done(op);
		return;
	}
	if ((md = fwd_local_metadata(k->s)) == NULL)
		goto oom;
	if (kf_array(&r->ra, topics, 1) != 0 ||
	    (t = kf_struct(&r->ra, &kf_describe_quorum_topic)) == NULL ||
	    kafka_str(r, &t->v[KF_DQT_NAME], "__cluster_metadata") ||
	    kf_array(&r->ra, &t->v[KF_DQT_PARTITIONS], 1) != 0 ||
	    (p = kf_struct(&r->ra, &kf_describe_quorum_partition)) == NULL)
		goto oom_md;
	p->v[KF_DQP_INDEX].i = 0;
	p->v[KF_DQP_LEADER].i = (int64_t)st->node_id;
	p->v[KF_DQP_EPOCH].i = (int64_t)st->term;
	p->v[KF_DQP_HIGH_WATERMARK].i = (int64_t)st->commit_index;
	voters = &p->v[KF_DQP_VOTERS];
	observers = &p->v[KF_DQP_OBSERVERS];
	if (kf_array(&r->ra, voters, md->n_nodes) != 0 ||
	    kf_array(&r->ra, observers, md->n_nodes) != 0)
		goto oom_md;
	for (size_t i = 0; i < md->n_nodes; i++) {
		const Synod__Wire__NodeAddress *na = md->nodes[i];
		struct kf_val *e = kf_struct(&r->ra, &kf_replica_state);
		int64_t end = -1;
		if (e == NULL)
			goto oom_md;
		if (na->id == st->node_id)
			end = (int64_t)st->last_index;
		for (size_t x = 0; x < st->n_peers; x++)
			if (st->peers[x]->id == na->id)
				end = (int64_t)st->peers[x]->match_index;
		e->v[KF_DQR_REPLICA_ID].i = (int64_t)na->id;
		e->v[KF_DQR_LOG_END_OFFSET].i = end;
		if (na->voter)
			voters->v[nv++] = *e;
		else
			observers->v[no++] = *e;
	}
	voters->n = nv;
	observers->n = no;
	t->v[KF_DQT_PARTITIONS].v[0] = *p;
	topics->v[0] = *t;
	synod__wire__metadata_response__free_unpacked(md, NULL);
	kop_done(op);
	return;
oom_md:
	synod__wire__metadata_response__free_unpacked(md, NULL);
oom:
	kop_fail(op);
}

void kafka_describe_quorum(struct kafka_request *r, struct kf_val *resp)
{
	Synod__Wire__NodeStatusRequest req =
	    SYNOD__WIRE__NODE_STATUS_REQUEST__INIT;
	struct kop *op;
	(void)resp;
	if ((op = kafka_begin(r)) == NULL)
		return;
	kop_call(op, SYNOD_API_NODE_STATUS, &req.base, 0,
		 &synod__wire__node_status_response__descriptor, dq_done);
}
