/* controller/lifecycle.c - broker lifecycle decisions (pure). */
#include "lifecycle.h"

#include <string.h>

#include "synod/client.h"

enum lc_register_decision lc_register(const struct lc_broker *existing,
				      const char *incarnation_id,
				      uint64_t now_ms)
{
	if (existing == NULL)
		return LC_REG_NEW;
	if (strcmp(existing->incarnation_id, incarnation_id) == 0)
		return LC_REG_SAME;
	/* Another incarnation: refuse while its session lives, unless it
	 * finished a controlled shutdown (it was told to stop), or it is
	 * fenced and only a takeover's grace keeps its session: the grace
	 * keeps a failover from fencing a live broker, and a fenced one
	 * leads nothing (KIP-631 admits at once over any fenced broker; a
	 * fenced one that heartbeats here is kept, so two live processes
	 * with one id do not replace each other in turn). */
	if (existing->stop_acknowledged || now_ms >= existing->deadline_ms ||
	    (existing->fenced && existing->unheard))
		return LC_REG_NEW;
	return LC_REG_DUPLICATE;
}

void lc_heartbeat(const struct lc_broker *b, uint64_t epoch, uint64_t version,
		  int want_fence, int want_shutdown, struct lc_heartbeat *out)
{
	memset(out, 0, sizeof *out);
	if (b == NULL) {
		out->error = SYNOD_EUNKNOWN_BROKER;
		return;
	}
	if (epoch != b->epoch) {
		/* An older epoch is a zombie of a replaced incarnation; a newer
		 * one cannot exist. Either way it must not act. */
		out->error = SYNOD_ESTALE_BROKER_EPOCH;
		return;
	}
	out->renew = 1;
	out->is_caught_up = version >= b->epoch;
	out->is_fenced = b->fenced;
	out->should_shutdown = b->shutting_down;
	if (want_shutdown || b->shutting_down) {
		/* Nothing to move off a broker yet (no partitions): it may
		 * stop as soon as the shutdown is committed. */
		if (!b->shutting_down)
			out->action = LC_SHUTDOWN;
		out->should_shutdown = 1;
		out->is_fenced = 1;
		return;
	}
	if (want_fence) {
		if (!b->fenced)
			out->action = LC_FENCE;
		out->is_fenced = 1;
		return;
	}
	if (b->fenced && out->is_caught_up) {
		out->action = LC_UNFENCE;
		out->is_fenced = 0;
	}
}

int lc_should_fence(const struct lc_broker *b, uint64_t now_ms)
{
	return !b->fenced && now_ms >= b->deadline_ms;
}

uint64_t lc_deadline(uint64_t now_ms, uint64_t session_timeout_ms)
{
	return now_ms + session_timeout_ms;
}
