#!/usr/bin/env python3
"""Converts the FHIRPath R4 suite `fhir-r4.yaml` (fhirpath.js flavour) into `fhir-r4-cases.json`.

Usage: python3 convert.py /path/to/fhir-r4.yaml [/path/to/resources]

Every case keeps all of its YAML keys (desc, expression, inputfile, result, error, model,
disable, ...) and gains `group` (the group name without the `group: ` prefix) and
`group_disabled` when the whole group is marked `disable: true`. Case order is kept.
When a resources folder is given, every input file the cases name is copied next to this script.
"""
import json
import os
import shutil
import sys

import yaml


def main():
    source = sys.argv[1] if len(sys.argv) > 1 else "fhir-r4.yaml"
    here = os.path.dirname(os.path.abspath(__file__))
    with open(source, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    cases = []
    for group in data["tests"]:
        group_disabled = bool(group.get("disable", False))
        for name, items in group.items():
            if name == "disable":
                continue
            label = name[len("group: "):] if name.startswith("group: ") else name
            for item in items:
                case = {"group": label}
                if group_disabled:
                    case["group_disabled"] = True
                case.update(item)
                cases.append(case)
    with open(os.path.join(here, "fhir-r4-cases.json"), "w", encoding="utf-8") as f:
        json.dump({"source": os.path.basename(source), "cases": cases}, f, indent=1, ensure_ascii=False)
        f.write("\n")
    if len(sys.argv) > 2:
        for name in sorted({c["inputfile"] for c in cases if c.get("inputfile")}):
            shutil.copyfile(os.path.join(sys.argv[2], name), os.path.join(here, name))
    print(f"{len(cases)} cases")


if __name__ == "__main__":
    main()
