/* net/kafka_apis.h - schemas of the Kafka messages Synod speaks (see
 * kafka_apis.c) and the field positions handlers use (KF_<MESSAGE>_<FIELD>:
 * the index of the field in its schema's table). */
#ifndef SYNOD_KAFKA_APIS_H
#define SYNOD_KAFKA_APIS_H

#include "kafka.h"

enum { KF_API_METADATA = 3, KF_API_API_VERSIONS = 18 };

/* Kafka error codes used here. */
enum {
	KF_ERR_NONE = 0,
	KF_ERR_UNKNOWN_TOPIC_OR_PARTITION = 3,
	KF_ERR_LEADER_NOT_AVAILABLE = 5,
	KF_ERR_UNSUPPORTED_VERSION = 35,
	KF_ERR_INVALID_REQUEST = 42,
	KF_ERR_UNKNOWN_TOPIC_ID = 100,
};

extern const struct kf_schema kf_api_versions_request;
extern const struct kf_schema kf_api_version;
extern const struct kf_schema kf_api_versions_response;
enum { KF_AV_ERROR, KF_AV_API_KEYS, KF_AV_THROTTLE };
enum { KF_AVK_KEY, KF_AVK_MIN, KF_AVK_MAX };

extern const struct kf_schema kf_metadata_request_topic;
extern const struct kf_schema kf_metadata_request;
enum { KF_MDQ_TOPICS, KF_MDQ_AUTO_CREATE };
enum { KF_MDQT_ID, KF_MDQT_NAME };

extern const struct kf_schema kf_metadata_broker;
extern const struct kf_schema kf_metadata_partition;
extern const struct kf_schema kf_metadata_topic;
extern const struct kf_schema kf_metadata_response;
enum {
	KF_MD_THROTTLE,
	KF_MD_BROKERS,
	KF_MD_CLUSTER_ID,
	KF_MD_CONTROLLER_ID,
	KF_MD_TOPICS,
	KF_MD_CLUSTER_OPS,
};
enum { KF_MDB_NODE_ID, KF_MDB_HOST, KF_MDB_PORT, KF_MDB_RACK };
enum {
	KF_MDT_ERROR,
	KF_MDT_NAME,
	KF_MDT_ID,
	KF_MDT_INTERNAL,
	KF_MDT_PARTITIONS,
	KF_MDT_OPS,
};
enum {
	KF_MDP_ERROR,
	KF_MDP_INDEX,
	KF_MDP_LEADER,
	KF_MDP_EPOCH,
	KF_MDP_REPLICAS,
	KF_MDP_ISR,
	KF_MDP_OFFLINE,
};

#endif
