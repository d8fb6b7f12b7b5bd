/* SPDX-License-Identifier: MIT */
/*
 * An index over one libdwfl module's symbol table that answers what
 * dwfl_module_addrinfo answers (the symbol's name and the offset of the
 * address in it, the symbol chosen among aliases, sizes and bindings the
 * same way) by binary search instead of libdwfl's scan of the whole table
 * on every call (elfutils 0.188: cc1's table costs ~1 ms a lookup).
 * symbolize.c builds one per opened file, once, and asks it instead of
 * libdwfl; tests/test_symindex.c compares both on every symbol of real
 * files. The rules it reproduces are spelled out in symindex.c.
 */
#ifndef VMAPROF_SYMINDEX_H
#define VMAPROF_SYMINDEX_H

#include <elfutils/libdwfl.h>
#include <stdint.h>

struct symindex;

/*
 * *out = the index of mod's symbol table. 0; -ENOTSUP when the module is
 * one the index does not reproduce libdwfl for (function descriptors
 * (ppc64), an ELF libelf cannot list the sections of, symbols whose end
 * wraps around): then ask libdwfl; -ENOMEM.
 */
int symindex__build(Dwfl_Module *mod, struct symindex **out);

/* dwfl_module_addrinfo(mod, addr, off, ...)'s name (a string of the
 * module's, valid while it is) and *off, or NULL when it has none. */
const char *symindex__lookup(struct symindex *x, uint64_t addr, uint64_t *off);

/* How many symbols it holds (both passes), for tests and counters. */
size_t symindex__size(const struct symindex *x);

void symindex__free(struct symindex *x);

#endif
