/* controller/query.c - read-only SQL (see query.h). */
#include "query.h"

#include <stdlib.h>
#include <string.h>

#include "server_int.h"
#include "store.h"
#include "synod/client.h"

struct qjob {
	struct query_srv *qs;
	struct qjob *next; /* copying */
	struct pending *p;
	struct store_query *q;
	uv_work_t work;
	int rv;
	uint64_t start_ms;
};

struct query_srv {
	struct server *s;
	uv_idle_t idle; /* copies in progress */
	struct qjob *copying;
	unsigned running; /* copying or on the thread pool */
	int closing, handle_closed;
};

static void job_free(struct qjob *j)
{
	store_query_free(j->q);
	if (j->p)
		srv_pending_free(j->p);
	j->qs->running--;
	free(j);
}

static void maybe_free(struct query_srv *qs)
{
	if (qs->closing && qs->handle_closed && qs->running == 0)
		free(qs);
}

static int code_of(int rv)
{
	switch (rv) {
	case STORE_OK:
		return SYNOD_OK;
	case STORE_EREFUSED:
	case STORE_EMALFORMED:
		return SYNOD_EINVALID_ARGUMENT;
	case STORE_ETIMEOUT:
		return SYNOD_ETIMEOUT;
	case STORE_EDB:
		return SYNOD_EBUSY; /* the copy failed: ask again */
	default:
		return SYNOD_EUNKNOWN;
	}
}

static void answer(struct qjob *j)
{
	struct server *s = j->qs->s;
	Synod__Wire__QueryResponse r = SYNOD__WIRE__QUERY_RESPONSE__INIT;
	Synod__Wire__Status st = SYNOD__WIRE__STATUS__INIT;
	Synod__Wire__QueryRow *rows = NULL, **rowp = NULL;
	Synod__Wire__QueryCell *cells = NULL, **cellp = NULL;
	const struct store_query_cell *qc;
	char **cols;
	unsigned n_cols = 0;
	size_t n_rows = 0;
	int code = code_of(j->rv);
	char leader[SYNOD_ADDR_MAX];
	uint64_t lid = 0;
	if (code == SYNOD_OK) {
		n_cols = store_query_columns(j->q, &cols);
		n_rows = store_query_rows(j->q, &qc);
		rows = calloc(n_rows + 1, sizeof *rows);
		rowp = calloc(n_rows + 1, sizeof *rowp);
		cells = calloc(n_rows * n_cols + 1, sizeof *cells);
		cellp = calloc(n_rows * n_cols + 1, sizeof *cellp);
		if (!rows || !rowp || !cells || !cellp)
			code = SYNOD_EUNKNOWN;
	}
	if (code == SYNOD_OK) {
		for (size_t i = 0; i < n_rows * n_cols; i++) {
			Synod__Wire__QueryCell *c = &cells[i];
			synod__wire__query_cell__init(c);
			switch (qc[i].type) {
			case 1:
				c->has_integer = 1;
				c->integer = qc[i].i;
				break;
			case 2:
				c->has_real = 1;
				c->real = qc[i].f;
				break;
			case 3:
				c->text = qc[i].data;
				break;
			case 4:
				c->has_blob = 1;
				c->blob.data = (uint8_t *)qc[i].data;
				c->blob.len = qc[i].len;
				break;
			default:
				break;
			}
			cellp[i] = c;
		}
		for (size_t i = 0; i < n_rows; i++) {
			synod__wire__query_row__init(&rows[i]);
			rows[i].n_cells = n_cols;
			rows[i].cells = cellp + i * n_cols;
			rowp[i] = &rows[i];
		}
		r.n_columns = n_cols;
		r.columns = cols;
		r.n_rows = n_rows;
		r.rows = rowp;
		r.truncated = (char *)store_query_truncated(j->q);
		r.has_metadata_version = 1;
		r.metadata_version = store_query_index(j->q);
	}
	r.has_node_id = 1;
	r.node_id = s->node->cfg->node_id;
	r.has_elapsed_ms = 1;
	r.elapsed_ms = (uint32_t)(uv_now(s->loop) - j->start_ms);
	srv_fill_status(
	    s, &st, code,
	    code == SYNOD_OK || j->q == NULL ? NULL : store_query_errmsg(j->q),
	    &lid, leader, sizeof leader);
	r.status = &st;
	if (code != SYNOD_OK)
		s->stats.errors_sent++;
	srv_send(j->p->sc, &j->p->h, &r.base);
	free(rows);
	free(rowp);
	free(cells);
	free(cellp);
}

static void work_run(uv_work_t *w)
{
	struct qjob *j = w->data;
	j->rv = store_query_run(j->q);
}

static void after_run(uv_work_t *w, int status)
{
	struct qjob *j = w->data;
	struct query_srv *qs = j->qs;
	if (status != 0)
		j->rv = STORE_EDB;
	if (!qs->closing)
		answer(j);
	job_free(j);
	maybe_free(qs);
}

static void on_idle(uv_idle_t *idle)
{
	struct query_srv *qs = idle->data;
	struct qjob **pp = &qs->copying;
	while (*pp) {
		struct qjob *j = *pp;
		int rv = store_query_copy(j->q, QUERY_COPY_PAGES);
		if (rv == 1) {
			pp = &j->next;
			continue;
		}
		*pp = j->next;
		j->rv = rv;
		j->work.data = j;
		if (rv != STORE_OK || uv_queue_work(qs->s->loop, &j->work,
						    work_run, after_run) != 0) {
			if (rv == STORE_OK)
				j->rv = STORE_ENOMEM;
			answer(j);
			job_free(j);
		}
	}
	if (qs->copying == NULL)
		uv_idle_stop(idle);
}

static void api_query(void *self, struct sconn *sc,
		      const struct frame_header *h, ProtobufCMessage *msg)
{
	struct query_srv *qs = self;
	Synod__Wire__QueryRequest *req = (void *)msg;
	struct store_query_limits lim;
	struct qjob *j;
	struct pending *p;
	int rv;
	if (qs->running >=
	    query_max_running(qs->s->node->cfg->thread_pool_size)) {
		srv_reply_status(sc, h, SYNOD_EBUSY,
				 "too many queries running on this node");
		protobuf_c_message_free_unpacked(msg, NULL);
		return;
	}
	lim.max_rows = req->has_max_rows && req->max_rows > 0
			   ? req->max_rows
			   : QUERY_DEFAULT_ROWS;
	if (lim.max_rows > QUERY_MAX_ROWS)
		lim.max_rows = QUERY_MAX_ROWS;
	lim.timeout_ms = req->has_timeout_ms && req->timeout_ms > 0
			     ? req->timeout_ms
			     : QUERY_DEFAULT_TIMEOUT_MS;
	if (lim.timeout_ms > QUERY_MAX_TIMEOUT_MS)
		lim.timeout_ms = QUERY_MAX_TIMEOUT_MS;
	lim.max_bytes = QUERY_MAX_BYTES;
	p = srv_pending_new(sc, h, msg, NULL, NULL);
	j = p ? calloc(1, sizeof *j) : NULL;
	if (j == NULL) {
		srv_reply_status(sc, h, SYNOD_EUNKNOWN, "out of memory");
		if (p)
			srv_pending_free(p);
		else
			protobuf_c_message_free_unpacked(msg, NULL);
		return;
	}
	j->qs = qs;
	j->p = p;
	j->start_ms = uv_now(qs->s->loop);
	qs->running++;
	rv = store_query_new(qs->s->node->fsm.store, req->sql, &lim, &j->q);
	if (rv != STORE_OK) {
		srv_reply_status(sc, h,
				 rv == STORE_EMALFORMED
				     ? SYNOD_EINVALID_ARGUMENT
				     : SYNOD_EUNKNOWN,
				 store_errmsg(qs->s->node->fsm.store));
		job_free(j);
		return;
	}
	j->next = qs->copying;
	qs->copying = j;
	uv_idle_start(&qs->idle, on_idle);
}

static void on_closed(uv_handle_t *handle)
{
	struct query_srv *qs = handle->data;
	qs->handle_closed = 1;
	maybe_free(qs);
}

static void mod_close(void *self)
{
	struct query_srv *qs = self;
	qs->closing = 1;
	while (qs->copying) {
		struct qjob *j = qs->copying;
		qs->copying = j->next;
		job_free(j);
	}
	uv_close((uv_handle_t *)&qs->idle, on_closed);
}

static const struct module_api query_apis[] = {
    {SYNOD_API_QUERY, "QUERY", 1, 1, 0, &synod__wire__query_request__descriptor,
     api_query, ACL_READ, NULL},
};

void query_module(struct query_srv *qs, struct module *m)
{
	memset(m, 0, sizeof *m);
	m->name = "query";
	m->self = qs;
	m->apis = query_apis;
	m->n_apis = sizeof query_apis / sizeof query_apis[0];
	m->close = mod_close;
}

unsigned query_max_running(unsigned pool_threads)
{
	unsigned n = pool_threads / 4;
	return n < 1 ? 1 : n > QUERY_MAX_RUNNING ? QUERY_MAX_RUNNING : n;
}

int query_new(struct server *s, struct query_srv **out)
{
	struct query_srv *qs = calloc(1, sizeof *qs);
	if (qs == NULL)
		return -1;
	qs->s = s;
	uv_idle_init(s->loop, &qs->idle);
	qs->idle.data = qs;
	*out = qs;
	return 0;
}
