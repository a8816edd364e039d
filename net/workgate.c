/* net/workgate.c - see workgate.h. */
#include "workgate.h"

#include <stddef.h>

#define WORKGATE_DEFAULT_LIMIT 8

struct workgate {
	unsigned limit; /* 0: the default */
	unsigned running, waiting;
	unsigned long long queued, waited; /* since the thread began */
	struct workgate_req *head, *tail;
	uv_loop_t *loop; /* whose jobs are in the gate (running or waiting) */
};

static _Thread_local struct workgate gate;

void workgate_set_limit(unsigned limit)
{
	gate.limit = limit < 1 ? 1 : limit;
}

unsigned workgate_limit(void)
{
	return gate.limit != 0 ? gate.limit : WORKGATE_DEFAULT_LIMIT;
}

unsigned workgate_running(void)
{
	return gate.running;
}

unsigned workgate_waiting(void)
{
	return gate.waiting;
}

unsigned long long workgate_queued(void)
{
	return gate.queued;
}

unsigned long long workgate_waited(void)
{
	return gate.waited;
}

static void after(uv_work_t *w, int status);

/* The request whose work w is. */
static struct workgate_req *req_of(uv_work_t *w)
{
	return (struct workgate_req *)((char *)w -
				       offsetof(struct workgate_req, work));
}

static void bypass_after(uv_work_t *w, int status)
{
	struct workgate_req *r = req_of(w);
	r->after_cb(w, status);
}

static int submit(struct workgate_req *r)
{
	int rv = uv_queue_work(r->loop, &r->work, r->work_cb, after);
	if (rv == 0) {
		gate.running++;
		gate.loop = r->loop;
	}
	return rv;
}

/* Jobs that waited, while there is room. One the pool refuses (it does not
 * in libuv 1.44) hears of it through its after_cb, here on the loop's
 * thread. */
static void submit_waiting(void)
{
	while (gate.head != NULL && gate.running < workgate_limit()) {
		struct workgate_req *r = gate.head;
		int rv;
		gate.head = r->next;
		if (gate.head == NULL)
			gate.tail = NULL;
		gate.waiting--;
		r->next = NULL;
		rv = submit(r);
		if (rv != 0) {
			r->work.loop = r->loop;
			r->after_cb(&r->work, rv);
		}
	}
}

static void after(uv_work_t *w, int status)
{
	struct workgate_req *r = req_of(w);
	gate.running--;
	submit_waiting(); /* before after_cb, which may free r */
	r->after_cb(w, status);
}

/* r joins the end of the gate's queue. */
static void wait_in_gate(struct workgate_req *r)
{
	if (gate.tail != NULL)
		gate.tail->next = r;
	else
		gate.head = r;
	gate.tail = r;
	gate.waiting++;
	gate.waited++;
}

int workgate_queue(uv_loop_t *loop, struct workgate_req *r, uv_work_cb work_cb,
		   uv_after_work_cb after_cb)
{
	int rv = 0;
	if (work_cb == NULL || after_cb == NULL)
		return UV_EINVAL;
	r->loop = loop;
	r->work_cb = work_cb;
	r->after_cb = after_cb;
	r->next = NULL;
	if (gate.running + gate.waiting > 0 && gate.loop != loop)
		/* Another loop of this thread: not gated, for the gate's
		 * jobs would keep this loop waiting (or outlive it). */
		rv = uv_queue_work(loop, &r->work, work_cb, bypass_after);
	else if (gate.running < workgate_limit() && gate.head == NULL)
		rv = submit(r);
	else
		wait_in_gate(r);
	if (rv == 0)
		gate.queued++;
	return rv;
}
