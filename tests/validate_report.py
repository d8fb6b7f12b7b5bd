#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Validate vmaprof report.json files against schema/report.schema.json
(schema_version 2), or schema/report.v1.schema.json for version-1 reports
(what vmaprof wrote before call sites and folding; vmaprof diff reads them).

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
          2: os.path.join(SCHEMAS, "report.schema.json")}


def _reject_constant(name):
    # Python's json accepts NaN and Infinity; JSON (and jansson) do not.
    raise ValueError(f"not JSON: {name}")


def _is_int(checker, instance):
    # docs/report.md: addresses and counts are JSON integers. jsonschema's default
    # "integer" also accepts 4096.0, which jansson would read as a real.
    return isinstance(instance, int) and not isinstance(instance, bool)


def make_validator(version=2):
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
    # a version-1 report against the version-1 schema; anything else
    # (version 2, or no or a wrong version) against the current one
    v = doc.get("schema_version") if isinstance(doc, dict) else None
    validator = validators[1] if v == 1 and not isinstance(v, bool) else validators[2]
    errors = sorted(validator.iter_errors(doc), key=lambda e: (list(map(str, e.absolute_path)),
                                                              e.message))
    for e in errors:
        print(f"{path}: {json_path(e)}: {e.message}")
    return 1 if errors else 0


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(f"usage: {argv[0]} FILE...", file=sys.stderr)
        return 2
    validators = {1: make_validator(1), 2: make_validator(2)}
    rc = 0
    for path in argv[1:]:
        rc = max(rc, validate(validators, path))
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
