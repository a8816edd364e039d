/* net/errors.c - names and texts of synod_error codes. */
#include "synod/client.h"

static const struct {
	const char *name;
	const char *text;
} errors[SYNOD_ERROR_COUNT] = {
    [SYNOD_OK] = {"NONE", "success"},
    [SYNOD_EUNKNOWN] = {"UNKNOWN_SERVER_ERROR", "unexpected server error"},
    [SYNOD_ENOT_CONTROLLER] = {"NOT_CONTROLLER",
			       "this node is not the active controller"},
    [SYNOD_EINVALID_REQUEST] = {"INVALID_REQUEST", "malformed request"},
    [SYNOD_EUNSUPPORTED_VERSION] = {"UNSUPPORTED_VERSION",
				    "frame or api version not supported"},
    [SYNOD_EUNSUPPORTED_API] = {"UNSUPPORTED_API", "unknown api"},
    [SYNOD_EMESSAGE_TOO_LARGE] = {"MESSAGE_TOO_LARGE",
				  "frame larger than the maximum size"},
    [SYNOD_ECLUSTER_ID_MISMATCH] = {"CLUSTER_ID_MISMATCH",
				    "request is for another cluster"},
    [SYNOD_EINVALID_CONFIG] = {"INVALID_CONFIG",
			       "config key or value not valid"},
    [SYNOD_ENOT_FOUND] = {"NOT_FOUND", "not found"},
    [SYNOD_ETIMEOUT] = {"TIMEOUT", "deadline passed"},
    [SYNOD_EUNAVAILABLE] = {"UNAVAILABLE", "no quorum or no leader now"},
    [SYNOD_EBUSY] = {"BUSY", "another change is in progress"},
    [SYNOD_EINVALID_ARGUMENT] = {"INVALID_ARGUMENT", "argument not acceptable"},
    [SYNOD_ESHUTTING_DOWN] = {"SHUTTING_DOWN", "shutting down"},
    [SYNOD_ECONNECTION] = {"CONNECTION_ERROR", "could not reach any node"},
    [SYNOD_ENOMEM] = {"OUT_OF_MEMORY", "out of memory"},
    [SYNOD_ECANCELED] = {"CANCELED", "request canceled"},
    [SYNOD_ESTALE_BROKER_EPOCH] = {"STALE_BROKER_EPOCH",
				   "broker epoch is not the current one"},
    [SYNOD_EDUPLICATE_BROKER_REGISTRATION] =
	{"DUPLICATE_BROKER_REGISTRATION",
	 "another live incarnation holds this broker id"},
    [SYNOD_EUNKNOWN_BROKER] = {"UNKNOWN_BROKER", "broker id not registered"},
    [SYNOD_ETOPIC_ALREADY_EXISTS] = {"TOPIC_ALREADY_EXISTS",
				     "a topic of that name exists"},
    [SYNOD_EINVALID_REPLICATION_FACTOR] =
	{"INVALID_REPLICATION_FACTOR",
	 "replication factor not possible with the brokers available"},
    [SYNOD_EINVALID_PARTITIONS] = {"INVALID_PARTITIONS",
				   "partition count not valid"},
    [SYNOD_EUNKNOWN_TOPIC] = {"UNKNOWN_TOPIC", "no such topic"},
    [SYNOD_ENOT_LEADER] = {"NOT_LEADER",
			   "the requester does not lead the partition"},
    [SYNOD_EFENCED_LEADER_EPOCH] = {"FENCED_LEADER_EPOCH",
				    "leader epoch is stale"},
    [SYNOD_EINVALID_UPDATE_VERSION] = {"INVALID_UPDATE_VERSION",
				       "partition epoch is stale"},
    [SYNOD_EINVALID_ISR] = {"INVALID_ISR", "proposed ISR not acceptable"},
    [SYNOD_EINVALID_TOPIC] = {"INVALID_TOPIC", "topic name not valid"},
    [SYNOD_EELECTION_NOT_NEEDED] = {"ELECTION_NOT_NEEDED",
				    "the partition already has that leader"},
    [SYNOD_EUNKNOWN_PARTITION] = {"UNKNOWN_PARTITION", "no such partition"},
    [SYNOD_ECHANGE_FAILED] = {"CHANGE_FAILED",
			      "quorum change did not complete"},
    [SYNOD_EUNKNOWN_MEMBER_ID] = {"UNKNOWN_MEMBER_ID",
				  "the member id is not in the group"},
    [SYNOD_EFENCED_MEMBER_EPOCH] =
	{"FENCED_MEMBER_EPOCH",
	 "member epoch not acceptable: give up every partition and rejoin"},
    [SYNOD_EUNRELEASED_INSTANCE_ID] =
	{"UNRELEASED_INSTANCE_ID",
	 "the instance id is still held by a member that has not left"},
    [SYNOD_EFENCED_INSTANCE_ID] = {"FENCED_INSTANCE_ID",
				   "the instance id belongs to another member"},
    [SYNOD_EGROUP_MAX_SIZE_REACHED] = {"GROUP_MAX_SIZE_REACHED",
				       "the group has its maximum of members"},
    [SYNOD_EUNSUPPORTED_ASSIGNOR] = {"UNSUPPORTED_ASSIGNOR",
				     "the server assignor is not enabled"},
    [SYNOD_EINVALID_REGULAR_EXPRESSION] =
	{"INVALID_REGULAR_EXPRESSION", "the regular expression is not valid"},
    [SYNOD_EGROUP_ID_NOT_FOUND] = {"GROUP_ID_NOT_FOUND", "no such group"},
    [SYNOD_ENON_EMPTY_GROUP] = {"NON_EMPTY_GROUP", "the group has members"},
    [SYNOD_EAUTHORIZATION_FAILED] = {"AUTHORIZATION_FAILED",
				     "the principal may not do this"},
};

const char *synod_error_name(int code)
{
	if (code < 0 || code >= SYNOD_ERROR_COUNT || !errors[code].name)
		return "UNKNOWN_ERROR_CODE";
	return errors[code].name;
}

const char *synod_strerror(int code)
{
	if (code < 0 || code >= SYNOD_ERROR_COUNT || !errors[code].text)
		return "unknown error code";
	return errors[code].text;
}
