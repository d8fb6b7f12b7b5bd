#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Validate vmaprof report.json files against the schema of their own
schema_version: schema/report.schema.json (version 3), or the kept
schema/report.v2.schema.json and report.v1.schema.json (what vmaprof wrote
before; vmaprof diff reads them).

usage: validate_report.py FILE...

Prints one line per error, `FILE: $.json.path: message`. Exit status: 0 if
every file is valid, 1 if one is not, 2 if one cannot be read or is not JSON
(2 wins over 1, so a broken input is never mistaken for a schema finding).

Runs under Debian's /usr/bin/python3, which has python3-jsonschema; the
pyenv python3 that runs the tests has the standard library only.
"""
import json
import os
import sys

import jsonschema

SCHEMAS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "schema")
SCHEMA = {1: os.path.join(SCHEMAS, "report.v1.schema.json"),
          2: os.path.join(SCHEMAS, "report.v2.schema.json"),
          3: os.path.join(SCHEMAS, "report.schema.json")}


def _reject_constant(name):
    # Python's json accepts NaN and Infinity; JSON (and jansson) do not.
    raise ValueError(f"not JSON: {name}")


def _is_int(checker, instance):
    # docs/report.md: addresses and counts are JSON integers. jsonschema's default
    # "integer" also accepts 4096.0, which jansson would read as a real.
    return isinstance(instance, int) and not isinstance(instance, bool)


def make_validator(version=3):
    with open(SCHEMA[version]) as f:
        schema = json.load(f)
    base = jsonschema.Draft202012Validator
    base.check_schema(schema)
    checker = base.TYPE_CHECKER.redefine("integer", _is_int)
    strict = jsonschema.validators.extend(base, type_checker=checker)
    return strict(schema)


def json_path(error):
    p = "$"
    for part in error.absolute_path:
        p += f"[{part}]" if isinstance(part, int) else f".{part}"
    return p


def validate(validators, path):
    """0 valid, 1 invalid, 2 unreadable."""
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read().decode("utf-8"), parse_constant=_reject_constant)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        print(f"{path}: cannot read a JSON document: {e}")
        return 2
    # a version-1 or -2 report against its own schema; anything else
    # (version 3, or no or a wrong version) against the current one
    v = doc.get("schema_version") if isinstance(doc, dict) else None
    validator = validators[v] if v in (1, 2) and not isinstance(v, bool) else validators[3]
    errors = sorted(validator.iter_errors(doc), key=lambda e: (list(map(str, e.absolute_path)),
                                                              e.message))
    for e in errors:
        print(f"{path}: {json_path(e)}: {e.message}")
    if not errors and v == 3:
        bad = dangling(doc)
        for b in bad:
            print(f"{path}: {b}")
        return 1 if bad else 0
    return 1 if errors else 0


def dangling(doc):
    """Version 3: every index a row or table holds names an element of its
    table (what the schema cannot say)."""
    n = {k: len(doc[k]) for k in ("frames", "stacks", "paths", "site_keys")}
    bad = []

    def ref(where, table, i):
        if i is not None and not 0 <= i < n[table]:
            bad.append(f"{where}: {i} is not an index into {table} ({n[table]})")
    for i, st in enumerate(doc["stacks"]):
        for f in st:
            ref(f"$.stacks[{i}]", "frames", f)
    for i, k in enumerate(doc["site_keys"]):
        ref(f"$.site_keys[{i}].stack", "stacks", k["stack"])
    vc, ic = doc["vma_columns"], doc["idle_columns"]
    for pi, p in enumerate(doc["processes"]):
        at = f"$.processes[{pi}]"
        for i, s in enumerate(p["sites"]):
            ref(f"{at}.sites[{i}].site_key", "site_keys", s[1])
        for fs in p["top_fault_sites"]:
            ref(f"{at}.top_fault_sites", "frames", fs[0])
        for i, row in enumerate(p["vmas"]):
            v = dict(zip(vc, row))
            ref(f"{at}.vmas[{i}].path", "paths", v["path"])
            ref(f"{at}.vmas[{i}].stack", "stacks", v["stack"])
            for fs in v["top_fault_sites"]:
                ref(f"{at}.vmas[{i}].top_fault_sites", "frames", fs[0])
            if not v["site"] < len(p["sites"]):
                bad.append(f"{at}.vmas[{i}].site: {v['site']} is not a site of the process")
        for i, row in enumerate(p["idle"]):
            v = dict(zip(ic, row))
            ref(f"{at}.idle[{i}].path", "paths", v["path"])
            if not v["site"] < len(p["sites"]):
                bad.append(f"{at}.idle[{i}].site: {v['site']} is not a site of the process")
    return bad


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(f"usage: {argv[0]} FILE...", file=sys.stderr)
        return 2
    validators = {v: make_validator(v) for v in (1, 2, 3)}
    rc = 0
    for path in argv[1:]:
        rc = max(rc, validate(validators, path))
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
