/* tests/fuzz/fuzz_config.c - the daemon's configuration
 * (controller/config.c): an ini file as `synod --config FILE` reads it
 * (config_load_file over inih, then config_validate), and the same
 * setters as the command line reaches them (config_set with a key and a
 * value, config_parse_voters).
 *
 * Input: byte 0 selects: 0-5 the rest is a config file (written to a
 * memfd, read back by path: config_load_file takes a path); 6 the rest is
 * "KEY\0VALUE" for config_set; 7 the rest is a voters list.
 *
 * Invariants: nothing crashes; a file that loads and validates gives
 * fixed-size strings that are NUL-terminated, a node id in [1, 2^32-1],
 * at most SYNOD_MAX_VOTERS voters with distinct ids and addresses that
 * config_check_hostport accepts. */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz_common.h"

static int fd = -1;
static char path[64];

static int terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static void check_config(const struct synod_config *c, int validated)
{
	FUZZ_CHECK(terminated(c->raft_address, sizeof c->raft_address));
	FUZZ_CHECK(terminated(c->client_address, sizeof c->client_address));
	FUZZ_CHECK(terminated(c->data_dir, sizeof c->data_dir));
	FUZZ_CHECK(terminated(c->cluster_id, sizeof c->cluster_id));
	FUZZ_CHECK(c->n_voters <= SYNOD_MAX_VOTERS);
	for (unsigned i = 0; i < c->n_voters; i++) {
		const struct voter_spec *v = &c->voters[i];
		FUZZ_CHECK(v->id >= 1 && v->id <= UINT32_MAX);
		FUZZ_CHECK(config_check_hostport(v->raft_address) == 0);
		FUZZ_CHECK(config_check_hostport(v->client_address) == 0);
		for (unsigned k = 0; k < i; k++)
			FUZZ_CHECK(c->voters[k].id != v->id);
	}
	if (!validated)
		return;
	FUZZ_CHECK(c->node_id >= 1 && c->node_id <= UINT32_MAX);
	FUZZ_CHECK(c->data_dir[0] != '\0' && c->cluster_id[0] != '\0');
	FUZZ_CHECK(c->max_read_buffer_bytes >= c->max_frame);
	if (c->raft_address[0])
		FUZZ_CHECK(config_check_hostport(c->raft_address) == 0);
}

static void load_file(const uint8_t *data, size_t size)
{
	struct synod_config c;
	char err[512];
	if (fd < 0) {
		fd = memfd_create("fuzz-synod.conf", 0);
		FUZZ_CHECK(fd >= 0);
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	FUZZ_CHECK(ftruncate(fd, 0) == 0);
	FUZZ_CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);
	config_defaults(&c);
	if (config_load_file(&c, path, err, sizeof err) != 0) {
		FUZZ_CHECK(terminated(err, sizeof err) && err[0] != '\0');
		check_config(&c, 0);
		return;
	}
	check_config(&c, 0);
	if (config_validate(&c, err, sizeof err) == 0)
		check_config(&c, 1);
}

static void set_one(const uint8_t *data, size_t size)
{
	struct synod_config c;
	char err[256], *key = malloc(size + 1);
	const char *value;
	FUZZ_CHECK(key != NULL);
	memcpy(key, data, size);
	key[size] = '\0';
	value = key + strlen(key);
	if (value < key + size)
		value++; /* after the NUL */
	config_defaults(&c);
	if (config_set(&c, key, value, err, sizeof err) != 0)
		FUZZ_CHECK(terminated(err, sizeof err));
	check_config(&c, 0);
	free(key);
}

static void voters(const uint8_t *data, size_t size)
{
	struct synod_config c;
	char err[256], *spec = malloc(size + 1);
	unsigned n = 0;
	FUZZ_CHECK(spec != NULL);
	memcpy(spec, data, size);
	spec[size] = '\0';
	config_defaults(&c);
	if (config_parse_voters(spec, c.voters, SYNOD_MAX_VOTERS, &n, err,
				sizeof err) == 0) {
		c.n_voters = n;
		check_config(&c, 0);
	} else {
		FUZZ_CHECK(terminated(err, sizeof err));
		FUZZ_CHECK(n <= SYNOD_MAX_VOTERS);
	}
	free(spec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] & 7) {
	case 6:
		set_one(data + 1, size - 1);
		break;
	case 7:
		voters(data + 1, size - 1);
		break;
	default:
		load_file(data + 1, size - 1);
		break;
	}
	return 0;
}
