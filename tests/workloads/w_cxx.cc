// SPDX-License-Identifier: MIT
/*
 * A C++ workload for mangled names in labels: ns::Type::method(unsigned
 * long), out of line, maps N pages (argv[1], default 64) private and
 * anonymous and writes to every one (N demand-zero faults), then prints
 * "mapped 0x<addr> <pages>". Its mangled name is _ZN2ns4Type6methodEm.
 */
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/mman.h>
#include <unistd.h>

namespace ns {
struct Type {
	void *method(size_t pages);
};

__attribute__((noinline)) void *Type::method(size_t pages)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	void *p = mmap(nullptr, pages * page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return nullptr;
	for (size_t i = 0; i < pages; i++)
		static_cast<volatile char *>(p)[i * page] = 1;
	return p;
}
} // namespace ns

int main(int argc, char **argv)
{
	size_t pages = 64;

	if (argc > 2) {
		fprintf(stderr, "usage: %s [PAGES]\n", argv[0]);
		return 2;
	}
	if (argc == 2) {
		char *end;

		errno = 0;
		unsigned long long n = strtoull(argv[1], &end, 10);
		if (errno || end == argv[1] || *end || n == 0 || argv[1][0] == '-' ||
		    n > (1ull << 30)) {
			fprintf(stderr, "w_cxx: PAGES must be a number from 1 to 2^30, not \"%s\"\n",
				argv[1]);
			return 2;
		}
		pages = (size_t)n;
	}
	ns::Type t;
	void *p = t.method(pages);

	if (!p) {
		fprintf(stderr, "w_cxx: mmap of %zu pages: %s\n", pages, strerror(errno));
		return 1;
	}
	printf("mapped 0x%jx %zu\n", (uintmax_t)(uintptr_t)p, pages);
	return 0;
}
