"""`GET /`: a small, self-contained HTML page to try the model by hand.

One form field per input column, generated from the schema: a select for categoricals and
booleans, a number input (with the training range) for numerics, a date input for dates,
a text area for text. The form POSTs one record to `predict` with fetch() and shows the
prediction and class probabilities. No external resources (scripts, fonts, styles), so it
works offline and behind strict networks.

Stable ids for browser tests: `field-<column>` per field, `predict` (the submit button),
`result` (where the answer, or each validation error, appears).
"""

from __future__ import annotations

import html
import json
from typing import Any

from mlflow_cli.serve.examples import example_value
from mlflow_cli.serve.model import ServedModel

STYLE = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
main{max-width:760px;margin:2rem auto;padding:0 1rem}
h1{font-size:1.35rem;margin:0 0 .25rem}.sub{color:#5b6475;margin:0 0 1.25rem}
form{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:1rem 1.25rem}
.row{display:grid;grid-template-columns:12rem 1fr;gap:.75rem;align-items:center;margin:.45rem 0}
label{font-weight:600}label small{display:block;font-weight:400;color:#6b7384}
input,select,textarea{font:inherit;padding:.35rem .5rem;border:1px solid #c5cbd6;border-radius:5px;width:100%;
box-sizing:border-box}textarea{min-height:3.5rem}
button{font:inherit;font-weight:600;margin-top:.75rem;padding:.5rem 1.25rem;border:0;border-radius:5px;
background:#2557d6;color:#fff;cursor:pointer}button:disabled{opacity:.6}
#result{margin-top:1rem;background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:1rem 1.25rem;
min-height:1.5rem}#result.error{border-color:#d64545;color:#9b1c1c}
table{border-collapse:collapse;margin-top:.5rem}td{padding:.15rem .75rem .15rem 0}
.bar{display:inline-block;height:.7rem;background:#2557d6;border-radius:2px;vertical-align:middle}
.pred{font-size:1.2rem;font-weight:700}
"""

SCRIPT = """
(function(){
  var columns = JSON.parse(document.getElementById('mlw-columns').textContent);
  var form = document.getElementById('predict-form');
  var button = document.getElementById('predict');
  var result = document.getElementById('result');
  function value(name, spec){
    var el = document.getElementById('field-' + name);
    var raw = el.value;
    if (raw === '') return null;
    if (spec.kind === 'numeric') { var n = Number(raw); return isNaN(n) ? raw : n; }
    if (spec.kind === 'boolean') return raw === 'true';
    return raw;
  }
  function clear(){ while (result.firstChild) result.removeChild(result.firstChild); }
  function line(text, cls){ var p = document.createElement('div'); if (cls) p.className = cls;
    p.textContent = text; result.appendChild(p); return p; }
  form.addEventListener('submit', function(event){
    event.preventDefault();
    var record = {};
    Object.keys(columns).forEach(function(name){ record[name] = value(name, columns[name]); });
    button.disabled = true; result.className = ''; clear(); line('Scoring...');
    fetch('predict', {method: 'POST', headers: {'Content-Type': 'application/json'},
                      body: JSON.stringify([record])})
      .then(function(response){ return response.json().then(function(body){ return [response.status, body]; }); })
      .then(function(answer){
        var status = answer[0], body = answer[1]; clear();
        if (status !== 200) {
          result.className = 'error';
          var detail = Array.isArray(body.detail) ? body.detail : [{error: body.detail || ('HTTP ' + status)}];
          line('The model could not score this record (HTTP ' + status + '):');
          detail.forEach(function(issue){
            line((issue.field ? issue.field + ': ' : '') + issue.error, 'issue');
          });
          return;
        }
        line('Prediction: ' + body.predictions[0], 'pred');
        if (body.probabilities) {
          var table = document.createElement('table');
          var probs = body.probabilities[0];
          Object.keys(probs).forEach(function(cls){
            var tr = document.createElement('tr');
            var name = document.createElement('td'); name.textContent = cls;
            var pct = document.createElement('td'); pct.textContent = (100 * probs[cls]).toFixed(1) + '%';
            var barCell = document.createElement('td'); var bar = document.createElement('span');
            bar.className = 'bar'; bar.style.width = Math.round(160 * probs[cls]) + 'px';
            barCell.appendChild(bar); tr.appendChild(name); tr.appendChild(pct); tr.appendChild(barCell);
            table.appendChild(tr);
          });
          result.appendChild(table);
        }
        line('Model version ' + body.model_version + (body.alias ? ' (' + body.alias + ')' : ''), 'sub');
      })
      .catch(function(error){ clear(); result.className = 'error'; line('Request failed: ' + error); })
      .then(function(){ button.disabled = false; });
  });
})();
"""


def render_page(model: ServedModel) -> str:
    columns = model.schema["columns"]
    rows = "\n".join(_field(name, spec) for name, spec in columns.items())
    kinds = {name: {"kind": spec.get("kind")} for name, spec in columns.items()}
    data = json.dumps(kinds).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    what = "class" if model.is_classifier else "value"
    target = f" {html.escape(str(model.target))}" if model.target else ""
    alias = f" ({html.escape(model.alias)})" if model.alias else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(model.project)} · mlw serve</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<h1>{html.escape(model.project)}: predict{target}</h1>
<p class="sub">Model version {html.escape(model.version)}{alias}
 · {html.escape(model.task)} · fill in a record to get the predicted {what}. API docs at <a href="docs">/docs</a>.</p>
<form id="predict-form" autocomplete="off">
{rows}
<button type="submit" id="predict">Predict</button>
</form>
<div id="result" aria-live="polite"></div>
</main>
<script type="application/json" id="mlw-columns">{data}</script>
<script>{SCRIPT}</script>
</body>
</html>
"""


def _field(name: str, spec: dict[str, Any]) -> str:
    kind = spec.get("kind")
    field_id = html.escape(f"field-{name}", quote=True)
    label = html.escape(name)
    nullable = spec.get("nullable", True)
    example = example_value(spec)
    hint = kind or ""
    if kind == "categorical" and spec.get("categories"):
        options = (['<option value="">(missing)</option>'] if nullable else []) + [
            f'<option value="{html.escape(str(c), quote=True)}"{" selected" if c == example else ""}>'
            f'{html.escape(str(c))}</option>' for c in spec["categories"]]
        control = f'<select id="{field_id}" name="{html.escape(name, quote=True)}">{"".join(options)}</select>'
    elif kind == "boolean":
        options = (['<option value="">(missing)</option>'] if nullable else []) + [
            '<option value="true" selected>true</option>', '<option value="false">false</option>']
        control = f'<select id="{field_id}" name="{html.escape(name, quote=True)}">{"".join(options)}</select>'
    elif kind == "numeric":
        integer = str(spec.get("dtype", "")).lower().startswith(("int", "uint"))
        if spec.get("min") is not None and spec.get("max") is not None:
            hint = f"{spec['min']:g} to {spec['max']:g}" if isinstance(spec["min"], (int, float)) else hint
        control = (f'<input type="number" step="{1 if integer else "any"}" id="{field_id}" '
                   f'name="{html.escape(name, quote=True)}" value="{html.escape(str(example), quote=True)}"'
                   f'{"" if nullable else " required"}>')
    elif kind == "datetime":
        is_date = isinstance(example, str) and len(example) == 10
        control = (f'<input type="{"date" if is_date else "datetime-local"}" id="{field_id}" '
                   f'name="{html.escape(name, quote=True)}" value="{html.escape(str(example), quote=True)}"'
                   f'{"" if nullable else " required"}>')
    else:
        text = "" if nullable else html.escape(str(example or ""))
        control = (f'<textarea id="{field_id}" name="{html.escape(name, quote=True)}" '
                   f'placeholder="{html.escape(str(example or ""), quote=True)}">{text}</textarea>')
    required = "" if nullable else ", required"
    return (f'<div class="row"><label for="{field_id}">{label}<small>{html.escape(str(hint))}{required}</small>'
            f'</label>{control}</div>')
