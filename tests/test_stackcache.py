# SPDX-License-Identifier: MIT
"""The shim's stack cache (preload/stacks.c) on stacks that a cache keyed by
less than everything the unwinder reads would get wrong: each recorded stack
is compared with the chain of functions the workload made the call through,
and with the same run with the cache off (VMAPROF_STACK_CACHE=0)."""
import os

from vptest import check, eq, main, record, workload

W = workload("w_stackcache")
DEPTHS = [1, 3, 2, 7, 3, 1, 5, 4, 6, 2]  # w_stackcache.c depths[]


def stacks(scenario, n, args=(), cache=True, need_stacks=True):
    env = dict(os.environ)
    if cache:
        env.pop("VMAPROF_STACK_CACHE", None)
    else:
        env["VMAPROF_STACK_CACHE"] = "0"
    run = record([W, scenario, str(n)], args=args, env=env)
    eq(run.rc, 0, "exit status")
    run.assert_clean()
    s = run.by_exe("w_stackcache")
    eq(len(s), 1, "streams")
    mm = s[0].of("mem", call="mmap", src="shim")
    for r in mm:
        check(not r.missing_stack, f"stack id without its stack: {r}")
        check(r.stack or not need_stacks, f"mmap without a stack: {r}")
    return mm


def frames(r):
    return [(f["function"], f["file"], f["line"]) for f in r.stack]


def both(scenario, n, expect, args=()):
    """Stacks with the cache against `expect` (one list of leading function
    names per mmap, in order) and against the run without the cache."""
    on = stacks(scenario, n, args)
    off = stacks(scenario, n, args, cache=False)
    eq(len(on), len(expect), "mmap records")
    eq(len(off), len(expect), "mmap records without the cache")
    for i, (a, b, e) in enumerate(zip(on, off, expect)):
        eq(a.functions()[:len(e)], e, f"stack of mmap {i}")
        eq(frames(a), frames(b), f"stack of mmap {i} with and without the cache")
    return on


def t_callers():
    n = 40
    both("callers", n, [["map_it", "caller_b" if i & 1 else "caller_a", "scenario_callers",
                          "main"] for i in range(n)])


def t_alloca():
    n = 40
    both("alloca", n, [["map_it", "map_fp", "via_b" if i & 1 else "via_a", "scenario_alloca",
                         "main"] for i in range(n)])


def t_outer():
    n = 40
    both("outer", n, [["map_it", "mid", "outer_b" if i & 1 else "outer_a", "scenario_outer",
                        "main"] for i in range(n)])


def rec_chain(d):
    return ["map_it"] + ["rec"] * d + ["scenario_recurse", "main"]


def t_recurse():
    n = 40
    both("recurse", n, [rec_chain(DEPTHS[i % 10]) for i in range(n)])


def t_depth_limit():
    # the program's stacks are deeper than the 4 frames recorded
    n = 40
    on = both("recurse", n, [rec_chain(DEPTHS[i % 10])[:4] for i in range(n)],
              args=["--stack-depth", "4"])
    eq({len(r.stack) for r in on}, {4}, "every stack cut at the depth limit")


def t_longjmp():
    n = 20
    expect = []
    for i in range(n):
        expect.append(["map_it"] + ["deep"] * (DEPTHS[i % 10] + 1) + ["scenario_longjmp", "main"])
        expect.append(["map_it", "after_jump", "scenario_longjmp", "main"])
    both("longjmp", n, expect)


def t_signal():
    n = 20
    on = both("signal", n, [["map_it", "on_usr1"] for _ in range(n)])
    for i, r in enumerate(on):
        fs = r.functions()
        want, other = ("raise_b", "raise_a") if i & 1 else ("raise_a", "raise_b")
        check(want in fs and other not in fs, f"signal {i} raised from {want}: {fs}")


def t_threads():
    n = 40
    for cache in (True, False):
        mm = stacks("threads", n, cache=cache)
        eq(len(mm), 2 * n, "mmap records")
        by_tid = {}
        for r in mm:
            by_tid.setdefault(r["tid"], []).append(r)
        eq(len(by_tid), 2, "threads")
        for rs in by_tid.values():
            for i, r in enumerate(rs):
                eq(r.functions()[:4], ["map_it", "caller_b" if i & 1 else "caller_a",
                                       "scenario_callers", "thread_fn"],
                   f"thread stack of mmap {i}, cache {cache}")


def t_seccomp():
    """Under a filter that refuses rt_sigprocmask the shim does not unwind
    (libunwind blocks signals): without the cache the second half of the
    stacks is missing; with it, every one is there, from the cache, and
    right. So this also shows the cache in use."""
    n = 10
    expect = [["map_only", "map_b" if i & 1 else "map_a", "scenario_seccomp", "main"]
              for i in range(n)] * 2
    on = stacks("seccomp", n)
    off = stacks("seccomp", n, cache=False, need_stacks=False)
    eq(len(on), 2 * n, "mmap records")
    eq(len(off), 2 * n, "mmap records without the cache")
    for i, (a, b, e) in enumerate(zip(on, off, expect)):
        eq(a.functions()[:4], e, f"stack of mmap {i}")
        if i < n:
            eq(frames(a), frames(b), f"stack of mmap {i} with and without the cache")
        else:
            eq(b.stack, [], f"mmap {i} without the cache: no unwinding under the filter")
            eq(frames(a), frames(on[i - n]), f"mmap {i}: the cached stack of mmap {i - n}")


if __name__ == "__main__":
    main({"callers": t_callers, "alloca": t_alloca, "outer": t_outer,"recurse": t_recurse, "depth_limit": t_depth_limit,
          "longjmp": t_longjmp, "signal": t_signal, "threads": t_threads, "seccomp": t_seccomp})
