#!/usr/bin/env python3
"""Differential test of FHIR search.

Generates a few hundred search queries (deterministic, fixed seed) over the resources of
conformance-tests/data/synthea-subset/resources.ndjson.gz, with values sampled from the data,
and compares, for each query, the ids a running server returns with the ids expected by an
independent evaluation: the official R4 SearchParameter's FHIRPath expression evaluated on every
resource by fhirpathpy (another FHIRPath engine than the server's), then the R4 search matching
rules applied in Python (below: token, string, reference, date, quantity, number, uri; the
modifiers :missing, :exact, :contains, :not; OR lists).

The server must already hold exactly these resources (PUT Type/id) and nothing else of the
searched types.

Usage: differential.py BASE_URL [--data FILE] [--params FILE] [--seed N] [--verbose]
Exit status: 0 when every disagreement is covered by an entry of EXCUSES (each explained
there), 1 otherwise, 2 on a usage or set-up error.
"""

import argparse
import collections
import datetime as dt
import gzip
import json
import os
import random
import re
import sys
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal

try:
    from fhirpathpy import compile as fhirpath_compile
    from fhirpathpy.models import models as fhirpath_models
except ImportError:  # pragma: no cover
    print("differential.py needs fhirpathpy (pip install fhirpathpy==2.2.4)", file=sys.stderr)
    sys.exit(2)

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "..", "data", "synthea-subset", "resources.ndjson.gz")
DEFAULT_PARAMS = os.path.join(
    HERE, "..", "..", "fhir-core", "src", "search", "search_params.json"
)

SUPPORTED_TYPES = {"token", "string", "reference", "date", "quantity", "number", "uri"}
# Resource-level parameters worth comparing (_lastUpdated is set by the server, _text and
# _content have no expression).
RESOURCE_PARAMS = {"_id", "_profile", "_tag", "_security", "_source"}
MAX_PER_PARAM = 18

# Disagreements that are understood and accepted: other readings of the rules, where R4 is silent
# or ambiguous. A disagreement is excused only when the server's answer is exactly the answer
# under these readings (applied to the conditions of the query they concern), never because the
# difference merely looks alike. Anything else makes the script fail.
def _padded(cond):
    _code, ptype, modifier, value, _ = cond
    return (
        ptype == "string"
        and modifier not in ("exact", "missing")
        and any(v != v.strip() for v in split_or(value))
    )


def _trim(cond):
    code, ptype, modifier, value, values_by_id = cond
    return (code, ptype, modifier, ",".join(v.strip() for v in split_or(value)), values_by_id)


def _text(cond):
    return cond[1] == "token" and cond[2] == "text"


def _words(cond):
    code, ptype, _modifier, value, values_by_id = cond
    return (code, ptype, "text-words", value, values_by_id)


EXCUSES = [
    (
        "trimmed string values",
        _padded,
        _trim,
        "a string search value with leading or trailing white space: the server trims it "
        "(`address:contains=42%20` is taken as `42`); R4 says nothing about white space in "
        "string search values, the Python side takes the value literally.",
    ),
    (
        "token :text on words",
        _text,
        _words,
        "token :text: the server matches the value at the start of any word of the text "
        "(`type:text=encou` finds 'Follow-up encounter'), the Python side at the start of the "
        "whole text, as for a string parameter. R4 only says the value is 'processed as a "
        "string'; the server's reading is the common full-text one (R5 calls that :text-advanced "
        "and makes :text plain string matching).",
    ),
]


# ---------------------------------------------------------------------------------------------
# Loading


def load_resources(path):
    by_type = collections.defaultdict(dict)
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line, parse_float=Decimal)
                by_type[r["resourceType"]][r["id"]] = r
    return by_type


def load_params(path, types):
    with open(path, encoding="utf-8") as f:
        all_params = json.load(f)
    out = collections.defaultdict(dict)
    for p in all_params:
        if p["type"] not in SUPPORTED_TYPES or "expression" not in p:
            continue
        for t in types:
            if t in p["base"] or (
                p["code"] in RESOURCE_PARAMS
                and ("Resource" in p["base"] or "DomainResource" in p["base"])
            ):
                out[t][p["code"]] = p
    return out


def adapt_expression(expr, rtype):
    """Adapts an official expression to what fhirpathpy evaluates, keeping its meaning:
    - fhirpathpy has no resolve(): `x.where(resolve() is T)` becomes a test on the reference
      string, which is what it means for the relative references of the data set;
    - `Resource.x` and `DomainResource.x` (the common parameters) are written with the actual
      type, as fhirpathpy does not see an Observation as a Resource at the root;
    - `(x as T)` on a collection (`Observation.component.value as Quantity`) is an error for
      fhirpathpy (`as` wants a singleton); the intent is `x.ofType(T)`."""
    expr = re.sub(r"resolve\(\)\s+is\s+(\w+)", r"reference.startsWith('\1/')", expr)
    expr = re.sub(r"^(Domain)?Resource\.", rtype + ".", expr)
    expr = re.sub(r"\(([\w.]+) as (\w+)\)", r"\1.ofType(\2)", expr)
    return None if "resolve(" in expr else expr


# ---------------------------------------------------------------------------------------------
# Values of a parameter, per type


def norm_string(s):
    s = unicodedata.normalize("NFKD", s)
    s = "".join(c for c in s if not unicodedata.combining(c))
    return s.casefold()


HUMANNAME_KEYS = ("family", "given", "prefix", "suffix", "text")
ADDRESS_KEYS = ("line", "city", "district", "state", "postalCode", "country", "text")


def string_values(v):
    if isinstance(v, str):
        return [v]
    if isinstance(v, dict):
        keys = None
        if any(k in v for k in ("family", "given")):
            keys = HUMANNAME_KEYS
        elif any(k in v for k in ("line", "city", "postalCode", "state", "country")):
            keys = ADDRESS_KEYS
        elif "text" in v:
            keys = ("text",)
        out = []
        for k in keys or ():
            x = v.get(k)
            if isinstance(x, str):
                out.append(x)
            elif isinstance(x, list):
                out.extend(s for s in x if isinstance(s, str))
        return out
    return []


CONTACT_SYSTEMS = {"phone", "fax", "email", "pager", "url", "sms", "other"}


def token_values(v):
    """(system or None, code, kind) of a token-typed element, and the texts the :text modifier
    searches (kind "text": CodeableConcept.text, Coding.display, Identifier.type.text)."""
    codes = token_codes(v)
    texts = []
    if isinstance(v, dict):
        if isinstance(v.get("text"), str) and "value" not in v:
            texts.append(v["text"])
        for c in v.get("coding", []) if isinstance(v.get("coding"), list) else []:
            if isinstance(c.get("display"), str):
                texts.append(c["display"])
        if isinstance(v.get("display"), str):
            texts.append(v["display"])
        if isinstance(v.get("type"), dict) and isinstance(v["type"].get("text"), str):
            texts.append(v["type"]["text"])
    return codes + [(None, t, "text") for t in texts]


def token_codes(v):
    if isinstance(v, bool):
        return [(None, "true" if v else "false", "boolean")]
    if isinstance(v, str):
        return [(None, v, "code")]
    if isinstance(v, dict):
        if "coding" in v or ("text" in v and "code" not in v and "value" not in v):
            return [
                (c.get("system"), c.get("code"), "coding")
                for c in v.get("coding", [])
                if c.get("code") is not None
            ]
        if "code" in v:
            return [(v.get("system"), v["code"], "coding")]
        if "value" in v and isinstance(v["value"], str):
            if v.get("system") in CONTACT_SYSTEMS:
                return [(None, v["value"], "contactpoint")]
            out = [(v.get("system"), v["value"], "identifier")]
            # For :of-type, the type's codings with the value: "system|code|value".
            type_ = v.get("type") if isinstance(v.get("type"), dict) else {}
            for c in type_.get("coding", []):
                if c.get("system") and c.get("code"):
                    out.append((None, f"{c['system']}|{c['code']}|{v['value']}", "oftype"))
            return out
    return []


def reference_values(v):
    if isinstance(v, dict) and isinstance(v.get("reference"), str):
        return [v["reference"]]
    return []


# Dates: every value becomes a half-open range [lo, hi) of aware UTC datetimes.
MIN_DT = dt.datetime(1, 1, 1, tzinfo=dt.timezone.utc)
MAX_DT = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc)
DATE_RE = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?"
    r"(Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def parse_fhir_date(s):
    """The range [lo, hi) a FHIR date, dateTime or instant covers, or None. Values without a
    time zone are taken as UTC."""
    m = DATE_RE.match(s)
    if not m:
        return None
    year, month, day, hh, mi, ss, frac, tz = m.groups()
    year = int(year)
    if month is None:
        return (
            dt.datetime(year, 1, 1, tzinfo=dt.timezone.utc),
            dt.datetime(year + 1, 1, 1, tzinfo=dt.timezone.utc),
        )
    month = int(month)
    if day is None:
        lo = dt.datetime(year, month, 1, tzinfo=dt.timezone.utc)
        hi = (
            dt.datetime(year + 1, 1, 1, tzinfo=dt.timezone.utc)
            if month == 12
            else dt.datetime(year, month + 1, 1, tzinfo=dt.timezone.utc)
        )
        return lo, hi
    day = int(day)
    if hh is None:
        lo = dt.datetime(year, month, day, tzinfo=dt.timezone.utc)
        return lo, lo + dt.timedelta(days=1)
    if tz is None or tz == "Z":
        tzinfo = dt.timezone.utc
    else:
        sign = 1 if tz[0] == "+" else -1
        tzinfo = dt.timezone(sign * dt.timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])))
    if ss is None:
        lo = dt.datetime(year, month, day, int(hh), int(mi), tzinfo=tzinfo)
        step = dt.timedelta(minutes=1)
    elif frac:
        micros = int((frac[1:] + "000000")[:6])
        lo = dt.datetime(year, month, day, int(hh), int(mi), int(ss), micros, tzinfo=tzinfo)
        step = dt.timedelta(microseconds=10 ** (6 - min(len(frac) - 1, 6)))
    else:
        lo = dt.datetime(year, month, day, int(hh), int(mi), int(ss), tzinfo=tzinfo)
        step = dt.timedelta(seconds=1)
    lo = lo.astimezone(dt.timezone.utc)
    return lo, lo + step


def date_values(v):
    if isinstance(v, str):
        r = parse_fhir_date(v)
        return [r] if r else []
    if isinstance(v, dict):
        if "start" in v or "end" in v:  # Period
            lo = parse_fhir_date(v["start"])[0] if "start" in v else MIN_DT
            hi = parse_fhir_date(v["end"])[1] if "end" in v else MAX_DT
            return [(lo, hi)]
        if "event" in v:  # Timing
            return [r for r in (parse_fhir_date(e) for e in v["event"]) if r]
    return []


def number_values(v):
    if isinstance(v, bool):
        return []
    if isinstance(v, (int, Decimal)):
        return [(Decimal(v), None, None, None)]
    if isinstance(v, dict) and "value" in v:  # Quantity
        return [(Decimal(v["value"]), v.get("system"), v.get("code"), v.get("unit"))]
    return []


def uri_values(v):
    return [v] if isinstance(v, str) else []


EXTRACT = {
    "token": token_values,
    "string": string_values,
    "reference": reference_values,
    "date": date_values,
    "quantity": number_values,
    "number": number_values,
    "uri": uri_values,
}


# ---------------------------------------------------------------------------------------------
# Matching, per the R4 search rules


def split_or(value):
    """Splits an OR list on unescaped commas."""
    parts, cur, i = [], "", 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            cur += value[i + 1]
            i += 2
            continue
        if c == ",":
            parts.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    parts.append(cur)
    return parts


def match_token(values, q):
    values = [t for t in values if t[2] not in ("text", "oftype")]
    if "|" in q:
        system, code = q.split("|", 1)
        if system == "":
            return any(s is None and c == code for s, c, _ in values)
        if code == "":
            return any(s == system for s, c, _ in values)
        return any(s == system and c == code for s, c, _ in values)
    return any(c == q for _, c, _ in values)


def match_string(values, q, modifier):
    if modifier == "word":  # at the start of the text or of any word in it
        nq = norm_string(q)
        return any(re.search(r"(^|[^0-9a-z])" + re.escape(nq), norm_string(v)) for v in values)
    if modifier == "exact":
        return any(v == q for v in values)
    nq = norm_string(q)
    if modifier == "contains":
        return any(nq in norm_string(v) for v in values)
    return any(norm_string(v).startswith(nq) for v in values)


SERVER_BASE = [""]


def match_reference(values, q, modifier):
    if modifier:  # :Type
        q = f"{modifier}/{q}"
    if SERVER_BASE[0] and q.startswith(SERVER_BASE[0] + "/"):  # an absolute URL on this server
        q = q[len(SERVER_BASE[0]) + 1:]
    if "/" in q:
        return any(v == q or v.endswith("/" + q) for v in values)
    return any(v.rsplit("/", 1)[-1] == q for v in values)


PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")


def split_prefix(q):
    if len(q) >= 2 and q[:2] in PREFIXES and (len(q) == 2 or not q[2].isalpha()):
        return q[:2], q[2:]
    return "eq", q


def date_match(prefix, target, query):
    a, b = target
    p, q = query
    contained = a >= p and b <= q
    if prefix == "eq":
        return contained
    if prefix == "ne":
        return not contained
    if prefix == "gt":
        return b > q
    if prefix == "lt":
        return a < p
    if prefix == "ge":
        return b > q or contained
    if prefix == "le":
        return a < p or contained
    if prefix == "sa":
        return a >= q
    if prefix == "eb":
        return b <= p
    raise ValueError(prefix)


def match_date(values, q):
    prefix, v = split_prefix(q)
    query = parse_fhir_date(v)
    return any(date_match(prefix, t, query) for t in values)


def number_range(text):
    """The implicit range of a decimal search value: half a unit of its last significant digit
    either side."""
    d = Decimal(text)
    exp = d.as_tuple().exponent
    half = Decimal(5) * Decimal(10) ** (exp - 1)
    return d - half, d + half


def match_number(values, q):
    parts = q.split("|")
    prefix, num = split_prefix(parts[0])
    system = parts[1] if len(parts) > 1 else ""
    code = parts[2] if len(parts) > 2 else ""
    d = Decimal(num)
    lo, hi = number_range(num)
    for value, vs, vc, vu in values:
        if system and vs != system:
            continue
        if code and not (vc == code or (not system and vu == code)):
            continue
        if prefix == "eq" and lo <= value < hi:
            return True
        if prefix == "ne" and not (lo <= value < hi):
            return True
        if prefix == "gt" and value > d:
            return True
        if prefix == "lt" and value < d:
            return True
        if prefix == "ge" and value >= d:
            return True
        if prefix == "le" and value <= d:
            return True
    return False


def match_uri(values, q, modifier):
    if modifier == "below":  # q is a prefix of the value, on a path segment boundary
        return any(v == q or v.startswith(q.rstrip("/") + "/") for v in values)
    return any(v == q for v in values)


def expected_ids(ptype, values_by_id, modifier, raw_value):
    """The ids matching `param[:modifier]=raw_value`."""
    if modifier == "missing":
        want_missing = raw_value == "true"
        if ptype == "token":  # texts alone are no token value
            return {
                rid
                for rid, vs in values_by_id.items()
                if (not [t for t in vs if t[2] not in ("text", "oftype")]) == want_missing
            }
        return {rid for rid, vs in values_by_id.items() if (not vs) == want_missing}
    alternatives = split_or(raw_value)
    out = set()
    for rid, vs in values_by_id.items():
        if ptype == "token":
            if modifier == "of-type":
                hit = any(t[2] == "oftype" and t[1] == alt for t in vs for alt in alternatives)
            elif modifier in ("text", "text-words"):
                texts = [t[1] for t in vs if t[2] == "text"]
                how = "word" if modifier == "text-words" else ""
                hit = any(match_string(texts, alt, how) for alt in alternatives)
            else:
                hit = any(match_token(vs, alt) for alt in alternatives)
            if modifier == "not":
                hit = not hit
        elif ptype == "string":
            hit = any(match_string(vs, alt, modifier) for alt in alternatives)
        elif ptype == "reference":
            hit = any(match_reference(vs, alt, modifier) for alt in alternatives)
        elif ptype == "date":
            hit = any(match_date(vs, alt) for alt in alternatives)
        elif ptype in ("quantity", "number"):
            hit = any(match_number(vs, alt) for alt in alternatives)
        elif ptype == "uri":
            hit = any(match_uri(vs, alt, modifier) for alt in alternatives)
        else:
            raise ValueError(ptype)
        if hit:
            out.add(rid)
    return out


# ---------------------------------------------------------------------------------------------
# Query generation


def safe(s):
    return isinstance(s, str) and s != "" and not any(c in s for c in ",|$\\")


def fmt_decimal(d):
    return format(d, "f")


def date_query_values(rng, ranges):
    """Search values at several precisions around the values of the data."""
    out = []
    for lo, _hi in rng.sample(ranges, min(3, len(ranges))):
        if lo <= MIN_DT or lo.year >= 9999:
            continue
        out.append(lo.strftime("%Y"))
        out.append(lo.strftime("%Y-%m"))
        out.append(lo.strftime("%Y-%m-%d"))
        out.append(lo.strftime("%Y-%m-%dT%H:%MZ"))
        # The exact instant, written in another time zone.
        local = lo.astimezone(dt.timezone(dt.timedelta(hours=-5)))
        out.append(local.strftime("%Y-%m-%dT%H:%M:%S-05:00"))
    return out


def strip_accents(s):
    return "".join(
        c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c)
    )


def edge_cases(rng, ptype, all_values):
    """Probes aimed at the corners of the matching rules, where the data has them."""
    qs = []
    if ptype == "string":
        strings = sorted({v for v in all_values if safe(v)})
        accented = [v for v in strings if not v.isascii()]
        for v in rng.sample(accented, min(2, len(accented))):
            plain = strip_accents(v)
            qs.append(("", plain[: max(3, len(plain) - 3)]))  # accent-insensitive
            qs.append(("exact", plain))  # :exact is not
        apostrophes = [v for v in strings if "'" in v]
        if apostrophes:
            v = rng.choice(apostrophes)
            qs.append(("", v[: v.index("'") + 3]))
        if strings:
            qs.append(("exact", rng.choice(strings) + " "))  # no value is padded
    if ptype == "date":
        open_ended = sorted({r for r in all_values if r[0] == MIN_DT or r[1] == MAX_DT})
        if open_ended:
            lo, hi = rng.choice(open_ended)
            known = lo if lo != MIN_DT else hi
            for day in (known - dt.timedelta(days=40), known + dt.timedelta(days=40)):
                for prefix in ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb"):
                    qs.append(("", prefix + day.strftime("%Y-%m-%d")))
    return qs


def generate(rng, rtype, code, ptype, values_by_id):
    """(modifier, value) pairs for one parameter of one type."""
    all_values = [v for vs in values_by_id.values() for v in vs]
    qs = []
    if not all_values:
        return [("missing", "true"), ("missing", "false")]
    qs.append(("missing", rng.choice(["true", "false"])))
    qs.extend(edge_cases(rng, ptype, all_values))
    if ptype == "token":
        texts = sorted({t[1] for t in all_values if t[2] == "text" and safe(t[1])})
        for text in rng.sample(texts, min(2, len(texts))):
            words = text.split()
            qs.append(("text", words[0][:5].lower() if rng.random() < 0.5 else " ".join(words[:2])))
        of_type = sorted({t[1] for t in all_values if t[2] == "oftype" and safe(t[1].replace("|", ""))})
        for v in rng.sample(of_type, min(2, len(of_type))):
            qs.append(("of-type", v))
            system, code, value = v.split("|", 2)
            qs.append(("of-type", f"{system}|{code}|{value}x"))  # the same type, another value
        all_values = [t for t in all_values if t[2] not in ("text", "oftype")]
        tokens = sorted({t for t in all_values if safe(t[1]) and (t[0] is None or safe(t[0]))},
                        key=lambda t: (t[0] or "", t[1]))
        picks = rng.sample(tokens, min(4, len(tokens)))
        for system, c, kind in picks:
            qs.append(("", c))
            if system:
                qs.append(("", f"{system}|{c}"))
        if picks:
            system, c, kind = picks[0]
            qs.append(("not", f"{system}|{c}" if system else c))
            systems = sorted({t[0] for t in tokens if t[0]})
            if systems:
                qs.append(("", rng.choice(systems) + "|"))
            if len(picks) > 1:
                qs.append(("", ",".join(p[1] for p in picks[:2])))
            if any(t[0] is None and t[2] != "code" for t in tokens):
                qs.append(("", "|" + next(t[1] for t in tokens if t[0] is None)))
            with_system = [t for t in picks if t[0]]
            if with_system:
                qs.append(("", "|" + with_system[0][1]))
            if len(picks) > 1:
                qs.append(("not", ",".join(p[1] for p in picks[:2])))
            qs.append(("", "no-such-code-xyz"))
            if system:
                qs.append(("", f"{system}|no-such-code-xyz"))
    elif ptype == "string":
        strings = sorted({s for s in all_values if safe(s)})
        for s in rng.sample(strings, min(3, len(strings))):
            qs.append(("", s[: max(1, min(len(s), rng.randint(2, 6)))].lower()))
            qs.append(("exact", s))
            if s.lower() != s:
                qs.append(("exact", s.lower()))
        if len(strings) >= 2:
            a, b = rng.sample(strings, 2)
            qs.append(("", f"{a[:3]},{b[:3]}"))
            long_ones = [s for s in strings if len(s) > 4]
            if long_ones:
                s = rng.choice(long_ones)
                qs.append(("contains", s[1:4].upper()))
        # Accent and case insensitivity: the query with accents the data does not have.
        accentable = [s for s in strings if re.search(r"[aeiou]", s)]
        if accentable:
            s = rng.choice(accentable)
            accented = s.translate(str.maketrans("aeiouAEIOU", "áéíóúÀÉÎÕÜ"))
            qs.append(("", accented[: min(len(accented), 8)]))
        # A value with a comma, escaped.
        with_comma = sorted({v for v in all_values if isinstance(v, str) and "," in v
                             and not any(c in v for c in "|$\\")})
        if with_comma:
            s = rng.choice(with_comma)
            cut = s.index(",") + 3
            qs.append(("", s[:cut].replace(",", "\\,")))
            qs.append(("exact", s.replace(",", "\\,")))
        qs.append(("", "zzqxj"))
    elif ptype == "reference":
        refs = sorted({r for r in all_values if "/" in r and not r.startswith("#") and safe(r)})
        picks = rng.sample(refs, min(3, len(refs)))
        for r in picks:
            qs.append(("", r))
        if picks:
            t, rid = picks[0].split("/", 1)
            qs.append(("", rid))
            qs.append((t, rid))
            if len(picks) > 1:
                qs.append(("", f"{picks[0]},{picks[1]}"))
            qs.append(("", f"{t}/does-not-exist"))
            qs.append(("", "{BASE}/" + picks[-1]))
    elif ptype == "date":
        ranges = sorted(set(all_values))
        values = date_query_values(rng, ranges)
        for v in values:
            prefix = rng.choice(["", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb"])
            qs.append(("", prefix + v))
        if values:
            v = rng.choice(values)
            for prefix in ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb"):
                qs.append(("", prefix + v))
        if len(values) >= 2:
            qs.append(("", f"{values[0]},{values[-1]}"))
        qs.append(("", "gt2100-01-01"))
        qs.append(("", "lt1800"))
    elif ptype in ("quantity", "number"):
        vals = sorted({v for v in all_values}, key=lambda v: (v[0], v[1] or "", v[2] or ""))
        for value, system, c, unit in rng.sample(vals, min(5, len(vals))):
            n = fmt_decimal(value)
            qs.append(("", n))
            qs.append(("", rng.choice(["gt", "lt", "ge", "le", "ne"]) + n))
            rounded = value.quantize(Decimal(1)) if abs(value) >= 10 else value.quantize(Decimal("0.1"))
            if rounded != value:
                qs.append(("", fmt_decimal(rounded)))
            if unit and safe(unit):
                qs.append(("", f"{n}||{unit}"))
            if value != 0 and rng.random() < 0.5:  # exponent form: same value and precision
                sign, digits, exp = value.as_tuple()
                mantissa = ("-" if sign else "") + str(digits[0]) + (
                    "." + "".join(map(str, digits[1:])) if len(digits) > 1 else "")
                qs.append(("", f"{mantissa}e{exp + len(digits) - 1}"))
            if system and c and safe(system) and safe(c):
                qs.append(("", f"{n}|{system}|{c}"))
                qs.append(("", f"ge{n}|{system}|{c}"))
        qs.append(("", "gt100000000"))
    elif ptype == "uri":
        uris = sorted({u for u in all_values if safe(u)})
        for u in rng.sample(uris, min(3, len(uris))):
            qs.append(("", u))
            qs.append(("", u[: len(u) // 2]))
            if u.count("/") > 3:
                qs.append(("below", u.rsplit("/", 1)[0]))
        if len(uris) >= 2:
            qs.append(("", ",".join(uris[:2])))
    # Deduplicate, keep order, cap.
    seen, out = set(), []
    for q in qs:
        if q not in seen:
            seen.add(q)
            out.append(q)
    return out[: MAX_PER_PARAM + len(edge_cases(random.Random(0), ptype, all_values))]


# ---------------------------------------------------------------------------------------------
# The server


LAST_ORDER = []  # the ids of the last search, in the server's order


def server_ids(base, rtype, query, count=1000):
    url = f"{base}/{rtype}?{query}&_count={count}&_total=accurate"
    ids = set()
    LAST_ORDER.clear()
    total = None
    pages = 0
    while url:
        req = urllib.request.Request(url, headers={"Accept": "application/fhir+json"})
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                bundle = json.load(resp)
        except urllib.error.HTTPError as e:
            body = e.read().decode("utf-8", "replace")
            try:
                issues = json.loads(body).get("issue", [])
                body = "; ".join(i.get("diagnostics", "") for i in issues) or body
            except ValueError:
                pass
            return None, f"HTTP {e.code}: {body[:300]}"
        if total is None:
            total = bundle.get("total")
        for entry in bundle.get("entry", []):
            if entry.get("search", {}).get("mode", "match") != "match":
                continue
            rid = entry["resource"]["id"]
            if rid in ids:
                return None, f"{rid} returned twice (page {pages + 1})"
            ids.add(rid)
            LAST_ORDER.append(rid)
        url = next((l["url"] for l in bundle.get("link", []) if l["relation"] == "next"), None)
        pages += 1
        if pages > 200:
            return None, "more than 50 pages"
    if total is not None and total != len(ids):
        return ids, f"total {total} but {len(ids)} ids"
    return ids, None


# ---------------------------------------------------------------------------------------------


def expected_for(conds):
    expected = None
    for code, ptype, modifier, value, values_by_id in conds:
        ids = expected_ids(ptype, values_by_id, modifier, value)
        expected = ids if expected is None else expected & ids
    return expected


def excuse(conds, actual):
    """The reasons of EXCUSES when the server's answer is exactly the answer under them."""
    applied = [(applies, change, why) for _n, applies, change, why in EXCUSES
               if any(applies(c) for c in conds)]
    if not applied or actual is None:
        return None
    changed = []
    for cond in conds:
        for applies, change, _why in applied:
            if applies(cond):
                cond = change(cond)
        changed.append(cond)
    if expected_for(changed) == actual:
        return " / ".join(why for _a, _c, why in applied)
    return None


def category(ptype, modifier):
    if modifier in ("missing", "not", "exact", "contains", "text", "below", "of-type"):
        return f"{ptype}:{modifier}"
    if ptype == "reference" and modifier:
        return "reference:[type]"
    return ptype


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("base", help="the server's FHIR base, e.g. http://127.0.0.1:8080/fhir")
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--params", default=DEFAULT_PARAMS)
    ap.add_argument("--seed", type=int, default=20261121)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    base = args.base.rstrip("/")
    SERVER_BASE[0] = base

    rng = random.Random(args.seed)
    resources = load_resources(args.data)
    params = load_params(args.params, sorted(resources))
    model = fhirpath_models["r4"]

    plans = []  # (rtype, code, ptype, expression, values_by_id)
    skipped = []
    for rtype in sorted(resources):
        for code in sorted(params[rtype]):
            p = params[rtype][code]
            expr = adapt_expression(p["expression"], rtype)
            if expr is None:
                skipped.append(f"{rtype}.{code} (resolve())")
                continue
            try:
                fn = fhirpath_compile(expr, model)
            except Exception as e:  # noqa: BLE001
                skipped.append(f"{rtype}.{code} (fhirpathpy: {e})")
                continue
            extract = EXTRACT[p["type"]]
            values_by_id = {}
            try:
                for rid, r in resources[rtype].items():
                    values = []
                    for item in fn(r):
                        values.extend(extract(item))
                    values_by_id[rid] = values
            except Exception as e:  # noqa: BLE001
                skipped.append(f"{rtype}.{code} (fhirpathpy: {e})")
                continue
            plans.append((rtype, code, p["type"], values_by_id))

    # Queries: every parameter with values gets its share; parameters without any value in the
    # data are few-query checks of :missing only, on a sample of them.
    # A query: (type, category, [(code, ptype, modifier, value, values_by_id)]), ANDed.
    queries = []
    empty = [pl for pl in plans if not any(pl[3].values())]
    singles = collections.defaultdict(list)
    for rtype, code, ptype, values_by_id in plans:
        if not any(values_by_id.values()):
            continue
        for modifier, value in generate(rng, rtype, code, ptype, values_by_id):
            cond = (code, ptype, modifier, value, values_by_id)
            queries.append((rtype, category(ptype, modifier), [cond]))
            if modifier != "missing":
                singles[rtype].append(cond)
    for rtype, code, ptype, values_by_id in rng.sample(empty, min(40, len(empty))):
        queries.append((rtype, "missing on absent", [(code, ptype, "missing", "false", values_by_id)]))
    # AND of two parameters of one type, chosen among the single queries that match something.
    for rtype in sorted(singles):
        hits = [c for c in singles[rtype] if expected_ids(c[1], c[4], c[2], c[3])]
        for _ in range(min(12, len(hits) // 2)):
            a, b = rng.sample(hits, 2)
            if a[0] != b[0]:
                queries.append((rtype, "AND of two parameters", [a, b]))
    # Date ranges: the same date parameter twice (ge X & lt Y).
    for rtype, code, ptype, values_by_id in plans:
        if ptype != "date" or not any(values_by_id.values()):
            continue
        ranges = sorted({v for vs in values_by_id.values() for v in vs})
        lo, hi = sorted(rng.sample(ranges, 2)) if len(ranges) > 1 else (ranges[0], ranges[0])
        low = lo[0].strftime("%Y-%m-%d")
        high = hi[0].strftime("%Y-%m")
        queries.append((rtype, "date range (AND)", [
            (code, ptype, "", "ge" + low, values_by_id),
            (code, ptype, "", "le" + high, values_by_id),
        ]))

    # Paging: a few large results again, 37 a page, with a sort (every id once, none lost).
    large = [
        q for q in queries
        if len(q[2]) == 1 and len(expected_ids(q[2][0][1], q[2][0][4], q[2][0][2], q[2][0][3])) > 150
    ]
    for rtype, _key, conds in rng.sample(large, min(12, len(large))):
        queries.append((rtype, "paging (_count=37, _sort)", conds))
    # Sort: date parameters with at most one value a resource; the server's order must be by
    # the start of the value's range ascending, by its end descending (ties in any order);
    # resources without a value may be anywhere (R4 does not say where).
    sortable = []
    for rtype, code, ptype, values_by_id in plans:
        if ptype != "date" or not any(values_by_id.values()):
            continue
        if all(len(vs) <= 1 for vs in values_by_id.values()) and len(values_by_id) > 5:
            sortable.append((rtype, code, ptype, values_by_id))
    for rtype, code, ptype, values_by_id in sortable:
        desc = rng.random() < 0.5
        queries.append((rtype, "sort" + (" (descending)" if desc else ""),
                        [(code, ptype, "missing", "false", values_by_id)]))

    stats = collections.defaultdict(lambda: [0, 0, 0])  # category -> compared, agreed, excused
    disagreements = []
    for rtype, key, conds in queries:
        conds = [(c[0], c[1], c[2], c[3].replace("{BASE}", base), c[4]) for c in conds]
        parts = []
        for code, _ptype, modifier, value, _values in conds:
            name = f"{code}:{modifier}" if modifier else code
            parts.append(f"{urllib.parse.quote(name, safe=':_-')}={urllib.parse.quote(value, safe='')}")
        expected = expected_for(conds)
        query = "&".join(parts)
        count = 1000
        if key.startswith("paging"):
            count = 37
            query += "&_sort=" + rng.choice(["_id", "-_lastUpdated", "_lastUpdated"])
        if key.startswith("sort"):
            desc = "descending" in key
            count = rng.choice([1000, 50])
            query += f"&_sort={'-' if desc else ''}{conds[0][0]}"
        actual, error = server_ids(base, rtype, query, count)
        if key.startswith("sort") and error is None and actual is not None:
            values_by_id = conds[0][4]
            # Ascending by the start of the value's range, descending by its end (a Period
            # without an end is still going on: latest).
            keys = [values_by_id[rid][0][1 if desc else 0] for rid in LAST_ORDER
                    if values_by_id.get(rid)]
            pairs = list(zip(keys, keys[1:]))
            bad = next((i for i, (a, b) in enumerate(pairs) if (a < b if desc else a > b)), None)
            if bad is not None:
                error = (f"out of order at position {bad}: {LAST_ORDER[bad]} ({keys[bad]}) "
                         f"before {LAST_ORDER[bad + 1]} ({keys[bad + 1]})")
        code, ptype, modifier, value, _ = conds[0]
        stats[key][0] += 1
        d = {
            "type": rtype,
            "code": code,
            "ptype": ptype,
            "modifier": modifier,
            "value": value,
            "query": f"{rtype}?{query}",
            "expected": len(expected),
            "missing": sorted(expected - actual) if actual is not None else None,
            "extra": sorted(actual - expected) if actual is not None else None,
            "error": error,
        }
        if actual is not None and actual == expected and error is None:
            stats[key][1] += 1
            if args.verbose:
                print(f"ok   {d['query']} ({len(expected)})")
            continue
        reason = excuse(conds, actual) if error is None else None
        if reason:
            stats[key][2] += 1
            d["excluded"] = reason
        disagreements.append(d)

    print(f"differential search test: {len(queries)} queries over {sum(map(len, resources.values()))} resources")
    if skipped:
        print(f"parameters skipped (Python side cannot evaluate): {len(skipped)}")
        for s in skipped:
            print(f"  {s}")
    print()
    print(f"{'kind of query':<26}{'compared':>9}{'agreed':>8}{'excused':>9}")
    tot = [0, 0, 0]
    for key in sorted(stats):
        c, a, x = stats[key]
        tot = [tot[0] + c, tot[1] + a, tot[2] + x]
        print(f"{key:<26}{c:>9}{a:>8}{x:>9}")
    print(f"{'total':<26}{tot[0]:>9}{tot[1]:>8}{tot[2]:>9}")
    print()
    unexplained = [d for d in disagreements if "excluded" not in d]
    for d in disagreements:
        tag = "EXCUSED" if "excluded" in d else "DISAGREE"
        print(f"{tag} {d['query']}  (expected {d['expected']} ids)")
        if d["error"]:
            print(f"    server: {d['error']}")
        if d["missing"]:
            print(f"    missing ({len(d['missing'])}): {' '.join(d['missing'][:5])}")
        if d["extra"]:
            print(f"    extra   ({len(d['extra'])}): {' '.join(d['extra'][:5])}")
        if "excluded" in d:
            print(f"    why excused: {d['excluded']}")
    print()
    print(
        f"agreed {tot[1]} of {tot[0]}, {len(disagreements) - len(unexplained)} excused, "
        f"{len(unexplained)} unexplained disagreements"
    )
    if tot[0] < 300:
        print("too few queries compared", file=sys.stderr)
        return 1
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
