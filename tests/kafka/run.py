#!/usr/bin/env python3
"""tests/kafka/run.py - the Kafka-protocol listener of controller nodes
(docs/kafka.md) driven by real Kafka clients: kcat (librdkafka) and
kafka-python, from Debian's packages.

Invariants checked:
- `kcat -L` against any controller node's Kafka port, and against a
  simulated broker's (synod-sim --kafka-port-base), lists every live
  broker (id, host:port) and every topic's partitions with the leader,
  replicas and ISR that `synodctl topic describe --json` says;
- kafka-python (an independent implementation) sees the same brokers,
  racks, partitions and leaders;
- after a broker stops and is fenced, the listeners (a controller node's
  and a surviving broker's) answer without it and with the partitions'
  new leaders, still as synodctl says;
- the admin clients of kafka-python and of librdkafka (confluent-kafka),
  bootstrapped at a controller node that is not the active one, create,
  grow, reconfigure and delete topics as synodctl then sees them, and
  describe the configs synodctl set (value and source); both list and
  describe a consumer group as synodctl does (members, assignments);
- DescribeQuorum names the leader and voters `quorum status` names;
  ElectLeaders answers per partition (ELECTION_NOT_NEEDED where the
  preferred replica leads);
- bad input (a frame above kafka_max_request_bytes, an unknown API key,
  garbage, a truncated body, an unsupported Metadata version) closes that
  connection and nothing else; ApiVersions of an unknown version is
  answered in version 0 with UNSUPPORTED_VERSION and the versions served.

  tests/kafka/run.py [--build-dir build]
"""
import argparse
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
from local_cluster import forget, free_base, reap, stop_with_me  # noqa: E402


def fail(msg):
    sys.exit("kafka test: " + msg)


def wait_for(what, fn, timeout=30.0):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        try:
            v = fn()
        except Exception as e:  # a client error: try again
            v, last = None, e
        if v:
            return v
        time.sleep(0.2)
    fail("timed out waiting for %s (%s)" % (what, last))


def kcat(addr, topic=None):
    out = subprocess.run(["kcat", "-L", "-J", "-b", addr, "-m", "5"] +
                         (["-t", topic] if topic else []),
                         capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip())
    return json.loads(out.stdout)


def relayed(base):
    """Kafka requests relayed to the quorum's nodes, summed (their
    synod_kafka_relayed_total)."""
    total = 0
    for i in (1, 2, 3):
        url = "http://127.0.0.1:%d/metrics" % (base + 200 + i)
        with urllib.request.urlopen(url, timeout=10) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("synod_kafka_relayed_total "):
                    total += int(float(line.split()[1]))
    return total


def described(ctl_run, topics):
    j = json.loads(ctl_run("--json", "topic", "describe", *topics).stdout)
    got = {}
    for t in j["topics"] if "topics" in j else [j]:  # one topic: itself
        for p in t["partitions"]:
            got["%s-%d" % (t["topic"], p["partition"])] = (
                p["leader"], p["replicas"], sorted(p["isr"]))
    return got


def from_kcat(md):
    got = {}
    for t in md["topics"]:
        for p in t["partitions"]:
            got["%s-%d" % (t["topic"], p["partition"])] = (
                p["leader"], [r["id"] for r in p["replicas"]],
                sorted(r["id"] for r in p["isrs"]))
    return got


def frame(key, ver, corr, body=b"", client=b"t"):
    h = struct.pack(">hhih", key, ver, corr, len(client)) + client
    msg = h + body
    return struct.pack(">i", len(msg)) + msg


def closed_after(addr, data):
    """Send data; True when the node closes the connection without an
    answer."""
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=5)
    s.sendall(data)
    try:
        return s.recv(4096) == b""
    except (ConnectionResetError, socket.timeout):
        return True
    finally:
        s.close()


def admin(op, *args):
    out = subprocess.run(
        ["/usr/bin/python3", os.path.join(HERE, "admin_clients.py"), op,
         *args], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError("%s: %s" % (op, out.stderr[-1500:]))
    return json.loads(out.stdout.strip().splitlines()[-1])


def topic_of(ctl_run, name):
    r = ctl_run("--json", "topic", "describe", name)
    if r.returncode != 0:
        return None
    j = json.loads(r.stdout)
    t = j["topics"][0] if "topics" in j else j  # one topic: itself
    return {"partitions": len(t["partitions"]),
            "rf": len(t["partitions"][0]["replicas"])}


def config_of(ctl_run, name, key):
    """The value set on the topic, or None (unset: "... (default)")."""
    r = ctl_run("config", "get", "--topic", name, key)
    v = r.stdout.strip()
    return None if r.returncode != 0 or v.endswith("(default)") else v


def raw_request(addr, data):
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(data)
    head = b""
    while len(head) < 4:
        head += s.recv(4 - len(head))
    size = struct.unpack(">i", head)[0]
    body = b""
    while len(body) < size:
        chunk = s.recv(size - len(body))
        if not chunk:
            raise RuntimeError("closed mid-answer")
        body += chunk
    s.close()
    return body


def uvarint(b, off):
    v = shift = 0
    while True:
        c = b[off]
        off += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, off


def describe_quorum(addr):
    """DescribeQuorum v0 (flexible) for __cluster_metadata-0: leader,
    epoch, voters."""
    name = b"__cluster_metadata"
    body = (bytes([2, len(name) + 1]) + name + bytes([2]) +
            struct.pack(">i", 0) + b"\x00\x00\x00")
    h = struct.pack(">hhih", 55, 0, 9, 1) + b"t" + b"\x00"
    b = raw_request(addr, struct.pack(">i", len(h) + len(body)) + h + body)
    off = 5  # correlation id, empty tagged fields
    err = struct.unpack(">h", b[off:off + 2])[0]
    off += 2
    _, off = uvarint(b, off)  # topics
    n, off = uvarint(b, off)
    off += n - 1
    _, off = uvarint(b, off)  # partitions
    _, perr, leader, epoch, hw = struct.unpack(">ihiiq", b[off:off + 22])
    off += 22
    n, off = uvarint(b, off)
    voters = []
    for _ in range(n - 1):
        rid, end = struct.unpack(">iq", b[off:off + 12])
        voters.append(rid)
        off += 12 + 1  # and its tagged fields (v0: no fetch times)
    return {"error": err, "perror": perr, "leader": leader, "epoch": epoch,
            "high_watermark": hw, "voters": sorted(voters)}


def elect_preferred(addr, topic, parts):
    """ElectLeaders v1 (preferred) for topic's partitions: {p: code}."""
    t = topic.encode()
    body = (struct.pack(">bi", 0, 1) + struct.pack(">h", len(t)) + t +
            struct.pack(">i", len(parts)) +
            b"".join(struct.pack(">i", p) for p in parts) +
            struct.pack(">i", 10000))
    b = raw_request(addr, frame(43, 1, 11, body))
    corr, _, err, n = struct.unpack(">iihi", b[:14])
    off, codes = 14, {}
    for _ in range(n):
        ln = struct.unpack(">h", b[off:off + 2])[0]
        off += 2 + ln
        m = struct.unpack(">i", b[off:off + 4])[0]
        off += 4
        for _ in range(m):
            p, code, ml = struct.unpack(">ihh", b[off:off + 8])
            off += 8 + max(ml, 0)
            codes[p] = code
    return err, codes


def admin_checks(ctl_run, kafka, build, boot):
    # Bootstrap at a controller node that is not the active one: the
    # clients reach the admin APIs through the controller id (a broker's
    # listener) or the node itself; both relay to the active controller.
    st = json.loads(ctl_run("--json", "quorum", "status").stdout)
    leader = st["leader_id"]
    follower = kafka[(leader % 3)]  # node leader+1 (ids 1..3)

    # kafka-python creates with configs; synodctl sees it.
    r = admin("kp-create", follower, "kp-made", "4", "2",
              "retention.ms=123456")
    if r["errors"] != [["kp-made", 0]]:
        fail("kafka-python create: %s" % r)
    if topic_of(ctl_run, "kp-made") != {"partitions": 4, "rf": 2}:
        fail("synodctl sees kp-made as %s" % topic_of(ctl_run, "kp-made"))
    if config_of(ctl_run, "kp-made", "retention.ms") != "123456":
        fail("retention.ms of kp-made: %s" %
             config_of(ctl_run, "kp-made", "retention.ms"))
    # A duplicate is refused as Kafka refuses it.
    r = admin("kp-create", follower, "kp-made", "1", "1")
    if r["errors"] != [["kp-made", 36]]:
        fail("a second kp-made: %s" % r)

    # synodctl sets a config; both clients describe it (topic source 1,
    # the others defaults, 5).
    if ctl_run("config", "set", "--topic", "pay",
               "retention.ms=4242").returncode != 0:
        fail("synodctl config set")
    r = admin("kp-describe-configs", follower, "topic", "pay")
    if r["error"] != 0 or r["configs"].get("retention.ms") != ["4242", 1] \
            or r["configs"].get("cleanup.policy") != ["delete", 5]:
        fail("kafka-python describe_configs pay: %s" % r)
    r = admin("ck-describe-configs", follower, "pay")
    if not r.get("ok") or r["configs"].get("retention.ms") != ["4242", 1]:
        fail("confluent describe_configs pay: %s" % r)

    # librdkafka grows, alters (AlterConfigs replaces) and deletes.
    r = admin("ck-create-partitions", follower, "kp-made", "6")
    if r != {"kp-made": True}:
        fail("confluent create_partitions: %s" % r)
    if topic_of(ctl_run, "kp-made")["partitions"] != 6:
        fail("kp-made did not grow: %s" % topic_of(ctl_run, "kp-made"))
    r = admin("ck-alter-configs", follower, "kp-made",
              "cleanup.policy=compact")
    if not r["ok"]:
        fail("confluent alter_configs: %s" % r)
    if config_of(ctl_run, "kp-made", "cleanup.policy") != "compact" or \
            config_of(ctl_run, "kp-made", "retention.ms") is not None:
        fail("after AlterConfigs: cleanup.policy %s, retention.ms %s" %
             (config_of(ctl_run, "kp-made", "cleanup.policy"),
              config_of(ctl_run, "kp-made", "retention.ms")))
    r = admin("ck-create", follower, "ck-made", "2", "2")
    if r != {"ck-made": True} or topic_of(ctl_run, "ck-made") != \
            {"partitions": 2, "rf": 2}:
        fail("confluent create: %s, synodctl %s" %
             (r, topic_of(ctl_run, "ck-made")))
    r = admin("ck-delete", follower, "ck-made", "no-such-topic")
    if r.get("ck-made") is not True or r.get("no-such-topic") is True:
        fail("confluent delete: %s" % r)
    # A name given twice: every copy refused (INVALID_REQUEST, 42), the
    # rest deleted, as Kafka does.
    if ctl_run("topic", "create", "kp-twice", "--partitions", "1",
               "--replication-factor", "1").returncode != 0:
        fail("synodctl topic create kp-twice")
    r = admin("kp-delete", follower, "kp-twice", "kp-made", "kp-twice")
    if sorted(r["errors"]) != [["kp-made", 0], ["kp-twice", 42],
                               ["kp-twice", 42]]:
        fail("kafka-python delete: %s" % r)
    if not topic_of(ctl_run, "kp-twice"):
        fail("a topic named twice in DeleteTopics was deleted")
    if topic_of(ctl_run, "kp-made") or topic_of(ctl_run, "ck-made"):
        fail("deleted topics still described by synodctl")
    # The other way round: synodctl's topic in the clients' metadata.
    if ctl_run("topic", "create", "ctl-made", "--partitions", "2",
               "--replication-factor", "2").returncode != 0:
        fail("synodctl topic create ctl-made")
    wait_for("ctl-made in kcat -L", lambda: any(
        t["topic"] == "ctl-made" for t in kcat(follower)["topics"]))
    print("kafka: kafka-python and librdkafka admin: create, grow, alter, "
          "describe configs, delete, as synodctl sees them")

    # Consumer groups: two consumers in kg-0 (synod-sim); both clients
    # describe them as synodctl does.
    cons = reap(subprocess.Popen(
        [os.path.join(build, "synod-sim"), "--bootstrap", boot, "--brokers",
         "0", "--consumers", "2", "--subscribe", "orders", "--groups", "1",
         "--group-prefix", "kg-"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), "consumers")
    try:
        def stable():
            # Both members in: the first one alone is stable too, until
            # the second joins (seen under ASan, where it joins later).
            g = json.loads(ctl_run("--json", "group", "describe",
                                   "kg-0").stdout)
            return g if g.get("state") == "stable" and \
                len(g.get("members", [])) == 2 else None
        g = wait_for("group kg-0 stable with both members", stable)
        want = {}
        for m in g["members"]:
            parts = []
            for t in m.get("assigned", []):
                parts += ["%s-%d" % (t["topic"], p) for p in t["partitions"]]
            want[m["member_id"]] = sorted(parts)
        r = admin("kp-groups", follower)
        if ["kg-0", "consumer"] not in r["listed"]:
            fail("kafka-python list_consumer_groups: %s" % r["listed"])
        kg = r["groups"]["kg-0"]
        got = {m["id"]: m["partitions"] for m in kg["members"]}
        if kg["state"] != "Stable" or got != want:
            fail("kafka-python describes kg-0 as %s; synodctl: %s" %
                 (kg, want))
        r = admin("ck-groups", follower)
        if sorted(r["groups"]["kg-0"]["members"]) != sorted(want):
            fail("confluent list_groups: %s" % r)
    finally:
        forget(cons)
    print("kafka: both clients list and describe group kg-0 as synodctl")

    # DescribeQuorum: the leader and voters quorum status names.
    q = describe_quorum(follower)
    st = json.loads(ctl_run("--json", "quorum", "status").stdout)
    if q["error"] != 0 or q["leader"] != st["leader_id"] or \
            q["voters"] != [1, 2, 3] or q["high_watermark"] <= 0:
        fail("DescribeQuorum: %s (quorum status: leader %s)" %
             (q, st["leader_id"]))
    # ElectLeaders (preferred) for pay: every partition answered, those
    # led by their preferred replica ELECTION_NOT_NEEDED (84); broker 1
    # is fenced, so its partitions PREFERRED_LEADER_NOT_AVAILABLE (80).
    err, codes = elect_preferred(follower, "pay", [0, 1, 2])
    if err != 0 or sorted(codes) != [0, 1, 2] or \
            not set(codes.values()) <= {0, 80, 84} or \
            84 not in codes.values():
        fail("ElectLeaders: error %d, %s" % (err, codes))
    print("kafka: DescribeQuorum and ElectLeaders answer as synodctl says")

    # A request of 50,000 resources a node refuses one by one (a bad
    # resource type): every one answered INVALID_REQUEST, through a
    # follower's relay, and the active controller serves on. (Each refusal
    # once recursed: a frame of this size overflowed its stack.)
    n = 50000
    body = struct.pack(">i", n) + b"".join(
        struct.pack(">bh", 99, 10) + b"r%09d" % i + struct.pack(">i", 0)
        for i in range(n)) + b"\x00"
    b = raw_request(follower, frame(44, 0, 12, body))
    corr, _, count = struct.unpack(">iii", b[:12])
    off, codes = 12, set()
    for _ in range(count):
        code, ml = struct.unpack(">hh", b[off:off + 4])
        off += 4 + max(ml, 0) + 1
        nl = struct.unpack(">h", b[off:off + 2])[0]
        off += 2 + nl
        codes.add(code)
    if corr != 12 or count != n or codes != {42}:
        fail("IncrementalAlterConfigs of %d bad resources: %d answers, "
             "codes %s" % (n, count, codes))
    wait_for("the quorum after 50,000 refusals", lambda: json.loads(
        ctl_run("--json", "quorum", "status").stdout).get("leader_id"))
    print("kafka: 50,000 resources refused one by one, the quorum serves on")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    args = ap.parse_args()
    build = os.path.abspath(args.build_dir)
    for tool in ("kcat",):
        if shutil.which(tool) is None:
            fail("%s missing (deploy/install-deps.sh installs it)" % tool)
    if subprocess.run(["/usr/bin/python3", "-c", "import kafka"],
                      capture_output=True).returncode != 0:
        fail("kafka-python missing (python3-kafka, deploy/install-deps.sh)")
    if subprocess.run(["/usr/bin/python3", "-c", "import confluent_kafka"],
                      capture_output=True).returncode != 0:
        fail("confluent-kafka missing (python3-confluent-kafka, "
             "deploy/install-deps.sh)")
    tmp = tempfile.mkdtemp(prefix="synod-kafka-")
    base = free_base(extra=4)
    kbase = base + 400
    env = stop_with_me(dict(os.environ, SYNOD_CLUSTER_DIR=tmp,
                            SYNOD_BASE_PORT=str(base), SYNOD_BUILD_DIR=build,
                            SYNOD_FLAGS="--election-timeout-ms 300 "
                                        "--heartbeat-timeout-ms 50"))
    cluster = os.path.join(ROOT, "deploy", "cluster.sh")
    ctl = os.path.join(build, "synodctl")
    sims = []
    ok = False
    try:
        subprocess.run([cluster, "start", "3"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        boot = subprocess.run([cluster, "bootstrap"], env=env, check=True,
                              capture_output=True, text=True).stdout.strip()
        kafka = ["127.0.0.1:%d" % (base + 300 + i) for i in (1, 2, 3)]

        def ctl_run(*a):
            return subprocess.run([ctl, "-b", boot, *a],
                                  capture_output=True, text=True)
        wait_for("a leader", lambda: ctl_run(
            "config", "set", "broker.session.timeout.ms=1500",
            "broker.heartbeat.interval.ms=300").returncode == 0)
        # Broker 1 in a process of its own, killed when the test fences
        # it (below): a crash on a timer would come early on a slow
        # machine, before the checks that want it alive.
        sims = [reap(subprocess.Popen(
            [os.path.join(build, "synod-sim"), "--bootstrap", boot,
             "--brokers", str(n), "--first-id", str(first), "--racks", "2",
             "--kafka-port-base", str(kbase)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
            "sim-%d" % first) for first, n in ((1, 1), (2, 3))]
        wait_for("four brokers", lambda: ctl_run(
            "topic", "create", "orders", "--partitions", "6",
            "--replication-factor", "3").returncode == 0)
        if ctl_run("topic", "create", "pay", "--partitions", "3",
                   "--replication-factor", "2").returncode != 0:
            fail("cannot create pay")
        topics = ["orders", "pay"]  # and "held", below

        # Every node answers as synodctl describes (its store may trail
        # by an entry: wait for agreement).
        for addr in kafka:
            want = described(ctl_run, topics)
            wait_for("kcat -L at %s to agree" % addr,
                     lambda: from_kcat(kcat(addr)) == want)
            md = kcat(addr)
            ids = sorted(b["id"] for b in md["brokers"])
            if ids != [1, 2, 3, 4]:
                fail("%s lists brokers %s" % (addr, ids))
            if md.get("controllerid") != 1:
                fail("%s names controller %s, not the lowest live broker"
                     % (addr, md.get("controllerid")))
        print("kafka: kcat -L agrees with synodctl on 3 nodes")
        # A simulated broker's listener: brokers at their Kafka ports.
        broker2 = "127.0.0.1:%d" % (kbase + 2)
        want = described(ctl_run, topics)
        wait_for("kcat -L at broker 2 to agree",
                 lambda: from_kcat(kcat(broker2)) == want)
        md = kcat(broker2)
        got = sorted((b["id"], b["name"]) for b in md["brokers"])
        if got != [(i, "127.0.0.1:%d" % (kbase + i)) for i in (1, 2, 3, 4)]:
            fail("broker 2 lists brokers %s" % got)
        print("kafka: kcat -L agrees with synodctl at a simulated broker")
        # Broker 2's view holds every partition (synod-sim's brokers ask
        # for all_partitions): Metadata for every topic, and for a topic
        # it does not replicate, is answered from its view, with nothing
        # relayed to the active controller.
        if ctl_run("topic", "create", "held", "--replica-assignment",
                   "1:3,4:3,3:1").returncode != 0:
            fail("cannot create held")
        topics.append("held")
        want = described(ctl_run, topics)
        wait_for("kcat -L at broker 2 to see held",
                 lambda: from_kcat(kcat(broker2)) == want)
        before = relayed(base)
        for _ in range(3):
            if from_kcat(kcat(broker2)) != want or \
                    from_kcat(kcat(broker2, "held")) != \
                    described(ctl_run, ["held"]):
                fail("broker 2's own answers differ from synodctl")
        if relayed(base) != before:
            fail("broker 2 relayed Metadata its view holds (%d -> %d)" %
                 (before, relayed(base)))
        print("kafka: broker 2 answers every topic from its view "
              "(nothing relayed)")

        # kafka-python: brokers with racks, partitions, leaders.
        out = subprocess.run(
            ["/usr/bin/python3",
             os.path.join(HERE, "kafka_python_metadata.py"), kafka[1]],
            capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            fail("kafka-python: " + out.stderr[-2000:])
        kp = json.loads(out.stdout.strip().splitlines()[-1])
        want = described(ctl_run, topics)
        if sorted(kp["topics"]) != sorted(topics):
            fail("kafka-python sees topics %s" % kp["topics"])
        for name, leader in kp["leaders"].items():
            if want[name][0] != leader:
                fail("kafka-python: %s led by %s, synodctl says %s" %
                     (name, leader, want[name][0]))
        racks = {b[0]: b[3] for b in kp["brokers"]}
        if not all(racks.get(i) for i in (1, 2, 3, 4)):
            fail("kafka-python sees brokers %s" % kp["brokers"])
        print("kafka: kafka-python agrees (brokers, racks, leaders)")

        # Broker 1 stops heartbeating (its process killed) and is fenced:
        # gone from the list, its partitions led elsewhere, as synodctl
        # says.
        forget(sims.pop(0))  # broker 1
        def fenced():
            j = json.loads(ctl_run("--json", "broker", "describe",
                                   "1").stdout)
            return j.get("state") == "fenced"
        wait_for("broker 1 fenced", fenced, timeout=40)
        want = described(ctl_run, topics)
        if any(v[0] == 1 for v in want.values()):
            fail("broker 1 still leads after its fence")
        for addr in (kafka[2], "127.0.0.1:%d" % (kbase + 3)):
            wait_for("kcat at %s to see the new leaders" % addr,
                     lambda: from_kcat(kcat(addr)) == want)
            md = kcat(addr)
            if sorted(b["id"] for b in md["brokers"]) != [2, 3, 4]:
                fail("%s lists a fenced broker: %s" % (addr, md["brokers"]))
        print("kafka: after the fence, the new leaders and 3 brokers "
              "(controller node and surviving broker)")

        admin_checks(ctl_run, kafka, build, boot)

        # Bad input: each closes its own connection, nothing else.
        bad = {
            "a frame above the limit": struct.pack(">i", (1 << 20) + 1) +
            b"x" * 16,
            "a negative size": struct.pack(">i", -5),
            "an unknown API key": frame(9999, 0, 1),
            "garbage": b"\x00\x00\x00\x0bGET / HTTP/1.1\r\n",
            "a truncated Metadata body": frame(3, 4, 2, b"\x00\x00\x00\x05"),
            "Metadata v13": frame(3, 13, 3, b"\x00"),
        }
        for what, data in bad.items():
            if not closed_after(kafka[0], data):
                fail("%s was answered" % what)
        host, port = kafka[0].rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=5)
        s.sendall(frame(18, 9, 77))
        size = struct.unpack(">i", s.recv(4))[0]
        body = b""
        while len(body) < size:
            body += s.recv(size - len(body))
        s.close()
        corr, err, n = struct.unpack(">ihi", body[:10])
        if corr != 77 or err != 35 or n < 2:
            fail("ApiVersions v9: corr %d error %d keys %d" % (corr, err, n))
        wait_for("kcat after the bad input", lambda: kcat(kafka[0]))
        print("kafka: bad input refused, the listener serves on")
        ok = True
    finally:
        for sim in sims:
            forget(sim)
        subprocess.run([cluster, "stop"], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        # Under the sanitizers (tests/run.sh), a daemon's report fails
        # the test even when every answer was right.
        reports = 0
        for i in (1, 2, 3):
            try:
                with open(os.path.join(tmp, "node-%d.log" % i)) as f:
                    log = f.read()
            except OSError:
                continue
            for bad in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                        "runtime error:"):
                if bad in log:
                    ok = False
                    reports += 1
                    print("kafka test: node %d: %s (log in %s)" %
                          (i, bad, tmp), file=sys.stderr)
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kafka test: logs kept in %s" % tmp, file=sys.stderr)
        if reports:
            sys.exit("kafka test: %d sanitizer reports" % reports)


if __name__ == "__main__":
    main()
