/* net/kafka_apis.c - the schemas of the Kafka messages Synod speaks
 * (docs/kafka.md), transcribed from Kafka's message definitions
 * (clients/src/main/resources/common/message/ in Kafka's sources): field order,
 * types, versions, nullable versions, defaults and tags. One table per message;
 * net/kafka.c reads and writes them. */
#include "kafka_apis.h"

/* F(name, type, min, max, null_min, def): an untagged field. */
#define F(n, t, lo, hi, nl, d)                                                 \
	{                                                                      \
		n, t, 0, NULL, lo, hi, nl, -1, d                               \
	}
#define A(n, et, sc, lo, hi, nl)                                               \
	{                                                                      \
		n, KF_ARRAY, et, sc, lo, hi, nl, -1, 0                         \
	}
#define ANY KF_NEVER
#define NEVER KF_NEVER

/* ---- ApiVersions (18), versions 0-3, flexible from 3 ---- */

static const struct kf_field api_versions_req_f[] = {
    F("client_software_name", KF_STRING, 3, ANY, NEVER, 0),
    F("client_software_version", KF_STRING, 3, ANY, NEVER, 0),
};
const struct kf_schema kf_api_versions_request = {"ApiVersionsRequest",
						  api_versions_req_f, 2};

static const struct kf_field api_version_f[] = {
    F("api_key", KF_INT16, 0, ANY, NEVER, 0),
    F("min_version", KF_INT16, 0, ANY, NEVER, 0),
    F("max_version", KF_INT16, 0, ANY, NEVER, 0),
};
const struct kf_schema kf_api_version = {"ApiVersion", api_version_f, 3};

static const struct kf_field api_versions_resp_f[] = {
    F("error_code", KF_INT16, 0, ANY, NEVER, 0),
    A("api_keys", KF_STRUCT, &kf_api_version, 0, ANY, NEVER),
    F("throttle_time_ms", KF_INT32, 1, ANY, NEVER, 0),
};
const struct kf_schema kf_api_versions_response = {"ApiVersionsResponse",
						   api_versions_resp_f, 3};

/* ---- Metadata (3), versions 0-12, flexible from 9 ---- */

static const struct kf_field metadata_req_topic_f[] = {
    F("topic_id", KF_UUID, 10, ANY, NEVER, 0),
    F("name", KF_STRING, 0, ANY, 10, 0),
};
const struct kf_schema kf_metadata_request_topic = {"MetadataRequestTopic",
						    metadata_req_topic_f, 2};

static const struct kf_field metadata_req_f[] = {
    A("topics", KF_STRUCT, &kf_metadata_request_topic, 0, ANY, 1),
    F("allow_auto_topic_creation", KF_BOOL, 4, ANY, NEVER, 1),
    F("include_cluster_authorized_operations", KF_BOOL, 8, 10, NEVER, 0),
    F("include_topic_authorized_operations", KF_BOOL, 8, ANY, NEVER, 0),
};
const struct kf_schema kf_metadata_request = {"MetadataRequest", metadata_req_f,
					      4};

static const struct kf_field metadata_broker_f[] = {
    F("node_id", KF_INT32, 0, ANY, NEVER, 0),
    F("host", KF_STRING, 0, ANY, NEVER, 0),
    F("port", KF_INT32, 0, ANY, NEVER, 0),
    F("rack", KF_STRING, 1, ANY, 1, 0),
};
const struct kf_schema kf_metadata_broker = {"MetadataResponseBroker",
					     metadata_broker_f, 4};

static const struct kf_field metadata_partition_f[] = {
    F("error_code", KF_INT16, 0, ANY, NEVER, 0),
    F("partition_index", KF_INT32, 0, ANY, NEVER, 0),
    F("leader_id", KF_INT32, 0, ANY, NEVER, 0),
    F("leader_epoch", KF_INT32, 7, ANY, NEVER, -1),
    A("replica_nodes", KF_INT32, NULL, 0, ANY, NEVER),
    A("isr_nodes", KF_INT32, NULL, 0, ANY, NEVER),
    A("offline_replicas", KF_INT32, NULL, 5, ANY, NEVER),
};
const struct kf_schema kf_metadata_partition = {"MetadataResponsePartition",
						metadata_partition_f, 7};

static const struct kf_field metadata_topic_f[] = {
    F("error_code", KF_INT16, 0, ANY, NEVER, 0),
    F("name", KF_STRING, 0, ANY, 12, 0),
    F("topic_id", KF_UUID, 10, ANY, NEVER, 0),
    F("is_internal", KF_BOOL, 1, ANY, NEVER, 0),
    A("partitions", KF_STRUCT, &kf_metadata_partition, 0, ANY, NEVER),
    F("topic_authorized_operations", KF_INT32, 8, ANY, NEVER, INT32_MIN),
};
const struct kf_schema kf_metadata_topic = {"MetadataResponseTopic",
					    metadata_topic_f, 6};

static const struct kf_field metadata_resp_f[] = {
    F("throttle_time_ms", KF_INT32, 3, ANY, NEVER, 0),
    A("brokers", KF_STRUCT, &kf_metadata_broker, 0, ANY, NEVER),
    F("cluster_id", KF_STRING, 2, ANY, 2, 0),
    F("controller_id", KF_INT32, 1, ANY, NEVER, -1),
    A("topics", KF_STRUCT, &kf_metadata_topic, 0, ANY, NEVER),
    F("cluster_authorized_operations", KF_INT32, 8, 10, NEVER, INT32_MIN),
};
const struct kf_schema kf_metadata_response = {"MetadataResponse",
					       metadata_resp_f, 6};
