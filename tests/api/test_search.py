# SPDX-License-Identifier: Apache-2.0
"""Full-text search: Japanese and English, ranked, highlighted, the same on
every backend; q= on lists; access rules; bad queries."""

import contextlib

from harness import check, eq, unique, urlq

USERS = [("alice", "agent", None), ("eve", "enduser", "acme"), ("mallory", "enduser", "globex"),
         ("audrey", "auditor", None)]
SPECS = [
    ("alice", dict(title="メールが送信できない",
                   description="Outlookから社外へのメール送信がエラーになる")),
    ("alice", dict(title="VPNに接続できない",
                   description="自宅からVPN接続するとタイムアウト。メールは読める")),
    ("alice", dict(title="Printer jam on 3F",
                   description="The printer on floor 3 jams on every job")),
    ("alice", dict(title="ＷＩＮＤＯＷＳ更新の失敗",
                   description="Windows Update fails with error 0x80070005")),
    ("eve", dict(title="経費精算システムにログインできない",
                 description="acme only: <b>password</b> & expired")),
    ("mallory", dict(title="経費精算の画面が白い", description="globex only")),
]


@contextlib.contextmanager
def searched_site(ctx):
    """A fresh site holding only SPECS: searches see nothing else."""
    with ctx.new_site("search", users=USERS) as s:
        s.recs = [s.incident(user=u, **f) for u, f in SPECS]
        yield s


def search(s, words, user="admin", **params):
    q = "/search?q=%s" % urlq(words)
    for k, v in params.items():
        q += "&%s=%s" % (k, urlq(str(v)))
    return s.get(q, user=user).expect(200).json["items"]


def numbers(items):
    return [i["number"] for i in items]


def test_japanese_english_ranking_and_snippets(ctx):
    with searched_site(ctx) as s:
        n = [r["number"] for r in s.recs]
        # Japanese has no spaces between words
        eq(numbers(search(s, "送信")), [n[0]], "送信 inside メール送信 and 送信できない")
        eq(numbers(search(s, "接続")), [n[1]], "接続")
        eq(numbers(search(s, "敗")), [n[3]], "a single kanji at the end of a run")
        eq(search(s, "信送"), [], "信送 is not 送信")
        eq(search(s, "ールメ"), [], "scrambled katakana")
        # ranking: a title match before a description match
        items = search(s, "メール")
        eq(numbers(items), [n[0], n[1]], "title match ranks first")
        check(items[0]["score"] > items[1]["score"], "scores decrease: %r" % items)
        eq(items[0]["field"], "title", "the first snippet comes from the title")
        eq(items[1]["field"], "description", "the second hit is in the description")
        eq(items[1]["snippet"], "自宅からVPN接続するとタイムアウト。<mark>メール</mark>は読める",
           "snippet of the second hit")
        items = search(s, "メール送信")
        eq(numbers(items), [n[0]], "メール送信")
        eq(items[0]["snippet"], "Outlookから社外への<mark>メール送信</mark>がエラーになる",
           "the snippet comes from the field holding the phrase")
        # English: words, prefixes, case, every word must match
        eq(numbers(search(s, "print")), [n[2]], "print finds Printer/printer")
        eq(numbers(search(s, "PRINTER FLOOR")), [n[2]], "upper case, two words")
        eq(search(s, "printer kitchen"), [], "every word must match")
        eq(numbers(search(s, "0x80070005")), [n[3]], "an error code")
        # full-width letters are ASCII
        eq(numbers(search(s, "windows")), [n[3]], "windows finds ＷＩＮＤＯＷＳ")
        eq(numbers(search(s, "ｗｉｎｄｏｗｓ 失敗")), [n[3]], "full-width query")
        # snippets are HTML-escaped around the marks
        items = search(s, "password", user="eve")
        eq(numbers(items), [n[4]], "password")
        eq(items[0]["snippet"], "acme only: &lt;b&gt;<mark>password</mark>&lt;/b&gt; &amp; expired",
           "escaped snippet")
        eq(items[0]["type"], "incidents", "type of a hit")
        eq(items[0]["title"], SPECS[4][1]["title"], "title of a hit")


def test_access_and_list_filter(ctx):
    with searched_site(ctx) as s:
        n = [r["number"] for r in s.recs]
        eq(numbers(search(s, "経費精算", user="eve")), [n[4]], "eve sees acme's")
        eq(numbers(search(s, "経費精算", user="mallory")), [n[5]], "mallory sees globex's")
        eq(sorted(numbers(search(s, "経費精算", user="alice"))), sorted([n[4], n[5]]), "agents")
        eq(sorted(numbers(search(s, "経費精算", user="audrey"))), sorted([n[4], n[5]]), "auditors")
        # q= on a list: a filter like any other, with totals and paging
        r = s.get("/incidents?q=%s&limit=1&sort=id" % urlq("メール")).expect(200)
        eq(r.json["total"], 2, "total of the q filter")
        eq([i["number"] for i in r.json["items"]], [n[0]], "first page")
        check(r.json["next"], "a next page")
        r2 = s.get("/incidents?q=%s&limit=1&sort=id&cursor=%s"
                   % (urlq("メール"), r.json["next"])).expect(200)
        eq([i["number"] for i in r2.json["items"]], [n[1]], "second page")
        r = s.get("/incidents?q=%s&impact=3" % urlq("windows")).expect(200)
        eq(r.json["total"], 1, "q with another condition")
        r = s.get("/incidents?q=%s" % urlq("経費精算"), user="eve").expect(200)
        eq([i["number"] for i in r.json["items"]], [n[4]], "q on a list keeps org scoping")


def test_an_edit_is_searchable_at_once(ctx):
    tag = unique("edit")
    inc = ctx.incident(title="%s 共有フォルダが開けない" % tag)
    eq(len(ctx.get("/search?q=%s" % urlq(tag + " 共有フォルダ")).expect(200).json["items"]), 1,
       "found after create")
    ctx.patch("/incidents/%s" % inc["number"], {"title": "%s 印刷が遅い" % tag},
              version=inc["version"]).expect(200)
    eq(ctx.get("/search?q=%s" % urlq(tag + " 共有フォルダ")).expect(200).json["items"], [],
       "the old words are gone")
    got = ctx.get("/search?q=%s" % urlq(tag + " 印刷")).expect(200).json["items"]
    eq([i["number"] for i in got], [inc["number"]], "the new words are found")
    ctx.transition(inc["number"], "resolved", resolution_code="fixed",
                   resolution_notes="プリンタードライバーを更新した").expect(200)
    got = ctx.get("/search?q=%s" % urlq(tag + " ドライバー")).expect(200).json["items"]
    eq([i["number"] for i in got], [inc["number"]], "resolution notes are searched")


def test_bad_queries(ctx):
    r = ctx.get("/search?q=%s" % urlq("、。！？")).expect(400)
    r.problem(400, "q")
    ctx.get("/search").expect(400).problem(400, "q")
    ctx.get("/search?q=mail&limit=0").expect(400).problem(400, "limit")
    ctx.get("/search?q=mail&types=nothing").expect(400).problem(400, "types")
    ctx.get("/search?q=mail&types=groups").expect(400).problem(400, "types")
    ctx.get("/search?q=mail&colour=red").expect(400).problem(400, "colour")
    ctx.get("/incidents?q=%s" % urlq("。。")).expect(400).problem(400, "q")
    ctx.get("/incidents?q=a&q=b").expect(400).problem(400, "q")
    ctx.get("/groups?q=x").expect(400).problem(400, "q")
    ctx.get("/search?q=mail", user=None).expect(401)
