"""`GET /` for a recommendation model: a small recommender app for a person. Pick or type a user,
see their top 10 with titles; rate an item (0.5 to 5, or "seen" for implicit data) and the list
is fetched again, so the change shows at once (POST /ratings folds the rating in). Self-contained
like page.py: no external scripts, fonts or styles.

Stable ids for browser tests: `user` (the input), `show` (its button), `list` (the ordered list;
one `item-<id>` per entry with a `rating-<id>` select and a `rate-<id>` button), `status`.
"""

from __future__ import annotations

import html
import json
from typing import Any

from mlflow_cli.serve.page import STYLE

USERS_LISTED = 50        # known users offered in the picker

EXTRA_STYLE = """
ol#list{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:.75rem 1.25rem .75rem 2.5rem}
ol#list li{margin:.35rem 0}.meta{color:#6b7384;font-size:.9rem;margin-left:.4rem}
ol#list select{width:auto;margin-left:.6rem}ol#list button{margin:0 0 0 .4rem;padding:.2rem .7rem}
.pick{display:flex;gap:.5rem;align-items:center}.pick input{max-width:14rem}.pick button{margin:0}
#status{margin:.75rem 0;color:#5b6475}#status.error{color:#9b1c1c}
"""

SCRIPT = """
(function(){
  var cfg = JSON.parse(document.getElementById('mlw-recommend').textContent);
  var userBox = document.getElementById('user'), list = document.getElementById('list');
  var status = document.getElementById('status');
  function say(text, error){ status.textContent = text; status.className = error ? 'error' : ''; }
  function clear(){ while (list.firstChild) list.removeChild(list.firstChild); }
  function show(){
    var user = userBox.value.trim();
    if (!user) { say('Type or pick a user.', true); return; }
    say('Loading...');
    fetch('recommend/' + encodeURIComponent(user) + '?k=10').then(function(r){ return r.json().then(function(b){
      return {ok: r.ok, body: b}; }); }).then(function(res){
      if (!res.ok) { say(res.body.message || JSON.stringify(res.body.detail), true); return; }
      clear();
      res.body.items.forEach(function(entry){ list.appendChild(row(user, entry)); });
      say(res.body.note || ('Top ' + res.body.items.length + ' for user ' + user + ' (model ' +
          res.body.model_version + ').'));
    }).catch(function(e){ say('Request failed: ' + e, true); });
  }
  function row(user, entry){
    var li = document.createElement('li'); li.id = 'item-' + entry.item;
    var title = document.createElement('strong'); title.textContent = entry.title || ('item ' + entry.item);
    li.appendChild(title);
    var meta = document.createElement('span'); meta.className = 'meta';
    meta.textContent = cfg.meta.map(function(k){ return entry[k]; }).filter(function(v){
      return v !== undefined && v !== null; }).join(' · ');
    li.appendChild(meta);
    var pick = document.createElement('select'); pick.id = 'rating-' + entry.item;
    cfg.choices.forEach(function(v){ var o = document.createElement('option'); o.value = v; o.textContent = v;
      pick.appendChild(o); });
    pick.value = cfg.choices[cfg.choices.length - 1];
    li.appendChild(pick);
    var button = document.createElement('button'); button.type = 'button'; button.id = 'rate-' + entry.item;
    button.textContent = cfg.explicit ? 'Rate' : 'Seen';
    button.addEventListener('click', function(){ rate(user, entry.item, Number(pick.value)); });
    li.appendChild(button);
    return li;
  }
  function rate(user, item, value){
    var rating = {user: user, item: item}; if (cfg.explicit) rating.rating = value;
    fetch('ratings', {method: 'POST', headers: {'Content-Type': 'application/json'},
                      body: JSON.stringify({ratings: [rating]})}).then(function(r){
      return r.json().then(function(b){ return {ok: r.ok, body: b}; }); }).then(function(res){
      if (!res.ok) { say(res.body.message || JSON.stringify(res.body.detail), true); return; }
      show();
    });
  }
  document.getElementById('show').addEventListener('click', show);
  userBox.addEventListener('keydown', function(e){ if (e.key === 'Enter') show(); });
})();
"""


def render_recommender_page(model: Any) -> str:
    recommender = model.recommender
    users = [str(u) for u in recommender.users[:USERS_LISTED]]
    options = "".join(f'<option value="{html.escape(u, quote=True)}">' for u in users)
    explicit = recommender.rater is not None
    low, high = recommender.scale or (1.0, 5.0)
    step = 0.5 if float(low) % 1 or float(high) % 1 or high - low <= 5 else 1.0
    choices = [round(low + i * step, 2) for i in range(int(round((high - low) / step)) + 1)] if explicit else [1]
    meta = [c for c in (recommender.metadata.columns if recommender.metadata is not None else []) if c != "title"][:3]
    data = json.dumps({"explicit": explicit, "choices": [_short(c) for c in choices], "meta": meta})
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    alias = f" ({html.escape(model.alias)})" if model.alias else ""
    first = html.escape(users[0], quote=True) if users else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(model.project)} · mlw serve</title>
<style>{STYLE}{EXTRA_STYLE}</style>
</head>
<body>
<main>
<h1>{html.escape(model.project)}: recommendations</h1>
<p class="sub">Model version {html.escape(model.version)}{alias} · {html.escape(str(model.estimator_name))}
 · pick a user to see their top 10; {"rate" if explicit else "mark"} an item and the list updates. API docs at
 <a href="docs">/docs</a>.</p>
<div class="pick"><input id="user" list="users" value="{first}" aria-label="user">
<datalist id="users">{options}</datalist><button type="button" id="show">Show</button></div>
<div id="status" aria-live="polite"></div>
<ol id="list"></ol>
</main>
<script type="application/json" id="mlw-recommend">{data}</script>
<script>{SCRIPT}</script>
</body>
</html>
"""


def _short(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value
