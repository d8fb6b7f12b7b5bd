# SPDX-License-Identifier: MIT
"""w_pool.py [SCALE]: a multiprocessing fork pool, the shape of a CI job's
test runner. The parent builds a table of SCALE * 20000 small objects; each
of 4 workers reads all of it once when it starts (the reference-count
writes copy the object arenas: cow_copy) and fills a working set of
SCALE * 4 MiB (demand_zero), then 40 tasks are handed out as
the scheduler goes, each filling 4 * SCALE buffers of 96 KiB (first touches:
demand_zero; below malloc's mmap threshold, so each worker's heap holds
them however the tasks fall). SCALE 4 makes both four times larger.
The pool is closed and joined, not terminated, so that every worker
finishes its warm(). Test: tests/test_repeat.py."""
import multiprocessing
import sys

SCALE = int(sys.argv[1]) if len(sys.argv) > 1 else 1
TABLE = {i: str(i) * 3 for i in range(SCALE * 20000)}


def warm(ready):
    global KEEP
    # all 4 forked before any reads: who copies a page does not hang on
    # how far the others got while the parent was still forking
    ready.wait()
    # each worker's working set, touched once and kept: SCALE * 4 MiB of
    # first touches (an mmap: well above malloc's threshold)
    KEEP = bytearray(SCALE * 4 << 20)
    for j in range(0, len(KEEP), 4096):
        KEEP[j] = 1
    n = 0
    for k, v in TABLE.items():
        n += len(v)
    return n


def task(i):
    bufs = [bytearray(96 * 1024) for _ in range(4 * SCALE)]
    for buf in bufs:
        for j in range(0, len(buf), 4096):
            buf[j] = 1
    return sum(sum(buf[::4096]) for buf in bufs) + i


if __name__ == "__main__":
    ctx = multiprocessing.get_context("fork")
    pool = ctx.Pool(4, initializer=warm, initargs=(ctx.Barrier(4),))
    got = sum(pool.map(task, range(40), chunksize=1))
    # close and join, not terminate (what `with` does): a worker still in
    # warm() when the others have done every task would be killed there
    pool.close()
    pool.join()
    print("pool done", got)
