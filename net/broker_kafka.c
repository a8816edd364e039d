/* net/broker_kafka.c - a broker's Kafka listener (synod/broker.h,
 * kafka_address; docs/kafka.md): ApiVersions here; Metadata from the
 * broker's view when the view holds everything asked (the brokers, and
 * every partition of the topics asked for: any topic with
 * all_partitions), built in slices across loop turns, as a Kafka broker
 * answers from its metadata cache; every other request, and Metadata the
 * view cannot answer whole, relayed to the active controller through the
 * broker's controller connection (KAFKA_FORWARD, KIP-590's envelope), its
 * answer passed back unchanged.
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

/* Partitions of a Metadata answer built from the view per loop turn. */
#define BK_SLICE 2048

struct bjob;
struct bk {
	struct synod_broker *b;
	struct kafka_server *ks;
	uv_tcp_t listener;
	uv_idle_t idle; /* runs the Metadata slices */
	struct bjob *jobs;
	int handles;
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

/* An answer built from the view: the brokers and the topics' entries at
 * once, then the partitions BK_SLICE per loop turn (the view may change
 * in between: a topic then shows its state from either side of a
 * change). A partition the view lacks (a topic not held whole, or
 * deleted meanwhile) hands the request to the controller instead. */
struct bjob {
	struct bjob *next;
	struct bk *k;
	struct kafka_request *r;
	int32_t *live; /* the brokers listed, sorted */
	size_t n_live;
	struct kf_val *topics; /* the answer's, each with its partitions */
	size_t at;	       /* the topic being filled */
	uint32_t part;	       /* its next partition */
	int failed;
};

static int cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	return x < y ? -1 : x > y;
}

static int add_broker(void *arg, const Synod__Wire__BrokerState *bs)
{
	struct bjob *j = arg;
	struct kafka_request *r = j->r;
	struct kf_val *arr = &r->resp->v[KF_MD_BROKERS], *e;
	if (bs->fenced || bs->shutting_down || bs->n_endpoints == 0)
		return 0; /* the live ones */
	if ((e = kf_struct(&r->ra, &kf_metadata_broker)) == NULL ||
	    kf_string(&r->ra, &e->v[KF_MDB_HOST], bs->endpoints[0]->host) ||
	    kf_string(&r->ra, &e->v[KF_MDB_RACK], bs->rack)) {
		j->failed = 1;
		return 1;
	}
	e->v[KF_MDB_NODE_ID].i = bs->id;
	e->v[KF_MDB_PORT].i = (int32_t)bs->endpoints[0]->port;
	arr->v[arr->n++] = *e;
	j->live[j->n_live++] = bs->id;
	return 0;
}

/* A topic entry (its partitions array sized, filled by the slices). */
static int add_topic(struct bjob *j, const Synod__Wire__TopicState *t)
{
	struct kafka_request *r = j->r;
	struct kf_val *e = kf_struct(&r->ra, &kf_metadata_topic);
	if (e == NULL || kf_string(&r->ra, &e->v[KF_MDT_NAME], t->name) ||
	    kf_array(&r->ra, &e->v[KF_MDT_PARTITIONS], t->partitions))
		return -1;
	memcpy(e->v[KF_MDT_ID].uuid, t->topic_id.data, 16);
	j->topics->v[j->topics->n++] = *e;
	return 0;
}

struct pick {
	struct bjob *j;
	const struct kf_val *want; /* NULL: every topic */
	int missing;		   /* a topic asked for is not in the view */
};

static int name_matches(const struct kf_val *q,
			const Synod__Wire__TopicState *t)
{
	const struct kf_val *name = &q->v[KF_MDQT_NAME];
	if (!name->null)
		return strcmp(name->p, t->name) == 0;
	return t->topic_id.len == 16 &&
	       memcmp(q->v[KF_MDQT_ID].uuid, t->topic_id.data, 16) == 0;
}

static int pick_topic(void *arg, const Synod__Wire__TopicState *t)
{
	struct pick *pk = arg;
	if (pk->want) {
		int asked = 0;
		for (size_t i = 0; i < pk->want->n && !asked; i++)
			asked = name_matches(&pk->want->v[i], t);
		if (!asked)
			return 0;
	}
	if (add_topic(pk->j, t) != 0) {
		pk->j->failed = 1;
		return 1;
	}
	return 0;
}

/* The brokers, the cluster and the topics' entries: 0, or 1 when the
 * view cannot answer (no brokers in it, a topic asked for unknown to it,
 * out of memory: the controller answers). */
static int md_begin(struct bjob *j)
{
	struct kafka_request *r = j->r;
	struct synod_broker *b = j->k->b;
	const struct kf_val *want = &r->body.v[KF_MDQ_TOPICS];
	int all = want->null || (r->version == 0 && want->n == 0);
	size_t nb = synod_broker_broker_count(b);
	struct pick pk = {j, all ? NULL : want, 0};
	if (synod_broker_metadata_version(b) == 0 || nb == 0)
		return 1; /* no view of the brokers (other_brokers off) */
	if ((j->live = malloc(nb * sizeof *j->live)) == NULL ||
	    kf_array(&r->ra, &r->resp->v[KF_MD_BROKERS], nb) ||
	    kf_string(&r->ra, &r->resp->v[KF_MD_CLUSTER_ID],
		      broker_cluster_id(b)))
		return 1;
	r->resp->v[KF_MD_BROKERS].n = 0;
	synod_broker_brokers(b, add_broker, j);
	if (j->failed)
		return 1;
	if (j->n_live > 1)
		qsort(j->live, j->n_live, sizeof *j->live, cmp_i32);
	/* As a controller node says: the lowest live broker relays. */
	r->resp->v[KF_MD_CONTROLLER_ID].i = j->n_live ? j->live[0] : -1;
	j->topics = &r->resp->v[KF_MD_TOPICS];
	if (kf_array(&r->ra, j->topics,
		     all ? synod_broker_topic_count(b) : want->n))
		return 1;
	j->topics->n = 0;
	if (synod_broker_topics(b, pick_topic, &pk) != 0 || j->failed)
		return 1;
	/* A name asked for more than once, or not in the view (created
	 * since?): the controller knows. */
	if (!all && j->topics->n != want->n)
		return 1;
	return 0;
}

static int is_live(const struct bjob *j, int32_t id)
{
	return bsearch(&id, j->live, j->n_live, sizeof *j->live, cmp_i32) !=
	       NULL;
}

/* Up to BK_SLICE partitions: 0 (more to do), 1 done, -1 the view lacks
 * one (the controller answers), -2 out of memory. */
static int md_slice(struct bjob *j)
{
	struct kafka_request *r = j->r;
	unsigned done = 0;
	while (j->at < j->topics->n) {
		struct kf_val *e = &j->topics->v[j->at];
		struct kf_val *parts = &e->v[KF_MDT_PARTITIONS];
		while (j->part < parts->n) {
			Synod__Wire__PartitionState ps;
			struct kf_val *p;
			int32_t offline[64];
			size_t n_off = 0;
			if (done++ == BK_SLICE)
				return 0;
			if (synod_broker_find_partition(
				j->k->b, e->v[KF_MDT_ID].uuid, (int32_t)j->part,
				&ps) != SYNOD_OK)
				return -1;
			if ((p = kf_struct(&r->ra, &kf_metadata_partition)) ==
			    NULL)
				return -2;
			for (size_t x = 0; x < ps.n_replicas && n_off < 64; x++)
				if (!is_live(j, ps.replicas[x]))
					offline[n_off++] = ps.replicas[x];
			p->v[KF_MDP_ERROR].i = ps.leader < 0
						   ? KF_ERR_LEADER_NOT_AVAILABLE
						   : KF_ERR_NONE;
			p->v[KF_MDP_INDEX].i = ps.partition;
			p->v[KF_MDP_LEADER].i = ps.leader;
			p->v[KF_MDP_EPOCH].i = ps.leader_epoch;
			if (kf_int32s(&r->ra, &p->v[KF_MDP_REPLICAS],
				      ps.replicas, ps.n_replicas) ||
			    kf_int32s(&r->ra, &p->v[KF_MDP_ISR], ps.isr,
				      ps.n_isr) ||
			    kf_int32s(&r->ra, &p->v[KF_MDP_OFFLINE], offline,
				      n_off))
				return -2;
			parts->v[j->part++] = *p;
		}
		j->at++;
		j->part = 0;
	}
	return 1;
}

static void bjob_free(struct bjob *j)
{
	struct bjob **pp = &j->k->jobs;
	while (*pp && *pp != j)
		pp = &(*pp)->next;
	if (*pp)
		*pp = j->next;
	free(j->live);
	free(j);
}

static void bjob_cancel(struct kafka_request *r)
{
	bjob_free(r->data);
	kafka_respond_close(r);
}

static void on_idle(uv_idle_t *idle)
{
	struct bk *k = idle->data;
	struct bjob *queue = k->jobs, *next;
	k->jobs = NULL;
	for (struct bjob *j = queue; j; j = next) {
		struct kafka_request *r = j->r;
		int rv;
		next = j->next;
		j->next = NULL;
		if (kafka_request_orphaned(r)) {
			free(j->live);
			free(j);
			kafka_respond_close(r);
			continue;
		}
		rv = md_slice(j);
		if (rv == 0) {
			j->next = k->jobs;
			k->jobs = j;
			continue;
		}
		free(j->live);
		free(j);
		r->cancel = NULL;
		if (rv == 1) {
			k->local++;
			kafka_respond(r); /* encoded on the pool when large */
		} else {
			forward(r); /* the values built stay in the arena */
		}
	}
	if (k->jobs == NULL)
		uv_idle_stop(idle);
}

static void handle_metadata(struct kafka_request *r, struct kf_val *resp)
{
	struct bk *k = r->arg;
	struct bjob *j = calloc(1, sizeof *j);
	(void)resp;
	if (j == NULL) {
		forward(r);
		return;
	}
	j->k = k;
	j->r = r;
	if (md_begin(j) != 0) {
		free(j->live);
		free(j);
		forward(r); /* the values built stay in the arena */
		return;
	}
	r->data = j;
	r->cancel = bjob_cancel;
	j->next = k->jobs;
	k->jobs = j;
	uv_idle_start(&k->idle, on_idle);
}

/* Metadata here when it can; the rest is the controller's. */
static kafka_handler pick(int16_t key)
{
	return key == KF_API_METADATA ? handle_metadata : handle_forward;
}

/* The same for every broker (filled at each start). */
static struct kafka_api bk_apis[KAFKA_SERVED_APIS];

/* ---- start and close ---- */

static void on_handle_closed(uv_handle_t *h)
{
	struct bk *k = h->data;
	if (--k->handles == 0)
		free(k);
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
	uv_idle_init(loop, &k->idle);
	k->idle.data = k;
	uv_tcp_init(loop, &k->listener);
	k->listener.data = k->ks;
	k->handles = 2;
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
	/* Metadata being built: cancelled; relayed ones: ended by the
	 * client's close. */
	kafka_server_close(k->ks);
	k->listener.data = k;
	uv_close((uv_handle_t *)&k->listener, on_handle_closed);
	uv_close((uv_handle_t *)&k->idle, on_handle_closed);
}
