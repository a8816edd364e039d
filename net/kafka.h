/* net/kafka.h - Kafka's wire format, table-driven (docs/kafka.md).
 *
 * A message is described once, as a schema: its fields in order, each
 * with its type, the versions it exists in, from which version it may be
 * null, and, for fields that only exist as tagged fields, its tag. The
 * one decoder and the one encoder here walk a schema for a given version;
 * whether the version is flexible (KIP-482: compact strings and arrays,
 * tagged fields after every struct) is the caller's (the API table).
 * Nothing is hand-coded per message.
 *
 * Values are a plain tree (struct kf_val) allocated from an arena with a
 * byte budget: a request never costs more than its budget, whatever its
 * counts claim (an array's count is checked against the bytes left before
 * anything is allocated).
 *
 * Ownership: everything a decode or a handler allocates lives in its
 * arena until kf_arena_free(). Encoded bytes go to a struct kf_buf owned
 * by the caller (kf_buf_free()).
 */
#ifndef SYNOD_KAFKA_H
#define SYNOD_KAFKA_H

#include <stddef.h>
#include <stdint.h>

enum kf_type {
	KF_BOOL = 1,
	KF_INT8,
	KF_INT16,
	KF_INT32,
	KF_INT64,
	KF_UUID,
	KF_STRING,
	KF_BYTES,
	KF_ARRAY,  /* of elem_type (a struct when schema is set) */
	KF_STRUCT, /* a nested struct (schema) */
};

#define KF_NEVER INT16_MAX /* a version no message reaches */

struct kf_schema;

struct kf_field {
	const char *name;
	enum kf_type type;
	enum kf_type elem_type;		/* KF_ARRAY */
	const struct kf_schema *schema; /* KF_STRUCT, KF_ARRAY of structs */
	int16_t min, max;		/* versions the field exists in */
	int16_t null_min;		/* may be null from (KF_NEVER: never) */
	int32_t tag;			/* >= 0: a tagged field (flexible) */
	int64_t def;			/* ints and bools outside min..max */
};

struct kf_schema {
	const char *name;
	const struct kf_field *fields;
	unsigned n;
};

/* A value. Structs: v[i] is field i of the schema (n = schema->n).
 * Arrays: v[0..n). Strings and bytes: p[0..len), NUL-terminated when
 * decoded. null: a null string, bytes or array. */
struct kf_val {
	int null;
	int64_t i;
	uint8_t uuid[16];
	const char *p;
	size_t len;
	struct kf_val *v;
	size_t n;
};

/* ---- arena ---- */

struct kf_chunk;
struct kf_arena {
	struct kf_chunk *chunks;
	size_t used, budget; /* bytes given out, and the most allowed */
};
void kf_arena_init(struct kf_arena *a, size_t budget);
void kf_arena_free(struct kf_arena *a);
/* Zeroed memory, or NULL past the budget or out of memory. */
void *kf_alloc(struct kf_arena *a, size_t size);

/* A struct of schema s with every field at its default (0, "" or an
 * empty array; ints and bools at the field's def). NULL: no memory. */
struct kf_val *kf_struct(struct kf_arena *a, const struct kf_schema *s);
/* An array of n zeroed values into v (0, or -1: no memory). */
int kf_array(struct kf_arena *a, struct kf_val *v, size_t n);
/* An array of n int32 values into v (0, or -1: no memory). */
int kf_int32s(struct kf_arena *a, struct kf_val *v, const int32_t *ids,
	      size_t n);
/* A string value (copied into the arena; NULL s: null). */
int kf_string(struct kf_arena *a, struct kf_val *v, const char *s);

/* ---- bytes ---- */

struct kf_buf {
	uint8_t *p;
	size_t len, cap;
	int failed; /* out of memory: the contents are incomplete */
};
void kf_buf_free(struct kf_buf *b);
void kf_put(struct kf_buf *b, const void *p, size_t n);
void kf_put_i16(struct kf_buf *b, int16_t v);
void kf_put_i32(struct kf_buf *b, int32_t v);
void kf_put_uvarint(struct kf_buf *b, uint64_t v);

/* ---- the codec ---- */

enum {
	KF_OK = 0,
	KF_ESHORT = -1,	    /* the bytes end inside a value */
	KF_EMALFORMED = -2, /* a negative length, a varint too long, ... */
	KF_EBUDGET = -3,    /* the arena's budget (or memory) ran out */
};
const char *kf_strerror(int rv);

/* Decode a value of schema s at version (flexible: the compact forms and
 * tagged fields) from buf[*off..len); *off moves past it. Unknown tagged
 * fields are skipped; known ones fill their field. */
int kf_decode(const struct kf_schema *s, int16_t version, int flexible,
	      const uint8_t *buf, size_t len, size_t *off, struct kf_arena *a,
	      struct kf_val *out);
/* Encode v (a struct of schema s) at version. Fields not in the version
 * are left out; a null where the version allows none is written as
 * empty. Tagged fields are written when they differ from their default. */
void kf_encode(const struct kf_schema *s, int16_t version, int flexible,
	       const struct kf_val *v, struct kf_buf *out);

/* ---- request and response headers ---- */

struct kf_request_header {
	int16_t api_key;
	int16_t api_version;
	int32_t correlation_id;
	const char *client_id; /* in the arena, or NULL */
};
/* Header version 1 (client id) or 2 (and tagged fields), as the API's
 * version asks (flexible: 2). ApiVersions' version is read before its
 * flexibility is known: parse the first 8 bytes with kf_peek_header(). */
int kf_peek_header(const uint8_t *buf, size_t len, int16_t *api_key,
		   int16_t *api_version, int32_t *correlation_id);
int kf_decode_header(const uint8_t *buf, size_t len, int flexible, size_t *off,
		     struct kf_arena *a, struct kf_request_header *h);
/* Response header: version 0 (correlation id), or 1 (and an empty tagged
 * field section) when flexible. ApiVersions always uses version 0. */
void kf_encode_response_header(struct kf_buf *b, int32_t correlation_id,
			       int flexible);

#endif
