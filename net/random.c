/* net/random.c - random bytes and UUID text (net/random.h). */
#include "random.h"

#include <errno.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/types.h>

int net_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void net_uuid_text(const uint8_t r[16], char out[NET_UUID_SIZE])
{
	uint8_t v6 = (uint8_t)((r[6] & 0x0f) | 0x40); /* version 4 */
	uint8_t v8 = (uint8_t)((r[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	snprintf(out, NET_UUID_SIZE,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 r[0], r[1], r[2], r[3], r[4], r[5], v6, r[7], v8, r[9], r[10],
		 r[11], r[12], r[13], r[14], r[15]);
}
