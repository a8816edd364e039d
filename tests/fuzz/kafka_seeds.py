"""tests/fuzz/kafka_seeds.py - seeds for fuzz_kafka written by a real Kafka
client's encoder: kafka-python 2.0.2 (Debian's python3-kafka) encodes the
admin requests it sends to a Synod listener (every version it has of
CreateTopics, DeleteTopics, CreatePartitions, DescribeConfigs,
AlterConfigs, ListGroups, DescribeGroups, FindCoordinator), each written
as a frame (4-byte size, header v1, body) to
tests/fuzz/corpus/kafka/kafka-python-<api>-v<N>.bin.

  /usr/bin/python3 tests/fuzz/kafka_seeds.py
"""
import os
import struct

from kafka.protocol.admin import (AlterConfigsRequest, CreatePartitionsRequest,
                                  CreateTopicsRequest, DeleteTopicsRequest,
                                  DescribeConfigsRequest,
                                  DescribeGroupsRequest, ListGroupsRequest)
from kafka.protocol.commit import GroupCoordinatorRequest
from kafka.protocol.frame import KafkaBytes  # noqa: F401 (a real install)
from kafka.protocol.struct import Struct  # noqa: F401

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus",
                   "kafka")


def frame(req, corr):
    body = req.encode()
    client = b"kafka-python"
    head = struct.pack(">hhih", req.API_KEY, req.API_VERSION, corr,
                       len(client)) + client
    msg = head + body
    return struct.pack(">i", len(msg)) + msg


def samples():
    topic = ("orders", 6, 3, [], [("retention.ms", "86400000")])
    assigned = ("pay", -1, -1, [(0, [1, 2]), (1, [2, 3])], [])
    for v, cls in enumerate(CreateTopicsRequest):
        args = ([topic, assigned], 30000) if v == 0 else \
            ([topic, assigned], 30000, v % 2 == 1)
        yield "createtopics", v, cls(*args)
    for v, cls in enumerate(DeleteTopicsRequest):
        yield "deletetopics", v, cls(["orders", "pay"], 30000)
    for v, cls in enumerate(CreatePartitionsRequest):
        yield "createpartitions", v, cls(
            [("orders", (8, None)), ("pay", (4, [[1, 2], [3, 1]]))], 30000,
            False)
    for v, cls in enumerate(DescribeConfigsRequest):
        res = [(2, "orders", None), (4, "1", ["log.retention.ms"])]
        yield "describeconfigs", v, cls(res) if v == 0 else cls(res, True)
    for v, cls in enumerate(AlterConfigsRequest):
        yield "alterconfigs", v, cls(
            [(2, "orders", [("retention.ms", "1000"),
                            ("cleanup.policy", None)])], False)
    for v, cls in enumerate(ListGroupsRequest):
        yield "listgroups", v, cls()
    for v, cls in enumerate(DescribeGroupsRequest):
        args = (["g1", "g2"],) if v < 3 else (["g1", "g2"], True)
        yield "describegroups", v, cls(*args)
    for v, cls in enumerate(GroupCoordinatorRequest):
        yield "findcoordinator", v, cls("g1") if v == 0 else cls("g1", 0)


def main():
    os.makedirs(OUT, exist_ok=True)
    n = 0
    for name, v, req in samples():
        path = os.path.join(OUT, "kafka-python-%s-v%d.bin" % (name, v))
        data = frame(req, 100 + n)
        with open(path, "wb") as f:
            f.write(data)
        n += 1
    print("wrote %d seeds to %s" % (n, OUT))


if __name__ == "__main__":
    main()
