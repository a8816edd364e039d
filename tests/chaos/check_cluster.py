"""Checks of the cluster workloads of a chaos history (see checker.py).

Like checker.py it knows nothing about Synod's code: it reads what the
simulated brokers and consumers wrote to their event logs (synod-sim
--event-log, JSON lines, times moved to the history's clock by the
harness) and the topic operations of the history, and checks:

  topics     linearizability of each topic name's existence: create and
             delete with their definite answers (ok, TOPIC_ALREADY_EXISTS,
             UNKNOWN_TOPIC), an unknown outcome taking effect at any point
             after its call, or never, and the final listing after the last
             heal ("exists" reads: a name present or absent), so that an
             acknowledged create or delete lost at the end is seen;
  leaders    no two brokers lead one partition in one leader epoch, over
             every view any broker applied; a leader is in the ISR, the
             ISR within the replicas; no broker the view lists as shutting
             down leads; one partition epoch is one state (leader, leader
             epoch, ISR, replicas) in every view; and a leadership never
             outlives its leader's
             registration: a view that lists the leader of a leader epoch
             under another registration epoch than the view that first
             showed that leader epoch (a new incarnation would have kept
             its predecessor's leaderships: apply refuses a registration
             while the broker leads, storage/store.h);
  epochs     a partition's leader and partition epochs never go backwards
             in one broker incarnation's view, nor does the view's version;
  fenced     no view shows a partition led by a broker that the same view
             says is fenced;
  staleness  when any view first shows broker B's registration (epoch E)
             fenced (after it had been unfenced), B's own session deadline
             (last acknowledged heartbeat's send time + session timeout)
             had passed, or it had asked to shut down. Being told "fenced"
             does not excuse a fence: it is the fence's result. This is
             "no fenced broker leading" seen from the broker, and "no
             healthy broker fenced by a controller failover" (a healthy
             broker's deadline is always ahead);
  told early B's library moved to "fenced" (its state events, exact
             times) before the deadline of its last unfenced sample, and
             B had not asked to shut down: its own session ends no
             earlier, so the controller told it early. Closer to the fence
             than the views, which a broker applies later;
  ownership  no partition owned by two members of one consumer group at
             one time, replaying every consumer's owned set in time order
             (a killed consumer process owns nothing from its kill on);
  in time    a broker cut off (killed or isolated) for longer than its
             session plus FENCE_LATE_S is shown fenced by some view within
             that time of the fault (one session more when a membership or
             leadership overlay may have moved the controller, whose
             takeover gives a session of grace): a fence that never comes
             keeps a dead broker leading (check_fences_in_time, from the
             history's applied faults and meta.broker_session_ms);
  input      a run with brokers has views and one with consumers has
             ownership events: a check with nothing to read fails rather
             than passes.

History fields used: "events" (topic ops: f "create"/"delete", key = topic
name) and "sims": {"logs": {source: [event, ...]}, "kills": [{"source",
"time"}], "tick_s": seconds between the library-state samples}.
"""

INF = float("inf")
# A broker's deadline counts from its heartbeat's send, the controller's
# from its arrival (uv_now, whole milliseconds): a fence is never earlier
# than the broker's deadline, up to this rounding.
FENCE_SLACK_S = 0.01
TOPIC_DEFINITE = {"TOPIC_ALREADY_EXISTS": True, "UNKNOWN_TOPIC": False}


class Violation:
    """Same shape as checker.Violation (render, kind, key)."""

    def __init__(self, kind, key, message, details=()):
        self.kind = kind
        self.key = key
        self.message = message
        self.details = list(details)

    def render(self):
        out = ["VIOLATION %s%s: %s" % (
            self.kind, "" if self.key is None else " [%s]" % self.key,
            self.message)]
        for d in self.details[:12]:
            out.append("    %s" % d)
        return "\n".join(out)


# ---------------------------------------------------------------- topics

def _topic_ops(ops):
    """Per topic name: [(call, ret, f, outcome, op)] where f is "create",
    "delete" or "exists" (a read) and outcome "ok", "present", "absent"
    or "maybe"; definite failures without effect, and reads that failed,
    are left out."""
    per = {}
    for o in ops:
        if o.f == "exists":  # a final listing: a read, no effect
            if o.status == "ok":
                per.setdefault(o.key, []).append(
                    (o.call, o.ret, o.f,
                     "present" if o.value else "absent", o))
            continue
        if o.f not in ("create", "delete"):
            continue
        if o.status == "ok":
            out = "ok"
        elif o.error in TOPIC_DEFINITE and o.status == "fail":
            out = "present" if TOPIC_DEFINITE[o.error] else "absent"
        elif o.status == "fail":
            continue  # definitely not applied, no information
        else:
            out = "maybe"
        ret = o.ret if out != "maybe" else INF
        per.setdefault(o.key, []).append((o.call, ret, o.f, out, o))
    for v in per.values():
        v.sort(key=lambda x: (x[0], x[1]))
    return per


def _step(state, f, out):
    """Next states of the existence register (True: the topic exists)."""
    if out == "present":
        return [state] if state else []
    if out == "absent":
        return [state] if not state else []
    if f == "create":
        if out == "ok":
            return [True] if not state else []
        return [state, True]  # maybe: applied, or not
    if out == "ok":
        return [False] if state else []
    return [state, False]


def check_topic(name, tops, budget=500_000):
    """Wing & Gong search over one name's operations. Returns a list of
    violations (empty when some linearization exists)."""
    n = len(tops)
    if n == 0:
        return []
    full = (1 << n) - 1
    calls = [t[0] for t in tops]
    rets = [t[1] for t in tops]
    visited = set()
    stack = [(0, False, 0)]
    best, best_mask = 0, 0
    states = 0
    while stack:
        mask, st, depth = stack.pop()
        if (mask, st) in visited:
            continue
        visited.add((mask, st))
        states += 1
        if states > budget:
            return [Violation("inconclusive", "topic " + name,
                              "search budget exhausted over %d operations"
                              % n)]
        if depth > best:
            best, best_mask = depth, mask
        if mask == full:
            return []
        minret = INF
        for j in range(n):
            if not (mask >> j) & 1 and rets[j] < minret:
                minret = rets[j]
        for j in range(n):
            if (mask >> j) & 1 or calls[j] > minret:
                continue
            for nxt in _step(st, tops[j][2], tops[j][3]):
                stack.append((mask | (1 << j), nxt, depth + 1))
    # Around the first operation the deepest search could not place.
    stuck = next(j for j in range(n) if not (best_mask >> j) & 1)
    lo = max(0, stuck - 6)
    lines = ["%s%s %s at %.3f..%s s (%s, %s)" % (
        "-> " if j == stuck else "   ", t[2], t[3], t[0],
        "?" if t[1] == INF else "%.3f" % t[1], t[4].error or t[4].status,
        t[4].process) for j, t in enumerate(tops[lo:stuck + 4], lo)]
    return [Violation(
        "topic-not-linearizable", "topic " + name,
        "no order of the %d create/delete operations explains their "
        "answers (at most %d could be placed)" % (n, best), lines)]


def check_topics(ops):
    viols = []
    per = _topic_ops(ops)
    for name in sorted(per):
        viols.extend(check_topic(name, per[name]))
    # A final listing that failed leaves the last changes unobserved.
    reads = {}
    for o in ops:
        if o.f == "exists":
            reads.setdefault(o.key, []).append(o)
    failed = [name for name in sorted(reads)
              if not any(o.status == "ok" for o in reads[name])]
    if failed:
        o = reads[failed[0]][-1]
        viols.append(Violation(
            "no-final-topic-read", None,
            "no final listing after the heal succeeded (%d tries; the "
            "last: %s), so the last changes of %s are not observed" % (
                len(reads[failed[0]]), o.error or o.status,
                ", ".join(failed))))
    return viols, {"names": len(per),
                   "ops": sum(len(v) for v in per.values())}


# ---------------------------------------------------------------- brokers

def _same_state(a, b):
    """Two partition states (leader, leader epoch, sorted ISR, replicas or
    None when the source did not say) agree."""
    return a[:3] == b[:3] and (a[3] is None or b[3] is None or a[3] == b[3])


def check_brokers(logs, tick_s=0.1, final_parts=None):
    """logs: {source: [event]}; final_parts: final.partitions (the
    committed states read after the final heal), or None. Returns
    (violations, stats)."""
    viols = []
    isr_acks = []      # "alter" events answered OK with a state
    by_epoch = {}      # (tid, p, leader_epoch) -> [leader, who, t, reg]
    by_pe = {}         # (tid, p, partition_epoch) -> (state, who)
    last = {}          # (b, inc, tid, p) -> (le, pe, t)
    last_v = {}        # (b, inc) -> (v, t)
    obs = {}           # (b, epoch) -> {version: [fenced, first t, who]}
    acks = {}          # (b, epoch) -> [(t, fenced, deadline)]
    leaving = {}       # (b, epoch) -> when it asked to shut down
    fenced_states = []  # (b, epoch, t): the library's state became fenced
    views = 0
    leader_terms = set()

    def note_state(tid, p, pe, state, who):
        """One source's state of (tid, p) at partition epoch pe: the same
        as every other source's there (check 7)."""
        ps = by_pe.get((tid, p, pe))
        if ps is None:
            by_pe[(tid, p, pe)] = (state, who)
        elif not _same_state(ps[0], state):
            viols.append(Violation(
                "two-states-one-partition-epoch", "%s-%d" % (tid[:8], p),
                "partition epoch %d is leader %d (epoch %d), ISR %s, "
                "replicas %s in one source and leader %d (epoch %d), ISR "
                "%s, replicas %s in another" % (
                    (pe,) + tuple(ps[0]) + tuple(state)), [ps[1], who]))

    for src, evs in logs.items():
        for ev in evs:
            k = ev.get("ev")
            if k == "ack":
                acks.setdefault((ev["b"], ev["epoch"]), []).append(
                    (ev["t"], ev["fenced"], ev.get("deadline")))
                continue
            if k == "state" and ev.get("state") in ("shutting-down",
                                                    "stopped"):
                leaving.setdefault((ev["b"], ev["epoch"]), ev["t"])
                continue
            if k == "state" and ev.get("state") == "fenced":
                fenced_states.append((ev["b"], ev["epoch"], ev["t"]))
                continue
            # (synod_error_name(0) is "NONE".)
            if k == "alter" and ev.get("code") in ("NONE", "OK") and \
                    "pe" in ev:
                isr_acks.append(ev)
                continue
            if k != "view":
                continue
            views += 1
            b, inc, t, v = ev["b"], ev["inc"], ev["t"], ev["v"]
            who = "broker %s (%s) at %.3f s, view version %s" % (
                b, inc[:8], t, v)
            pv = last_v.get((b, inc))
            if pv and v < pv[0]:
                viols.append(Violation(
                    "view-version-regression", "broker %s" % b,
                    "view version went from %s (at %.3f s) back to %s (at "
                    "%.3f s)" % (pv[0], pv[1], v, t)))
            last_v[(b, inc)] = (v, t)
            # [id, epoch, fenced, shutting down] (the last since the
            # fifteenth session's synod-sim).
            brokers = {x[0]: (x[1], x[2]) for x in ev.get("brokers", [])}
            leaving_now = {x[0] for x in ev.get("brokers", [])
                           if len(x) > 3 and x[3]}
            for bid, (ep, fenced) in brokers.items():
                o = obs.setdefault((bid, ep), {}).get(v)
                if o is None or t < o[1]:
                    obs[(bid, ep)][v] = [fenced, t, who]
            for x in ev.get("parts", []):
                # [topic id, partition, leader, leader epoch, partition
                # epoch, isr, replicas] (replicas since the fifteenth
                # session's synod-sim).
                tid, p, leader, le, pe, isr = x[:6]
                reps = tuple(x[6]) if len(x) > 6 else None
                part = "%s-%d" % (tid[:8], p)
                if reps is not None and not set(isr) <= set(reps):
                    viols.append(Violation(
                        "isr-not-in-replicas", part,
                        "partition epoch %d: ISR %s, replicas %s" % (
                            pe, isr, list(reps)), [who]))
                note_state(tid, p, pe,
                           (leader, le, tuple(sorted(isr)), reps), who)
                if leader >= 0:
                    leader_terms.add((tid, p, le))
                    if leader not in isr:
                        viols.append(Violation(
                            "leader-not-in-isr", part,
                            "leader %d (epoch %d, partition epoch %d) is "
                            "not in the ISR %s" % (leader, le, pe, isr),
                            [who]))
                    if leader in leaving_now:
                        viols.append(Violation(
                            "shutting-down-broker-leads", part,
                            "the view shows leader %d (epoch %d), which it "
                            "lists as shutting down" % (leader, le), [who]))
                    reg = brokers[leader][0] if leader in brokers else None
                    prev = by_epoch.get((tid, p, le))
                    if prev is None:
                        by_epoch[(tid, p, le)] = [leader, who, t, reg]
                    elif prev[0] != leader:
                        viols.append(Violation(
                            "two-leaders-one-epoch", part,
                            "leader epoch %d has leader %d in one view and "
                            "%d in another" % (le, prev[0], leader),
                            ["%s: leader %d" % (prev[1], prev[0]),
                             "%s: leader %d" % (who, leader)]))
                    elif prev[3] is None:
                        prev[1], prev[3] = who, reg
                    elif reg is not None and reg != prev[3]:
                        viols.append(Violation(
                            "leadership-outlived-registration", part,
                            "leader epoch %d of broker %d was shown under "
                            "its registration %s and later under "
                            "registration %s" % (le, leader, prev[3], reg),
                            ["%s: registration %s" % (prev[1], prev[3]),
                             "%s: registration %s" % (who, reg)]))
                    if brokers:
                        st = brokers.get(leader)
                        if st is None or st[1]:
                            viols.append(Violation(
                                "fenced-broker-leads", part,
                                "the view shows leader %d (epoch %d), which "
                                "it lists as %s" % (
                                    leader, le, "not registered"
                                    if st is None else "fenced"), [who]))
                pk = (b, inc, tid, p)
                old = last.get(pk)
                if old and (le < old[0] or pe < old[1]):
                    viols.append(Violation(
                        "epoch-regression", part,
                        "broker %s's view went from leader/partition epoch "
                        "%d/%d (at %.3f s) back to %d/%d" % (
                            b, old[0], old[1], old[2], le, pe), [who]))
                last[pk] = (le, pe, t)
    # Acknowledged ISR changes (since the sixteenth session's synod-sim)
    # and the committed states read after the final heal are states at
    # their partition epochs too: each must be the one the views show at
    # that epoch. And an acknowledged change is never lost: read before
    # the final listing, its partition (unless deleted) is at its epoch
    # or later there.
    for ev in isr_acks:
        note_state(ev["tid"], ev["p"], ev["pe"],
                   (ev["leader"], ev["le"], tuple(sorted(ev["isr"])),
                    tuple(ev["reps"])),
                   "broker %s's ISR change answered OK at %.3f s (send "
                   "%s)" % (ev["b"], ev["t"], ev.get("try", 1)))
    fin = {}
    if final_parts and "parts" in final_parts:
        for tid, p, leader, le, pe, isr, reps in final_parts["parts"]:
            fin[(tid, p)] = pe
            note_state(tid, p, pe, (leader, le, tuple(sorted(isr)),
                                    tuple(reps)),
                       "the committed state listed after the final heal "
                       "(%.3f s)" % final_parts["t"])
    elif final_parts:
        viols.append(Violation(
            "no-final-partitions", None,
            "no partition listing after the final heal succeeded (%s): "
            "acknowledged ISR changes are not checked against the "
            "committed state" % final_parts.get("error")))
    lost_judged = 0
    if fin:
        for ev in isr_acks:
            got = fin.get((ev["tid"], ev["p"]))
            if ev["t"] >= final_parts["t"] or got is None:
                continue  # answered after the listing, or topic deleted
            lost_judged += 1
            if got < ev["pe"]:
                viols.append(Violation(
                    "lost-isr-change", "%s-%d" % (ev["tid"][:8], ev["p"]),
                    "broker %s's ISR change to %s was answered OK at "
                    "partition epoch %d at %.3f s; the committed state "
                    "after the final heal is at partition epoch %d" % (
                        ev["b"], ev["isr"], ev["pe"], ev["t"], got)))
    # Staleness: every fence of a registration that had been unfenced (in
    # version order, over all views), at the first time any view showed
    # it; then the broker's own belief at that time.
    fences = []
    for (bid, ep), by_v in obs.items():
        was_unfenced = False
        cur = None
        for v in sorted(by_v):
            fenced, t, who = by_v[v]
            if not fenced:
                was_unfenced = True
                cur = None
            elif was_unfenced and cur is None:
                cur = [t, who]
                fences.append((bid, ep, cur))
            elif cur is not None and t < cur[0]:
                cur[0], cur[1] = t, who
    for bid, ep, (t_f, who) in sorted(fences, key=lambda x: x[2][0]):
        if leaving.get((bid, ep), INF) <= t_f + tick_s * 1.5:
            continue  # a controlled shutdown: fenced as it asked
        seq = sorted(acks.get((bid, ep)) or [], key=lambda x: x[0])
        before = [a for a in seq if a[0] <= t_f]
        if not before:
            continue
        t_a, fenced, deadline = before[-1]
        # Fenced by its own count, or told so earlier (then the check
        # below judges the telling).
        if fenced or deadline is None or deadline <= t_f + FENCE_SLACK_S:
            continue
        viols.append(Violation(
            "unfenced-broker-fenced", "broker %s epoch %s" % (bid, ep),
            "the cluster fenced broker %s (epoch %s) while it still counted "
            "itself unfenced: its session ran until %.3f s by its own "
            "reckoning, %.3f s after the fence was first seen" % (
                bid, ep, deadline, deadline - t_f),
            ["first shown fenced: %s" % who,
             "broker's last sample before: %.3f s, unfenced, deadline "
             "%.3f s" % (t_a, deadline)]))
    # The broker's own moves to "fenced" (state events, exact times): its
    # own session ends no earlier than the deadline of its last unfenced
    # sample (the library checks the clock: lease_end_ns), so one before
    # it was the controller's doing, early.
    checked = 0
    for bid, ep, t_s in fenced_states:
        seq = [a for a in acks.get((bid, ep)) or [] if a[0] <= t_s]
        if not seq:
            continue
        t_p, f_p, d_p = max(seq, key=lambda a: a[0])
        if f_p or d_p is None or \
                leaving.get((bid, ep), INF) <= t_s + tick_s * 1.5:
            continue
        checked += 1
        if d_p <= t_s + FENCE_SLACK_S:
            continue
        viols.append(Violation(
            "healthy-broker-fenced", "broker %s epoch %s" % (bid, ep),
            "broker %s (epoch %s) was fenced at %.3f s, %.3f s before its "
            "session would end by its own reckoning (%.3f s), and it had "
            "not asked to shut down: the controller told it early" % (
                bid, ep, t_s, d_p - t_s, d_p),
            ["sample at %.3f s: unfenced, deadline %.3f s" % (t_p, d_p),
             "state fenced at %.3f s" % t_s]))
    return viols, {"views": views, "leader_terms": len(leader_terms),
                   "partition_states": len(by_pe),
                   "fences": len(fences), "fenced_states": checked,
                   "isr_acks": len(isr_acks),
                   "isr_resent_acks": sum(1 for e in isr_acks
                                          if e.get("try", 1) > 1),
                   "isr_acks_judged_lost": lost_judged,
                   "final_partitions": len(fin)}


# A fence shows in the views this long after a session at the latest
# (measured over 176 broker faults longer than 5 s: 2.70 to 3.05 s after
# the fault with a 3 s session).
FENCE_LATE_S = 2.0


def check_fences_in_time(hist):
    """Each broker-kill or broker-isolate fault that lasted longer than
    the allowance: some view shows the broker fenced within it. Histories
    without meta.broker_session_ms (older harness) are not judged."""
    sess = (hist.get("meta") or {}).get("broker_session_ms")
    logs = (hist.get("sims") or {}).get("logs") or {}
    if not sess or not logs:
        return [], 0
    heals = {r.get("after_fault"): r.get("heal")
             for r in hist.get("recoveries") or []}
    fenced_at = {}  # broker id -> sorted times a view showed it fenced
    for evs in logs.values():
        for ev in evs:
            if ev.get("ev") != "view":
                continue
            for x in ev.get("brokers", []):
                if len(x) > 2 and x[2]:
                    fenced_at.setdefault(x[0], []).append(ev["t"])
    for v in fenced_at.values():
        v.sort()
    viols, judged = [], 0
    for a in hist.get("applied") or []:
        if a.get("kind") not in ("broker-kill", "broker-isolate"):
            continue
        try:
            b = int(a["proc"].rsplit("-", 1)[1])
        except (KeyError, ValueError, IndexError):
            continue
        t, h = a["time"], heals.get(a.get("n"))
        allow = sess / 1000.0 + FENCE_LATE_S
        if a.get("overlays"):
            allow += sess / 1000.0
        if h is None or h - t <= allow:
            continue
        judged += 1
        if any(t <= x <= t + allow for x in fenced_at.get(b, [])):
            continue
        later = [x for x in fenced_at.get(b, []) if x > t]
        viols.append(Violation(
            "fence-late", "broker %d" % b,
            "broker %d was cut off (%s) at %.3f s for %.1f s; no view showed "
            "it fenced within %.1f s (session %d ms)%s" % (
                b, a["kind"], t, h - t, allow, sess,
                "; first at %.3f s" % later[0] if later else "")))
    return viols, judged


# ---------------------------------------------------------------- groups

def check_groups(logs, kills):
    """No partition owned by two members of a group at one time."""
    evs = []
    for src, lst in logs.items():
        for ev in lst:
            if ev.get("ev") == "own":
                evs.append((ev["t"], 0, src, ev))
    for k in kills:
        if k["source"] in logs:
            evs.append((k["time"], 1, k["source"], None))
    evs.sort(key=lambda x: (x[0], x[1]))
    owned = {}   # (src, c) -> (group, member, set)
    names = {}   # (topic, partition) -> topic name
    viols = []
    changes = owning = 0
    reported = set()
    for t, _, src, ev in evs:
        if ev is None:  # the process was killed: its consumers own nothing
            for key in [k for k in owned if k[0] == src]:
                del owned[key]
            continue
        changes += 1
        owning += bool(ev["owned"])
        key = (src, ev["c"])
        # [topic id, partition, name] (older logs: [name, partition]).
        mine = {(x[0], x[1]) for x in ev["owned"]}
        for x in ev["owned"]:
            names[(x[0], x[1])] = x[2] if len(x) > 2 else x[0]
        owned[key] = (ev["g"], ev["m"], mine)
        for other, (g, m, theirs) in owned.items():
            if other == key or g != ev["g"]:
                continue
            both = mine & theirs
            for tp in sorted(both):
                rk = (ev["g"], tp, ev["m"], m)
                if rk in reported:
                    continue
                reported.add(rk)
                viols.append(Violation(
                    "partition-owned-twice", "group %s" % ev["g"],
                    "%s-%d owned by member %s (%s consumer %s) and member "
                    "%s (%s consumer %s) at %.3f s" % (
                        names[tp], tp[1], ev["m"][:8], src, ev["c"], m[:8],
                        other[0], other[1], t)))
    return viols, {"ownership_changes": changes, "owning_events": owning}


def check_cluster(ops, sims, final_parts=None):
    """Every check above (final_parts: the history's final.partitions).
    Returns (violations, stats dict)."""
    viols, stats = [], {}
    v, s = check_topics(ops)
    viols += v
    stats["topics"] = s
    if sims:
        logs = sims.get("logs") or {}
        v, s = check_brokers(logs, sims.get("tick_s", 0.1), final_parts)
        viols += v
        stats["brokers"] = s
        if s["views"] == 0 and any(k.startswith("broker-") for k in logs):
            viols.append(Violation(
                "no-input", "brokers", "the run had brokers but no broker "
                "applied a view: the broker checks had nothing to read"))
        v, s = check_groups(logs, sims.get("kills") or [])
        viols += v
        stats["groups"] = s
        if s["owning_events"] == 0 and \
                any(k.startswith("consumers-") for k in logs):
            viols.append(Violation(
                "no-input", "groups", "the run had consumers but none "
                "reported owning a partition: the group check had nothing "
                "to read"))
    return viols, stats
