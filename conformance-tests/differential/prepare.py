#!/usr/bin/env python3
"""Prepares conformance-tests/data/synthea-subset/resources.ndjson.gz from the Synthea bundles
of samply/blaze (kept at ../shared/data/synthea-blaze/ on developer machines).

Every entry of the bundles is a POST with a `urn:uuid:` fullUrl; the server does not take
transactions yet, so this script does the work of one: the uuid of each fullUrl becomes the
resource's id, `urn:uuid:X` references become `Type/X`, conditional references
(`Organization?identifier=system|value`) are resolved through the identifiers of the selected
resources (and dropped when nothing matches). The output has one resource a line, in load
order (hospital and practitioner resources first). Deterministic: run it again, same bytes.

Usage: prepare.py [SOURCE_DIR]
"""

import bz2
import gzip
import io
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "synthea-subset", "resources.ndjson.gz")
DEFAULT_SOURCE = os.path.join(HERE, "..", "..", "..", "shared", "data", "synthea-blaze")

BUNDLES = [
    "0-hospitalInformation1625911868739.json.bz2",
    "0-practitionerInformation1625911868739.json.bz2",
    # Seven patients of middling size (a few hundred resources each).
    "e8247f30-fc71-a582-66e5-1c2c0c097fc8.json.bz2",
    "23275f24-df5a-6bcf-17cc-ff6507270b1c.json.bz2",
    "98f6377c-4f40-745a-04aa-fcb2ce32d9bd.json.bz2",
    "b3664f86-0ce9-4a2c-ae85-4d390d438512.json.bz2",
    "2ad91c08-1b48-0562-dbb2-79f23c1b692b.json.bz2",
    "252abfcc-dd25-a9ce-f187-873a98cecc53.json.bz2",
    "cd185ab5-8efb-c68a-4779-d49dd4ba8f28.json.bz2",
]


def main():
    source = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_SOURCE
    entries = []
    for name in BUNDLES:
        with bz2.open(os.path.join(source, name), "rt", encoding="utf-8") as f:
            bundle = json.load(f)
        entries.extend(bundle["entry"])

    by_urn = {}  # urn:uuid:X -> Type/X
    by_identifier = {}  # (Type, system, value) -> Type/X
    resources = []
    for entry in entries:
        resource = entry["resource"]
        full_url = entry["fullUrl"]
        assert full_url.startswith("urn:uuid:"), full_url
        rid = full_url[len("urn:uuid:"):]
        rtype = resource["resourceType"]
        resource["id"] = rid
        by_urn[full_url] = f"{rtype}/{rid}"
        for ident in resource.get("identifier", []):
            if "system" in ident and "value" in ident:
                by_identifier[(rtype, ident["system"], ident["value"])] = f"{rtype}/{rid}"
        resources.append(resource)

    unresolved = 0

    def rewrite(node):
        nonlocal unresolved
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "reference" and isinstance(value, str):
                    if value.startswith("urn:uuid:"):
                        if value in by_urn:
                            out[key] = by_urn[value]
                        else:
                            unresolved += 1
                        continue
                    if "?identifier=" in value:
                        rtype, _, query = value.partition("?identifier=")
                        system, _, ident = query.partition("|")
                        target = by_identifier.get((rtype, system, ident))
                        if target:
                            out[key] = target
                        else:
                            unresolved += 1
                        continue
                out[key] = rewrite(value)
            return out
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as gz:
        for resource in resources:
            line = json.dumps(rewrite(resource), ensure_ascii=False, separators=(",", ":"))
            gz.write(line.encode("utf-8") + b"\n")
    with open(OUT, "wb") as f:
        f.write(buffer.getvalue())
    counts = {}
    for r in resources:
        counts[r["resourceType"]] = counts.get(r["resourceType"], 0) + 1
    print(f"{len(resources)} resources, {unresolved} references dropped -> {OUT}")
    for t, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"  {t}: {n}")


if __name__ == "__main__":
    main()
