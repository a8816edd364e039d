/* net/random.h - random bytes and ids for the libraries (broker,
 * consumer): the kernel's generator, retried on EINTR.
 *
 * Ownership: the caller owns every buffer; nothing is kept here. */
#ifndef SYNOD_NET_RANDOM_H
#define SYNOD_NET_RANDOM_H

#include <stddef.h>
#include <stdint.h>

/* The text of a UUID: 36 characters and the NUL. */
#define NET_UUID_SIZE 37

/* Fill buf with len random bytes. 0, or -1 when the system has none. */
int net_random(void *buf, size_t len);

/* A version 4 UUID from the 16 bytes r (already random) into out
 * (NET_UUID_SIZE bytes): "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx". */
void net_uuid_text(const uint8_t r[16], char out[NET_UUID_SIZE]);

#endif
