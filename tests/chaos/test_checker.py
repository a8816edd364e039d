"""Unit tests for tests/chaos/checker.py (python3 -m unittest).

Run from tests/chaos/ or the repository root:
    python3 -m unittest discover -s tests/chaos -p 'test_*.py'
"""
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checker  # noqa: E402


def hist(*ops, final=None):
    """ops: (process, f, key, value, call, ret, status).

    For writes, value is the value written; for reads the value returned
    (None: nothing stored); for an unset's ok, True (deleted a value) or
    False (nothing was there). ret None means no completion was recorded.
    """
    timeline = []
    for n, (p, f, key, value, call, ret, status) in enumerate(ops):
        inv = {"type": "invoke", "process": p, "f": f, "key": key,
               "time": call}
        if f == "write":
            inv["value"] = value
        timeline.append((call, 0, n, inv))
        if ret is not None:
            done = {"type": status, "process": p, "f": f, "key": key,
                    "time": ret}
            if f in ("read", "query", "unset") and status == "ok":
                done["value"] = value
            if f == "write":
                done["value"] = value
            timeline.append((ret, 1, n, done))
    timeline.sort(key=lambda x: (x[0], x[1], x[2]))
    events = []
    for i, (_, _, _, e) in enumerate(timeline):
        e["index"] = i
        events.append(e)
    h = {"events": events}
    if final is not None:
        h["final"] = final
    return h


def run(h):
    out = io.StringIO()
    v = checker.check_history(h, out=out)
    return v, out.getvalue()


def kinds(v):
    return sorted(x.kind for x in v)


class Linearizable(unittest.TestCase):
    def test_empty(self):
        v, _ = run(hist())
        self.assertEqual(v, [])

    def test_sequential(self):
        v, _ = run(hist(
            ("a", "read", "k", None, 0, 1, "ok"),
            ("a", "write", "k", "1", 2, 3, "ok"),
            ("b", "read", "k", "1", 4, 5, "ok"),
            ("a", "write", "k", "2", 6, 7, "ok"),
            ("b", "read", "k", "2", 8, 9, "ok")))
        self.assertEqual(v, [])

    def test_concurrent_reads_see_either(self):
        # Write 2 is concurrent with both reads: one sees 1, the other 2,
        # in an order consistent with real time.
        v, _ = run(hist(
            ("a", "write", "k", "1", 0, 1, "ok"),
            ("a", "write", "k", "2", 2, 10, "ok"),
            ("b", "read", "k", "1", 3, 4, "ok"),
            ("c", "read", "k", "2", 5, 6, "ok"),
            ("b", "read", "k", "2", 7, 8, "ok")))
        self.assertEqual(v, [])

    def test_concurrent_writes_any_order(self):
        v, _ = run(hist(
            ("a", "write", "k", "1", 0, 10, "ok"),
            ("b", "write", "k", "2", 1, 9, "ok"),
            ("c", "read", "k", "1", 11, 12, "ok")))
        self.assertEqual(v, [])

    def test_keys_are_independent(self):
        v, _ = run(hist(
            ("a", "write", "k1", "1", 0, 1, "ok"),
            ("a", "write", "k2", "2", 2, 3, "ok"),
            ("b", "read", "k1", "1", 4, 5, "ok"),
            ("b", "read", "k2", "2", 6, 7, "ok")))
        self.assertEqual(v, [])

    def test_info_write_applied(self):
        # Timed out, yet applied later: a read long after sees it.
        v, _ = run(hist(
            ("a", "write", "k", "1", 0, 1, "ok"),
            ("a", "write", "k", "2", 2, 3, "info"),
            ("b", "read", "k", "1", 4, 5, "ok"),
            ("b", "read", "k", "2", 20, 21, "ok")))
        self.assertEqual(v, [])

    def test_info_write_not_applied(self):
        v, _ = run(hist(
            ("a", "write", "k", "1", 0, 1, "ok"),
            ("a", "write", "k", "2", 2, 3, "info"),
            ("b", "read", "k", "1", 4, 5, "ok"),
            ("b", "read", "k", "1", 20, 21, "ok")))
        self.assertEqual(v, [])

    def test_info_write_without_completion(self):
        v, _ = run(hist(
            ("a", "write", "k", "1", 0, None, "info"),
            ("b", "read", "k", "1", 5, 6, "ok")))
        self.assertEqual(v, [])

    def test_failed_write_ignored(self):
        v, _ = run(hist(
            ("a", "write", "k", "1", 0, 1, "ok"),
            ("a", "write", "k", "2", 2, 3, "fail"),
            ("b", "read", "k", "1", 4, 5, "ok")))
        self.assertEqual(v, [])

    def test_failed_and_info_reads_ignored(self):
        v, _ = run(hist(
            ("a", "write", "k", "1", 0, 1, "ok"),
            ("b", "read", "k", None, 2, 3, "fail"),
            ("b", "read", "k", None, 4, 5, "info"),
            ("b", "read", "k", "1", 6, 7, "ok")))
        self.assertEqual(v, [])

    def test_final_reads_ok(self):
        v, _ = run(hist(
            ("a", "write", "k", "1", 0, 1, "ok"),
            ("a", "write", "k", "2", 2, 3, "ok"),
            ("final-n1", "read", "k", "2", 10, 11, "ok"),
            ("final-n2", "read", "k", "2", 12, 13, "ok"),
            final={"recovered": True, "converged": True,
                   "digests": [[{"id": 1, "metadata_version": 9,
                                 "state_digest": "ab"},
                                {"id": 2, "metadata_version": 9,
                                 "state_digest": "ab"}]]}))
        self.assertEqual(v, [])

    def test_many_concurrent_ops(self):
        # 5 clients, overlapping intervals, a consistent order exists.
        ops = []
        t = 0.0
        val = 0
        for rnd in range(200):
            for c in range(5):
                val += 1
                ops.append(("p%d" % c, "write", "k", str(val), t + c * 0.1,
                            t + 0.45 + c * 0.1, "ok"))
            # Read after the round's last write completed.
            ops.append(("r", "read", "k", str(val), t + 1.0, t + 1.1, "ok"))
            t += 2.0
        v, _ = run(hist(*ops))
        self.assertEqual(v, [])


class Unsets(unittest.TestCase):
    """Register deletes (f "unset"): "deleted" needs a value there, "nothing
    there" is a read of nothing, an unknown outcome may do either. The
    invariant: a delete's answer says what the register held when it took
    effect, exactly once (a resend of one that found nothing must not be
    answered "deleted": reliability.md 5.33)."""

    def test_sequential(self):
        v, _ = run(hist(
            ("a", "write", "k", "1", 0, 1, "ok"),
            ("a", "unset", "k", True, 2, 3, "ok"),
            ("b", "read", "k", None, 4, 5, "ok"),
            ("a", "unset", "k", False, 6, 7, "ok"),
            ("a", "write", "k", "2", 8, 9, "ok"),
            ("final-1", "read", "k", "2", 10, 11, "ok")))
        self.assertEqual(v, [])

    def test_deleted_twice(self):
        # The second unset found nothing there, yet was answered
        # "deleted": what a resend answered from a kept "seen" does.
        ops = [("a", "write", "k", "1", 0, 1, "ok"),
               ("a", "unset", "k", True, 2, 3, "ok"),
               ("b", "unset", "k", True, 4, 5, "ok")]
        v, out = run(hist(*ops))
        self.assertEqual(kinds(v), ["not-linearizable"])
        self.assertIn("unset -> deleted", out)
        # Answered "nothing there": linearizable.
        ops[2] = ("b", "unset", "k", False, 4, 5, "ok")
        v, _ = run(hist(*ops))
        self.assertEqual(v, [])
        # Concurrent with a write, "deleted" fits again.
        ops[2] = ("b", "unset", "k", True, 4, 7, "ok")
        ops.append(("c", "write", "k", "2", 5, 6, "ok"))
        v, _ = run(hist(*ops))
        self.assertEqual(v, [])

    def test_nothing_there_after_write(self):
        v, _ = run(hist(
            ("a", "write", "k", "1", 0, 1, "ok"),
            ("b", "unset", "k", False, 2, 3, "ok")))
        self.assertEqual(kinds(v), ["not-linearizable"])

    def test_failed_unset_has_no_effect(self):
        v, _ = run(hist(
            ("a", "write", "k", "1", 0, 1, "ok"),
            ("a", "unset", "k", None, 2, 3, "fail"),
            ("b", "read", "k", None, 4, 5, "ok")))
        self.assertEqual(kinds(v), ["not-linearizable"])

    def test_info_unset_applied(self):
        ops = [("a", "write", "k", "1", 0, 1, "ok"),
               ("a", "unset", "k", None, 2, 3, "info"),
               ("b", "read", "k", None, 10, 11, "ok")]
        v, _ = run(hist(*ops))
        self.assertEqual(v, [])
        # Without the unset, the read of nothing has no explanation.
        v, _ = run(hist(ops[0], ops[2]))
        self.assertEqual(kinds(v), ["not-linearizable"])
        # Never completed at all: the same.
        v, _ = run(hist(ops[0], ("a", "unset", "k", None, 2, None, "info"),
                        ops[2]))
        self.assertEqual(v, [])

    def test_info_unset_explains_only_later_reads(self):
        # The unset was invoked after the first read of nothing returned.
        # (The read of 1 spanning it all keeps them in one piece.)
        v, _ = run(hist(
            ("a", "write", "k", "1", 0, 1, "ok"),
            ("r", "read", "k", "1", 1.5, 10, "ok"),
            ("b", "read", "k", None, 2, 3, "ok"),
            ("a", "unset", "k", None, 4, 5, "info"),
            ("b", "read", "k", None, 6, 7, "ok")))
        self.assertEqual(kinds(v), ["not-linearizable"])

    def test_info_unset_seen_by_a_straddling_read(self):
        # The read of nothing began before the unset was invoked.
        v, _ = run(hist(
            ("a", "write", "k", "1", 0, 1, "ok"),
            ("a", "unset", "k", None, 2, 2.5, "info"),
            ("b", "read", "k", None, 1.5, 3, "ok")))
        self.assertEqual(v, [])

    def test_info_unset_that_did_nothing(self):
        # The only read of nothing after the unset's call is explained
        # without it (linearized before the write); had the unset taken
        # effect by then, the read of 1 at 11 could not be.
        v, _ = run(hist(
            ("b", "read", "k", None, 0, 10, "ok"),
            ("c", "write", "k", "1", 2, 3, "ok"),
            ("a", "unset", "k", None, 5, 6, "info"),
            ("b", "read", "k", "1", 11, 12, "ok")))
        self.assertEqual(v, [])

    def test_unread_info_write_deleted(self):
        # A write that timed out was applied, and an unset deleted it
        # before anyone read it.
        v, _ = run(hist(("a", "write", "k", "1", 0, 1, "info"),
                        ("b", "unset", "k", True, 2, 3, "ok")))
        self.assertEqual(v, [])
        v, _ = run(hist(("a", "write", "k", "1", 0, None, "info"),
                        ("b", "unset", "k", True, 2, 3, "ok")))
        self.assertEqual(v, [])
        v, _ = run(hist(
            ("a", "write", "k", "1", 0, 1, "ok"),
            ("b", "read", "k", "1", 1.5, 2, "ok"),
            ("a", "unset", "k", True, 2, 3, "ok"),
            ("c", "write", "k", "7", 4, 7, "info"),
            ("b", "unset", "k", True, 8, 9, "ok"),
            ("d", "read", "k", None, 10, 11, "ok"),
            ("final-1", "read", "k", None, 20, 21, "ok")))
        self.assertEqual(v, [])
        # One lost write explains one "deleted", not two.
        v, _ = run(hist(("a", "write", "k", "1", 0, 1, "info"),
                        ("b", "unset", "k", True, 2, 3, "ok"),
                        ("b", "unset", "k", True, 4, 5, "ok")))
        self.assertEqual(kinds(v), ["not-linearizable"])
        # Nor one invoked after the "deleted" returned (the read of
        # nothing spanning it all keeps them in one piece of history).
        v, _ = run(hist(("r", "read", "k", None, 0, 10, "ok"),
                        ("b", "unset", "k", True, 2, 3, "ok"),
                        ("a", "write", "k", "1", 4, 5, "info"),
                        ("c", "write", "k", "2", 5.5, 8, "ok"),
                        ("b", "unset", "k", True, 6, 9, "ok")))
        self.assertEqual(kinds(v), ["not-linearizable"])

    def test_info_unsets_do_not_multiply_states(self):
        # Unsets and writes of unknown outcome stay open to the end (an
        # empty register is seen at the end): the search uses them where
        # needed and never branches on them, so the states grow with the
        # operations, not with 2^(open ops).
        ops = [("u%d" % i, "unset", "k", None, 0.1 * i, 0.1 * i + 0.05,
                "info") for i in range(12)]
        ops += [("x%d" % i, "write", "k", "x%d" % i, 0.1 * i, 0.1 * i + 0.05,
                 "info") for i in range(12)]
        t = 2.0
        for i in range(200):
            ops.append(("a", "write", "k", str(i), t, t + 0.5, "ok"))
            ops.append(("b", "read", "k", str(i), t + 0.6, t + 0.7, "ok"))
            t += 1.0
        ops.append(("b", "unset", "k", True, t, t + 0.5, "ok"))
        ops.append(("c", "unset", "k", True, t + 1, t + 1.5, "ok"))
        ops.append(("final-1", "read", "k", None, t + 2, t + 3, "ok"))
        parsed, _ = checker.ops_from_events(hist(*ops)["events"])
        v, _, stats = checker.check_key("k", parsed, budget=20_000)
        self.assertEqual(v, [])
        self.assertLess(stats["states"], 2_000)

    def test_carried_to_later_pieces(self):
        # Unknown outcomes invoked early, needed only after cuts in the
        # history (each round below is a piece of its own); and needs
        # in one round use up what is left for the next ones.
        ops = [("u0", "unset", "k", None, 0, 0.5, "info"),
               ("x0", "write", "k", "lost0", 0, 0.5, "info")]
        t = 1.0
        for i in range(30):
            ops += [("a", "write", "k", "x%d" % i, t, t + 0.1, "ok"),
                    ("b", "read", "k", "x%d" % i, t + 0.2, t + 0.3, "ok")]
            t += 1
        needs = [("b", "read", "k", None, t, t + 0.1, "ok"),
                 ("c", "unset", "k", True, t + 1, t + 1.1, "ok")]
        v, _ = run(hist(*(ops + needs)))
        self.assertEqual(v, [])
        # Twice is once too many, for either kind.
        late = ("b", "write", "k", "late", t + 2, t + 2.1, "ok")
        for more in ([("b", "read", "k", None, t + 3, t + 3.1, "ok")],
                     [("c", "unset", "k", True, t + 3, t + 3.1, "ok"),
                      ("c", "unset", "k", True, t + 4, t + 4.1, "ok")]):
            v, _ = run(hist(*(ops + needs + [late] + more)))
            self.assertEqual(kinds(v), ["not-linearizable"], more)

    def test_equal_times_overlap(self):
        # An op invoked at the very time another returned may come
        # before it.
        for ops in ([("b", "unset", "k", True, 1, 2, "ok"),
                     ("a", "write", "k", "1", 2, 3, "info")],
                    [("a", "write", "k", "1", 0, 1, "ok"),
                     ("b", "read", "k", None, 1.5, 2, "ok"),
                     ("c", "unset", "k", None, 2, 3, "info")],
                    [("a", "write", "k", "1", 0, 1, "ok"),
                     ("b", "unset", "k", True, 0.5, 2, "ok"),
                     ("a", "write", "k", "2", 2, 3, "ok"),
                     ("final-1", "read", "k", None, 10, 11, "ok")]):
            v, _ = run(hist(*ops))
            self.assertEqual(v, [], ops)

    def test_needs_of_differing_counts(self):
        # Concurrent rounds that may use one optional op or none,
        # depending on the order chosen, with 20 of each kind open, in
        # one piece of history: the memo keeps the best count per point,
        # so the states stay linear (a review measured over 2,000,000
        # with counts kept apart).
        ops = [("u%d" % i, "unset", "k", None, 0.01 * i, 0.01 * i + 0.005,
                "info") for i in range(20)]
        ops += [("x%d" % i, "write", "k", "lost%d" % i, 0.01 * i,
                 0.01 * i + 0.005, "info") for i in range(20)]
        t = 1.0
        for i in range(300):
            ops += [("a", "write", "k", "x%d" % i, t, t + .1, "ok"),
                    ("b", "read", "k", "x%d" % i, t + .2, t + .3, "ok"),
                    ("a", "write", "k", "y%d" % i, t + 1, t + 2, "ok"),
                    ("b", "read", "k", None, t + 1, t + 2, "ok"),
                    ("c", "unset", "k", True, t + 1, t + 2, "ok"),
                    ("a", "write", "k", "z%d" % i, t + 3, t + 3.1, "ok"),
                    ("c", "unset", "k", True, t + 3.2, t + 3.3, "ok"),
                    ("a", "write", "k", "v%d" % i, t + 4, t + 5, "ok"),
                    ("c", "unset", "k", True, t + 4, t + 5, "ok")]
            t += 6
        ops.append(("final-1", "read", "k", None, t + 1, t + 2, "ok"))
        # A read spanning it all: one piece, no cut to help.
        ops.append(("s", "read", "k", None, 0, t + 3, "ok"))
        parsed, _ = checker.ops_from_events(hist(*ops)["events"])
        v, _, stats = checker.check_key("k", parsed, budget=500_000)
        self.assertEqual(v, [])
        self.assertLess(stats["states"], 250_000)  # 102,894 (3M+ apart)

    def test_final_state(self):
        w = ("a", "write", "k", "1", 0, 1, "ok")
        # Final nothing: an unset after the last acknowledged write.
        v, _ = run(hist(w, ("a", "unset", "k", True, 2, 3, "ok"),
                        ("final-1", "read", "k", None, 10, 11, "ok")))
        self.assertEqual(v, [])
        # An acknowledged unset that returned before the write was
        # invoked cannot explain it.
        v, _ = run(hist(("b", "write", "k", "0", 0, 1, "ok"),
                        ("a", "unset", "k", True, 2, 3, "ok"),
                        ("c", "write", "k", "1", 4, 5, "ok"),
                        ("final-1", "read", "k", None, 10, 11, "ok")))
        self.assertIn("lost-write", kinds(v))
        # A value an acknowledged unset deleted after its write came back.
        v, _ = run(hist(w, ("a", "unset", "k", True, 2, 3, "ok"),
                        ("final-1", "read", "k", "1", 10, 11, "ok")))
        self.assertEqual(kinds(v), ["lost-unset", "not-linearizable"])
        # Final reads that differ: a late unset of unknown outcome.
        ops = [w, ("a", "unset", "k", None, 2, 3, "info"),
               ("final-1", "read", "k", "1", 10, 11, "ok"),
               ("final-2", "read", "k", None, 12, 13, "ok")]
        v, _ = run(hist(*ops))
        self.assertEqual(v, [])
        ops[1] = ("a", "unset", "k", None, 2, 3, "fail")
        v, _ = run(hist(*ops))
        self.assertIn("final-reads-disagree", kinds(v))


class Queries(unittest.TestCase):
    """Check 7: a query reads committed register values, stale allowed."""

    def test_stale_and_current_values_pass(self):
        v, _ = run(hist(
            ("a", "write", "k", "1", 0, 1, "ok"),
            ("a", "write", "k", "2", 2, 3, "ok"),
            ("b", "write", "j", "7", 0, 9, "info"),  # still in flight
            ("q", "query", "*", {"k": "1"}, 4, 5, "ok"),  # stale: fine
            ("q", "query", "*", {"k": "2", "j": "7"}, 6, 7, "ok"),
            ("q", "query", "*", {}, 8, 9, "ok"),  # nothing: stale too
            ("q", "query", "*", None, 10, 11, "fail")))
        self.assertEqual(v, [])

    def test_value_never_written(self):
        v, out = run(hist(
            ("a", "write", "k", "1", 0, 1, "ok"),
            ("q", "query", "*", {"k": "5"}, 2, 3, "ok")))
        self.assertEqual(kinds(v), ["query"])
        self.assertIn("no write wrote", out)

    def test_value_of_failed_write(self):
        v, out = run(hist(
            ("a", "write", "k", "1", 0, 1, "fail"),
            ("q", "query", "*", {"k": "1"}, 2, 3, "ok")))
        self.assertEqual(kinds(v), ["query"])
        self.assertIn("definitely failed", out)

    def test_value_from_the_future(self):
        v, out = run(hist(
            ("q", "query", "*", {"k": "1"}, 0, 1, "ok"),
            ("a", "write", "k", "1", 2, 3, "ok")))
        self.assertEqual(kinds(v), ["query"])
        self.assertIn("after the query returned", out)

    def test_unfinished_and_concurrent_writes_may_be_read(self):
        v, _ = run(hist(
            ("a", "write", "k", "1", 0, None, None),  # never completed
            ("b", "write", "j", "2", 1, 9, "ok"),  # concurrent
            ("q", "query", "*", {"k": "1", "j": "2"}, 2, 3, "ok")))
        self.assertEqual(v, [])

    def test_answer_without_values(self):
        v, _ = run(hist(("q", "query", "*", None, 0, 1, "ok")))
        self.assertEqual(kinds(v), ["query"])


class NotLinearizable(unittest.TestCase):
    def test_stale_read(self):
        v, out = run(hist(
            ("a", "write", "k", "1", 0, 1, "ok"),
            ("a", "write", "k", "2", 2, 3, "ok"),
            ("b", "read", "k", "1", 4, 5, "ok")))
        self.assertEqual(kinds(v), ["not-linearizable"])
        self.assertIn("read -> '1'", out)

    def test_stale_read_after_newer_read(self):
        # Write 2 concurrent with both reads, but read 2 then read 1 in
        # real-time order is impossible.
        v, _ = run(hist(
            ("a", "write", "k", "1", 0, 1, "ok"),
            ("a", "write", "k", "2", 2, 10, "ok"),
            ("b", "read", "k", "2", 3, 4, "ok"),
            ("c", "read", "k", "1", 5, 6, "ok")))
        self.assertEqual(kinds(v), ["not-linearizable"])

    def test_read_of_initial_after_write(self):
        v, _ = run(hist(
            ("a", "write", "k", "1", 0, 1, "ok"),
            ("b", "read", "k", None, 2, 3, "ok")))
        self.assertEqual(kinds(v), ["not-linearizable"])

    def test_lost_write(self):
        v, out = run(hist(
            ("a", "write", "k", "1", 0, 1, "ok"),
            ("a", "write", "k", "2", 2, 3, "ok"),
            ("final-n1", "read", "k", "1", 10, 11, "ok"),
            ("final-n2", "read", "k", "1", 12, 13, "ok")))
        self.assertIn("lost-write", kinds(v))
        self.assertIn("not-linearizable", kinds(v))
        self.assertIn("write '2'", out)

    def test_lost_write_to_nothing(self):
        v, _ = run(hist(
            ("a", "write", "k", "1", 0, 1, "ok"),
            ("final-n1", "read", "k", None, 10, 11, "ok")))
        self.assertIn("lost-write", kinds(v))

    def test_read_of_never_written_value(self):
        v, out = run(hist(
            ("a", "write", "k", "1", 0, 1, "ok"),
            ("b", "read", "k", "99", 2, 3, "ok")))
        self.assertEqual(kinds(v), ["read-of-unwritten-value"])
        self.assertIn("'99'", out)

    def test_read_of_failed_write(self):
        v, _ = run(hist(
            ("a", "write", "k", "1", 0, 1, "fail"),
            ("b", "read", "k", "1", 2, 3, "ok")))
        self.assertEqual(kinds(v), ["read-of-failed-write"])

    def test_read_from_future(self):
        v, _ = run(hist(
            ("b", "read", "k", "1", 0, 1, "ok"),
            ("a", "write", "k", "1", 2, 3, "ok")))
        self.assertEqual(kinds(v), ["read-from-future"])

    def test_info_write_flickers(self):
        # An unknown write may be applied, but only once: 1, 2, 1 again
        # after write 1 was already overwritten is impossible.
        v, _ = run(hist(
            ("a", "write", "k", "1", 0, 1, "info"),
            ("b", "read", "k", "1", 2, 3, "ok"),
            ("c", "write", "k", "2", 4, 5, "ok"),
            ("b", "read", "k", "2", 6, 7, "ok"),
            ("b", "read", "k", "1", 8, 9, "ok")))
        self.assertEqual(kinds(v), ["not-linearizable"])

    def test_info_write_seen_then_lost(self):
        # Unknown write observed, then the register goes back to nothing.
        v, _ = run(hist(
            ("a", "write", "k", "1", 0, 1, "info"),
            ("b", "read", "k", "1", 2, 3, "ok"),
            ("b", "read", "k", None, 4, 5, "ok")))
        self.assertEqual(kinds(v), ["not-linearizable"])

    def test_duplicate_delivery_overwrites(self):
        # A write acknowledged, overwritten by another acknowledged write,
        # then its value comes back (a late duplicate applied again).
        v, _ = run(hist(
            ("a", "write", "k", "1", 0, 1, "ok"),
            ("b", "write", "k", "2", 2, 3, "ok"),
            ("c", "read", "k", "2", 4, 5, "ok"),
            ("c", "read", "k", "1", 6, 7, "ok")))
        self.assertEqual(kinds(v), ["not-linearizable"])

    def test_violations_counted_per_stretch(self):
        # Two separate stale reads in two quiet stretches: two violations.
        v, _ = run(hist(
            ("a", "write", "k", "1", 0, 1, "ok"),
            ("a", "write", "k", "2", 2, 3, "ok"),
            ("b", "read", "k", "1", 4, 5, "ok"),
            ("a", "write", "k", "3", 6, 7, "ok"),
            ("a", "write", "k", "4", 8, 9, "ok"),
            ("b", "read", "k", "3", 10, 11, "ok")))
        self.assertEqual(kinds(v), ["not-linearizable", "not-linearizable"])

    def test_no_false_violation_after_a_real_one(self):
        # After the stale read, checking resumes from an unknown value:
        # the concurrent reads of 1 and 5 and the write of 5 are ordered
        # read 1, write 5, read 5. One violation, not two.
        v, _ = run(hist(
            ("a", "write", "k", "1", 0, 1, "ok"),
            ("a", "write", "k", "2", 2, 3, "ok"),
            ("b", "read", "k", "1", 4, 5, "ok"),
            ("c", "read", "k", "5", 10, 14, "ok"),
            ("d", "read", "k", "1", 10, 14, "ok"),
            ("a", "write", "k", "5", 11, 12, "ok")))
        self.assertEqual(kinds(v), ["not-linearizable"])

    def test_final_reads_disagree(self):
        v, _ = run(hist(
            ("a", "write", "k", "1", 0, 1, "ok"),
            ("a", "write", "k", "2", 2, 3, "ok"),
            ("final-n1", "read", "k", "2", 10, 11, "ok"),
            ("final-n2", "read", "k", "1", 12, 13, "ok")))
        self.assertIn("final-reads-disagree", kinds(v))

    def test_digest_divergence_and_no_recovery(self):
        v, _ = run(hist(
            ("a", "write", "k", "1", 0, 1, "ok"),
            final={"recovered": False, "recovery_deadline_s": 30,
                   "digests": [[{"id": 1, "metadata_version": 9,
                                 "state_digest": "ab"},
                                {"id": 2, "metadata_version": 9,
                                 "state_digest": "cd"}]]}))
        self.assertEqual(kinds(v), ["no-recovery", "replica-divergence"])

    def test_info_write_landing_late_is_not_lost(self):
        # A write that timed out may take effect after a later one was
        # acknowledged (its request still in flight): not a lost write.
        v, _ = run(hist(
            ("a", "write", "k", "x", 0, 1, "info"),
            ("b", "write", "k", "y", 2, 3, "ok"),
            ("final-n1", "read", "k", "x", 10, 11, "ok")))
        self.assertEqual(v, [])

    def test_converged_node_without_digest(self):
        def final(reachable):
            return {"recovered": True, "converged": True, "digests": [[
                {"id": 1, "metadata_version": 9, "state_digest": "ab",
                 "reachable": True},
                {"id": 2, "metadata_version": 9, "state_digest": None,
                 "reachable": reachable}]]}
        v, _ = run(hist(("a", "write", "k", "1", 0, 1, "ok"),
                        final=final(True)))
        self.assertEqual(kinds(v), ["no-digest"])
        v, _ = run(hist(("a", "write", "k", "1", 0, 1, "ok"),
                        final=final(False)))
        self.assertEqual(v, [])

    def test_workloads_not_recovered(self):
        def final(healthy):
            return {"recovered": True, "converged": True, "workloads": {
                "healthy": healthy, "after_heal_s": 7.5 if healthy else None,
                "deadline_s": 30, "last": {"offline": 2, "brokers": {
                    "registered": 4, "active": 3, "fenced": 1}}}}
        v, out = run(hist(("a", "write", "k", "1", 0, 1, "ok"),
                          final=final(False)))
        self.assertEqual(kinds(v), ["workloads-not-recovered"])
        self.assertIn('"offline": 2', out)
        v, _ = run(hist(("a", "write", "k", "1", 0, 1, "ok"),
                        final=final(True)))
        self.assertEqual(v, [])

    def test_recovery_bounded(self):
        h = hist(("a", "write", "k", "1", 0, 1, "ok"))
        h["meta"] = {"recovery_bound_s": 10.0}
        h["recoveries"] = [
            {"after_fault": 1, "heal": 5.0, "recovery_s": 0.4,
             "window_s": 6.0},
            {"after_fault": 2, "heal": 15.0, "recovery_s": None,
             "window_s": 4.0},      # too short to judge
            {"after_fault": 3, "heal": 25.0, "recovery_s": None,
             "window_s": 0.5, "not_measured": True},
            {"after_fault": 4, "heal": 35.0, "recovery_s": 10.5,
             "window_s": 20.0},     # too slow
            {"after_fault": 5, "heal": 60.0, "recovery_s": None,
             "window_s": 12.0},     # never, with time enough
            {"after_fault": 6, "heal": 80.0, "recovery_s": None},
            {"after_fault": "final", "heal": 90.0, "recovery_s": None,
             "window_s": 60.0}]     # check_final's no-recovery
        v, out = run(h)
        self.assertEqual(kinds(v), ["no-recovery", "slow-recovery"])
        self.assertIn("no-recovery on fault 5", out)
        h["meta"]["recovery_bound_s"] = 11.0
        v, _ = run(h)
        self.assertEqual(kinds(v), ["no-recovery"])

    def test_elections_while_healthy(self):
        h = hist(("a", "write", "k", "1", 0, 1, "ok"))
        h["meta"] = {"quorum_up_s": 2.0}
        h["applied"] = [{"n": 1, "kind": "kill", "time": 10.0},
                        {"n": 2, "kind": "latency", "time": 20.0},
                        {"n": 3, "kind": "pause", "time": 30.0}]
        h["recoveries"] = [
            {"after_fault": 1, "heal": 14.0, "recovery_s": 0.2,
             "window_s": 5.5},
            {"after_fault": 2, "heal": 24.0, "recovery_s": 0.2,
             "window_s": 5.5},
            {"after_fault": "final", "heal": 40.0, "recovery_s": 0.1,
             "window_s": 60.0}]
        h["final"] = {"elections_end": 50.0,
                      "elections": [{"node": 1, "term": 2, "time": 1.5}]}
        v, _ = run(h)
        self.assertEqual(v, [])
        # Allowed: the first one; one a fault or the grace after a heal
        # explains (a latency fault's a little longer).
        h["final"]["elections"] = [
            {"node": 1, "term": 2, "time": 1.5},
            {"node": 2, "term": 3, "time": 10.6},
            {"node": 3, "term": 4, "time": 16.9},
            {"node": 1, "term": 5, "time": 28.3},
            {"node": 2, "term": 6, "time": 30.7},
            {"node": 3, "term": 7, "time": 55.0}]
        v, _ = run(h)
        self.assertEqual(v, [])
        # Not allowed: with the quorum up and no fault, after a heal's
        # grace, and after the final heal's.
        h["final"]["elections"] += [
            {"node": 1, "term": 8, "time": 5.1},
            {"node": 2, "term": 9, "time": 17.1},
            {"node": 3, "term": 10, "time": 28.6},
            {"node": 1, "term": 11, "time": 44.0}]
        v, out = run(h)
        self.assertEqual(kinds(v), ["election-while-healthy"] * 4)
        self.assertIn("node 2 was elected (term 9) at 17.100 s", out)
        # A node's restart after a stuck save explains the next seconds.
        h["final"]["self_restarts"] = [{"node": 2, "time": 15.0}]
        v, _ = run(h)
        self.assertEqual(kinds(v), ["election-while-healthy"] * 3)
        # No election read at all is no pass.
        h["final"]["elections"] = []
        v, _ = run(h)
        self.assertEqual(kinds(v), ["no-input"])
        # Older histories (no elections recorded) are not judged.
        del h["final"]["elections"]
        v, _ = run(h)
        self.assertEqual(v, [])

    def test_elections_fault_start_and_clock_steps(self):
        h = hist(("a", "write", "k", "1", 0, 1, "ok"))
        h["meta"] = {"quorum_up_s": 1.5}
        # A disk fill that took 1.7 s: the fault acts from its start.
        h["applied"] = [{"n": 1, "kind": "disk-full", "start": 4.0,
                         "time": 5.7}]
        h["recoveries"] = [
            {"after_fault": 1, "heal": 12.0, "recovery_s": 0.1,
             "window_s": 4.0},
            {"after_fault": "final", "heal": 30.0, "recovery_s": 0.1,
             "window_s": 60.0}]
        h["final"] = {"elections_end": 40.0, "elections": [
            {"node": 1, "term": 2, "time": 1.0},
            {"node": 2, "term": 3, "time": 4.6}]}
        v, _ = run(h)
        self.assertEqual(v, [])
        # Without "start" (older harnesses), the end of the fill.
        del h["applied"][0]["start"]
        v, _ = run(h)
        self.assertEqual(kinds(v), ["election-while-healthy"])
        h["applied"][0]["start"] = 4.0
        # Logged across a step of the wall clock: judged only when all
        # of its interval is healthy.
        h["final"]["elections"] += [
            {"node": 3, "term": 4, "time": 14.8, "spans": [[14.8, 15.3]]},
            {"node": 1, "term": 5, "time": 15.2, "spans": [[15.2, 15.7]]}]
        v, out = run(h)
        self.assertEqual(kinds(v), ["election-while-healthy"])
        self.assertIn("node 1 was elected (term 5) at 15.200-15.700 s "
                      "(the wall clock stepped)", out)
        # Its log time read twice (a step back): a violation only if
        # every time it may be is healthy.
        h["final"]["elections"][-1] = {
            "node": 1, "term": 5, "time": 7.0,
            "spans": [[7.0, 7.5], [19.0, 20.0]]}
        v, _ = run(h)
        self.assertEqual(v, [])
        h["final"]["elections"][-1] = {
            "node": 1, "term": 5, "time": 15.2,
            "spans": [[15.2, 15.4], [34.0, 35.0]]}
        v, out = run(h)
        self.assertEqual(kinds(v), ["election-while-healthy"])
        self.assertIn("at 15.200-35.000 s", out)
        self.assertIn("heal of fault 1", out)


def load_harness():
    """tests/chaos/run as a module (its main() only runs as a script)."""
    import importlib.machinery
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "run")
    loader = importlib.machinery.SourceFileLoader("chaos_run", path)
    spec = importlib.util.spec_from_loader("chaos_run", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


class WallClock(unittest.TestCase):
    """The harness places the nodes' wall-clock log times on the
    history's clock through samples taken all along (reliability.md
    5.23: one offset read at the end misplaced elections logged before a
    1.8 s step)."""

    def test_mapping_across_steps(self):
        run_ = load_harness()
        # Wall = history + 1000 until a step of +1.8 s between 10 and
        # 10.5, then a step back of 1 s between 20 and 20.5.
        samples = [(t / 2, 1000 + t / 2) for t in range(0, 21)]
        samples += [(t / 2, 1001.8 + t / 2) for t in range(21, 41)]
        samples += [(t / 2, 1000.8 + t / 2) for t in range(41, 61)]
        self.assertEqual(run_.clock_steps(samples), [
            {"after": 10.0, "before": 10.5, "by": 1.8},
            {"after": 20.0, "before": 20.5, "by": -1.0}])
        def m(w):
            return [(round(a, 3), round(b, 3))
                    for a, b in run_.wall_to_history(samples, w)]
        self.assertEqual(m(1004.25), [(4.25, 4.25)])
        self.assertEqual(m(1016.8), [(15.0, 15.0)])
        self.assertEqual(m(1040.8), [(40.0, 40.0)])
        self.assertEqual(m(1005.0), [(5.0, 5.0)])  # on a sample
        # Around a step: the interval it may be in.
        self.assertEqual(m(1010.2), [(10.0, 10.5)])
        self.assertEqual(m(1011.9), [(10.0, 10.5)])
        # Read twice (the step back): before it, around it, after it.
        self.assertEqual(m(1021.5), [(19.7, 19.7), (20.7, 20.7)])
        self.assertEqual(m(1021.2), [(19.4, 19.4), (20.0, 20.5)])
        # Before the first sample, after the last: their offsets.
        self.assertEqual(m(999.0), [(-1.0, -1.0)])
        self.assertEqual(m(1031.8), [(31.0, 31.0)])
        self.assertEqual(run_.wall_to_history([(0.0, 5.0)], 7.0),
                         [(2.0, 2.0)])
        # Stepped back further than the run is old: times below the
        # first sample's are still found after the step.
        back = [(0.0, 1000.0), (0.5, 1000.5), (1.0, 995.0), (1.5, 995.5),
                (2.0, 996.0)]
        self.assertEqual(run_.wall_to_history(back, 995.75), [(1.75, 1.75)])
        self.assertEqual(run_.wall_to_history(back, 994.75), [(0.5, 1.0)])

    def test_unreadable_start_and_io_outcomes(self):
        # A node that refused or stopped on its IO fault is fine; one that
        # started although its log could not be read is not.
        v, _ = run(hist(
            ("a", "write", "k", "1", 0, 1, "ok"),
            final={"recovered": True, "converged": True, "io_outcomes": [
                {"node": 1, "kind": "read-eio", "fault": 2,
                 "outcome": "refused", "status": 1, "time": 3.0},
                {"node": 2, "kind": "disk-eio", "fault": 3,
                 "outcome": "stopped", "status": 1, "time": 5.0},
                {"node": 3, "kind": "snapshot-eio", "fault": 4,
                 "outcome": "said", "time": 7.0},
                {"node": 2, "kind": "read-eio", "fault": 5,
                 "outcome": "started", "time": 9.0}]}))
        self.assertEqual(kinds(v), ["unreadable-start"])
        self.assertIn("fault #5", v[0].render())


class FinalState(unittest.TestCase):
    """The cluster checks of the final state that fail a run."""

    def test_node_crash(self):
        fin = {"recovered": True, "converged": True,
               "crashes": [{"node": 2, "exit": -11, "time": 5.25}]}
        v, _ = run(hist(("a", "write", "k", "1", 0, 1, "ok"), final=fin))
        self.assertEqual(kinds(v), ["node-crash"])
        self.assertIn("node 2 exited with status -11 at 5.250 s",
                      v[0].render())
        fin["crashes"] = []
        v, _ = run(hist(("a", "write", "k", "1", 0, 1, "ok"), final=fin))
        self.assertEqual(v, [])

    def test_no_convergence(self):
        fin = {"recovered": True, "converged": False,
               "last_versions": {"1": 40, "2": 40, "3": 31}}
        v, _ = run(hist(("a", "write", "k", "1", 0, 1, "ok"), final=fin))
        self.assertEqual(kinds(v), ["no-convergence"])
        self.assertIn("31", v[0].render())

    def test_digest_points(self):
        # Digests kept at apply, read through the run: equal at equal
        # indexes, whatever else each node reported.
        def fin(nodes, polls=5):
            return {"recovered": True, "converged": True,
                    "digest_points": {"every": 64, "polls": polls,
                                      "nodes": nodes}}
        w = ("a", "write", "k", "1", 0, 1, "ok")
        good = {"1": [[64, "aa"], [130, "bb"]], "2": [[64, "aa"]],
                "3": [[130, "bb"], [192, "cc"]]}
        v, out = run(hist(w, final=fin(good)))
        self.assertEqual(v, [])
        self.assertIn("checked digest points: 2 applied indexes", out)
        bad = dict(good, **{"2": [[64, "ab"]]})
        v, _ = run(hist(w, final=fin(bad)))
        self.assertEqual(kinds(v), ["replica-divergence"])
        self.assertIn("after applying entry 64", v[0].render())
        # One node that reported two digests for one index.
        v, _ = run(hist(w, final=fin({"1": [[64, "aa|ab"]]})))
        self.assertEqual(kinds(v), ["replica-divergence"])
        # Polled, and no index on two nodes: nothing was compared.
        v, _ = run(hist(w, final=fin({"1": [[64, "aa"]],
                                      "2": [[130, "bb"]]})))
        self.assertEqual(kinds(v), ["no-input"])

    def test_no_final_read(self):
        ops = [("a", "write", "k", "1", 0, 1, "ok"),
               ("final-1", "read", "k", None, 5, 6, "fail"),
               ("final-2", "read", "k", None, 7, None, "info")]
        v, _ = run(hist(*ops))
        self.assertEqual(kinds(v), ["no-final-read"])
        # One final read that succeeded is enough.
        v, _ = run(hist(*ops, ("final-3", "read", "k", "1", 8, 9, "ok")))
        self.assertEqual(v, [])

    def test_inconclusive(self):
        # Ten concurrent writes and a read: more orders than a budget of
        # 20 states; not checked counts as a violation.
        ops = [(str(i), "write", "k", str(i), 0, 10, "ok")
               for i in range(10)]
        ops.append(("r", "read", "k", "3", 0, 10, "ok"))
        parsed, _ = checker.ops_from_events(hist(*ops)["events"])
        v, _, _ = checker.check_key("k", parsed, budget=20)
        self.assertEqual(kinds(v), ["inconclusive"])
        v, _, _ = checker.check_key("k", parsed)
        self.assertEqual(v, [])


class CommandLine(unittest.TestCase):
    def _cli(self, h):
        with tempfile.NamedTemporaryFile("w", suffix=".json",
                                         delete=False) as f:
            json.dump(h, f)
            name = f.name
        try:
            p = subprocess.run(
                [sys.executable, os.path.join(os.path.dirname(
                    os.path.abspath(__file__)), "checker.py"), name],
                capture_output=True, text=True, timeout=60)
        finally:
            os.unlink(name)
        return p

    def test_clean_history_exit_0(self):
        p = self._cli(hist(("a", "write", "k", "1", 0, 1, "ok"),
                           ("b", "read", "k", "1", 2, 3, "ok")))
        self.assertEqual(p.returncode, 0)
        self.assertEqual(p.stdout.splitlines()[-1], "0 violations")

    def test_bad_history_exit_1(self):
        p = self._cli(hist(("a", "write", "k", "1", 0, 1, "ok"),
                           ("a", "write", "k", "2", 2, 3, "ok"),
                           ("b", "read", "k", "1", 4, 5, "ok")))
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout.splitlines()[-1], "1 violations")
        self.assertIn("VIOLATION not-linearizable on k", p.stdout)


def topic_hist(*ops):
    """ops: (process, f, name, call, ret, status, error)."""
    tl = []
    for n, (p, f, name, call, ret, status, err) in enumerate(ops):
        tl.append((call, 0, n, {"type": "invoke", "process": p, "f": f,
                                "key": name, "time": call}))
        if ret is not None:
            d = {"type": status, "process": p, "f": f, "key": name,
                 "time": ret}
            if err:
                d["error"] = err
            tl.append((ret, 1, n, d))
    tl.sort(key=lambda x: (x[0], x[1], x[2]))
    return {"events": [dict(e, index=i) for i, (_, _, _, e) in
                       enumerate(tl)]}


def exists(p, name, call, ret, present, status="ok", err=None):
    """A final listing's read of one name, as topic_hist events."""
    return [{"type": "invoke", "process": p, "f": "exists", "key": name,
             "time": call},
            dict({"type": status, "process": p, "f": "exists", "key": name,
                  "time": ret}, **({"value": present} if status == "ok"
                                   else {"error": err}))]


def with_events(h, evs):
    """h with evs added, in time order, indexes renumbered."""
    allev = sorted(h["events"] + evs, key=lambda e: (e["time"],
                                                     e["type"] != "invoke"))
    return {"events": [dict(e, index=i) for i, e in enumerate(allev)]}


def view(t, b, v, parts, brokers, inc="i", epoch=1):
    return {"t": t, "ev": "view", "b": b, "inc": inc, "epoch": epoch,
            "v": v, "parts": parts, "brokers": brokers}


def ack(t, b, fenced, deadline, epoch=1, self_=0):
    return {"t": t, "ev": "ack", "b": b, "inc": "i", "epoch": epoch,
            "fenced": fenced, "self": self_, "deadline": deadline}


def fstate(t, b, state="fenced", epoch=1):
    return {"t": t, "ev": "state", "b": b, "inc": "i", "epoch": epoch,
            "state": state}


def own(t, c, owned, g="g", m=None):
    return {"t": t, "ev": "own", "c": c, "g": g, "m": m or "m%d" % c,
            "e": 1, "owned": owned}


def cluster_run(logs=None, kills=(), ops=None):
    h = ops or {"events": []}
    if logs is not None:
        h["sims"] = {"logs": logs, "kills": list(kills), "tick_s": 0.1}
    return run(h)


class Topics(unittest.TestCase):
    def test_sequential_ok(self):
        v, _ = cluster_run(ops=topic_hist(
            ("t", "create", "x", 0, 1, "ok", None),
            ("t", "create", "x", 2, 3, "fail", "TOPIC_ALREADY_EXISTS"),
            ("t", "delete", "x", 4, 5, "ok", None),
            ("t", "delete", "x", 6, 7, "fail", "UNKNOWN_TOPIC")))
        self.assertEqual(v, [])

    def test_unknown_outcome_may_apply_later(self):
        v, _ = cluster_run(ops=topic_hist(
            ("t", "create", "x", 0, 1, "info", "TIMEOUT"),
            ("t", "delete", "x", 2, 3, "fail", "UNKNOWN_TOPIC"),
            ("u", "create", "x", 4, 5, "fail", "TOPIC_ALREADY_EXISTS")))
        self.assertEqual(v, [])

    def test_delete_answered_unknown_after_create(self):
        v, out = cluster_run(ops=topic_hist(
            ("t", "create", "x", 0, 1, "ok", None),
            ("t", "delete", "x", 2, 3, "fail", "UNKNOWN_TOPIC")))
        self.assertEqual(kinds(v), ["topic-not-linearizable"])
        self.assertIn("-> delete absent", out)

    def test_lost_creation(self):
        v, _ = cluster_run(ops=topic_hist(
            ("t", "create", "x", 0, 1, "ok", None),
            ("u", "create", "x", 2, 3, "ok", None)))
        self.assertEqual(kinds(v), ["topic-not-linearizable"])

    def test_final_listing_sees_a_lost_delete(self):
        h = topic_hist(("t", "create", "x", 0, 1, "ok", None),
                       ("t", "delete", "x", 2, 3, "ok", None))
        v, _ = cluster_run(ops=with_events(h, exists("f", "x", 10, 11,
                                                     True)))
        self.assertEqual(kinds(v), ["topic-not-linearizable"])
        v, _ = cluster_run(ops=with_events(h, exists("f", "x", 10, 11,
                                                     False)))
        self.assertEqual(v, [])

    def test_final_listing_and_unknown_outcomes(self):
        h = topic_hist(("t", "create", "x", 0, 1, "ok", None),
                       ("t", "delete", "x", 2, 3, "info", "TIMEOUT"))
        for present in (True, False):
            v, _ = cluster_run(ops=with_events(
                h, exists("f", "x", 10, 11, present)))
            self.assertEqual(v, [], present)

    def test_final_listing_failed(self):
        h = topic_hist(("t", "create", "x", 0, 1, "ok", None))
        v, out = cluster_run(ops=with_events(
            h, exists("f", "x", 10, 11, None, "fail", "TIMEOUT")))
        self.assertEqual(kinds(v), ["no-final-topic-read"])
        self.assertIn("TIMEOUT", out)

    def test_names_independent_and_definite_failures_ignored(self):
        v, _ = cluster_run(ops=topic_hist(
            ("t", "create", "x", 0, 1, "ok", None),
            ("t", "create", "y", 2, 3, "ok", None),
            ("t", "create", "z", 4, 5, "fail",
             "INVALID_REPLICATION_FACTOR"),
            ("t", "create", "z", 6, 7, "ok", None)))
        self.assertEqual(v, [])


class Brokers(unittest.TestCase):
    B = [[1, 1, 0], [2, 1, 0]]

    def test_clean(self):
        logs = {"broker-1": [
            view(1.0, 1, 10, [["aa", 0, 1, 1, 1, [1, 2]]], self.B),
            view(2.0, 1, 11, [["aa", 0, 2, 2, 3, [2]]], self.B)]}
        v, _ = cluster_run(logs)
        self.assertEqual(v, [])

    def test_two_leaders_one_epoch(self):
        logs = {"broker-1": [view(1.0, 1, 10, [["aa", 0, 1, 3, 5, [1]]],
                                  self.B)],
                "broker-2": [view(1.1, 2, 11, [["aa", 0, 2, 3, 6, [2]]],
                                  self.B)]}
        v, _ = cluster_run(logs)
        self.assertEqual(kinds(v), ["two-leaders-one-epoch"])

    def test_leader_not_in_isr(self):
        logs = {"broker-1": [view(1.0, 1, 10, [["aa", 0, 1, 3, 5, [2]]],
                                  self.B)]}
        v, _ = cluster_run(logs)
        self.assertEqual(kinds(v), ["leader-not-in-isr"])

    def test_isr_and_shutdown_with_replicas(self):
        # The newer view format: replicas, and a shutting-down flag.
        b = [[1, 1, 0, 0], [2, 1, 0, 1]]
        logs = {"broker-1": [view(1.0, 1, 10, [
            ["aa", 0, 1, 3, 5, [1, 3], [1, 2]],
            ["aa", 1, 2, 1, 1, [2], [2, 1]],
            ["aa", 2, 1, 1, 1, [1, 2], [2, 1]]], b)]}
        v, _ = cluster_run(logs)
        self.assertEqual(kinds(v), ["isr-not-in-replicas",
                                    "shutting-down-broker-leads"])
        # The same replicas in another order at one partition epoch.
        logs["broker-2"] = [view(1.1, 2, 10, [
            ["aa", 2, 1, 1, 1, [1, 2], [1, 2]]], b)]
        v, _ = cluster_run(logs)
        self.assertIn("two-states-one-partition-epoch", kinds(v))

    def test_two_states_one_partition_epoch(self):
        # The same partition epoch with another ISR; an ISR's order
        # does not count (compared as sets).
        logs = {"broker-1": [view(1.0, 1, 10, [["aa", 0, 1, 3, 5, [1, 2]]],
                                  self.B)],
                "broker-2": [view(1.1, 2, 11, [["aa", 0, 1, 3, 5, [2, 1]]],
                                  self.B),
                             view(1.2, 2, 12, [["aa", 0, 1, 3, 5, [1]]],
                                  self.B)]}
        v, _ = cluster_run(logs)
        self.assertEqual(kinds(v), ["two-states-one-partition-epoch"])

    def test_acknowledged_isr_changes(self):
        # Broker 1's ISR change answered OK at partition epoch 6; the
        # views show epoch 5 and 6; the committed states are listed
        # after the final heal (final.partitions, at 9.0 s).
        def alter(t, pe, isr, tries=1):
            return {"t": t, "ev": "alter", "b": 1, "code": "NONE",
                    "try": tries, "tid": "aa", "p": 0, "isr": isr,
                    "leader": 1, "le": 3, "pe": pe, "reps": [1, 2]}

        def fin(parts, t=9.0):
            return {"t": t, "parts": parts}

        def go(extra, parts):
            h = {"events": [], "final": {"partitions": parts},
                 "sims": {"logs": {"broker-1": [
                     view(1.0, 1, 10, [["aa", 0, 1, 3, 5, [1, 2], [1, 2]]],
                          self.B),
                     view(2.0, 1, 11, [["aa", 0, 1, 3, 6, [1], [1, 2]]],
                          self.B)] + extra}, "kills": [], "tick_s": 0.1}}
            return run(h)[0]
        ok = fin([["aa", 0, 1, 3, 6, [1], [1, 2]]])
        self.assertEqual(go([alter(1.5, 6, [1], 2)], ok), [])
        # The answer is not the state the views show at its epoch.
        self.assertEqual(kinds(go([alter(1.5, 6, [1, 2])], ok)),
                         ["two-states-one-partition-epoch"])
        # Nor is the final listing's.
        self.assertEqual(kinds(go([], fin([["aa", 0, 2, 3, 6, [2],
                                            [1, 2]]]))),
                         ["two-states-one-partition-epoch"])
        # Answered OK at epoch 7, which no view showed, and the quorum
        # ends at 6: lost.
        lost = alter(2.5, 7, [1, 2])
        self.assertEqual(kinds(go([lost], ok)), ["lost-isr-change"])
        # Not judged: answered after the listing, or its topic deleted
        # (not listed).
        self.assertEqual(go([lost], fin([["aa", 0, 1, 3, 6, [1], [1, 2]]],
                                         t=2.0)), [])
        self.assertEqual(go([lost], fin([])), [])
        # No listing (older histories: nothing), a failed one: a
        # violation.
        self.assertEqual(go([lost], None), [])
        self.assertEqual(kinds(go([], {"error": "partition list: "
                                            "TIMEOUT"})),
                         ["no-final-partitions"])

    def test_leadership_outlived_registration(self):
        # Broker 2 led in leader epoch 3 under registration 4; a view
        # listing its new registration 9 (unfenced) still shows it
        # leading in that epoch: the new incarnation kept it.
        p = [["aa", 0, 2, 3, 5, [2]]]
        logs = {"broker-1": [view(1.0, 1, 10, p, [[1, 1, 0], [2, 4, 0]]),
                             view(2.0, 1, 12, p, [[1, 1, 0], [2, 9, 0]])]}
        v, _ = cluster_run(logs)
        self.assertEqual(kinds(v), ["leadership-outlived-registration"])
        # A view without the broker list says nothing either way.
        logs = {"broker-1": [view(1.0, 1, 10, p, []),
                             view(2.0, 1, 12, p, [[1, 1, 0], [2, 9, 0]])]}
        v, _ = cluster_run(logs)
        self.assertEqual(v, [])

    def test_fences_in_time(self):
        b = lambda f: [[1, 1, 0], [2, 1, f]]  # noqa: E731
        h = {"events": [], "meta": {"broker_session_ms": 3000},
             "applied": [
                 {"n": 1, "kind": "broker-kill", "proc": "broker-2",
                  "time": 10.0},
                 {"n": 2, "kind": "broker-isolate", "proc": "broker-2",
                  "time": 30.0},
                 {"n": 3, "kind": "broker-isolate", "proc": "broker-2",
                  "time": 50.0},     # too short to judge
                 {"n": 4, "kind": "broker-kill", "proc": "broker-2",
                  "time": 70.0, "overlays": [{"op": "transfer-leader"}]}],
             "recoveries": [{"after_fault": 1, "heal": 16.0},
                            {"after_fault": 2, "heal": 36.0},
                            {"after_fault": 3, "heal": 54.0},
                            {"after_fault": 4, "heal": 80.0}],
             "sims": {"logs": {"broker-1": [
                 view(13.1, 1, 10, [], b(1)), view(16.5, 1, 11, [], b(0)),
                 view(36.0, 1, 12, [], b(1)), view(37.0, 1, 13, [], b(0)),
                 view(77.5, 1, 14, [], b(1))]},
                 "kills": [], "tick_s": 0.1}}
        v, out = run(h)
        self.assertEqual(kinds(v), ["fence-late"])
        self.assertIn("broker 2 was cut off (broker-isolate) at 30.000 s",
                      out)
        self.assertIn("first at 36.000 s", out)
        # Older histories (no session recorded) are not judged.
        del h["meta"]["broker_session_ms"]
        v, _ = run(h)
        self.assertEqual(v, [])

    def test_no_views_is_no_pass(self):
        logs = {"broker-1": [ack(1.0, 1, 0, 4.0)],
                "consumers-1": [own(1.0, 0, [["t", 0]])]}
        v, _ = cluster_run(logs)
        self.assertEqual(kinds(v), ["no-input"])
        logs = {"broker-1": [view(1.0, 1, 10, [], self.B)],
                "consumers-1": [own(1.0, 0, [])]}  # owning nothing
        v, _ = cluster_run(logs)
        self.assertEqual(kinds(v), ["no-input"])

    def test_epochs_backwards(self):
        logs = {"broker-1": [
            view(1.0, 1, 10, [["aa", 0, 1, 3, 5, [1]]], self.B),
            view(2.0, 1, 12, [["aa", 0, 1, 3, 4, [1]]], self.B),
            view(3.0, 1, 11, [], self.B)]}
        v, _ = cluster_run(logs)
        self.assertEqual(kinds(v), ["epoch-regression",
                                    "view-version-regression"])

    def test_fenced_leader_in_view(self):
        logs = {"broker-1": [view(1.0, 1, 10, [["aa", 0, 2, 1, 1, [2]]],
                                  [[1, 1, 0], [2, 1, 1]])]}
        v, _ = cluster_run(logs)
        self.assertEqual(kinds(v), ["fenced-broker-leads"])

    def _fenced_at(self, t_f, deadline, extra=()):
        return {"broker-1": [ack(1.0, 1, 0, deadline)] + list(extra),
                "broker-2": [
                    view(0.5, 2, 5, [], [[1, 1, 0], [2, 1, 0]]),
                    view(t_f, 2, 9, [], [[1, 1, 1], [2, 1, 0]])]}

    def test_fenced_while_session_alive(self):
        v, _ = cluster_run(self._fenced_at(2.0, 4.0))
        self.assertEqual(kinds(v), ["unfenced-broker-fenced"])

    def test_fenced_after_own_deadline(self):
        v, _ = cluster_run(self._fenced_at(4.5, 4.0))
        self.assertEqual(v, [])

    def test_fenced_after_asking_to_shut_down(self):
        st = {"t": 1.9, "ev": "state", "b": 1, "inc": "i", "epoch": 1,
              "state": "shutting-down"}
        v, _ = cluster_run(self._fenced_at(2.0, 4.0, [st]))
        self.assertEqual(v, [])

    def test_told_fenced_at_once_is_no_excuse(self):
        # Hearing "fenced" is the fence's result: a broker told so 50 ms
        # after the views show it, 2 s before its session ends, was fenced
        # while healthy.
        v, _ = cluster_run(self._fenced_at(2.0, 4.0, [
            fstate(2.04, 1), ack(2.05, 1, 1, 6.0)]))
        self.assertEqual(kinds(v), ["healthy-broker-fenced",
                                    "unfenced-broker-fenced"])

    def test_told_fenced_before_any_view(self):
        v, out = cluster_run(self._fenced_at(2.0, 4.0, [
            fstate(1.45, 1), ack(1.5, 1, 1, 5.5)]))
        self.assertEqual(kinds(v), ["healthy-broker-fenced"])
        self.assertIn("2.550 s before its session would end", out)

    def test_told_fenced_and_unfenced_between_samples(self):
        # Fenced and unfenced again within one 100 ms tick: the samples
        # never show it, the state events do.
        v, _ = cluster_run(self._fenced_at(4.5, 4.0, [
            fstate(1.42, 1), fstate(1.47, 1, "active"),
            ack(1.5, 1, 0, 4.4)]))
        self.assertEqual(kinds(v), ["healthy-broker-fenced"])

    def test_told_fenced_after_its_deadline(self):
        v, _ = cluster_run(self._fenced_at(4.2, 4.0, [
            fstate(4.05, 1), ack(4.1, 1, 1, 8.0)]))
        self.assertEqual(v, [])

    def test_self_fenced_then_told(self):
        # Its own session ran out first (self), then the controller said so.
        v, _ = cluster_run(self._fenced_at(4.6, 4.0, [
            fstate(4.0, 1), ack(4.05, 1, 1, 4.0, self_=1),
            ack(4.5, 1, 1, 8.4)]))
        self.assertEqual(v, [])

    def test_told_fenced_while_shutting_down(self):
        st = {"t": 1.4, "ev": "state", "b": 1, "inc": "i", "epoch": 1,
              "state": "shutting-down"}
        v, _ = cluster_run(self._fenced_at(2.0, 4.0, [
            st, fstate(1.45, 1), ack(1.5, 1, 1, 5.5)]))
        self.assertEqual(v, [])

    def test_fenced_at_registration_is_not_a_fence(self):
        logs = {"broker-1": [ack(1.0, 1, 1, None)],
                "broker-2": [view(2.0, 2, 9, [], [[1, 1, 1], [2, 1, 0]])]}
        v, _ = cluster_run(logs)
        self.assertEqual(v, [])


class Groups(unittest.TestCase):
    def test_handover(self):
        logs = {"consumers-1": [own(1.0, 0, [["t", 0], ["t", 1]]),
                                own(2.0, 0, [["t", 0]])],
                "consumers-2": [own(2.1, 0, [["t", 1]])]}
        v, _ = cluster_run(logs)
        self.assertEqual(v, [])

    def test_owned_twice(self):
        logs = {"consumers-1": [own(1.0, 0, [["t", 0], ["t", 1]]),
                                own(3.0, 0, [["t", 0]])],
                "consumers-2": [own(2.0, 0, [["t", 1]])]}
        v, _ = cluster_run(logs)
        self.assertEqual(kinds(v), ["partition-owned-twice"])

    def test_other_groups_and_kills(self):
        logs = {"consumers-1": [own(1.0, 0, [["t", 0]])],
                "consumers-2": [own(2.0, 0, [["t", 0]], g="h"),
                                own(3.0, 1, [["t", 0]])]}
        v, _ = cluster_run(logs, kills=[{"source": "consumers-1",
                                         "time": 2.5}])
        self.assertEqual(v, [])


class Findings(unittest.TestCase):
    """The histories of bugs the suite found stay violations for the
    checker (tests/chaos/findings, docs/reliability.md)."""

    def test_saved_findings_are_violations(self):
        d = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                         "findings")
        names = sorted(n for n in os.listdir(d) if n.endswith(".json.gz"))
        self.assertTrue(names)
        for n in names:
            p = subprocess.run(
                [sys.executable, os.path.join(os.path.dirname(
                    os.path.abspath(__file__)), "checker.py"),
                 os.path.join(d, n), "--quiet"],
                capture_output=True, text=True, timeout=300)
            self.assertEqual(p.returncode, 1, n)


if __name__ == "__main__":
    unittest.main()
