#!/usr/bin/env python3
"""tests/kafka/run.py - the Kafka-protocol listener of controller nodes
(docs/kafka.md) driven by real Kafka clients: kcat (librdkafka) and
kafka-python, from Debian's packages.

Invariants checked:
- `kcat -L` against any controller node's Kafka port lists every live
  broker (id, host:port) and every topic's partitions with the leader,
  replicas and ISR that `synodctl topic describe --json` says;
- kafka-python (an independent implementation) sees the same brokers,
  racks, partitions and leaders;
- after a broker stops and is fenced, the listener answers without it and
  with the partitions' new leaders, still as synodctl says;
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

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
from local_cluster import free_base  # noqa: E402


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


def kcat(addr):
    out = subprocess.run(["kcat", "-L", "-J", "-b", addr, "-m", "5"],
                         capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip())
    return json.loads(out.stdout)


def described(ctl_run, topics):
    j = json.loads(ctl_run("--json", "topic", "describe", *topics).stdout)
    got = {}
    for t in j["topics"]:
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
    tmp = tempfile.mkdtemp(prefix="synod-kafka-")
    base = free_base()
    env = dict(os.environ, SYNOD_CLUSTER_DIR=tmp, SYNOD_BASE_PORT=str(base),
               SYNOD_BUILD_DIR=build,
               SYNOD_FLAGS="--election-timeout-ms 300 "
                           "--heartbeat-timeout-ms 50 "
                           "--kafka-max-request-bytes 4096")
    cluster = os.path.join(ROOT, "deploy", "cluster.sh")
    ctl = os.path.join(build, "synodctl")
    sim = None
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
        sim = subprocess.Popen(
            [os.path.join(build, "synod-sim"), "--bootstrap", boot,
             "--brokers", "4", "--first-id", "1", "--racks", "2",
             "--crash", "1", "--crash-after", "6000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for("four brokers", lambda: ctl_run(
            "topic", "create", "orders", "--partitions", "6",
            "--replication-factor", "3").returncode == 0)
        if ctl_run("topic", "create", "pay", "--partitions", "3",
                   "--replication-factor", "2").returncode != 0:
            fail("cannot create pay")
        topics = ["orders", "pay"]

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
        print("kafka: kcat -L agrees with synodctl on 3 nodes")

        # kafka-python: brokers with racks, partitions, leaders.
        out = subprocess.run(
            ["/usr/bin/python3",
             os.path.join(HERE, "kafka_python_metadata.py"), kafka[1]],
            capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            fail("kafka-python: " + out.stderr[-2000:])
        kp = json.loads(out.stdout.strip().splitlines()[-1])
        want = described(ctl_run, topics)
        if sorted(kp["topics"]) != topics:
            fail("kafka-python sees topics %s" % kp["topics"])
        for name, leader in kp["leaders"].items():
            if want[name][0] != leader:
                fail("kafka-python: %s led by %s, synodctl says %s" %
                     (name, leader, want[name][0]))
        racks = {b[0]: b[3] for b in kp["brokers"]}
        if not all(racks.get(i) for i in (1, 2, 3, 4)):
            fail("kafka-python sees brokers %s" % kp["brokers"])
        print("kafka: kafka-python agrees (brokers, racks, leaders)")

        # Broker 1 stops heartbeating and is fenced: gone from the list,
        # its partitions led elsewhere, as synodctl says.
        def fenced():
            j = json.loads(ctl_run("--json", "broker", "describe",
                                   "1").stdout)
            return j.get("state") == "fenced"
        wait_for("broker 1 fenced", fenced, timeout=40)
        want = described(ctl_run, topics)
        if any(v[0] == 1 for v in want.values()):
            fail("broker 1 still leads after its fence")
        wait_for("kcat to see the new leaders",
                 lambda: from_kcat(kcat(kafka[2])) == want)
        md = kcat(kafka[2])
        if sorted(b["id"] for b in md["brokers"]) != [2, 3, 4]:
            fail("a fenced broker is still listed: %s" % md["brokers"])
        print("kafka: after the fence, the new leaders and 3 brokers")

        # Bad input: each closes its own connection, nothing else.
        bad = {
            "a frame above the limit": struct.pack(">i", 1 << 20) + b"x" * 16,
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
        if sim:
            sim.kill()
        subprocess.run([cluster, "stop"], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kafka test: logs kept in %s" % tmp, file=sys.stderr)


if __name__ == "__main__":
    main()
