import sys, json
from kafka import KafkaConsumer
c = KafkaConsumer(bootstrap_servers=sys.argv[1], request_timeout_ms=5000, api_version_auto_timeout_ms=5000)
topics = c.topics()
out = {}
for t in sorted(topics):
    out[t] = sorted(c.partitions_for_topic(t))
md = c._client.cluster
brokers = sorted((b.nodeId, b.host, b.port, b.rack) for b in md.brokers())
leaders = {}
for t in sorted(topics):
    for p in sorted(c.partitions_for_topic(t)):
        from kafka.structs import TopicPartition
        leaders["%s-%d" % (t, p)] = md.leader_for_partition(TopicPartition(t, p))
print(json.dumps({"topics": out, "brokers": brokers, "leaders": leaders}))
c.close()
