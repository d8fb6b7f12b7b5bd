# SPDX-License-Identifier: MIT
"""`vmaprof diff` on hand-made reports (tests/fixtures/diff, written by its gen.py).

usage: python3 tests/test_diff.py CASE   (env VMAPROF: the built vmaprof)

Standard library only; the fixtures' schema check runs validate_report.py
under Debian's /usr/bin/python3, which has python3-jsonschema.
"""
import copy
import filecmp
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "fixtures", "diff")
VMAPROF = os.environ.get("VMAPROF", "vmaprof")
SYSTEM_PYTHON = "/usr/bin/python3"
VALID = ["base.json", "same.json", "worse.json", "reordered.json", "unmeasured.json"]
CHILD = "root:exec(app)/fork[1]"  # the process that makes the COW copies


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def fx(name):
    return os.path.join(FIX, name)


def diff(*args):
    p = subprocess.run([VMAPROF, "diff", *args], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def expect(rc_want, args, what):
    rc, out, err = diff(*args)
    check(rc == rc_want, f"{what}: `vmaprof diff {' '.join(args)}` exited {rc}, expected "
          f"{rc_want}\n--- stdout\n{out}--- stderr\n{err}")
    return out, err


def exceeded(out):
    return [line for line in out.splitlines() if line.startswith("EXCEEDED")]


def bad_input(args, what, needle):
    """Exit 2, one clear line on stderr naming the problem, nothing on stdout."""
    out, err = expect(2, args, what)
    lines = err.strip().splitlines()
    check(len(lines) == 1 and lines[0].startswith("vmaprof diff: "),
          f"{what}: expected one 'vmaprof diff: ...' line on stderr, got {err!r}")
    check(needle in lines[0], f"{what}: stderr {lines[0]!r} does not mention {needle!r}")
    check(out == "", f"{what}: stdout should be empty on bad input, got {out!r}")


def validate(paths):
    p = subprocess.run([SYSTEM_PYTHON, os.path.join(HERE, "validate_report.py"), *paths],
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def written(doc):
    f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, prefix="vmaprof-diff-")
    json.dump(doc, f)
    f.close()
    return f.name


# ---- cases -------------------------------------------------------------------

def t_generated():
    """The checked-in fixtures are exactly what gen.py writes."""
    with tempfile.TemporaryDirectory() as t:
        subprocess.run([sys.executable, fx("gen.py"), t], check=True)
        for name in sorted(os.listdir(t)):
            check(filecmp.cmp(os.path.join(t, name), fx(name), shallow=False),
                  f"{name} differs from gen.py's output (re-run tests/fixtures/diff/gen.py)")


def t_schema():
    """Good fixtures are valid; each bad one is caught, with the right status."""
    rc, out = validate([fx(n) for n in VALID])
    check(rc == 0, f"fixtures against the JSON Schema:\n{out}")
    for name, want, needle in [("wrong_version.json", 1, "$.schema_version"),
                               ("missing_field.json", 1, "'faults' is a required property"),
                               ("not_json.json", 2, "cannot read a JSON document")]:
        rc, out = validate([fx(name)])
        check(rc == want and needle in out, f"validate {name}: rc {rc} (want {want}):\n{out}")
    base = json.load(open(fx("base.json")))
    for what, edit, needle in [
            ("a float count", lambda r: r.update(page_size=4096.0), "$.page_size"),
            ("a bad prot", lambda r: r["processes"][0]["vmas"][0].update(prot="rwz"), "prot"),
            ("a bad kind", lambda r: r["processes"][0]["vmas"][0].update(kind="text"), "kind"),
            ("a bad class", lambda r: r["processes"][0]["vmas"][3]["top_fault_sites"][0]
             .update({"class": "major"}), "class"),
            ("a missing fault class", lambda r: r["processes"][1]["faults"].pop("cow_reuse"),
             "cow_reuse"),
            ("a negative count", lambda r: r["collectors"]["bpf"].update(lost=-1), "lost"),
            ("inherited without inherited_from",
             lambda r: r["processes"][1]["vmas"][1].update(inherited_from=None), "inherited_from"),
            ("forked_from without time", lambda r: r["processes"][1]["forked_from"].pop("time_ns"),
             "time_ns")]:
        doc = copy.deepcopy(base)
        edit(doc)
        path = written(doc)
        try:
            rc, out = validate([path])
        finally:
            os.unlink(path)
        check(rc == 1 and needle in out, f"the schema accepts {what} (rc {rc}):\n{out}")
    extra = copy.deepcopy(base)
    extra["processes"][0]["vmas"][0]["note"] = "more fields are welcome"
    path = written(extra)
    try:
        rc, out = validate([path])
    finally:
        os.unlink(path)
    check(rc == 0, f"the schema rejects an additional field:\n{out}")


def t_same():
    out, _ = expect(0, [fx("base.json"), fx("same.json"), "--max-increase", "cow_copy=0%",
                        "--max-increase", "mapped_bytes=0%"], "identical reports")
    check(not exceeded(out), f"identical reports exceeded a bound:\n{out}")
    check("no changes" in out, f"identical reports: expected 'no changes':\n{out}")


def t_worse():
    args = [fx("base.json"), fx("worse.json")]
    out, _ = expect(1, args + ["--max-increase", "cow_copy=10%"], "cow_copy +25% vs 10%")
    ex = exceeded(out)
    want = f"EXCEEDED cow_copy +25.0% > 10% at {CHILD} (old 400, new 500)"
    check(want in ex, f"missing {want!r} in:\n{out}")
    check("EXCEEDED cow_copy +25.0% > 10% at * (old 400, new 500)" in ex,
          f"the whole-report total should exceed too:\n{out}")
    check(all(" cow_copy " in e for e in ex), f"only cow_copy was bounded:\n{out}")
    site = f"{CHILD} vma:anon@alloc_buffer<main<__libc_start_call_main"
    rows = [line.split() for line in out.splitlines() if line.startswith(site + " ")]
    check(any(r[-5:] == ["cow_copy", "400", "500", "+100", "(+25.0%)"] for r in rows),
          f"no per-VMA row for the buffer's call site {site!r}:\n{out}")
    out, _ = expect(0, args + ["--max-increase", "cow_copy=30%"], "cow_copy +25% vs 30%")
    check(not exceeded(out), f"30% bound reported exceeded:\n{out}")
    expect(0, args + ["--max-increase", "cow_copy=25"], "PCT without '%', exact bound")
    expect(1, args + ["--max-increase", "cow_copy=24.9%"], "PCT with a fraction")
    expect(0, args, "no bounds at all")
    # the same run compared the other way round is a decrease: holds
    expect(0, [fx("worse.json"), fx("base.json"), "--max-increase", "cow_copy=0%"],
           "a decrease")


def t_first_shape():
    """Reports of the first shape (six classes, no populated) still read:
    the classes added since count as 0 there."""
    out, _ = expect(0, [fx("first_shape.json"), fx("same.json"), "--max-increase",
                        "cow_copy=0%", "--max-increase", "zero_page=0%"], "old vs new shape")
    check("no changes" in out, f"expected 'no changes':\n{out}")
    out, _ = expect(1, [fx("first_shape.json"), fx("worse.json"), "--max-increase",
                        "cow_copy=10%"], "old base, worse new")
    check(exceeded(out), f"the bound should be exceeded:\n{out}")


def t_unmeasured():
    """A report recorded without the kernel collector has null fault figures:
    mappings are compared, and a bound on a figure it lacks is bad input."""
    out, _ = expect(0, [fx("unmeasured.json"), fx("same.json")], "unmeasured base")
    check("no fault figures" in out, f"the diff should say what it lacks:\n{out}")
    out, err = expect(2, [fx("unmeasured.json"), fx("same.json"), "--max-increase",
                          "cow_copy=10%"], "a bound on an unmeasured figure")
    check("no fault figures" in err and "cow_copy" in err, f"message: {err}")
    expect(0, [fx("unmeasured.json"), fx("same.json"), "--max-increase", "mapped_bytes=0%"],
           "mapped bytes are measured by the shim")


def t_streamed():
    """VMA lists are read one object at a time from the text (big reports):
    strings with quotes, brackets and escapes inside them, other spacing and
    member order must not confuse that; a broken VMA object is exit 2."""
    tricky = '/tmp/a "dir" ]}[{ \\ with, commas/lib.so'
    paths = []
    for name in ("base.json", "worse.json"):
        doc = json.load(open(fx(name)))
        for p in doc["processes"]:
            for v in p["vmas"]:
                if v["path"]:
                    v["path"] = tricky + v["path"]
            p["vmas"] = [dict(reversed(list(v.items()))) for v in p["vmas"]]
        f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False,
                                        prefix="vmaprof-diff-")
        json.dump(doc, f, indent=3, separators=(" , ", " : "))
        f.close()
        paths.append(f.name)
    try:
        out, _ = expect(0, [paths[0], paths[0]], "tricky strings, same")
        check("no changes" in out, f"expected 'no changes':\n{out}")
        out, _ = expect(1, [paths[0], paths[1], "--max-increase", "cow_copy=10%"],
                        "tricky strings, worse")
        check("EXCEEDED cow_copy +25.0% > 10% at * (old 400, new 500)" in out, out)
        text = open(paths[1]).read()
        i = text.index('"vmas"')
        j = text.index("{", i)
        with open(paths[1], "w") as f:
            f.write(text[:j] + "{ nonsense" + text[j + 1:])
        _, err = expect(2, [paths[0], paths[1]], "a broken VMA object")
        check("vmas[" in err or "not JSON" in err or "not a JSON" in err, err)
    finally:
        for q in paths:
            os.unlink(q)


def t_reordered():
    """Other pids, addresses, times and order: matched by role and call site."""
    out, _ = expect(0, [fx("base.json"), fx("reordered.json")] +
                    sum((["--max-increase", m + "=0%"] for m in (
                        "demand_zero", "cow_copy", "cow_reuse", "file", "shared_write", "other",
                        "total_faults", "pages_allocated", "vma_count", "mapped_bytes")), []),
                    "reordered copy")
    check("no changes" in out and not exceeded(out), f"reordered copy reported changes:\n{out}")


def t_min_pages():
    """Below N pages a role's change is noise; the whole-report total still counts."""
    args = [fx("base.json"), fx("worse.json"), "--max-increase", "cow_copy=10%"]
    out, _ = expect(1, args + ["--min-pages", "1000"], "--min-pages 1000")
    ex = exceeded(out)
    check(len(ex) == 1 and " at * " in ex[0], f"only the total should exceed:\n{out}")
    check(CHILD not in out, f"the role's change (400 -> 500 < 1000 pages) is shown:\n{out}")
    out, _ = expect(1, args + ["--min-pages", "500"], "--min-pages 500")
    check(any(f"at {CHILD} " in e for e in exceeded(out)),
          f"500 pages is not below 500: the role should be checked:\n{out}")


def t_new_role():
    """A process only in NEW is compared against 0: any increase exceeds."""
    doc = json.load(open(fx("base.json")))
    third = copy.deepcopy(doc["processes"][1])
    third["pid"] = 1003
    third["start_ns"] = third["forked_from"]["time_ns"] = doc["processes"][0]["end_ns"] - 100
    doc["processes"].append(third)
    path = written(doc)
    try:
        out, _ = expect(1, [fx("base.json"), path, "--max-increase", "cow_copy=50%"],
                        "a third child")
    finally:
        os.unlink(path)
    role = "root:exec(app)/fork[3]"
    check(f"only in NEW: {role}" in out, f"no 'only in NEW' line for {role}:\n{out}")
    ex = exceeded(out)
    check(any(f"at {role} " in e and "base is 0" in e and "(old 0, new 400" in e for e in ex),
          f"the new role should exceed from base 0, saying so:\n{out}")
    check(any("+100.0% > 50% at * (old 400, new 800)" in e for e in ex),
          f"the total doubled:\n{out}")


def t_deterministic():
    args = [fx("base.json"), fx("worse.json"), "--max-increase", "cow_copy=10%",
            "--max-increase", "total_faults=1%"]
    first = diff(*args)
    for _ in range(3):
        check(diff(*args) == first, "two runs printed different output")
    check("\x1b" not in first[1], "colour codes in the output")


def t_bad_json():
    bad_input([fx("base.json"), fx("not_json.json")], "not JSON", "not_json.json")


def t_bad_version():
    bad_input([fx("wrong_version.json"), fx("base.json")], "schema_version 2", "schema_version")


def t_missing_field():
    bad_input([fx("base.json"), fx("missing_field.json")], "a process without faults",
              "processes[1].faults")


def t_bad_metric():
    bad_input([fx("base.json"), fx("same.json"), "--max-increase", "foo=10%"], "metric foo",
              "foo")


def t_bad_pct():
    for pct in ("abc", "-5%", "1e3", "%", "10%%", "", "nan"):
        bad_input([fx("base.json"), fx("same.json"), "--max-increase", "cow_copy=" + pct],
                  f"PCT {pct!r}", "cow_copy=" + pct)


def t_no_file():
    bad_input([fx("base.json"), fx("does-not-exist.json")], "a missing file",
              "does-not-exist.json")
    bad_input([fx("base.json")], "one report only", "two reports")


def t_bad_types():
    """Mistyped or missing fields anywhere the diff reads: exit 2, never a crash."""
    base = json.load(open(fx("base.json")))
    edits = [
        lambda r: r.update(processes={}),
        lambda r: r.update(page_size=0),
        lambda r: r.update(page_size="4096"),
        lambda r: r["processes"].append(7),
        lambda r: r["processes"][0].update(vmas=None),
        lambda r: r["processes"][0]["vmas"][3].update(start=-1),
        lambda r: r["processes"][0]["vmas"][3].update(end=1),
        lambda r: r["processes"][0]["vmas"][3]["stack"][0].update(ip="0x10"),
        lambda r: r["processes"][0]["vmas"][3]["stack"].append(None),
        lambda r: r["processes"][0]["vmas"][3]["faults"].update(cow_copy=1.5),
        lambda r: r["processes"][0]["vmas"][3].pop("kind"),
        lambda r: r["processes"][1].update(forked_from={"pid": 1000}),
        lambda r: r["processes"][0]["execs"][0].update(path=None),
        # a fork cycle: the root claims to be its own child's child
        lambda r: r["processes"][0].update(forked_from={"pid": 1001, "time_ns": 1}),
    ]
    for i, edit in enumerate(edits):
        doc = copy.deepcopy(base)
        edit(doc)
        path = written(doc)
        try:
            rc, out, err = diff(fx("base.json"), path)
        finally:
            os.unlink(path)
        check(rc == 2 and len(err.strip().splitlines()) == 1,
              f"edit #{i}: exit {rc}, stderr {err!r} (want 2 and one line)")


CASES = {name[2:]: fn for name, fn in globals().items() if name.startswith("t_")}


def main():
    if sys.argv[1:] == ["--list"]:
        print("\n".join(CASES))
        return 0
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        print(f"usage: {sys.argv[0]} {{{','.join(CASES)}}}", file=sys.stderr)
        return 2
    try:
        CASES[sys.argv[1]]()
    except Fail as e:
        print(f"FAIL {sys.argv[1]}: {e}", file=sys.stderr)
        return 1
    print(f"ok {sys.argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
