# SPDX-License-Identifier: Apache-2.0
"""Exports of a list view: every matching record (not one page), the columns
asked for, CSV with a BOM and Excel workbooks, access rules, bad input."""

import csv
import io
import zipfile

from harness import check, eq, unique


def test_csv_every_page_and_columns(ctx):
    tag = unique("exp")
    for i in range(510):
        ctx.incident(title="%s 案件 %03d" % (tag, i), impact=3, urgency=(i % 3) + 1)
    r = ctx.get("/incidents/export?title[contains]=%s&sort=title&fields=number,title,priority&lang=ja"
                % tag).expect(200)
    check(r.ctype.startswith("text/csv"), "a CSV: %s" % r.ctype)
    check(r.body.startswith(b"\xef\xbb\xbf"), "with a UTF-8 BOM for Excel")
    rows = list(csv.reader(io.StringIO(r.body.decode("utf-8-sig"))))
    eq(rows[0], ["番号", "件名", "優先度"], "the header row in Japanese")
    eq(len(rows) - 1, 510, "every record, past the first page of 500")
    eq(rows[1][1], "%s 案件 000" % tag, "sorted as asked")
    eq(rows[-1][1], "%s 案件 509" % tag, "to the last one")
    check("attachment" in r.header("Content-Disposition"), "offered as a download")
    en = ctx.get("/incidents/export?title[contains]=%s&fields=number,state" % tag).expect(200)
    eq(list(csv.reader(io.StringIO(en.body.decode("utf-8-sig"))))[0], ["Number", "State"],
       "English by default")


def test_xlsx_workbook(ctx):
    tag = unique("xls")
    for i in range(3):
        ctx.incident(title="%s row %d" % (tag, i), impact=1, urgency=i + 1)
    r = ctx.get("/incidents/export?format=xlsx&title[contains]=%s&sort=title&fields=number,title,priority"
                % tag).expect(200)
    check(r.ctype.startswith("application/vnd.openxmlformats"), "an Excel workbook: %s" % r.ctype)
    z = zipfile.ZipFile(io.BytesIO(r.body))
    names = z.namelist()
    check("xl/workbook.xml" in names, "a workbook: %s" % names)
    strings = z.read("xl/sharedStrings.xml").decode("utf-8")
    for i in range(3):
        check("%s row %d" % (tag, i) in strings, "row %d is in the workbook" % i)
    check("Priority" in strings, "with its header")
    sheet = z.read("xl/worksheets/sheet1.xml").decode("utf-8")
    check("<v>1</v>" in sheet and "<v>2</v>" in sheet, "priorities as numbers")


def test_export_follows_access_rules_and_refuses_bad_input(ctx):
    tag = unique("exa")
    ctx.incident(user="eve", title="%s acme" % tag)
    ctx.incident(user="mallory", title="%s globex" % tag)
    r = ctx.get("/incidents/export?title[contains]=%s&fields=title,organisation" % tag,
                user="eve").expect(200)
    rows = list(csv.reader(io.StringIO(r.body.decode("utf-8-sig"))))
    eq([row[0] for row in rows[1:]], ["%s acme" % tag], "an end user exports their organisation's only")
    ctx.get("/incidents/export?format=pdf").expect(400)
    ctx.get("/incidents/export?lang=fr").expect(400)
    ctx.get("/incidents/export?fields=nosuch").expect(400)
    ctx.get("/groups/export", user="eve").expect(403)
