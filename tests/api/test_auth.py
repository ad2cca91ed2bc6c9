# SPDX-License-Identifier: Apache-2.0
"""Health, bearer tokens, sessions with CSRF, login throttling."""

import re
import time

from harness import check, eq, fail, unique


def test_health_without_auth(ctx):
    r = ctx.get("/health", user=None).expect(200)
    eq(r.ctype, "application/json", "content type")
    eq(r.json.get("status"), "ok", "health status")
    check(isinstance(r.json.get("version"), str) and r.json["version"], "health has a version: %s" % r)


def test_serve_prints_listening_line(ctx):
    check(not ctx.listen_line_missing,
          "kanri serve answered but never printed 'kanri listening on http://127.0.0.1:%d'" % ctx.port)


def test_no_credentials_401(ctx):
    for path in ("/incidents", "/incidents/1", "/meta/types", "/openapi.json", "/groups",
                 "/session", "/no/such/route"):
        r = ctx.get(path, user=None)
        r.problem(401)
    ctx.post("/incidents", {"title": "anonymous"}, user=None).problem(401)


def test_bad_token_401(ctx):
    ctx.get("/incidents", token="not-a-token").problem(401)
    ctx.get("/incidents", token=ctx.tokens["alice"] + "x").problem(401)
    ctx.get("/incidents", token="").problem(401)
    r = ctx.request("GET", "/incidents", user=None, headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    r.problem(401)
    # A token in the wrong scheme is no credential either.
    r = ctx.request("GET", "/incidents", user=None, headers={"Authorization": "Token " + ctx.tokens["alice"]})
    r.problem(401)


def test_token_identifies_user(ctx):
    inc = ctx.incident(user="alice", title="who am I")
    eq(inc.get("created_by"), "alice", "created_by")
    eq(inc.get("updated_by"), "alice", "updated_by")


def login(ctx, name, password):
    return ctx.post("/session", {"name": name, "password": password}, user=None)


def sets_session(r):
    """True when r sets a non-empty kanri_session cookie (not a deletion)."""
    for sc in r.header_all("Set-Cookie"):
        m = re.match(r"\s*kanri_session=([^;]*)", sc)
        if m and m.group(1).strip() and "max-age=0" not in sc.lower().replace(" ", ""):
            return True
    return False


def session_cookie(r):
    for sc in r.header_all("Set-Cookie"):
        m = re.match(r"\s*kanri_session=([^;]*)", sc)
        if m:
            return m.group(1), sc
    fail("no kanri_session cookie in %s (Set-Cookie: %r)" % (r, r.header_all("Set-Cookie")))


def test_session_login_cookie_flags(ctx):
    r = login(ctx, "alice", ctx.passwords["alice"]).expect(200)
    user = r.json.get("user") or {}
    eq(user.get("name"), "alice", "session user name")
    eq(user.get("role"), "agent", "session user role")
    check("org" in user, "session user has org: %s" % r)
    check(isinstance(r.json.get("csrf"), str) and len(r.json["csrf"]) >= 16, "csrf token: %s" % r)
    value, sc = session_cookie(r)
    check(len(value) >= 20, "session id looks too short: %r" % value)
    attrs = [a.strip().lower() for a in sc.split(";")[1:]]
    check("httponly" in attrs, "cookie not HttpOnly: %s" % sc)
    check("samesite=strict" in attrs, "cookie not SameSite=Strict: %s" % sc)
    check("path=/" in attrs, "cookie Path is not /: %s" % sc)
    check(ctx.passwords["alice"] not in r.body.decode(), "password echoed")


def test_session_get_and_csrf(ctx):
    r = login(ctx, "alice", ctx.passwords["alice"]).expect(200)
    sid, _ = session_cookie(r)
    csrf = r.json["csrf"]
    cookie = {"Cookie": "kanri_session=" + sid}
    s = ctx.get("/session", user=None, headers=cookie).expect(200)
    eq((s.json.get("user") or s.json).get("name"), "alice", "GET /session user")
    # Reads need no CSRF token.
    ctx.get("/incidents?limit=1", user=None, headers=cookie).expect(200)
    before = ctx.total()
    title = unique("csrf")
    # A write by cookie without the CSRF header is refused and writes nothing.
    ctx.post("/incidents", {"title": title}, user=None, headers=cookie).problem(403)
    ctx.post("/incidents", {"title": title}, user=None,
             headers=dict(cookie, **{"X-CSRF-Token": csrf + "x"})).problem(403)
    ctx.post("/incidents", {"title": title}, user=None,
             headers=dict(cookie, **{"X-CSRF-Token": ""})).problem(403)
    eq(ctx.total(), before, "incidents after refused cookie writes")
    r = ctx.post("/incidents", {"title": title}, user=None,
                 headers=dict(cookie, **{"X-CSRF-Token": csrf})).expect(201)
    inc = r.json
    eq(inc["created_by"], "alice", "created_by of a cookie write")
    # PATCH is a write too.
    ctx.patch("/incidents/%d" % inc["id"], {"impact": 2}, version=inc["version"], user=None,
              headers=cookie).problem(403)
    ctx.patch("/incidents/%d" % inc["id"], {"impact": 2}, version=inc["version"], user=None,
              headers=dict(cookie, **{"X-CSRF-Token": csrf})).expect(200)
    # Another session's CSRF token does not fit this session.
    r2 = login(ctx, "alice", ctx.passwords["alice"]).expect(200)
    check(r2.json["csrf"] != csrf, "two sessions share one CSRF token")
    ctx.post("/incidents", {"title": title}, user=None,
             headers=dict(cookie, **{"X-CSRF-Token": r2.json["csrf"]})).problem(403)


def test_session_logout(ctx):
    r = login(ctx, "alice", ctx.passwords["alice"]).expect(200)
    sid, _ = session_cookie(r)
    csrf = r.json["csrf"]
    h = {"Cookie": "kanri_session=" + sid, "X-CSRF-Token": csrf}
    ctx.get("/session", user=None, headers=h).expect(200)
    ctx.delete("/session", user=None, headers=h).expect(204)
    ctx.get("/session", user=None, headers=h).problem(401)
    ctx.get("/incidents", user=None, headers=h).problem(401)
    ctx.post("/incidents", {"title": "after logout"}, user=None, headers=h).problem(401)


def test_session_bad_credentials(ctx):
    login(ctx, "erin", "wrong-password").problem(401)
    login(ctx, "nosuchuser", "whatever").problem(401)
    # An empty password is wrong credentials, or an incomplete request.
    login(ctx, "erin", "").expect(401, 422)
    # A failed login sets no session.
    r = login(ctx, "erin", "wrong-password")
    check(not sets_session(r), "failed login set a session cookie: %r" % r.header_all("Set-Cookie"))
    # Malformed login bodies.
    ctx.post("/session", data=b"{nope", user=None).problem(400)
    # A success resets the failure count of erin (2 failures so far + this).
    login(ctx, "erin", ctx.passwords["erin"]).expect(200)


def test_login_throttling(ctx):
    name, pw = "tess", ctx.passwords["tess"]
    for i in range(5):
        r = login(ctx, name, "wrong-%d" % i)
        check(r.status == 401, "wrong password #%d: expected 401, got %s" % (i + 1, r))
    r = login(ctx, name, pw)
    r.problem(429)
    ra = r.header("Retry-After")
    check(ra is not None and ra.strip().isdigit() and int(ra) >= 1,
          "429 without a Retry-After of whole seconds >= 1: %r" % ra)
    check(not sets_session(r), "a locked login set a session cookie: %r" % r.header_all("Set-Cookie"))
    # Once the lock has passed, the right password works again.
    time.sleep(int(ra) + 0.3)
    r = login(ctx, name, pw)
    if r.status == 429:
        # Allow one more lock period of slack, but no more.
        time.sleep(int(r.header("Retry-After") or "1") + 0.3)
        r = login(ctx, name, pw)
    r.expect(200)
    # And tokens were never affected.
    ctx.get("/incidents?limit=1", user="tess").expect(200)


def test_unknown_route_404_and_method_405(ctx):
    ctx.get("/no/such/route").problem(404)
    ctx.get("/nosuchtype").problem(404)
    ctx.get("/nosuchtype/1").problem(404)
    inc = ctx.incident(title="not deletable")
    r = ctx.delete("/incidents/%d" % inc["id"])
    r.problem(405)
    ctx.record(inc["id"])
    ctx.request("PUT", "/health", user=None, data=b"{}").expect(405, 401)
