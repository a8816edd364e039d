/* net/kafka_admin_apis.c - the schemas of the Kafka admin messages Synod
 * speaks (docs/kafka.md), transcribed from Kafka's message definitions
 * (clients/src/main/resources/common/message/ in Kafka's sources,
 * <Name>Request.json and <Name>Response.json, and ConsumerProtocol
 * Subscription.json and Assignment.json): field order, types, versions,
 * nullable versions, defaults and tags, over the version ranges given per
 * API below (fields that only exist in later versions are left out). One
 * table per message or nested struct; net/kafka.c reads and writes them. */
#include "kafka_admin_apis.h"

/* F(name, type, min, max, null_min, def): an untagged field. */
#define F(n, t, lo, hi, nl, d)                                                 \
	{                                                                      \
		n, t, 0, NULL, lo, hi, nl, -1, d                               \
	}
/* T(name, type, min, max, null_min, def, tag): a tagged field. */
#define T(n, t, lo, hi, nl, d, tag)                                            \
	{                                                                      \
		n, t, 0, NULL, lo, hi, nl, tag, d                              \
	}
#define A(n, et, sc, lo, hi, nl)                                               \
	{                                                                      \
		n, KF_ARRAY, et, sc, lo, hi, nl, -1, 0                         \
	}
/* S(name, schema, min, max, null_min): a nested struct. */
#define S(n, sc, lo, hi, nl)                                                   \
	{                                                                      \
		n, KF_STRUCT, 0, sc, lo, hi, nl, -1, 0                         \
	}
#define ANY KF_NEVER
#define NEVER KF_NEVER
#define N(f) ((unsigned)(sizeof(f) / sizeof((f)[0])))

/* ---- DescribeGroups (15), versions 0-5, flexible from 5 ---- */

static const struct kf_field describe_groups_req_f[] = {
    A("groups", KF_STRING, NULL, 0, ANY, NEVER),
    F("include_authorized_operations", KF_BOOL, 3, ANY, NEVER, 0),
};
const struct kf_schema kf_describe_groups_request = {
    "DescribeGroupsRequest", describe_groups_req_f, N(describe_groups_req_f)};

static const struct kf_field described_group_member_f[] = {
    F("member_id", KF_STRING, 0, ANY, NEVER, 0),
    F("group_instance_id", KF_STRING, 4, ANY, 4, 0),
    F("client_id", KF_STRING, 0, ANY, NEVER, 0),
    F("client_host", KF_STRING, 0, ANY, NEVER, 0),
    F("member_metadata", KF_BYTES, 0, ANY, NEVER, 0),
    F("member_assignment", KF_BYTES, 0, ANY, NEVER, 0),
};
const struct kf_schema kf_described_group_member = {
    "DescribedGroupMember", described_group_member_f,
    N(described_group_member_f)};

static const struct kf_field described_group_f[] = {
    F("error_code", KF_INT16, 0, ANY, NEVER, 0),
    F("group_id", KF_STRING, 0, ANY, NEVER, 0),
    F("group_state", KF_STRING, 0, ANY, NEVER, 0),
    F("protocol_type", KF_STRING, 0, ANY, NEVER, 0),
    F("protocol_data", KF_STRING, 0, ANY, NEVER, 0),
    A("members", KF_STRUCT, &kf_described_group_member, 0, ANY, NEVER),
    F("authorized_operations", KF_INT32, 3, ANY, NEVER, INT32_MIN),
};
const struct kf_schema kf_described_group = {
    "DescribedGroup", described_group_f, N(described_group_f)};

static const struct kf_field describe_groups_resp_f[] = {
    F("throttle_time_ms", KF_INT32, 1, ANY, NEVER, 0),
    A("groups", KF_STRUCT, &kf_described_group, 0, ANY, NEVER),
};
const struct kf_schema kf_describe_groups_response = {
    "DescribeGroupsResponse", describe_groups_resp_f,
    N(describe_groups_resp_f)};

/* ---- FindCoordinator (10), versions 0-4, flexible from 3 ---- */

static const struct kf_field find_coordinator_req_f[] = {
    F("key", KF_STRING, 0, 3, NEVER, 0),
    F("key_type", KF_INT8, 1, ANY, NEVER, 0),
    A("coordinator_keys", KF_STRING, NULL, 4, ANY, NEVER),
};
const struct kf_schema kf_find_coordinator_request = {
    "FindCoordinatorRequest", find_coordinator_req_f,
    N(find_coordinator_req_f)};

static const struct kf_field coordinator_f[] = {
    F("key", KF_STRING, 4, ANY, NEVER, 0),
    F("node_id", KF_INT32, 4, ANY, NEVER, 0),
    F("host", KF_STRING, 4, ANY, NEVER, 0),
    F("port", KF_INT32, 4, ANY, NEVER, 0),
    F("error_code", KF_INT16, 4, ANY, NEVER, 0),
    F("error_message", KF_STRING, 4, ANY, 4, 0),
};
const struct kf_schema kf_coordinator = {"Coordinator", coordinator_f,
					 N(coordinator_f)};

static const struct kf_field find_coordinator_resp_f[] = {
    F("throttle_time_ms", KF_INT32, 1, ANY, NEVER, 0),
    F("error_code", KF_INT16, 0, 3, NEVER, 0),
    F("error_message", KF_STRING, 1, 3, 1, 0),
    F("node_id", KF_INT32, 0, 3, NEVER, 0),
    F("host", KF_STRING, 0, 3, NEVER, 0),
    F("port", KF_INT32, 0, 3, NEVER, 0),
    A("coordinators", KF_STRUCT, &kf_coordinator, 4, ANY, NEVER),
};
const struct kf_schema kf_find_coordinator_response = {
    "FindCoordinatorResponse", find_coordinator_resp_f,
    N(find_coordinator_resp_f)};

/* ---- ListGroups (16), versions 0-4, flexible from 3 ---- */

static const struct kf_field list_groups_req_f[] = {
    A("states_filter", KF_STRING, NULL, 4, ANY, NEVER),
};
const struct kf_schema kf_list_groups_request = {
    "ListGroupsRequest", list_groups_req_f, N(list_groups_req_f)};

static const struct kf_field listed_group_f[] = {
    F("group_id", KF_STRING, 0, ANY, NEVER, 0),
    F("protocol_type", KF_STRING, 0, ANY, NEVER, 0),
    F("group_state", KF_STRING, 4, ANY, NEVER, 0),
};
const struct kf_schema kf_listed_group = {"ListedGroup", listed_group_f,
					  N(listed_group_f)};

static const struct kf_field list_groups_resp_f[] = {
    F("throttle_time_ms", KF_INT32, 1, ANY, NEVER, 0),
    F("error_code", KF_INT16, 0, ANY, NEVER, 0),
    A("groups", KF_STRUCT, &kf_listed_group, 0, ANY, NEVER),
};
const struct kf_schema kf_list_groups_response = {
    "ListGroupsResponse", list_groups_resp_f, N(list_groups_resp_f)};

/* ---- CreateTopics (19), versions 0-7, flexible from 5 ---- */

static const struct kf_field creatable_replica_assignment_f[] = {
    F("partition_index", KF_INT32, 0, ANY, NEVER, 0),
    A("broker_ids", KF_INT32, NULL, 0, ANY, NEVER),
};
const struct kf_schema kf_creatable_replica_assignment = {
    "CreatableReplicaAssignment", creatable_replica_assignment_f,
    N(creatable_replica_assignment_f)};

static const struct kf_field creatable_topic_config_f[] = {
    F("name", KF_STRING, 0, ANY, NEVER, 0),
    F("value", KF_STRING, 0, ANY, 0, 0),
};
const struct kf_schema kf_creatable_topic_config = {
    "CreatableTopicConfig", creatable_topic_config_f,
    N(creatable_topic_config_f)};

static const struct kf_field creatable_topic_f[] = {
    F("name", KF_STRING, 0, ANY, NEVER, 0),
    F("num_partitions", KF_INT32, 0, ANY, NEVER, 0),
    F("replication_factor", KF_INT16, 0, ANY, NEVER, 0),
    A("assignments", KF_STRUCT, &kf_creatable_replica_assignment, 0, ANY,
      NEVER),
    A("configs", KF_STRUCT, &kf_creatable_topic_config, 0, ANY, NEVER),
};
const struct kf_schema kf_creatable_topic = {
    "CreatableTopic", creatable_topic_f, N(creatable_topic_f)};

static const struct kf_field create_topics_req_f[] = {
    A("topics", KF_STRUCT, &kf_creatable_topic, 0, ANY, NEVER),
    F("timeout_ms", KF_INT32, 0, ANY, NEVER, 60000),
    F("validate_only", KF_BOOL, 1, ANY, NEVER, 0),
};
const struct kf_schema kf_create_topics_request = {
    "CreateTopicsRequest", create_topics_req_f, N(create_topics_req_f)};

static const struct kf_field creatable_topic_configs_f[] = {
    F("name", KF_STRING, 5, ANY, NEVER, 0),
    F("value", KF_STRING, 5, ANY, 5, 0),
    F("read_only", KF_BOOL, 5, ANY, NEVER, 0),
    F("config_source", KF_INT8, 5, ANY, NEVER, -1),
    F("is_sensitive", KF_BOOL, 5, ANY, NEVER, 0),
};
const struct kf_schema kf_creatable_topic_configs = {
    "CreatableTopicConfigs", creatable_topic_configs_f,
    N(creatable_topic_configs_f)};

static const struct kf_field creatable_topic_result_f[] = {
    F("name", KF_STRING, 0, ANY, NEVER, 0),
    F("topic_id", KF_UUID, 7, ANY, NEVER, 0),
    F("error_code", KF_INT16, 0, ANY, NEVER, 0),
    F("error_message", KF_STRING, 1, ANY, 0, 0),
    T("topic_config_error_code", KF_INT16, 5, ANY, NEVER, 0, 0),
    F("num_partitions", KF_INT32, 5, ANY, NEVER, -1),
    F("replication_factor", KF_INT16, 5, ANY, NEVER, -1),
    A("configs", KF_STRUCT, &kf_creatable_topic_configs, 5, ANY, 5),
};
const struct kf_schema kf_creatable_topic_result = {
    "CreatableTopicResult", creatable_topic_result_f,
    N(creatable_topic_result_f)};

static const struct kf_field create_topics_resp_f[] = {
    F("throttle_time_ms", KF_INT32, 2, ANY, NEVER, 0),
    A("topics", KF_STRUCT, &kf_creatable_topic_result, 0, ANY, NEVER),
};
const struct kf_schema kf_create_topics_response = {
    "CreateTopicsResponse", create_topics_resp_f, N(create_topics_resp_f)};

/* ---- DeleteTopics (20), versions 0-6, flexible from 4 ---- */

static const struct kf_field delete_topic_state_f[] = {
    F("name", KF_STRING, 6, ANY, 6, 0),
    F("topic_id", KF_UUID, 6, ANY, NEVER, 0),
};
const struct kf_schema kf_delete_topic_state = {
    "DeleteTopicState", delete_topic_state_f, N(delete_topic_state_f)};

static const struct kf_field delete_topics_req_f[] = {
    A("topics", KF_STRUCT, &kf_delete_topic_state, 6, ANY, NEVER),
    A("topic_names", KF_STRING, NULL, 0, 5, NEVER),
    F("timeout_ms", KF_INT32, 0, ANY, NEVER, 0),
};
const struct kf_schema kf_delete_topics_request = {
    "DeleteTopicsRequest", delete_topics_req_f, N(delete_topics_req_f)};

static const struct kf_field deletable_topic_result_f[] = {
    F("name", KF_STRING, 0, ANY, 6, 0),
    F("topic_id", KF_UUID, 6, ANY, NEVER, 0),
    F("error_code", KF_INT16, 0, ANY, NEVER, 0),
    F("error_message", KF_STRING, 5, ANY, 5, 0),
};
const struct kf_schema kf_deletable_topic_result = {
    "DeletableTopicResult", deletable_topic_result_f,
    N(deletable_topic_result_f)};

static const struct kf_field delete_topics_resp_f[] = {
    F("throttle_time_ms", KF_INT32, 1, ANY, NEVER, 0),
    A("responses", KF_STRUCT, &kf_deletable_topic_result, 0, ANY, NEVER),
};
const struct kf_schema kf_delete_topics_response = {
    "DeleteTopicsResponse", delete_topics_resp_f, N(delete_topics_resp_f)};

/* ---- DescribeConfigs (32), versions 0-4, flexible from 4 ---- */

static const struct kf_field describe_configs_resource_f[] = {
    F("resource_type", KF_INT8, 0, ANY, NEVER, 0),
    F("resource_name", KF_STRING, 0, ANY, NEVER, 0),
    A("configuration_keys", KF_STRING, NULL, 0, ANY, 0),
};
const struct kf_schema kf_describe_configs_resource = {
    "DescribeConfigsResource", describe_configs_resource_f,
    N(describe_configs_resource_f)};

static const struct kf_field describe_configs_req_f[] = {
    A("resources", KF_STRUCT, &kf_describe_configs_resource, 0, ANY, NEVER),
    F("include_synonyms", KF_BOOL, 1, ANY, NEVER, 0),
    F("include_documentation", KF_BOOL, 3, ANY, NEVER, 0),
};
const struct kf_schema kf_describe_configs_request = {
    "DescribeConfigsRequest", describe_configs_req_f,
    N(describe_configs_req_f)};

static const struct kf_field describe_configs_synonym_f[] = {
    F("name", KF_STRING, 1, ANY, NEVER, 0),
    F("value", KF_STRING, 1, ANY, 0, 0),
    F("source", KF_INT8, 1, ANY, NEVER, 0),
};
const struct kf_schema kf_describe_configs_synonym = {
    "DescribeConfigsSynonym", describe_configs_synonym_f,
    N(describe_configs_synonym_f)};

static const struct kf_field describe_configs_resource_result_f[] = {
    F("name", KF_STRING, 0, ANY, NEVER, 0),
    F("value", KF_STRING, 0, ANY, 0, 0),
    F("read_only", KF_BOOL, 0, ANY, NEVER, 0),
    F("is_default", KF_BOOL, 0, 0, NEVER, 0),
    F("config_source", KF_INT8, 1, ANY, NEVER, -1),
    F("is_sensitive", KF_BOOL, 0, ANY, NEVER, 0),
    A("synonyms", KF_STRUCT, &kf_describe_configs_synonym, 1, ANY, NEVER),
    F("config_type", KF_INT8, 3, ANY, NEVER, 0),
    F("documentation", KF_STRING, 3, ANY, 0, 0),
};
const struct kf_schema kf_describe_configs_resource_result = {
    "DescribeConfigsResourceResult", describe_configs_resource_result_f,
    N(describe_configs_resource_result_f)};

static const struct kf_field describe_configs_result_f[] = {
    F("error_code", KF_INT16, 0, ANY, NEVER, 0),
    F("error_message", KF_STRING, 0, ANY, 0, 0),
    F("resource_type", KF_INT8, 0, ANY, NEVER, 0),
    F("resource_name", KF_STRING, 0, ANY, NEVER, 0),
    A("configs", KF_STRUCT, &kf_describe_configs_resource_result, 0, ANY,
      NEVER),
};
const struct kf_schema kf_describe_configs_result = {
    "DescribeConfigsResult", describe_configs_result_f,
    N(describe_configs_result_f)};

static const struct kf_field describe_configs_resp_f[] = {
    F("throttle_time_ms", KF_INT32, 0, ANY, NEVER, 0),
    A("results", KF_STRUCT, &kf_describe_configs_result, 0, ANY, NEVER),
};
const struct kf_schema kf_describe_configs_response = {
    "DescribeConfigsResponse", describe_configs_resp_f,
    N(describe_configs_resp_f)};

/* ---- AlterConfigs (33), versions 0-2, flexible from 2 ---- */

static const struct kf_field alterable_config_f[] = {
    F("name", KF_STRING, 0, ANY, NEVER, 0),
    F("value", KF_STRING, 0, ANY, 0, 0),
};
const struct kf_schema kf_alterable_config = {
    "AlterableConfig", alterable_config_f, N(alterable_config_f)};

static const struct kf_field alter_configs_resource_f[] = {
    F("resource_type", KF_INT8, 0, ANY, NEVER, 0),
    F("resource_name", KF_STRING, 0, ANY, NEVER, 0),
    A("configs", KF_STRUCT, &kf_alterable_config, 0, ANY, NEVER),
};
const struct kf_schema kf_alter_configs_resource = {
    "AlterConfigsResource", alter_configs_resource_f,
    N(alter_configs_resource_f)};

static const struct kf_field alter_configs_req_f[] = {
    A("resources", KF_STRUCT, &kf_alter_configs_resource, 0, ANY, NEVER),
    F("validate_only", KF_BOOL, 0, ANY, NEVER, 0),
};
const struct kf_schema kf_alter_configs_request = {
    "AlterConfigsRequest", alter_configs_req_f, N(alter_configs_req_f)};

static const struct kf_field alter_configs_resource_response_f[] = {
    F("error_code", KF_INT16, 0, ANY, NEVER, 0),
    F("error_message", KF_STRING, 0, ANY, 0, 0),
    F("resource_type", KF_INT8, 0, ANY, NEVER, 0),
    F("resource_name", KF_STRING, 0, ANY, NEVER, 0),
};
const struct kf_schema kf_alter_configs_resource_response = {
    "AlterConfigsResourceResponse", alter_configs_resource_response_f,
    N(alter_configs_resource_response_f)};

static const struct kf_field alter_configs_resp_f[] = {
    F("throttle_time_ms", KF_INT32, 0, ANY, NEVER, 0),
    A("responses", KF_STRUCT, &kf_alter_configs_resource_response, 0, ANY,
      NEVER),
};
const struct kf_schema kf_alter_configs_response = {
    "AlterConfigsResponse", alter_configs_resp_f, N(alter_configs_resp_f)};

/* ---- CreatePartitions (37), versions 0-3, flexible from 2 ---- */

static const struct kf_field create_partitions_assignment_f[] = {
    A("broker_ids", KF_INT32, NULL, 0, ANY, NEVER),
};
const struct kf_schema kf_create_partitions_assignment = {
    "CreatePartitionsAssignment", create_partitions_assignment_f,
    N(create_partitions_assignment_f)};

static const struct kf_field create_partitions_topic_f[] = {
    F("name", KF_STRING, 0, ANY, NEVER, 0),
    F("count", KF_INT32, 0, ANY, NEVER, 0),
    A("assignments", KF_STRUCT, &kf_create_partitions_assignment, 0, ANY, 0),
};
const struct kf_schema kf_create_partitions_topic = {
    "CreatePartitionsTopic", create_partitions_topic_f,
    N(create_partitions_topic_f)};

static const struct kf_field create_partitions_req_f[] = {
    A("topics", KF_STRUCT, &kf_create_partitions_topic, 0, ANY, NEVER),
    F("timeout_ms", KF_INT32, 0, ANY, NEVER, 0),
    F("validate_only", KF_BOOL, 0, ANY, NEVER, 0),
};
const struct kf_schema kf_create_partitions_request = {
    "CreatePartitionsRequest", create_partitions_req_f,
    N(create_partitions_req_f)};

static const struct kf_field create_partitions_topic_result_f[] = {
    F("name", KF_STRING, 0, ANY, NEVER, 0),
    F("error_code", KF_INT16, 0, ANY, NEVER, 0),
    F("error_message", KF_STRING, 0, ANY, 0, 0),
};
const struct kf_schema kf_create_partitions_topic_result = {
    "CreatePartitionsTopicResult", create_partitions_topic_result_f,
    N(create_partitions_topic_result_f)};

static const struct kf_field create_partitions_resp_f[] = {
    F("throttle_time_ms", KF_INT32, 0, ANY, NEVER, 0),
    A("results", KF_STRUCT, &kf_create_partitions_topic_result, 0, ANY, NEVER),
};
const struct kf_schema kf_create_partitions_response = {
    "CreatePartitionsResponse", create_partitions_resp_f,
    N(create_partitions_resp_f)};

/* ---- ElectLeaders (43), versions 0-2, flexible from 2 ---- */

static const struct kf_field elect_leaders_topic_partitions_f[] = {
    F("topic", KF_STRING, 0, ANY, NEVER, 0),
    A("partitions", KF_INT32, NULL, 0, ANY, NEVER),
};
const struct kf_schema kf_elect_leaders_topic_partitions = {
    "TopicPartitions", elect_leaders_topic_partitions_f,
    N(elect_leaders_topic_partitions_f)};

static const struct kf_field elect_leaders_req_f[] = {
    F("election_type", KF_INT8, 1, ANY, NEVER, 0),
    A("topic_partitions", KF_STRUCT, &kf_elect_leaders_topic_partitions, 0, ANY,
      0),
    F("timeout_ms", KF_INT32, 0, ANY, NEVER, 60000),
};
const struct kf_schema kf_elect_leaders_request = {
    "ElectLeadersRequest", elect_leaders_req_f, N(elect_leaders_req_f)};

static const struct kf_field elect_leaders_partition_result_f[] = {
    F("partition_id", KF_INT32, 0, ANY, NEVER, 0),
    F("error_code", KF_INT16, 0, ANY, NEVER, 0),
    F("error_message", KF_STRING, 0, ANY, 0, 0),
};
const struct kf_schema kf_elect_leaders_partition_result = {
    "PartitionResult", elect_leaders_partition_result_f,
    N(elect_leaders_partition_result_f)};

static const struct kf_field replica_election_result_f[] = {
    F("topic", KF_STRING, 0, ANY, NEVER, 0),
    A("partition_result", KF_STRUCT, &kf_elect_leaders_partition_result, 0, ANY,
      NEVER),
};
const struct kf_schema kf_replica_election_result = {
    "ReplicaElectionResult", replica_election_result_f,
    N(replica_election_result_f)};

static const struct kf_field elect_leaders_resp_f[] = {
    F("throttle_time_ms", KF_INT32, 0, ANY, NEVER, 0),
    F("error_code", KF_INT16, 1, ANY, NEVER, 0),
    A("replica_election_results", KF_STRUCT, &kf_replica_election_result, 0,
      ANY, NEVER),
};
const struct kf_schema kf_elect_leaders_response = {
    "ElectLeadersResponse", elect_leaders_resp_f, N(elect_leaders_resp_f)};

/* ---- IncrementalAlterConfigs (44), versions 0-1, flexible from 1 ---- */

static const struct kf_field incremental_alterable_config_f[] = {
    F("name", KF_STRING, 0, ANY, NEVER, 0),
    F("config_operation", KF_INT8, 0, ANY, NEVER, 0),
    F("value", KF_STRING, 0, ANY, 0, 0),
};
const struct kf_schema kf_incremental_alterable_config = {
    "AlterableConfig", incremental_alterable_config_f,
    N(incremental_alterable_config_f)};

static const struct kf_field incremental_alter_configs_resource_f[] = {
    F("resource_type", KF_INT8, 0, ANY, NEVER, 0),
    F("resource_name", KF_STRING, 0, ANY, NEVER, 0),
    A("configs", KF_STRUCT, &kf_incremental_alterable_config, 0, ANY, NEVER),
};
const struct kf_schema kf_incremental_alter_configs_resource = {
    "AlterConfigsResource", incremental_alter_configs_resource_f,
    N(incremental_alter_configs_resource_f)};

static const struct kf_field incremental_alter_configs_req_f[] = {
    A("resources", KF_STRUCT, &kf_incremental_alter_configs_resource, 0, ANY,
      NEVER),
    F("validate_only", KF_BOOL, 0, ANY, NEVER, 0),
};
const struct kf_schema kf_incremental_alter_configs_request = {
    "IncrementalAlterConfigsRequest", incremental_alter_configs_req_f,
    N(incremental_alter_configs_req_f)};

static const struct kf_field incremental_alter_configs_resource_response_f[] = {
    F("error_code", KF_INT16, 0, ANY, NEVER, 0),
    F("error_message", KF_STRING, 0, ANY, 0, 0),
    F("resource_type", KF_INT8, 0, ANY, NEVER, 0),
    F("resource_name", KF_STRING, 0, ANY, NEVER, 0),
};
const struct kf_schema kf_incremental_alter_configs_resource_response = {
    "AlterConfigsResourceResponse",
    incremental_alter_configs_resource_response_f,
    N(incremental_alter_configs_resource_response_f)};

static const struct kf_field incremental_alter_configs_resp_f[] = {
    F("throttle_time_ms", KF_INT32, 0, ANY, NEVER, 0),
    A("responses", KF_STRUCT, &kf_incremental_alter_configs_resource_response,
      0, ANY, NEVER),
};
const struct kf_schema kf_incremental_alter_configs_response = {
    "IncrementalAlterConfigsResponse", incremental_alter_configs_resp_f,
    N(incremental_alter_configs_resp_f)};

/* ---- DescribeQuorum (55), versions 0-1, flexible from 0 ---- */

static const struct kf_field describe_quorum_req_partition_f[] = {
    F("partition_index", KF_INT32, 0, ANY, NEVER, 0),
};
const struct kf_schema kf_describe_quorum_request_partition = {
    "PartitionData", describe_quorum_req_partition_f,
    N(describe_quorum_req_partition_f)};

static const struct kf_field describe_quorum_req_topic_f[] = {
    F("topic_name", KF_STRING, 0, ANY, NEVER, 0),
    A("partitions", KF_STRUCT, &kf_describe_quorum_request_partition, 0, ANY,
      NEVER),
};
const struct kf_schema kf_describe_quorum_request_topic = {
    "TopicData", describe_quorum_req_topic_f, N(describe_quorum_req_topic_f)};

static const struct kf_field describe_quorum_req_f[] = {
    A("topics", KF_STRUCT, &kf_describe_quorum_request_topic, 0, ANY, NEVER),
};
const struct kf_schema kf_describe_quorum_request = {
    "DescribeQuorumRequest", describe_quorum_req_f, N(describe_quorum_req_f)};

static const struct kf_field replica_state_f[] = {
    F("replica_id", KF_INT32, 0, ANY, NEVER, 0),
    F("log_end_offset", KF_INT64, 0, ANY, NEVER, 0),
    F("last_fetch_timestamp", KF_INT64, 1, ANY, NEVER, -1),
    F("last_caught_up_timestamp", KF_INT64, 1, ANY, NEVER, -1),
};
const struct kf_schema kf_replica_state = {"ReplicaState", replica_state_f,
					   N(replica_state_f)};

static const struct kf_field describe_quorum_partition_f[] = {
    F("partition_index", KF_INT32, 0, ANY, NEVER, 0),
    F("error_code", KF_INT16, 0, ANY, NEVER, 0),
    F("leader_id", KF_INT32, 0, ANY, NEVER, 0),
    F("leader_epoch", KF_INT32, 0, ANY, NEVER, 0),
    F("high_watermark", KF_INT64, 0, ANY, NEVER, 0),
    A("current_voters", KF_STRUCT, &kf_replica_state, 0, ANY, NEVER),
    A("observers", KF_STRUCT, &kf_replica_state, 0, ANY, NEVER),
};
const struct kf_schema kf_describe_quorum_partition = {
    "PartitionData", describe_quorum_partition_f,
    N(describe_quorum_partition_f)};

static const struct kf_field describe_quorum_topic_f[] = {
    F("topic_name", KF_STRING, 0, ANY, NEVER, 0),
    A("partitions", KF_STRUCT, &kf_describe_quorum_partition, 0, ANY, NEVER),
};
const struct kf_schema kf_describe_quorum_topic = {
    "TopicData", describe_quorum_topic_f, N(describe_quorum_topic_f)};

static const struct kf_field describe_quorum_resp_f[] = {
    F("error_code", KF_INT16, 0, ANY, NEVER, 0),
    A("topics", KF_STRUCT, &kf_describe_quorum_topic, 0, ANY, NEVER),
};
const struct kf_schema kf_describe_quorum_response = {
    "DescribeQuorumResponse", describe_quorum_resp_f,
    N(describe_quorum_resp_f)};

/* ---- DescribeCluster (60), versions 0-1, flexible from 0 ---- */

static const struct kf_field describe_cluster_req_f[] = {
    F("include_cluster_authorized_operations", KF_BOOL, 0, ANY, NEVER, 0),
    F("endpoint_type", KF_INT8, 1, ANY, NEVER, 1),
};
const struct kf_schema kf_describe_cluster_request = {
    "DescribeClusterRequest", describe_cluster_req_f,
    N(describe_cluster_req_f)};

static const struct kf_field describe_cluster_broker_f[] = {
    F("broker_id", KF_INT32, 0, ANY, NEVER, 0),
    F("host", KF_STRING, 0, ANY, NEVER, 0),
    F("port", KF_INT32, 0, ANY, NEVER, 0),
    F("rack", KF_STRING, 0, ANY, 0, 0),
};
const struct kf_schema kf_describe_cluster_broker = {
    "DescribeClusterBroker", describe_cluster_broker_f,
    N(describe_cluster_broker_f)};

static const struct kf_field describe_cluster_resp_f[] = {
    F("throttle_time_ms", KF_INT32, 0, ANY, NEVER, 0),
    F("error_code", KF_INT16, 0, ANY, NEVER, 0),
    F("error_message", KF_STRING, 0, ANY, 0, 0),
    F("endpoint_type", KF_INT8, 1, ANY, NEVER, 1),
    F("cluster_id", KF_STRING, 0, ANY, NEVER, 0),
    F("controller_id", KF_INT32, 0, ANY, NEVER, -1),
    A("brokers", KF_STRUCT, &kf_describe_cluster_broker, 0, ANY, NEVER),
    F("cluster_authorized_operations", KF_INT32, 0, ANY, NEVER, INT32_MIN),
};
const struct kf_schema kf_describe_cluster_response = {
    "DescribeClusterResponse", describe_cluster_resp_f,
    N(describe_cluster_resp_f)};

/* ---- ConsumerGroupDescribe (69), version 0, flexible from 0 ---- */

static const struct kf_field consumer_group_describe_req_f[] = {
    A("group_ids", KF_STRING, NULL, 0, ANY, NEVER),
    F("include_authorized_operations", KF_BOOL, 0, ANY, NEVER, 0),
};
const struct kf_schema kf_consumer_group_describe_request = {
    "ConsumerGroupDescribeRequest", consumer_group_describe_req_f,
    N(consumer_group_describe_req_f)};

static const struct kf_field consumer_group_topic_partitions_f[] = {
    F("topic_id", KF_UUID, 0, ANY, NEVER, 0),
    F("topic_name", KF_STRING, 0, ANY, NEVER, 0),
    A("partitions", KF_INT32, NULL, 0, ANY, NEVER),
};
const struct kf_schema kf_consumer_group_topic_partitions = {
    "TopicPartitions", consumer_group_topic_partitions_f,
    N(consumer_group_topic_partitions_f)};

static const struct kf_field consumer_group_assignment_f[] = {
    A("topic_partitions", KF_STRUCT, &kf_consumer_group_topic_partitions, 0,
      ANY, NEVER),
};
const struct kf_schema kf_consumer_group_assignment = {
    "Assignment", consumer_group_assignment_f, N(consumer_group_assignment_f)};

static const struct kf_field consumer_group_member_f[] = {
    F("member_id", KF_STRING, 0, ANY, NEVER, 0),
    F("instance_id", KF_STRING, 0, ANY, 0, 0),
    F("rack_id", KF_STRING, 0, ANY, 0, 0),
    F("member_epoch", KF_INT32, 0, ANY, NEVER, 0),
    F("client_id", KF_STRING, 0, ANY, NEVER, 0),
    F("client_host", KF_STRING, 0, ANY, NEVER, 0),
    A("subscribed_topic_names", KF_STRING, NULL, 0, ANY, NEVER),
    F("subscribed_topic_regex", KF_STRING, 0, ANY, 0, 0),
    S("assignment", &kf_consumer_group_assignment, 0, ANY, NEVER),
    S("target_assignment", &kf_consumer_group_assignment, 0, ANY, NEVER),
};
const struct kf_schema kf_consumer_group_member = {
    "Member", consumer_group_member_f, N(consumer_group_member_f)};

static const struct kf_field consumer_group_described_group_f[] = {
    F("error_code", KF_INT16, 0, ANY, NEVER, 0),
    F("error_message", KF_STRING, 0, ANY, 0, 0),
    F("group_id", KF_STRING, 0, ANY, NEVER, 0),
    F("group_state", KF_STRING, 0, ANY, NEVER, 0),
    F("group_epoch", KF_INT32, 0, ANY, NEVER, 0),
    F("assignment_epoch", KF_INT32, 0, ANY, NEVER, 0),
    F("assignor_name", KF_STRING, 0, ANY, NEVER, 0),
    A("members", KF_STRUCT, &kf_consumer_group_member, 0, ANY, NEVER),
    F("authorized_operations", KF_INT32, 0, ANY, NEVER, INT32_MIN),
};
const struct kf_schema kf_consumer_group_described_group = {
    "DescribedGroup", consumer_group_described_group_f,
    N(consumer_group_described_group_f)};

static const struct kf_field consumer_group_describe_resp_f[] = {
    F("throttle_time_ms", KF_INT32, 0, ANY, NEVER, 0),
    A("groups", KF_STRUCT, &kf_consumer_group_described_group, 0, ANY, NEVER),
};
const struct kf_schema kf_consumer_group_describe_response = {
    "ConsumerGroupDescribeResponse", consumer_group_describe_resp_f,
    N(consumer_group_describe_resp_f)};

/* ---- the consumer protocol (DescribeGroups' member_metadata and
 * member_assignment), version 0, never flexible; the caller writes the
 * int16 version before it ---- */

static const struct kf_field consumer_protocol_subscription_f[] = {
    A("topics", KF_STRING, NULL, 0, ANY, NEVER),
    F("user_data", KF_BYTES, 0, ANY, 0, 0),
};
const struct kf_schema kf_consumer_protocol_subscription = {
    "ConsumerProtocolSubscription", consumer_protocol_subscription_f,
    N(consumer_protocol_subscription_f)};

static const struct kf_field consumer_protocol_topic_partition_f[] = {
    F("topic", KF_STRING, 0, ANY, NEVER, 0),
    A("partitions", KF_INT32, NULL, 0, ANY, NEVER),
};
const struct kf_schema kf_consumer_protocol_topic_partition = {
    "TopicPartition", consumer_protocol_topic_partition_f,
    N(consumer_protocol_topic_partition_f)};

static const struct kf_field consumer_protocol_assignment_f[] = {
    A("assigned_partitions", KF_STRUCT, &kf_consumer_protocol_topic_partition,
      0, ANY, NEVER),
    F("user_data", KF_BYTES, 0, ANY, 0, 0),
};
const struct kf_schema kf_consumer_protocol_assignment = {
    "ConsumerProtocolAssignment", consumer_protocol_assignment_f,
    N(consumer_protocol_assignment_f)};

/* Every table has as many fields as its enum of positions in the header. */
#define SAME_N(f, last) _Static_assert(N(f) == (last) + 1, #f " vs " #last)
SAME_N(describe_groups_req_f, KF_DGQ_INCLUDE_OPS);
SAME_N(describe_groups_resp_f, KF_DG_GROUPS);
SAME_N(described_group_f, KF_DGG_OPS);
SAME_N(described_group_member_f, KF_DGM_ASSIGNMENT);
SAME_N(find_coordinator_req_f, KF_FCQ_KEYS);
SAME_N(coordinator_f, KF_FCC_ERROR_MSG);
SAME_N(find_coordinator_resp_f, KF_FC_COORDINATORS);
SAME_N(list_groups_req_f, KF_LGQ_STATES_FILTER);
SAME_N(list_groups_resp_f, KF_LG_GROUPS);
SAME_N(listed_group_f, KF_LGG_STATE);
SAME_N(create_topics_req_f, KF_CTQ_VALIDATE_ONLY);
SAME_N(creatable_topic_f, KF_CTQT_CONFIGS);
SAME_N(creatable_replica_assignment_f, KF_CTQA_BROKER_IDS);
SAME_N(creatable_topic_config_f, KF_CTQC_VALUE);
SAME_N(create_topics_resp_f, KF_CT_TOPICS);
SAME_N(creatable_topic_result_f, KF_CTT_CONFIGS);
SAME_N(creatable_topic_configs_f, KF_CTC_SENSITIVE);
SAME_N(delete_topics_req_f, KF_DTQ_TIMEOUT);
SAME_N(delete_topic_state_f, KF_DTQT_ID);
SAME_N(delete_topics_resp_f, KF_DT_RESPONSES);
SAME_N(deletable_topic_result_f, KF_DTT_ERROR_MSG);
SAME_N(describe_configs_req_f, KF_DCQ_DOCUMENTATION);
SAME_N(describe_configs_resource_f, KF_DCQR_KEYS);
SAME_N(describe_configs_resp_f, KF_DC_RESULTS);
SAME_N(describe_configs_result_f, KF_DCR_CONFIGS);
SAME_N(describe_configs_resource_result_f, KF_DCC_DOCUMENTATION);
SAME_N(describe_configs_synonym_f, KF_DCS_SOURCE);
SAME_N(alter_configs_req_f, KF_ACQ_VALIDATE_ONLY);
SAME_N(alter_configs_resource_f, KF_ACQR_CONFIGS);
SAME_N(alterable_config_f, KF_ACQC_VALUE);
SAME_N(alter_configs_resp_f, KF_AC_RESPONSES);
SAME_N(alter_configs_resource_response_f, KF_ACR_NAME);
SAME_N(create_partitions_req_f, KF_CPQ_VALIDATE_ONLY);
SAME_N(create_partitions_topic_f, KF_CPQT_ASSIGNMENTS);
SAME_N(create_partitions_assignment_f, KF_CPQA_BROKER_IDS);
SAME_N(create_partitions_resp_f, KF_CP_RESULTS);
SAME_N(create_partitions_topic_result_f, KF_CPR_ERROR_MSG);
SAME_N(elect_leaders_req_f, KF_ELQ_TIMEOUT);
SAME_N(elect_leaders_topic_partitions_f, KF_ELQT_PARTITIONS);
SAME_N(elect_leaders_resp_f, KF_EL_RESULTS);
SAME_N(replica_election_result_f, KF_ELR_PARTITIONS);
SAME_N(elect_leaders_partition_result_f, KF_ELP_ERROR_MSG);
SAME_N(incremental_alter_configs_req_f, KF_IACQ_VALIDATE_ONLY);
SAME_N(incremental_alter_configs_resource_f, KF_IACQR_CONFIGS);
SAME_N(incremental_alterable_config_f, KF_IACQC_VALUE);
SAME_N(incremental_alter_configs_resp_f, KF_IAC_RESPONSES);
SAME_N(incremental_alter_configs_resource_response_f, KF_IACR_NAME);
SAME_N(describe_quorum_req_f, KF_DQQ_TOPICS);
SAME_N(describe_quorum_req_topic_f, KF_DQQT_PARTITIONS);
SAME_N(describe_quorum_req_partition_f, KF_DQQP_INDEX);
SAME_N(describe_quorum_resp_f, KF_DQ_TOPICS);
SAME_N(describe_quorum_topic_f, KF_DQT_PARTITIONS);
SAME_N(describe_quorum_partition_f, KF_DQP_OBSERVERS);
SAME_N(replica_state_f, KF_DQR_LAST_CAUGHT_UP);
SAME_N(describe_cluster_req_f, KF_DCLQ_ENDPOINT_TYPE);
SAME_N(describe_cluster_resp_f, KF_DCL_CLUSTER_OPS);
SAME_N(describe_cluster_broker_f, KF_DCLB_RACK);
SAME_N(consumer_group_describe_req_f, KF_CGDQ_INCLUDE_OPS);
SAME_N(consumer_group_describe_resp_f, KF_CGD_GROUPS);
SAME_N(consumer_group_described_group_f, KF_CGDG_OPS);
SAME_N(consumer_group_member_f, KF_CGDM_TARGET_ASSIGNMENT);
SAME_N(consumer_group_assignment_f, KF_CGDA_TOPIC_PARTITIONS);
SAME_N(consumer_group_topic_partitions_f, KF_CGDT_PARTITIONS);
SAME_N(consumer_protocol_subscription_f, KF_CSUB_USER_DATA);
SAME_N(consumer_protocol_assignment_f, KF_CASG_USER_DATA);
SAME_N(consumer_protocol_topic_partition_f, KF_CASGT_PARTITIONS);
