"""The whole transform (raw -> staging -> warehouse -> marts) on a tiny
hand-written data set (transform_fixture.py), checked against values worked
out by hand, then re-run to prove it changes no row."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from olist_pipeline.config import Role, Settings
from olist_pipeline.contracts.tables import LAYER_TABLES
from olist_pipeline.db import connect
from olist_pipeline.transform.jobs import run_layers
from tests.conftest import cloned_database
from tests.integration.transform_fixture import hid, load_fixture

# The module builds every layer once (a few minutes on a busy 2-core machine).
pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]

LAYERS = ("staging", "warehouse", "marts")
TABLES = LAYER_TABLES


@pytest.fixture(scope="module")
def built(template_database: str, base_settings: Settings) -> Iterator[Settings]:
    """One database for the module: fixture loaded, all layers built once."""
    with cloned_database(base_settings, template_database, "olist_tf_") as settings:
        load_fixture(settings)
        run_layers(settings, LAYERS, "fixture-run-1")
        yield settings


def q(settings: Settings, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with connect(settings, Role.READER) as conn:
        return conn.execute(query, params).fetchall()


def one(settings: Settings, query: str, *params: Any) -> Any:
    rows = q(settings, query, *params)
    assert len(rows) == 1, rows
    return rows[0][0] if len(rows[0]) == 1 else rows[0]


def test_staging_types_normalises_and_dedups(built: Settings) -> None:
    s = built
    c1 = one(
        s,
        "SELECT customer_zip_code_prefix, customer_city, customer_state FROM"
        " staging.customers WHERE customer_id = %s",
        hid("c1"),
    )
    assert c1 == ("01037", "sao paulo", "SP")
    assert (
        one(s, "SELECT customer_city FROM staging.customers WHERE customer_id = %s", hid("c5"))
        == "sao bernardo do campo"
    )
    assert (
        one(s, "SELECT customer_city FROM staging.customers WHERE customer_id = %s", hid("c3"))
        == "belo horizonte"
    )
    assert one(s, "SELECT seller_city FROM staging.sellers WHERE seller_id = %s", hid("s2")) == (
        "rio de janeiro"
    )
    # Newest batch wins: o1 item 1 is 100.00 (batch t2), not 99.00 (batch t1).
    assert one(
        s,
        "SELECT price, _batch_id FROM staging.order_items WHERE order_id = %s"
        " AND order_item_id = 1",
        hid("o1"),
    ) == (Decimal("100.00"), "t2")
    # Bad values are NULL, named, and counted; the row stays.
    bad = one(
        s,
        "SELECT payment_type, payment_value, invalid_fields FROM staging.order_payments"
        " WHERE order_id = %s AND payment_sequential = 2",
        hid("o5"),
    )
    assert bad == (None, None, "payment_type,payment_value")
    stats = dict(
        ((t, m), v)
        for t, m, v in q(
            s,
            "SELECT table_name, metric, value FROM audit.transform_stats"
            " WHERE run_id = 'fixture-run-1' AND layer = 'staging'",
        )
    )
    assert stats[("order_items", "duplicates_removed")] == 1
    assert stats[("order_items", "dropped_sum_price")] == Decimal("99.00")
    assert stats[("order_payments", "invalid_payment_type")] == 1
    assert stats[("order_payments", "invalid_payment_value")] == 1
    assert stats[("geolocation", "duplicates_removed")] == 1
    assert stats[("geolocation", "outside_brazil")] == 1
    assert stats[("orders", "flag_carrier_before_purchase")] == 1
    assert (
        one(
            s,
            "SELECT flag_carrier_before_purchase AND has_lifecycle_anomaly FROM staging.orders"
            " WHERE order_id = %s",
            hid("o4"),
        )
        is True
    )
    assert (
        one(s, "SELECT product_weight_g FROM staging.products WHERE product_id = %s", hid("pA"))
        == 500
    )


def test_dimensions(built: Settings) -> None:
    s = built
    # SCD2: U1 moved from SP to RJ between its two orders.
    versions = q(
        s,
        "SELECT version, state, valid_from, valid_to, is_current FROM"
        " warehouse.dim_customer WHERE customer_unique_id = %s ORDER BY version",
        hid("U1"),
    )
    assert versions == [
        (1, "SP", datetime(1900, 1, 1), datetime(2018, 3, 1, 9), False),
        (2, "RJ", datetime(2018, 3, 1, 9), datetime(9999, 12, 31), True),
    ]
    o1_state, o2_state = (
        one(
            s,
            "SELECT c.state FROM warehouse.fact_orders f JOIN warehouse.dim_customer c"
            " USING (customer_key) WHERE order_id = %s",
            hid(o),
        )
        for o in ("o1", "o2")
    )
    assert (o1_state, o2_state) == ("SP", "RJ")
    geo = q(
        s,
        "SELECT zip_code_prefix, latitude, longitude, city, points,"
        " points_removed_outside_brazil FROM warehouse.dim_geolocation ORDER BY 1",
    )
    assert geo[0] == ("01037", -23.55, -46.64, "sao paulo", 2, 1)
    assert [g[0] for g in geo] == ["01037", "20000", "30100", "53990", "unknown"]
    cats = dict(q(s, "SELECT product_id, category_name_english FROM warehouse.dim_product"))
    assert cats[hid("pA")] == "health_beauty"
    assert cats[hid("pB")] == "pc_gamer"  # untranslated: Portuguese name kept
    assert cats[hid("pC")] == "unknown"
    # Unknown member in every dimension.
    for dim, key in (
        ("dim_customer", "customer_key"),
        ("dim_seller", "seller_key"),
        ("dim_product", "product_key"),
        ("dim_date", "date_key"),
        ("dim_geolocation", "geolocation_key"),
    ):
        assert one(s, f"SELECT count(*) FROM warehouse.{dim} WHERE {key} = -1") == 1
    # c5's zip has no geolocation: unknown member.
    assert (
        one(
            s,
            "SELECT geolocation_key FROM warehouse.dim_customer WHERE customer_unique_id = %s",
            hid("U4"),
        )
        == -1
    )
    cal = dict(
        q(
            s,
            "SELECT full_date::text, holiday_name FROM warehouse.dim_date WHERE is_holiday"
            " AND year = 2018",
        )
    )
    assert cal["2018-02-12"] == "Carnaval (segunda-feira)"
    assert cal["2018-03-30"] == "Sexta-feira Santa"
    assert cal["2018-05-31"] == "Corpus Christi"
    assert one(
        s, "SELECT full_date::text FROM warehouse.dim_date WHERE is_black_friday AND year = 2018"
    ) == ("2018-11-23")


def test_facts_grain_joins_and_money(built: Settings) -> None:
    s = built
    # Orphan item (order o9 unknown): kept with unknown customer and date.
    assert one(
        s,
        "SELECT customer_key, purchase_date_key, seller_key FROM warehouse.fact_order_items"
        " WHERE order_id = %s",
        hid("o9"),
    )[:2] == (-1, -1)
    o = one(
        s,
        "SELECT items, items_value, freight_value, payment_value, is_on_time,"
        " delivery_delay_days, has_lifecycle_anomaly FROM warehouse.fact_orders"
        " WHERE order_id = %s",
        hid("o2"),
    )
    assert o == (2, Decimal("130.00"), Decimal("23.00"), Decimal("153.00"), False, 5, False)
    assert one(s, "SELECT sum(payment_value) FROM warehouse.fact_payments") == Decimal("527.00")
    assert one(s, "SELECT sum(price + freight_value) FROM warehouse.fact_order_items") == Decimal(
        "538.00"
    )
    # Marts: everything but the orphan item (11.00), which is counted as excluded.
    assert one(s, "SELECT sum(gmv) FROM marts.sales_daily") == Decimal("527.00")
    assert one(s, "SELECT sum(gmv) FROM marts.sales_monthly") == Decimal("527.00")
    excl = dict(
        q(
            s,
            "SELECT metric, value FROM audit.transform_stats WHERE layer = 'marts'"
            " AND table_name = 'sales_daily'",
        )
    )
    assert (excl["excluded_items"], excl["excluded_gmv"]) == (1, Decimal("11.00"))


def test_rfm_scorecard_and_lift_match_hand_computation(built: Settings) -> None:
    """RFM: reference date 2018-03-11 (day after the newest purchase). Counted
    orders o1, o2 (U1), o4 (U3), o5 (U4); o3 is canceled so U2 is absent.
    recency U1 10, U3 24, U4 1; frequency 2, 1, 1; monetary 318, 110, 44.
    Scores (1 + floor(5 * strictly-worse / 3)): R 2, 1, 4; F 4, 1, 1; M 4, 2, 1.
    """
    s = built
    rfm = {
        r[0]: r[1:]
        for r in q(
            s,
            "SELECT customer_unique_id, recency_days, frequency, monetary, r_score,"
            " f_score, m_score, segment, reference_date::text FROM marts.customer_rfm",
        )
    }
    assert rfm == {
        hid("U1"): (10, 2, Decimal("318.00"), 2, 4, 4, "cannot_lose_them", "2018-03-11"),
        hid("U3"): (24, 1, Decimal("110.00"), 1, 1, 2, "lost", "2018-03-11"),
        hid("U4"): (1, 1, Decimal("44.00"), 4, 1, 1, "potential_loyalists", "2018-03-11"),
    }
    card = {
        r[0]: r[1:]
        for r in q(
            s,
            "SELECT seller_id, orders, items, item_revenue, freight_value, gmv,"
            " on_time_pct, reviews, avg_review_score, cancellation_rate, freight_ratio"
            " FROM marts.seller_scorecard",
        )
    }
    assert card == {
        hid("s1"): (
            4,
            5,
            Decimal("290.00"),
            Decimal("29.00"),
            Decimal("319.00"),
            1.0,
            3,
            3.333333,
            0.25,
            0.1,
        ),
        hid("s2"): (
            3,
            4,
            Decimal("190.00"),
            Decimal("29.00"),
            Decimal("219.00"),
            0.5,
            2,
            3.0,
            0.0,
            0.152632,
        ),
    }
    pairs = {
        (r[0], r[1]): r[2:]
        for r in q(
            s,
            "SELECT product_id, other_product_id, pair_orders, support, confidence, lift"
            " FROM marts.copurchase_pairs",
        )
    }
    a, b, c = hid("pA"), hid("pB"), hid("pC")
    assert pairs == {
        (a, b): (2, 0.333333, 0.5, 1.0),
        (b, a): (2, 0.333333, 0.666667, 1.0),
        (a, c): (1, 0.166667, 0.25, 0.75),
        (c, a): (1, 0.166667, 0.5, 0.75),
    }
    # Baskets of known categories: o1 {hb, pg}, o2 {hb} (pC has no category), o3 {pg},
    # o4 {hb, pg}, o9 {hb} (its order is missing; its item is kept); o5 holds only pC.
    # N = 5, n(hb) = 4, n(pg) = 3, n(hb, pg) = 2: lift = 2 * 5 / (4 * 3).
    category_pairs = {
        (r[0], r[1]): r[2:]
        for r in q(
            s,
            "SELECT product_category, other_category, pair_orders, category_orders,"
            " other_orders, total_orders, support, confidence, lift"
            " FROM marts.category_copurchase_pairs",
        )
    }
    assert category_pairs == {
        ("health_beauty", "pc_gamer"): (2, 4, 3, 5, 0.4, 0.5, 0.833333),
        ("pc_gamer", "health_beauty"): (2, 3, 4, 5, 0.4, 0.666667, 0.833333),
    }


def test_report_ranks_only_pairs_above_the_minimum_support(built: Settings) -> None:
    from olist_pipeline.report.report import MIN_PAIR_ORDERS, top_pairs

    a, b = sorted([hid("pA"), hid("pB")])
    c, d = sorted([hid("pA"), hid("pC")])
    with connect(built, Role.READER) as conn:
        # Each pair once; (pA, pC) is held by one order only and falls below a floor of 2.
        assert top_pairs(conn, "product", min_orders=1) == [(a, b, 1.0, 2), (c, d, 0.75, 1)]
        assert top_pairs(conn, "product", min_orders=2) == [(a, b, 1.0, 2)]
        assert top_pairs(conn, "category", min_orders=2) == [
            ("health_beauty", "pc_gamer", 0.833333, 2)
        ]
        # Two orders are below the stated floor: the report ranks and charts nothing here.
        assert MIN_PAIR_ORDERS > 2
        assert top_pairs(conn, "product") == top_pairs(conn, "category") == []


def _checksums(settings: Settings) -> dict[str, tuple[int, str]]:
    out = {}
    for layer, tables in TABLES.items():
        for t in tables:
            out[f"{layer}.{t}"] = one(
                settings,
                f"SELECT count(*), coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '')"
                f" FROM {layer}.{t} x",
            )
    return out


def test_rerun_changes_no_row(built: Settings) -> None:
    before = _checksums(built)
    run_layers(built, LAYERS, "fixture-run-1")
    assert _checksums(built) == before
    attempts = q(built, "SELECT step, attempt, status FROM audit.step_runs ORDER BY step")
    assert attempts == [
        ("transform.marts", 2, "succeeded"),
        ("transform.staging", 2, "succeeded"),
        ("transform.warehouse", 2, "succeeded"),
    ]
    # No run-scoped tables are left behind.
    assert one(built, "SELECT count(*) FROM pg_tables WHERE tablename LIKE %s", "%\\_\\_r\\_%") == 0


CITY_SAMPLES = [
    "sao paulo", "São Paulo", "sao paulo - sp", "sao paulo / sao paulo", "sp / sp", "sbc/sp",
    "rio de janeiro \\rio de janeiro", "novo hamburgo, rio grande do sul, brasil", "sao  paulo",
    "  Ribeirão Preto  ", "santa barbara d\u00b4oeste", "embu-guaçu", "vendas@creditparts.com.br",
    "04482255", "", None, "mogi das cruzes (sp)", "SÃO JOÃO DEL-REI",
]  # fmt: skip


def test_spark_city_rule_matches_python_rule(built: Settings) -> None:
    """The Spark expression and the documented Python function agree."""
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    from olist_pipeline.transform import expressions as X
    from olist_pipeline.transform import rules

    spark = SparkSession.getActiveSession()
    assert spark is not None
    df = spark.createDataFrame([(c,) for c in CITY_SAMPLES], "c string")
    got = {r[0]: r[1] for r in df.select("c", X.city(F.col("c"))).collect()}
    assert got == {c: rules.normalise_city(c) for c in CITY_SAMPLES}
    zips = ["01037", "1037", " 53990 ", "abc", "123456", None]
    zdf = spark.createDataFrame([(z,) for z in zips], "z string")
    assert {r[0]: r[1] for r in zdf.select("z", X.zip_prefix(F.col("z"))).collect()} == {
        z: rules.normalise_zip(z) for z in zips
    }
