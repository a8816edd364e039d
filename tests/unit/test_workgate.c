/* Unit tests of net/workgate.c: at most the limit of jobs in libuv's
 * thread pool at once, the rest started in order as jobs end
 * (docs/reliability.md 5.19), on a real loop and pool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <uv.h>

#include "workgate.h"

#define JOBS 12

struct job {
	struct workgate_req req;
	int id;
	int status;
};

static atomic_int in_pool, most_in_pool, n_started;
static int done[JOBS], n_done;
static struct job jobs[JOBS];

static void work(uv_work_t *w)
{
	struct job *j = w->data;
	int now = atomic_fetch_add(&in_pool, 1) + 1;
	int most = atomic_load(&most_in_pool);
	struct timespec ts = {0, 2 * 1000 * 1000};
	while (now > most &&
	       !atomic_compare_exchange_weak(&most_in_pool, &most, now))
		;
	(void)j;
	atomic_fetch_add(&n_started, 1);
	nanosleep(&ts, NULL); /* overlap: more would run at once if let */
	atomic_fetch_sub(&in_pool, 1);
}

/* The jobs handed to the pool so far (uv_queue_work set their type). */
static int handed_over(void)
{
	int m = 0;
	while (m < JOBS && jobs[m].req.work.type == UV_WORK)
		m++;
	for (int k = m; k < JOBS; k++) /* a prefix: in order */
		assert_int_not_equal(jobs[k].req.work.type, UV_WORK);
	return m;
}

static void after(uv_work_t *w, int status)
{
	struct job *j = w->data;
	j->status = status;
	done[n_done++] = j->id;
	assert_true(workgate_running() <= workgate_limit());
	assert_int_equal(handed_over(), n_done + (int)workgate_running());
}

static void reset(uv_loop_t *loop)
{
	atomic_store(&in_pool, 0);
	atomic_store(&most_in_pool, 0);
	atomic_store(&n_started, 0);
	n_done = 0;
	memset(jobs, 0, sizeof jobs);
	assert_int_equal(uv_loop_init(loop), 0);
}

/* Invariant: never more than the limit of gated jobs in the pool; every
 * job runs once and its callback comes once; jobs leave the gate in the
 * order they came. */
static void test_limit_and_order(void **state)
{
	uv_loop_t loop;
	unsigned long long queued0, waited0;
	(void)state;
	reset(&loop);
	workgate_set_limit(2);
	assert_int_equal(workgate_limit(), 2);
	queued0 = workgate_queued();
	waited0 = workgate_waited();
	for (int i = 0; i < JOBS; i++) {
		jobs[i].id = i;
		jobs[i].status = -1;
		jobs[i].req.work.data = &jobs[i];
		assert_int_equal(
		    workgate_queue(&loop, &jobs[i].req, work, after), 0);
	}
	assert_int_equal(workgate_running(), 2);
	assert_int_equal(workgate_waiting(), JOBS - 2);
	assert_int_equal(workgate_queued() - queued0, JOBS);
	assert_int_equal(workgate_waited() - waited0, JOBS - 2);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(n_done, JOBS);
	assert_int_equal(atomic_load(&n_started), JOBS);
	assert_true(atomic_load(&most_in_pool) <= 2);
	assert_int_equal(workgate_running(), 0);
	assert_int_equal(workgate_waiting(), 0);
	for (int i = 0; i < JOBS; i++)
		assert_int_equal(jobs[i].status, 0);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* A callback that queues the next job (as an HTTP answer of several
 * steps does): the chain runs through, one at a time with limit 1. */
static int chain_left;
static struct job chain_job;

static void after_chain(uv_work_t *w, int status)
{
	(void)status;
	done[n_done++] = 0;
	if (--chain_left > 0)
		assert_int_equal(
		    workgate_queue(w->loop, &chain_job.req, work, after_chain),
		    0);
}

static void test_queue_from_callback(void **state)
{
	uv_loop_t loop;
	(void)state;
	reset(&loop);
	workgate_set_limit(0); /* at least 1 */
	assert_int_equal(workgate_limit(), 1);
	chain_left = 5;
	chain_job.id = 0;
	chain_job.req.work.data = &chain_job;
	assert_int_equal(
	    workgate_queue(&loop, &chain_job.req, work, after_chain), 0);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(n_done, 5);
	assert_int_equal(atomic_load(&most_in_pool), 1);
	assert_int_equal(workgate_running(), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* A second loop of the same thread, while the gate holds the first's
 * jobs: its job goes straight to the pool and ends while the first loop
 * does not run (gated, it would wait for that loop's jobs). */
static int other_done;

static void after_other(uv_work_t *w, int status)
{
	(void)w;
	assert_int_equal(status, 0);
	other_done++;
}

static void test_other_loop_not_gated(void **state)
{
	uv_loop_t a, b;
	struct job other;
	(void)state;
	reset(&a);
	assert_int_equal(uv_loop_init(&b), 0);
	workgate_set_limit(1);
	for (int i = 0; i < 3; i++) {
		jobs[i].id = i;
		jobs[i].req.work.data = &jobs[i];
		assert_int_equal(workgate_queue(&a, &jobs[i].req, work, after),
				 0);
	}
	assert_int_equal(workgate_waiting(), 2);
	other.req.work.data = &other;
	other_done = 0;
	assert_int_equal(workgate_queue(&b, &other.req, work, after_other), 0);
	assert_int_equal(workgate_running(), 1);
	assert_int_equal(workgate_waiting(), 2);
	assert_int_equal(uv_run(&b, UV_RUN_DEFAULT), 0);
	assert_int_equal(other_done, 1);
	assert_int_equal(uv_loop_close(&b), 0);
	assert_int_equal(uv_run(&a, UV_RUN_DEFAULT), 0);
	assert_int_equal(n_done, 3);
	assert_int_equal(workgate_running() + workgate_waiting(), 0);
	assert_int_equal(uv_loop_close(&a), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_limit_and_order),
	    cmocka_unit_test(test_queue_from_callback),
	    cmocka_unit_test(test_other_loop_not_gated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
