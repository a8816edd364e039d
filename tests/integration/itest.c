/* tests/integration/itest.c - helpers shared by the integration tests
 * (itest.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "itest.h"

/* ---- fixture ---- */

int itest_alloc(void **state, size_t size)
{
	void *f = calloc(1, size);
	if (f == NULL)
		return -1;
	*state = f;
	return 0;
}

struct cluster *itest_start(struct itest *it, unsigned n, const char *synod_bin,
			    const char *flags)
{
	assert_int_equal(
	    cluster_init(&it->c, n, synod_bin, ITEST_ETO_MS, flags), 0);
	it->started = 1;
	assert_int_equal(cluster_start(&it->c), 0);
	return &it->c;
}

void itest_start_client(struct itest *it)
{
	struct synod_client_config cfg = {0};
	assert_int_not_equal(
	    cluster_wait_leader(&it->c, ITEST_LEADER_TIMEOUT_MS), 0);
	assert_int_equal(uv_loop_init(&it->loop), 0);
	it->loop_ready = 1;
	tool_tls_apply(&cfg); /* $SYNOD_CA ... (test_tls) */
	cfg.bootstrap = it->c.bootstrap;
	cfg.cluster_id = it->c.cluster_id;
	cfg.request_timeout_ms = ITEST_CALL_TIMEOUT_MS;
	assert_int_equal(synod_client_new(&it->loop, &cfg, &it->cl), SYNOD_OK);
}

int itest_teardown(struct itest *it, const char *const *logs, unsigned n_logs,
		   unsigned log_lines)
{
	int rv = 0;
	if (it->cl) {
		synod_client_close(it->cl);
		it->cl = NULL;
	}
	if (it->loop_ready) {
		uv_run(&it->loop, UV_RUN_DEFAULT);
		if (uv_loop_close(&it->loop) != 0) {
			fprintf(stderr, "teardown: handles left on the loop\n");
			rv = -1;
		}
		it->loop_ready = 0;
	}
	if (it->started) {
		if (!it->passed) {
			cluster_dump_logs(&it->c, 40);
			for (unsigned i = 0; i < n_logs; i++)
				itest_dump_file(logs[i], log_lines);
		}
		for (unsigned i = 0; i < n_logs; i++)
			if (itest_has_sanitizer_report(logs[i])) {
				fprintf(stderr, "%s has a sanitizer report\n",
					logs[i]);
				itest_dump_file(logs[i], 60);
				rv = -1;
			}
		cluster_destroy(&it->c);
		it->started = 0;
		/* A daemon built with sanitizers that reported anything fails
		 * the test, even if the scenario itself passed. */
		if (it->c.sanitizer_reports > 0)
			rv = -1;
	}
	return rv;
}

/* ---- calls ---- */

/* The Status code of resp (SYNOD_EUNKNOWN without one); resp goes to *out
 * when wanted, else is freed. */
static int status_code(ProtobufCMessage *resp, ProtobufCMessage **out)
{
	const Synod__Wire__Status *st = tool_status(resp);
	int code = st ? st->code : SYNOD_EUNKNOWN;
	if (out)
		*out = resp;
	else
		protobuf_c_message_free_unpacked(resp, NULL);
	return code;
}

struct sync_call {
	int done;
	int status;
	const ProtobufCMessageDescriptor *desc;
	ProtobufCMessage *resp;
};

static void on_sync(void *arg, int status, const uint8_t *body, size_t len)
{
	struct sync_call *s = arg;
	s->done = 1;
	s->status = status;
	if (status == SYNOD_OK) {
		s->resp = protobuf_c_message_unpack(s->desc, NULL, len, body);
		if (s->resp == NULL)
			s->status = SYNOD_EINVALID_REQUEST;
	}
}

int itest_call(struct itest *it, uint16_t api, const ProtobufCMessage *req,
	       const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out)
{
	struct sync_call s = {0, 0, desc, NULL};
	if (out)
		*out = NULL;
	assert_int_equal(synod_client_send(it->cl, api, req, 1, on_sync, &s),
			 SYNOD_OK);
	/* The client's request timer bounds the wait. */
	while (!s.done)
		uv_run(&it->loop, UV_RUN_ONCE);
	if (s.status != SYNOD_OK) {
		fprintf(stderr, "call api %u: client error %s: %s\n", api,
			synod_error_name(s.status),
			synod_client_errmsg(it->cl));
		return s.status;
	}
	return status_code(s.resp, out);
}

int itest_call_client(struct synod_client *cl, uint16_t api,
		      const ProtobufCMessage *req, int to_leader,
		      const ProtobufCMessageDescriptor *desc,
		      ProtobufCMessage **out)
{
	ProtobufCMessage *resp = NULL;
	int rv = synod_client_call(cl, api, req, to_leader, desc, &resp);
	if (out)
		*out = NULL;
	if (rv != SYNOD_OK) {
		fprintf(stderr, "call api %u: client error %s: %s\n", api,
			synod_error_name(rv), synod_client_errmsg(cl));
		return rv;
	}
	return status_code(resp, out);
}

int itest_set_config(struct itest *it, const char *key, const char *value)
{
	Synod__Wire__ConfigSetRequest r = SYNOD__WIRE__CONFIG_SET_REQUEST__INIT;
	Synod__Wire__ConfigEntry e = SYNOD__WIRE__CONFIG_ENTRY__INIT;
	Synod__Wire__ConfigEntry *ep = &e;
	e.scope = SYNOD_SCOPE_CLUSTER;
	e.key = (char *)key;
	e.value = (char *)value;
	r.n_entries = 1;
	r.entries = &ep;
	return itest_call(it, SYNOD_API_CONFIG_SET, &r.base,
			  &synod__wire__config_set_response__descriptor, NULL);
}

int itest_set_group_configs(struct itest *it, unsigned session_ms,
			    unsigned heartbeat_ms)
{
	Synod__Wire__ConfigSetRequest r = SYNOD__WIRE__CONFIG_SET_REQUEST__INIT;
	Synod__Wire__ConfigEntry e[4], *ep[4];
	char s[16], h[16];
	snprintf(s, sizeof s, "%u", session_ms);
	snprintf(h, sizeof h, "%u", heartbeat_ms);
	const char *kv[4][2] = {
	    {"group.consumer.min.session.timeout.ms", s},
	    {"group.consumer.min.heartbeat.interval.ms", h},
	    {"group.consumer.session.timeout.ms", s},
	    {"group.consumer.heartbeat.interval.ms", h},
	};
	for (int i = 0; i < 4; i++) {
		synod__wire__config_entry__init(&e[i]);
		e[i].scope = SYNOD_SCOPE_CLUSTER;
		e[i].key = (char *)kv[i][0];
		e[i].value = (char *)kv[i][1];
		ep[i] = &e[i];
	}
	r.n_entries = 4;
	r.entries = ep;
	return itest_call(it, SYNOD_API_CONFIG_SET, &r.base,
			  &synod__wire__config_set_response__descriptor, NULL);
}

int itest_set_cluster_configs(struct itest *it, unsigned session_ms,
			      unsigned heartbeat_ms)
{
	Synod__Wire__ConfigSetRequest r = SYNOD__WIRE__CONFIG_SET_REQUEST__INIT;
	Synod__Wire__ConfigEntry e[2] = {SYNOD__WIRE__CONFIG_ENTRY__INIT,
					 SYNOD__WIRE__CONFIG_ENTRY__INIT};
	Synod__Wire__ConfigEntry *ep[2] = {&e[0], &e[1]};
	char s[16], h[16];
	snprintf(s, sizeof s, "%u", session_ms);
	snprintf(h, sizeof h, "%u", heartbeat_ms);
	e[0].scope = e[1].scope = SYNOD_SCOPE_CLUSTER;
	e[0].key = "broker.session.timeout.ms";
	e[0].value = s;
	e[1].key = "broker.heartbeat.interval.ms";
	e[1].value = h;
	r.n_entries = 2;
	r.entries = ep;
	return itest_call(it, SYNOD_API_CONFIG_SET, &r.base,
			  &synod__wire__config_set_response__descriptor, NULL);
}

/* ---- time ---- */

static void on_pump_timer(uv_timer_t *t)
{
	*(int *)t->data = 1;
	uv_stop(t->loop);
}

void itest_pump(uv_loop_t *loop, unsigned ms)
{
	uv_timer_t t;
	int fired = 0;
	uv_timer_init(loop, &t);
	t.data = &fired;
	uv_timer_start(&t, on_pump_timer, ms, 0);
	while (!fired)
		uv_run(loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(loop, UV_RUN_NOWAIT); /* let the close finish */
}

void itest_pump_until(uv_loop_t *loop, uint64_t when_ms)
{
	uint64_t now = tool_now_ms();
	if (when_ms > now)
		itest_pump(loop, (unsigned)(when_ms - now));
}

void itest_sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- processes ---- */

pid_t itest_spawn(const char *const *argv, const char *log)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

void itest_kill(pid_t *pid)
{
	if (*pid <= 0)
		return;
	kill(*pid, SIGKILL);
	waitpid(*pid, NULL, 0);
	*pid = 0;
}

/* ---- logs and tools ---- */

void itest_dump_file(const char *path, unsigned max_lines)
{
	FILE *fp = fopen(path, "r");
	char line[1024];
	char **ring;
	unsigned n = 0;
	if (fp == NULL)
		return;
	ring = calloc(max_lines, sizeof *ring);
	if (ring == NULL) {
		fclose(fp);
		return;
	}
	while (fgets(line, sizeof line, fp)) {
		free(ring[n % max_lines]);
		ring[n % max_lines] = strdup(line);
		n++;
	}
	fclose(fp);
	fprintf(stderr, "---- %s (last %u lines) ----\n", path, max_lines);
	for (unsigned i = n > max_lines ? n - max_lines : 0; i < n; i++)
		fputs(ring[i % max_lines] ? ring[i % max_lines] : "\n", stderr);
	for (unsigned i = 0; i < max_lines; i++)
		free(ring[i]);
	free(ring);
}

int itest_has_sanitizer_report(const char *path)
{
	static const char *const marks[] = {"ERROR: AddressSanitizer",
					    "ERROR: LeakSanitizer",
					    "runtime error:", NULL};
	FILE *fp = fopen(path, "r");
	char line[1024];
	int found = 0;
	if (fp == NULL)
		return 0;
	while (!found && fgets(line, sizeof line, fp))
		for (unsigned i = 0; marks[i]; i++)
			if (strstr(line, marks[i]))
				found = 1;
	fclose(fp);
	return found;
}

long itest_log_size(struct cluster *c, unsigned id)
{
	struct stat st;
	if (stat(c->nodes[id - 1].log_path, &st) != 0)
		return 0;
	return (long)st.st_size;
}

int itest_log_contains_after(struct cluster *c, unsigned id, long from,
			     const char *text)
{
	FILE *fp = fopen(c->nodes[id - 1].log_path, "r");
	char line[2048];
	int found = 0;
	if (fp == NULL)
		return 0;
	if (fseek(fp, from, SEEK_SET) != 0) {
		fclose(fp);
		return 0;
	}
	while (!found && fgets(line, sizeof line, fp))
		found = strstr(line, text) != NULL;
	fclose(fp);
	return found;
}

int itest_log_word_after(struct cluster *c, unsigned id, const char *tag,
			 char *out, size_t size)
{
	FILE *fp = fopen(c->nodes[id - 1].log_path, "r");
	char line[2048];
	int found = -1;
	if (fp == NULL)
		return -1;
	while (fgets(line, sizeof line, fp)) {
		char *p = strstr(line, tag);
		if (p) {
			p += strlen(tag);
			p[strcspn(p, " \"\n")] = '\0';
			snprintf(out, size, "%s", p);
			found = 0;
		}
	}
	fclose(fp);
	return found;
}

int itest_synodctl(struct itest *it, const char *ctl, const char *args,
		   json_t **out)
{
	char cmd[2048], *buf = NULL;
	size_t n = 0, r, cap = 0;
	FILE *p;
	int st;
	json_error_t err;
	snprintf(cmd, sizeof cmd,
		 "'%s' --bootstrap %s --cluster-id %s --timeout-ms %u --json "
		 "%s 2>>'%s/synodctl.log'",
		 ctl, it->c.bootstrap, it->c.cluster_id, ITEST_CALL_TIMEOUT_MS,
		 args, it->c.dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	/* Whatever it prints (a partition list can be megabytes). */
	do {
		if (cap - n < 4096) {
			cap = cap ? cap * 2 : 1 << 16;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		r = fread(buf + n, 1, cap - 1 - n, p);
		n += r;
	} while (r > 0);
	buf[n] = '\0';
	st = pclose(p);
	*out = json_loads(buf, 0, &err);
	free(buf);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- broker metadata deltas ---- */

void itest_deltas_check(struct itest_deltas *ds, struct synod_broker *b,
			const Synod__Wire__MetadataDelta *d)
{
	int full = d->has_full && d->full;
	/* In version order, without gaps: a delta continues the last one;
	 * the view already shows it. */
	if (d->version < ds->last_version ||
	    (!full && d->prev_version != ds->last_version) ||
	    synod_broker_metadata_version(b) != d->version) {
		fprintf(stderr,
			"broker %d: delta %llu..%llu%s after %llu (view at "
			"%llu)\n",
			synod_broker_id(b), (unsigned long long)d->prev_version,
			(unsigned long long)d->version, full ? " full" : "",
			(unsigned long long)ds->last_version,
			(unsigned long long)synod_broker_metadata_version(b));
		ds->order_violations++;
	}
	ds->last_version = d->version;
	ds->deltas++;
	ds->fulls += full;
}

/* ---- raw connections (see itest.h) ---- */

/* Connect to hostport from source address src (NULL: the kernel's
 * choice, 127.0.0.1 on loopback); receive and send time out after 5 s.
 * rcvbuf > 0 shrinks the receive buffer first. */
int itest_raw_connect(const char *src, const char *hostport, int rcvbuf)
{
	struct sockaddr_in sa = {0}, from = {0};
	struct timeval tv = {5, 0};
	char host[64];
	const char *colon = strrchr(hostport, ':');
	int fd;
	assert_non_null(colon);
	snprintf(host, sizeof host, "%.*s", (int)(colon - hostport), hostport);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	assert_int_equal(inet_pton(AF_INET, host, &sa.sin_addr), 1);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	if (rcvbuf > 0)
		assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
					    sizeof rcvbuf),
				 0);
	if (src) {
		from.sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, src, &from.sin_addr), 1);
		assert_int_equal(
		    bind(fd, (struct sockaddr *)&from, sizeof from), 0);
	}
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	return fd;
}

int itest_http_raw(const char *addr, const char *req, size_t len, char *out,
		   size_t size)
{
	int fd = itest_raw_connect(NULL, addr, 0);
	size_t got = 0;
	int code = 0;
	ssize_t r;
	if (len)
		itest_raw_send(fd, (const uint8_t *)req, len);
	while (got + 1 < size && (r = read(fd, out + got, size - 1 - got)) > 0)
		got += (size_t)r;
	out[got] = '\0';
	close(fd);
	if (sscanf(out, "HTTP/1.1 %d", &code) != 1)
		code = 0;
	return code;
}

int itest_http_get(const char *addr, const char *path, char *out, size_t size)
{
	char req[512];
	int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n",
			 path);
	return itest_http_raw(addr, req, (size_t)n, out, size);
}

const char *itest_http_body(const char *resp)
{
	const char *b = strstr(resp, "\r\n\r\n");
	return b ? b + 4 : "";
}

void itest_http_header(const char *resp, const char *name, char *out,
		       size_t size)
{
	const char *end = strstr(resp, "\r\n\r\n");
	size_t n = strlen(name);
	out[0] = '\0';
	for (const char *p = strstr(resp, "\r\n"); p && (!end || p < end);
	     p = strstr(p + 2, "\r\n")) {
		if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') {
			const char *v = p + 3 + n, *e;
			while (*v == ' ')
				v++;
			e = strstr(v, "\r\n");
			snprintf(out, size, "%.*s",
				 (int)(e ? (size_t)(e - v) : strlen(v)), v);
			return;
		}
	}
}

void itest_raw_send(int fd, const uint8_t *buf, size_t n)
{
	assert_int_equal(send(fd, buf, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Read exactly n bytes: 0, or 1 on EOF / reset, or -1 on timeout. */
int itest_raw_read(int fd, uint8_t *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = recv(fd, buf + got, n - got, 0);
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			return 1;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static uint32_t get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | p[3];
}

int itest_raw_next_response(int fd, uint32_t *corr, uint8_t **body, size_t *len)
{
	uint8_t p[16];
	uint32_t n;
	if (itest_raw_read(fd, p, sizeof p) != 0)
		return -1;
	n = get32(p);
	assert_int_equal(p[4], 0x53);
	assert_int_equal(p[6], 1); /* response */
	*corr = get32(p + 12);
	assert_true(n >= 12 && n - 12 <= (1u << 20));
	*body = malloc(n - 12 + 1);
	assert_non_null(*body);
	assert_int_equal(itest_raw_read(fd, *body, n - 12), 0);
	*len = n - 12;
	return 0;
}

/* Read one response frame; its body (malloc'd) in *body. Asserts. */
size_t itest_raw_response(int fd, uint32_t corr, uint8_t **body)
{
	uint32_t got;
	size_t len;
	assert_int_equal(itest_raw_next_response(fd, &got, body, &len), 0);
	assert_int_equal(got, corr);
	return len;
}

void itest_raw_request(int fd, uint16_t api, const char *cid, uint32_t corr,
		       const ProtobufCMessage *msg)
{
	itest_raw_requests(fd, cid, 1, &api, &corr, &msg);
}

/* The header of raw request api (correlation id corr, client id cid
 * unless NULL). */
static struct frame_header raw_header(uint16_t api, const char *cid,
				      uint32_t corr)
{
	struct frame_header h = {.kind = FRAME_REQUEST,
				 .flags = cid ? FRAME_F_CLIENT_ID : 0,
				 .api = api,
				 .api_version = 1,
				 .correlation_id = corr};
	if (cid)
		memcpy(h.client_id, cid, 16);
	return h;
}

void itest_raw_requests(int fd, const char *cid, unsigned n,
			const uint16_t *api, const uint32_t *corr,
			const ProtobufCMessage *const *msg)
{
	size_t total = 0, at = 0;
	uint8_t *buf;
	for (unsigned i = 0; i < n; i++) {
		struct frame_header h = raw_header(api[i], cid, corr[i]);
		total += frame_prefix_size(&h) +
			 protobuf_c_message_get_packed_size(msg[i]);
	}
	buf = malloc(total ? total : 1);
	assert_non_null(buf);
	for (unsigned i = 0; i < n; i++) {
		struct frame_header h = raw_header(api[i], cid, corr[i]);
		size_t blen = protobuf_c_message_get_packed_size(msg[i]);
		size_t pre = frame_prefix_size(&h);
		frame_put_prefix(buf + at, &h, blen);
		protobuf_c_message_pack(msg[i], buf + at + pre);
		at += pre + blen;
	}
	itest_raw_send(fd, buf, total);
	free(buf);
}

ProtobufCMessage *itest_raw_answer(int fd, uint32_t corr,
				   const ProtobufCMessageDescriptor *desc)
{
	uint8_t *body;
	size_t len = itest_raw_response(fd, corr, &body);
	ProtobufCMessage *r = protobuf_c_message_unpack(desc, NULL, len, body);
	free(body);
	assert_non_null(r);
	return r;
}

ProtobufCMessage *itest_raw_call(int fd, uint16_t api, const char *cid,
				 uint32_t corr, const ProtobufCMessage *msg,
				 const ProtobufCMessageDescriptor *desc)
{
	itest_raw_request(fd, api, cid, corr, msg);
	return itest_raw_answer(fd, corr, desc);
}
