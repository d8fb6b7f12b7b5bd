// SPDX-License-Identifier: MIT
/* See btfscan.h. The layout is the kernel's uapi linux/btf.h: a header,
 * then a type section (one struct btf_type each, followed by data whose
 * size depends on its kind and vlen) and a string section. */
#include "btfscan.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/btf.h>

#define BTFSCAN_MAX (256u << 20) /* no kernel's BTF comes near */

int btfscan__open(struct btfscan *b, const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), err;

	memset(b, 0, sizeof(*b));
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || st.st_size <= 0 || (uint64_t)st.st_size > BTFSCAN_MAX) {
		err = st.st_size <= 0 ? -EINVAL : -EFBIG;
		close(fd);
		return err;
	}
	b->size = (size_t)st.st_size;
	void *m = mmap(NULL, b->size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m != MAP_FAILED) {
		b->data = m;
		b->mapped = 1;
		close(fd);
		return 0;
	}
	/* before 6.16 the file cannot be mapped: read it (sysfs gives at
	 * most a page per read whatever is asked) */
	unsigned char *buf = malloc(b->size);
	size_t n = 0;
	while (buf && n < b->size) {
		ssize_t r = read(fd, buf + n, b->size - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	err = !buf ? -ENOMEM : n != b->size ? -EIO : 0;
	close(fd);
	if (err) {
		free(buf);
		return err;
	}
	b->data = buf;
	return 0;
}

void btfscan__close(struct btfscan *b)
{
	if (b->mapped)
		munmap((void *)b->data, b->size);
	else
		free((void *)b->data);
	memset(b, 0, sizeof(*b));
}

struct sections {
	const unsigned char *types, *strs;
	uint32_t types_len, strs_len;
};

static int sections(const struct btfscan *b, struct sections *s)
{
	struct btf_header h;

	if (b->size < sizeof(h))
		return -EINVAL;
	memcpy(&h, b->data, sizeof(h));
	if (h.magic != BTF_MAGIC || h.version != BTF_VERSION || h.hdr_len < sizeof(h) ||
	    (uint64_t)h.hdr_len + h.type_off + h.type_len > b->size ||
	    (uint64_t)h.hdr_len + h.str_off + h.str_len > b->size)
		return -EINVAL;
	s->types = b->data + h.hdr_len + h.type_off;
	s->types_len = h.type_len;
	s->strs = b->data + h.hdr_len + h.str_off;
	s->strs_len = h.str_len;
	return 0;
}

/* The bytes that follow a type of this kind and vlen, or -1 for a kind
 * this walker does not know. */
static long extra(unsigned kind, unsigned vlen)
{
	switch (kind) {
	case BTF_KIND_INT:
	case BTF_KIND_VAR:
	case BTF_KIND_DECL_TAG:
		return 4;
	case BTF_KIND_PTR:
	case BTF_KIND_FWD:
	case BTF_KIND_TYPEDEF:
	case BTF_KIND_VOLATILE:
	case BTF_KIND_CONST:
	case BTF_KIND_RESTRICT:
	case BTF_KIND_FUNC:
	case BTF_KIND_FLOAT:
	case BTF_KIND_TYPE_TAG:
		return 0;
	case BTF_KIND_ARRAY:
		return sizeof(struct btf_array);
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION:
		return (long)vlen * sizeof(struct btf_member);
	case BTF_KIND_ENUM:
		return (long)vlen * sizeof(struct btf_enum);
	case BTF_KIND_FUNC_PROTO:
		return (long)vlen * sizeof(struct btf_param);
	case BTF_KIND_DATASEC:
		return (long)vlen * sizeof(struct btf_var_secinfo);
	case 19: /* BTF_KIND_ENUM64 (6.0), not in every linux/btf.h */
		return (long)vlen * 12;
	}
	return -1;
}

static const char *str_at(const struct sections *s, uint32_t off)
{
	if (off >= s->strs_len || !memchr(s->strs + off, 0, s->strs_len - off))
		return NULL;
	return (const char *)s->strs + off;
}

/* Walk the types, calling f on each with its id; stops when f returns
 * nonzero (that value returned). 0 at the end, -EINVAL on bad data. */
static int walk(const struct sections *s,
		int (*f)(const struct sections *, int, const struct btf_type *, void *), void *arg)
{
	uint32_t off = 0;
	int id = 1, r;

	while (off < s->types_len) {
		struct btf_type t;
		if (s->types_len - off < sizeof(t))
			return -EINVAL;
		memcpy(&t, s->types + off, sizeof(t));
		long x = extra(BTF_INFO_KIND(t.info), BTF_INFO_VLEN(t.info));
		if (x < 0 || s->types_len - off - sizeof(t) < (unsigned long)x)
			return -EINVAL;
		if ((r = f(s, id, (const struct btf_type *)(s->types + off), arg)))
			return r;
		off += sizeof(t) + (uint32_t)x;
		id++;
	}
	return 0;
}

struct find_arg {
	struct btfscan_query *q;
	size_t nq, left;
};

static int find_one(const struct sections *s, int id, const struct btf_type *tp, void *arg)
{
	struct find_arg *a = arg;
	struct btf_type t;
	memcpy(&t, tp, sizeof(t));
	unsigned kind = BTF_INFO_KIND(t.info);
	const char *name = NULL;

	for (size_t i = 0; i < a->nq; i++) {
		if (a->q[i].id || a->q[i].kind != (int)kind)
			continue;
		if (!name && !(name = str_at(s, t.name_off)))
			return -EINVAL;
		if (!strcmp(name, a->q[i].name)) {
			a->q[i].id = id;
			if (!--a->left)
				return 1; /* all found */
		}
	}
	return 0;
}

int btfscan__find(const struct btfscan *b, struct btfscan_query *q, size_t nq)
{
	struct sections s;
	struct find_arg a = { q, nq, nq };

	for (size_t i = 0; i < nq; i++)
		q[i].id = 0;
	if (sections(b, &s))
		return -EINVAL;
	int r = nq ? walk(&s, find_one, &a) : 0;
	return r < 0 ? r : 0;
}

struct member_arg {
	int id;
	const char *member;
	int found;
};

static int member_of(const struct sections *s, int id, const struct btf_type *tp, void *arg)
{
	struct member_arg *a = arg;
	struct btf_type t;

	if (id != a->id)
		return 0;
	memcpy(&t, tp, sizeof(t));
	unsigned kind = BTF_INFO_KIND(t.info), vlen = BTF_INFO_VLEN(t.info);
	if (kind != BTF_KIND_STRUCT && kind != BTF_KIND_UNION)
		return -EINVAL;
	const unsigned char *m = (const unsigned char *)tp + sizeof(t);
	for (unsigned i = 0; i < vlen; i++, m += sizeof(struct btf_member)) {
		struct btf_member bm;
		memcpy(&bm, m, sizeof(bm));
		const char *n = str_at(s, bm.name_off);
		if (!n)
			return -EINVAL;
		if (!strcmp(n, a->member)) {
			a->found = 1;
			break;
		}
	}
	return 1;
}

int btfscan__has_member(const struct btfscan *b, int id, const char *member)
{
	struct sections s;
	struct member_arg a = { id, member, 0 };

	if (id <= 0 || sections(b, &s))
		return -EINVAL;
	int r = walk(&s, member_of, &a);
	return r < 0 ? r : r == 0 ? -EINVAL : a.found;
}
