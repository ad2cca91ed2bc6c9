# SPDX-License-Identifier: Apache-2.0
"""Metadata: type declarations and the OpenAPI description."""

from harness import check, eq, fail


def labels(obj):
    lab = obj.get("labels") or obj.get("label")
    check(isinstance(lab, dict), "no labels in %r" % (obj,))
    return lab


def fields_of(meta):
    f = meta.get("fields")
    if isinstance(f, list):
        return {x["name"]: x for x in f}
    if isinstance(f, dict):
        return {k: dict(v, name=k) for k, v in f.items()}
    fail("type has no fields: %r" % (meta,))


def names_of(items):
    if isinstance(items, dict):
        return set(items)
    return {x if isinstance(x, str) else x.get("name") for x in items}


def test_meta_types(ctx):
    r = ctx.get("/meta/types", user="alice").expect(200)
    items = r.json.get("items")
    check(isinstance(items, list), "items is not a list: %s" % r)
    by = {t.get("name"): t for t in items}
    check("incident" in by and "group" in by, "types incident and group listed: %s" % sorted(by))
    eq(by["incident"].get("plural"), "incidents", "incident plural")
    lab = labels(by["incident"])
    eq(lab.get("ja"), "インシデント", "incident label ja")
    eq(lab.get("en"), "Incident", "incident label en")
    # An end user may read metadata too (the portal needs it).
    ctx.get("/meta/types", user="eve").expect(200)


def test_meta_incident(ctx):
    m = ctx.get("/meta/types/incident", user="alice").expect(200).json
    eq(m.get("name"), "incident", "name")
    eq(m.get("plural"), "incidents", "plural")
    eq(labels(m).get("en"), "Incident", "label en")
    f = fields_of(m)
    for name in ("title", "description", "caller", "organisation", "category", "impact",
                 "urgency", "priority", "assignment_group", "assignee", "hold_reason",
                 "resolution_code", "resolution_notes", "resolved_at", "closed_at"):
        check(name in f, "field %s missing from metadata" % name)
    eq(labels(f["title"]).get("ja"), "件名", "title label ja")
    eq(labels(f["title"]).get("en"), "Title", "title label en")
    eq(f["title"].get("kind"), "text", "title kind")
    eq(f["title"].get("max"), 200, "title max")
    eq(f["title"].get("required"), True, "title required")
    eq(f["impact"].get("min"), 1, "impact min")
    eq(f["impact"].get("max"), 3, "impact max")
    check(f["priority"].get("computed"), "priority is marked computed: %r" % f["priority"])
    eq(f["assignment_group"].get("ref"), "group", "assignment_group ref")
    vals = f["category"].get("values")
    check(isinstance(vals, list) and len(vals) == 6, "category values: %r" % vals)
    v0 = vals[0]
    check(isinstance(v0, dict) and v0.get("value") == "hardware" and labels(v0).get("ja") == "ハードウェア",
          "enum value with labels: %r" % v0)
    states = names_of(m.get("states") or [])
    eq(states, {"new", "in_progress", "on_hold", "resolved", "closed", "cancelled"}, "states")
    tr = m.get("transitions")
    check(isinstance(tr, list) and tr, "transitions listed")
    res = [t for t in tr if t.get("to") == "resolved"]
    check(res and set(res[0].get("requires") or []) == {"resolution_code", "resolution_notes"},
          "resolve transition requires resolution_code, resolution_notes: %r" % res)
    check(m.get("access"), "access listed")
    check(isinstance(m.get("list_fields"), list) and "title" in m["list_fields"],
          "list fields listed: %r" % m.get("list_fields"))
    ctx.get("/meta/types/nosuchtype", user="alice").problem(404)


def test_meta_group(ctx):
    m = ctx.get("/meta/types/group").expect(200).json
    eq(m.get("plural"), "groups", "plural")
    f = fields_of(m)
    check(f["name"].get("immutable") is True, "group name immutable: %r" % f["name"])
    eq(labels(m).get("ja"), "サポートグループ", "group label ja")


def test_openapi(ctx):
    r = ctx.get("/openapi.json", user="alice").expect(200)
    eq(r.ctype, "application/json", "content type")
    j = r.json
    check(isinstance(j, dict) and str(j.get("openapi", "")).startswith("3.0"), "openapi 3.0: %s" % r)
    paths = j.get("paths") or {}
    check(any(p.rstrip("/").endswith("/incidents") for p in paths),
          "no /incidents path in %s" % sorted(paths)[:20])
    check(any("/incidents/{" in p for p in paths), "no /incidents/{ref} path")
    check(any(p.rstrip("/").endswith("/groups") for p in paths), "no /groups path")
    check("resolution_code" in r.body.decode(), "incident fields not described")
    for path, method in (("/api/v1/search", "get"), ("/api/v1/suggest", "get"),
                         ("/api/v1/reports/desk", "get"), ("/api/v1/articles/{ref}/feedback", "post"),
                         ("/api/v1/problems/{ref}/known-error", "post"), ("/api/v1/requests", "post")):
        check(method in paths.get(path, {}), "%s %s described" % (method, path))
