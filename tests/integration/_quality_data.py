"""Small hand-made Olist data for the quality tests, loaded the way each layer's owner does.

``clean()`` is a consistent little data set (every order has items, payments
equal items + freight, every zip is in geolocation ...); ``quirky()`` switches
on one instance of each known quirk, and ``QUIRKS`` says what each named
check must observe on it. Rows are dicts keyed by contract column; raw rows
are loaded as the loader (one partition per batch plus its manifest row),
staging rows as the transformer.
"""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from olist_pipeline.config import Role, Settings
from olist_pipeline.contracts.sources import contract_for
from olist_pipeline.db import connect

Rows = dict[str, list[dict[str, str | None]]]


def hid(label: str) -> str:
    return hashlib.md5(label.encode()).hexdigest()


def clean() -> Rows:
    o = {i: hid(f"order{i}") for i in range(1, 7)}
    c = {i: hid(f"cust{i}") for i in range(1, 7)}
    p = {i: hid(f"prod{i}") for i in range(1, 11)}
    s = {i: hid(f"sell{i}") for i in range(1, 3)}
    zips = {1: "01037", 2: "20040", 3: "30130", 4: "40010", 5: "80010", 6: "01310"}

    def order(  # noqa: PLR0917
        i: int,
        status: str,
        purchase: str,
        approved: str | None,
        carrier: str | None,
        delivered: str | None,
    ) -> dict[str, str | None]:
        return {
            "order_id": o[i],
            "customer_id": c[i],
            "order_status": status,
            "order_purchase_timestamp": purchase,
            "order_approved_at": approved,
            "order_delivered_carrier_date": carrier,
            "order_delivered_customer_date": delivered,
            "order_estimated_delivery_date": "2018-02-20 00:00:00",
        }

    orders = [
        order(1, "delivered", "2018-01-02 10:00:00", "2018-01-02 11:00:00",
              "2018-01-03 09:00:00", "2018-01-08 15:00:00"),
        order(2, "delivered", "2018-01-02 18:30:00", "2018-01-02 19:00:00",
              "2018-01-04 09:00:00", "2018-01-09 12:00:00"),
        order(3, "delivered", "2018-01-03 08:00:00", "2018-01-03 08:10:00",
              "2018-01-04 10:00:00", "2018-01-10 10:00:00"),
        order(4, "shipped", "2018-01-04 12:00:00", "2018-01-04 12:30:00",
              "2018-01-05 10:00:00", None),
        order(5, "invoiced", "2018-01-04 20:00:00", "2018-01-04 21:00:00", None, None),
    ]  # fmt: skip
    customers = [
        {
            "customer_id": c[i],
            "customer_unique_id": hid(f"person{min(i, 4)}"),  # customers 4 and 5: one person
            "customer_zip_code_prefix": zips[i],
            "customer_city": "sao paulo",
            "customer_state": "SP",
        }
        for i in range(1, 6)
    ]
    geolocation = [
        {
            "geolocation_zip_code_prefix": z,
            "geolocation_lat": "-23.54",
            "geolocation_lng": "-46.63",
            "geolocation_city": "sao paulo",
            "geolocation_state": "SP",
        }
        for z in sorted(set(zips.values()))
    ]
    items = [
        (1, 1, 1, 1, "59.90", "15.10"),
        (1, 2, 2, 2, "20.00", "5.00"),
        (2, 1, 3, 1, "100.00", "20.00"),
        (3, 1, 1, 2, "59.90", "10.00"),
        (4, 1, 4, 1, "35.00", "7.78"),
        (5, 1, 5, 2, "12.50", "3.00"),
    ]
    order_items = [
        {
            "order_id": o[oi],
            "order_item_id": str(n),
            "product_id": p[pi],
            "seller_id": s[si],
            "shipping_limit_date": "2018-01-10 00:00:00",
            "price": price,
            "freight_value": freight,
        }
        for oi, n, pi, si, price, freight in items
    ]
    due: dict[int, Decimal] = {}
    for oi, _, _, _, price, freight in items:
        due[oi] = due.get(oi, Decimal(0)) + Decimal(price) + Decimal(freight)
    payments = [
        {
            "order_id": o[i],
            "payment_sequential": "1",
            "payment_type": "credit_card" if i % 2 else "boleto",
            "payment_installments": "2" if i % 2 else "1",
            "payment_value": f"{due[i]:.2f}",
        }
        for i in range(1, 6)
    ]
    reviews = [
        {
            "review_id": hid(f"review{i}"),
            "order_id": o[i],
            "review_score": str(1 + i % 5),
            "review_comment_title": None,
            "review_comment_message": "chegou antes do prazo" if i % 2 else None,
            "review_creation_date": "2018-01-11 00:00:00",
            "review_answer_timestamp": "2018-01-12 10:00:00",
        }
        for i in range(1, 4)
    ]
    products = [
        {
            "product_id": p[i],
            "product_category_name": "cama_mesa_banho" if i % 2 else "esporte_lazer",
            "product_name_lenght": "40",
            "product_description_lenght": "300",
            "product_photos_qty": "1",
            "product_weight_g": "700",
            "product_length_cm": "25",
            "product_height_cm": "13",
            "product_width_cm": "20",
        }
        for i in range(1, 6)
    ]
    sellers = [
        {
            "seller_id": s[i],
            "seller_zip_code_prefix": zips[i],
            "seller_city": "sao paulo",
            "seller_state": "SP",
        }
        for i in (1, 2)
    ]
    translation = [
        {"product_category_name": "cama_mesa_banho", "product_category_name_english": "bed_bath"},
        {"product_category_name": "esporte_lazer", "product_category_name_english": "sports"},
    ]
    return {
        "customers": customers,
        "geolocation": geolocation,
        "order_items": order_items,
        "order_payments": payments,
        "order_reviews": reviews,
        "orders": orders,
        "products": products,
        "sellers": sellers,
        "category_translation": translation,
    }


# (table, check) -> observed on quirky() data
QUIRKS: dict[tuple[str, str], int] = {
    ("raw.order_reviews", "duplicate_review_ids"): 1,
    ("raw.order_reviews", "orders_with_several_reviews"): 1,
    ("raw.order_reviews", "review_before_purchase"): 1,
    ("raw.orders", "orders_without_items"): 1,
    ("raw.orders", "orders_without_payments"): 1,
    ("raw.orders", "carrier_before_purchase"): 1,
    ("raw.orders", "carrier_before_approval"): 1,
    ("raw.orders", "canceled_with_delivery_date"): 1,
    ("raw.orders", "delivered_without_delivery_date"): 1,
    ("raw.order_payments", "not_defined_payments"): 1,
    ("raw.order_payments", "zero_payments"): 2,
    ("raw.order_payments", "zero_installments"): 1,
    ("raw.order_payments", "payment_sequential_gaps"): 1,
    ("raw.order_payments", "payments_differ_from_items"): 1,
    ("raw.order_items", "zero_freight"): 1,
    ("raw.products", "untranslated_categories"): 2,
    ("raw.products", "null_category"): 1,
    ("raw.products", "zero_weight"): 1,
    ("raw.geolocation", "out_of_country"): 2,
    ("raw.geolocation", "exact_duplicates"): 1,
    ("raw.geolocation", "zip_prefix_in_several_states"): 1,
    ("raw.customers", "zip_not_in_geolocation"): 1,
    ("raw.sellers", "city_not_plain"): 1,
}


def quirky() -> Rows:
    d = copy.deepcopy(clean())
    orders = {r["order_id"]: r for r in d["orders"]}
    o = {i: hid(f"order{i}") for i in range(1, 7)}
    # reviews: one review text attached to two orders; order 2 reviewed twice;
    # order 1 reviewed the day before it was bought
    d["order_reviews"].append({**d["order_reviews"][0], "order_id": o[2]})
    d["order_reviews"][0]["review_creation_date"] = "2018-01-01 00:00:00"
    # an unavailable order without items or payments, whose customer's zip is unknown
    d["orders"].append(
        {
            "order_id": o[6],
            "customer_id": hid("cust6"),
            "order_status": "unavailable",
            "order_purchase_timestamp": "2018-01-05 09:00:00",
            "order_approved_at": "2018-01-05 09:30:00",
            "order_delivered_carrier_date": None,
            "order_delivered_customer_date": None,
            "order_estimated_delivery_date": "2018-02-20 00:00:00",
        }
    )
    d["customers"].append(
        {
            "customer_id": hid("cust6"),
            "customer_unique_id": hid("person6"),
            "customer_zip_code_prefix": "99999",
            "customer_city": "sao paulo",
            "customer_state": "SP",
        }
    )
    # lifecycle: order 3 handed to the carrier the day before purchase (and so
    # before approval); order 4 canceled after delivery; order 5 delivered
    # without a delivery date
    orders[o[3]]["order_delivered_carrier_date"] = "2018-01-02 08:00:00"
    orders[o[4]].update(
        order_status="canceled", order_delivered_customer_date="2018-01-09 10:00:00"
    )
    orders[o[5]]["order_status"] = "delivered"
    # payments: a 0.00 not_defined one and a 0.00 voucher on order 1; order 2
    # with 0 installments; order 3 paid 10.00 more than due, as sequential 2 only
    pays = d["order_payments"]
    pays.append({**pays[0], "payment_sequential": "2", "payment_type": "not_defined",
                 "payment_installments": "1", "payment_value": "0.00"})  # fmt: skip
    pays.append({**pays[0], "payment_sequential": "3", "payment_type": "voucher",
                 "payment_installments": "1", "payment_value": "0.00"})  # fmt: skip
    pays[1]["payment_installments"] = "0"
    pays[2]["payment_sequential"] = "2"
    pays[2]["payment_value"] = f"{Decimal(str(pays[2]['payment_value'])) + 10:.2f}"
    # free freight on order 5's item, and its payment follows
    d["order_items"][5]["freight_value"] = "0.00"
    pays[4]["payment_value"] = "12.50"
    # products: two untranslated categories, one without a category, one weighing 0 g
    base = d["products"][0]
    d["products"] += [
        {**base, "product_id": hid("prod9"), "product_category_name": "pc_gamer",
         "product_weight_g": "0"},
        {**base, "product_id": hid("prod8"),
         "product_category_name": "portateis_cozinha_e_preparadores_de_alimentos"},
        {**base, "product_id": hid("prod10"), "product_category_name": None},
    ]  # fmt: skip
    # geolocation: points in the Philippines and Portugal, an exact duplicate,
    # a prefix in two states
    geo = d["geolocation"]
    geo += [
        {**geo[0], "geolocation_zip_code_prefix": "95130", "geolocation_lat": "14.59",
         "geolocation_lng": "121.11", "geolocation_state": "RS"},
        {**geo[0], "geolocation_zip_code_prefix": "28165", "geolocation_lat": "41.61",
         "geolocation_lng": "-8.41", "geolocation_state": "RJ"},
        dict(geo[1]),
        {**geo[2], "geolocation_state": "MG", "geolocation_lat": "-19.9"},
    ]  # fmt: skip
    d["sellers"][1]["seller_city"] = "sao paulo - sp"
    return d


def load_raw(
    settings: Settings,
    rows: Rows,
    *,
    run_id: str = "run-1",
    batch_suffix: str = "b1",
    loaded_at: datetime | None = None,
) -> dict[str, str]:
    """Load each table as one raw batch with its manifest row, as the loader does."""
    loaded_at = loaded_at or datetime.now(UTC)
    batches: dict[str, str] = {}
    with connect(settings, Role.LOADER) as conn:
        for table, table_rows in rows.items():
            contract = contract_for(table)
            batch = f"{table}-{batch_suffix}"
            part = f"{table}__{batch_suffix}"
            conn.execute(f"CREATE TABLE raw.{part} (LIKE raw.{table} INCLUDING DEFAULTS)")
            cols = [*contract.header, "_batch_id", "_source_file", "_row_number", "_loaded_at"]
            with conn.cursor().copy(f"COPY raw.{part} ({', '.join(cols)}) FROM STDIN") as cp:
                for n, r in enumerate(table_rows, start=1):
                    cp.write_row(
                        [*(r[c] for c in contract.header), batch, contract.file_name, n, loaded_at]
                    )
            conn.execute(
                f"ALTER TABLE raw.{table} ATTACH PARTITION raw.{part} FOR VALUES IN ('{batch}')"
            )
            conn.execute(
                "INSERT INTO audit.batches (table_name, batch_id, status, source_file, source_path,"
                " sha256, size_bytes, run_id, load_path, partition_name, source_rows, loaded_rows,"
                " quarantined_rows, reconciled, started_at, finished_at, duration_ms)"
                " VALUES (%s, %s, 'succeeded', %s, %s, %s, 0, %s, 'copy', %s, %s, %s, 0, true,"
                " now(), now(), 1)",
                (
                    table,
                    batch,
                    contract.file_name,
                    f"/data/{contract.file_name}",
                    hid(batch),
                    run_id,
                    part,
                    len(table_rows),
                    len(table_rows),
                ),
            )
            batches[table] = batch
    return batches


def _typed(value: str | None, kind: str) -> Any:
    if value is None:
        return None
    if kind == "int":
        return int(value)
    if kind == "money":
        return Decimal(value)
    if kind == "float":
        return float(value)
    if kind == "timestamp":
        return datetime.fromisoformat(value)
    return value


def load_staging(settings: Settings, rows: Rows, *, run_id: str = "run-1") -> None:
    """Staging as the transform would build it from these rows (no duplicates in them)."""
    with connect(settings, Role.TRANSFORMER) as conn:
        for table, table_rows in rows.items():
            contract = contract_for(table)
            extra: dict[str, Any] = {"_batch_id": f"{table}-b1"}
            if table == "orders":
                extra.update(
                    {
                        f: False
                        for f in (
                            "flag_approved_before_purchase",
                            "flag_carrier_before_purchase",
                            "flag_carrier_before_approval",
                            "flag_delivered_before_approval",
                            "flag_delivered_before_carrier",
                            "flag_delivered_without_date",
                            "flag_canceled_with_delivery",
                            "has_lifecycle_anomaly",
                        )
                    }
                )
            elif table == "order_reviews":
                extra["flag_answer_before_creation"] = False
            elif table == "geolocation":
                extra["in_brazil"] = True
            cols = [*contract.header, *extra, "_row_number"]
            with conn.cursor().copy(f"COPY staging.{table} ({', '.join(cols)}) FROM STDIN") as cp:
                for n, r in enumerate(table_rows, start=1):
                    values = [_typed(r[c.name], c.type.value) for c in contract.columns]
                    cp.write_row([*values, *extra.values(), n])
            conn.execute(
                "INSERT INTO audit.transform_stats (run_id, layer, table_name, metric, value)"
                " VALUES (%s, 'staging', %s, 'duplicates_removed', 0),"
                " (%s, 'staging', %s, 'rejected_null_key', 0)",
                (run_id, table, run_id, table),
            )
