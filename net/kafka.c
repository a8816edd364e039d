/* net/kafka.c - Kafka's wire format, table-driven (see kafka.h). */
#include "kafka.h"

#include <stdlib.h>
#include <string.h>

/* ---- arena ---- */

struct kf_chunk {
	struct kf_chunk *next;
	size_t used, size;
	max_align_t data[];
};

#define KF_CHUNK (64u << 10)

void kf_arena_init(struct kf_arena *a, size_t budget)
{
	a->chunks = NULL;
	a->used = 0;
	a->budget = budget;
}

void kf_arena_free(struct kf_arena *a)
{
	while (a->chunks) {
		struct kf_chunk *c = a->chunks;
		a->chunks = c->next;
		free(c);
	}
	a->used = 0;
}

void *kf_alloc(struct kf_arena *a, size_t size)
{
	struct kf_chunk *c = a->chunks;
	size_t need = (size + 15) & ~(size_t)15;
	void *p;
	if (need < size || a->used + need > a->budget || need > a->budget)
		return NULL;
	if (c == NULL || c->size - c->used < need) {
		size_t sz = need > KF_CHUNK ? need : KF_CHUNK;
		c = malloc(sizeof *c + sz);
		if (c == NULL)
			return NULL;
		c->used = 0;
		c->size = sz;
		c->next = a->chunks;
		a->chunks = c;
	}
	p = (char *)c->data + c->used;
	c->used += need;
	a->used += need;
	memset(p, 0, size);
	return p;
}

static int in_version(const struct kf_field *f, int16_t v)
{
	return v >= f->min && v <= f->max;
}

struct kf_val *kf_struct(struct kf_arena *a, const struct kf_schema *s)
{
	struct kf_val *v = kf_alloc(a, sizeof *v);
	if (v == NULL ||
	    (s->n && (v->v = kf_alloc(a, s->n * sizeof *v->v)) == NULL))
		return NULL;
	v->n = s->n;
	for (unsigned i = 0; i < s->n; i++) {
		v->v[i].i = s->fields[i].def;
		v->v[i].p = "";
	}
	return v;
}

int kf_array(struct kf_arena *a, struct kf_val *v, size_t n)
{
	v->null = 0;
	v->n = n;
	v->v = NULL;
	if (n == 0)
		return 0;
	if (n > SIZE_MAX / sizeof *v->v ||
	    (v->v = kf_alloc(a, n * sizeof *v->v)) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		v->v[i].p = "";
	return 0;
}

int kf_int32s(struct kf_arena *a, struct kf_val *v, const int32_t *ids,
	      size_t n)
{
	if (kf_array(a, v, n) != 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		v->v[i].i = ids[i];
	return 0;
}

int kf_string(struct kf_arena *a, struct kf_val *v, const char *s)
{
	char *p;
	if (s == NULL) {
		v->null = 1;
		v->p = "";
		v->len = 0;
		return 0;
	}
	v->len = strlen(s);
	if ((p = kf_alloc(a, v->len + 1)) == NULL)
		return -1;
	memcpy(p, s, v->len + 1);
	v->p = p;
	v->null = 0;
	return 0;
}

/* ---- bytes out ---- */

void kf_buf_free(struct kf_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

void kf_put(struct kf_buf *b, const void *p, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		uint8_t *q;
		while (cap < b->len + n)
			cap *= 2;
		if ((q = realloc(b->p, cap)) == NULL) {
			b->failed = 1;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void put_be(struct kf_buf *b, uint64_t v, int bytes)
{
	uint8_t x[8];
	for (int i = 0; i < bytes; i++)
		x[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	kf_put(b, x, (size_t)bytes);
}

void kf_put_i16(struct kf_buf *b, int16_t v)
{
	put_be(b, (uint16_t)v, 2);
}

void kf_put_i32(struct kf_buf *b, int32_t v)
{
	put_be(b, (uint32_t)v, 4);
}

void kf_put_uvarint(struct kf_buf *b, uint64_t v)
{
	uint8_t x[10];
	size_t n = 0;
	while (v >= 0x80) {
		x[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	x[n++] = (uint8_t)v;
	kf_put(b, x, n);
}

/* ---- bytes in ---- */

struct rd {
	const uint8_t *p;
	size_t len, off;
	int err;
};

static int have(struct rd *r, size_t n)
{
	if (r->err)
		return 0;
	if (r->len - r->off < n) {
		r->err = KF_ESHORT;
		return 0;
	}
	return 1;
}

static uint64_t get_be(struct rd *r, int bytes)
{
	uint64_t v = 0;
	if (!have(r, (size_t)bytes))
		return 0;
	for (int i = 0; i < bytes; i++)
		v = v << 8 | r->p[r->off + (size_t)i];
	r->off += (size_t)bytes;
	return v;
}

/* An unsigned varint of at most 5 bytes (lengths, counts, tags). */
static uint32_t get_uvarint(struct rd *r)
{
	uint64_t v = 0;
	for (int i = 0; i < 5; i++) {
		uint8_t b;
		if (!have(r, 1))
			return 0;
		b = r->p[r->off++];
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			if (v > UINT32_MAX) {
				r->err = KF_EMALFORMED;
				return 0;
			}
			return (uint32_t)v;
		}
	}
	r->err = KF_EMALFORMED;
	return 0;
}

const char *kf_strerror(int rv)
{
	switch (rv) {
	case KF_OK:
		return "ok";
	case KF_ESHORT:
		return "the request ends inside a value";
	case KF_EMALFORMED:
		return "malformed value (negative length, bad varint, null "
		       "where none is allowed)";
	case KF_EBUDGET:
		return "the request needs more memory than allowed";
	default:
		return "unknown error";
	}
}

/* A length or count: -1 for null (allowed or not), else >= 0. */
static int64_t get_len(struct rd *r, int flexible, int wide)
{
	if (flexible) {
		uint32_t n = get_uvarint(r);
		return r->err ? 0 : (int64_t)n - 1;
	} else {
		int64_t n =
		    wide ? (int32_t)get_be(r, 4) : (int16_t)get_be(r, 2);
		if (!r->err && n < -1)
			r->err = KF_EMALFORMED;
		return n;
	}
}

static size_t min_size(enum kf_type t)
{
	switch (t) {
	case KF_INT16:
		return 2;
	case KF_INT32:
		return 4;
	case KF_INT64:
		return 8;
	case KF_UUID:
		return 16;
	default:
		return 1;
	}
}

static void dec_struct(const struct kf_schema *s, int16_t ver, int flex,
		       struct rd *r, struct kf_arena *a, struct kf_val *out);

static void dec_value(const struct kf_field *f, enum kf_type t, int16_t ver,
		      int flex, struct rd *r, struct kf_arena *a,
		      struct kf_val *v)
{
	int64_t n;
	switch (t) {
	case KF_BOOL:
	case KF_INT8:
		v->i = t == KF_BOOL ? get_be(r, 1) != 0 : (int8_t)get_be(r, 1);
		return;
	case KF_INT16:
		v->i = (int16_t)get_be(r, 2);
		return;
	case KF_INT32:
		v->i = (int32_t)get_be(r, 4);
		return;
	case KF_INT64:
		v->i = (int64_t)get_be(r, 8);
		return;
	case KF_UUID:
		if (have(r, 16)) {
			memcpy(v->uuid, r->p + r->off, 16);
			r->off += 16;
		}
		return;
	case KF_STRING:
	case KF_BYTES: {
		char *p;
		n = get_len(r, flex, t == KF_BYTES);
		if (r->err)
			return;
		if (n < 0) {
			if (ver < f->null_min)
				r->err = KF_EMALFORMED;
			v->null = 1;
			v->p = "";
			return;
		}
		if (!have(r, (size_t)n))
			return;
		if ((p = kf_alloc(a, (size_t)n + 1)) == NULL) {
			r->err = KF_EBUDGET;
			return;
		}
		memcpy(p, r->p + r->off, (size_t)n);
		p[n] = '\0';
		r->off += (size_t)n;
		v->p = p;
		v->len = (size_t)n;
		return;
	}
	case KF_ARRAY:
		n = get_len(r, flex, 1);
		if (r->err)
			return;
		if (n < 0) {
			if (ver < f->null_min)
				r->err = KF_EMALFORMED;
			v->null = 1;
			return;
		}
		/* Every element takes at least min_size bytes: a count the
		 * bytes left cannot hold is refused before any allocation. */
		if ((size_t)n > (r->len - r->off) / min_size(f->elem_type)) {
			r->err = KF_ESHORT;
			return;
		}
		if (kf_array(a, v, (size_t)n) != 0) {
			r->err = KF_EBUDGET;
			return;
		}
		for (int64_t i = 0; i < n && !r->err; i++)
			dec_value(f, f->elem_type, ver, flex, r, a, &v->v[i]);
		return;
	case KF_STRUCT:
		dec_struct(f->schema, ver, flex, r, a, v);
		return;
	}
}

static void dec_struct(const struct kf_schema *s, int16_t ver, int flex,
		       struct rd *r, struct kf_arena *a, struct kf_val *out)
{
	out->n = s->n;
	out->v = s->n ? kf_alloc(a, s->n * sizeof *out->v) : NULL;
	if (s->n && out->v == NULL) {
		r->err = KF_EBUDGET;
		return;
	}
	for (unsigned i = 0; i < s->n && !r->err; i++) {
		const struct kf_field *f = &s->fields[i];
		struct kf_val *v = &out->v[i];
		v->i = f->def;
		v->p = "";
		if (f->tag >= 0 || !in_version(f, ver))
			continue;
		dec_value(f, f->type, ver, flex, r, a, v);
	}
	if (flex && !r->err) {
		uint32_t tags = get_uvarint(r);
		for (uint32_t k = 0; k < tags && !r->err; k++) {
			uint32_t tag = get_uvarint(r), size = get_uvarint(r);
			const struct kf_field *known = NULL;
			unsigned idx = 0;
			struct rd sub;
			if (r->err || !have(r, size))
				break;
			for (unsigned i = 0; i < s->n; i++)
				if (s->fields[i].tag == (int32_t)tag &&
				    in_version(&s->fields[i], ver)) {
					known = &s->fields[i];
					idx = i;
				}
			if (known) {
				sub.p = r->p + r->off;
				sub.len = size;
				sub.off = 0;
				sub.err = 0;
				dec_value(known, known->type, ver, flex, &sub,
					  a, &out->v[idx]);
				if (sub.err)
					r->err = sub.err;
			}
			r->off += size;
		}
	}
}

int kf_decode(const struct kf_schema *s, int16_t version, int flexible,
	      const uint8_t *buf, size_t len, size_t *off, struct kf_arena *a,
	      struct kf_val *out)
{
	struct rd r = {buf, len, *off, 0};
	memset(out, 0, sizeof *out);
	dec_struct(s, version, flexible, &r, a, out);
	if (r.err)
		return r.err;
	*off = r.off;
	return KF_OK;
}

/* ---- encode ---- */

static void enc_struct(const struct kf_schema *s, int16_t ver, int flex,
		       const struct kf_val *v, struct kf_buf *b);

static void put_len(struct kf_buf *b, int flex, int wide, int64_t n)
{
	if (flex)
		kf_put_uvarint(b, (uint64_t)(n + 1));
	else if (wide)
		kf_put_i32(b, (int32_t)n);
	else
		kf_put_i16(b, (int16_t)n);
}

static void enc_value(const struct kf_field *f, enum kf_type t, int16_t ver,
		      int flex, const struct kf_val *v, struct kf_buf *b)
{
	int null_ok = ver >= f->null_min;
	switch (t) {
	case KF_BOOL:
	case KF_INT8:
		put_be(b, (uint8_t)(t == KF_BOOL ? v->i != 0 : v->i), 1);
		return;
	case KF_INT16:
		put_be(b, (uint16_t)v->i, 2);
		return;
	case KF_INT32:
		put_be(b, (uint32_t)v->i, 4);
		return;
	case KF_INT64:
		put_be(b, (uint64_t)v->i, 8);
		return;
	case KF_UUID:
		kf_put(b, v->uuid, 16);
		return;
	case KF_STRING:
	case KF_BYTES:
		if (v->null && null_ok) {
			put_len(b, flex, t == KF_BYTES, -1);
			return;
		}
		{
			size_t len = v->null ? 0 : v->len;
			if (t == KF_STRING && !flex && len > INT16_MAX)
				len = INT16_MAX; /* cannot be said: cut */
			put_len(b, flex, t == KF_BYTES, (int64_t)len);
			kf_put(b, v->null ? "" : v->p, len);
		}
		return;
	case KF_ARRAY:
		if (v->null && null_ok) {
			put_len(b, flex, 1, -1);
			return;
		}
		put_len(b, flex, 1, v->null ? 0 : (int64_t)v->n);
		for (size_t i = 0; !v->null && i < v->n; i++)
			enc_value(f, f->elem_type, ver, flex, &v->v[i], b);
		return;
	case KF_STRUCT:
		enc_struct(f->schema, ver, flex, v, b);
		return;
	}
}

static int is_default(const struct kf_field *f, const struct kf_val *v)
{
	switch (f->type) {
	case KF_STRING:
	case KF_BYTES:
		return v->null || v->len == 0;
	case KF_ARRAY:
		return v->null || v->n == 0;
	case KF_UUID: {
		static const uint8_t zero[16];
		return memcmp(v->uuid, zero, 16) == 0;
	}
	case KF_STRUCT:
		return 0;
	default:
		return v->i == f->def;
	}
}

static void enc_struct(const struct kf_schema *s, int16_t ver, int flex,
		       const struct kf_val *v, struct kf_buf *b)
{
	unsigned tagged = 0;
	for (unsigned i = 0; i < s->n; i++) {
		const struct kf_field *f = &s->fields[i];
		if (!in_version(f, ver))
			continue;
		if (f->tag >= 0) {
			if (flex && i < v->n && !is_default(f, &v->v[i]))
				tagged++;
			continue;
		}
		if (i < v->n) {
			enc_value(f, f->type, ver, flex, &v->v[i], b);
		} else {
			struct kf_val d;
			memset(&d, 0, sizeof d);
			d.i = f->def;
			d.p = "";
			enc_value(f, f->type, ver, flex, &d, b);
		}
	}
	if (!flex)
		return;
	kf_put_uvarint(b, tagged);
	for (unsigned i = 0; tagged && i < s->n; i++) {
		const struct kf_field *f = &s->fields[i];
		struct kf_buf sub = {0};
		if (f->tag < 0 || !in_version(f, ver) || i >= v->n ||
		    is_default(f, &v->v[i]))
			continue;
		enc_value(f, f->type, ver, flex, &v->v[i], &sub);
		if (sub.failed)
			b->failed = 1;
		kf_put_uvarint(b, (uint64_t)f->tag);
		kf_put_uvarint(b, sub.len);
		kf_put(b, sub.p, sub.len);
		kf_buf_free(&sub);
	}
}

void kf_encode(const struct kf_schema *s, int16_t version, int flexible,
	       const struct kf_val *v, struct kf_buf *out)
{
	enc_struct(s, version, flexible, v, out);
}

/* ---- headers ---- */

int kf_peek_header(const uint8_t *buf, size_t len, int16_t *api_key,
		   int16_t *api_version, int32_t *correlation_id)
{
	struct rd r = {buf, len, 0, 0};
	*api_key = (int16_t)get_be(&r, 2);
	*api_version = (int16_t)get_be(&r, 2);
	*correlation_id = (int32_t)get_be(&r, 4);
	return r.err;
}

int kf_decode_header(const uint8_t *buf, size_t len, int flexible, size_t *off,
		     struct kf_arena *a, struct kf_request_header *h)
{
	struct rd r = {buf, len, 0, 0};
	int16_t n;
	h->api_key = (int16_t)get_be(&r, 2);
	h->api_version = (int16_t)get_be(&r, 2);
	h->correlation_id = (int32_t)get_be(&r, 4);
	/* The client id stays a classic nullable string in header v2. */
	n = (int16_t)get_be(&r, 2);
	h->client_id = NULL;
	if (!r.err && n < -1)
		r.err = KF_EMALFORMED;
	if (!r.err && n >= 0 && have(&r, (size_t)n)) {
		char *p = kf_alloc(a, (size_t)n + 1);
		if (p == NULL)
			return KF_EBUDGET;
		memcpy(p, r.p + r.off, (size_t)n);
		p[n] = '\0';
		r.off += (size_t)n;
		h->client_id = p;
	}
	if (flexible && !r.err) {
		uint32_t tags = get_uvarint(&r);
		for (uint32_t k = 0; k < tags && !r.err; k++) {
			uint32_t size;
			(void)get_uvarint(&r);
			size = get_uvarint(&r);
			if (have(&r, size))
				r.off += size;
		}
	}
	if (r.err)
		return r.err;
	*off = r.off;
	return KF_OK;
}

void kf_encode_response_header(struct kf_buf *b, int32_t correlation_id,
			       int flexible)
{
	kf_put_i32(b, correlation_id);
	if (flexible)
		kf_put_uvarint(b, 0);
}
