#!/usr/bin/env python3
"""Independent checker for Synod chaos histories (tests/chaos/run).

Usage: tests/chaos/checker.py HISTORY.json [--quiet]

It knows nothing about Synod's code. It reads a history of register
operations (invoke, then ok / fail / info, with monotonic timestamps) and
checks:

1. Linearizability of every register (one register per key), with the
   Wing & Gong / Lowe search used by Porcupine: depth-first over the
   operations that may take effect next, memoized over (set of operations
   already linearized, register value). A write whose outcome is unknown
   (info) may take effect at any point after its invoke, or never. An
   unset (the key deleted) that answered "deleted" needs a value there
   and leaves nothing; one that answered "nothing there" is a read of
   nothing; one of unknown outcome may delete what is there, or not. An
   info write nobody read may still be what an unset deleted (search()
   says how these optional ops are searched).
2. Values: a read may only return a value some write wrote (or nothing,
   the register's initial state); never the value of a write that
   definitely failed.
3. Durability at the end: the final reads after the last heal agree, and
   every acknowledged write is visible or superseded by a later write or
   unset; a value an acknowledged unset deleted after its write
   completed never comes back.
4. Replica agreement: nodes at the same metadata version report the same
   state digest, and every node of the converged snapshot reports one;
   the cluster recovered after the last heal, brokers and partitions too
   (final.workloads: every broker unfenced, no partition offline).
5. Bounded recovery: after every heal a write is acknowledged within
   meta.recovery_bound_s (default RECOVERY_BOUND_S) when the heal left
   that long before the next fault ("recoveries").
6. The cluster workloads (check_cluster.py): topic create/delete
   linearizability with the final listing, one leader per partition and
   leader epoch, epochs never going backwards in a broker's view, no
   fenced broker leading, no broker fenced while its session was still
   running by its own count, no partition owned by two members of a group
   at once.
7. Read-only queries (f "query": over a copy of a node's store, the
   active controller's or any other's, stale allowed): every register
   value an answered query returns was written by a write invoked before
   the query returned, and not by one that definitely failed (nothing out
   of thin air, from the future, or from a refused write).

It prints each violation with the operations involved, and ends with the
line `N violations`. Exit status: 0 when N == 0, 1 otherwise, 2 on a bad
input file.

History format (JSON object):
  "events": [ {"index", "type": "invoke"|"ok"|"fail"|"info", "process",
               "f": "read"|"write"|"unset"|"create"|"delete"|"exists"|
                    "query",
               "key",
               "value", "time", "error"?, "node"?}, ... ]
    A write's invoke carries the value written; a read's ok carries the
    value read (null: nothing stored, the initial state); an unset's ok
    carries true when it deleted a value, false when there was none
    (a definite answer; its other failures have no effect). create, delete
    and exists are topic operations (check_cluster.py; an exists ok
    carries true or false). A query's ok carries {register: value} of
    the registers its answer held (one absent: nothing stored there).
    Each process has
    at most one operation outstanding: its next completion event
    completes it. An invoke without a completion is treated as info.
  "meta": optional {"recovery_bound_s": number, ...}
  "final": optional {"digests": [[{"id", "metadata_version",
               "state_digest", "reachable"}, ...]], "recovered": bool,
               "recovery_deadline_s": number, "converged": bool,
               "workloads": {"healthy", "after_heal_s", "last",
               "deadline_s"?, "not_running"?}}
  "recoveries": optional [{"after_fault", "heal", "recovery_s" (null: not
               recovered), "window_s"?, "not_measured"?}, ...]
"""
import gzip
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_cluster  # noqa: E402

INF = math.inf


class _Any:
    """Register state 'unknown' (used after a violation to go on)."""

    def __repr__(self):
        return "ANY"


ANY = _Any()


class _Unread:
    """Register value: one written by a write of unknown outcome that no
    read saw (all such writes share it: nothing tells them apart)."""

    def __repr__(self):
        return "an unread value"


UNREAD = _Unread()


class Op:
    __slots__ = ("id", "process", "f", "key", "value", "call", "ret",
                 "status", "error", "node", "inv_index", "ret_index",
                 "orig_ret")

    def __init__(self, **kw):
        for s in self.__slots__:
            setattr(self, s, kw.get(s))

    def describe(self):
        r = self.ret if self.orig_ret is None else self.orig_ret
        ret = "inf" if r == INF else "%.3f" % r
        if self.f == "write":
            what = "write %s" % _fmt(self.value)
        elif self.f == "unset":
            what = "unset" + ("" if self.status != "ok" else (
                " -> deleted" if self.value else " -> nothing there"))
        elif self.f == "query":
            what = "query -> %s" % _fmt(self.value)
        else:
            what = "read -> %s" % _fmt(self.value)
        extra = ""
        if self.error:
            extra = " (%s)" % self.error
        if self.node is not None:
            extra += " node %s" % self.node
        return "op %d [%s] %s %s %s  [%.3f, %s]%s" % (
            self.id, self.process, self.key, what, self.status, self.call,
            ret, extra)


def _fmt(v):
    return "nothing" if v is None else (
        repr(v) if not isinstance(v, _Unread) else str(v))


class Violation:
    def __init__(self, kind, key, message, ops=()):
        self.kind = kind
        self.key = key
        self.message = message
        self.ops = list(ops)

    def render(self):
        lines = ["VIOLATION %s%s: %s" % (
            self.kind, "" if self.key is None else " on %s" % self.key,
            self.message)]
        for o in self.ops:
            lines.append("    " + (o.describe() if isinstance(o, Op)
                                   else str(o)))
        return "\n".join(lines)


# ---------------------------------------------------------------- history

def ops_from_events(events):
    """Pair invokes with completions per process. Returns (ops, problems)."""
    pending = {}
    ops = []
    problems = []
    for ev in events:
        p = ev["process"]
        t = ev["type"]
        if t == "invoke":
            if p in pending:
                problems.append("process %s invoked while an operation was "
                                "outstanding (event %s)" % (p, ev.get("index")))
                _close(pending.pop(p), None, ops)
            op = Op(id=len(ops) + len(pending), process=p, f=ev["f"],
                    key=ev["key"],
                    value=ev.get("value") if ev["f"] == "write" else None,
                    call=float(ev["time"]), ret=None, status=None,
                    node=ev.get("node"), inv_index=ev.get("index"))
            pending[p] = op
        elif t in ("ok", "fail", "info"):
            op = pending.pop(p, None)
            if op is None:
                problems.append("completion without invoke for process %s "
                                "(event %s)" % (p, ev.get("index")))
                continue
            op.status = t
            op.ret = float(ev["time"])
            if op.node is None:
                op.node = ev.get("node")
            op.error = ev.get("error")
            op.ret_index = ev.get("index")
            if op.f in ("read", "exists", "query", "unset") and t == "ok":
                op.value = ev.get("value")
            ops.append(op)
        else:
            problems.append("unknown event type %r" % t)
    for op in pending.values():
        _close(op, None, ops)
    ops.sort(key=lambda o: o.call)
    for i, o in enumerate(ops):
        o.id = i
    return ops, problems


def _close(op, t, ops):
    op.status = "info"
    op.ret = INF if t is None else t
    op.error = op.error or "no completion recorded"
    ops.append(op)


# ---------------------------------------------------------------- search

class SearchResult:
    def __init__(self):
        self.ends = set()
        self.states = 0
        self.exhausted = False
        self.best_path = ("S", None)
        self.best_len = -1


def _path_list(path):
    """(start value, [op indexes]) of a path (linked list, start at root)."""
    out = []
    while path[0] != "S":
        out.append(path[0])
        path = path[1]
    out.reverse()
    return path[1], out


def _step(o):
    """What op o does to the register in the search: ("r", v) reads v,
    ("w", v) writes v, ("d", None) needs a value there and deletes it.
    Optional ops may take effect or not: ("o", None) an unset of unknown
    outcome, ("ow", UNREAD) a write of unknown outcome whose value no read
    saw (check_key). An unset answered "nothing there" read nothing."""
    if o.f == "unset":
        if o.status == "ok":
            return ("d", None) if o.value else ("r", None)
        return ("o", None)
    if o.f == "write" and isinstance(o.value, _Unread):
        return ("ow", UNREAD)
    return ("r" if o.f == "read" else "w"), o.value


def _lowest(bits):
    return (bits & -bits).bit_length() - 1


def search(seg, starts, budget):
    """All final states reachable by linearizing every op of seg.

    seg: ops sorted by call, every one required but the optional ones
    (_step), finite ret.
    starts: iterable of (value, co, cw): a register value (ANY allowed)
    and how many optional unsets and unread writes earlier pieces left
    unused (invoked before this piece began: usable at any point of it).
    res.ends holds states of the same form.

    An optional op matters only where its effect is needed: an unset of
    unknown outcome right before a read of nothing (or a NOT_FOUND) when
    the register holds a value, an unread write of unknown outcome right
    before a "deleted" when it holds nothing. Any linearization that
    takes one at another point can move it there, or drop it, and stay
    valid; optional ops of one kind are interchangeable (the same effect,
    no deadline: an unknown outcome may land at any time after its call).
    So the search uses a carried one first, else the earliest invoked one
    of this piece not used yet, when no op still pending returned before
    it was invoked; it never branches on them, and the rest are never
    taken here and constrain nothing. A state with as many optional ops
    left as another at the same point (mandatory ops linearized, value)
    is no better, so the memo keeps per point only the best counts: the
    counts, not which ops, matter (carried first, then earliest first,
    so a piece's ops are used only once no carried one is left).
    """
    n = len(seg)
    calls = [o.call for o in seg]
    rets = [o.ret for o in seg]
    steps = [_step(o) for o in seg]
    is_read = [k == "r" for k, _ in steps]
    is_del = [k == "d" for k, _ in steps]
    vals = [v for _, v in steps]
    opt_unset = sum(1 << i for i, (k, _) in enumerate(steps) if k == "o")
    opt_write = sum(1 << i for i, (k, _) in enumerate(steps) if k == "ow")
    opt = opt_unset | opt_write
    full = (1 << n) - 1
    res = SearchResult()
    visited = {}
    stack = []
    for v, co, cw in starts:
        stack.append((0, v, co, cw, ("S", v), 0))
    while stack:
        mask, value, co, cw, path, depth = stack.pop()
        # Optional ops left: carried ones, or (once none is left) minus
        # this piece's used; more left dominates.
        ao = co - bin(mask & opt_unset).count("1")
        aw = cw - bin(mask & opt_write).count("1")
        key = (mask & ~opt, value)
        fr = visited.get(key)
        if fr is None:
            visited[key] = [(ao, aw)]
        else:
            if any(a >= ao and b >= aw for a, b in fr):
                continue
            fr[:] = [(a, b) for a, b in fr if not (ao >= a and aw >= b)]
            fr.append((ao, aw))
        res.states += 1
        if res.states > budget:
            res.exhausted = True
            return res
        if depth > res.best_len:
            res.best_len = depth
            res.best_path = path
        done = mask | opt
        if done == full:
            res.ends.add((value,
                          co + bin(opt_unset & ~mask).count("1"),
                          cw + bin(opt_write & ~mask).count("1")))
            continue
        # Candidates: not linearized, and no other unlinearized op returned
        # before they were invoked.
        i = _lowest(~done & (done + 1))
        minret = INF
        cands = []
        j = i
        while j < n and calls[j] <= minret:
            if not (done >> j) & 1:
                cands.append(j)
                if rets[j] < minret:
                    minret = rets[j]
            j += 1
        cands = [c for c in cands if calls[c] <= minret]
        # A read consistent with the current value can be linearized at
        # once without losing any linearization (it does not change the
        # state and only relaxes the real-time constraints). From an
        # unknown value a read is no such shortcut: it fixes the value,
        # so every candidate is tried.
        greedy = None
        if value is not ANY:
            for c in cands:
                if is_read[c] and vals[c] == value:
                    greedy = c
                    break
        if greedy is not None:
            stack.append((mask | (1 << greedy), vals[greedy], co, cw,
                          (greedy, path), depth + 1))
            continue
        # This piece's optional op of each kind this step may use.
        u = _lowest(opt_unset & ~mask)
        if u >= 0 and calls[u] > minret:
            u = -1
        w = _lowest(opt_write & ~mask)
        if w >= 0 and calls[w] > minret:
            w = -1
        for c in reversed(cands):
            if is_read[c] and value is not ANY:
                if vals[c] is None and value is not None:
                    # nothing read: an unset of unknown outcome took
                    # effect just before
                    if co > 0:
                        stack.append((mask | (1 << c), None, co - 1, cw,
                                      (c, path), depth + 1))
                    elif u >= 0:
                        stack.append((mask | (1 << u) | (1 << c), None, co,
                                      cw, (c, (u, path)), depth + 2))
                continue  # inconsistent read: cannot go here
            if is_del[c] and value is None:
                # deleted a value: a write of unknown outcome no read saw
                # took effect just before
                if cw > 0:
                    stack.append((mask | (1 << c), None, co, cw - 1,
                                  (c, path), depth + 1))
                elif w >= 0:
                    stack.append((mask | (1 << w) | (1 << c), None, co, cw,
                                  (c, (w, path)), depth + 2))
                continue  # it deleted a value: there was none
            stack.append((mask | (1 << c), vals[c], co, cw, (c, path),
                          depth + 1))
    return res


def _pareto(ends):
    """Per value, keep the (co, cw) not dominated (more is better)."""
    out = set()
    for v, a, b in ends:
        if not any(v2 == v and a2 >= a and b2 >= b and (a2, b2) != (a, b)
                   for v2, a2, b2 in ends):
            out.add((v, a, b))
    return out


def segments(ops):
    """Split ops (sorted by call, finite rets) where no op spans the cut.
    Optional ops do not count: one left unused is carried to the pieces
    after it (search)."""
    seg = []
    horizon = -INF
    for o in ops:
        if seg and o.call > horizon:
            yield seg
            seg = []
        seg.append(o)
        if _step(o)[0] not in ("o", "ow"):
            horizon = max(horizon, o.ret)
    if seg:
        yield seg


# ---------------------------------------------------------------- checks

def check_key(key, ops, budget=2_000_000):
    """ops: every op of one key. Returns (violations, notes)."""
    viol = []
    notes = []
    writes = {}
    failed_writes = {}
    unsets = [o for o in ops if o.f == "unset" and o.status != "fail"]
    for o in ops:
        if o.f != "write":
            continue
        if o.status == "fail":
            failed_writes.setdefault(o.value, o)
            continue
        if o.value in writes:
            notes.append("value %r written twice (ops %d and %d): the "
                         "checker assumes unique values" %
                         (o.value, writes[o.value].id, o.id))
        writes[o.value] = o
    reads = [o for o in ops if o.f == "read" and o.status == "ok"]
    # Where the register was seen empty: reads of nothing, and unsets
    # that found nothing there.
    empty_seen = [o.ret for o in reads if o.value is None] + [
        o.ret for o in unsets if o.status == "ok" and not o.value]
    observed = {}
    good_reads = []
    for r in reads:
        if r.value is None:
            good_reads.append(r)
            continue
        w = writes.get(r.value)
        if w is None:
            fw = failed_writes.get(r.value)
            if fw is not None:
                viol.append(Violation(
                    "read-of-failed-write", key,
                    "read returned %r, written only by a write reported "
                    "as failed (definitely not applied)" % r.value, [r, fw]))
            else:
                viol.append(Violation(
                    "read-of-unwritten-value", key,
                    "read returned %r, which no write wrote" % r.value, [r]))
            continue
        if w.call > r.ret:
            viol.append(Violation(
                "read-from-future", key,
                "read returned %r before the write of it was invoked" %
                r.value, [r, w]))
            continue
        good_reads.append(r)
        observed[r.value] = max(observed.get(r.value, -INF), r.ret)
    # Writes for the search: ok writes; info writes only when observed,
    # then they must take effect before the last read that saw them.
    # An info write nobody read changes nothing a read saw, but it may be
    # the value an unset answered "deleted" deleted: then it is optional
    # (search), of value UNREAD, needed by the last such unset or never.
    deleted_seen = [o.ret for o in unsets if o.status == "ok" and o.value]
    search_ops = list(good_reads)
    dropped_info = 0

    def until(o, t, value):
        """o, of unknown outcome, searched as taking effect by t."""
        c = Op(**{s: getattr(o, s) for s in Op.__slots__})
        c.orig_ret = o.ret
        c.ret = max(t, c.call)
        c.value = value
        search_ops.append(c)

    for v, w in writes.items():
        if w.status == "ok":
            search_ops.append(w)
        elif v in observed:
            until(w, observed[v], v)
        else:
            seen = [t for t in deleted_seen if t >= w.call]
            if seen:
                until(w, max(seen), UNREAD)
            else:
                dropped_info += 1
    # Unsets: answered ones as they are; one of unknown outcome only when
    # the register was seen empty after its call, and then as optional,
    # needed by the last such sight or never (taking effect later
    # constrains what follows more than never taking effect).
    for u in unsets:
        if u.status == "ok":
            search_ops.append(u)
            continue
        seen = [t for t in empty_seen if t >= u.call]
        if seen:
            until(u, max(seen), None)
        else:
            dropped_info += 1
    search_ops.sort(key=lambda o: (o.call, o.ret))
    states = {(None, 0, 0)}
    total_states = 0
    opt_o = opt_w = 0  # optional ops up to the current piece
    for seg in segments(search_ops):
        for o in seg:
            k = _step(o)[0]
            opt_o += k == "o"
            opt_w += k == "ow"
        res = search(seg, states, budget)
        total_states += res.states
        if res.exhausted:
            viol.append(Violation(
                "inconclusive", key,
                "search budget of %d states exhausted on a segment of %d "
                "operations (counted as a violation: not checked)" %
                (budget, len(seg)), seg[:20]))
            states = {(ANY, opt_o, opt_w)}
            continue
        if not res.ends:
            viol.append(_explain(key, seg, {v for v, _, _ in states}, res,
                                 writes))
            # Resume from anything, every optional op so far unused.
            states = {(ANY, opt_o, opt_w)}
            continue
        states = _pareto(res.ends)
    return viol, notes, {"ops": len(ops), "searched": len(search_ops),
                         "info_writes_dropped": dropped_info,
                         "states": total_states}


def _explain(key, seg, starts, res, writes):
    start, done = _path_list(res.best_path)
    done_set = set(done)
    # Replay the longest partial linearization to find the value there.
    vals = list(starts)
    value = start
    for i in done:
        k, v = _step(seg[i])
        if k != "r" or value is ANY:
            value = v
    rest = [o for i, o in enumerate(seg) if i not in done_set
            and _step(o)[0] not in ("o", "ow")]
    # The ops that could come next: the concurrency window at that point.
    minret = min(o.ret for o in rest)
    window = [o for o in rest if o.call <= minret]
    msg = ("not linearizable: at most %d of the %d operations of this "
           "stretch of history (ops %d..%d; possible register values at its "
           "start: %s) can be ordered; then the register holds %s and none "
           "of the operations that may come next fits" %
           (len(done), len(seg), seg[0].id, seg[-1].id,
            ", ".join(_fmt(v) for v in vals), _fmt(value)))
    shown = []
    tail = [seg[i] for i in done[-6:]]
    for o in tail:
        shown.append("linearized: " + o.describe())
    for o in window[:12]:
        shown.append("next?      " + o.describe())
    # A read in the window that no write order explains is the usual
    # culprit: show the write of its value.
    for o in window:
        if o.f == "read" and o.value is not None:
            w = writes.get(o.value)
            if w is not None and w not in window and w not in tail:
                shown.append("its write: " + w.describe())
    return Violation("not-linearizable", key, msg, shown)


def check_digest_points(final):
    """Replicas through the run (final.digest_points, since the sixteenth
    session): every node's state digest after applying one entry is the
    same. Returns (violations, indexes seen on two nodes or more), or
    ([], None) for a history without them."""
    dp = (final or {}).get("digest_points")
    if not dp:
        return [], None
    by_index = {}
    for node, pts in (dp.get("nodes") or {}).items():
        for idx, dg in pts:
            for d in dg.split("|"):
                by_index.setdefault(idx, {}).setdefault(d, []).append(
                    int(node))
    viols, compared = [], 0
    for idx in sorted(by_index):
        ds = by_index[idx]
        if sum(len(v) for v in ds.values()) >= 2:
            compared += 1
        if len(ds) > 1:
            viols.append(Violation(
                "replica-divergence", None,
                "after applying entry %d the nodes report different state "
                "digests: %s" % (idx, ", ".join(
                    "%s on node%s %s" % (d, "s" if len(n) > 1 else "",
                                         ", ".join(map(str, sorted(n))))
                    for d, n in sorted(ds.items())))))
    if compared == 0 and dp.get("polls"):
        viols.append(Violation(
            "no-input", "digest points", "%d polls read no index that two "
            "nodes both reported: replicas were compared at the end only" %
            dp["polls"]))
    return viols, compared


def check_final(ops, final):
    """Final reads after the last heal; replica digests; recovery."""
    viol = []
    finals = [o for o in ops if str(o.process).startswith("final")
              and o.f == "read"]
    by_key = {}
    for o in finals:
        by_key.setdefault(o.key, []).append(o)
    writes_by_key = {}
    unsets_by_key = {}
    for o in ops:
        if o.f == "write":
            writes_by_key.setdefault(o.key, []).append(o)
        elif o.f == "unset":
            unsets_by_key.setdefault(o.key, []).append(o)
    for key, frs in sorted(by_key.items()):
        okr = [o for o in frs if o.status == "ok"]
        if not okr:
            viol.append(Violation("no-final-read", key,
                                  "no final read of this key succeeded",
                                  frs))
            continue
        ws = writes_by_key.get(key, [])
        wmap = {w.value: w for w in ws if w.status != "fail"}
        us = unsets_by_key.get(key, [])
        # Unsets that may have deleted a value: answered "deleted", or
        # of unknown outcome (which may take effect at any time).
        deleting = [u for u in us if u.status == "info" or (
            u.status == "ok" and u.value)]
        values = [o.value for o in okr]
        if len(set(values)) > 1:
            # Only a late info write or unset may explain a change
            # between the final reads.
            later = [v for v in values[1:] if v != values[0]]
            if not all((v in wmap and wmap[v].status == "info") or (
                    v is None and any(u.status == "info" for u in us))
                    for v in later):
                viol.append(Violation(
                    "final-reads-disagree", key,
                    "final reads after the heal returned different "
                    "values", okr))
        v = okr[-1].value
        acked = [w for w in ws if w.status == "ok"]
        if v is None:
            # Nothing: every acknowledged write deleted since. An unset
            # may take effect after a write when it had not returned
            # (info: never returned) before the write was invoked; the
            # last acknowledged write to be invoked decides.
            last = max(acked, key=lambda w: w.call) if acked else None
            if last is not None and not any(
                    u.status == "info" or u.ret >= last.call
                    for u in deleting):
                viol.append(Violation(
                    "lost-write", key,
                    "final value is nothing but %d write(s) were "
                    "acknowledged, and no unset came after the last" %
                    len(acked),
                    [okr[-1]] + sorted(acked, key=lambda w: -w.ret)[:5]))
            continue
        w = wmap.get(v)
        if w is None:
            continue  # reported as a read of an unwritten value
        if w.status != "ok":
            # An unknown outcome may take effect at any time after its
            # call, even after writes invoked once it timed out: the
            # search above judges it.
            continue
        lost = [a for a in acked if a.call > w.ret]
        if lost:
            viol.append(Violation(
                "lost-write", key,
                "final value %r was written by op %d, but %d acknowledged "
                "write(s) invoked after it completed are gone" %
                (v, w.id, len(lost)), [okr[-1], w] + lost[:5]))
        back = [u for u in us if u.status == "ok" and u.value
                and u.call > w.ret]
        if back:
            viol.append(Violation(
                "lost-unset", key,
                "final value %r was written by op %d, but %d unset(s) "
                "invoked after it completed deleted a value and were "
                "acknowledged" % (v, w.id, len(back)),
                [okr[-1], w] + back[:5]))
    if final:
        if final.get("recovered") is False:
            viol.append(Violation(
                "no-recovery", None,
                "no write succeeded within %s s after the final heal" %
                final.get("recovery_deadline_s", "?")))
        for k, snap in enumerate(final.get("digests") or []):
            by_version = {}
            for n in snap:
                if n.get("state_digest") is None:
                    # Only the snapshot that converged has every node
                    # reachable: a node there without a digest hides its
                    # state.
                    if final.get("converged") and k == len(
                            final["digests"]) - 1 and n.get("reachable"):
                        viol.append(Violation(
                            "no-digest", None,
                            "node %s reported no state digest at metadata "
                            "version %s after the heal" % (
                                n.get("id"), n.get("metadata_version"))))
                    continue
                by_version.setdefault(n.get("metadata_version"),
                                      {}).setdefault(n["state_digest"],
                                                     []).append(n["id"])
            for ver, dig in by_version.items():
                if len(dig) > 1:
                    viol.append(Violation(
                        "replica-divergence", None,
                        "nodes at metadata version %s report different "
                        "state digests: %s" % (ver, dig)))
        for cr in final.get("crashes") or []:
            viol.append(Violation(
                "node-crash", None,
                "node %s exited with status %s at %.3f s without being "
                "killed" % (cr.get("node"), cr.get("exit"),
                            cr.get("time", 0))))
        for o in final.get("io_outcomes") or []:
            if o.get("outcome") == "started":
                viol.append(Violation(
                    "unreadable-start", None,
                    "node %s started at %.3f s although its log could not "
                    "be read (fault #%s): it must refuse" %
                    (o.get("node"), o.get("time", 0), o.get("fault"))))
        wl = final.get("workloads")
        if wl and wl.get("healthy") is False:
            viol.append(Violation(
                "workloads-not-recovered", None,
                "%s s after the final reads, brokers or partitions were not "
                "healthy (every broker unfenced, no partition offline): "
                "%s%s" % (wl.get("deadline_s", "?"),
                          json.dumps(wl.get("last")),
                          "; sim processes not running: %s" %
                          ", ".join(wl["not_running"])
                          if wl.get("not_running") else "")))
        if final.get("converged") is False:
            viol.append(Violation(
                "no-convergence", None,
                "replicas did not reach the same metadata version before "
                "the deadline: %s" % final.get("last_versions")))
    return viol


# A heal must be followed by an acknowledged write within this many
# seconds (the harness's --recovery-bound, kept in the history's meta).
RECOVERY_BOUND_S = 10.0


def check_recoveries(recoveries, bound):
    """Every measured heal recovered within bound, and none whose window
    (until the next fault) was at least bound went without recovering.
    Records without a window (older harness) are judged on their time
    only."""
    viol = []
    for r in recoveries or []:
        if r.get("not_measured"):
            continue
        rs, win = r.get("recovery_s"), r.get("window_s")
        if rs is not None and rs > bound:
            viol.append(Violation(
                "slow-recovery", "fault %s" % r.get("after_fault"),
                "the first write acknowledged after the heal at %.3f s came "
                "%.3f s later (bound %.1f s)" % (r.get("heal", 0), rs,
                                                 bound)))
        elif rs is None and win is not None and win >= bound and \
                r.get("after_fault") != "final":  # check_final says it
            viol.append(Violation(
                "no-recovery", "fault %s" % r.get("after_fault"),
                "no write was acknowledged in the %.1f s between the heal at "
                "%.3f s and the next fault (bound %.1f s)" % (
                    win, r.get("heal", 0), bound)))
    return viol


# An election this long after a heal, or later, and before the next
# fault's planned start, is one while the quorum is healthy (a latency
# fault's delayed messages arrive up to LATENCY_TAIL_S after its heal).
ELECTION_GRACE_S = 3.0
LATENCY_TAIL_S = 1.5
# A node the harness restarted by itself (status 3, a stuck snapshot
# save) is a fault of its own: elections this soon after are its.
SELF_RESTART_S = 5.0


def check_elections(hist):
    """No node is elected while the quorum is healthy: from ELECTION_GRACE_S
    after the quorum came up until the first fault, and from as long after
    each heal until the next fault's planned start (the final heal: until
    the final checks ended, or the recovery deadline). An election there
    is a leader lost without a fault: a loop stall or a lost lease (issue
    7). Elections within SELF_RESTART_S of a node's restart after a stuck
    snapshot save are that restart's. No election at all (every run has
    the first) means the logs were not read: no-input. Histories without
    final.elections (older harness) are not judged."""
    final = hist.get("final") or {}
    els = final.get("elections")
    if els is None:
        return []
    if not els:
        return [Violation("no-input", "elections", "no election was read "
                          "from the node logs (every run has the first): "
                          "check 14 had nothing to judge")]
    restarts = [r.get("time", 0.0) for r in final.get("self_restarts", [])]
    applied = hist.get("applied") or []
    kinds = {a.get("n"): a.get("kind") for a in applied}
    windows = []
    up = (hist.get("meta") or {}).get("quorum_up_s")
    if up is not None:
        # A fault acts from its start (a disk fill takes seconds); older
        # harnesses recorded only when it was in place.
        first = applied[0].get("start", applied[0]["time"]) if applied \
            else final.get("elections_end", up)
        windows.append((up + ELECTION_GRACE_S, first,
                        "the quorum came up at %.3f s" % up))
    for r in hist.get("recoveries") or []:
        h, w = r.get("heal"), r.get("window_s")
        if h is None or w is None:
            continue
        n = r.get("after_fault")
        grace = ELECTION_GRACE_S + (LATENCY_TAIL_S if kinds.get(n) ==
                                    "latency" else 0.0)
        end = h + w
        if n == "final":
            end = min(end, final.get("elections_end", end))
        windows.append((h + grace, end, "heal of fault %s at %.3f s" % (
            n, h)))
    def healthy(x, y):
        return next((w for w in windows if w[0] <= x and y < w[1]), None)

    viol = []
    for e in els:
        # Logged across a step of the wall clock: in one of "spans" (the
        # harness's clock samples), judged only if all of them are
        # healthy.
        spans = e.get("spans") or [[e["time"], e["time"]]]
        t, t2 = spans[0][0], spans[-1][1]
        if any(t <= r + SELF_RESTART_S and r <= t2 for r in restarts):
            continue
        found = [healthy(x, y) for x, y in spans]
        if None in found:
            continue
        a, b, what = found[0]
        viol.append(Violation(
            "election-while-healthy", "node %s" % e.get("node"),
            "node %s was elected (term %s) at %s, with no fault "
            "from %.3f s (%s) to %.3f s" % (
                e.get("node"), e.get("term"),
                "%.3f s" % t if t2 == t else
                "%.3f-%.3f s (the wall clock stepped)" % (t, t2),
                a, what, b)))
    return viol


def check_queries(ops):
    """Check 7: each register value of an answered query was written by a
    write invoked before the query returned that did not definitely fail.
    Write values are unique (the harness's process and sequence)."""
    writes = {}
    for o in ops:
        if o.f == "write":
            writes.setdefault((o.key, o.value), []).append(o)
    viols = []
    for q in ops:
        if q.f != "query" or q.status != "ok":
            continue
        if not isinstance(q.value, dict):
            viols.append(Violation("query", None, "an answered query "
                                   "carried no register values", [q]))
            continue
        for key, v in sorted(q.value.items()):
            ws = writes.get((key, v), [])
            if any(w.status != "fail" and w.call <= q.ret for w in ws):
                continue
            if not ws:
                why = "a value no write wrote"
            elif all(w.status == "fail" for w in ws):
                why = "the value of a write that definitely failed"
            else:
                why = "the value of a write invoked after the query returned"
            viols.append(Violation("query", key, "a query read %s" % why,
                                   [q] + ws))
    return viols


def check_history(hist, out=sys.stdout, quiet=False):
    """Check a history dict. Prints the report; returns the violation list."""
    ops, problems = ops_from_events(hist["events"])
    for p in problems:
        print("warning: history: %s" % p, file=out)
    viols = []
    reg_ops = [o for o in ops if o.f in ("read", "write", "unset")]
    keys = sorted({o.key for o in reg_ops})
    for key in keys:
        kops = [o for o in reg_ops if o.key == key]
        v, notes, stats = check_key(key, kops)
        for nte in notes:
            print("note: %s: %s" % (key, nte), file=out)
        if not quiet:
            print("checked %s: %d ops, %d in the search, %d unobserved "
                  "info writes dropped, %d states, %d violations" %
                  (key, stats["ops"], stats["searched"],
                   stats["info_writes_dropped"], stats["states"], len(v)),
                  file=out)
        viols.extend(v)
    viols.extend(check_final(reg_ops, hist.get("final")))
    dv, compared = check_digest_points(hist.get("final"))
    viols.extend(dv)
    if compared is not None and not quiet:
        print("checked digest points: %d applied indexes reported by two "
              "nodes or more, %d violations" % (compared, len(dv)),
              file=out)
    viols.extend(check_queries(ops))
    viols.extend(check_elections(hist))
    viols.extend(check_recoveries(
        hist.get("recoveries"),
        (hist.get("meta") or {}).get("recovery_bound_s", RECOVERY_BOUND_S)))
    cv, cstats = check_cluster.check_cluster(
        ops, hist.get("sims"), (hist.get("final") or {}).get("partitions"))
    fv, judged = check_cluster.check_fences_in_time(hist)
    cv += fv
    if "brokers" in cstats:
        cstats["brokers"]["fences_in_time_judged"] = judged
    if not quiet and (cstats["topics"]["ops"] or "brokers" in cstats):
        print("checked cluster workloads: %s" % json.dumps(cstats,
                                                           sort_keys=True),
              file=out)
    viols.extend(cv)
    for v in viols:
        print(v.render(), file=out)
    return viols


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    quiet = "--quiet" in argv
    if len(args) != 1 or "--help" in argv:
        print("usage: checker.py HISTORY.json[.gz] [--quiet]",
              file=sys.stderr)
        return 2
    try:
        opener = gzip.open if args[0].endswith(".gz") else open
        with opener(args[0], "rt") as f:
            hist = json.load(f)
    except (OSError, ValueError) as e:
        print("checker: cannot read %s: %s" % (args[0], e), file=sys.stderr)
        return 2
    viols = check_history(hist, quiet=quiet)
    print("%d violations" % len(viols))
    return 0 if not viols else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
