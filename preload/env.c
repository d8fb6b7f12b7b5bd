/* SPDX-License-Identifier: MIT */
/* env (env.h; layer 1 of preload/, see shim.c): the shim's variables put
 * back into an exec'd program's environment, in the caller's buffers. */
#include "env.h"

#include <string.h>

static char store[16384];
static const char *saved[ENV_MAX_SAVED]; /* "VMAPROF_X=value" */
static size_t nsaved;
static const char *shim_path; /* value of VMAPROF_SHIM */

static size_t name_len(const char *kv)
{
	const char *eq = strchr(kv, '=');
	return eq ? (size_t)(eq - kv) : strlen(kv);
}

void env__save(char **env)
{
	size_t used = 0;
	nsaved = 0;
	shim_path = NULL;
	for (char **e = env; e && *e; e++) {
		if (strncmp(*e, "VMAPROF_", 8) != 0 || nsaved == ENV_MAX_SAVED)
			continue;
		size_t l = strlen(*e) + 1;
		if (used + l > sizeof(store))
			break;
		memcpy(store + used, *e, l);
		saved[nsaved++] = store + used;
		if (strncmp(*e, "VMAPROF_SHIM=", 13) == 0)
			shim_path = store + used + 13;
		used += l;
	}
}

size_t env__count(char *const envp[])
{
	size_t n = 0;
	while (envp && envp[n])
		n++;
	return n;
}

/* Does the LD_PRELOAD value list the shim (separators: space and colon)? */
static int lists_shim(const char *v)
{
	size_t sl = strlen(shim_path);
	for (const char *p = v; *p;) {
		size_t l = strcspn(p, ": ");
		if (l == sl && memcmp(p, shim_path, sl) == 0)
			return 1;
		p += l;
		p += strspn(p, ": ");
	}
	return 0;
}

char *const *env__fix(char *const envp[], char **out, size_t out_cap, char *buf,
		      size_t buf_cap, int *fixed)
{
	*fixed = 0;
	if (!shim_path)
		return envp; /* not recording: leave the program alone */
	size_t n = env__count(envp);
	if (out_cap < n + ENV_MAX_SAVED + 2)
		return NULL;
	size_t o = 0;
	int have_preload = 0;
	for (size_t i = 0; i < n; i++) {
		const char *kv = envp[i];
		if (strncmp(kv, "LD_PRELOAD=", 11) == 0) {
			have_preload = 1;
			if (!lists_shim(kv + 11)) {
				size_t need = 11 + strlen(shim_path) + 1 + strlen(kv + 11) + 1;
				if (need > buf_cap)
					return NULL;
				strcpy(buf, "LD_PRELOAD=");
				strcat(buf, shim_path);
				if (kv[11]) {
					strcat(buf, ":");
					strcat(buf, kv + 11);
				}
				kv = buf;
				*fixed = 1;
			}
		}
		out[o++] = (char *)kv;
	}
	if (!have_preload) {
		size_t need = 11 + strlen(shim_path) + 1;
		if (need > buf_cap)
			return NULL;
		strcpy(buf, "LD_PRELOAD=");
		strcat(buf, shim_path);
		out[o++] = buf;
		*fixed = 1;
	}
	for (size_t s = 0; s < nsaved; s++) {
		size_t nl = name_len(saved[s]);
		int found = 0;
		for (size_t i = 0; i < n && !found; i++)
			found = strncmp(envp[i], saved[s], nl + 1) == 0;
		if (!found) {
			out[o++] = (char *)saved[s];
			*fixed = 1;
		}
	}
	out[o] = NULL;
	return *fixed ? out : envp;
}
