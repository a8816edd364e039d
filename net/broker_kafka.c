/* net/broker_kafka.c - a broker's Kafka listener (synod/broker.h,
 * kafka_address; docs/kafka.md): ApiVersions here; Metadata from the
 * broker's view when the view holds everything asked (the brokers, and
 * every partition of the topics asked for, up to BK_LOCAL_MAX
 * partitions), as a Kafka broker answers from its metadata cache; every
 * other request, and Metadata the view cannot answer whole, relayed to the
 * active controller through the broker's controller connection
 * (KAFKA_FORWARD, KIP-590's envelope), its answer passed back unchanged.
 */
#include <stdlib.h>
#include <string.h>

#include "broker_int.h"
#include "conn.h"
#include "kafka_admin_apis.h"
#include "kafka_apis.h"
#include "kafka_relay.h"
#include "kafka_server.h"
#include "synod/client.h"

/* Metadata answers larger than this are the controller's (it builds them
 * in slices); a broker answers small ones from its view at once. */
#define BK_LOCAL_MAX 10000

struct bk {
	struct synod_broker *b;
	struct kafka_server *ks;
	uv_tcp_t listener;
	uint64_t local, forwarded, forward_failed;
};

/* ---- relaying ---- */

static void forward(struct kafka_request *r)
{
	struct bk *k = r->arg;
	if (kafka_relay_send(r, broker_client(k->b), &k->forward_failed) !=
	    SYNOD_OK) {
		k->forward_failed++;
		kafka_respond_close(r);
		return;
	}
	k->forwarded++;
}

static void handle_forward(struct kafka_request *r, struct kf_val *resp)
{
	(void)resp;
	forward(r);
}

/* ---- Metadata from the view ---- */

struct md {
	struct kafka_request *r;
	struct kf_val *brokers;
	int32_t first_live;
	int failed;
};

static int add_broker(void *arg, const Synod__Wire__BrokerState *bs)
{
	struct md *m = arg;
	struct kf_val *e;
	if (bs->fenced || bs->shutting_down || bs->n_endpoints == 0)
		return 0; /* the live ones */
	if ((e = kf_struct(&m->r->ra, &kf_metadata_broker)) == NULL ||
	    kf_string(&m->r->ra, &e->v[KF_MDB_HOST], bs->endpoints[0]->host) ||
	    kf_string(&m->r->ra, &e->v[KF_MDB_RACK], bs->rack)) {
		m->failed = 1;
		return 1;
	}
	e->v[KF_MDB_NODE_ID].i = bs->id;
	e->v[KF_MDB_PORT].i = (int32_t)bs->endpoints[0]->port;
	m->brokers->v[m->brokers->n++] = *e;
	if (m->first_live < 0 || bs->id < m->first_live)
		m->first_live = bs->id;
	return 0;
}

static int is_live(const struct kf_val *brokers, int32_t id)
{
	for (size_t i = 0; i < brokers->n; i++)
		if (brokers->v[i].v[KF_MDB_NODE_ID].i == id)
			return 1;
	return 0;
}

/* Fill topic entry e with every partition of t from the view: 0, 1 when
 * the view lacks one (the controller answers), -1 out of memory. */
static int fill_topic(struct md *m, const Synod__Wire__TopicState *t,
		      struct kf_val *e)
{
	struct kafka_request *r = m->r;
	struct kf_val *parts = &e->v[KF_MDT_PARTITIONS];
	if (kf_string(&r->ra, &e->v[KF_MDT_NAME], t->name) ||
	    kf_array(&r->ra, parts, t->partitions))
		return -1;
	memcpy(e->v[KF_MDT_ID].uuid, t->topic_id.data, 16);
	for (uint32_t i = 0; i < t->partitions; i++) {
		Synod__Wire__PartitionState ps;
		struct kf_val *p;
		int32_t offline[64];
		size_t n_off = 0;
		if (synod_broker_find_partition(((struct bk *)r->arg)->b,
						t->topic_id.data, (int32_t)i,
						&ps) != SYNOD_OK)
			return 1;
		if ((p = kf_struct(&r->ra, &kf_metadata_partition)) == NULL)
			return -1;
		for (size_t x = 0; x < ps.n_replicas && n_off < 64; x++)
			if (!is_live(m->brokers, ps.replicas[x]))
				offline[n_off++] = ps.replicas[x];
		p->v[KF_MDP_ERROR].i =
		    ps.leader < 0 ? KF_ERR_LEADER_NOT_AVAILABLE : KF_ERR_NONE;
		p->v[KF_MDP_INDEX].i = ps.partition;
		p->v[KF_MDP_LEADER].i = ps.leader;
		p->v[KF_MDP_EPOCH].i = ps.leader_epoch;
		if (kf_int32s(&r->ra, &p->v[KF_MDP_REPLICAS], ps.replicas,
			      ps.n_replicas) ||
		    kf_int32s(&r->ra, &p->v[KF_MDP_ISR], ps.isr, ps.n_isr) ||
		    kf_int32s(&r->ra, &p->v[KF_MDP_OFFLINE], offline, n_off))
			return -1;
		parts->v[i] = *p;
	}
	return 0;
}

struct walk {
	struct md *m;
	const struct kf_val *want; /* NULL: every topic */
	/* Copies (the walk's states are its own; their strings and ids
	 * point into the view, unchanged during this call). */
	Synod__Wire__TopicState *found;
	size_t n, cap;
	uint64_t partitions;
	int failed;
};

static int collect(void *arg, const Synod__Wire__TopicState *t)
{
	struct walk *w = arg;
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 16;
		Synod__Wire__TopicState *f = realloc(w->found, cap * sizeof *f);
		if (f == NULL) {
			w->failed = 1;
			return 1;
		}
		w->found = f;
		w->cap = cap;
	}
	w->found[w->n++] = *t;
	w->partitions += t->partitions;
	return w->partitions > BK_LOCAL_MAX;
}

static int name_matches(const struct kf_val *q,
			const Synod__Wire__TopicState *t)
{
	const struct kf_val *name = &q->v[KF_MDQT_NAME];
	if (!name->null)
		return strcmp(name->p, t->name) == 0;
	return t->topic_id.len == 16 &&
	       memcmp(q->v[KF_MDQT_ID].uuid, t->topic_id.data, 16) == 0;
}

/* Answer r from the view: 0 done (answered), 1 the view cannot. */
static int md_local(struct bk *k, struct kafka_request *r)
{
	const struct kf_val *want = &r->body.v[KF_MDQ_TOPICS];
	struct md m = {r, &r->resp->v[KF_MD_BROKERS], -1, 0};
	struct walk w = {&m, NULL, NULL, 0, 0, 0, 0};
	struct kf_val *topics = &r->resp->v[KF_MD_TOPICS];
	int all = want->null || (r->version == 0 && want->n == 0);
	int rv = 1;
	if (synod_broker_metadata_version(k->b) == 0 ||
	    synod_broker_broker_count(k->b) == 0)
		return 1; /* no view of the brokers (other_brokers off) */
	if (kf_array(&r->ra, m.brokers, synod_broker_broker_count(k->b)) ||
	    kf_string(&r->ra, &r->resp->v[KF_MD_CLUSTER_ID],
		      broker_cluster_id(k->b)))
		goto oom;
	m.brokers->n = 0;
	synod_broker_brokers(k->b, add_broker, &m);
	if (m.failed)
		goto oom;
	r->resp->v[KF_MD_CONTROLLER_ID].i = m.first_live;
	if (synod_broker_topics(k->b, collect, &w) != 0 || w.failed)
		goto out; /* too many to answer here, or no memory */
	if (kf_array(&r->ra, topics, all ? w.n : want->n))
		goto oom;
	topics->n = 0;
	if (all) {
		for (size_t i = 0; i < w.n; i++) {
			struct kf_val *e =
			    kf_struct(&r->ra, &kf_metadata_topic);
			int f;
			if (e == NULL)
				goto oom;
			if ((f = fill_topic(&m, &w.found[i], e)) != 0) {
				if (f < 0)
					goto oom;
				goto out;
			}
			topics->v[topics->n++] = *e;
		}
	} else {
		for (size_t q = 0; q < want->n; q++) {
			struct kf_val *e =
			    kf_struct(&r->ra, &kf_metadata_topic);
			const Synod__Wire__TopicState *t = NULL;
			int f;
			if (e == NULL)
				goto oom;
			for (size_t i = 0; i < w.n && t == NULL; i++)
				if (name_matches(&want->v[q], &w.found[i]))
					t = &w.found[i];
			if (t == NULL) {
				/* Unknown here: perhaps created since; the
				 * controller knows. */
				goto out;
			}
			if ((f = fill_topic(&m, t, e)) != 0) {
				if (f < 0)
					goto oom;
				goto out;
			}
			topics->v[topics->n++] = *e;
		}
	}
	free(w.found);
	k->local++;
	kafka_respond(r);
	return 0;
oom:
	rv = 1; /* the controller may have the memory */
out:
	free(w.found);
	return rv;
}

static void handle_metadata(struct kafka_request *r, struct kf_val *resp)
{
	struct bk *k = r->arg;
	(void)resp;
	if (md_local(k, r) != 0) {
		/* The values built so far stay in the arena until r is
		 * answered; the forwarded answer replaces them. */
		forward(r);
	}
}

/* Metadata here when it can; the rest is the controller's. */
static kafka_handler pick(int16_t key)
{
	return key == KF_API_METADATA ? handle_metadata : handle_forward;
}

/* The same for every broker (filled at each start). */
static struct kafka_api bk_apis[KAFKA_SERVED_APIS];

/* ---- start and close ---- */

static void on_listener_closed(uv_handle_t *h)
{
	free(h->data);
}

int bk_start(struct synod_broker *b, uv_loop_t *loop, const char *address,
	     size_t max_request, struct bk **out)
{
	struct kafka_server_config kc;
	struct sockaddr_storage ss;
	struct bk *k;
	char host[256];
	int port;
	if (net_split_hostport(address, host, sizeof host, &port) != 0 ||
	    (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
	     uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0))
		return SYNOD_EINVALID_ARGUMENT;
	if ((k = calloc(1, sizeof *k)) == NULL)
		return SYNOD_ENOMEM;
	k->b = b;
	memset(&kc, 0, sizeof kc);
	kc.loop = loop;
	kafka_apis_fill(bk_apis, pick);
	kc.apis = bk_apis;
	kc.n_apis = KAFKA_SERVED_APIS;
	kc.arg = k;
	kc.max_request_bytes = max_request ? max_request : (1u << 20);
	if (kafka_server_new(&kc, &k->ks) != 0) {
		free(k);
		return SYNOD_ENOMEM;
	}
	uv_tcp_init(loop, &k->listener);
	k->listener.data = k->ks;
	if (uv_tcp_bind(&k->listener, (struct sockaddr *)&ss, 0) != 0 ||
	    uv_listen((uv_stream_t *)&k->listener, 128,
		      kafka_server_on_connection) != 0) {
		bk_close(k);
		return SYNOD_ECONNECTION;
	}
	*out = k;
	return SYNOD_OK;
}

void bk_stats(const struct bk *k, struct synod_broker_stats *st)
{
	struct kafka_server_stats ks;
	kafka_server_stats(k->ks, &ks);
	st->kafka_requests = ks.requests;
	st->kafka_local = k->local;
	st->kafka_relayed = k->forwarded;
	st->kafka_relay_failed = k->forward_failed;
}

void bk_close(struct bk *k)
{
	if (k == NULL)
		return;
	kafka_server_close(k->ks); /* forwarded ones: the client's close */
	k->listener.data = k;
	uv_close((uv_handle_t *)&k->listener, on_listener_closed);
}
