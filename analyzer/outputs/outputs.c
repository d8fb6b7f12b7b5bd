/* SPDX-License-Identifier: MIT */
/*
 * The front of the outputs (outputs.h): finds a format's writer and runs
 * it on a finished analysis under the one out-of-memory guard, so that the
 * writers themselves only write.
 */
#include "outputs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "view.h"
#include "writer.h"

static const struct {
	const char *name;
	const struct writer *w; /* NULL: records, from the traces */
} formats[] = {
	[OUT_JSON] = { "json", &json_writer },
	[OUT_TEXT] = { "text", &text_writer },
	[OUT_HTML] = { "html", &html_writer },
	[OUT_PPROF] = { "pprof", &pprof_writer },
	[OUT_PERFETTO] = { "perfetto", &perfetto_writer },
	[OUT_FOLDED] = { "folded", &folded_writer },
	[OUT_RECORDS] = { "records", NULL },
	[OUT_FOLDED_WRITES] = { "folded-writes", &folded_writes_writer },
};

int output__format(const char *fmt)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (!strcmp(fmt, formats[i].name))
			return (int)i;
	return -EINVAL;
}

struct job {
	const struct writer *w;
	struct analysis *a;
	FILE *f;
	size_t json_flags;
	void *state;
};

static int run(void *ctx)
{
	struct job *j = ctx;
	return j->w->write(j->a, j->f, j->json_flags, j->state);
}

int output__write(struct analysis *a, enum output_format fmt, FILE *f, size_t json_flags)
{
	if ((size_t)fmt >= sizeof(formats) / sizeof(formats[0]) || !formats[fmt].w || !a->shaped)
		return -EINVAL;
	struct job j = { formats[fmt].w, a, f, json_flags, NULL };
	if (j.w->state_size && !(j.state = calloc(1, j.w->state_size)))
		return -ENOMEM;
	int err = model__try(run, &j);
	if (j.w->release)
		j.w->release(j.state);
	free(j.state);
	if (!err && (fflush(f) || ferror(f)))
		err = errno ? -errno : -EIO;
	return err;
}

uint32_t writer__intern(struct strtab *t, const void *s, size_t n, bool *fresh)
{
	uint32_t id;
	bool is_new;
	if (strtab__id(t, s, n, &id, &is_new))
		model__oom();
	if (fresh)
		*fresh = is_new;
	return id;
}
