# SPDX-License-Identifier: MIT
"""w_pyfork N: a dict of N small objects, then a forked worker that reads
every entry (the reference-count writes copy the object arenas, as a
multiprocessing worker does). Test: tests/test_sites.py python_fork."""
import os
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
d = {i: str(i) for i in range(n)}
pid = os.fork()
if pid == 0:
    for k in d:
        d[k]
    os._exit(0)
_, status = os.waitpid(pid, 0)
print("done", n, status)
