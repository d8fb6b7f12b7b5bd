/* SPDX-License-Identifier: MIT */
/*
 * Runs a libFuzzer harness over every file of the given directories, for
 * builds without libFuzzer (gcc): the seed corpus and every input that
 * ever crashed are replayed in each CI run. Exit 0 when all ran.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
	int n = 0;
	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		if (!d) {
			perror(argv[i]);
			return 1;
		}
		struct dirent *e;
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
			FILE *f = fopen(path, "rb");
			if (!f)
				continue;
			fseek(f, 0, SEEK_END);
			long len = ftell(f);
			rewind(f);
			uint8_t *buf = malloc(len > 0 ? (size_t)len : 1);
			if (buf && fread(buf, 1, (size_t)len, f) == (size_t)len) {
				LLVMFuzzerTestOneInput(buf, (size_t)len);
				n++;
			}
			free(buf);
			fclose(f);
		}
		closedir(d);
	}
	printf("replayed %d inputs\n", n);
	return n ? 0 : 1;
}
