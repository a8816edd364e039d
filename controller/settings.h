/* controller/settings.h - the value in effect of a cluster-scope dynamic
 * config: what the store holds, else the default of controller/
 * configdefs.c. For the modules' integer settings (topics, groups). */
#ifndef SYNOD_SETTINGS_H
#define SYNOD_SETTINGS_H

#include <stdint.h>

#include "../storage/store.h"

/* key must be in configdefs' table and of an integer type. */
uint64_t settings_u64(struct store *s, const char *key);

#endif
