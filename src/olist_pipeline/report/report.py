"""A self-contained HTML report of the marts (``olist report``).

Every chart is a PNG rendered with matplotlib and embedded as a data URI, so
the file opens anywhere with no network and no server. A chart whose data is
empty (tiny data sets have no co-purchase pairs, say) still renders, with the
reason written on it, so a reader never meets a broken image.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from olist_pipeline.config import Role, Settings
from olist_pipeline.db import connect
from olist_pipeline.errors import OlistError
from olist_pipeline.report.figures import Headline, headline


class ReportError(OlistError):
    pass


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    png: bytes
    empty: bool


CHART_KEYS = (
    "sales_over_time",
    "live_sales",
    "gmv_by_state",
    "category_mix",
    "delivery_lateness",
    "rfm_segments",
    "seller_scorecard",
    "copurchase_pairs",
    "category_copurchase_pairs",
)


def _figure() -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=100)
    ax.grid(alpha=0.3)
    return fig, ax


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _empty(ax: Any, why: str) -> None:
    ax.axis("off")
    ax.text(0.5, 0.5, why, ha="center", va="center", fontsize=12, color="#555")


def _sales_over_time(conn: psycopg.Connection[Any], ax: Any) -> bool:
    rows = conn.execute(
        "SELECT sales_month, sum(gmv)::float FROM marts.sales_monthly GROUP BY 1 ORDER BY 1"
    ).fetchall()
    if not rows:
        _empty(ax, "no sales in the marts")
        return True
    # Distinct orders per month: the mart counts an order once per category cell.
    orders = dict(
        conn.execute(
            "SELECT date_trunc('month', purchased_at)::date, count(*) FROM warehouse.fact_orders"
            " WHERE items > 0 AND purchased_at IS NOT NULL GROUP BY 1"
        ).fetchall()
    )
    months = [r[0] for r in rows]
    twin = ax.twinx()
    twin.bar(months, [orders.get(m, 0) for m in months], width=20, alpha=0.3, color="#ff7f0e")
    twin.set_ylabel("orders")
    ax.set_zorder(twin.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.plot(months, [r[1] for r in rows], marker="o", color="#1f77b4")
    ax.set_ylabel("GMV (BRL, line)")
    ax.set_title("Monthly GMV and orders")
    return False


def _live_sales(conn: psycopg.Connection[Any], ax: Any) -> bool:
    # marts.live_sales_minute (the Structured Streaming job) per purchase day: what the
    # stream saw paid, next to the batch chart's GMV per month.
    rows = conn.execute(
        "SELECT (minute AT TIME ZONE 'UTC')::date, sum(payment_value)::float, sum(orders)"
        " FROM marts.live_sales_minute GROUP BY 1 ORDER BY 1"
    ).fetchall()
    if not rows:
        _empty(ax, "no live sales yet (olist stream live, or olist run --live)")
        return True
    days = [r[0] for r in rows]
    twin = ax.twinx()
    twin.bar(days, [r[2] for r in rows], width=1, alpha=0.3, color="#ff7f0e")
    twin.set_ylabel("orders")
    ax.set_zorder(twin.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.plot(days, [r[1] for r in rows], color="#2ca02c", linewidth=1)
    ax.set_ylabel("paid (BRL, line)")
    ax.set_title("Live sales per day (stream: payments and orders)")
    return False


def _gmv_by_state(conn: psycopg.Connection[Any], ax: Any) -> bool:
    rows = conn.execute(
        "SELECT customer_state, sum(gmv)::float g FROM marts.sales_monthly"
        " GROUP BY 1 ORDER BY g DESC LIMIT 15"
    ).fetchall()
    if not rows:
        _empty(ax, "no sales in the marts")
        return True
    ax.bar([r[0] for r in rows], [r[1] for r in rows], color="#2ca02c")
    ax.set_ylabel("GMV (BRL)")
    ax.set_title("GMV by customer state (top 15)")
    return False


def _category_mix(conn: psycopg.Connection[Any], ax: Any) -> bool:
    rows = conn.execute(
        "SELECT product_category, sum(gmv)::float g FROM marts.sales_monthly"
        " GROUP BY 1 ORDER BY g DESC"
    ).fetchall()
    if not rows:
        _empty(ax, "no sales in the marts")
        return True
    top = rows[:10]
    other = sum(r[1] for r in rows[10:])
    labels = [r[0] for r in top] + (["other"] if other else [])
    values = [r[1] for r in top] + ([other] if other else [])
    total = sum(values) or 1.0
    ax.barh(labels[::-1], [100 * v / total for v in values[::-1]], color="#9467bd")
    ax.set_xlabel("share of GMV (%)")
    ax.set_title("Category mix")
    return False


def _delivery_lateness(conn: psycopg.Connection[Any], ax: Any) -> bool:
    rows = conn.execute(
        "SELECT delivery_delay_days FROM warehouse.fact_orders"
        " WHERE delivery_delay_days IS NOT NULL"
    ).fetchall()
    if not rows:
        _empty(ax, "no delivered orders")
        return True
    values = [int(r[0]) for r in rows]
    ax.hist(values, bins=min(60, max(10, len(set(values)))), color="#d62728", alpha=0.8)
    ax.axvline(0, color="black", linestyle="--", linewidth=1)
    late = sum(1 for v in values if v > 0)
    ax.set_xlabel("delivered minus estimated date (days; > 0 is late)")
    ax.set_ylabel("orders")
    ax.set_title(f"Delivery lateness ({100 * late / len(values):.1f}% late)")
    return False


def _rfm_segments(conn: psycopg.Connection[Any], ax: Any) -> bool:
    rows = conn.execute(
        "SELECT segment, count(*) n FROM marts.customer_rfm GROUP BY 1 ORDER BY n DESC"
    ).fetchall()
    if not rows:
        _empty(ax, "no customers scored")
        return True
    ax.barh([r[0] for r in rows][::-1], [r[1] for r in rows][::-1], color="#17becf")
    ax.set_xlabel("customers (customer_unique_id)")
    ax.set_title("RFM segments")
    return False


def _seller_scorecard(conn: psycopg.Connection[Any], ax: Any) -> bool:
    rows = conn.execute(
        "SELECT gmv::float, on_time_pct, avg_review_score, orders FROM marts.seller_scorecard"
        " WHERE on_time_pct IS NOT NULL AND avg_review_score IS NOT NULL"
    ).fetchall()
    if not rows:
        _empty(ax, "no sellers with deliveries and reviews")
        return True
    scatter = ax.scatter(
        [100 * r[1] for r in rows],
        [r[2] for r in rows],
        s=[max(8.0, min(200.0, float(r[3]) * 4)) for r in rows],
        c=[r[0] for r in rows],
        cmap="viridis",
        alpha=0.7,
    )
    ax.figure.colorbar(scatter, ax=ax, label="GMV (BRL)")
    ax.set_xlabel("on-time deliveries (%)")
    ax.set_ylabel("average review score")
    ax.set_title("Seller scorecard (size = orders)")
    return False


# A co-purchase pair is ranked and charted only when at least this many orders hold it.
# Below it the measures are noise: two products bought once, together, have a lift of N
# (about 10,000 on the Olist data), and one order more or less moves a pair of 5 orders
# by a fifth. The marts keep every pair; readers apply the floor (transform/README.md).
MIN_PAIR_ORDERS = 5

# level -> (mart, its two key columns, how a key is shown on the chart)
PAIR_LEVELS: dict[str, tuple[str, str, str, Callable[[str], str]]] = {
    "product": ("copurchase_pairs", "product_id", "other_product_id", lambda k: k[:6]),
    "category": (
        "category_copurchase_pairs", "product_category", "other_category", lambda k: k[:24],
    ),
}  # fmt: skip


def top_pairs(
    conn: psycopg.Connection[Any], level: str, *, min_orders: int = MIN_PAIR_ORDERS, limit: int = 10
) -> list[tuple[str, str, float, int]]:
    """(key, other key, lift, pair orders) of the pairs held by at least ``min_orders``
    orders, each pair once, by lift then orders."""
    table, key, other, _ = PAIR_LEVELS[level]
    query = sql.SQL(
        "SELECT {key}, {other}, lift, pair_orders FROM {table}"
        " WHERE {key} < {other} AND pair_orders >= %s"
        " ORDER BY lift DESC, pair_orders DESC, {key}, {other} LIMIT %s"
    ).format(
        key=sql.Identifier(key), other=sql.Identifier(other), table=sql.Identifier("marts", table)
    )
    return [tuple(r) for r in conn.execute(query, (min_orders, limit)).fetchall()]


def _pair_chart(level: str) -> Callable[[psycopg.Connection[Any], Any], bool]:
    def render(conn: psycopg.Connection[Any], ax: Any) -> bool:
        rows = top_pairs(conn, level)
        if not rows:
            _empty(ax, f"no {level} pair bought together in {MIN_PAIR_ORDERS}+ orders")
            return True
        show = PAIR_LEVELS[level][3]
        labels = [f"{show(r[0])}+{show(r[1])} ({r[3]})" for r in rows]
        ax.barh(labels[::-1], [r[2] for r in rows][::-1], color="#bcbd22")
        ax.set_xlabel("lift (bars labelled with the number of orders holding the pair)")
        ax.set_title(f"Top {level} co-purchase pairs ({MIN_PAIR_ORDERS}+ orders)")
        return False

    return render


_RENDERERS: dict[str, tuple[str, Callable[[psycopg.Connection[Any], Any], bool]]] = {
    "sales_over_time": ("Sales over time", _sales_over_time),
    "live_sales": ("Live sales (Structured Streaming)", _live_sales),
    "gmv_by_state": ("GMV by state", _gmv_by_state),
    "category_mix": ("Category mix", _category_mix),
    "delivery_lateness": ("Delivery lateness", _delivery_lateness),
    "rfm_segments": ("RFM segments", _rfm_segments),
    "seller_scorecard": ("Seller scorecard", _seller_scorecard),
    "copurchase_pairs": ("Top co-purchase pairs", _pair_chart("product")),
    "category_copurchase_pairs": ("Top category co-purchase pairs", _pair_chart("category")),
}


def render_charts(conn: psycopg.Connection[Any]) -> list[Chart]:
    charts = []
    for key in CHART_KEYS:
        title, render = _RENDERERS[key]
        fig, ax = _figure()
        empty = render(conn, ax)
        charts.append(Chart(key, title, _png(fig), empty))
    return charts


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt_score(score: float | None) -> str:
    return "-" if score is None else f"{score:.2f}"


def render_html(h: Headline, charts: Sequence[Chart], run_id: str | None) -> str:
    cards = "".join(
        f'<figure class="chart" data-chart="{c.key}" data-empty="{str(c.empty).lower()}">'
        f"<figcaption>{html.escape(c.title)}</figcaption>"
        f'<img alt="{html.escape(c.title)}" src="data:image/png;base64,'
        f'{base64.b64encode(c.png).decode()}"></figure>'
        for c in charts
    )
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    tables = (
        "<h2>Top states</h2>"
        + _table(["state", "GMV (BRL)"], h.top_states)
        + "<h2>Top categories</h2>"
        + _table(["category", "GMV (BRL)"], h.top_categories)
        + "<h2>RFM segments</h2>"
        + _table(["segment", "customers"], h.rfm_segments)
        + "<h2>Best sellers (GMV)</h2>"
        + _table(
            ["seller", "GMV (BRL)", "avg review"],
            [(s, g, _fmt_score(r)) for s, g, r in h.best_sellers],
        )
        + "<h2>Lowest-rated sellers (3+ reviews)</h2>"
        + _table(
            ["seller", "GMV (BRL)", "avg review"],
            [(s, g, _fmt_score(r)) for s, g, r in h.worst_sellers],
        )
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Olist pipeline report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
.kpis {{ display: flex; gap: 2rem; }} .kpi b {{ display: block; font-size: 1.6rem; }}
.charts {{ display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 1rem; }}
figure {{ margin: 0; border: 1px solid #ddd; padding: .5rem; }} img {{ max-width: 100%; }}
table {{ border-collapse: collapse; margin-bottom: 1rem; }}
td, th {{ border: 1px solid #ddd; padding: .2rem .6rem; text-align: left; }}
</style></head><body>
<h1>Olist pipeline report</h1>
<p>Run {html.escape(run_id or "-")}, generated {generated}, from the warehouse and marts.</p>
<div class="kpis">
<div class="kpi" id="kpi-gmv">GMV<b>R$ {h.gmv:,.2f}</b></div>
<div class="kpi" id="kpi-orders">Orders<b>{h.orders:,}</b></div>
<div class="kpi" id="kpi-aov">Average order value<b>R$ {h.aov:,.2f}</b></div>
</div>
<div class="charts">{cards}</div>
{tables}
</body></html>
"""


def build_report(settings: Settings, out: Path, run_id: str | None = None) -> list[Chart]:
    """Write the report to ``out`` atomically; returns the charts it holds."""
    try:
        with connect(settings, Role.READER) as conn:
            h = headline(conn)
            charts = render_charts(conn)
    except psycopg.errors.UndefinedTable as exc:
        raise ReportError(
            f"the marts are not built yet ({exc.diag.message_primary}); run the batch "
            "pipeline first (`make run`, or `olist transform marts`)"
        ) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(render_html(h, charts, run_id), encoding="utf-8")
    tmp.replace(out)
    return charts
