"""The episode viewer's stylesheet and script, inlined into every page (it must open offline).

The script only enhances a page that is complete without it: it sorts and filters the episode
list, shows one episode at a time and keeps that state in the URL (``#ep=3&sort=reward&desc=1
&fmt=with``), so a link reopens the same view. Without it every episode is shown in order.
"""

CSS = """
:root{--policy:#2e7d32;--policy-bg:#eef8f0;--env:#1565c0;--env-bg:#eef4fb;--seg:#b26a00;--err:#c62828;--muted:#6b7280}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;display:grid;grid-template-rows:auto 1fr;height:100vh}
header{padding:.5em 1em;border-bottom:1px solid #d0d7de;background:#f6f8fa}
header h1{font-size:1.15em;margin:0}
header .meta{color:var(--muted);font-size:.9em}
#layout{display:grid;grid-template-columns:minmax(34em,40em) 1fr;min-height:0}
#list{overflow:auto;border-right:1px solid #d0d7de;padding:.5em .6em}
#view{overflow:auto;padding:0 1.5em 4em}
.filters{display:flex;flex-wrap:wrap;gap:.4em;align-items:center;margin-bottom:.4em;font-size:.9em}
.filters input{width:9em}
#episodes{border-collapse:collapse;width:100%;font-size:.85em}
#episodes th{position:sticky;top:0;background:#f6f8fa;cursor:pointer;user-select:none;text-align:right;white-space:nowrap}
#episodes th.text,#episodes td.text{text-align:left}
#episodes th[aria-sort=ascending]::after{content:" \\25B2"}
#episodes th[aria-sort=descending]::after{content:" \\25BC"}
#episodes td,#episodes th{border-bottom:1px solid #eaeef2;padding:2px 4px;text-align:right}
#episodes td.text{max-width:9em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
#episodes tbody tr{cursor:pointer}
#episodes tbody tr:hover{background:#f3f4f6}
#episodes tbody tr[aria-selected=true]{background:#ddf4ff}
#episodes .bad{color:var(--err)}
.episode h2{font-size:1.1em;margin:.8em 0 .3em}
dl.summary{display:flex;flex-wrap:wrap;gap:.2em 1.2em;margin:.2em 0 .5em}
dl.summary div{display:flex;gap:.3em}
dl.summary dt{color:var(--muted)} dl.summary dd{margin:0;font-weight:600}
.segnav{display:flex;flex-wrap:wrap;gap:.3em;margin:.4em 0 .8em;position:sticky;top:0;background:#fff;padding:.3em 0;z-index:1}
.segnav a{font-size:.8em;border:1px solid var(--seg);color:var(--seg);border-radius:1em;padding:0 .6em;text-decoration:none}
.segnav a.err{border-color:var(--err);color:var(--err)}
section.seg{border:1px solid #e3c088;border-radius:6px;margin:.8em 0;padding:0 .7em .5em}
section.seg>h3{font-size:.95em;color:var(--seg);margin:.4em 0}
section.seg>h3 .tok{color:var(--muted);font-weight:normal;font-size:.9em;margin-left:.6em}
.label{font-size:.75em;text-transform:uppercase;letter-spacing:.05em;color:var(--muted);margin:.5em 0 .1em}
.msg{border-left:4px solid var(--env);background:var(--env-bg);margin:.25em 0;padding:.25em .5em}
.msg.role-assistant{border-left-color:#9e9e9e;background:#f4f4f4}
.msg .role{font-weight:600;color:var(--env);font-size:.8em;margin-right:.4em}
.msg.repeat summary{cursor:pointer;color:var(--muted);font-size:.85em}
.msg.repeat summary .preview{font-family:ui-monospace,monospace}
.text{white-space:pre-wrap;word-break:break-word;font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;margin:0}
.policy{border-left:4px solid var(--policy);background:var(--policy-bg);margin:.5em 0 .25em;padding:.3em .5em}
.policy .head{font-weight:600;color:var(--policy);font-size:.85em}
.policy .head .reward{font-weight:normal;color:var(--muted);margin-left:.6em}
.err{color:var(--err)}
.policy .err{white-space:pre-wrap;font-size:.85em;border-top:1px dashed #f0b4b4;margin-top:.3em;padding-top:.2em}
.msg.error{border-left-color:var(--err);background:#fdeeee}
.unseen{opacity:.6;border:1px dashed #bbb;padding:.2em .4em;margin:.3em 0}
.note{color:var(--muted);font-style:italic;margin:.3em 0}
.memory{margin:.3em 0 .6em;font-size:.85em}
.memory>summary{cursor:pointer;color:var(--muted)}
.memory .head{color:#6a1b9a;font-weight:600}
.memory table{border-collapse:collapse;margin-top:.2em}
.memory td,.memory th{border:1px solid #d0d7de;padding:1px 6px;vertical-align:top;text-align:left}
.memory tr.added{background:#e6ffec} .memory tr.updated{background:#fff8c5} .memory tr.deleted{background:#ffebe9;text-decoration:line-through;color:#82071e}
.memory .old{color:var(--muted);text-decoration:line-through}
.memory .status{font-size:.85em;color:var(--muted)}
.legend span{margin-right:1em;font-size:.85em}
.legend .p{color:var(--policy)} .legend .e{color:var(--env)} .legend .s{color:var(--seg)} .legend .x{color:var(--err)}
@media (max-width:900px){body{display:block;height:auto}#layout{display:block}#list{max-height:40vh;border-right:0;border-bottom:1px solid #d0d7de}}
"""

JS = r"""
(function () {
  "use strict";
  var $ = function (s, r) { return (r || document).querySelector(s); };
  var $$ = function (s, r) { return Array.prototype.slice.call((r || document).querySelectorAll(s)); };
  var tbody = $("#episodes tbody");
  if (!tbody) return;
  var rows = $$("tr", tbody);
  var sections = {};
  $$("section.episode").forEach(function (s) { sections[s.dataset.ep] = s; });
  var state = {ep: null, sort: "index", desc: "0", reward: "all", fmt: "all", answer: "all", q: ""};
  var defaults = JSON.parse(JSON.stringify(state));
  var scrollTarget = null;

  function readHash() {
    var h = decodeURIComponent(location.hash.slice(1));
    if (!h) return;
    if (h.indexOf("=") < 0) {  // a plain anchor, e.g. a segment: show its episode, then scroll
      var el = document.getElementById(h);
      var ep = el && el.closest(".episode");
      if (ep) { state.ep = ep.dataset.ep; scrollTarget = el; }
      return;
    }
    h.split("&").forEach(function (part) {
      var i = part.indexOf("=");
      var k = part.slice(0, i), v = part.slice(i + 1);
      if (k in state) state[k] = v;
    });
  }

  function writeHash() {
    var parts = [];
    Object.keys(state).forEach(function (k) {
      if (state[k] !== null && state[k] !== defaults[k]) parts.push(k + "=" + encodeURIComponent(state[k]));
    });
    history.replaceState(null, "", parts.length ? "#" + parts.join("&") : location.pathname + location.search);
  }

  function keep(row) {
    var d = row.dataset, r = parseFloat(d.reward), f = parseInt(d.fmt, 10);
    if (state.reward === "pos" && !(r > 0)) return false;
    if (state.reward === "zero" && r !== 0) return false;
    if (state.reward === "neg" && !(r < 0)) return false;
    if (state.fmt === "with" && f === 0) return false;
    if (state.fmt === "without" && f > 0) return false;
    if (state.answer === "yes" && d.answered !== "1") return false;
    if (state.answer === "no" && d.answered === "1") return false;
    return !state.q || d.task.toLowerCase().indexOf(state.q.toLowerCase()) >= 0;
  }

  function value(row, key) {
    var v = row.dataset[key];
    return key === "task" || key === "end" ? v : parseFloat(v);
  }

  function sortRows() {
    var key = state.sort, sign = state.desc === "1" ? -1 : 1;
    rows.sort(function (a, b) {
      var x = value(a, key), y = value(b, key);
      var c = typeof x === "string" ? x.localeCompare(y) : (isNaN(x) ? -Infinity : x) - (isNaN(y) ? -Infinity : y);
      return sign * c || value(a, "index") - value(b, "index");
    });
    rows.forEach(function (r) { tbody.appendChild(r); });
    $$("#episodes th").forEach(function (th) {
      if (th.dataset.key === key) th.setAttribute("aria-sort", sign < 0 ? "descending" : "ascending");
      else th.removeAttribute("aria-sort");
    });
  }

  function apply() {
    sortRows();
    var visible = rows.filter(function (r) { var k = keep(r); r.hidden = !k; return k; });
    if (visible.length && !visible.some(function (r) { return r.dataset.index === state.ep; })) state.ep = visible[0].dataset.index;
    if (!visible.length) state.ep = null;
    rows.forEach(function (r) { r.setAttribute("aria-selected", String(r.dataset.index === state.ep)); });
    Object.keys(sections).forEach(function (k) { sections[k].hidden = k !== state.ep; });
    $("#shown").textContent = visible.length + " of " + rows.length + " episodes shown";
    ["reward", "fmt", "answer", "q"].forEach(function (k) { var c = $("#f-" + k); if (c) c.value = state[k]; });
    writeHash();
    document.body.dataset.ready = "1";
  }

  function move(step) {
    var visible = rows.filter(function (r) { return !r.hidden; });
    var i = visible.findIndex(function (r) { return r.dataset.index === state.ep; });
    var next = visible[Math.min(Math.max(i + step, 0), visible.length - 1)];
    if (next) { state.ep = next.dataset.index; apply(); next.scrollIntoView({block: "nearest"}); $("#view").scrollTop = 0; }
  }

  rows.forEach(function (r) {
    r.addEventListener("click", function () { state.ep = r.dataset.index; apply(); $("#view").scrollTop = 0; });
  });
  $$("#episodes th").forEach(function (th) {
    th.addEventListener("click", function () {
      state.desc = state.sort === th.dataset.key && state.desc !== "1" ? "1" : "0";
      state.sort = th.dataset.key;
      apply();
    });
  });
  ["reward", "fmt", "answer", "q"].forEach(function (k) {
    var c = $("#f-" + k);
    if (c) c.addEventListener("input", function () { state[k] = c.value; apply(); });
  });
  document.addEventListener("keydown", function (e) {
    if (e.target.tagName === "INPUT" || e.target.tagName === "SELECT") return;
    if (e.key === "j" || e.key === "ArrowDown") { move(1); e.preventDefault(); }
    if (e.key === "k" || e.key === "ArrowUp") { move(-1); e.preventDefault(); }
  });
  window.addEventListener("hashchange", function () {
    readHash(); apply();
    if (scrollTarget) { scrollTarget.scrollIntoView(); scrollTarget = null; }
  });
  readHash();
  apply();
  if (scrollTarget) { scrollTarget.scrollIntoView(); scrollTarget = null; }
})();
"""
