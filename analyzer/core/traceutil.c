/* SPDX-License-Identifier: MIT */
/* What the core and the outputs share (traceutil.h): the hash table
 * (u64map and its chains), string ids (strtab), stack records by id. */
#include "traceutil.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "reader.h"

/* Fibonacci hashing: the top bits of the product, which every bit of the
 * key reaches. (Bits from the 17th up, as before, were reached by none of
 * the key's bits above the table's size + 17: keys `file << 32 | id`, `pid
 * << 32 | n` of 10,000 processes fell into a few long runs of slots.) */
static size_t slot_of(uint64_t key, size_t cap)
{
	return u64map__home(key, cap);
}

/* n zeroed bytes, written rather than calloc'd: calloc leaves fresh heap
 * pages untouched, the first probe then maps the shared zero page and the
 * first store copies it, flushing the TLB of every CPU (an IPI; costly in
 * a VM): one write fault instead. */
static void *zalloc(size_t n)
{
	void *p = malloc(n);
	if (p)
		memset(p, 0, n);
	return p;
}

/* Room for one more key: the table doubles when half full. */
static int u64map_reserve(struct u64map *m)
{
	if ((m->n + 1) * 2 <= m->cap)
		return 0;
	size_t cap = m->cap ? m->cap * 2 : 8; /* most maps are small: an entry's fault sites */
	uint64_t *nk = zalloc(cap * sizeof(*nk));
	void **nv = zalloc(cap * sizeof(*nv));
	if (!nk || !nv) {
		free(nk);
		free(nv);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->key[i])
			continue;
		size_t j = slot_of(m->key[i], cap);
		while (nk[j])
			j = (j + 1) & (cap - 1);
		nk[j] = m->key[i];
		nv[j] = m->val[i];
	}
	free(m->key);
	free(m->val);
	m->key = nk;
	m->val = nv;
	m->cap = cap;
	return 0;
}

void **u64map__slot(struct u64map *m, uint64_t key)
{
	if (u64map_reserve(m))
		return NULL;
	size_t j = slot_of(key, m->cap);
	while (m->key[j] && m->key[j] != key)
		j = (j + 1) & (m->cap - 1);
	if (!m->key[j]) {
		m->n++;
		m->key[j] = key;
		m->val[j] = NULL;
	}
	return &m->val[j];
}

int u64map__put(struct u64map *m, uint64_t key, void *val)
{
	void **v = u64map__slot(m, key);
	if (!v)
		return -ENOMEM;
	*v = val;
	return 0;
}

void *u64map__get(const struct u64map *m, uint64_t key)
{
	if (!m->cap)
		return NULL;
	for (size_t j = slot_of(key, m->cap); m->key[j]; j = (j + 1) & (m->cap - 1))
		if (m->key[j] == key)
			return m->val[j];
	return NULL;
}

bool u64map__next(const struct u64map *m, size_t *i, uint64_t *key, void **val)
{
	for (; *i < m->cap; (*i)++) {
		if (m->key[*i]) {
			*key = m->key[*i];
			*val = m->val[(*i)++];
			return true;
		}
	}
	return false;
}

const char *vp_base_name(const char *path)
{
	const char *s = path ? strrchr(path, '/') : NULL;
	return s ? s + 1 : path ? path : "?";
}

uint64_t vp_hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h ? h : 1;
}

void u64map__free(struct u64map *m)
{
	free(m->key);
	free(m->val);
	memset(m, 0, sizeof(*m));
}

uint64_t vp_hash_bytes(const void *s, size_t n)
{
	const unsigned char *p = s;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h ? h : 1;
}

static int strtab_grow(struct strtab *t)
{
	uint32_t cap = t->cap ? t->cap * 2 : 256;
	char **s = realloc(t->s, cap * sizeof(*s));
	if (s)
		t->s = s;
	size_t *len = s ? realloc(t->len, cap * sizeof(*len)) : NULL;
	if (len)
		t->len = len;
	uint32_t *prev = len ? realloc(t->prev, cap * sizeof(*prev)) : NULL;
	if (!prev)
		return -ENOMEM; /* what did grow is kept: cap says what is used */
	t->prev = prev;
	t->cap = cap;
	return 0;
}

int strtab__id(struct strtab *t, const void *s, size_t n, uint32_t *id, bool *fresh)
{
	uint64_t h = vp_hash_bytes(s, n);
	uint32_t first = (uint32_t)(uintptr_t)u64map__get(&t->by_hash, h);
	for (uint32_t i = first; i; i = t->prev[i - 1]) {
		if (t->len[i - 1] == n && !memcmp(t->s[i - 1], s, n)) {
			*id = i - 1;
			*fresh = false;
			return 0;
		}
	}
	if (t->n == t->cap && strtab_grow(t))
		return -ENOMEM;
	char *c = malloc(n + 1);
	if (!c || u64map__put(&t->by_hash, h, (void *)(uintptr_t)(t->n + 1))) {
		free(c);
		return -ENOMEM;
	}
	memcpy(c, s, n);
	c[n] = 0;
	t->s[t->n] = c;
	t->len[t->n] = n;
	t->prev[t->n] = first;
	*id = t->n++;
	*fresh = true;
	return 0;
}

void strtab__free(struct strtab *t)
{
	for (uint32_t i = 0; i < t->n; i++)
		free(t->s[i]);
	free(t->s);
	free(t->len);
	free(t->prev);
	u64map__free(&t->by_hash);
	memset(t, 0, sizeof(*t));
}

int stack_map__put(struct stack_map *m, const struct vp_stack *s)
{
	return u64map__put(&m->m, s->id, (void *)s);
}

uint32_t stack__bad_ips(const struct vp_stack *s)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < s->depth; i++)
		n += s->ips[i] >= VP_USER_IP_END;
	return n;
}

uint32_t stack__keep_user_ips(__u64 *ips, uint32_t n)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < n; i++)
		if (ips[i] < VP_USER_IP_END)
			ips[k++] = ips[i];
	return k;
}

const struct vp_stack *stack_map__get(const struct stack_map *m, uint32_t id)
{
	return id ? u64map__get(&m->m, id) : NULL;
}

void stack_map__free(struct stack_map *m)
{
	u64map__free(&m->m);
}

/* A chain's key in the map: the hash, 0 stored as 1 (keys are nonzero). */
static uint64_t chain_key(uint64_t hash)
{
	return hash ? hash : 1;
}

struct u64map_node *u64map__chain(const struct u64map *m, uint64_t hash)
{
	return u64map__get(m, chain_key(hash));
}

int u64map__chain_add(struct u64map *m, struct u64map_node *n)
{
	n->next = u64map__chain(m, n->hash);
	return u64map__put(m, chain_key(n->hash), n);
}

void u64map__chain_free(struct u64map *m, void (*free_node)(struct u64map_node *))
{
	uint64_t key;
	void *val;
	for (size_t i = 0; u64map__next(m, &i, &key, &val);) {
		for (struct u64map_node *e = val, *next; e; e = next) {
			next = e->next;
			free_node(e);
		}
	}
	u64map__free(m);
}

uint64_t vp_hash_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

int maps_acc__feed(struct maps_acc *a, const struct vp_maps *m, const char **text, size_t *len)
{
	int k = -1;
	for (int i = 0; i < 8 && k < 0; i++)
		if (a->slot[i].used && a->slot[i].seq == m->seq)
			k = i;
	for (int i = 0; i < 8 && k < 0; i++)
		if (!a->slot[i].used) {
			k = i;
			a->slot[i].used = 1;
			a->slot[i].seq = m->seq;
			a->slot[i].len = 0;
		}
	if (k < 0)
		return 0; /* more than 8 at once: this one is lost */
	char *nb = realloc(a->slot[k].buf, a->slot[k].len + m->len + 1);
	if (!nb)
		return -ENOMEM;
	a->slot[k].buf = nb;
	memcpy(nb + a->slot[k].len, vp_maps_text(m), m->len);
	a->slot[k].len += m->len;
	nb[a->slot[k].len] = 0;
	if (!(m->h.flags & VP_MAPS_LAST))
		return 0;
	a->slot[k].used = 0;
	*text = a->slot[k].buf;
	*len = a->slot[k].len;
	return 1;
}

void maps_acc__free(struct maps_acc *a)
{
	for (int i = 0; i < 8; i++)
		free(a->slot[i].buf);
	memset(a, 0, sizeof(*a));
}

size_t vp_utf8_seq(const unsigned char *s, size_t n)
{
	if (s[0] && s[0] < 0x80)
		return 1;
	size_t len = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
	if (s[0] >= 0xf5 || !len || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
		return 0; /* overlong, surrogate or beyond U+10FFFF */
	return len;
}

uint32_t vp_utf8_cp(const unsigned char *s, size_t len)
{
	uint32_t cp = len == 4 ? s[0] & 7u : len == 3 ? s[0] & 15u : len == 2 ? s[0] & 31u : s[0];
	for (size_t i = 1; i < len; i++)
		cp = cp << 6 | (s[i] & 63u);
	return cp;
}

static void put_u16(void (*put)(void *, const char *, size_t), void *ctx, unsigned u)
{
	static const char hex[] = "0123456789abcdef";
	char e[6] = { '\\', 'u', hex[u >> 12 & 15], hex[u >> 8 & 15], hex[u >> 4 & 15], hex[u & 15] };
	put(ctx, e, 6);
}

void vp_json_escape(const char *s, unsigned flags,
		    void (*put)(void *ctx, const char *p, size_t n), void *ctx)
{
	if (!s) {
		put(ctx, "null", 4);
		return;
	}
	put(ctx, "\"", 1);
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		/* a run written as it is */
		const unsigned char *q = p;
		while (*q && *q != '"' && *q != '\\' && *q >= 0x20 && *q != 0x7f &&
		       !(*q == '<' && (flags & VP_JSON_LT)) && *q < 0x80)
			q++;
		if (q > p)
			put(ctx, (const char *)p, (size_t)(q - p));
		p = q;
		if (!*p)
			break;
		unsigned c = *p;
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			put(ctx, e, 2);
			p++;
			continue;
		}
		if (c < 0x80) {
			static const char named[] = "\b\t\n\f\r";
			const char *k = c ? strchr(named, (int)c) : NULL;
			if (k && c < 0x20) {
				char e[2] = { '\\', "btnfr"[k - named] };
				put(ctx, e, 2);
			} else {
				put_u16(put, ctx, c);
			}
			p++;
			continue;
		}
		size_t n = vp_utf8_seq(p, 4);
		if (!n) {
			put(ctx, "?", 1);
			p++;
		} else if (!(flags & VP_JSON_ASCII)) {
			put(ctx, (const char *)p, n);
			p += n;
		} else {
			unsigned cp = vp_utf8_cp(p, n);
			if (cp >= 0x10000) {
				cp -= 0x10000;
				put_u16(put, ctx, 0xd800 | (cp >> 10));
				put_u16(put, ctx, 0xdc00 | (cp & 0x3ff));
			} else {
				put_u16(put, ctx, cp);
			}
			p += n;
		}
	}
	put(ctx, "\"", 1);
}

char *vp_utf8_clean(char *dst, const char *s, size_t len)
{
	size_t i = 0, o = 0;
	while (i < len) {
		size_t l = vp_utf8_seq((const unsigned char *)s + i, len - i);
		if (!l) {
			dst[o++] = '?';
			i++;
			continue;
		}
		memcpy(dst + o, s + i, l);
		o += l;
		i += l;
	}
	dst[o] = 0;
	return dst;
}

json_t *vp_json_text(const char *s, size_t len)
{
	json_t *j = json_stringn(s, len);
	if (j)
		return j;
	char *c = malloc(len + 1);
	if (!c)
		return NULL;
	j = json_string(vp_utf8_clean(c, s, len));
	free(c);
	return j;
}

json_t *vp_json_str(const char *s)
{
	return s ? vp_json_text(s, strlen(s)) : json_null();
}

int vp_open_regular(const char *path, int follow)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | (follow ? 0 : O_NOFOLLOW));
	if (fd < 0)
		return -errno;
	struct stat sb;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		int e = S_ISREG(sb.st_mode) ? errno : EINVAL;
		close(fd);
		return -e;
	}
	return fd;
}


/* ---- /proc/PID/maps lines ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parse 1..16 hex digits at *p (bounded by end). */
static bool parse_hex(const char **p, const char *end, uint64_t *out)
{
	const char *q = *p;
	uint64_t v = 0;
	int n = 0;

	for (; q < end && hexval(*q) >= 0; q++, n++) {
		if (n == 16)
			return false;
		v = v << 4 | (uint64_t)hexval(*q);
	}
	if (n == 0)
		return false;
	*p = q;
	*out = v;
	return true;
}

static bool parse_dec(const char **p, const char *end, uint64_t *out)
{
	const char *q = *p;
	uint64_t v = 0;

	for (; q < end && *q >= '0' && *q <= '9'; q++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*q - '0');
	}
	if (q == *p)
		return false;
	*p = q;
	*out = v;
	return true;
}

static bool parse_char(const char **p, const char *end, char c)
{
	if (*p >= end || **p != c)
		return false;
	(*p)++;
	return true;
}

bool vp_maps_line_parse(const char *p, const char *end, struct vp_maps_line *ml)
{
	uint64_t major, minor;

	if (end - p > VP_MAPS_LINE_MAX || memchr(p, '\0', (size_t)(end - p)))
		return false;
	if (!parse_hex(&p, end, &ml->start) || !parse_char(&p, end, '-') ||
	    !parse_hex(&p, end, &ml->end) || !parse_char(&p, end, ' '))
		return false;
	if (end - p < 5 || (p[0] != 'r' && p[0] != '-') || (p[1] != 'w' && p[1] != '-') ||
	    (p[2] != 'x' && p[2] != '-') || (p[3] != 'p' && p[3] != 's') || p[4] != ' ')
		return false;
	ml->read = p[0] == 'r';
	ml->write = p[1] == 'w';
	ml->exec = p[2] == 'x';
	ml->shared = p[3] == 's';
	p += 5;
	if (!parse_hex(&p, end, &ml->pgoff) || !parse_char(&p, end, ' ') ||
	    !parse_hex(&p, end, &major) || !parse_char(&p, end, ':') ||
	    !parse_hex(&p, end, &minor) || !parse_char(&p, end, ' ') ||
	    !parse_dec(&p, end, &ml->ino))
		return false;
	if (p < end && *p != ' ' && *p != '\t')
		return false;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == '\r' || end[-1] == ' '))
		end--;
	ml->path = p;
	ml->path_len = (size_t)(end - p);
	return ml->start < ml->end;
}

char *vp_hex_into(char *end, uint64_t x, int width)
{
	char *q = end;
	do {
		*--q = "0123456789abcdef"[x & 15];
		x >>= 4;
	} while (x || end - q < width);
	return q;
}

int vp_buf_room(struct vp_buf *b, size_t n)
{
	if (b->p && b->n + n < b->cap)
		return 0;
	size_t cap = b->cap ? b->cap * 2 : 256;
	while (cap < b->n + n + 1)
		cap *= 2;
	char *q = realloc(b->p, cap);
	if (!q)
		return -1;
	b->p = q;
	b->cap = cap;
	return 0;
}

int vp_buf_printf(struct vp_buf *b, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
		va_end(ap);
		if (k < 0) {
			if (b->p)
				b->p[b->n] = 0;
			return -1;
		}
		if (b->p && b->n + (size_t)k < b->cap) {
			b->n += (size_t)k;
			return 0;
		}
		if (vp_buf_room(b, (size_t)k)) {
			if (b->p)
				b->p[b->n] = 0; /* the cut-off attempt is not kept */
			return -1;
		}
	}
}

int vp_buf_put(struct vp_buf *b, const void *s, size_t n)
{
	if (vp_buf_room(b, n))
		return -1;
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
	return 0;
}
