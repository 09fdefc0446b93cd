"""The dashboard's HTML (Jinja, autoescaped): kept in Python so the package needs no data files."""

# ruff: noqa: E501  (HTML reads better unwrapped)

from __future__ import annotations

BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{{ refresh }}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · workbench</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{background:#24292f;color:#fff;padding:10px 20px;display:flex;gap:20px;align-items:center}
header a{color:#fff;text-decoration:none}header .name{font-weight:600}
main{padding:16px 20px;display:grid;grid-template-columns:repeat(auto-fit,minmax(min(420px,100%),1fr));gap:16px}
section{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:10px 14px;min-width:0;overflow-wrap:anywhere}
section.wide{grid-column:1/-1}h2{font-size:15px;margin:4px 0 8px}
table{border-collapse:collapse;width:100%}td,th{padding:3px 8px;border-bottom:1px solid #eaeef2;
text-align:left}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:600;color:#fff}
.running{background:#1a7f37}.halted,.failed{background:#cf222e}.stale,.degraded{background:#bf8700}.stopped,.other{background:#6e7781}
.REDUCING{background:#bf8700}.ACTIVE{background:#1a7f37}.HALTED{background:#cf222e}
.pos{color:#1a7f37}.neg{color:#cf222e}.muted{color:#6e7781}
.bar{background:#eaeef2;height:10px;border-radius:5px;width:12vw;min-width:50px;max-width:220px;display:inline-block}
.bar i{display:block;height:10px;border-radius:5px;background:#bf8700}.bar i.over{background:#cf222e}
.reason{background:#ffebe9;border:1px solid #ff8182;padding:6px 10px;border-radius:6px;margin:6px 0}
button.kill{background:#cf222e;color:#fff;border:0;padding:6px 14px;border-radius:6px;font-weight:600}
img{max-width:100%}code{font-size:12px}
</style></head><body>
<header><span class="name">workbench</span>
<a href="{{ url_for('index') }}">Status</a><a href="{{ url_for('logs') }}">Logs</a>
<a href="{{ url_for('api_status') }}">JSON</a>
{% if report %}<a href="{{ url_for('report', name=report.name, filename='report.html') }}">Reconciliation</a>{% endif %}
<span class="muted" style="margin-left:auto">refreshed {{ generated_at }} · every {{ refresh }} s · read-only{% if allow_kill %} (kill switch on){% endif %}</span>
{% if signed_in %}<form method="post" action="{{ url_for('logout') }}" style="margin:0"><button type="submit" id="logout">Log out</button></form>{% endif %}
</header><main>{% block body %}{% endblock %}</main></body></html>
"""

INDEX = """{% extends "base.html" %}{% block body %}
{% set s = snap.status %}{% set a = snap.account %}{% set r = snap.risk %}
<section id="status"><h2>Status</h2>
<p><span class="badge {{ s.state if s.state in ('running','halted','failed','stale','degraded','stopped') else 'other' }}" id="run-state">{{ s.state }}</span>
<b id="strategy">{{ s.strategy or "—" }}</b> <span class="muted">{{ s.bundle or "" }}</span></p>
{% if s.state_reason %}<div class="reason" id="state-reason">{{ s.state }}: {{ s.state_reason }}</div>{% endif %}
{% if s.halted %}<div class="reason" id="halt-reason">halted: {{ s.halt_reason or "no reason recorded" }}</div>{% endif %}
<table>
<tr><th>runner</th><td>{{ s.runner }}{% if s.stopped_by %} ({{ s.stopped_by }}){% endif %}</td></tr>
<tr><th>broker · feed</th><td>{{ s.broker or "—" }} · {{ s.feed or "—" }}</td></tr>
<tr><th>started</th><td>{{ s.started_at or "—" }}</td></tr>
<tr><th>uptime</th><td>{{ s.uptime_s|duration }}</td></tr>
<tr><th>last bar</th><td id="last-bar">{{ s.last_bar or "—" }}</td></tr>
<tr><th>feed lag</th><td>{{ s.feed_lag_s|duration }}</td></tr>
<tr><th>heartbeat age</th><td id="heartbeat-age">{{ s.heartbeat_age_s|duration }} <span class="muted">(stale after {{ s.stale_after_s|duration }})</span></td></tr>
{% if s.kill_requested %}<tr><th>kill requested</th><td>{{ s.kill_requested }}</td></tr>{% endif %}
</table></section>

<section id="risk"><h2>Risk</h2>
{% if not r.configured %}<p id="risk-state">risk: not configured</p>
{% else %}<p><span class="badge {{ r.trading }}" id="risk-state">{{ r.trading }}</span>
{% if r.rule %}<span class="muted">{{ r.rule }}</span>{% endif %}</p>
{% if r.reason %}<div class="reason" id="risk-reason">{{ r.reason }}</div>{% endif %}{% endif %}
<table>
<tr><th>drawdown</th><td class="n">{{ a.drawdown|pct }}</td><td>{{ gauge(a.drawdown, a.drawdown_limit) }}</td><td class="muted">limit {{ a.drawdown_limit|pct }}</td></tr>
<tr><th>today's loss</th><td class="n">{{ a.daily_loss|pct }}</td><td>{{ gauge(a.daily_loss, a.daily_loss_limit) }}</td><td class="muted">limit {{ a.daily_loss_limit|pct }}</td></tr>
<tr><th>max drawdown</th><td class="n">{{ a.max_drawdown|pct }}</td><td></td><td></td></tr>
</table>
{% if allow_kill %}<form method="post" action="{{ url_for('kill') }}" id="kill-form">
<input type="hidden" name="csrf_token" value="{{ csrf }}">
<label><input type="checkbox" name="confirm" value="yes" required> halt the runner now</label>
<button class="kill" type="submit" id="kill-button">Kill switch</button></form>{% endif %}
</section>

<section id="account"><h2>Account and P&amp;L</h2><table>
<tr><th>equity</th><td class="n" id="equity">{{ a.equity|money }}</td></tr>
<tr><th>cash</th><td class="n" id="cash">{{ a.cash|money }}</td></tr>
<tr><th>P&amp;L today</th><td class="n {{ a.pnl_today|sign }}" id="pnl-today">{{ a.pnl_today|money }}</td></tr>
<tr><th>P&amp;L total</th><td class="n {{ a.pnl_total|sign }}" id="pnl-total">{{ a.pnl_total|money }}</td></tr>
<tr><th>as of</th><td class="n">{{ a.time or "—" }}</td></tr></table>
{% if report %}<p>Reconciliation <a href="{{ url_for('report', name=report.name, filename='report.html') }}" id="report-link">{{ report.name }}</a>:
<b>{{ report.verdict }}</b> ({{ report.unexplained }} unexplained)</p>{% endif %}
{% for r in snap.bundle_reports %}<p>{{ r.label }} of the bundle: <a href="{{ url_for('bundle_report', filename=r.file) }}" class="bundle-report">{{ r.file }}</a></p>{% endfor %}
</section>

<section class="wide" id="positions"><h2>Positions</h2>
{% if snap.positions %}<table><tr><th>symbol</th><th class="n">quantity</th><th class="n">avg price</th>
<th class="n">last</th><th class="n">market value</th><th class="n">unrealised</th><th class="n">realised</th></tr>
{% for p in snap.positions %}<tr data-symbol="{{ p.symbol }}"><td>{{ p.symbol }}</td><td class="n qty">{{ p.quantity|num }}</td>
<td class="n">{{ p.avg_price|num }}</td><td class="n">{{ p.last_price|num }}</td><td class="n">{{ p.market_value|money }}</td>
<td class="n {{ p.unrealized_pnl|sign }}">{{ p.unrealized_pnl|money }}</td><td class="n {{ p.realized_pnl|sign }}">{{ p.realized_pnl|money }}</td></tr>{% endfor %}
</table>{% else %}<p class="muted">no positions</p>{% endif %}</section>

<section id="sectors"><h2>Exposure by sector</h2>
{% if snap.sectors %}<table><tr><th>sector</th><th class="n">market value</th><th class="n">% of equity</th><th class="n">limit</th></tr>
{% for x in snap.sectors %}<tr data-sector="{{ x.sector }}"><td>{{ x.sector }}</td><td class="n">{{ x.market_value|money }}</td>
<td class="n">{{ x.weight|pct }}</td><td class="n">{{ x.limit|pct }}</td></tr>{% endfor %}
</table>{% else %}<p class="muted">no holdings</p>{% endif %}</section>

<section class="wide"><h2>Equity and drawdown</h2><img src="{{ url_for('equity_png') }}" alt="equity curve" id="equity-plot"></section>

<section id="orders"><h2>Open orders</h2>
{% if snap.open_orders %}<table><tr><th>symbol</th><th>side</th><th>type</th><th class="n">qty / notional</th><th>status</th><th>reason</th></tr>
{% for o in snap.open_orders %}<tr><td>{{ o.symbol }}</td><td>{{ o.side }}</td><td>{{ o.type }}</td>
<td class="n">{% if o.quantity %}{{ o.quantity|num }}{% else %}{{ o.notional|money }}{% endif %}</td><td>{{ o.status }}</td><td>{{ o.reason }}</td></tr>{% endfor %}
</table>{% else %}<p class="muted">no open orders</p>{% endif %}</section>

<section class="wide" id="fills"><h2>Recent fills</h2>
{% if snap.recent_fills %}<table><tr><th>time</th><th>symbol</th><th>side</th><th class="n">qty</th><th class="n">price</th><th class="n">fee</th><th>reason</th></tr>
{% for f in snap.recent_fills %}<tr><td>{{ f.time }}</td><td>{{ f.symbol }}</td><td>{{ f.side }}</td><td class="n">{{ f.quantity|num }}</td>
<td class="n">{{ f.price|num }}</td><td class="n">{{ f.commission|money }}</td><td>{{ f.reason }}</td></tr>{% endfor %}
</table>{% else %}<p class="muted">no fills yet</p>{% endif %}</section>

<section class="wide" id="events"><h2>Events</h2>
{% if snap.events %}<table><tr><th>at</th><th>kind</th><th>symbol</th><th>detail</th></tr>
{% for e in snap.events %}<tr><td>{{ e.at }}</td><td>{{ e.kind }}</td><td>{{ e.symbol or "" }}</td><td><code>{{ e.detail }}</code></td></tr>{% endfor %}
</table>{% else %}<p class="muted">no events</p>{% endif %}</section>
{% endblock %}"""

LOGS = """{% extends "base.html" %}{% block body %}
<section class="wide" id="logs"><h2>Latest log lines</h2>
{% if not log_file %}<p class="muted">the runner has not recorded a log file (meta <code>log_file</code>)</p>
{% elif not lines %}<p class="muted">no log lines yet</p>
{% else %}<table><tr><th>time</th><th>level</th><th>logger</th><th>message</th><th>fields</th></tr>
{% for line in lines %}<tr><td>{{ line.ts }}</td><td>{{ line.level }}</td><td>{{ line.logger }}</td>
<td>{{ line.msg }}</td><td><code>{{ line.fields }}</code></td></tr>{% endfor %}</table>{% endif %}
</section>{% endblock %}"""

MESSAGE = """{% extends "base.html" %}{% block body %}
<section class="wide"><h2>{{ title }}</h2><p id="message">{{ message }}</p></section>{% endblock %}"""

#: The login page (also the answer to any page asked for without a session): the token goes in a
#: POST body, never in the URL. Rendered on its own (no state file needed).
LOGIN = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>log in · workbench</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f6f8fa;color:#1f2328}
form{max-width:360px;margin:10vh auto;background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:16px 20px}
input[type=password]{width:100%;box-sizing:border-box;padding:6px;margin:6px 0 12px}
.error{color:#cf222e}</style></head>
<body><form method="post" action="{{ action }}" id="login-form"><h1 style="font-size:18px">workbench: a token is required</h1>
{% if message %}<p class="error" id="login-error">{{ message }}</p>{% endif %}
<label for="token">Access token</label>
<input type="password" name="token" id="token" autocomplete="current-password" required autofocus>
<button type="submit" id="login-button">Log in</button>
<p style="font-size:12px;color:#6e7781">Tools send <code>Authorization: Bearer ...</code> instead.</p></form></body></html>"""

#: The answer while the state file cannot be read (vanished, locked, not SQLite): a 503 that
#: says why and refreshes itself, so the page comes back with the file. Needs no state.
UNAVAILABLE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{{ refresh }}">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>state file unavailable · workbench</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f6f8fa;color:#1f2328}
section{max-width:640px;margin:10vh auto;background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:16px 20px}
.reason{background:#ffebe9;border:1px solid #ff8182;padding:6px 10px;border-radius:6px}</style></head>
<body><section><h1 style="font-size:18px">workbench: state file unavailable</h1>
<p class="reason" id="unavailable">{{ message }}</p>
<p style="font-size:12px;color:#6e7781">Tried at {{ at }}; this page tries again every {{ refresh }} s.</p></section></body></html>"""

TEMPLATES = {"base.html": BASE, "index.html": INDEX, "logs.html": LOGS, "message.html": MESSAGE}
