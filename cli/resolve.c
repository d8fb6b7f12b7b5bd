/* SPDX-License-Identifier: MIT */
/* Whether a command can be run, before running it (resolve.h). */
#include "resolve.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* 0 if `path` is a file execve may run, else the errno execve would give
 * (ENOENT/ENOTDIR: nothing there; EACCES: there but not executable;
 * EISDIR for a directory, which execve reports as EACCES). */
static int runnable(const char *path)
{
	struct stat sb;
	if (stat(path, &sb) < 0)
		return errno;
	if (S_ISDIR(sb.st_mode))
		return EISDIR;
	if (!S_ISREG(sb.st_mode))
		return EACCES;
	/* as execve checks: the mode bits for our effective ids (root too
	 * needs one x bit), and a noexec mount */
	if (faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) < 0)
		return errno;
	return 0;
}

/* "cannot run 'CMD': CAUSE", or with the file the PATH search found for a
 * bare name, "cannot run 'CMD' (FOUND): CAUSE" */
static int say(char *why, size_t wl, int status, const char *cmd, const char *found,
	       const char *cause)
{
	if (found)
		snprintf(why, wl, "cannot run '%s' (%s): %s", cmd, found, cause);
	else
		snprintf(why, wl, "cannot run '%s': %s", cmd, cause);
	return status;
}

static int explain(const char *cmd, const char *found, const char *path, int e, char *why,
		   size_t wl)
{
	switch (e) {
	case ENOENT:
		return say(why, wl, 127, cmd, found, "no such file or directory");
	case EISDIR:
		return say(why, wl, 126, cmd, found, "is a directory");
	case EACCES: {
		struct stat sb;
		if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && !(sb.st_mode & 0111))
			return say(why, wl, 126, cmd, found, "permission denied (the file is not "
				   "executable)");
		if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
			return say(why, wl, 126, cmd, found, "permission denied (not a regular file)");
		return say(why, wl, 126, cmd, found, "permission denied");
	}
	default:
		return say(why, wl, e == ENOENT ? 127 : 126, cmd, found, strerror(e));
	}
}

char **resolve_candidates(const char *cmd)
{
	char defpath[256];
	const char *path = getenv("PATH");
	size_t n = 2, k = 0;
	char **v;

	if (strchr(cmd, '/') || !*cmd) {
		v = calloc(2, sizeof(*v));
		if (v && !(v[0] = strdup(cmd))) {
			free(v);
			v = NULL;
		}
		return v;
	}
	if (!path) {
		size_t l = confstr(_CS_PATH, defpath, sizeof(defpath));
		path = l > 0 && l <= sizeof(defpath) ? defpath : "/bin:/usr/bin";
	}
	for (const char *p = path; *p; p++)
		n += *p == ':';
	v = calloc(n, sizeof(*v));
	if (!v)
		return NULL;
	for (const char *p = path;; p++) {
		size_t l = strcspn(p, ":");
		/* "": the current directory */
		if (!(v[k++] = l ? malloc(l + strlen(cmd) + 2) : strdup(cmd))) {
			resolve_free(v);
			return NULL;
		}
		if (l)
			sprintf(v[k - 1], "%.*s/%s", (int)l, p, cmd);
		p += l;
		if (!*p)
			break;
	}
	return v;
}

void resolve_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

int resolve_command(const char *cmd, char *why, size_t wl)
{
	if (!*cmd)
		return say(why, wl, 127, cmd, NULL, "empty command name");
	if (strchr(cmd, '/')) {
		int e = runnable(cmd);
		return e ? explain(cmd, NULL, cmd, e, why, wl) : 0;
	}
	char **cands = resolve_candidates(cmd);
	if (!cands)
		return say(why, wl, 127, cmd, NULL, "out of memory");
	int denied = 0;
	char first_denied[PATH_MAX] = "";
	for (char **c = cands; *c; c++) {
		int e = runnable(*c);
		if (!e) {
			resolve_free(cands);
			return 0;
		}
		/* execvp goes on past these, and past what it may not run */
		if (e != ENOENT && e != ENOTDIR && e != ENAMETOOLONG && e != ELOOP && !denied) {
			denied = e;
			snprintf(first_denied, sizeof(first_denied), "%s", *c);
		}
	}
	resolve_free(cands);
	if (denied) {
		/* name the file found: the user gave only a name */
		return explain(cmd, first_denied, first_denied, denied, why, wl);
	}
	return say(why, wl, 127, cmd, NULL, "command not found (not in PATH)");
}

int resolve_exec_error(const char *cmd, int e, char *why, size_t wl)
{
	if (e == ENOENT) {
		/* gone since resolve_command looked? */
		int st = resolve_command(cmd, why, wl);
		if (st)
			return st;
		/* no: what is missing is what execve needs to run it */
		return say(why, wl, 127, cmd, NULL, "no such file or directory (its #! interpreter or "
			   "its ELF dynamic loader does not exist)");
	}
	return explain(cmd, NULL, cmd, e, why, wl);
}
