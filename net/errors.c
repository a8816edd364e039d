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
    [SYNOD_ECHANGE_FAILED] = {"CHANGE_FAILED",
			      "quorum change did not complete"},
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
