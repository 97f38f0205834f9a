"""A table as a self-contained HTML page: filterable and sortable in the browser, no server and
no downloads (the metrics summary of ``collect`` and the report's comparison with the paper)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from isoclr.core.files import atomic_path

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; font-size: 14px; margin: 1em; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
th {{ background: #eee; position: sticky; top: 0; cursor: pointer; }}
tr:nth-child(even) td {{ background: #fafafa; }}
</style></head><body>
<h2>{title}</h2>
<p>{note} Filter: <input id="filter" type="search" placeholder="e.g. halflife pearson"> (click a column header to sort)</p>
{table}
<script>
(function () {{
  var table = document.querySelector("table");
  var body = table.tBodies[0];
  document.getElementById("filter").addEventListener("input", function (ev) {{
    var words = ev.target.value.toLowerCase().split(/\\s+/).filter(Boolean);
    Array.prototype.forEach.call(body.rows, function (row) {{
      var text = row.textContent.toLowerCase();
      row.style.display = words.every(function (w) {{ return text.indexOf(w) >= 0; }}) ? "" : "none";
    }});
  }});
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {{
    var asc = true;
    th.addEventListener("click", function () {{
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {{
        var x = a.cells[col].textContent, y = b.cells[col].textContent;
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return asc ? c : -c;
      }});
      asc = !asc;
      rows.forEach(function (r) {{ body.appendChild(r); }});
    }});
  }});
}})();
</script>
</body></html>
"""


def write_summary_html(summary: pd.DataFrame, out: str | os.PathLike[str], title: str, note: str = "") -> None:
    """A self-contained HTML page with ``summary`` as a filterable, sortable table (atomic)."""
    import html as _html

    note = note or (f"{len(summary)} rows. mean and sd over the test folds (sd: sample standard deviation); "
                    "folds: number of folds; n_train: median training rows of the fraction.")
    if summary.empty:
        body = "<table><thead><tr><th>no results</th></tr></thead><tbody></tbody></table>"
    else:
        shown = summary.copy()
        num = [c for c in ("mean", "sd") if c in shown.columns]
        for c in num:
            shown[c] = shown[c].map(lambda v: "" if pd.isna(v) else f"{v:.4f}")
        if "fraction" in shown.columns:
            shown["fraction"] = shown["fraction"].map(lambda v: f"{float(v):g}")
        if "n_train" in shown.columns:
            shown["n_train"] = shown["n_train"].map(lambda v: "" if pd.isna(v) else f"{int(v)}")
        body = shown.to_html(index=False, border=0, escape=True, na_rep="")
    page = _PAGE.format(title=_html.escape(title), note=_html.escape(note), table=body)
    with atomic_path(out, suffix=".html") as tmp:
        Path(tmp).write_text(page, encoding="utf-8")
