"""Cluster workloads of a chaos run: simulated brokers and consumers
(synod-sim, each process in a network namespace of its own, writing an
event log) and topic creation/deletion recorded in the history.

Used by tests/chaos/run; checked by check_cluster.py.
"""
import json
import os
import random
import re
import signal
import subprocess
import threading
import time

BROKER_HOST0 = 150    # broker K at SUBNET.(150+K)
CONSUMER_HOST0 = 170  # consumer process K at SUBNET.(170+K)
BASE_TOPICS = ["base-0", "base-1"]
CHURN_TOPICS = ["chaos-%d" % i for i in range(4)]
SUBSCRIBE = "/(base-.*)|(chaos-.*)/"

# Session settings of the run (set as cluster configs before any broker or
# consumer starts): short, so that fences and reassignments happen within
# a fault's duration.
CLUSTER_CONFIGS = [
    "broker.heartbeat.interval.ms=250",
    "broker.session.timeout.ms=3000",
    "group.consumer.min.session.timeout.ms=1000",
    "group.consumer.min.heartbeat.interval.ms=100",
    "group.consumer.session.timeout.ms=4000",
    "group.consumer.heartbeat.interval.ms=400",
]
CONSUMER_SESSION_MS = 4000


class SimProcess:
    """One synod-sim process in its own namespace: a broker or consumers."""

    def __init__(self, name, ns, args, outdir):
        self.name = name          # "broker-3", "consumers-1"
        self.ns = ns
        self.args = args
        self.log = os.path.join(outdir, "%s.events" % name)
        self.errlog = os.path.join(outdir, "%s.log" % name)
        self.proc = None
        self.kills = []           # history times of kill -9

    def start(self, sim_bin, bootstrap, cluster_id):
        args = ["ip", "netns", "exec", self.ns, sim_bin, "--bootstrap",
                bootstrap, "--cluster-id", cluster_id, "--event-log",
                self.log] + self.args
        errf = open(self.errlog, "ab")
        self.proc = subprocess.Popen(args, stdout=errf,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        errf.close()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self, now):
        """now: the history's clock (None: not recorded). The kill is
        recorded once the process is gone: an event it wrote while dying
        sorts before it, so its consumers own nothing after."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            if now is not None:
                self.kills.append(now())

    def stop(self, timeout=10, now=None):
        """Controlled exit (SIGTERM: brokers shut down, consumers leave);
        one that takes longer than timeout is killed (recorded as a kill
        when now, the history's clock, is given)."""
        if not self.alive():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9(now)

    def read_events(self, t0):
        """Events with times moved to the history's clock (t - t0)."""
        out = []
        try:
            with open(self.log) as f:
                for line in f:
                    try:
                        ev = json.loads(line)
                    except ValueError:
                        continue  # a line cut by kill -9
                    ev["t"] = round(ev["t"] - t0, 6)
                    if "deadline" in ev:
                        ev["deadline"] = round(ev["deadline"] - t0, 6)
                    out.append(ev)
        except OSError:
            pass
        return out


class Sims:
    """Every broker and consumer process of a run."""

    def __init__(self, net, outdir, nbrokers, nconsumer_procs):
        """Namespaces are added to net (call before net.setup())."""
        self.net = net
        self.cluster = None
        self.sim_bin = None
        self.procs = {}
        for k in range(1, nbrokers + 1):
            ns = net.add_host("b%d" % k, BROKER_HOST0 + k)
            self.procs["broker-%d" % k] = SimProcess(
                "broker-%d" % k, ns,
                ["--brokers", "1", "--first-id", str(k), "--racks", "3",
                 "--request-timeout-ms", "1000", "--ramp-ms", "0",
                 "--isr-churn-ms", "1500", "--shutdown-timeout-ms",
                 "8000", "-v"], outdir)
        for k in range(1, nconsumer_procs + 1):
            ns = net.add_host("c%d" % k, CONSUMER_HOST0 + k)
            self.procs["consumers-%d" % k] = SimProcess(
                "consumers-%d" % k, ns,
                ["--brokers", "0", "--consumers", "3", "--groups", "2",
                 "--subscribe", SUBSCRIBE, "--consumer-session-ms",
                 str(CONSUMER_SESSION_MS), "--request-timeout-ms", "1000",
                 "-v"],
                outdir)

    def names(self, kind):
        return sorted(n for n in self.procs if n.startswith(kind))

    def start(self, cluster, bindir):
        self.cluster = cluster
        self.sim_bin = os.path.join(bindir, "synod-sim")
        for n, p in self.procs.items():
            p.start(self.sim_bin, cluster.bootstrap_all, cluster.cluster_id)

    def kill9(self, name, now):
        self.procs[name].kill9(now)

    def heal(self):
        """Start every process that was killed (a new incarnation)."""
        for p in self.procs.values():
            if not p.alive():
                p.start(self.sim_bin, self.cluster.bootstrap_all,
                        self.cluster.cluster_id)

    def stop_all(self, controlled, now=None):
        for p in self.procs.values():
            if controlled:
                p.stop(now=now)
            elif p.alive():
                p.kill9(None)

    def export(self, t0):
        logs = {n: p.read_events(t0) for n, p in self.procs.items()}
        kills = [{"source": n, "time": round(t, 6)}
                 for n, p in self.procs.items() for t in p.kills
                 if t is not None]
        return {"logs": logs, "kills": kills, "tick_s": 0.1}


def broker_session_ms():
    """broker.session.timeout.ms of CLUSTER_CONFIGS."""
    for c in CLUSTER_CONFIGS:
        k, _, v = c.partition("=")
        if k == "broker.session.timeout.ms":
            return int(v)
    return None


def set_cluster_configs(cluster):
    rc, out, err = cluster.ctl(["config", "set"] + CLUSTER_CONFIGS,
                               timeout_ms=5000)
    return rc == 0, (out + err).strip()


def create_base_topics(cluster, hist, deadline_s, partitions=4):
    """The topics that live through the whole run (brokers lead their
    partitions; consumers own them), `partitions` each. Waits for enough
    unfenced brokers."""
    end = time.monotonic() + deadline_s
    todo = list(BASE_TOPICS)
    while todo and time.monotonic() < end:
        rc, out, err = cluster.ctl(["topic", "create", todo[0],
                                    "--partitions", str(partitions),
                                    "--replication-factor", "3"],
                                   timeout_ms=3000)
        if rc == 0 or "TOPIC_ALREADY_EXISTS" in out + err:
            todo.pop(0)
        else:
            time.sleep(0.3)
    return not todo


def error_name(out, err):
    try:
        j = json.loads(out)
        if isinstance(j, dict) and "error" in j:
            return j["error"]
    except ValueError:
        pass
    m = re.search(r"([A-Z][A-Z_]{3,})", err)
    return m.group(1) if m else None


# Topic errors after which the operation definitely had no effect.
TOPIC_DEFINITE_FAILURES = {
    "TOPIC_ALREADY_EXISTS", "UNKNOWN_TOPIC", "INVALID_REPLICATION_FACTOR",
    "INVALID_PARTITIONS", "INVALID_REQUEST", "INVALID_ARGUMENT",
    "CONNECTION_ERROR", "CLUSTER_ID_MISMATCH",
}


def topic_op(cluster, hist, process, f, name, timeout_ms):
    hist.add({"type": "invoke", "process": process, "f": f, "key": name})
    if f == "create":
        args = ["topic", "create", name, "--partitions", "3",
                "--replication-factor", "3"]
    else:
        args = ["topic", "delete", name]
    rc, out, err = cluster.ctl(args, timeout_ms=timeout_ms)
    done = {"process": process, "f": f, "key": name}
    if rc == 0:
        done["type"] = "ok"
    else:
        name_ = error_name(out, err) or ("exit %s" % rc)
        done["error"] = name_
        done["type"] = ("fail" if rc == 2 or name_ in
                        TOPIC_DEFINITE_FAILURES else "info")
    return hist.add(done)


def final_topic_reads(cluster, hist, timeout_ms, deadline_s=30.0):
    """After the last heal and the topic clients' stop: a `topic list` (a
    linearizable read) recorded as an "exists" read of every churn topic,
    so that the last create or delete of each name is observed. Tried
    until one answers or deadline_s passes (a leader change at that moment
    is no violation); each try is recorded."""
    procs = ["final-topics-%s" % name for name in CHURN_TOPICS]
    end = hist.now() + deadline_s
    while True:
        for proc, name in zip(procs, CHURN_TOPICS):
            hist.add({"type": "invoke", "process": proc, "f": "exists",
                      "key": name})
        rc, out, err = cluster.ctl(["topic", "list"], timeout_ms=timeout_ms)
        names = None
        if rc == 0:
            try:
                names = {t.get("topic") for t in json.loads(out)["topics"]}
            except (ValueError, KeyError, TypeError, AttributeError):
                pass
        for proc, name in zip(procs, CHURN_TOPICS):
            if names is None:
                hist.add({"type": "fail", "process": proc, "f": "exists",
                          "key": name, "error": error_name(out, err) or
                          ("exit %s" % rc)})
            else:
                hist.add({"type": "ok", "process": proc, "f": "exists",
                          "key": name, "value": name in names})
        if names is not None or hist.now() >= end:
            return names
        time.sleep(0.5)


def final_partitions(cluster, hist, timeout_ms, deadline_s=30.0):
    """After the final heal: every partition's committed state, from a
    `partition list` (a linearizable read), for the checker's
    acknowledged ISR changes (check 7). Returns {"t": the history time
    before the read, "parts": [[topic id hex, partition, leader, leader
    epoch, partition epoch, isr, replicas], ...]}, or {"error": ...} when
    none answered within deadline_s."""
    end = hist.now() + deadline_s
    while True:
        t = hist.now()
        rc, out, err = cluster.ctl(["partition", "list"],
                                   timeout_ms=timeout_ms)
        why = "partition list: %s" % (error_name(out, err) or
                                      "exit %s" % rc)
        if rc == 0:
            try:
                return {"t": round(t, 6), "parts": [
                    [x["topic_id"].replace("-", ""), x["partition"],
                     x["leader"], x["leader_epoch"], x["partition_epoch"],
                     x["isr"], x["replicas"]]
                    for x in json.loads(out)["partitions"]]}
            except (ValueError, KeyError, TypeError, AttributeError):
                why = "partition list: unreadable answer (no topic_id?)"
        if hist.now() >= end:
            return {"error": why}
        time.sleep(0.5)


def wait_workloads_healthy(sims, cluster, hist, nbrokers, heal_t,
                           deadline_s):
    """After the final heal: poll `quorum status` until every broker is
    registered and unfenced and no partition is offline, twice in a row
    (the controller's health figures may be a second old). Returns the
    record kept as final.workloads: healthy, after_heal_s (when it was
    first seen so; null if never), last (the last health seen), and at a
    failure the sim processes not running (one that exited by itself is
    not restarted by a heal)."""
    end = hist.now() + deadline_s
    last = None
    first_ok = None
    while True:
        rc, out, _ = cluster.ctl(["quorum", "status"], timeout_ms=3000)
        ok = False
        if rc == 0:
            try:
                h = json.loads(out).get("health")
            except ValueError:
                h = None
            if isinstance(h, dict):
                last = h
                b = h.get("brokers") or {}
                ok = b.get("active", 0) >= nbrokers and \
                    b.get("fenced", 1) == 0 and h.get("offline", 1) == 0
        if ok and first_ok is not None and hist.now() - first_ok >= 1.0:
            return {"healthy": True,
                    "after_heal_s": round(first_ok - heal_t, 3),
                    "last": last}
        if ok and first_ok is None:
            first_ok = hist.now()
        elif not ok:
            first_ok = None
        if hist.now() >= end:
            return {"healthy": False, "after_heal_s": None, "last": last,
                    "deadline_s": deadline_s,
                    "not_running": sorted(n for n, p in sims.procs.items()
                                          if not p.alive())}
        time.sleep(0.5)


class TopicClients:
    """Threads creating and deleting the churn topics."""

    def __init__(self, cluster, hist, n, seed, timeout_ms):
        self.cluster = cluster
        self.hist = hist
        self.stop = threading.Event()
        self.timeout_ms = timeout_ms
        self.threads = [threading.Thread(
            target=self.loop, args=(c, random.Random(seed * 7919 + c)),
            daemon=True, name="topics-%d" % c) for c in range(1, n + 1)]

    def start(self):
        for t in self.threads:
            t.start()

    def loop(self, c, rng):
        while not self.stop.is_set():
            f = "create" if rng.random() < 0.55 else "delete"
            topic_op(self.cluster, self.hist, "t%d" % c, f,
                     rng.choice(CHURN_TOPICS), self.timeout_ms)
            time.sleep(rng.uniform(0.05, 0.3))

    def finish(self, timeout):
        self.stop.set()
        for t in self.threads:
            t.join(timeout)
