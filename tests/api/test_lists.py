# SPDX-License-Identifier: Apache-2.0
"""Lists: filters, open/closed, sorting, limits, cursor paging, totals and
bad query parameters."""

from harness import check, eq, unique, urlq

_data = {}


def dataset(ctx):
    """Eight tagged incidents with varied fields (made once)."""
    if _data:
        return _data
    tag = unique("lst")
    grp = unique("grp")
    ctx.create("groups", {"name": grp, "display_name": "List test group"})
    spec = [
        dict(impact=1, urgency=1, category="network", description="alpha", assignment_group=grp),
        dict(impact=1, urgency=2, category="software"),
        dict(impact=2, urgency=1, category="network", description="beta", assignment_group=grp),
        dict(impact=2, urgency=3, description="gamma MAIL outage"),
        dict(impact=3, urgency=3, category="hardware", assignment_group=grp),
        dict(impact=3, urgency=2, description="delta"),
        dict(impact=1, urgency=3, category="access"),
        dict(impact=2, urgency=2, category="network"),
    ]
    recs = []
    for k, s in enumerate(spec):
        recs.append(ctx.incident(user="alice", title="%s item %d" % (tag, k), **s))
    ctx.transition(recs[7]["id"], "cancelled").expect(200)
    ctx.transition(recs[6]["id"], "resolved", resolution_code="fixed", resolution_notes="x").expect(200)
    ctx.transition(recs[6]["id"], "closed").expect(200)
    _data.update(tag=tag, grp=grp, recs=[ctx.record(r["id"]) for r in recs])
    return _data


def ids(ctx, query, user="admin"):
    d = dataset(ctx)
    q = "title[contains]=%s" % d["tag"] + ("&" + query if query else "")
    r = ctx.get("/incidents?%s&limit=500" % q, user=user).expect(200)
    items = r.json["items"]
    eq(r.json["total"], len(items), "total of %s" % query)
    return [i["id"] for i in items]


def which(ctx, *ks):
    recs = dataset(ctx)["recs"]
    return sorted(recs[k]["id"] for k in ks)


def test_filter_equal_and_repeated(ctx):
    eq(sorted(ids(ctx, "impact=1")), which(ctx, 0, 1, 6), "impact=1")
    eq(sorted(ids(ctx, "impact=1&impact=3")), which(ctx, 0, 1, 4, 5, 6), "impact=1&impact=3")
    eq(sorted(ids(ctx, "category=network")), which(ctx, 0, 2, 7), "category=network")
    eq(sorted(ids(ctx, "category=network&impact=2")), which(ctx, 2, 7), "two fields AND")
    eq(sorted(ids(ctx, "assignment_group=%s" % dataset(ctx)["grp"])), which(ctx, 0, 2, 4), "group")
    eq(sorted(ids(ctx, "created_by=alice")), which(ctx, *range(8)), "created_by")
    n = dataset(ctx)["recs"][3]["number"]
    eq(ids(ctx, "number=%s" % n), which(ctx, 3), "number")
    eq(ids(ctx, "impact=1&urgency=1&category=software"), [], "no match")


def test_filter_operators(ctx):
    eq(sorted(ids(ctx, "impact[in]=1,3")), which(ctx, 0, 1, 4, 5, 6), "[in]")
    eq(sorted(ids(ctx, "impact[ne]=2")), which(ctx, 0, 1, 4, 5, 6), "[ne]")
    eq(sorted(ids(ctx, "impact[lt]=2")), which(ctx, 0, 1, 6), "[lt]")
    eq(sorted(ids(ctx, "impact[lte]=2")), which(ctx, 0, 1, 2, 3, 6, 7), "[lte]")
    eq(sorted(ids(ctx, "impact[gt]=2")), which(ctx, 4, 5), "[gt]")
    eq(sorted(ids(ctx, "impact[gte]=2")), which(ctx, 2, 3, 4, 5, 7), "[gte]")
    eq(sorted(ids(ctx, "priority[lte]=2")), which(ctx, 0, 1, 2), "[lte] on the computed priority")
    eq(sorted(ids(ctx, "category[in]=network,hardware")), which(ctx, 0, 2, 4, 7), "[in] on an enum")
    # [ne] keeps the empty ones (the value is not equal to them).
    eq(sorted(ids(ctx, "category[ne]=network")), which(ctx, 1, 3, 4, 5, 6), "[ne] on an enum")
    recs = dataset(ctx)["recs"]
    eq(sorted(ids(ctx, "id[gt]=%d" % recs[5]["id"])), which(ctx, 6, 7), "[gt] on id")
    eq(sorted(ids(ctx, "state[in]=closed,cancelled")), which(ctx, 6, 7), "[in] on state")
    eq(sorted(ids(ctx, "state=new")), which(ctx, 0, 1, 2, 3, 4, 5), "state=new")


def test_filter_contains_and_null(ctx):
    eq(ids(ctx, "description[contains]=mail"), which(ctx, 3), "[contains] ignores Latin case")
    eq(ids(ctx, "description[contains]=gAMMA%20mail"), which(ctx, 3), "[contains] with a space")
    eq(ids(ctx, "description[contains]=%25"), [], "[contains] with a LIKE wildcard %")
    eq(ids(ctx, "description[contains]=_"), [], "[contains] with a LIKE wildcard _")
    eq(ids(ctx, "title[contains]=" + urlq("' OR '1'='1")), [], "[contains] with SQL")
    eq(sorted(ids(ctx, "category[null]=true")), which(ctx, 3, 5), "[null]=true")
    eq(sorted(ids(ctx, "category[null]=false")), which(ctx, 0, 1, 2, 4, 6, 7), "[null]=false")
    eq(sorted(ids(ctx, "description[null]=true")), which(ctx, 1, 4, 6, 7), "[null]=true on longtext")


def test_filter_open(ctx):
    eq(sorted(ids(ctx, "open=true")), which(ctx, 0, 1, 2, 3, 4, 5), "open=true")
    eq(sorted(ids(ctx, "open=false")), which(ctx, 6, 7), "open=false")


def test_filter_datetime(ctx):
    recs = dataset(ctx)["recs"]
    t = recs[4]["created_at"]
    got = set(ids(ctx, "created_at[gte]=" + urlq(t)))
    check(set(which(ctx, 4, 5, 6, 7)) <= got and not (got & set(which(ctx, 0))),
          "created_at[gte]=%s gave %r" % (t, sorted(got)))
    eq(ids(ctx, "created_at[lt]=2000-01-01T00:00:00Z"), [], "created_at before 2000")
    eq(sorted(ids(ctx, "created_at[gt]=" + urlq("2000-01-01T09:00:00+09:00"))), which(ctx, *range(8)),
       "created_at with a zone offset")
    eq(sorted(ids(ctx, "resolved_at[null]=false")), which(ctx, 6), "resolved_at set")
    # The same instant written with another zone finds the same records.
    local = to_zone(t, 9)
    eq(set(ids(ctx, "created_at[gte]=" + urlq(local))), got, "created_at[gte]=%s (same instant as %s)" % (local, t))
    eq(set(ids(ctx, "created_at[lt]=" + urlq(local))), set(which(ctx, *range(8))) - got,
       "created_at[lt]=%s" % local)
    r = ctx.get("/incidents?resolved_at[gte]=" + urlq(to_zone(recs[6]["resolved_at"], -5))).expect(200)
    check(recs[6]["id"] in [i["id"] for i in r.json["items"]], "resolved_at[gte] with a -05:00 zone")


def to_zone(iso, hours):
    """The instant iso (UTC, ...Z) written in the zone UTC+hours."""
    import datetime
    d = datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    z = datetime.timezone(datetime.timedelta(hours=hours))
    out = d.astimezone(z).isoformat(timespec="milliseconds" if d.microsecond else "seconds")
    return out


def expected_order(recs, keys):
    """Sort recs as the contract says: keys in order ("-" for descending), empty
    values after every value (last ascending, first descending), id breaking ties."""
    def key(r):
        out = []
        for k in keys:
            desc = k.startswith("-")
            v = r[k.lstrip("-")]
            if v is None:
                out.append((-1, 0) if desc else (1, 0))
            elif desc:
                out.append((0, -v) if isinstance(v, int) else (0, Rev(v)))
            else:
                out.append((0, v))
        out.append((0, r["id"]))
        return out
    return [r["id"] for r in sorted(recs, key=key)]


class Rev:
    def __init__(self, v):
        self.v = v

    def __lt__(self, o):
        return self.v > o.v

    def __eq__(self, o):
        return self.v == o.v


def test_sort(ctx):
    recs = dataset(ctx)["recs"]
    for s in ("impact", "-impact", "impact,-urgency", "-priority,id", "urgency,impact",
              "title", "-title", "-id", "state,-impact"):
        eq(ids(ctx, "sort=" + s), expected_order(recs, s.split(",")), "sort=%s" % s)


def test_sort_empty_values(ctx):
    recs = dataset(ctx)["recs"]
    eq(ids(ctx, "sort=category"), expected_order(recs, ["category"]), "sort=category")
    eq(ids(ctx, "sort=-category"), expected_order(recs, ["-category"]), "sort=-category")
    eq(ids(ctx, "sort=description,impact"), expected_order(recs, ["description", "impact"]),
       "sort=description,impact")


def test_fields_returns_only_what_is_asked(ctx):
    d = dataset(ctx)
    q = "/incidents?title[contains]=%s&sort=-priority&limit=3" % d["tag"]
    full = ctx.get(q).expect(200).json
    r = ctx.get(q + "&fields=title,state").expect(200).json
    eq(r["total"], full["total"], "total with fields")
    eq([i["id"] for i in r["items"]], [i["id"] for i in full["items"]], "same rows")
    for item, whole in zip(r["items"], full["items"]):
        # what was asked, plus id and number, plus the sort key that the cursor needs
        eq(sorted(k for k in item if k != "type"), ["id", "number", "priority", "state", "title"],
           "members of a sparse record")
        for k in ("title", "state", "number", "priority"):
            eq(item[k], whole[k], "value of " + k)
    nxt = ctx.get(q + "&fields=title&cursor=" + urlq(r["next"])).expect(200).json
    eq([i["id"] for i in nxt["items"]],
       [i["id"] for i in ctx.get(q + "&cursor=" + urlq(full["next"])).json["items"]],
       "the next page with fields is the next page")
    bad = ctx.get(q + "&fields=title,nosuch").expect(400)
    eq(bad.json.get("field"), "nosuch", "the unknown field is named")


def test_limit_and_total(ctx):
    d = dataset(ctx)
    q = "/incidents?title[contains]=%s&sort=id" % d["tag"]
    r = ctx.get(q + "&limit=3").expect(200)
    eq([i["id"] for i in r.json["items"]], which(ctx, 0, 1, 2), "first page of 3")
    eq(r.json["total"], 8, "total")
    check(r.json.get("next"), "next cursor on a partial page")
    r = ctx.get(q + "&limit=8").expect(200)
    eq(len(r.json["items"]), 8, "a page of exactly all")
    eq(r.json.get("next"), None, "next of the last page")
    r = ctx.get(q + "&limit=3&total=false").expect(200)
    eq(r.json.get("total", "absent"), None, "total with total=false")
    eq(len(r.json["items"]), 3, "items with total=false")
    r = ctx.get(q).expect(200)
    eq(len(r.json["items"]), 8, "default page")
    r = ctx.get("/incidents?limit=500").expect(200)
    check(len(r.json["items"]) <= 500, "limit 500")


def test_cursor_paging(ctx):
    tag = unique("pg")
    made = [ctx.incident(user="alice", title="%s %02d" % (tag, k), impact=k % 3 + 1, urgency=(k * 7) % 3 + 1)
            for k in range(23)]
    for sort in ("", "&sort=-impact,title", "&sort=urgency,-id", "&sort=-title"):
        q = "/incidents?title[contains]=%s&limit=5%s" % (tag, sort)
        seen, pages, cursor = [], 0, None
        while True:
            r = ctx.get(q + ("&cursor=" + urlq(cursor) if cursor else "")).expect(200)
            pages += 1
            eq(r.json["total"], 23, "total on page %d of %s" % (pages, sort))
            check(len(r.json["items"]) <= 5, "page over the limit")
            seen += [i["id"] for i in r.json["items"]]
            cursor = r.json.get("next")
            if not cursor:
                break
            check(pages < 10, "paging does not end")
        eq(pages, 5, "pages of 23 at 5 (%s)" % sort)
        eq(len(seen), 23, "records visited (%s)" % sort)
        eq(len(set(seen)), 23, "each visited once (%s)" % sort)
        keys = sort[len("&sort="):].split(",") if sort else ["id"]
        if sort:
            eq(seen, expected_order(made, keys), "order across pages (%s)" % sort)
        else:
            eq(sorted(seen), sorted(m["id"] for m in made), "records (default sort)")


def test_cursor_stable_under_inserts(ctx):
    tag = unique("pgi")
    for k in range(6):
        ctx.incident(title="%s %d" % (tag, k))
    q = "/incidents?title[contains]=%s&limit=3&sort=id" % tag
    r = ctx.get(q).expect(200)
    first = [i["id"] for i in r.json["items"]]
    new = ctx.incident(title="%s late" % tag)
    r = ctx.get(q + "&cursor=" + urlq(r.json["next"])).expect(200)
    second = [i["id"] for i in r.json["items"]]
    check(not set(first) & set(second), "a record shown twice across pages")
    r = ctx.get(q + "&cursor=" + urlq(r.json["next"])).expect(200)
    eq([i["id"] for i in r.json["items"]], [new["id"]], "the record added while paging")


def test_bad_query_400(ctx):
    for q, name in (("nosuchfield=1", "nosuchfield"), ("impact[xyz]=1", "xyz"),
                    ("impact=abc", "impact"), ("impact[lt]=abc", "impact"),
                    ("limit=0", "limit"), ("limit=501", "limit"), ("limit=abc", "limit"),
                    ("sort=nosuchfield", "nosuchfield"), ("sort=-", "sort"),
                    ("category[null]=maybe", "category"), ("open=maybe", "open"),
                    ("created_at[gte]=yesterday", "created_at"),
                    ("created_at[gte]=2026-01-01T00:00:00", "created_at"),
                    ("resolved_at[lt]=soon", "resolved_at"),
                    ("cursor=not-a-cursor", "cursor"), ("total=perhaps", "total")):
        ctx.get("/incidents?" + q).problem(400, name)
