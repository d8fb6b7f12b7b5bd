# SPDX-License-Identifier: MIT
"""Read a schema_version 3 report.json as the tests knew version 2
(docs/report.md): rows become objects named by their columns, stacks and
fault sites lists of frame objects, paths strings, faults objects with a
total. Entries summarised in a process's idle[] stay there (as objects);
nothing is invented for them. A version 1 or 2 document is returned as it
is."""
import copy


def _faults(classes, row):
    if row is None:
        return None
    f = dict(zip(classes, row))
    f["total"] = sum(row)
    return f


def _pop(row):
    return None if row is None else {"faults": row[0], "pages": row[1]}


def expand(doc):
    """A new document: `doc` (version 3) in version 2's shape."""
    if doc.get("schema_version") != 3:
        return doc
    d = copy.deepcopy(doc)
    classes, frames, paths = d["fault_classes"], d["frames"], d["paths"]

    def stack(i):
        return [dict(frames[f]) for f in d["stacks"][i]]

    def sites(rows):
        out = []
        for f, c, n in rows:
            fr = dict(frames[f])
            fr.update({"class": classes[c], "count": n})
            out.append(fr)
        return out
    for p in d["processes"]:
        p["top_fault_sites"] = sites(p["top_fault_sites"])
        ss = []
        for row in p["sites"]:
            s = dict(zip(d["site_columns"], row))
            k = d["site_keys"][s.pop("site_key")]
            s.update({"key": k["key"], "label": k["label"], "label_frame": k["label_frame"],
                      "stack": stack(k["stack"]), "vmas": []})
            s["faults"], s["populated"] = _faults(classes, s["faults"]), _pop(s["populated"])
            ss.append(s)
        vs = []
        for row in p["vmas"]:
            v = dict(zip(d["vma_columns"], row))
            v["path"] = None if v["path"] is None else paths[v["path"]]
            if v["valid_from_ns"] is None:
                v["valid_from_ns"] = v["created_ns"]
            if v["inherited_from"] is not None:
                v["inherited_from"] = dict(zip(("pid", "vma"), v["inherited_from"]))
            v["stack"] = stack(v["stack"])
            if v["stack_missing"] is None:
                del v["stack_missing"]
            v["faults"], v["populated"] = _faults(classes, v["faults"]), _pop(v["populated"])
            v["top_fault_sites"] = sites(v["top_fault_sites"])
            v["label"] = ss[v["site"]]["label"]
            ss[v["site"]]["vmas"].append(v["id"])
            vs.append(v)
        idle = []
        for row in p["idle"]:
            i = dict(zip(d["idle_columns"], row))
            i["path"] = None if i["path"] is None else paths[i["path"]]
            idle.append(i)
        p["sites"], p["vmas"], p["idle"] = ss, vs, idle
    return d
