/* controller/kafka_groups.c - Kafka's group APIs on a controller node
 * (docs/kafka.md 2.4): ListGroups, DescribeGroups (members' subscriptions
 * and assignments in Kafka's consumer protocol) and ConsumerGroupDescribe,
 * from the active controller's GROUP_LIST and GROUP_DESCRIBE. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_admin_apis.h"
#include "kafka_int.h"
#include "log.h"
#include "store.h"

/* ---- groups: ListGroups (16), DescribeGroups (15),
 * ConsumerGroupDescribe (69) ---- */

/* "Empty", "Assigning", "Reconciling", "Stable" (Kafka's spelling of
 * KIP-848's states) from Synod's "empty", ... */
static int state_name(struct kafka_request *r, struct kf_val *v,
		      const char *state)
{
	char buf[32];
	snprintf(buf, sizeof buf, "%s", state ? state : "");
	buf[0] = (char)toupper((unsigned char)buf[0]);
	return kafka_str(r, v, buf);
}

static void lg_done(struct kop *op, ProtobufCMessage *m)
{
	struct kafka_request *r = op->r;
	const Synod__Wire__GroupListResponse *resp = (const void *)m;
	const struct kf_val *filter = &r->body.v[KF_LGQ_STATES_FILTER];
	struct kf_val *out = &r->resp->v[KF_LG_GROUPS];
	if (m == NULL || op->code != SYNOD_OK) {
		const char *why;
		int16_t err;
		kafka_call_error(op, &err, &why);
		r->resp->v[KF_LG_ERROR].i = err;
		kop_done(op);
		return;
	}
	if (kf_array(&r->ra, out, resp->n_groups) != 0)
		goto oom;
	out->n = 0;
	for (size_t i = 0; i < resp->n_groups; i++) {
		const Synod__Wire__GroupSummary *g = resp->groups[i];
		struct kf_val *e = kf_struct(&r->ra, &kf_listed_group);
		int keep = filter->n == 0;
		for (size_t x = 0; x < filter->n && !keep; x++)
			keep = strcasecmp(filter->v[x].p, g->state) == 0;
		if (!keep)
			continue;
		if (e == NULL ||
		    kafka_str(r, &e->v[KF_LGG_GROUP_ID], g->group_id) ||
		    kafka_str(r, &e->v[KF_LGG_PROTOCOL_TYPE], "consumer") ||
		    state_name(r, &e->v[KF_LGG_STATE], g->state))
			goto oom;
		out->v[out->n++] = *e;
	}
	kop_done(op);
	return;
oom:
	kop_fail(op);
}

void kafka_list_groups(struct kafka_request *r, struct kf_val *resp)
{
	Synod__Wire__GroupListRequest req =
	    SYNOD__WIRE__GROUP_LIST_REQUEST__INIT;
	struct kop *op;
	(void)resp;
	if ((op = kafka_begin(r)) == NULL)
		return;
	kop_call(op, SYNOD_API_GROUP_LIST, &req.base, 0,
		 &synod__wire__group_list_response__descriptor, lg_done);
}

/* The consumer protocol's bytes (version 0, an int16 version first):
 * the subscription (topic names) or the assignment (partitions by
 * topic). */
static int consumer_bytes(struct kafka_request *r, struct kf_val *out,
			  const struct kf_schema *s, const struct kf_val *v)
{
	struct kf_buf b = {0};
	uint8_t *p;
	kf_put_i16(&b, 0);
	kf_encode(s, 0, 0, v, &b);
	if (b.failed || (p = kf_alloc(&r->ra, b.len + 1)) == NULL) {
		kf_buf_free(&b);
		return -1;
	}
	memcpy(p, b.p, b.len);
	out->null = 0;
	out->p = (const char *)p;
	out->len = b.len;
	kf_buf_free(&b);
	return 0;
}

static int member_subscription(struct kafka_request *r, struct kf_val *out,
			       const Synod__Wire__GroupMemberDescription *gm)
{
	struct kf_val *sub =
	    kf_struct(&r->ra, &kf_consumer_protocol_subscription);
	struct kf_val *topics;
	if (sub == NULL)
		return -1;
	topics = &sub->v[KF_CSUB_TOPICS];
	if (kf_array(&r->ra, topics, gm->n_subscribed_topic_names) != 0)
		return -1;
	for (size_t i = 0; i < gm->n_subscribed_topic_names; i++)
		if (kafka_str(r, &topics->v[i], gm->subscribed_topic_names[i]))
			return -1;
	sub->v[KF_CSUB_USER_DATA].null = 1;
	return consumer_bytes(r, out, &kf_consumer_protocol_subscription, sub);
}

/* A partition set as an array of (topic, partitions) structs of schema
 * s: name and partitions at fields name_f and parts_f, the topic id at
 * id_f (-1: none). Both DescribeGroups' consumer protocol and
 * ConsumerGroupDescribe's assignment take this shape. */
static int topic_partitions(struct kafka_request *r, struct kf_val *tps,
			    const Synod__Wire__GroupPartitionSet *set,
			    const struct kf_schema *s, int name_f, int parts_f,
			    int id_f)
{
	size_t n = set ? set->n_topics : 0;
	if (kf_array(&r->ra, tps, n) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const Synod__Wire__GroupTopicPartitions *gt = set->topics[i];
		struct kf_val *tp = kf_struct(&r->ra, s);
		if (tp == NULL ||
		    kafka_str(r, &tp->v[name_f], gt->topic ? gt->topic : "") ||
		    kf_int32s(&r->ra, &tp->v[parts_f], gt->partitions,
			      gt->n_partitions))
			return -1;
		if (id_f >= 0 && gt->topic_id.len == 16)
			memcpy(tp->v[id_f].uuid, gt->topic_id.data, 16);
		tps->v[i] = *tp;
	}
	return 0;
}

/* The description of group id in a GROUP_DESCRIBE answer, or NULL when
 * it has none or says the group is unknown. */
static const Synod__Wire__GroupDescription *
described(const Synod__Wire__GroupDescribeResponse *resp, const char *id)
{
	for (size_t x = 0; x < resp->n_groups; x++) {
		const Synod__Wire__GroupDescription *gd = resp->groups[x];
		if (gd->summary && strcmp(gd->summary->group_id, id) == 0)
			return gd->has_code && gd->code != SYNOD_OK ? NULL : gd;
	}
	return NULL;
}

static int member_assignment(struct kafka_request *r, struct kf_val *out,
			     const Synod__Wire__GroupPartitionSet *set)
{
	struct kf_val *asg =
	    kf_struct(&r->ra, &kf_consumer_protocol_assignment);
	if (asg == NULL ||
	    topic_partitions(r, &asg->v[KF_CASG_PARTITIONS], set,
			     &kf_consumer_protocol_topic_partition,
			     KF_CASGT_TOPIC, KF_CASGT_PARTITIONS, -1))
		return -1;
	asg->v[KF_CASG_USER_DATA].null = 1;
	return consumer_bytes(r, out, &kf_consumer_protocol_assignment, asg);
}

static void dg_done(struct kop *op, ProtobufCMessage *m)
{
	struct kafka_request *r = op->r;
	const Synod__Wire__GroupDescribeResponse *resp = (const void *)m;
	const struct kf_val *want = &r->body.v[KF_DGQ_GROUPS];
	struct kf_val *out = &r->resp->v[KF_DG_GROUPS];
	if (kf_array(&r->ra, out, want->n) != 0)
		goto oom;
	for (size_t i = 0; i < want->n; i++) {
		const Synod__Wire__GroupDescription *gd = NULL;
		struct kf_val *g = kf_struct(&r->ra, &kf_described_group);
		struct kf_val *members;
		if (g == NULL ||
		    kafka_str(r, &g->v[KF_DGG_GROUP_ID], want->v[i].p) ||
		    kafka_str(r, &g->v[KF_DGG_PROTOCOL_TYPE], "consumer"))
			goto oom;
		out->v[i] = *g;
		g = &out->v[i];
		if (m == NULL || op->code != SYNOD_OK) {
			const char *why;
			int16_t err;
			kafka_call_error(op, &err, &why);
			g->v[KF_DGG_ERROR].i = err;
			continue;
		}
		if ((gd = described(resp, want->v[i].p)) == NULL) {
			/* As a Kafka coordinator says of a group it does
			 * not have: no error, state Dead. */
			if (kafka_str(r, &g->v[KF_DGG_STATE], "Dead") ||
			    kafka_str(r, &g->v[KF_DGG_PROTOCOL_TYPE], ""))
				goto oom;
			continue;
		}
		if (state_name(r, &g->v[KF_DGG_STATE], gd->summary->state) ||
		    kafka_str(r, &g->v[KF_DGG_PROTOCOL_DATA],
			      gd->summary->assignor))
			goto oom;
		members = &g->v[KF_DGG_MEMBERS];
		if (kf_array(&r->ra, members, gd->n_members) != 0)
			goto oom;
		for (size_t x = 0; x < gd->n_members; x++) {
			const Synod__Wire__GroupMemberDescription *gm =
			    gd->members[x];
			struct kf_val *e =
			    kf_struct(&r->ra, &kf_described_group_member);
			if (e == NULL ||
			    kafka_str(r, &e->v[KF_DGM_MEMBER_ID],
				      gm->member_id) ||
			    kafka_str(r, &e->v[KF_DGM_INSTANCE_ID],
				      gm->instance_id) ||
			    kafka_str(r, &e->v[KF_DGM_CLIENT_ID],
				      gm->client_id ? gm->client_id : "") ||
			    kafka_str(r, &e->v[KF_DGM_CLIENT_HOST],
				      gm->client_host ? gm->client_host : "") ||
			    member_subscription(r, &e->v[KF_DGM_METADATA],
						gm) ||
			    member_assignment(r, &e->v[KF_DGM_ASSIGNMENT],
					      gm->assigned))
				goto oom;
			members->v[x] = *e;
		}
	}
	kop_done(op);
	return;
oom:
	kop_fail(op);
}

static void group_describe(struct kafka_request *r, const struct kf_val *ids,
			   kop_step step)
{
	Synod__Wire__GroupDescribeRequest req =
	    SYNOD__WIRE__GROUP_DESCRIBE_REQUEST__INIT;
	struct kop *op;
	if ((op = kafka_begin(r)) == NULL)
		return;
	if (ids->n == 0) {
		step(op, NULL);
		return;
	}
	if ((req.group_ids = KNEWN(r, char *, ids->n)) == NULL) {
		kop_fail(op);
		return;
	}
	for (size_t i = 0; i < ids->n; i++)
		req.group_ids[i] = (char *)ids->v[i].p;
	req.n_group_ids = ids->n;
	kop_call(op, SYNOD_API_GROUP_DESCRIBE, &req.base, 0,
		 &synod__wire__group_describe_response__descriptor, step);
}

void kafka_describe_groups(struct kafka_request *r, struct kf_val *resp)
{
	(void)resp;
	group_describe(r, &r->body.v[KF_DGQ_GROUPS], dg_done);
}

static int cgd_partitions(struct kafka_request *r, struct kf_val *out,
			  const Synod__Wire__GroupPartitionSet *set)
{
	struct kf_val *a = kf_struct(&r->ra, &kf_consumer_group_assignment);
	if (a == NULL ||
	    topic_partitions(r, &a->v[KF_CGDA_TOPIC_PARTITIONS], set,
			     &kf_consumer_group_topic_partitions, KF_CGDT_NAME,
			     KF_CGDT_PARTITIONS, KF_CGDT_ID))
		return -1;
	*out = *a;
	return 0;
}

static void cgd_done(struct kop *op, ProtobufCMessage *m)
{
	struct kafka_request *r = op->r;
	const Synod__Wire__GroupDescribeResponse *resp = (const void *)m;
	const struct kf_val *want = &r->body.v[KF_CGDQ_GROUP_IDS];
	struct kf_val *out = &r->resp->v[KF_CGD_GROUPS];
	if (kf_array(&r->ra, out, want->n) != 0)
		goto oom;
	for (size_t i = 0; i < want->n; i++) {
		const Synod__Wire__GroupDescription *gd = NULL;
		struct kf_val *g =
		    kf_struct(&r->ra, &kf_consumer_group_described_group);
		struct kf_val *members;
		if (g == NULL ||
		    kafka_str(r, &g->v[KF_CGDG_GROUP_ID], want->v[i].p))
			goto oom;
		g->v[KF_CGDG_ERROR_MSG].null = 1;
		out->v[i] = *g;
		g = &out->v[i];
		if (m == NULL || op->code != SYNOD_OK) {
			const char *why;
			int16_t err;
			kafka_call_error(op, &err, &why);
			g->v[KF_CGDG_ERROR].i = err;
			if (kafka_msg(r, &g->v[KF_CGDG_ERROR_MSG], why))
				goto oom;
			continue;
		}
		if ((gd = described(resp, want->v[i].p)) == NULL) {
			g->v[KF_CGDG_ERROR].i = KF_ERR_GROUP_ID_NOT_FOUND;
			if (kafka_msg(r, &g->v[KF_CGDG_ERROR_MSG],
				      "no such group"))
				goto oom;
			continue;
		}
		if (state_name(r, &g->v[KF_CGDG_STATE], gd->summary->state) ||
		    kafka_str(r, &g->v[KF_CGDG_ASSIGNOR],
			      gd->summary->assignor))
			goto oom;
		g->v[KF_CGDG_EPOCH].i = gd->summary->group_epoch;
		g->v[KF_CGDG_ASSIGNMENT_EPOCH].i =
		    gd->summary->assignment_epoch;
		members = &g->v[KF_CGDG_MEMBERS];
		if (kf_array(&r->ra, members, gd->n_members) != 0)
			goto oom;
		for (size_t x = 0; x < gd->n_members; x++) {
			const Synod__Wire__GroupMemberDescription *gm =
			    gd->members[x];
			struct kf_val *e =
			    kf_struct(&r->ra, &kf_consumer_group_member);
			struct kf_val *names;
			if (e == NULL ||
			    kafka_str(r, &e->v[KF_CGDM_MEMBER_ID],
				      gm->member_id) ||
			    kafka_str(r, &e->v[KF_CGDM_INSTANCE_ID],
				      gm->instance_id) ||
			    kafka_str(r, &e->v[KF_CGDM_RACK_ID], gm->rack) ||
			    kafka_str(r, &e->v[KF_CGDM_CLIENT_ID],
				      gm->client_id ? gm->client_id : "") ||
			    kafka_str(r, &e->v[KF_CGDM_CLIENT_HOST],
				      gm->client_host ? gm->client_host : "") ||
			    kafka_str(r, &e->v[KF_CGDM_TOPIC_REGEX],
				      gm->subscribed_topic_regex) ||
			    cgd_partitions(r, &e->v[KF_CGDM_ASSIGNMENT],
					   gm->assigned) ||
			    cgd_partitions(r, &e->v[KF_CGDM_TARGET_ASSIGNMENT],
					   gm->target))
				goto oom;
			e->v[KF_CGDM_EPOCH].i = gm->member_epoch;
			names = &e->v[KF_CGDM_TOPIC_NAMES];
			if (kf_array(&r->ra, names,
				     gm->n_subscribed_topic_names) != 0)
				goto oom;
			for (size_t t = 0; t < gm->n_subscribed_topic_names;
			     t++)
				if (kafka_str(r, &names->v[t],
					      gm->subscribed_topic_names[t]))
					goto oom;
			members->v[x] = *e;
		}
	}
	kop_done(op);
	return;
oom:
	kop_fail(op);
}

void kafka_consumer_group_describe(struct kafka_request *r, struct kf_val *resp)
{
	(void)resp;
	group_describe(r, &r->body.v[KF_CGDQ_GROUP_IDS], cgd_done);
}
