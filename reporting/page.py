"""The page around the sections: header with the data's freshness and the confidentiality rule, contents,
print layout, and plotly.js inlined once so the file opens offline and can be e-mailed.

A Content-Security-Policy in the page forbids every network request (scripts, styles, images, fonts,
fetches): the report can only ever show what is inside the file.
"""

from __future__ import annotations

from functools import cache

from reporting.data import ReportData
from reporting.format import esc, fmt_datetime, fmt_week, suppressed_html

TITLE = "EPR go-live benefits and adoption"
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "img-src data: blob:; font-src data:; connect-src 'none'; form-action 'none'; base-uri 'none'")
CONTENTS = (("benefits", "Benefits register"), ("spc", "SPC charts"), ("readiness", "Training readiness"),
            ("helpdesk", "Help-desk demand"), ("experience", "Net experience score"),
            ("skills", "Digital skills"), ("themes", "Comment themes"), ("alerts", "Open alerts and actions"))

CSS = """
:root { --blue: #005eb8; --dark: #003087; --text: #212b32; --muted: #4c6272; --line: #d8dde0; --bg: #f0f4f5; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0; background: var(--bg); color: var(--text); font: 15px/1.45 system-ui, -apple-system,
       "Segoe UI", Arial, sans-serif; }
.page { width: 1048px; margin: 0 auto; padding: 0 24px 40px; background: white; }
.masthead { background: var(--blue); color: white; margin: 0 -24px; padding: 18px 24px 16px; }
.masthead .brand { font-size: 13px; letter-spacing: .05em; text-transform: uppercase; opacity: .9; }
h1 { font-size: 26px; margin: 2px 0 12px; }
.meta { display: grid; grid-template-columns: repeat(3, 1fr); gap: 8px 20px; margin: 0; }
.meta dt { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; opacity: .85; }
.meta dd { margin: 0; font-weight: 600; }
.rule { background: #fff7e0; border-left: 5px solid #ffb81c; padding: 10px 14px; margin: 16px 0 8px; }
.rule strong { display: block; }
nav.toc ul { display: flex; flex-wrap: wrap; gap: 4px 20px; list-style: none; padding: 0; margin: 8px 0; }
nav.toc a { color: var(--blue); }
section { border-top: 1px solid var(--line); margin-top: 26px; padding-top: 4px; }
h2 { color: var(--dark); font-size: 21px; margin: 12px 0 4px; }
.intro { color: var(--muted); max-width: 90ch; margin: 4px 0 8px; }
.summary { margin: 6px 0; }
figure.chart { margin: 14px 0 8px; }
figcaption { font-weight: 600; margin-bottom: 4px; }
.grid { display: grid; gap: 10px 20px; align-items: end; }
.grid.two { grid-template-columns: repeat(2, 490px); }
.grid.three { grid-template-columns: repeat(3, 320px); }
.grid figure.chart { margin: 6px 0; }
.grid figcaption { font-size: 13.5px; }
table { border-collapse: collapse; width: 100%; margin: 10px 0 18px; font-size: 13.5px; }
th, td { border-bottom: 1px solid var(--line); padding: 6px 8px; text-align: left; vertical-align: top; }
thead th { background: #e8edee; border-bottom: 2px solid #aeb7bd; font-weight: 600; vertical-align: bottom; }
tbody th { font-weight: 600; min-width: 7.5em; }
table.benefits td:last-child { width: 26%; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
table.compact { font-size: 12.5px; }
table.compact th, table.compact td { padding: 4px 5px; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: 4px; }
.small { font-size: 12px; color: var(--muted); font-weight: normal; }
.sup { display: inline-block; padding: 0 5px; border: 1px dashed #8a8f94; border-radius: 3px; color: #425563;
       font-size: 11.5px; font-style: italic; font-weight: normal; white-space: nowrap;
       background: repeating-linear-gradient(135deg, #f4f5f6 0 4px, #d8dde0 4px 6px); }
.none { color: var(--muted); }
.badge { display: inline-block; padding: 0 8px; border-radius: 10px; color: white; font-size: 12px;
         font-weight: 600; white-space: nowrap; }
.badge.on-track { background: #007f3b; }
.badge.at-risk { background: #ffb81c; color: #212b32; }
.badge.off-track { background: #d5281b; }
.badge.no-data { background: #768692; }
.better { color: #007f3b; font-weight: 600; }
.worse { color: #d5281b; font-weight: 600; }
.legend { font-size: 13px; color: var(--muted); margin: 12px 0 0; }
.key { display: inline-block; width: 22px; border-top: 2px solid var(--blue); vertical-align: middle;
       margin: 0 4px 0 12px; }
.key.dash { border-top: 2px dashed #768692; }
.key.dot { border-top: 3px dotted #ed8b00; }
.key.hatch { width: 16px; height: 12px; border: 1px solid #8a8f94;
             background: repeating-linear-gradient(135deg, #eceef0 0 3px, #8a8f94 3px 4px); }
.legend .key:first-child { margin-left: 0; }
article.alert { border: 1px solid var(--line); border-left: 5px solid #d5281b; padding: 8px 14px 4px;
                margin: 14px 0; }
article.alert .alert-id { font-weight: 700; }
article.alert .rule { background: none; border: 0; padding: 0; margin: 0; color: var(--muted);
                      font-size: 13px; }
article.alert .message { margin: 4px 0; font-weight: 600; }
article.alert .facts { margin: 0 0 4px; color: var(--muted); font-size: 13px; }
.empty { color: var(--muted); font-style: italic; }
footer { border-top: 1px solid var(--line); margin-top: 28px; padding-top: 8px; color: var(--muted);
         font-size: 12.5px; }
noscript p { background: #fff7e0; padding: 8px 12px; }
@page { size: A4 landscape; margin: 10mm; }
@media print {
  body { background: white; font-size: 10.5pt; }
  .page { width: auto; padding: 0; }
  .masthead { margin: 0; }
  nav.toc { display: none; }
  section { margin-top: 14px; }
  .keep, p, figure.chart, tr, article.alert header { break-inside: avoid; }
  h2, .intro, .summary, figcaption, caption, .legend, article.alert header { break-after: avoid; }
  thead { display: table-header-group; }
  a { color: inherit; text-decoration: none; }
}
"""


@cache
def plotly_js() -> str:
    """The plotly.js bundle that ships with the plotly package (no CDN, no network)."""
    from plotly.offline import get_plotlyjs

    js = get_plotlyjs()
    if "</script" in js.lower():
        raise RuntimeError("the plotly.js bundle cannot be inlined in a <script> element")
    return js


def header(data: ReportData) -> str:
    refreshed = fmt_datetime(data.refreshed_at) or "unknown"
    comment = data.comment_min_group_size
    comment_rule = (f" (fewer than {comment} for comment themes, which identify people more easily)"
                    if comment and comment != data.min_group_size else "")
    rule = (f"<strong>Confidentiality: groups of fewer than {data.min_group_size} people are never shown"
            f"{esc(comment_rule)}.</strong> A suppressed cell is marked {suppressed_html(data.min_group_size)} "
            "and hatched in charts, with no value. Where a hidden group could be worked out from its siblings and "
            "their total, another group is hidden too. The rule is the one in force at the last metrics refresh.")
    return f"""<header class="masthead">
<div class="brand">Realise &middot; benefits realisation</div>
<h1>{esc(TITLE)}</h1>
<dl class="meta">
<div><dt>Data last refreshed</dt><dd>{esc(refreshed)}</dd></div>
<div><dt>Latest week of data</dt><dd>{esc(fmt_week(data.latest_week) or "none")}</dd></div>
<div><dt>Report generated</dt><dd>{esc(fmt_datetime(data.generated_at))}</dd></div>
</dl>
</header>
<p class="rule">{rule}</p>"""


def contents() -> str:
    items = "".join(f'<li><a href="#{anchor}">{esc(title)}</a></li>' for anchor, title in CONTENTS)
    return f'<nav class="toc" aria-label="Contents"><ul>{items}</ul></nav>'


FOOTER = ("<footer>Made by <code>realise report</code> from the warehouse's analytics views "
          "(analytics.metric_latest, metric_spc, benefits, benefit_status, alerts, actions, metric_definitions): the "
          "latest computed value of every cell. Weeks run Monday to Sunday (w/c = week commencing). Definitions "
          "of every metric: <code>realise metrics list</code>.</footer>")


def document(data: ReportData, sections_html: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="realise report">
<title>{esc(TITLE)} &middot; {esc(fmt_week(data.latest_week))}</title>
<style>{CSS}</style>
<script>{plotly_js()}</script>
</head>
<body>
<div class="page">
{header(data)}
<noscript><p>Charts need JavaScript; the tables hold the key figures.</p></noscript>
{contents()}
<main>
{sections_html}
</main>
{FOOTER}
</div>
</body>
</html>
"""
