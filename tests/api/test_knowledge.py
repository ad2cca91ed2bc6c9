# SPDX-License-Identifier: Apache-2.0
"""The knowledge base: articles approved before they are published, end
users seeing only published portal articles (lists, reads, search,
suggestions), revisions, readers' feedback with the ticket an article
resolved, suggestions for a text being written in Japanese and English,
and the review reminder."""

import time

from harness import check, eq, unique, urlq

_users = {}


def users(ctx):
    """Process-role users of the main site (made once)."""
    if not _users:
        ctx.add_user("ken", "agent,knowledge_manager")
        _users["done"] = True


def article(s, user="alice", **fields):
    fields.setdefault("title", "Article %s" % unique())
    fields.setdefault("content", "本文")
    return s.create("articles", fields, user=user)


def move(s, ref, to, user="alice", **fields):
    return s.transition(ref, to, user=user, plural="articles", **fields)


def publish(s, ref, author="alice", manager="ken"):
    move(s, ref, "in_review", user=author).expect(200)
    return move(s, ref, "published", user=manager).expect(200).json


def rec(s, ref, user="admin"):
    return s.record(ref, user=user, plural="articles")


def test_article_lifecycle_with_approval(ctx):
    users(ctx)
    a = article(ctx, title="パスワードの再設定手順", content="1. ポータルを開く\n2. 再設定を押す",
                article_type="procedure", owner="alice")
    ref = a["number"]
    check(ref.startswith("KB-"), "numbered KB-: %s" % ref)
    eq((a["state"], a["revision"], a["audience"], a["helpful_count"]), ("draft", 0, "agents", 0),
       "a draft for agents, never published")
    # read-only counters
    ctx.patch("/articles/%s" % ref, {"revision": 5}, version=a["version"],
              user="alice").problem(422, "revision")
    ctx.patch("/articles/%s" % ref, {"helpful_count": 5}, version=a["version"],
              user="alice").problem(422, "helpful_count")
    ctx.post("/articles", {"title": "x", "article_type": "poem"}, user="alice").problem(
        422, "article_type")
    # the author submits; only a knowledge manager approves
    move(ctx, ref, "published", user="alice").problem(422, "to")  # not from draft
    move(ctx, ref, "in_review").expect(200)
    cur = rec(ctx, ref)
    move(ctx, ref, "published", user="alice").problem(403)
    move(ctx, ref, "published", user="bob").problem(403)
    eq((rec(ctx, ref)["version"], rec(ctx, ref)["state"]), (cur["version"], "in_review"),
       "nothing written")
    move(ctx, ref, "draft", user="ken").problem(422, "reason")  # sending back needs a reason
    move(ctx, ref, "draft", user="ken", reason="手順2の画面名が違う").expect(200)
    cur = rec(ctx, ref)
    ctx.patch("/articles/%s" % ref, {"content": "1. ポータルを開く\n2.「パスワードを忘れた」を押す"},
              version=cur["version"], user="alice").expect(200)
    p1 = publish(ctx, ref)
    eq((p1["state"], p1["revision"]), ("published", 1), "published, revision 1")
    check(p1["published_at"], "published_at set")
    # a published article changes only through a revision (its review date may move)
    ctx.patch("/articles/%s" % ref, {"content": "直接の書き換え"}, version=p1["version"],
              user="alice").problem(422, "content")
    r = ctx.patch("/articles/%s" % ref, {"review_by": "2027-06-30"}, version=p1["version"],
                  user="alice").expect(200)
    # a new revision: a draft copy, while revision 1 stays published
    r = ctx.post("/articles/%s/transition" % ref, {"transition": "revise"}, user="bob").expect(200)
    nxt = r.json["next_revision"]
    eq(r.json["state"], "published", "the published revision stays published")
    ctx.post("/articles/%s/transition" % ref, {"transition": "revise"}, user="bob").problem(
        422, "next_revision")  # one revision at a time
    d = rec(ctx, nxt)
    eq((d["state"], d["previous"], d["content"], d["revision"]),
       ("draft", ref, "1. ポータルを開く\n2.「パスワードを忘れた」を押す", 1), "a draft copy")
    ctx.patch("/articles/%s" % nxt, {"content": "新しい手順"}, version=d["version"],
              user="alice").expect(200)
    move(ctx, nxt, "in_review", user="ken").expect(200)
    # four eyes: who submitted it last cannot publish it
    move(ctx, nxt, "published", user="ken").problem(403)
    ctx.add_user("kay", "agent,knowledge_manager") if "kay" not in ctx.tokens else None
    p2 = move(ctx, nxt, "published", user="kay").expect(200).json
    eq(p2["revision"], 2, "revision counts up on each publication")
    old = rec(ctx, ref)
    eq(old["state"], "retired", "the previous revision is retired when the next is published")
    last = ctx.journal(ref, plural="articles")[-1]
    eq(last["reason"], "superseded by %s" % nxt, "and says by which")
    # retiring is the knowledge manager's, with a reason
    move(ctx, nxt, "retired", user="alice", reason="old").problem(403)
    move(ctx, nxt, "retired", user="ken").problem(422, "reason")
    move(ctx, nxt, "retired", user="ken", reason="SSO に移行").expect(200)


def test_endusers_see_only_published_portal_articles(ctx):
    users(ctx)
    tag = unique("kbv")
    pub = article(ctx, title="%s プリンタの紙詰まり" % tag, audience="portal")
    publish(ctx, pub["number"])
    internal = article(ctx, title="%s 内部手順" % tag, audience="agents")
    publish(ctx, internal["number"])
    draft = article(ctx, title="%s 下書き" % tag, audience="portal")
    review = article(ctx, title="%s レビュー中" % tag, audience="portal")
    move(ctx, review["number"], "in_review").expect(200)
    old = article(ctx, title="%s 廃止済み" % tag, audience="portal")
    publish(ctx, old["number"])
    move(ctx, old["number"], "retired", user="ken", reason="obsolete").expect(200)
    every = [pub, internal, draft, review, old]
    # lists
    for u in ("eve", "mallory"):
        items = ctx.get("/articles?title[contains]=%s" % tag, user=u).expect(200).json
        eq([i["number"] for i in items["items"]], [pub["number"]], "%s lists the portal article" % u)
        eq(items["total"], 1, "total for %s" % u)
        eq(ctx.total("title[contains]=%s&state=draft" % tag, user=u, plural="articles"), 0,
           "not by filtering on the state")
    eq(ctx.total("title[contains]=%s" % tag, user="alice", plural="articles"), 5, "agents see all")
    eq(ctx.total("title[contains]=%s" % tag, user="audrey", plural="articles"), 5, "auditors too")
    # reads
    for a in every:
        want = 200 if a is pub else 404
        ctx.get("/articles/%s" % a["number"], user="eve").expect(want)
        ctx.get("/articles/%s/journal" % a["number"], user="eve").expect(want)
    mine = rec(ctx, pub["number"], user="eve")
    check("review_by" not in mine and "review_reminded" not in mine and "known_error" not in mine,
          "review fields hidden from end users: %s" % sorted(mine))
    meta = ctx.get("/meta/types/article", user="eve").expect(200).json
    check("review_by" not in [f["name"] for f in meta["fields"]], "and from their metadata")
    # search and suggestions
    items = ctx.get("/search?q=%s&types=articles" % tag, user="eve").expect(200).json["items"]
    eq([i["number"] for i in items], [pub["number"]], "search")
    items = ctx.get("/search?q=%s&types=articles" % tag, user="alice").expect(200).json["items"]
    eq(len(items), 5, "agents search everything")
    items = ctx.get("/suggest?text=%s" % urlq(tag + " 紙詰まり 手順"), user="eve").expect(200).json
    eq([i["number"] for i in items["items"]], [pub["number"]], "suggestions")
    # end users write nothing here
    ctx.post("/articles", {"title": "x"}, user="eve").expect(403)
    ctx.post("/articles/%s/transition" % pub["number"], {"transition": "revise"},
             user="eve").expect(403)
    # while a new revision is written the published one stays on the portal
    r = ctx.post("/articles/%s/transition" % pub["number"], {"transition": "revise"},
                 user="alice").expect(200)
    nxt = r.json["next_revision"]
    ctx.get("/articles/%s" % pub["number"], user="eve").expect(200)
    ctx.get("/articles/%s" % nxt, user="eve").expect(404)
    publish(ctx, nxt)
    ctx.get("/articles/%s" % nxt, user="eve").expect(200)
    ctx.get("/articles/%s" % pub["number"], user="eve").expect(404)


def test_feedback_counts_and_ticket_link(ctx):
    users(ctx)
    a = article(ctx, title="Outlookが起動しない", audience="portal")
    publish(ctx, a["number"])
    ref = a["number"]
    inc = ctx.incident(user="eve", title="Outlookが開かない")
    r = ctx.post("/articles/%s/feedback" % ref, {"helpful": True, "ticket": inc["number"]},
                 user="eve")
    r.expect(200)
    eq((r.json["helpful_count"], r.json["unhelpful_count"], r.json["resolved_count"]), (1, 0, 1),
       "helpful, and a ticket resolved")
    check("review_reminded" not in r.json, "the answer is filtered for the end user")
    i = ctx.record(inc["id"])
    eq(i["kb_article"], ref, "the incident names the article")
    j = ctx.journal(inc["id"])[-1]
    eq((j["actor"], j["action"], j["reason"]), ("eve", "update", "feedback on %s" % ref),
       "incident change journalled")
    j = ctx.journal(ref, plural="articles")[-1]
    eq((j["actor"], j["action"]), ("eve", "feedback"), "article feedback journalled")
    # the same ticket again is not counted twice; no ticket: counts only
    r = ctx.post("/articles/%s/feedback" % ref, {"helpful": True, "ticket": inc["id"]}, user="eve")
    eq((r.expect(200).json["helpful_count"], r.json["resolved_count"]), (2, 1), "not twice")
    r = ctx.post("/articles/%s/feedback" % ref, {"helpful": False}, user="mallory")
    eq((r.expect(200).json["unhelpful_count"], r.json["resolved_count"]), (1, 1), "not helpful")
    # an agent links a ticket that names another article already: left as it is
    other = ctx.incident(title="Outlook profile broken")
    cur = ctx.record(other["id"])
    ctx.patch("/incidents/%s" % other["number"], {"kb_article": ref}, version=cur["version"],
              user="alice").expect(200)
    r = ctx.post("/articles/%s/feedback" % ref, {"helpful": True, "ticket": other["number"]},
                 user="alice")
    eq((r.expect(200).json["helpful_count"], r.json["resolved_count"]), (3, 1), "already linked")
    before = rec(ctx, ref)
    # bad input writes nothing
    theirs = ctx.incident(user="mallory", title="globex only")
    ctx.post("/articles/%s/feedback" % ref, {"helpful": True, "ticket": theirs["number"]},
             user="eve").problem(422, "ticket")
    ctx.post("/articles/%s/feedback" % ref, {"helpful": True, "ticket": "INC-999999"},
             user="eve").problem(422, "ticket")
    ctx.post("/articles/%s/feedback" % ref, {"helpful": "yes"}, user="eve").problem(422, "helpful")
    ctx.post("/articles/%s/feedback" % ref, {"ticket": inc["number"]}, user="eve").problem(
        422, "helpful")
    ctx.post("/articles/%s/feedback" % ref, {"helpful": True, "stars": 5},
             user="eve").problem(422, "stars")
    ctx.post("/articles/%s/feedback" % ref, {"helpful": True}, user="audrey").expect(403)
    ctx.post("/incidents/%s/feedback" % inc["number"], {"helpful": True}).expect(404)
    after = rec(ctx, ref)
    eq(after["version"], before["version"], "nothing written by refused feedback")
    eq(ctx.record(theirs["id"])["kb_article"], None, "their ticket untouched")
    # an article the user may not see
    hidden = article(ctx, title="internal only", audience="agents")
    publish(ctx, hidden["number"])
    draft = article(ctx, title="portal draft", audience="portal")
    for h in (hidden, draft):
        ctx.post("/articles/%s/feedback" % h["number"], {"helpful": True}, user="eve").expect(404)
        eq(rec(ctx, h["number"])["helpful_count"], 0, "not counted")
    ctx.post("/articles/KB-999999/feedback", {"helpful": True}, user="eve").expect(404)
    ctx.post("/articles/%s/feedback" % draft["number"], {"helpful": True},
             user="alice").expect(200)  # agents give feedback on drafts they read


SUGGEST_USERS = [("alice", "agent"), ("eve", "enduser", "acme")]


def suggest(s, text, user="alice", **params):
    q = "/suggest?text=%s" % urlq(text)
    for k, v in params.items():
        q += "&%s=%s" % (k, urlq(str(v)))
    return s.get(q, user=user).expect(200).json["items"]


def test_suggestions_japanese_and_english(ctx):
    with ctx.new_site("suggest", users=SUGGEST_USERS + [("ken", "agent,knowledge_manager")]) as s:
        def pub(**f):
            f.setdefault("audience", "portal")
            a = s.create("articles", f, user="alice")
            publish(s, a["number"])
            return a["number"]

        vpn = pub(title="VPNに接続できない場合の対処",
                  content="自宅からVPNクライアントで接続できないときは、インターネット接続を確認して"
                          "クライアントを再起動してください。", keywords="リモートアクセス 在宅")
        prn = pub(title="プリンタで印刷できない", content="プリンタの電源と用紙を確認してください。")
        pwd = pub(title="パスワードを忘れた場合", content="ポータルの「パスワードを忘れた」から再設定します。")
        mail = pub(title="Outlook cannot send mail",
                   content="When Outlook cannot send messages, check the outbox and restart Outlook.")
        wifi = pub(title="Wi-Fi drops in meeting rooms", content="Reconnect to the corporate SSID.",
                   audience="agents")
        drafted = s.create("articles", {"title": "VPN接続の新しい手順", "content": "VPN 接続 手順",
                                        "audience": "portal"}, user="alice")["number"]
        ke = s.create("known_errors", {"title": "VPN接続が30分で切断される",
                                       "symptoms": "在宅勤務中にVPNが切れる",
                                       "workaround": "再接続する"}, user="alice")["number"]
        s.transition(ke, "published", plural="known_errors").expect(200)
        # Japanese, no spaces, other words than the article's
        items = suggest(s, "在宅勤務でVPN接続ができません", user="eve")
        check(items, "something suggested")
        eq(items[0]["number"], vpn, "the VPN article first for the end user")
        eq({i["type"] for i in items}, {"articles"}, "no known errors for end users")
        check(drafted not in [i["number"] for i in items], "no drafts")
        check("<mark>" in items[0]["snippet"], "highlighted: %s" % items[0]["snippet"])
        check(items[0]["matched"] >= 3 and items[0]["score"] > 0, "scored: %s" % items[0])
        items = suggest(s, "在宅勤務でVPN接続ができません")
        nums = [i["number"] for i in items]
        check(vpn in nums[:2] and ke in nums[:2], "agents get the article and the known error: %s" % nums)
        eq({i["type"] for i in items if i["number"] == ke}, {"known_errors"}, "typed")
        check(drafted not in nums, "published records only by default")
        check(drafted in [i["number"] for i in suggest(s, "VPN接続の手順", state="draft")],
              "drafts when asked")
        eq([i["number"] for i in suggest(s, "パスワードを忘れてログインできない", user="eve")][:1], [pwd],
           "password")
        eq([i["number"] for i in suggest(s, "印刷ができないです", user="eve")][:1], [prn], "printer")
        # English, any of the words, any case
        items = suggest(s, "My OUTLOOK will not send emails since this morning", user="eve")
        eq(items[0]["number"], mail, "English")
        check(wifi not in [i["number"] for i in items], "agents-only article not for end users")
        eq([i["number"] for i in suggest(s, "wifi drops during meetings")][:1], [wifi],
           "agents get agents' articles")
        # limits and types
        eq(len(suggest(s, "できない", limit=1)), 1, "limit")
        eq({i["type"] for i in suggest(s, "VPN", types="known_errors")}, {"known_errors"}, "types")
        eq(suggest(s, "zzqx nothing like this"), [], "nothing matches")
        s.get("/suggest?text=%s&types=known_errors" % urlq("VPN"), user="eve").problem(403, "types")
        s.get("/suggest", user="eve").problem(400, "text")
        s.get("/suggest?text=%s" % urlq("、。！"), user="eve").problem(400, "text")
        s.get("/suggest?text=x&limit=50").problem(400, "limit")
        s.get("/suggest?text=x&types=nosuch").problem(400, "types")
        s.get("/suggest?text=x&colour=red").problem(400, "colour")
        s.get("/suggest?text=x&state=pending").problem(400, "state")


KB_USERS = [("alice", "agent"), ("olga", "agent"), ("ken", "agent,knowledge_manager"),
            ("eve", "enduser", "acme")]


def test_review_reminder_notifies_owner(ctx):
    with ctx.new_site("kbtimer", users=KB_USERS,
                      config={"jobs": {"tick_ms": 50, "timers_ms": 200}}) as s:
        due = s.create("articles", {"title": "VPN手順", "owner": "olga", "review_by": "2020-01-01",
                                    "audience": "portal"}, user="alice")
        eq(due["review_due_at"], "2020-01-01T00:00:00Z", "09:00 Japan time on the review date")
        quiet = s.create("articles", {"title": "下書きのまま", "owner": "olga",
                                      "review_by": "2020-01-01"}, user="alice")
        later = s.create("articles", {"title": "まだ先", "owner": "olga", "review_by": "2999-01-01"},
                         user="alice")
        for a in (due, later):
            publish(s, a["number"], manager="ken")

        def notices(ref):
            return s.get("/notifications?record=%s" % ref, user="olga").expect(200).json["items"]

        deadline = time.time() + 15
        while time.time() < deadline and not notices(due["number"]):
            time.sleep(0.2)
        items = notices(due["number"])
        eq(len(items), 1, "the owner is told")
        eq((items[0]["recipient"], items[0]["rule"]), ("olga", "review_reminder"), "to the owner")
        check(items[0]["subject_en"].startswith("Knowledge article %s" % due["number"]), "subject")
        time.sleep(1.0)
        eq(len(notices(due["number"])), 1, "once only")
        eq(notices(quiet["number"]), [], "drafts are not reminded")
        eq(notices(later["number"]), [], "not before the date")
        cur = rec(s, due["number"])
        eq(cur["review_reminded"], True, "marked")
        # a new review date starts the reminder over
        r = s.patch("/articles/%s" % due["number"], {"review_by": "2999-12-31"},
                    version=cur["version"], user="alice").expect(200)
        eq(r.json["review_reminded"], False, "reset by a new date")
        r = s.patch("/articles/%s" % due["number"], {"review_by": "2021-06-30"},
                    version=r.json["version"], user="alice").expect(200)
        deadline = time.time() + 15
        while time.time() < deadline and len(notices(due["number"])) < 2:
            time.sleep(0.2)
        eq(len(notices(due["number"])), 2, "reminded again for the new date")
        eq(s.get("/notifications", user="eve").expect(200).json["total"], 0, "end users: none")
        p = s.cli("audit", "verify", "--data", s.data)
        eq(p.returncode, 0, "audit verify: %s" % p.stdout)
