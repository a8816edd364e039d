/* controller/settings.c - dynamic configs in effect (see settings.h). */
#include "settings.h"

#include <stdlib.h>

#include "configdefs.h"

uint64_t settings_u64(struct store *s, const char *key)
{
	char *v = NULL;
	uint64_t x;
	if (store_config_get(s, STORE_SCOPE_CLUSTER, NULL, key, &v) !=
		STORE_OK ||
	    v == NULL)
		return strtoull(configdef_find(key)->default_value, NULL, 10);
	x = strtoull(v, NULL, 10);
	free(v);
	return x;
}
