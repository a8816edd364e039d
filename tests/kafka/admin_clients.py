"""tests/kafka/admin_clients.py - one admin operation through a real Kafka
client, its outcome printed as one JSON line (tests/kafka/run.py checks it
against synodctl). Run with Debian's /usr/bin/python3: kafka-python
(python3-kafka) for the `kp-*` operations, confluent-kafka (librdkafka,
python3-confluent-kafka) for the `ck-*` ones.

  admin_clients.py OP BOOTSTRAP [ARGS...]
"""
import json
import sys


def out(v):
    print(json.dumps(v, sort_keys=True))


def kp(addr):
    from kafka.admin import KafkaAdminClient
    return KafkaAdminClient(bootstrap_servers=addr, request_timeout_ms=10000,
                            api_version_auto_timeout_ms=10000)


def ck(addr):
    from confluent_kafka.admin import AdminClient
    return AdminClient({"bootstrap.servers": addr})


def ck_wait(client, fs):
    """client: kept alive until the futures resolve."""
    res = {}
    for k, f in fs.items():
        try:
            v = f.result(20)
            res[str(k)] = {"ok": True, "value": v}
        except Exception as e:  # the client's error, reported
            res[str(k)] = {"ok": False, "error": str(e)}
    return res


def kp_create(addr, name, parts, rf, *configs):
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError
    cfg = dict(c.split("=", 1) for c in configs)
    try:
        r = kp(addr).create_topics(
            [NewTopic(name, int(parts), int(rf), topic_configs=cfg)])
    except KafkaError as e:  # kafka-python raises the topic's error
        out({"errors": [[name, e.errno]]})
        return
    out({"errors": [[t[0], t[1]] for t in r.topic_errors]})


def kp_describe_configs(addr, kind, name):
    from kafka.admin import ConfigResource, ConfigResourceType
    t = ConfigResourceType.TOPIC if kind == "topic" else \
        ConfigResourceType.BROKER
    r = kp(addr).describe_configs([ConfigResource(t, name)])
    res = r[0].resources[0]
    out({"error": res[0], "configs": {c[0]: [c[1], c[3]] for c in res[4]}})


def kp_delete(addr, *names):
    """Every topic's error code. kafka-python raises when any is not 0,
    so the request goes to the controller through its client, answer
    whole."""
    from kafka.protocol.admin import DeleteTopicsRequest
    a = kp(addr)
    f = a._client.send(a._controller_id,
                       DeleteTopicsRequest[3](topics=list(names),
                                              timeout=10000))
    a._client.poll(future=f)
    if f.failed():
        raise f.exception
    out({"errors": [[t[0], t[1]] for t in f.value.topic_error_codes]})


def kp_groups(addr):
    a = kp(addr)
    listed = a.list_consumer_groups()
    ids = sorted(g[0] for g in listed)
    groups = {}
    for d in a.describe_consumer_groups(ids):
        members = []
        for m in d.members:
            parts = []
            for t, ps in m.member_assignment.assignment:
                parts += ["%s-%d" % (t, p) for p in ps]
            members.append({"id": m.member_id, "client": m.client_id,
                            "topics": list(m.member_metadata.subscription),
                            "partitions": sorted(parts)})
        groups[d.group] = {"state": d.state, "protocol_type": d.protocol_type,
                           "assignor": d.protocol, "members": members}
    out({"listed": [[g[0], g[1]] for g in listed], "groups": groups})


def ck_describe_configs(addr, name):
    from confluent_kafka.admin import ConfigResource
    a = ck(addr)
    r = ck_wait(a, a.describe_configs([ConfigResource("topic", name)]))
    v = list(r.values())[0]
    if not v["ok"]:
        out(v)
        return
    out({"ok": True, "configs": {k: [c.value, int(c.source)]
                                 for k, c in v["value"].items()}})


def ck_create_partitions(addr, name, total):
    from confluent_kafka.admin import NewPartitions
    a = ck(addr)
    r = ck_wait(a, a.create_partitions([NewPartitions(name, int(total))]))
    out({k: v["ok"] or v["error"] for k, v in r.items()})


def ck_alter_configs(addr, name, *configs):
    from confluent_kafka.admin import ConfigResource
    cfg = dict(c.split("=", 1) for c in configs)
    a = ck(addr)
    r = ck_wait(a, a.alter_configs(
        [ConfigResource("topic", name, set_config=cfg)]))
    out({"ok": all(v["ok"] for v in r.values()),
         "errors": [v.get("error") for v in r.values()]})


def ck_create(addr, name, parts, rf):
    from confluent_kafka.admin import NewTopic
    a = ck(addr)
    r = ck_wait(a, a.create_topics([NewTopic(name, int(parts), int(rf))]))
    out({k: v["ok"] or v["error"] for k, v in r.items()})


def ck_delete(addr, *names):
    a = ck(addr)
    r = ck_wait(a, a.delete_topics(list(names)))
    out({k: v["ok"] or v["error"] for k, v in r.items()})


def ck_groups(addr):
    gs = ck(addr).list_groups(timeout=20)
    groups = {}
    for g in gs:
        groups[g.id] = {"state": g.state, "protocol_type": g.protocol_type,
                        "members": sorted(m.id for m in g.members)}
    out({"groups": groups})


OPS = {
    "kp-create": kp_create,
    "kp-describe-configs": kp_describe_configs,
    "kp-delete": kp_delete,
    "kp-groups": kp_groups,
    "ck-create": ck_create,
    "ck-describe-configs": ck_describe_configs,
    "ck-create-partitions": ck_create_partitions,
    "ck-alter-configs": ck_alter_configs,
    "ck-delete": ck_delete,
    "ck-groups": ck_groups,
}

if __name__ == "__main__":
    OPS[sys.argv[1]](*sys.argv[2:])
