# SPDX-License-Identifier: Apache-2.0
"""What the web UI keeps for a user: their preferences (language, time zone)
in their person record, and their saved list views."""

from harness import check, eq, unique


def test_preferences_default_set_and_refused(ctx):
    if "pria" not in ctx.tokens:
        ctx.add_user("pria", "enduser", org="acme")
    r = ctx.get("/session", user="pria").expect(200)
    eq(r.json["preferences"], {"language": None, "time_zone": "Asia/Tokyo", "display_name": None},
       "defaults")
    r = ctx.request("PUT", "/session/preferences", body={"language": "en", "time_zone": "Europe/Berlin"},
                    user="pria").expect(200)
    eq((r.json["language"], r.json["time_zone"]), ("en", "Europe/Berlin"), "set")
    eq(ctx.get("/session", user="pria").expect(200).json["preferences"]["time_zone"],
       "Europe/Berlin", "kept")
    p = ctx.get("/people/pria").expect(200).json
    eq((p["language"], p["time_zone"]), ("en", "Europe/Berlin"), "in pria's person record")
    r = ctx.request("PUT", "/session/preferences", body={"language": "ja"}, user="pria").expect(200)
    eq(ctx.journal(p["id"], plural="people")[-1]["actor"], "pria", "her own change, journalled")
    for body, field in (({"time_zone": "Mars/Olympus"}, "time_zone"),
                        ({"time_zone": "../../etc/passwd"}, "time_zone"),
                        ({"language": "fr"}, "language"), ({"role": "admin"}, "role")):
        r = ctx.request("PUT", "/session/preferences", body=body, user="pria")
        r.expect(422)
        eq(r.json.get("field"), field, "refused: %r" % body)
    eq(ctx.get("/session", user="pria").expect(200).json["preferences"]["language"], "ja",
       "nothing written by the refusals")
    ctx.request("PUT", "/session/preferences", body={"language": "en"}, user="audrey").expect(200)


def test_saved_views_are_their_owners(ctx):
    name = unique("view")
    v = ctx.create("views", {"name": name, "list": "incidents", "query": "open=true&sort=-priority",
                             "columns": "number,title,priority"}, user="eve")
    eq(v["owner"], "eve", "the creator owns it")
    ctx.get("/views/%s" % v["number"], user="mallory").expect(404)
    eq(ctx.total("name=%s" % name, user="alice", plural="views"), 0, "others do not list it")
    eq(ctx.total("name=%s" % name, user="admin", plural="views"), 1, "an admin sees it")
    r = ctx.post("/views", {"name": "x", "list": "incidents", "owner": "alice"}, user="eve")
    r.expect(403)
    eq(r.json.get("field"), "owner", "a view of someone else's is refused")
    ctx.patch("/views/%s" % v["number"], {"query": "open=true"}, version=v["version"],
              user="eve").expect(200)
    ctx.transition(v["number"], "removed", user="eve", plural="views").expect(200)
    eq(ctx.total("name=%s&state=active" % name, user="eve", plural="views"), 0, "removed")


def test_user_directory(ctx):
    if "pria" not in ctx.tokens:
        ctx.add_user("pria", "enduser", org="acme")
    ctx.request("PUT", "/session/preferences", body={"display_name": "Pria Acme"}, user="pria").expect(200)
    r = ctx.get("/users?q=pri", user="alice").expect(200)
    got = [u for u in r.json["items"] if u["name"] == "pria"]
    eq(len(got), 1, "found by part of the name")
    eq((got[0]["role"], got[0]["org"], got[0]["display_name"]), ("enduser", "acme", "Pria Acme"),
       "role, organisation and the name from the person record")
    check(all(set(u) == {"name", "role", "roles", "org", "display_name"} for u in r.json["items"]),
          "nothing else about a user is told: %s" % r.json["items"][:1])
    names = [u["name"] for u in ctx.get("/users?q=A&limit=100", user="audrey").expect(200).json["items"]]
    check("admin" in names and "alice" in names, "case is ignored: %s" % names)
    eq(len(ctx.get("/users?limit=2", user="alice").expect(200).json["items"]), 2, "limit")
    ctx.get("/users?q=a", user="eve").expect(403)
    ctx.get("/users?limit=0", user="alice").expect(400)
    ctx.get("/users?limit=x", user="alice").expect(400)
