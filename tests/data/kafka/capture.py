"""tests/data/kafka/capture.py - record the admin requests real Kafka
clients send, as test_kafka_codec's captures.

A fake Kafka broker on 127.0.0.1 (one thread per connection) answers
ApiVersions (v0-3) with Synod's versions of the admin APIs and Metadata
(v0-8) naming itself broker 1 and controller 1 (so the clients send it
their admin requests too); every other request frame is written whole
(size prefix, header, body) to <client>-<api>-v<N>.bin next to this
script, and its connection is closed (the client gives up; the test only
wants its bytes). Run with Debian's /usr/bin/python3 (python3-kafka,
python3-confluent-kafka):

  /usr/bin/python3 tests/data/kafka/capture.py
"""
import os
import socket
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NAMES = {10: "findcoordinator", 15: "describegroups", 16: "listgroups",
         19: "createtopics", 20: "deletetopics", 32: "describeconfigs",
         33: "alterconfigs", 37: "createpartitions", 43: "electleaders",
         44: "incrementalalterconfigs"}
# The versions Synod serves (net/kafka_server.c), advertised.
APIS = [(3, 0, 12), (10, 0, 4), (15, 0, 5), (16, 0, 4), (18, 0, 3),
        (19, 0, 7), (20, 0, 6), (32, 0, 4), (33, 0, 2), (37, 0, 3),
        (43, 0, 2), (44, 0, 1), (55, 0, 1), (60, 0, 1), (69, 0, 0)]
client = "client"
seen = set()


def s16(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def api_versions(corr, ver):
    if ver >= 3:  # flexible body, response header v0
        body = struct.pack(">h", 0) + bytes([len(APIS) + 1])
        for k, lo, hi in APIS:
            body += struct.pack(">hhh", k, lo, hi) + b"\x00"
        body += struct.pack(">i", 0) + b"\x00"
    else:
        body = struct.pack(">hi", 0, len(APIS))
        for k, lo, hi in APIS:
            body += struct.pack(">hhh", k, lo, hi)
        if ver >= 1:
            body += struct.pack(">i", 0)
    return struct.pack(">i", corr) + body


def metadata(corr, ver, port):
    body = b""
    if ver >= 3:
        body += struct.pack(">i", 0)
    body += struct.pack(">i", 1) + struct.pack(">i", 1) + s16("127.0.0.1")
    body += struct.pack(">i", port)
    if ver >= 1:
        body += struct.pack(">h", -1)  # rack null
    if ver >= 2:
        body += s16("capture")
    if ver >= 1:
        body += struct.pack(">i", 1)  # controller id
    body += struct.pack(">i", 0)  # no topics
    if ver >= 8:
        body += struct.pack(">i", -2147483648)
    return struct.pack(">i", corr) + body


def serve(conn, port):
    try:
        while True:
            head = conn.recv(4, socket.MSG_WAITALL)
            if len(head) < 4:
                return
            size = struct.unpack(">i", head)[0]
            msg = conn.recv(size, socket.MSG_WAITALL)
            key, ver, corr = struct.unpack(">hhi", msg[:8])
            if key == 18:
                out = api_versions(corr, ver if ver <= 3 else 0)
            elif key == 3 and ver <= 8:
                out = metadata(corr, ver, port)
            else:
                name = "%s-%s-v%d.bin" % (client, NAMES.get(key, str(key)),
                                          ver)
                if name not in seen:
                    seen.add(name)
                    with open(os.path.join(HERE, name), "wb") as f:
                        f.write(head + msg)
                    print("captured", name)
                return
            conn.sendall(struct.pack(">i", len(out)) + out)
    finally:
        conn.close()


def listen():
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    port = ls.getsockname()[1]

    def loop():
        while True:
            c, _ = ls.accept()
            threading.Thread(target=serve, args=(c, port),
                             daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()
    return "127.0.0.1:%d" % port


def try_(fn):
    try:
        fn()
    except Exception:  # the fake broker closes: expected
        pass


def librdkafka(addr):
    from confluent_kafka.admin import (AdminClient, ConfigResource, NewTopic,
                                       NewPartitions)
    a = AdminClient({"bootstrap.servers": addr, "socket.timeout.ms": 2000,
                     "message.timeout.ms": 2000})

    def wait(fs):
        for f in fs.values():
            try_(lambda: f.result(3))
    wait(a.create_topics([NewTopic("orders", 6, 3,
                                   config={"retention.ms": "1000"})],
                         request_timeout=2))
    wait(a.delete_topics(["orders", "pay"], request_timeout=2))
    wait(a.create_partitions([NewPartitions("orders", 8)],
                             request_timeout=2))
    wait(a.describe_configs([ConfigResource("topic", "orders")],
                            request_timeout=2))
    wait(a.alter_configs([ConfigResource(
        "topic", "orders", set_config={"retention.ms": "5"})],
        request_timeout=2))
    try_(lambda: a.list_groups(timeout=3))


def kafka_python(addr):
    from kafka.admin import (ConfigResource, ConfigResourceType,
                             KafkaAdminClient, NewPartitions, NewTopic)
    a = KafkaAdminClient(bootstrap_servers=addr, request_timeout_ms=2000,
                         api_version_auto_timeout_ms=2000)
    try_(lambda: a.create_topics([NewTopic("orders", 6, 3)]))
    try_(lambda: a.delete_topics(["orders"]))
    try_(lambda: a.create_partitions({"orders": NewPartitions(8)}))
    try_(lambda: a.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, "orders")]))
    try_(lambda: a.alter_configs(
        [ConfigResource(ConfigResourceType.TOPIC, "orders",
                        configs={"retention.ms": "5"})]))
    try_(lambda: a.list_consumer_groups())
    try_(lambda: a.describe_consumer_groups(["g1"]))


def main():
    global client
    addr = listen()
    client = "librdkafka-2.0.2"
    librdkafka(addr)
    client = "kafka-python-2.0.2"
    kafka_python(addr)
    time.sleep(0.5)
    print("%d captures in %s" % (len(seen), HERE))


if __name__ == "__main__":
    sys.exit(main())
