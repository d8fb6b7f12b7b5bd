#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Generate a small C project to record a build of (no internet needed).

usage: bench/gen_build.py DIR [--files N] [--tests N]

DIR gets N library sources (lib/fNN.c, a few functions each, one header),
N test programs (tests/tNN.c, each linked against the static library) and a
Makefile; `make -C DIR -j2` then runs, per library file, sh + gcc + cc1 + as,
per test program sh + gcc + cc1 + as + collect2 + ld, and ar once: with the
defaults (40 + 40) about 420 processes, the shape of a real small library's
build (the same few executables and libraries in hundreds of address
spaces). The output is deterministic: the same arguments give the same
bytes.
"""
import argparse
import os

MAKEFILE = """\
CC ?= gcc
CFLAGS ?= -O2 -g -Wall
LIBSRC := $(sort $(wildcard lib/*.c))
LIBOBJ := $(LIBSRC:.c=.o)
TESTS := $(patsubst %.c,%,$(sort $(wildcard tests/*.c)))

all: libgen.a $(TESTS)

lib/%.o: lib/%.c lib/gen.h
\t@echo "  CC      $@" && $(CC) $(CFLAGS) -Ilib -c $< -o $@

libgen.a: $(LIBOBJ)
\t@echo "  AR      $@" && rm -f $@ && ar rcs $@ $^

tests/%: tests/%.c libgen.a lib/gen.h
\t@echo "  CCLD    $@" && $(CC) $(CFLAGS) -Ilib $< -o $@ libgen.a

clean:
\trm -f lib/*.o libgen.a $(TESTS)

.PHONY: all clean
"""


def lib_source(i, n):
    nxt = (i + 1) % n
    return f"""\
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "gen.h"

struct table{i} {{
\tuint32_t n, cap;
\tuint64_t *v;
}};

static uint64_t mix{i}(uint64_t x)
{{
\tx ^= x >> 31;
\tx *= 0x9e3779b97f4a7c15ULL + {i};
\treturn x ^ (x >> 29);
}}

static int push{i}(struct table{i} *t, uint64_t x)
{{
\tif (t->n == t->cap) {{
\t\tuint32_t nc = t->cap ? t->cap * 2 : 16;
\t\tuint64_t *nv = realloc(t->v, nc * sizeof(*nv));
\t\tif (!nv)
\t\t\treturn -1;
\t\tt->v = nv;
\t\tt->cap = nc;
\t}}
\tt->v[t->n++] = x;
\treturn 0;
}}

uint64_t gen_f{i}(uint64_t seed, unsigned rounds)
{{
\tstruct table{i} t;
\tuint64_t acc = 0;

\tmemset(&t, 0, sizeof(t));
\tfor (unsigned r = 0; r < rounds; r++)
\t\tif (push{i}(&t, mix{i}(seed + r)))
\t\t\tbreak;
\tfor (uint32_t k = 0; k < t.n; k++)
\t\tacc += t.v[k] % (k + {i + 3});
\tfree(t.v);
\treturn rounds > 1 ? acc ^ gen_f{nxt}(acc, rounds / 2) : acc;
}}
"""


def test_source(i, n):
    return f"""\
#include <stdio.h>
#include "gen.h"

int main(void)
{{
\tunsigned long long x = gen_f{i % n}({i + 1}, 64);
\tprintf("t{i:02d} %llu\\n", x);
\treturn 0;
}}
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--files", type=int, default=40)
    ap.add_argument("--tests", type=int, default=40)
    a = ap.parse_args()
    n = max(a.files, 1)
    os.makedirs(os.path.join(a.dir, "lib"), exist_ok=True)
    os.makedirs(os.path.join(a.dir, "tests"), exist_ok=True)

    def write(rel, text):
        with open(os.path.join(a.dir, rel), "w") as f:
            f.write(text)

    write("Makefile", MAKEFILE)
    write("lib/gen.h", "#include <stdint.h>\n" +
          "".join(f"uint64_t gen_f{i}(uint64_t seed, unsigned rounds);\n" for i in range(n)))
    for i in range(n):
        write(f"lib/f{i:02d}.c", lib_source(i, n))
    for i in range(a.tests):
        write(f"tests/t{i:02d}.c", test_source(i, n))


if __name__ == "__main__":
    main()
