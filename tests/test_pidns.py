# SPDX-License-Identifier: MIT
"""Processes in PID namespaces (docs/report.md, "Processes in PID namespaces").

A container's processes have one pid in their own namespace (what getpid()
says) and another in each namespace above it: the shim records the first,
the kernel collector the kernel's, the recorder its own. Each case records
tests/workloads/w_faults.c's `cow N` (a region of N pages written, a fork
whose child rewrites it: N copies, then N reuses in the parent) in a
namespace and holds the report against the same run outside one: the same
processes, the same per-mapping faults and stacks, each process named by
the pid it printed for itself, the kernel's counters balanced exactly.

W_FAULTS_ME=TAG makes the workload print `me TAG PID pid:[NS]` first: the
pid getpid() gives it and its namespace's inode, read inside.

Needs root and the kernel collector, as every bpf suite (exit 77 where the
kernel lacks them, or cannot make a PID or user namespace, saying which).
Every report.json is validated against the schema and checked against its
exports (vptest.Recording).
"""
import os
import re
import subprocess

from vptest import VMAPROF, Recording, check, eq, main, workload

W = workload("w_faults")
UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc"]
N = 120
PSZ = os.sysconf("SC_PAGE_SIZE")


def need_pidns(user=False):
    """Skip (77) where this kernel or user cannot make the namespaces."""
    cmd = (["unshare", "--user", "--map-root-user"] if user else []) + UNSHARE + ["true"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        print(f"SKIP: cannot make a {'user and ' if user else ''}PID namespace: "
              f"{' '.join(cmd)}: {p.stderr.strip()}")
        raise SystemExit(77)


def me(tag, *w_args):
    """w_faults W_ARGS, which first prints `me TAG PID pid:[NS]` (env execs
    it in place: no process of its own)."""
    return ["env", f"W_FAULTS_ME={tag}", W, *map(str, w_args)]


class Rec(Recording):
    def __init__(self, cmd, args=(), wrap=()):
        super().__init__(cmd, args, prefix="vmaprof-pidns-", wrap=wrap)
        eq(self.rc, 0, f"exit status; stderr:\n{self.stderr}")

    def printed(self):
        """{tag: (pid, ns inode)} of every `me` line, and the regions
        ({size: address}) and children (pids) w_faults printed."""
        mine = {m.group(1): (int(m.group(2)), int(m.group(3)))
                for m in re.finditer(r"^me (\S+) (\d+) pid:\[(\d+)\]$", self.stdout, re.M)}
        regions = {int(m.group(2)): int(m.group(1), 16)
                   for m in re.finditer(r"^region 0x([0-9a-f]+) (\d+)$", self.stdout, re.M)}
        kids = [int(x) for x in re.findall(r"^child (\d+)$", self.stdout, re.M)]
        return mine, regions, kids

    def key(self, p):
        return p.get("host_pid", p["pid"])

    def by_key(self):
        d = {self.key(p): p for p in self.procs}
        eq(len(d), len(self.procs), "host_pid (else pid) tells every process apart")
        return d

    def parent(self, p):
        """The process p was forked from (forked_from names it by pid and,
        in a namespace, host_pid)."""
        ff = p["forked_from"]
        k = ff.get("host_pid", ff["pid"])
        q = self.by_key()[k]
        eq(q["pid"], ff["pid"], "forked_from.pid is the parent's pid")
        return q


def region_view(rec, lo, size):
    """What the processes did with the region at lo: per process holding an
    entry of it, (origin, faults by class, creating stack's functions),
    sorted."""
    out = []
    for p in rec.procs:
        ents = [v for v in p["vmas"] if v["start"] == lo and v["end"] == lo + size]
        if not ents:
            continue
        eq(len(ents), 1, f"pid {p['pid']}: one entry for the region")
        v = ents[0]
        f = {k: x for k, x in v["faults"].items() if x and k != "total"}
        if v["origin"] != "inherited":
            # the parent's rewrite once its child exited: reuses, except
            # for pages a per-CPU LRU batch of the other CPU still holds a
            # reference to, which the kernel copies (up to a batch, 15-16
            # here, depending on where the tasks ran): counted together
            w = f.pop("cow_copy", 0) + f.pop("cow_reuse", 0)
            if w:
                f["cow_copy+cow_reuse"] = w
        out.append((v["origin"], f, [g["function"] for g in v["stack"][:2]]))
    return sorted(out, key=repr)


WANT_COW = sorted([("mmap", {"demand_zero": N, "cow_copy+cow_reuse": N}, ["region", "main"]),
                  ("inherited", {"cow_copy": N}, ["region", "main"])], key=repr)


def check_balanced(rec):
    """The kernel's counters of every process = its traced faults + populated
    + the shim's own + before tracing, exactly; no fault charged to a
    mapping the kernel saw made inside a shim hook (issue 20: they were all
    there, on the kernel's pids, with the shim's mappings on other pids)."""
    for p in rec.procs:
        kc = p["kernel_counters"]
        check(kc["minflt"] is not None, f"pid {p['pid']}: the kernel's counters read")
        got = p["faults"]["total"]
        eq(kc["minflt"] + kc["majflt"] - got - kc["populated"] - kc["shim_prefault"]
           - kc["before_trace"], kc["difference"], f"pid {p['pid']}: difference as reported")
        eq(kc["difference"], 0, f"pid {p['pid']}: traced faults against the kernel's {kc}")
        eq(p["warnings"], [], f"pid {p['pid']}: warnings")
        eq(sum(v["faults"]["total"] for v in p["vmas"]) + p["faults_outside_vmas"], got,
           f"pid {p['pid']}: entries' faults + outside = total")
        busy = sum(v["faults"]["total"] for v in p["vmas"] if v.get("stack_missing") == "busy")
        eq(busy, 0, f"pid {p['pid']}: faults on mappings made inside the shim's hooks")
        eq(p["preload"]["active"], True, f"pid {p['pid']}: the shim's trace is its own")


def baseline():
    """The same workload outside any namespace: the reference view."""
    with Rec(me("host", "cow", N)) as r:
        r.require_bpf()
        _, regions, _ = r.printed()
        view = region_view(r, regions[N * PSZ], N * PSZ)
        eq(view, WANT_COW, "outside a namespace: the region's faults and stacks")
        check_balanced(r)
        eq(len(r.procs), 2, "outside: two processes")
        return view


def check_ns_fields(rec, p, pid, ns, depth):
    """p lives in namespace ns at `depth` below the initial one, with pid."""
    eq(p["pid"], pid, "named by the pid it printed for itself")
    eq(p["pid_ns"], ns, f"pid {pid}: its namespace's inode, as read inside")
    check(isinstance(p["ns_pids"], list) and len(p["ns_pids"]) == depth + 1,
          f"pid {pid}: its pid at every level: {p['ns_pids']}")
    eq(p["ns_pids"][-1], pid, f"pid {pid}: the last of ns_pids is its own")
    check(p["ns_pids"][0] != pid or depth == 0, f"pid {pid}: the kernel's pid differs")


def t_inside():
    """Case 1: the recorder itself in the namespace (`unshare --pid --fork
    --mount-proc vmaprof record -- W`): the collector sees the kernel's pids,
    the shim and the recorder the namespace's."""
    need_pidns()
    want = baseline()
    with Rec(me("w", "cow", N), wrap=UNSHARE) as r:
        r.require_bpf()
        mine, regions, kids = r.printed()
        pid, ns = mine["w"]
        eq(len(r.procs), 2, "two processes (issue 20: four, each seen by one side)")
        root = r.root()
        check_ns_fields(r, root, pid, ns, 1)
        eq(root["host_pid"], pid, "the recorder shares the namespace: host_pid = pid")
        kid = [p for p in r.procs if p is not root][0]
        check_ns_fields(r, kid, kids[0], ns, 1)
        eq(r.parent(kid)["pid"], pid, "the child's parent")
        eq(region_view(r, regions[N * PSZ], N * PSZ), want, "the region as outside")
        check_balanced(r)
        eq([(f["parent"], f["child"]) for f in r.report["forks"]], [(pid, kids[0])], "forks[]")
        check(f"pid {pid} " in r.stderr and "(host" not in r.stderr,
              f"the summary names the processes by their pids:\n{r.stderr}")


def t_program():
    """Case 2: the recorder outside, the program entering a new namespace
    itself (`vmaprof record -- unshare --pid --fork --mount-proc W`): the
    recorder sees host pids, the shim the namespace's. unshare stays in the
    initial namespace; its child is the namespace's pid 1."""
    need_pidns()
    want = baseline()
    with Rec(UNSHARE + me("w", "cow", N)) as r:
        r.require_bpf()
        mine, regions, kids = r.printed()
        pid, ns = mine["w"]
        eq(pid, 1, "w_faults is the namespace's first process")
        eq(len(r.procs), 3, "unshare, w_faults and its child")
        root = r.root()
        check("host_pid" not in root and "pid_ns" not in root,
              "unshare runs in the initial namespace: no namespace fields")
        w = [p for p in r.procs if p["pid"] == pid and p is not root]
        eq(len(w), 1, "w_faults, pid 1 in its namespace")
        w = w[0]
        check_ns_fields(r, w, pid, ns, 1)
        check(w["host_pid"] != pid, "its host pid differs")
        eq(w["ns_pids"][0], w["host_pid"], "the recorder is in the initial namespace")
        eq(r.parent(w)["pid"], root["pid"], "forked by unshare")
        eq(w["ppid"], root["pid"], "ppid: the parent's pid")
        kid = [p for p in r.procs if p["pid"] == kids[0]]
        eq(len(kid), 1, "the child, by the pid its parent printed")
        check_ns_fields(r, kid[0], kids[0], ns, 1)
        eq(r.parent(kid[0])["host_pid"], w["host_pid"], "the child's parent")
        eq(region_view(r, regions[N * PSZ], N * PSZ), want, "the region as outside")
        check_balanced(r)
        forks = {(f["parent"], f["child"], f.get("parent_host_pid"), f.get("child_host_pid"))
                 for f in r.report["forks"]}
        eq(forks, {(root["pid"], pid, None, w["host_pid"]),
                   (pid, kids[0], w["host_pid"], kid[0]["host_pid"])}, "forks[]")
        check(f"pid {pid} (host {w['host_pid']})" in r.stderr,
              f"the summary says both pids:\n{r.stderr}")


def t_nested():
    """Case 3: a namespace inside a namespace, with the recorder outside
    both, then inside the outer one."""
    need_pidns()
    want = baseline()
    with Rec(UNSHARE + UNSHARE + me("w", "cow", N)) as r:
        r.require_bpf()
        mine, regions, kids = r.printed()
        pid, ns = mine["w"]
        eq(len(r.procs), 4, "unshare, unshare, w_faults and its child")
        root = r.root()
        inner_unshare = [p for p in r.procs if p["forked_from"] and
                         r.parent(p) is root]
        eq(len(inner_unshare), 1, "the second unshare, forked by the first")
        mid = inner_unshare[0]
        eq(mid["pid"], 1, "the outer namespace's pid 1")
        w = [p for p in r.procs if p["forked_from"] and r.parent(p) is mid]
        eq(len(w), 1, "w_faults, forked by the second unshare")
        w = w[0]
        check_ns_fields(r, w, pid, ns, 2)
        check(w["pid_ns"] != mid["pid_ns"], "two namespaces")
        eq(w["ns_pids"][0], w["host_pid"], "host_pid: the initial namespace's")
        kid = [p for p in r.procs if p["forked_from"] and r.parent(p) is w]
        eq(len(kid), 1, "the child of w_faults")
        check_ns_fields(r, kid[0], kids[0], ns, 2)
        eq(region_view(r, regions[N * PSZ], N * PSZ), want, "the region as outside")
        check_balanced(r)
    # the recorder in the outer namespace, the program making the inner one
    with Rec(UNSHARE + me("w", "cow", N), wrap=UNSHARE) as r:
        r.require_bpf()
        mine, regions, kids = r.printed()
        pid, ns = mine["w"]
        eq(len(r.procs), 3, "unshare, w_faults and its child")
        root = r.root()
        eq(len(root["ns_pids"]), 2, "unshare: in the outer namespace")
        eq(root["host_pid"], root["pid"], "which is the recorder's")
        w = [p for p in r.procs if p["forked_from"] and r.parent(p) is root][0]
        check_ns_fields(r, w, pid, ns, 2)
        eq(w["host_pid"], w["ns_pids"][1], "host_pid: the outer namespace's, the recorder's")
        check(w["host_pid"] != pid, "not its own")
        kid = [p for p in r.procs if p["forked_from"] and r.parent(p) is w]
        eq([k["pid"] for k in kid], kids, "the child")
        eq(region_view(r, regions[N * PSZ], N * PSZ), want, "the region as outside")
        check_balanced(r)


def containers(r, tags):
    """{tag: (w_faults's process, its child)} of containers that each ran
    `cow N_tag` as their pid 1."""
    mine, regions, kids = r.printed()
    out = {}
    for tag, n in tags.items():
        pid, ns = mine[tag]
        eq(pid, 1, f"container {tag}: w_faults is its pid 1")
        lo = regions[n * PSZ]
        holders = [p for p in r.procs
                   if any(v["start"] == lo and v["end"] == lo + n * PSZ for v in p["vmas"])
                   and p.get("pid_ns") == ns]
        w = [p for p in holders if p["pid"] == 1]
        kid = [p for p in holders if p["pid"] != 1]
        eq(len(w), 1, f"container {tag}: its pid 1 holds its region")
        eq(len(kid), 1, f"container {tag}: its child holds a copy")
        check_ns_fields(r, w[0], 1, ns, 1)
        check_ns_fields(r, kid[0], 2, ns, 1)
        eq(r.parent(kid[0])["host_pid"], w[0]["host_pid"], f"container {tag}: the child's parent")
        region = [v for v in w[0]["vmas"] if v["start"] == lo][0]
        # reuses once its child exited, except pages a per-CPU LRU batch
        # still holds, which the kernel copies (as in region_view): together
        pf = {k: x for k, x in region["faults"].items() if x and k != "total"}
        pw = pf.pop("cow_copy", 0) + pf.pop("cow_reuse", 0)
        eq((pf, pw), ({"demand_zero": n}, n), f"container {tag}: the parent's faults")
        eq([f["function"] for f in region["stack"][:2]], ["region", "main"],
           f"container {tag}: the creating stack")
        copy = [v for v in kid[0]["vmas"] if v["start"] == lo][0]
        eq({k: x for k, x in copy["faults"].items() if x and k != "total"},
           {"cow_copy": n}, f"container {tag}: the child's copies")
        eq(copy["inherited_from"]["pid"], 1, f"container {tag}: inherited from its pid 1")
        out[tag] = (w[0], kid[0])
    return out


def t_two():
    """Two containers at once in one recording: both have a pid 1 and a
    pid 2, two processes each, their faults each in their own mappings."""
    need_pidns()
    tags = {"a": N, "b": N + 37}
    script = " & ".join(
        f"unshare --pid --fork --mount-proc env W_FAULTS_ME={t} {W} cow {n}"
        for t, n in tags.items()) + " & wait"
    with Rec(["sh", "-c", script]) as r:
        r.require_bpf()
        c = containers(r, tags)
        check(c["a"][0]["pid_ns"] != c["b"][0]["pid_ns"], "two namespaces at once")
        eq(len({p["pid"] for p in r.procs if p.get("pid_ns") in
                (c["a"][0]["pid_ns"], c["b"][0]["pid_ns"])}), 2, "pids 1 and 2, twice")
        eq(len(r.procs), 1 + 2 * 3, "sh, and per container unshare, w_faults, its child")
        check_balanced(r)


def t_sequential():
    """Two containers one after the other: the second namespace may get the
    first one's inode back (the kernel reuses them) and its pids start at 1
    again -- the same (namespace, pid) for another process, told apart by
    time."""
    need_pidns()
    tags = {"a": N, "b": N + 37}
    script = "; ".join(
        f"unshare --pid --fork --mount-proc env W_FAULTS_ME={t} {W} cow {n}"
        for t, n in tags.items()) + "; true"  # (so sh execs neither)
    with Rec(["sh", "-c", script]) as r:
        r.require_bpf()
        c = containers(r, tags)
        mine, _, _ = r.printed()
        print(f"namespace inodes: a {mine['a'][1]}, b {mine['b'][1]}"
              f"{' (reused)' if mine['a'][1] == mine['b'][1] else ''}")
        check(c["a"][0]["host_pid"] != c["b"][0]["host_pid"], "two processes")
        eq(len(r.procs), 1 + 2 * 3, "sh, and per container unshare, w_faults, its child")
        check_balanced(r)


def t_nobpf():
    """Case 2 without the kernel collector: the broker's file names (the
    recorder's pids) pair with the shim's own; the same three processes."""
    need_pidns()
    with Rec(UNSHARE + me("w", "cow", N), ["--no-bpf"]) as r:
        mine, regions, kids = r.printed()
        pid, ns = mine["w"]
        eq(len(r.procs), 3, "unshare, w_faults and its child")
        root = r.root()
        w = [p for p in r.procs if p is not root and p["pid"] == pid]
        eq(len(w), 1, "w_faults, by its own pid")
        w = w[0]
        eq((w["pid_ns"], w["ns_pids"]), (ns, None), "its namespace; no kernel to say more")
        check(w["host_pid"] != pid, "the recorder's pid of it")
        eq(r.parent(w)["pid"], root["pid"], "forked by unshare")
        kid = [p for p in r.procs if p["pid"] == kids[0] and p.get("pid_ns") == ns]
        eq(len(kid), 1, "the child, by the pid its parent printed")
        eq(r.parent(kid[0])["host_pid"], w["host_pid"], "its parent")
        for p in r.procs:
            eq(p["preload"]["active"], True, f"pid {p['pid']}: traced by the shim")
        lo = regions[N * PSZ]
        v = [e for e in w["vmas"] if e["start"] == lo]
        eq([f["function"] for f in v[0]["stack"][:2]], ["region", "main"], "its region's stack")
        check([e for e in kid[0]["vmas"] if e["start"] == lo and e["origin"] == "inherited"],
              "the child's copy of it")


def t_userns():
    """Case 5: a user namespace (`unshare --user --map-root-user --pid
    --fork --mount-proc vmaprof record -- W`), where BPF cannot load: the
    shim's recording works, and the reason says why BPF is off."""
    need_pidns(user=True)
    with Rec(me("w", "cow", N), wrap=["unshare", "--user", "--map-root-user"] + UNSHARE) as r:
        b = r.report["collectors"]["bpf"]
        eq(b["active"], False, "no kernel collector in a user namespace")
        reason = b["reason"] or ""
        for want in ("user namespace", "CAP_BPF", "initial user namespace"):
            check(want in reason, f"the reason names the cause ({want!r}): {reason!r}")
        for wrong in ("need root", "RLIMIT_MEMLOCK", "CONFIG_BPF_SYSCALL"):
            check(wrong not in reason, f"no misleading {wrong!r}: {reason!r}")
        check(reason in r.stderr, f"the summary says it:\n{r.stderr}")
        mine, regions, kids = r.printed()
        pid, ns = mine["w"]
        eq(len(r.procs), 2, "two processes")
        root = r.root()
        eq((root["pid"], root["host_pid"], root["pid_ns"], root["ns_pids"]), (pid, pid, ns, None),
           "named by its own pid, in its namespace")
        kid = [p for p in r.procs if p is not root]
        eq([k["pid"] for k in kid], kids, "the child by the pid it printed")
        eq(r.parent(kid[0])["pid"], pid, "its parent")
        lo = regions[N * PSZ]
        v = [e for e in root["vmas"] if e["start"] == lo]
        eq((v[0]["origin"], [f["function"] for f in v[0]["stack"][:2]]),
           ("mmap", ["region", "main"]), "the region, with its stack")
        eq(v[0]["faults"], None, "faults not measured")
        for p in r.procs:
            eq(p["preload"]["active"], True, f"pid {p['pid']}: traced by the shim")


if __name__ == "__main__":
    main({"inside": t_inside, "program": t_program, "nested": t_nested, "two": t_two,
          "sequential": t_sequential, "nobpf": t_nobpf, "userns": t_userns})
