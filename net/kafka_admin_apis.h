/* net/kafka_admin_apis.h - schemas of the Kafka admin messages Synod speaks
 * (see kafka_admin_apis.c) and the field positions handlers use
 * (KF_<ABBREV>_<FIELD>: the index of the field in its schema's table).
 *
 * Abbreviations: a request is <API>Q, a response <API>, a struct nested in
 * a request <API>Q<X>, one nested in a response <API><X>.
 *
 *   DescribeGroups (15), versions 0-5, flexible from 5
 *     DGQ   kf_describe_groups_request
 *     DG    kf_describe_groups_response
 *     DGG   kf_described_group               (DescribedGroup)
 *     DGM   kf_described_group_member        (DescribedGroupMember)
 *   FindCoordinator (10), versions 0-4, flexible from 3
 *     FCQ   kf_find_coordinator_request
 *     FC    kf_find_coordinator_response
 *     FCC   kf_coordinator                   (Coordinator, 4+)
 *   ListGroups (16), versions 0-4, flexible from 3
 *     LGQ   kf_list_groups_request
 *     LG    kf_list_groups_response
 *     LGG   kf_listed_group                  (ListedGroup)
 *   CreateTopics (19), versions 0-7, flexible from 5
 *     CTQ   kf_create_topics_request
 *     CTQT  kf_creatable_topic               (CreatableTopic)
 *     CTQA  kf_creatable_replica_assignment  (CreatableReplicaAssignment)
 *     CTQC  kf_creatable_topic_config        (CreatableTopicConfig)
 *     CT    kf_create_topics_response
 *     CTT   kf_creatable_topic_result        (CreatableTopicResult)
 *     CTC   kf_creatable_topic_configs       (CreatableTopicConfigs)
 *   DeleteTopics (20), versions 0-6, flexible from 4
 *     DTQ   kf_delete_topics_request
 *     DTQT  kf_delete_topic_state            (DeleteTopicState)
 *     DT    kf_delete_topics_response
 *     DTT   kf_deletable_topic_result        (DeletableTopicResult)
 *   DescribeConfigs (32), versions 0-4, flexible from 4
 *     DCQ   kf_describe_configs_request
 *     DCQR  kf_describe_configs_resource     (DescribeConfigsResource)
 *     DC    kf_describe_configs_response
 *     DCR   kf_describe_configs_result       (DescribeConfigsResult)
 *     DCC   kf_describe_configs_resource_result
 *                                            (DescribeConfigsResourceResult)
 *     DCS   kf_describe_configs_synonym      (DescribeConfigsSynonym)
 *   AlterConfigs (33), versions 0-2, flexible from 2
 *     ACQ   kf_alter_configs_request
 *     ACQR  kf_alter_configs_resource        (AlterConfigsResource)
 *     ACQC  kf_alterable_config              (AlterableConfig)
 *     AC    kf_alter_configs_response
 *     ACR   kf_alter_configs_resource_response
 *                                            (AlterConfigsResourceResponse)
 *   CreatePartitions (37), versions 0-3, flexible from 2
 *     CPQ   kf_create_partitions_request
 *     CPQT  kf_create_partitions_topic       (CreatePartitionsTopic)
 *     CPQA  kf_create_partitions_assignment  (CreatePartitionsAssignment)
 *     CP    kf_create_partitions_response
 *     CPR   kf_create_partitions_topic_result
 *                                            (CreatePartitionsTopicResult)
 *   ElectLeaders (43), versions 0-2, flexible from 2
 *     ELQ   kf_elect_leaders_request
 *     ELQT  kf_elect_leaders_topic_partitions (TopicPartitions)
 *     EL    kf_elect_leaders_response
 *     ELR   kf_replica_election_result       (ReplicaElectionResult)
 *     ELP   kf_elect_leaders_partition_result (PartitionResult)
 *   IncrementalAlterConfigs (44), versions 0-1, flexible from 1
 *     IACQ  kf_incremental_alter_configs_request
 *     IACQR kf_incremental_alter_configs_resource (AlterConfigsResource)
 *     IACQC kf_incremental_alterable_config  (AlterableConfig)
 *     IAC   kf_incremental_alter_configs_response
 *     IACR  kf_incremental_alter_configs_resource_response
 *                                            (AlterConfigsResourceResponse)
 *   DescribeQuorum (55), versions 0-1, flexible from 0
 *     DQQ   kf_describe_quorum_request
 *     DQQT  kf_describe_quorum_request_topic (request's TopicData)
 *     DQQP  kf_describe_quorum_request_partition (request's PartitionData)
 *     DQ    kf_describe_quorum_response
 *     DQT   kf_describe_quorum_topic         (response's TopicData)
 *     DQP   kf_describe_quorum_partition     (response's PartitionData)
 *     DQR   kf_replica_state                 (ReplicaState)
 *   DescribeCluster (60), versions 0-1, flexible from 0
 *     DCLQ  kf_describe_cluster_request
 *     DCL   kf_describe_cluster_response
 *     DCLB  kf_describe_cluster_broker       (DescribeClusterBroker)
 *   ConsumerGroupDescribe (69), version 0, flexible from 0
 *     CGDQ  kf_consumer_group_describe_request
 *     CGD   kf_consumer_group_describe_response
 *     CGDG  kf_consumer_group_described_group (DescribedGroup)
 *     CGDM  kf_consumer_group_member         (Member)
 *     CGDA  kf_consumer_group_assignment     (Assignment)
 *     CGDT  kf_consumer_group_topic_partitions (TopicPartitions)
 *   The consumer protocol (in DescribeGroups' member_metadata and
 *   member_assignment bytes), version 0, never flexible, preceded by an
 *   int16 version the caller writes and reads:
 *     CSUB  kf_consumer_protocol_subscription (ConsumerProtocolSubscription)
 *     CASG  kf_consumer_protocol_assignment  (ConsumerProtocolAssignment)
 *     CASGT kf_consumer_protocol_topic_partition (TopicPartition)
 *
 * Field names: ERROR is error_code, ERROR_MSG error_message, THROTTLE
 * throttle_time_ms, OPS authorized_operations; the others follow the
 * field's name (see the tables in kafka_admin_apis.c).
 */
#ifndef SYNOD_KAFKA_ADMIN_APIS_H
#define SYNOD_KAFKA_ADMIN_APIS_H

#include "kafka.h"
#include "kafka_apis.h"

enum {
	KF_API_FIND_COORDINATOR = 10,
	KF_API_DESCRIBE_GROUPS = 15,
	KF_API_LIST_GROUPS = 16,
	KF_API_CREATE_TOPICS = 19,
	KF_API_DELETE_TOPICS = 20,
	KF_API_DESCRIBE_CONFIGS = 32,
	KF_API_ALTER_CONFIGS = 33,
	KF_API_CREATE_PARTITIONS = 37,
	KF_API_ELECT_LEADERS = 43,
	KF_API_INCREMENTAL_ALTER_CONFIGS = 44,
	KF_API_DESCRIBE_QUORUM = 55,
	KF_API_DESCRIBE_CLUSTER = 60,
	KF_API_CONSUMER_GROUP_DESCRIBE = 69,
};

/* More Kafka error codes (org.apache.kafka.common.protocol.Errors); the
 * ones kafka_apis.h defines are not repeated. */
enum {
	KF_ERR_UNKNOWN_SERVER_ERROR = -1,
	KF_ERR_REQUEST_TIMED_OUT = 7,
	KF_ERR_BROKER_NOT_AVAILABLE = 8,
	KF_ERR_COORDINATOR_LOAD_IN_PROGRESS = 14,
	KF_ERR_COORDINATOR_NOT_AVAILABLE = 15,
	KF_ERR_NOT_COORDINATOR = 16,
	KF_ERR_INVALID_TOPIC_EXCEPTION = 17,
	KF_ERR_NOT_ENOUGH_REPLICAS = 19,
	KF_ERR_INVALID_GROUP_ID = 24,
	KF_ERR_TOPIC_AUTHORIZATION_FAILED = 29,
	KF_ERR_GROUP_AUTHORIZATION_FAILED = 30,
	KF_ERR_CLUSTER_AUTHORIZATION_FAILED = 31,
	KF_ERR_INVALID_TIMESTAMP = 32,
	KF_ERR_TOPIC_ALREADY_EXISTS = 36,
	KF_ERR_INVALID_PARTITIONS = 37,
	KF_ERR_INVALID_REPLICATION_FACTOR = 38,
	KF_ERR_INVALID_REPLICA_ASSIGNMENT = 39,
	KF_ERR_INVALID_CONFIG = 40,
	KF_ERR_NOT_CONTROLLER = 41,
	KF_ERR_POLICY_VIOLATION = 44,
	KF_ERR_REASSIGNMENT_IN_PROGRESS = 60,
	KF_ERR_NON_EMPTY_GROUP = 68,
	KF_ERR_GROUP_ID_NOT_FOUND = 69,
	KF_ERR_TOPIC_DELETION_DISABLED = 73,
	KF_ERR_PREFERRED_LEADER_NOT_AVAILABLE = 80,
	KF_ERR_ELIGIBLE_LEADERS_NOT_AVAILABLE = 83,
	KF_ERR_ELECTION_NOT_NEEDED = 84,
	KF_ERR_THROTTLING_QUOTA_EXCEEDED = 89,
	KF_ERR_RESOURCE_NOT_FOUND = 91,
	KF_ERR_DUPLICATE_RESOURCE = 92,
	KF_ERR_INVALID_UPDATE_VERSION = 95,
	KF_ERR_INCONSISTENT_TOPIC_ID = 103,
	KF_ERR_MISMATCHED_ENDPOINT_TYPE = 114,
	KF_ERR_UNSUPPORTED_ENDPOINT_TYPE = 115,
};

/* ---- DescribeGroups (15) ---- */

extern const struct kf_schema kf_describe_groups_request;
extern const struct kf_schema kf_described_group_member;
extern const struct kf_schema kf_described_group;
extern const struct kf_schema kf_describe_groups_response;
enum { KF_DGQ_GROUPS, KF_DGQ_INCLUDE_OPS };
enum { KF_DG_THROTTLE, KF_DG_GROUPS };
enum {
	KF_DGG_ERROR,
	KF_DGG_GROUP_ID,
	KF_DGG_STATE,
	KF_DGG_PROTOCOL_TYPE,
	KF_DGG_PROTOCOL_DATA,
	KF_DGG_MEMBERS,
	KF_DGG_OPS,
};
enum {
	KF_DGM_MEMBER_ID,
	KF_DGM_INSTANCE_ID,
	KF_DGM_CLIENT_ID,
	KF_DGM_CLIENT_HOST,
	KF_DGM_METADATA,
	KF_DGM_ASSIGNMENT,
};

/* ---- FindCoordinator (10) ---- */

extern const struct kf_schema kf_find_coordinator_request;
extern const struct kf_schema kf_coordinator;
extern const struct kf_schema kf_find_coordinator_response;
enum { KF_FCQ_KEY, KF_FCQ_KEY_TYPE, KF_FCQ_KEYS };
enum {
	KF_FCC_KEY,
	KF_FCC_NODE_ID,
	KF_FCC_HOST,
	KF_FCC_PORT,
	KF_FCC_ERROR,
	KF_FCC_ERROR_MSG,
};
enum {
	KF_FC_THROTTLE,
	KF_FC_ERROR,
	KF_FC_ERROR_MSG,
	KF_FC_NODE_ID,
	KF_FC_HOST,
	KF_FC_PORT,
	KF_FC_COORDINATORS,
};

/* ---- ListGroups (16) ---- */

extern const struct kf_schema kf_list_groups_request;
extern const struct kf_schema kf_listed_group;
extern const struct kf_schema kf_list_groups_response;
enum { KF_LGQ_STATES_FILTER };
enum { KF_LG_THROTTLE, KF_LG_ERROR, KF_LG_GROUPS };
enum { KF_LGG_GROUP_ID, KF_LGG_PROTOCOL_TYPE, KF_LGG_STATE };

/* ---- CreateTopics (19) ---- */

extern const struct kf_schema kf_creatable_replica_assignment;
extern const struct kf_schema kf_creatable_topic_config;
extern const struct kf_schema kf_creatable_topic;
extern const struct kf_schema kf_create_topics_request;
extern const struct kf_schema kf_creatable_topic_configs;
extern const struct kf_schema kf_creatable_topic_result;
extern const struct kf_schema kf_create_topics_response;
enum { KF_CTQ_TOPICS, KF_CTQ_TIMEOUT, KF_CTQ_VALIDATE_ONLY };
enum {
	KF_CTQT_NAME,
	KF_CTQT_NUM_PARTITIONS,
	KF_CTQT_REPLICATION_FACTOR,
	KF_CTQT_ASSIGNMENTS,
	KF_CTQT_CONFIGS,
};
enum { KF_CTQA_PARTITION, KF_CTQA_BROKER_IDS };
enum { KF_CTQC_NAME, KF_CTQC_VALUE };
enum { KF_CT_THROTTLE, KF_CT_TOPICS };
enum {
	KF_CTT_NAME,
	KF_CTT_ID,
	KF_CTT_ERROR,
	KF_CTT_ERROR_MSG,
	KF_CTT_CONFIG_ERROR, /* tagged (tag 0), from version 5 */
	KF_CTT_NUM_PARTITIONS,
	KF_CTT_REPLICATION_FACTOR,
	KF_CTT_CONFIGS,
};
enum {
	KF_CTC_NAME,
	KF_CTC_VALUE,
	KF_CTC_READ_ONLY,
	KF_CTC_SOURCE,
	KF_CTC_SENSITIVE,
};

/* ---- DeleteTopics (20) ---- */

extern const struct kf_schema kf_delete_topic_state;
extern const struct kf_schema kf_delete_topics_request;
extern const struct kf_schema kf_deletable_topic_result;
extern const struct kf_schema kf_delete_topics_response;
/* topics: versions 6+; topic_names: versions 0-5. */
enum { KF_DTQ_TOPICS, KF_DTQ_TOPIC_NAMES, KF_DTQ_TIMEOUT };
enum { KF_DTQT_NAME, KF_DTQT_ID };
enum { KF_DT_THROTTLE, KF_DT_RESPONSES };
enum { KF_DTT_NAME, KF_DTT_ID, KF_DTT_ERROR, KF_DTT_ERROR_MSG };

/* ---- DescribeConfigs (32) ---- */

extern const struct kf_schema kf_describe_configs_resource;
extern const struct kf_schema kf_describe_configs_request;
extern const struct kf_schema kf_describe_configs_synonym;
extern const struct kf_schema kf_describe_configs_resource_result;
extern const struct kf_schema kf_describe_configs_result;
extern const struct kf_schema kf_describe_configs_response;
enum { KF_DCQ_RESOURCES, KF_DCQ_SYNONYMS, KF_DCQ_DOCUMENTATION };
enum { KF_DCQR_TYPE, KF_DCQR_NAME, KF_DCQR_KEYS };
enum { KF_DC_THROTTLE, KF_DC_RESULTS };
enum {
	KF_DCR_ERROR,
	KF_DCR_ERROR_MSG,
	KF_DCR_TYPE,
	KF_DCR_NAME,
	KF_DCR_CONFIGS,
};
enum {
	KF_DCC_NAME,
	KF_DCC_VALUE,
	KF_DCC_READ_ONLY,
	KF_DCC_IS_DEFAULT, /* version 0 only */
	KF_DCC_SOURCE,
	KF_DCC_SENSITIVE,
	KF_DCC_SYNONYMS,
	KF_DCC_TYPE,
	KF_DCC_DOCUMENTATION,
};
enum { KF_DCS_NAME, KF_DCS_VALUE, KF_DCS_SOURCE };

/* ---- AlterConfigs (33) ---- */

extern const struct kf_schema kf_alterable_config;
extern const struct kf_schema kf_alter_configs_resource;
extern const struct kf_schema kf_alter_configs_request;
extern const struct kf_schema kf_alter_configs_resource_response;
extern const struct kf_schema kf_alter_configs_response;
enum { KF_ACQ_RESOURCES, KF_ACQ_VALIDATE_ONLY };
enum { KF_ACQR_TYPE, KF_ACQR_NAME, KF_ACQR_CONFIGS };
enum { KF_ACQC_NAME, KF_ACQC_VALUE };
enum { KF_AC_THROTTLE, KF_AC_RESPONSES };
enum { KF_ACR_ERROR, KF_ACR_ERROR_MSG, KF_ACR_TYPE, KF_ACR_NAME };

/* ---- CreatePartitions (37) ---- */

extern const struct kf_schema kf_create_partitions_assignment;
extern const struct kf_schema kf_create_partitions_topic;
extern const struct kf_schema kf_create_partitions_request;
extern const struct kf_schema kf_create_partitions_topic_result;
extern const struct kf_schema kf_create_partitions_response;
enum { KF_CPQ_TOPICS, KF_CPQ_TIMEOUT, KF_CPQ_VALIDATE_ONLY };
enum { KF_CPQT_NAME, KF_CPQT_COUNT, KF_CPQT_ASSIGNMENTS };
enum { KF_CPQA_BROKER_IDS };
enum { KF_CP_THROTTLE, KF_CP_RESULTS };
enum { KF_CPR_NAME, KF_CPR_ERROR, KF_CPR_ERROR_MSG };

/* ---- ElectLeaders (43) ---- */

extern const struct kf_schema kf_elect_leaders_topic_partitions;
extern const struct kf_schema kf_elect_leaders_request;
extern const struct kf_schema kf_elect_leaders_partition_result;
extern const struct kf_schema kf_replica_election_result;
extern const struct kf_schema kf_elect_leaders_response;
enum { KF_ELQ_TYPE, KF_ELQ_TOPIC_PARTITIONS, KF_ELQ_TIMEOUT };
enum { KF_ELQT_TOPIC, KF_ELQT_PARTITIONS };
enum { KF_EL_THROTTLE, KF_EL_ERROR, KF_EL_RESULTS };
enum { KF_ELR_TOPIC, KF_ELR_PARTITIONS };
enum { KF_ELP_PARTITION, KF_ELP_ERROR, KF_ELP_ERROR_MSG };

/* ---- IncrementalAlterConfigs (44) ---- */

extern const struct kf_schema kf_incremental_alterable_config;
extern const struct kf_schema kf_incremental_alter_configs_resource;
extern const struct kf_schema kf_incremental_alter_configs_request;
extern const struct kf_schema kf_incremental_alter_configs_resource_response;
extern const struct kf_schema kf_incremental_alter_configs_response;
enum { KF_IACQ_RESOURCES, KF_IACQ_VALIDATE_ONLY };
enum { KF_IACQR_TYPE, KF_IACQR_NAME, KF_IACQR_CONFIGS };
enum { KF_IACQC_NAME, KF_IACQC_OP, KF_IACQC_VALUE };
enum { KF_IAC_THROTTLE, KF_IAC_RESPONSES };
enum { KF_IACR_ERROR, KF_IACR_ERROR_MSG, KF_IACR_TYPE, KF_IACR_NAME };

/* ---- DescribeQuorum (55) ---- */

extern const struct kf_schema kf_describe_quorum_request_partition;
extern const struct kf_schema kf_describe_quorum_request_topic;
extern const struct kf_schema kf_describe_quorum_request;
extern const struct kf_schema kf_replica_state;
extern const struct kf_schema kf_describe_quorum_partition;
extern const struct kf_schema kf_describe_quorum_topic;
extern const struct kf_schema kf_describe_quorum_response;
enum { KF_DQQ_TOPICS };
enum { KF_DQQT_NAME, KF_DQQT_PARTITIONS };
enum { KF_DQQP_INDEX };
enum { KF_DQ_ERROR, KF_DQ_TOPICS };
enum { KF_DQT_NAME, KF_DQT_PARTITIONS };
enum {
	KF_DQP_INDEX,
	KF_DQP_ERROR,
	KF_DQP_LEADER,
	KF_DQP_EPOCH,
	KF_DQP_HIGH_WATERMARK,
	KF_DQP_VOTERS,
	KF_DQP_OBSERVERS,
};
enum {
	KF_DQR_REPLICA_ID,
	KF_DQR_LOG_END_OFFSET,
	KF_DQR_LAST_FETCH,
	KF_DQR_LAST_CAUGHT_UP,
};

/* ---- DescribeCluster (60) ---- */

extern const struct kf_schema kf_describe_cluster_request;
extern const struct kf_schema kf_describe_cluster_broker;
extern const struct kf_schema kf_describe_cluster_response;
enum { KF_DCLQ_INCLUDE_CLUSTER_OPS, KF_DCLQ_ENDPOINT_TYPE };
enum {
	KF_DCL_THROTTLE,
	KF_DCL_ERROR,
	KF_DCL_ERROR_MSG,
	KF_DCL_ENDPOINT_TYPE,
	KF_DCL_CLUSTER_ID,
	KF_DCL_CONTROLLER_ID,
	KF_DCL_BROKERS,
	KF_DCL_CLUSTER_OPS,
};
enum { KF_DCLB_BROKER_ID, KF_DCLB_HOST, KF_DCLB_PORT, KF_DCLB_RACK };

/* ---- ConsumerGroupDescribe (69) ---- */

extern const struct kf_schema kf_consumer_group_describe_request;
extern const struct kf_schema kf_consumer_group_topic_partitions;
extern const struct kf_schema kf_consumer_group_assignment;
extern const struct kf_schema kf_consumer_group_member;
extern const struct kf_schema kf_consumer_group_described_group;
extern const struct kf_schema kf_consumer_group_describe_response;
enum { KF_CGDQ_GROUP_IDS, KF_CGDQ_INCLUDE_OPS };
enum { KF_CGD_THROTTLE, KF_CGD_GROUPS };
enum {
	KF_CGDG_ERROR,
	KF_CGDG_ERROR_MSG,
	KF_CGDG_GROUP_ID,
	KF_CGDG_STATE,
	KF_CGDG_EPOCH,
	KF_CGDG_ASSIGNMENT_EPOCH,
	KF_CGDG_ASSIGNOR,
	KF_CGDG_MEMBERS,
	KF_CGDG_OPS,
};
enum {
	KF_CGDM_MEMBER_ID,
	KF_CGDM_INSTANCE_ID,
	KF_CGDM_RACK_ID,
	KF_CGDM_EPOCH,
	KF_CGDM_CLIENT_ID,
	KF_CGDM_CLIENT_HOST,
	KF_CGDM_TOPIC_NAMES,
	KF_CGDM_TOPIC_REGEX,
	KF_CGDM_ASSIGNMENT,	   /* a struct (kf_consumer_group_assignment) */
	KF_CGDM_TARGET_ASSIGNMENT, /* the same */
};
enum { KF_CGDA_TOPIC_PARTITIONS };
enum { KF_CGDT_ID, KF_CGDT_NAME, KF_CGDT_PARTITIONS };

/* ---- the consumer protocol, version 0 (never flexible) ---- */

extern const struct kf_schema kf_consumer_protocol_subscription;
extern const struct kf_schema kf_consumer_protocol_topic_partition;
extern const struct kf_schema kf_consumer_protocol_assignment;
enum { KF_CSUB_TOPICS, KF_CSUB_USER_DATA };
enum { KF_CASG_PARTITIONS, KF_CASG_USER_DATA };
enum { KF_CASGT_TOPIC, KF_CASGT_PARTITIONS };

#endif
