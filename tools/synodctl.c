/* tools/synodctl.c - the Synod operator CLI. See `synodctl --help` and
 * docs/operations.md. Exit codes: 0 ok, 1 the cluster refused or failed the
 * request, 2 usage error, 3 the cluster could not be reached. */
#include <getopt.h>
#include <signal.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "configdefs.h"
#include "json_answers.h"

static const char *opt_bootstrap;
static const char *opt_tls[3]; /* --ca, --cert, --key */
static const char *opt_cluster_id;
static unsigned opt_timeout_ms = 5000;
static int opt_json;
/* quorum status: how long a node that does not answer is waited for. */
#define PROBE_TIMEOUT_MS 500

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: synodctl [--bootstrap H:P,...] [--cluster-id ID] "
	    "[--json] [--timeout-ms N]\n"
	    "                COMMAND ...\n"
	    "\n"
	    "The cluster is found from --bootstrap or $SYNOD_BOOTSTRAP "
	    "(client addresses).\n"
	    "TLS (docs/security.md): --ca FILE --cert FILE --key FILE, or "
	    "$SYNOD_CA,\n"
	    "$SYNOD_CERT and $SYNOD_KEY.\n"
	    "\n"
	    "Quorum:\n"
	    "  quorum status [--digest]            every node's role, "
	    "applied index, lag\n"
	    "                                      (--digest: each node's "
	    "state digest)\n"
	    "  quorum add-voter ID RAFT_H:P CLIENT_H:P\n"
	    "                                      add a started, empty "
	    "node as a voter\n"
	    "  quorum remove-voter ID              remove a node from the "
	    "quorum\n"
	    "  quorum transfer-leader [ID]         move leadership (to ID "
	    "or any voter)\n"
	    "Dynamic configs (cluster scope unless --topic NAME):\n"
	    "  config set [--topic T | --group G] [--validate-only] "
	    "KEY=VALUE ...\n"
	    "  config get [--topic T | --group G] KEY   value (or default)\n"
	    "  config list [--topic T | --group G | --cluster] every config "
	    "set\n"
	    "  config delete [--topic T | --group G] KEY\n"
	    "  config keys                         the keys Synod accepts\n"
	    "Brokers:\n"
	    "  broker list                         every registered broker\n"
	    "  broker describe ID                  one broker in detail\n"
	    "  broker unregister ID                remove a broker for good\n"
	    "Topics and partitions:\n"
	    "  topic create NAME --partitions P --replication-factor R\n"
	    "        [--config k=v]... [--replica-assignment 1:2,2:3,...]\n"
	    "        [--validate-only]\n"
	    "  topic delete NAME...\n"
	    "  topic describe NAME...              leaders, epochs, ISRs, "
	    "configs\n"
	    "  topic list\n"
	    "  topic add-partitions NAME --total N\n"
	    "  partition list [--offline] [--under-replicated]\n"
	    "  partition elect-leaders [--preferred|--unclean] [--topic T "
	    "[--partition P]...]\n"
	    "Consumer groups:\n"
	    "  group list                          every group, state, "
	    "epochs, members\n"
	    "  group describe G... [--members|--state]\n"
	    "  group delete G                      an empty group\n"
	    "  group remove-member G MEMBER        fence a member\n"
	    "\n"
	    "Grants (TLS principals; docs/security.md; admin only):\n"
	    "  acl add PRINCIPAL ROLE [--broker-id N] [--groups G,P*,...]\n"
	    "                                      ROLE: reader, consumer, "
	    "broker,\n"
	    "                                      operator, admin, none\n"
	    "  acl remove PRINCIPAL                take every grant back\n"
	    "  acl list [PRINCIPAL]                principals and their "
	    "grants\n"
	    "\n"
	    "Inspecting (docs/operations.md):\n"
	    "  query \"SELECT ...\" [--max-rows N] [--query-timeout-ms N]\n"
	    "                                      read-only SQL over the "
	    "metadata\n"
	    "  watch [--interval-ms N]             redraw quorum, broker and "
	    "partition\n"
	    "                                      health every second "
	    "(Ctrl-C stops)\n"
	    "\n"
	    "--json prints machine-readable output (docs/operations.md has "
	    "the schema).\n");
}

static int die_usage(const char *msg)
{
	fprintf(stderr, "synodctl: %s (see synodctl --help)\n", msg);
	return 2;
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (s) {
		printf("%s\n", s);
		free(s);
	}
	json_decref(j);
}

/* ja_*_write's writer: stdout. */
static int write_stdout(void *arg, const char *text, size_t len)
{
	(void)arg;
	return fwrite(text, 1, len, stdout) == len ? 0 : -1;
}

/* A command that succeeded with nothing to show. */
static void print_done(const char *text)
{
	if (opt_json)
		print_json(json_pack("{s:b}", "ok", 1));
	else
		printf("%s\n", text);
}

/* Report a failed call or a response error. Returns the exit code. */
static int report(int rv, ProtobufCMessage *resp, struct synod_client *c)
{
	const Synod__Wire__Status *st;
	if (rv != SYNOD_OK) {
		fprintf(stderr, "synodctl: %s: %s\n", synod_error_name(rv),
			synod_client_errmsg(c)[0] ? synod_client_errmsg(c)
						  : synod_strerror(rv));
		return rv == SYNOD_ETIMEOUT || rv == SYNOD_ECONNECTION ? 3 : 1;
	}
	st = tool_status(resp);
	if (st && st->code != SYNOD_OK) {
		if (opt_json) {
			json_t *j = json_pack("{s:s,s:i,s:s}", "error",
					      synod_error_name(st->code),
					      "code", st->code, "message",
					      st->message ? st->message : "");
			print_json(j);
		} else {
			fprintf(stderr, "synodctl: %s: %s\n",
				synod_error_name(st->code),
				st->message ? st->message
					    : synod_strerror(st->code));
		}
		return 1;
	}
	return 0;
}

static struct synod_client *client(int pinned_to_first)
{
	const char *b = tool_bootstrap(opt_bootstrap);
	if (b == NULL) {
		fprintf(stderr, "synodctl: no cluster: pass --bootstrap "
				"H:P,... or set SYNOD_BOOTSTRAP\n");
		return NULL;
	}
	return tool_client(b, opt_cluster_id, opt_timeout_ms, pinned_to_first);
}

/* One request to the active controller, errors reported. Returns the exit
 * code; on 0, *resp is the decoded response, which the caller frees with
 * protobuf_c_message_free_unpacked(). */
static int leader_call(uint16_t api, const ProtobufCMessage *req,
		       const ProtobufCMessageDescriptor *desc,
		       ProtobufCMessage **resp)
{
	struct synod_client *c = client(0);
	int rv, code;
	*resp = NULL;
	if (c == NULL)
		return 2;
	rv = synod_client_call(c, api, req, 1, desc, resp);
	code = report(rv, *resp, c);
	synod_client_close(c);
	if (code != 0 && *resp != NULL) {
		protobuf_c_message_free_unpacked(*resp, NULL);
		*resp = NULL;
	}
	return code;
}

/* ---- quorum status ---- */

struct probe {
	struct synod_client *c;
	int done;
	int rv;
	Synod__Wire__NodeStatusResponse *resp;
};

static void on_probe(void *arg, int status, const uint8_t *body, size_t len)
{
	struct probe *p = arg;
	p->done = 1;
	p->rv = status;
	if (status == SYNOD_OK) {
		p->resp =
		    synod__wire__node_status_response__unpack(NULL, len, body);
		if (p->resp == NULL)
			p->rv = SYNOD_EINVALID_REQUEST;
	}
}

static int quorum_status(int with_digest)
{
	struct synod_client *c = client(0);
	Synod__Wire__MetadataRequest mreq = SYNOD__WIRE__METADATA_REQUEST__INIT;
	Synod__Wire__MetadataResponse *md = NULL;
	Synod__Wire__NodeStatusRequest sreq =
	    SYNOD__WIRE__NODE_STATUS_REQUEST__INIT;
	struct probe *probes;
	uv_loop_t loop;
	const Synod__Wire__NodeStatusResponse *leader = NULL;
	uint64_t commit = 0, term = 0;
	json_t *root, *nodes;
	int rv, code;
	if (c == NULL)
		return 2;
	sreq.has_with_digest = sreq.with_digest = with_digest != 0;
	mreq.cluster_id = (char *)opt_cluster_id;
	rv = synod_client_call(c, SYNOD_API_METADATA, &mreq.base, 0,
			       &synod__wire__metadata_response__descriptor,
			       (ProtobufCMessage **)&md);
	code = report(rv, (ProtobufCMessage *)md, c);
	synod_client_close(c);
	if (code != 0) {
		if (md)
			synod__wire__metadata_response__free_unpacked(md, NULL);
		return code;
	}
	/* Ask every node for its own view, all at once. */
	uv_loop_init(&loop);
	probes = calloc(md->n_nodes ? md->n_nodes : 1, sizeof *probes);
	for (size_t i = 0; i < md->n_nodes; i++) {
		struct synod_client_config cfg = {0};
		tool_tls_apply(&cfg);
		cfg.bootstrap = md->nodes[i]->client_address;
		/* A refused connection is an answer (fail_fast); a silent
		 * node is given PROBE_TIMEOUT_MS. */
		cfg.request_timeout_ms = opt_timeout_ms < PROBE_TIMEOUT_MS
					     ? opt_timeout_ms
					     : PROBE_TIMEOUT_MS;
		cfg.connect_timeout_ms = cfg.request_timeout_ms;
		cfg.liveness_timeout_ms = cfg.request_timeout_ms;
		cfg.pinned = 1;
		cfg.fail_fast = 1;
		probes[i].done = 1;
		probes[i].rv = SYNOD_ECONNECTION;
		if (cfg.bootstrap[0] == '\0' ||
		    synod_client_new(&loop, &cfg, &probes[i].c) != SYNOD_OK)
			continue;
		if (synod_client_send(probes[i].c, SYNOD_API_NODE_STATUS,
				      &sreq.base, 0, on_probe,
				      &probes[i]) == SYNOD_OK)
			probes[i].done = 0;
	}
	for (;;) {
		int all = 1;
		for (size_t i = 0; i < md->n_nodes; i++)
			all &= probes[i].done;
		if (all)
			break;
		uv_run(&loop, UV_RUN_ONCE);
	}
	{
		struct ja_probe *jp =
		    calloc(md->n_nodes ? md->n_nodes : 1, sizeof *jp);
		if (jp == NULL) {
			fprintf(stderr, "synodctl: out of memory\n");
			exit(1);
		}
		for (size_t i = 0; i < md->n_nodes; i++) {
			jp[i].rv = probes[i].rv;
			jp[i].resp = probes[i].resp;
		}
		root = ja_quorum(md, jp, with_digest, &leader);
		free(jp);
	}
	term = (uint64_t)json_integer_value(json_object_get(root, "term"));
	commit =
	    (uint64_t)json_integer_value(json_object_get(root, "commit_index"));
	nodes = json_object_get(root, "nodes");
	if (opt_json) {
		print_json(root);
	} else {
		size_t i;
		json_t *n;
		printf("Cluster:  %s\n", md->cluster_id ? md->cluster_id : "");
		if (leader)
			printf(
			    "Leader:   %llu (term %llu, commit index %llu)\n",
			    (unsigned long long)leader->node_id,
			    (unsigned long long)term,
			    (unsigned long long)commit);
		else
			printf("Leader:   none reachable (term %llu)\n",
			       (unsigned long long)term);
		printf("\n%-4s %-22s %-6s %-10s %-9s %10s %8s %14s\n", "ID",
		       "ADDRESS", "VOTER", "ROLE", "REACHABLE", "APPLIED",
		       "LAG", "LAST_CONTACT");
		json_array_foreach(nodes, i, n)
		{
			char applied[24] = "-", lag[24] = "-",
			     contact[24] = "-";
			json_t *v;
			if (json_is_integer(
				v = json_object_get(n, "applied_index")))
				snprintf(applied, sizeof applied, "%lld",
					 (long long)json_integer_value(v));
			if (json_is_integer(v = json_object_get(n, "lag")))
				snprintf(lag, sizeof lag, "%lld",
					 (long long)json_integer_value(v));
			if (json_is_integer(
				v = json_object_get(n, "last_contact_ms")))
				snprintf(contact, sizeof contact, "%lld ms",
					 (long long)json_integer_value(v));
			printf("%-4lld %-22s %-6s %-10s %-9s %10s %8s %14s\n",
			       (long long)json_integer_value(
				   json_object_get(n, "id")),
			       json_string_value(json_object_get(n, "address")),
			       json_is_true(json_object_get(n, "voter")) ? "yes"
									 : "no",
			       json_string_value(json_object_get(n, "role")),
			       json_is_true(json_object_get(n, "reachable"))
				   ? "yes"
				   : "NO",
			       applied, lag, contact);
			if (with_digest &&
			    json_is_string(
				v = json_object_get(n, "state_digest")))
				printf("     state digest %s at metadata "
				       "version %lld\n",
				       json_string_value(v),
				       (long long)json_integer_value(
					   json_object_get(
					       n, "metadata_version")));
		}
		{
			json_t *hh = json_object_get(root, "health");
			if (json_is_object(hh)) {
				json_t *b = json_object_get(hh, "brokers");
#define HV(o, k) ((long long)json_integer_value(json_object_get(o, k)))
				printf("\nBrokers:    %lld registered: %lld "
				       "active, %lld fenced, %lld shutting "
				       "down\n",
				       HV(b, "registered"), HV(b, "active"),
				       HV(b, "fenced"), HV(b, "shutting_down"));
				printf("Partitions: %lld in %lld topics: %lld "
				       "offline, %lld under-replicated, %lld "
				       "not on their preferred leader\n",
				       HV(hh, "partitions"), HV(hh, "topics"),
				       HV(hh, "offline"),
				       HV(hh, "under_replicated"),
				       HV(hh, "not_preferred_leader"));
#undef HV
			}
		}
		json_decref(root);
	}
	for (size_t i = 0; i < md->n_nodes; i++) {
		if (probes[i].c)
			synod_client_close(probes[i].c);
		if (probes[i].resp)
			synod__wire__node_status_response__free_unpacked(
			    probes[i].resp, NULL);
	}
	while (uv_run(&loop, UV_RUN_NOWAIT))
		;
	uv_loop_close(&loop);
	free(probes);
	synod__wire__metadata_response__free_unpacked(md, NULL);
	return leader ? 0 : 1;
}

static int parse_id(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (s[0] == '\0' || s[0] == '-' || *end != '\0' || v == 0 ||
	    v > UINT32_MAX)
		return -1;
	*out = v;
	return 0;
}

static int quorum_change(int argc, char **argv)
{
	Synod__Wire__AddVoterRequest add = SYNOD__WIRE__ADD_VOTER_REQUEST__INIT;
	Synod__Wire__RemoveVoterRequest rm =
	    SYNOD__WIRE__REMOVE_VOTER_REQUEST__INIT;
	Synod__Wire__TransferLeaderRequest tr =
	    SYNOD__WIRE__TRANSFER_LEADER_REQUEST__INIT;
	Synod__Wire__QuorumChangeResponse *resp = NULL;
	const ProtobufCMessage *req;
	uint16_t api;
	int code;
	if (strcmp(argv[0], "add-voter") == 0) {
		if (argc != 4 || parse_id(argv[1], &add.id) != 0)
			return die_usage("quorum add-voter ID RAFT_H:P "
					 "CLIENT_H:P");
		add.raft_address = argv[2];
		add.client_address = argv[3];
		api = SYNOD_API_ADD_VOTER;
		req = &add.base;
	} else if (strcmp(argv[0], "remove-voter") == 0) {
		if (argc != 2 || parse_id(argv[1], &rm.id) != 0)
			return die_usage("quorum remove-voter ID");
		api = SYNOD_API_REMOVE_VOTER;
		req = &rm.base;
	} else if (strcmp(argv[0], "transfer-leader") == 0) {
		if (argc > 2 || (argc == 2 && parse_id(argv[1], &tr.id) != 0))
			return die_usage("quorum transfer-leader [ID]");
		tr.has_id = argc == 2;
		api = SYNOD_API_TRANSFER_LEADER;
		req = &tr.base;
	} else {
		return die_usage("unknown quorum command");
	}
	code = leader_call(api, req,
			   &synod__wire__quorum_change_response__descriptor,
			   (ProtobufCMessage **)&resp);
	if (code == 0) {
		if (opt_json) {
			json_t *j = json_object();
			json_object_set_new(j, "ok", json_true());
			json_object_set_new(
			    j, "leader_id",
			    resp->has_leader_id
				? json_integer((json_int_t)resp->leader_id)
				: json_null());
			print_json(j);
		} else {
			printf("%s: done", argv[0]);
			if (resp->has_leader_id && resp->leader_id)
				printf(" (leader now %llu)",
				       (unsigned long long)resp->leader_id);
			printf("\n");
		}
	}
	if (resp)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code;
}

/* ---- grants (principal-scope configs, docs/security.md) ---- */

static const char *const acl_keys[] = {"role", "broker.id", "groups"};

static int acl_cmd(int argc, char **argv)
{
	const char *sub = argv[0];
	int code;
	if (strcmp(sub, "add") == 0) {
		Synod__Wire__ConfigSetRequest req =
		    SYNOD__WIRE__CONFIG_SET_REQUEST__INIT;
		Synod__Wire__ConfigEntry e[3], *ptrs[3];
		Synod__Wire__ConfigSetResponse *resp = NULL;
		const char *vals[3] = {NULL, NULL, NULL};
		if (argc < 3)
			return die_usage("acl add PRINCIPAL ROLE [--broker-id "
					 "N] [--groups G,P*,...]");
		vals[0] = argv[2];
		for (int i = 3; i < argc; i++) {
			if (strcmp(argv[i], "--broker-id") == 0 && i + 1 < argc)
				vals[1] = argv[++i];
			else if (strcmp(argv[i], "--groups") == 0 &&
				 i + 1 < argc)
				vals[2] = argv[++i];
			else
				return die_usage("acl add: unknown option");
		}
		for (int k = 0; k < 3; k++) {
			if (vals[k] == NULL)
				continue;
			synod__wire__config_entry__init(&e[req.n_entries]);
			e[req.n_entries].scope = SYNOD_SCOPE_PRINCIPAL;
			e[req.n_entries].resource = argv[1];
			e[req.n_entries].key = (char *)acl_keys[k];
			e[req.n_entries].value = (char *)vals[k];
			ptrs[req.n_entries] = &e[req.n_entries];
			req.n_entries++;
		}
		req.entries = ptrs;
		code =
		    leader_call(SYNOD_API_CONFIG_SET, &req.base,
				&synod__wire__config_set_response__descriptor,
				(ProtobufCMessage **)&resp);
		if (code == 0) {
			if (opt_json)
				print_json(json_pack(
				    "{s:b,s:I}", "ok", 1, "metadata_version",
				    (json_int_t)resp->metadata_version));
			else
				printf("ok: %s is %s\n", argv[1], argv[2]);
		}
		if (resp)
			protobuf_c_message_free_unpacked(&resp->base, NULL);
		return code;
	}
	if (strcmp(sub, "remove") == 0) {
		Synod__Wire__ConfigListRequest lr =
		    SYNOD__WIRE__CONFIG_LIST_REQUEST__INIT;
		Synod__Wire__ConfigListResponse *l = NULL;
		if (argc != 2)
			return die_usage("acl remove PRINCIPAL");
		lr.has_scope = 1;
		lr.scope = SYNOD_SCOPE_PRINCIPAL;
		lr.resource = argv[1];
		code =
		    leader_call(SYNOD_API_CONFIG_LIST, &lr.base,
				&synod__wire__config_list_response__descriptor,
				(ProtobufCMessage **)&l);
		if (code != 0)
			return code;
		if (l->n_entries == 0) {
			fprintf(stderr, "synodctl: %s has no grant\n", argv[1]);
			protobuf_c_message_free_unpacked(&l->base, NULL);
			return 1;
		}
		/* The keys it has, in reverse order: the role first, so a
		 * failure half way leaves no role. */
		for (size_t k = l->n_entries; k-- > 0;) {
			Synod__Wire__ConfigDeleteRequest req =
			    SYNOD__WIRE__CONFIG_DELETE_REQUEST__INIT;
			ProtobufCMessage *resp = NULL;
			req.scope = SYNOD_SCOPE_PRINCIPAL;
			req.resource = argv[1];
			req.key = l->entries[k]->key;
			code = leader_call(
			    SYNOD_API_CONFIG_DELETE, &req.base,
			    &synod__wire__config_delete_response__descriptor,
			    &resp);
			if (resp)
				protobuf_c_message_free_unpacked(resp, NULL);
			if (code != 0) {
				protobuf_c_message_free_unpacked(&l->base,
								 NULL);
				return code;
			}
		}
		protobuf_c_message_free_unpacked(&l->base, NULL);
		if (opt_json)
			print_json(json_pack("{s:b}", "ok", 1));
		else
			printf("ok: %s has no grant\n", argv[1]);
		return 0;
	}
	if (strcmp(sub, "list") == 0) {
		Synod__Wire__ConfigListRequest req =
		    SYNOD__WIRE__CONFIG_LIST_REQUEST__INIT;
		Synod__Wire__ConfigListResponse *resp = NULL;
		if (argc > 2)
			return die_usage("acl list [PRINCIPAL]");
		req.has_scope = 1;
		req.scope = SYNOD_SCOPE_PRINCIPAL;
		req.resource = argc == 2 ? argv[1] : NULL;
		code =
		    leader_call(SYNOD_API_CONFIG_LIST, &req.base,
				&synod__wire__config_list_response__descriptor,
				(ProtobufCMessage **)&resp);
		if (code == 0) {
			/* Entries come ordered by principal, then key. */
			json_t *a = json_array(), *cur = NULL;
			const char *who = NULL;
			for (size_t k = 0; k < resp->n_entries; k++) {
				Synod__Wire__ConfigEntry *e = resp->entries[k];
				if (!who || strcmp(who, e->resource) != 0) {
					who = e->resource;
					cur = json_pack(
					    "{s:s,s:s,s:n,s:s}", "principal",
					    who, "role", "none", "broker_id",
					    "groups", "");
					json_array_append_new(a, cur);
				}
				if (strcmp(e->key, "broker.id") == 0)
					json_object_set_new(
					    cur, "broker_id",
					    json_integer(
						strtoll(e->value, NULL, 10)));
				else
					json_object_set_new(
					    cur, e->key, json_string(e->value));
			}
			if (opt_json) {
				print_json(a);
			} else {
				size_t k;
				json_t *g;
				printf("%-32s %-9s %-9s %s\n", "PRINCIPAL",
				       "ROLE", "BROKER", "GROUPS");
				json_array_foreach(a, k, g)
				{
					json_t *b =
					    json_object_get(g, "broker_id");
					char bid[24] = "-";
					if (json_is_integer(b))
						snprintf(
						    bid, sizeof bid, "%lld",
						    (long long)
							json_integer_value(b));
					printf(
					    "%-32s %-9s %-9s %s\n",
					    json_string_value(json_object_get(
						g, "principal")),
					    json_string_value(
						json_object_get(g, "role")),
					    bid,
					    json_string_value(
						json_object_get(g, "groups")));
				}
				json_decref(a);
			}
		}
		if (resp)
			protobuf_c_message_free_unpacked(&resp->base, NULL);
		return code;
	}
	return die_usage("acl add|remove|list");
}

/* ---- configs ---- */

static int config_cmd(int argc, char **argv)
{
	const char *topic = NULL, *group = NULL;
	int validate_only = 0, cluster_only = 0, i = 1, code;
	const char *sub = argv[0];
	char **args;
	int nargs;

	for (; i < argc; i++) {
		if (strcmp(argv[i], "--topic") == 0 && i + 1 < argc)
			topic = argv[++i];
		else if (strncmp(argv[i], "--topic=", 8) == 0)
			topic = argv[i] + 8;
		else if (strcmp(argv[i], "--group") == 0 && i + 1 < argc)
			group = argv[++i];
		else if (strncmp(argv[i], "--group=", 8) == 0)
			group = argv[i] + 8;
		else if (strcmp(argv[i], "--validate-only") == 0)
			validate_only = 1;
		else if (strcmp(argv[i], "--cluster") == 0)
			cluster_only = 1;
		else if (argv[i][0] == '-' && argv[i][1] == '-')
			return die_usage("unknown config option");
		else
			break;
	}
	args = argv + i;
	nargs = argc - i;
	if (topic && group)
		return die_usage("--topic and --group name different scopes");
	unsigned scope = topic	 ? SYNOD_SCOPE_TOPIC
			 : group ? SYNOD_SCOPE_GROUP
				 : SYNOD_SCOPE_CLUSTER;
	const char *resource = topic ? topic : group;

	if (strcmp(sub, "keys") == 0) {
		/* The same table the controller validates with. */
		json_t *a = json_array();
		for (const struct configdef *d = configdefs(); d->key; d++) {
			if (opt_json) {
				json_array_append_new(
				    a, json_pack("{s:s,s:s,s:s,s:s,s:s}", "key",
						 d->key, "type", d->type,
						 "default", d->default_value,
						 "scopes", configdef_scopes(d),
						 "doc", d->doc));
			} else {
				if (d == configdefs())
					printf("%-40s %-7s %-14s %-14s %s\n",
					       "KEY", "TYPE", "DEFAULT",
					       "SCOPES", "MEANING");
				printf("%-40s %-7s %-14s %-14s %s\n", d->key,
				       d->type, d->default_value,
				       configdef_scopes(d), d->doc);
			}
		}
		if (opt_json)
			print_json(a);
		else
			json_decref(a);
		return 0;
	}
	if (strcmp(sub, "set") == 0) {
		Synod__Wire__ConfigSetRequest req =
		    SYNOD__WIRE__CONFIG_SET_REQUEST__INIT;
		Synod__Wire__ConfigEntry *entries, **ptrs;
		Synod__Wire__ConfigSetResponse *resp = NULL;
		if (nargs < 1)
			return die_usage("config set KEY=VALUE ...");
		entries = calloc((size_t)nargs, sizeof *entries);
		ptrs = calloc((size_t)nargs, sizeof *ptrs);
		for (int k = 0; k < nargs; k++) {
			char *eq = strchr(args[k], '=');
			if (eq == NULL || eq == args[k]) {
				free(entries);
				free(ptrs);
				return die_usage("config set takes KEY=VALUE");
			}
			*eq = '\0';
			synod__wire__config_entry__init(&entries[k]);
			entries[k].scope = scope;
			entries[k].resource = (char *)resource;
			entries[k].key = args[k];
			entries[k].value = eq + 1;
			ptrs[k] = &entries[k];
		}
		req.n_entries = (size_t)nargs;
		req.entries = ptrs;
		req.has_validate_only = validate_only;
		req.validate_only = validate_only;
		code =
		    leader_call(SYNOD_API_CONFIG_SET, &req.base,
				&synod__wire__config_set_response__descriptor,
				(ProtobufCMessage **)&resp);
		if (code == 0) {
			if (opt_json) {
				json_t *j = json_object();
				json_object_set_new(j, "ok", json_true());
				json_object_set_new(
				    j, "validate_only",
				    json_boolean(validate_only));
				if (!validate_only)
					json_object_set_new(
					    j, "metadata_version",
					    json_integer(
						(json_int_t)
						    resp->metadata_version));
				print_json(j);
			} else if (validate_only) {
				printf("valid\n");
			} else {
				printf(
				    "ok (metadata version %llu)\n",
				    (unsigned long long)resp->metadata_version);
			}
		}
		free(entries);
		free(ptrs);
		if (resp)
			protobuf_c_message_free_unpacked(&resp->base, NULL);
		return code;
	}
	if (strcmp(sub, "get") == 0) {
		Synod__Wire__ConfigGetRequest req =
		    SYNOD__WIRE__CONFIG_GET_REQUEST__INIT;
		Synod__Wire__ConfigGetResponse *resp = NULL;
		if (nargs != 1)
			return die_usage("config get KEY");
		req.scope = scope;
		req.resource = (char *)resource;
		req.key = args[0];
		code =
		    leader_call(SYNOD_API_CONFIG_GET, &req.base,
				&synod__wire__config_get_response__descriptor,
				(ProtobufCMessage **)&resp);
		if (code == 0 && resp->entry) {
			if (opt_json) {
				json_t *j = ja_config_entry(resp->entry);
				json_object_set_new(
				    j, "is_default",
				    json_boolean(resp->is_default));
				print_json(j);
			} else {
				printf("%s%s\n", resp->entry->value,
				       resp->is_default ? " (default)" : "");
			}
		}
		if (resp)
			protobuf_c_message_free_unpacked(&resp->base, NULL);
		return code;
	}
	if (strcmp(sub, "list") == 0) {
		Synod__Wire__ConfigListRequest req =
		    SYNOD__WIRE__CONFIG_LIST_REQUEST__INIT;
		Synod__Wire__ConfigListResponse *resp = NULL;
		if (nargs != 0)
			return die_usage("config list [--topic T | --cluster]");
		if (topic || cluster_only) {
			req.has_scope = 1;
			req.scope = scope;
			req.resource = (char *)resource;
		}
		code =
		    leader_call(SYNOD_API_CONFIG_LIST, &req.base,
				&synod__wire__config_list_response__descriptor,
				(ProtobufCMessage **)&resp);
		if (code == 0) {
			if (opt_json) {
				print_json(ja_config_list(resp));
			} else {
				printf("%-8s %-24s %-40s %s\n", "SCOPE",
				       "RESOURCE", "KEY", "VALUE");
				for (size_t k = 0; k < resp->n_entries; k++) {
					Synod__Wire__ConfigEntry *e =
					    resp->entries[k];
					printf("%-8s %-24s %-40s %s\n",
					       ja_scope_name(e->scope),
					       e->resource ? e->resource : "-",
					       e->key, e->value);
				}
			}
		}
		if (resp)
			protobuf_c_message_free_unpacked(&resp->base, NULL);
		return code;
	}
	if (strcmp(sub, "delete") == 0) {
		Synod__Wire__ConfigDeleteRequest req =
		    SYNOD__WIRE__CONFIG_DELETE_REQUEST__INIT;
		Synod__Wire__ConfigDeleteResponse *resp = NULL;
		if (nargs != 1)
			return die_usage("config delete KEY");
		req.scope = scope;
		req.resource = (char *)resource;
		req.key = args[0];
		code = leader_call(
		    SYNOD_API_CONFIG_DELETE, &req.base,
		    &synod__wire__config_delete_response__descriptor,
		    (ProtobufCMessage **)&resp);
		if (code == 0) {
			print_done("deleted");
		}
		if (resp)
			protobuf_c_message_free_unpacked(&resp->base, NULL);
		return code;
	}
	return die_usage("unknown config command");
}

/* ---- brokers ---- */

static int parse_broker_id(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || v > INT32_MAX)
		return -1;
	*out = v;
	return 0;
}

static int broker_cmd(int argc, char **argv)
{
	const char *sub = argv[0];
	int code;
	if (strcmp(sub, "list") == 0 || strcmp(sub, "describe") == 0) {
		Synod__Wire__BrokerListRequest req =
		    SYNOD__WIRE__BROKER_LIST_REQUEST__INIT;
		Synod__Wire__BrokerListResponse *resp = NULL;
		int describe = strcmp(sub, "describe") == 0;
		uint64_t id;
		if (describe) {
			if (argc != 2 || parse_broker_id(argv[1], &id) != 0)
				return die_usage("broker describe ID");
			req.has_broker_id = 1;
			req.broker_id = (int32_t)id;
		} else if (argc != 1) {
			return die_usage("broker list");
		}
		code =
		    leader_call(SYNOD_API_BROKER_LIST, &req.base,
				&synod__wire__broker_list_response__descriptor,
				(ProtobufCMessage **)&resp);
		if (code != 0)
			return code;
		if (opt_json) {
			print_json(ja_broker_list(resp, describe));
		} else if (describe && resp->n_brokers == 1) {
			const Synod__Wire__BrokerInfo *b = resp->brokers[0];
			printf("Broker:          %d\n", b->id);
			printf("State:           %s\n", b->state);
			printf("Epoch:           %llu\n",
			       (unsigned long long)b->epoch);
			printf("Incarnation:     %s\n", b->incarnation_id);
			printf("Rack:            %s\n",
			       b->rack ? b->rack : "-");
			if (b->last_heartbeat_ms >= 0)
				printf("Last heartbeat:  %lld ms ago\n",
				       (long long)b->last_heartbeat_ms);
			else
				printf("Last heartbeat:  none since the "
				       "controller took over\n");
			if (b->has_metadata_version)
				printf("Metadata:        version %llu\n",
				       (unsigned long long)b->metadata_version);
			for (size_t k = 0; k < b->n_endpoints; k++)
				printf("Endpoint:        %s://%s:%u (%s)\n",
				       b->endpoints[k]->name,
				       b->endpoints[k]->host,
				       b->endpoints[k]->port,
				       b->endpoints[k]->security_protocol);
		} else {
			printf("%-6s %-14s %-8s %-12s %-38s %s\n", "ID",
			       "STATE", "EPOCH", "HEARTBEAT", "INCARNATION",
			       "RACK");
			for (size_t k = 0; k < resp->n_brokers; k++) {
				const Synod__Wire__BrokerInfo *b =
				    resp->brokers[k];
				char hb[24] = "-";
				if (b->last_heartbeat_ms >= 0)
					snprintf(
					    hb, sizeof hb, "%lld ms",
					    (long long)b->last_heartbeat_ms);
				printf(
				    "%-6d %-14s %-8llu %-12s %-38s %s\n", b->id,
				    b->state, (unsigned long long)b->epoch, hb,
				    b->incarnation_id, b->rack ? b->rack : "-");
			}
		}
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		return 0;
	}
	if (strcmp(sub, "unregister") == 0) {
		Synod__Wire__BrokerUnregisterRequest req =
		    SYNOD__WIRE__BROKER_UNREGISTER_REQUEST__INIT;
		Synod__Wire__BrokerUnregisterResponse *resp = NULL;
		uint64_t id;
		if (argc != 2 || parse_broker_id(argv[1], &id) != 0)
			return die_usage("broker unregister ID");
		req.broker_id = (int32_t)id;
		code = leader_call(
		    SYNOD_API_BROKER_UNREGISTER, &req.base,
		    &synod__wire__broker_unregister_response__descriptor,
		    (ProtobufCMessage **)&resp);
		if (code == 0) {
			print_done("broker unregistered");
			protobuf_c_message_free_unpacked(&resp->base, NULL);
		}
		return code;
	}
	return die_usage("unknown broker command");
}

/* ---- topics and partitions ---- */

static void ids_text(const int32_t *ids, size_t n, char *out, size_t size)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n && o + 12 < size; i++)
		o += (size_t)snprintf(out + o, size - o, "%s%d", i ? "," : "",
				      ids[i]);
}

/* DESCRIBE_TOPICS, following its pages. */
static int describe(int no_partitions, int offline, int under, char **names,
		    size_t n_names, struct ja_described *out)
{
	Synod__Wire__DescribeTopicsRequest req =
	    SYNOD__WIRE__DESCRIBE_TOPICS_REQUEST__INIT;
	uint8_t cursor[64];
	memset(out, 0, sizeof *out);
	req.n_names = n_names;
	req.names = names;
	req.has_no_partitions = req.no_partitions = no_partitions;
	req.has_only_offline = req.only_offline = offline;
	req.has_only_under_replicated = req.only_under_replicated = under;
	req.has_pages = req.pages = 1;
	for (;;) {
		Synod__Wire__DescribeTopicsResponse *r = NULL;
		int code = leader_call(
		    SYNOD_API_DESCRIBE_TOPICS, &req.base,
		    &synod__wire__describe_topics_response__descriptor,
		    (ProtobufCMessage **)&r);
		if (code != 0) {
			ja_described_free(out);
			return code;
		}
		if (ja_described_add(out, r) != 0) {
			ja_described_free(out);
			fprintf(stderr, "synodctl: out of memory\n");
			return 1;
		}
		if (!r->has_next_cursor || r->next_cursor.len == 0)
			break;
		if (r->next_cursor.len > sizeof cursor) {
			ja_described_free(out);
			fprintf(stderr, "synodctl: bad page cursor\n");
			return 1;
		}
		memcpy(cursor, r->next_cursor.data, r->next_cursor.len);
		req.has_cursor = 1;
		req.cursor.data = cursor;
		req.cursor.len = r->next_cursor.len;
	}
	if (ja_described_merge(out) != 0) {
		ja_described_free(out);
		fprintf(stderr, "synodctl: out of memory\n");
		return 1;
	}
	return 0;
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int topic_create(int argc, char **argv)
{
	Synod__Wire__CreateTopicsRequest req =
	    SYNOD__WIRE__CREATE_TOPICS_REQUEST__INIT;
	Synod__Wire__CreatableTopic ct = SYNOD__WIRE__CREATABLE_TOPIC__INIT;
	Synod__Wire__CreatableTopic *ctp = &ct;
	Synod__Wire__CreateTopicsResponse *resp = NULL;
	Synod__Wire__ConfigEntry cfg[64], *cfgp[64];
	Synod__Wire__ReplicaAssignment ra[1024], *rap[1024];
	int32_t ids[1024 * 8];
	size_t n_ids = 0;
	int code;
	if (argc < 2 || argv[1][0] == '-')
		return die_usage("topic create NAME --partitions P "
				 "--replication-factor R [--config k=v]...");
	ct.name = argv[1];
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--validate-only") == 0) {
			req.has_validate_only = req.validate_only = 1;
			continue;
		}
		if (v == NULL)
			return die_usage("missing value");
		i++;
		if (strcmp(a, "--partitions") == 0) {
			if (parse_u32(v, &ct.partitions) != 0)
				return die_usage("bad --partitions");
			ct.has_partitions = 1;
		} else if (strcmp(a, "--replication-factor") == 0) {
			if (parse_u32(v, &ct.replication_factor) != 0)
				return die_usage("bad --replication-factor");
			ct.has_replication_factor = 1;
		} else if (strcmp(a, "--config") == 0) {
			char *eq = strchr(v, '=');
			if (eq == NULL || ct.n_configs == 64)
				return die_usage("--config takes KEY=VALUE");
			*eq = '\0';
			synod__wire__config_entry__init(&cfg[ct.n_configs]);
			cfg[ct.n_configs].scope = SYNOD_SCOPE_TOPIC;
			cfg[ct.n_configs].key = (char *)v;
			cfg[ct.n_configs].value = eq + 1;
			cfgp[ct.n_configs] = &cfg[ct.n_configs];
			ct.n_configs++;
		} else if (strcmp(a, "--replica-assignment") == 0) {
			/* "1:2:3,2:3:1": partition p's replicas, in order */
			char *buf = strdup(v), *save, *part;
			for (part = strtok_r(buf, ",", &save); part;
			     part = strtok_r(NULL, ",", &save)) {
				char *s2, *id;
				if (ct.n_assignments == 1024)
					break;
				synod__wire__replica_assignment__init(
				    &ra[ct.n_assignments]);
				ra[ct.n_assignments].partition =
				    (int32_t)ct.n_assignments;
				ra[ct.n_assignments].replicas = ids + n_ids;
				for (id = strtok_r(part, ":", &s2); id;
				     id = strtok_r(NULL, ":", &s2)) {
					uint64_t x;
					if (parse_broker_id(id, &x) != 0 ||
					    n_ids == sizeof ids / sizeof *ids) {
						free(buf);
						return die_usage(
						    "bad --replica-assignment");
					}
					ids[n_ids++] = (int32_t)x;
					ra[ct.n_assignments].n_replicas++;
				}
				rap[ct.n_assignments] = &ra[ct.n_assignments];
				ct.n_assignments++;
			}
			free(buf);
		} else {
			return die_usage("unknown topic create option");
		}
	}
	ct.configs = cfgp;
	ct.assignments = rap;
	req.n_topics = 1;
	req.topics = &ctp;
	code = leader_call(SYNOD_API_CREATE_TOPICS, &req.base,
			   &synod__wire__create_topics_response__descriptor,
			   (ProtobufCMessage **)&resp);
	if (code != 0)
		return code;
	code = 0;
	for (size_t k = 0; k < resp->n_results; k++) {
		const Synod__Wire__TopicResult *r = resp->results[k];
		char id[37] = "";
		if (r->has_topic_id)
			ja_uuid(&r->topic_id, id);
		if (r->status->code != SYNOD_OK)
			code = 1;
		if (opt_json) {
			json_t *j = json_object();
			json_object_set_new(j, "topic", json_string(r->name));
			json_object_set_new(
			    j, "error",
			    r->status->code
				? json_string(synod_error_name(r->status->code))
				: json_null());
			json_object_set_new(j, "message",
					    json_string(r->status->message
							    ? r->status->message
							    : ""));
			json_object_set_new(j, "topic_id",
					    id[0] ? json_string(id)
						  : json_null());
			json_object_set_new(j, "validate_only",
					    json_boolean(req.validate_only));
			print_json(j);
		} else if (r->status->code != SYNOD_OK) {
			fprintf(stderr, "synodctl: %s: %s: %s\n", r->name,
				synod_error_name(r->status->code),
				r->status->message ? r->status->message : "");
		} else {
			printf("%s topic %s (%s)\n",
			       req.validate_only ? "valid:" : "created",
			       r->name, id);
		}
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code;
}

static int topic_cmd(int argc, char **argv)
{
	const char *sub = argv[0];
	int code;
	if (strcmp(sub, "create") == 0)
		return topic_create(argc, argv);
	if (strcmp(sub, "delete") == 0) {
		Synod__Wire__DeleteTopicsRequest req =
		    SYNOD__WIRE__DELETE_TOPICS_REQUEST__INIT;
		Synod__Wire__DeleteTopicsResponse *resp = NULL;
		if (argc < 2)
			return die_usage("topic delete NAME...");
		req.n_names = (size_t)argc - 1;
		req.names = argv + 1;
		code = leader_call(
		    SYNOD_API_DELETE_TOPICS, &req.base,
		    &synod__wire__delete_topics_response__descriptor,
		    (ProtobufCMessage **)&resp);
		if (code == 0) {
			print_done("deleted");
			protobuf_c_message_free_unpacked(&resp->base, NULL);
		}
		return code;
	}
	if (strcmp(sub, "add-partitions") == 0) {
		Synod__Wire__CreatePartitionsRequest req =
		    SYNOD__WIRE__CREATE_PARTITIONS_REQUEST__INIT;
		Synod__Wire__CreatePartitionsResponse *resp = NULL;
		if (argc != 4 ||
		    (strcmp(argv[2], "--total") != 0 &&
		     strcmp(argv[2], "--partitions") != 0) ||
		    parse_u32(argv[3], &req.total) != 0)
			return die_usage("topic add-partitions NAME --total N");
		req.name = argv[1];
		code = leader_call(
		    SYNOD_API_CREATE_PARTITIONS, &req.base,
		    &synod__wire__create_partitions_response__descriptor,
		    (ProtobufCMessage **)&resp);
		if (code == 0) {
			if (opt_json)
				print_json(json_pack("{s:b,s:i}", "ok", 1,
						     "partitions",
						     (int)req.total));
			else
				printf("topic %s now has %u partitions\n",
				       req.name, req.total);
			protobuf_c_message_free_unpacked(&resp->base, NULL);
		}
		return code;
	}
	if (strcmp(sub, "list") == 0 || strcmp(sub, "describe") == 0) {
		struct ja_described dd;
		Synod__Wire__DescribeTopicsResponse *resp;
		int list = strcmp(sub, "list") == 0;
		if (list ? argc != 1 : argc < 2)
			return die_usage(list ? "topic list"
					      : "topic describe NAME...");
		code = describe(list, 0, 0, argv + 1, (size_t)argc - 1, &dd);
		if (code != 0)
			return code;
		resp = &dd.merged;
		if (opt_json)
			ja_topics_write(resp, list, 1, write_stdout, NULL);
		for (size_t k = 0; !opt_json && k < resp->n_topics; k++) {
			const Synod__Wire__TopicDescription *d =
			    resp->topics[k];
			char id[37];
			ja_uuid(&d->topic_id, id);
			if (list) {
				if (k == 0)
					printf("%-40s %-10s %s\n", "TOPIC",
					       "PARTITIONS", "TOPIC_ID");
				printf("%-40s %-10u %s\n", d->name,
				       d->partition_count, id);
			} else {
				printf(
				    "Topic: %s  TopicId: %s  Partitions: %u\n",
				    d->name, id, d->partition_count);
				for (size_t c = 0; c < d->n_configs; c++)
					printf("  Config: %s=%s\n",
					       d->configs[c]->key,
					       d->configs[c]->value);
				for (size_t p = 0; p < d->n_partitions; p++) {
					const Synod__Wire__PartitionState *ps =
					    d->partitions[p];
					char rep[256], isr[256];
					ids_text(ps->replicas, ps->n_replicas,
						 rep, sizeof rep);
					ids_text(ps->isr, ps->n_isr, isr,
						 sizeof isr);
					printf("  Partition: %-5d Leader: %-5d "
					       "LeaderEpoch: %-4u "
					       "PartitionEpoch: %-4u Replicas: "
					       "%s  Isr: %s\n",
					       ps->partition, ps->leader,
					       ps->leader_epoch,
					       ps->partition_epoch, rep, isr);
				}
			}
		}
		ja_described_free(&dd);
		return 0;
	}
	return die_usage("unknown topic command");
}

static int partition_cmd(int argc, char **argv)
{
	const char *sub = argv[0];
	int code;
	if (strcmp(sub, "list") == 0) {
		struct ja_described dd;
		Synod__Wire__DescribeTopicsResponse *resp;
		int offline = 0, under = 0;
		for (int i = 1; i < argc; i++) {
			if (strcmp(argv[i], "--offline") == 0)
				offline = 1;
			else if (strcmp(argv[i], "--under-replicated") == 0)
				under = 1;
			else
				return die_usage("partition list [--offline] "
						 "[--under-replicated]");
		}
		code = describe(0, offline, under, NULL, 0, &dd);
		if (code != 0)
			return code;
		resp = &dd.merged;
		if (opt_json)
			ja_partitions_write(resp, write_stdout, NULL);
		else
			printf("%-30s %-9s %-7s %-7s %-7s %-16s %s\n", "TOPIC",
			       "PARTITION", "LEADER", "L_EPOCH", "P_EPOCH",
			       "REPLICAS", "ISR");
		for (size_t k = 0; !opt_json && k < resp->n_topics; k++)
			for (size_t p = 0; p < resp->topics[k]->n_partitions;
			     p++) {
				const Synod__Wire__PartitionState *ps =
				    resp->topics[k]->partitions[p];
				char rep[256], isr[256];
				ids_text(ps->replicas, ps->n_replicas, rep,
					 sizeof rep);
				ids_text(ps->isr, ps->n_isr, isr, sizeof isr);
				printf("%-30s %-9d %-7d %-7u %-7u %-16s %s\n",
				       ps->topic, ps->partition, ps->leader,
				       ps->leader_epoch, ps->partition_epoch,
				       rep, isr);
			}
		ja_described_free(&dd);
		return 0;
	}
	if (strcmp(sub, "elect-leaders") == 0) {
		Synod__Wire__ElectLeadersRequest req =
		    SYNOD__WIRE__ELECT_LEADERS_REQUEST__INIT;
		Synod__Wire__ElectLeadersResponse *resp = NULL;
		Synod__Wire__TopicPartitions tp =
		    SYNOD__WIRE__TOPIC_PARTITIONS__INIT;
		Synod__Wire__TopicPartitions *tpp = &tp;
		int32_t parts[1024];
		for (int i = 1; i < argc; i++) {
			if (strcmp(argv[i], "--preferred") == 0)
				req.type = 0;
			else if (strcmp(argv[i], "--unclean") == 0)
				req.type = 1;
			else if (strcmp(argv[i], "--topic") == 0 &&
				 i + 1 < argc)
				tp.topic = argv[++i];
			else if (strcmp(argv[i], "--partition") == 0 &&
				 i + 1 < argc && tp.n_partitions < 1024) {
				uint64_t x;
				if (parse_broker_id(argv[++i], &x) != 0)
					return die_usage("bad --partition");
				parts[tp.n_partitions++] = (int32_t)x;
			} else
				return die_usage(
				    "partition elect-leaders [--preferred|"
				    "--unclean] [--topic T [--partition "
				    "P]...]");
		}
		if (tp.n_partitions && tp.topic == NULL)
			return die_usage("--partition needs --topic");
		tp.partitions = parts;
		if (tp.topic) {
			req.n_partitions = 1;
			req.partitions = &tpp;
		}
		code = leader_call(
		    SYNOD_API_ELECT_LEADERS, &req.base,
		    &synod__wire__elect_leaders_response__descriptor,
		    (ProtobufCMessage **)&resp);
		if (code != 0)
			return code;
		int failed = 0;
		json_t *arr = json_array();
		for (size_t k = 0; k < resp->n_results; k++) {
			const Synod__Wire__ElectionResult *r = resp->results[k];
			if (r->code != SYNOD_OK &&
			    r->code != SYNOD_EELECTION_NOT_NEEDED)
				failed = 1;
			json_array_append_new(
			    arr,
			    json_pack("{s:s,s:i,s:s,s:i}", "topic", r->topic,
				      "partition", r->partition, "result",
				      r->code ? synod_error_name(r->code)
					      : "ELECTED",
				      "leader", r->leader));
		}
		if (opt_json)
			print_json(json_pack("{s:i,s:O}", "elected",
					     (int)resp->elected, "results",
					     arr));
		else
			printf("%u leaders elected (%zu partitions looked "
			       "at)\n",
			       resp->elected, resp->n_results);
		json_decref(arr);
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		return failed;
	}
	return die_usage("unknown partition command");
}

/* ---- consumer groups ---- */

/* "orders:0,1,2 payments:3" */
static void pset_text(const Synod__Wire__GroupPartitionSet *s, char *out,
		      size_t size)
{
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; s && i < s->n_topics && used < size; i++) {
		const Synod__Wire__GroupTopicPartitions *t = s->topics[i];
		char ids[512];
		ids_text(t->partitions, t->n_partitions, ids, sizeof ids);
		used += (size_t)snprintf(out + used, size - used, "%s%s:%s",
					 i ? " " : "",
					 t->topic ? t->topic : "?", ids);
	}
	if (out[0] == '\0')
		snprintf(out, size, "-");
}

static size_t pset_count(const Synod__Wire__GroupPartitionSet *s)
{
	size_t n = 0;
	for (size_t i = 0; s && i < s->n_topics; i++)
		n += s->topics[i]->n_partitions;
	return n;
}

static int group_describe(int argc, char **argv)
{
	Synod__Wire__GroupDescribeRequest req =
	    SYNOD__WIRE__GROUP_DESCRIBE_REQUEST__INIT;
	Synod__Wire__GroupDescribeResponse *resp = NULL;
	int members = 0, state = 0, code, missing = 0;
	char *ids[64];
	size_t n = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--members") == 0)
			members = 1;
		else if (strcmp(argv[i], "--state") == 0)
			state = 1;
		else if (argv[i][0] == '-' || n == 64)
			return die_usage(
			    "group describe G... [--members|--state]");
		else
			ids[n++] = argv[i];
	}
	if (n == 0)
		return die_usage("group describe G... [--members|--state]");
	req.group_ids = ids;
	req.n_group_ids = n;
	code = leader_call(SYNOD_API_GROUP_DESCRIBE, &req.base,
			   &synod__wire__group_describe_response__descriptor,
			   (ProtobufCMessage **)&resp);
	if (code != 0)
		return code;
	if (opt_json)
		print_json(ja_group_describe(resp, n));
	for (size_t i = 0; i < resp->n_groups; i++) {
		const Synod__Wire__GroupDescription *d = resp->groups[i];
		const Synod__Wire__GroupSummary *g = d->summary;
		if (d->has_code && d->code != SYNOD_OK) {
			fprintf(stderr, "synodctl: %s: group %s\n",
				synod_error_name(d->code), g->group_id);
			missing = 1;
			continue;
		}
		if (opt_json)
			continue;
		if (state || !members) {
			printf("%-24s %-12s %-10s %-8s %-14s %s\n", "GROUP",
			       "STATE", "ASSIGNOR", "EPOCH", "TARGET-EPOCH",
			       "#MEMBERS");
			printf("%-24s %-12s %-10s %-8d %-14d %u\n", g->group_id,
			       g->state, g->assignor, g->group_epoch,
			       g->assignment_epoch, g->members);
		}
		if (members || !state) {
			printf("\n%-24s %-38s %-16s %-16s %-8s %-6s %-12s %s\n",
			       "GROUP", "MEMBER-ID", "INSTANCE-ID", "HOST",
			       "RACK", "EPOCH", "STATE",
			       "ASSIGNED (PENDING REVOCATION)");
			for (size_t k = 0; k < d->n_members; k++) {
				const Synod__Wire__GroupMemberDescription *m =
				    d->members[k];
				char as[1024], pend[1024];
				pset_text(m->assigned, as, sizeof as);
				pset_text(m->pending_revocation, pend,
					  sizeof pend);
				printf("%-24s %-38s %-16s %-16s %-8s %-6d "
				       "%-12s %s (%s) [%zu]\n",
				       g->group_id, m->member_id,
				       m->instance_id ? m->instance_id : "-",
				       m->client_host ? m->client_host : "-",
				       m->rack ? m->rack : "-", m->member_epoch,
				       m->state, as, pend,
				       pset_count(m->assigned));
			}
		}
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return missing ? 1 : 0;
}

static int group_cmd(int argc, char **argv)
{
	const char *sub = argv[0];
	int code;
	if (strcmp(sub, "list") == 0) {
		Synod__Wire__GroupListRequest req =
		    SYNOD__WIRE__GROUP_LIST_REQUEST__INIT;
		Synod__Wire__GroupListResponse *resp = NULL;
		if (argc != 1)
			return die_usage("group list");
		code =
		    leader_call(SYNOD_API_GROUP_LIST, &req.base,
				&synod__wire__group_list_response__descriptor,
				(ProtobufCMessage **)&resp);
		if (code != 0)
			return code;
		if (opt_json) {
			print_json(ja_group_list(resp));
		} else {
			printf("%-24s %-12s %-10s %-8s %-14s %s\n", "GROUP",
			       "STATE", "ASSIGNOR", "EPOCH", "TARGET-EPOCH",
			       "#MEMBERS");
			for (size_t i = 0; i < resp->n_groups; i++) {
				const Synod__Wire__GroupSummary *g =
				    resp->groups[i];
				printf("%-24s %-12s %-10s %-8d %-14d %u\n",
				       g->group_id, g->state, g->assignor,
				       g->group_epoch, g->assignment_epoch,
				       g->members);
			}
		}
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		return 0;
	}
	if (strcmp(sub, "describe") == 0)
		return group_describe(argc, argv);
	if (strcmp(sub, "delete") == 0) {
		Synod__Wire__GroupDeleteRequest req =
		    SYNOD__WIRE__GROUP_DELETE_REQUEST__INIT;
		Synod__Wire__GroupDeleteResponse *resp = NULL;
		if (argc != 2)
			return die_usage("group delete G");
		req.group_id = argv[1];
		code =
		    leader_call(SYNOD_API_GROUP_DELETE, &req.base,
				&synod__wire__group_delete_response__descriptor,
				(ProtobufCMessage **)&resp);
		if (code == 0) {
			print_done("group deleted");
			protobuf_c_message_free_unpacked(&resp->base, NULL);
		}
		return code;
	}
	if (strcmp(sub, "remove-member") == 0) {
		Synod__Wire__GroupRemoveMemberRequest req =
		    SYNOD__WIRE__GROUP_REMOVE_MEMBER_REQUEST__INIT;
		Synod__Wire__GroupRemoveMemberResponse *resp = NULL;
		if (argc != 3)
			return die_usage("group remove-member G MEMBER");
		req.group_id = argv[1];
		req.member_id = argv[2];
		code = leader_call(
		    SYNOD_API_GROUP_REMOVE_MEMBER, &req.base,
		    &synod__wire__group_remove_member_response__descriptor,
		    (ProtobufCMessage **)&resp);
		if (code == 0) {
			print_done("member removed");
			protobuf_c_message_free_unpacked(&resp->base, NULL);
		}
		return code;
	}
	return die_usage("unknown group command");
}

/* ---- watch ---- */

/* The brokers that are not active (watch). */
static void fenced_brokers(void)
{
	Synod__Wire__BrokerListRequest req =
	    SYNOD__WIRE__BROKER_LIST_REQUEST__INIT;
	Synod__Wire__BrokerListResponse *resp = NULL;
	size_t shown = 0;
	if (leader_call(SYNOD_API_BROKER_LIST, &req.base,
			&synod__wire__broker_list_response__descriptor,
			(ProtobufCMessage **)&resp) != 0)
		return;
	for (size_t i = 0; i < resp->n_brokers; i++) {
		const Synod__Wire__BrokerInfo *b = resp->brokers[i];
		if (strcmp(b->state, "active") == 0)
			continue;
		if (shown++ == 0)
			printf("Not active: ");
		if (shown <= 50)
			printf("%s%d (%s)", shown > 1 ? ", " : "", b->id,
			       b->state);
	}
	if (shown > 50)
		printf(" and %zu more", shown - 50);
	if (shown)
		printf("\n");
	protobuf_c_message_free_unpacked(&resp->base, NULL);
}

/* Redraw `quorum status` (with the brokers and partitions needing
 * attention) every interval until interrupted, or --count times. */
static int watch_cmd(int argc, char **argv)
{
	uint32_t interval = 1000, count = 0;
	int tty = isatty(STDOUT_FILENO), code = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--interval-ms") == 0 && i + 1 < argc &&
		    parse_u32(argv[i + 1], &interval) == 0 && interval >= 100)
			i++;
		else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc &&
			 parse_u32(argv[i + 1], &count) == 0)
			i++;
		else
			return die_usage("watch [--interval-ms N (>= 100)] "
					 "[--count N]");
	}
	for (uint32_t n = 0; count == 0 || n < count; n++) {
		char ts[32];
		time_t now = time(NULL);
		struct tm tm;
		struct timespec d = {interval / 1000,
				     (long)(interval % 1000) * 1000000L};
		if (tty)
			printf("\033[H\033[2J"); /* home, clear */
		gmtime_r(&now, &tm);
		strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
		printf("synodctl watch: every %u ms, %s (Ctrl-C stops)\n\n",
		       interval, ts);
		code = quorum_status(0);
		if (!opt_json)
			fenced_brokers();
		fflush(stdout);
		if (count == 0 || n + 1 < count)
			nanosleep(&d, NULL);
	}
	return code;
}

/* ---- read-only SQL ---- */

/* One cell as text (sqlite3's list mode: NULL as empty). */
static void cell_text(const Synod__Wire__QueryCell *c)
{
	if (c->has_integer)
		printf("%lld", (long long)c->integer);
	else if (c->has_real)
		printf("%.17g", c->real);
	else if (c->text)
		fputs(c->text, stdout);
	else if (c->has_blob) {
		printf("x'");
		for (size_t i = 0; i < c->blob.len; i++)
			printf("%02x", c->blob.data[i]);
		printf("'");
	}
}

static int query_cmd(int argc, char **argv)
{
	Synod__Wire__QueryRequest req = SYNOD__WIRE__QUERY_REQUEST__INIT;
	Synod__Wire__QueryResponse *resp = NULL;
	int code;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--max-rows") == 0 && i + 1 < argc &&
		    parse_u32(argv[i + 1], &req.max_rows) == 0) {
			req.has_max_rows = 1;
			i++;
		} else if (strcmp(argv[i], "--query-timeout-ms") == 0 &&
			   i + 1 < argc &&
			   parse_u32(argv[i + 1], &req.timeout_ms) == 0) {
			req.has_timeout_ms = 1;
			i++;
		} else if (req.sql == NULL && argv[i][0] != '-') {
			req.sql = argv[i];
		} else {
			return die_usage("query \"SELECT ...\" [--max-rows N] "
					 "[--query-timeout-ms N]");
		}
	}
	if (req.sql == NULL)
		return die_usage("query \"SELECT ...\"");
	code = leader_call(SYNOD_API_QUERY, &req.base,
			   &synod__wire__query_response__descriptor,
			   (ProtobufCMessage **)&resp);
	if (code != 0)
		return code;
	if (opt_json) {
		print_json(ja_query(resp));
	} else {
		for (size_t i = 0; i < resp->n_columns; i++)
			printf("%s%s", i ? "|" : "", resp->columns[i]);
		printf("\n");
		for (size_t r = 0; r < resp->n_rows; r++) {
			for (size_t i = 0; i < resp->rows[r]->n_cells; i++) {
				if (i)
					putchar('|');
				cell_text(resp->rows[r]->cells[i]);
			}
			printf("\n");
		}
		if (resp->truncated)
			fprintf(stderr, "synodctl: %s\n", resp->truncated);
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"bootstrap", required_argument, NULL, 'b'},
	    {"cluster-id", required_argument, NULL, 'c'},
	    {"json", no_argument, NULL, 'j'},
	    {"timeout-ms", required_argument, NULL, 't'},
	    {"ca", required_argument, NULL, 1},
	    {"cert", required_argument, NULL, 2},
	    {"key", required_argument, NULL, 3},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	int opt;
	signal(SIGPIPE, SIG_IGN); /* see synod/client.h */
	/* Options end at the first command word. */
	while ((opt = getopt_long(argc, argv, "+b:c:jt:hV", opts, NULL)) !=
	       -1) {
		switch (opt) {
		case 'b':
			opt_bootstrap = optarg;
			break;
		case 'c':
			opt_cluster_id = optarg;
			break;
		case 'j':
			opt_json = 1;
			break;
		case 1:
			opt_tls[0] = optarg;
			break;
		case 2:
			opt_tls[1] = optarg;
			break;
		case 3:
			opt_tls[2] = optarg;
			break;
		case 't': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || v == 0 || v > 3600000)
				return die_usage("bad --timeout-ms");
			opt_timeout_ms = (unsigned)v;
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("synodctl %s\n", SYNOD_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	tool_tls_flags(opt_tls[0], opt_tls[1], opt_tls[2]);
	argc -= optind;
	argv += optind;
	/* Allow --json after the command too. */
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], "--json") == 0) {
			opt_json = 1;
			memmove(&argv[i], &argv[i + 1],
				(size_t)(argc - i - 1) * sizeof *argv);
			argc--;
			i--;
		}
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[0], "quorum") == 0) {
		if (strcmp(argv[1], "status") == 0)
			return argc == 2 ? quorum_status(0)
			       : argc == 3 && strcmp(argv[2], "--digest") == 0
				   ? quorum_status(1)
				   : die_usage("quorum status [--digest]");
		return quorum_change(argc - 1, argv + 1);
	}
	if (strcmp(argv[0], "config") == 0)
		return config_cmd(argc - 1, argv + 1);
	if (strcmp(argv[0], "broker") == 0)
		return broker_cmd(argc - 1, argv + 1);
	if (strcmp(argv[0], "topic") == 0)
		return topic_cmd(argc - 1, argv + 1);
	if (strcmp(argv[0], "partition") == 0)
		return partition_cmd(argc - 1, argv + 1);
	if (strcmp(argv[0], "group") == 0)
		return group_cmd(argc - 1, argv + 1);
	if (strcmp(argv[0], "acl") == 0)
		return acl_cmd(argc - 1, argv + 1);
	if (strcmp(argv[0], "query") == 0)
		return query_cmd(argc, argv);
	if (strcmp(argv[0], "watch") == 0)
		return watch_cmd(argc, argv);
	return die_usage("unknown command");
}
