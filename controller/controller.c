/* controller/controller.c - the composition root (see controller.h). */
#include "controller.h"

#include <stdio.h>

#include "brokers.h"
#include "cluster.h"
#include "groups.h"
#include "module.h"
#include "query.h"
#include "topics.h"

int controller_start(struct server *s, uv_loop_t *loop, struct node *node,
		     const char *address)
{
	struct brokers *brokers;
	struct topics *topics;
	struct groups *groups;
	struct query_srv *query;
	struct brokers_hooks hooks;
	struct module m;
	if (server_start(s, loop, node, address) != 0)
		return -1;
	if (brokers_new(s, &brokers) != 0 ||
	    topics_new(s, brokers, &topics) != 0 ||
	    groups_new(s, &groups) != 0 || query_new(s, &query) != 0) {
		snprintf(s->errmsg, sizeof s->errmsg, "out of memory");
		return -1;
	}
	topics_broker_hooks(topics, &hooks);
	brokers_set_hooks(brokers, &hooks);
	cluster_module(&m);
	if (server_register(s, &m) != 0)
		return -1;
	brokers_module(brokers, &m);
	if (server_register(s, &m) != 0)
		return -1;
	topics_module(topics, &m);
	if (server_register(s, &m) != 0)
		return -1;
	groups_module(groups, &m);
	if (server_register(s, &m) != 0)
		return -1;
	query_module(query, &m);
	if (server_register(s, &m) != 0)
		return -1;
	return 0;
}
