"""A tiny hand-written Olist data set for the transform tests, loaded straight
into raw partitions the way the loader does (one partition per batch), with
the expected marts computed by hand in the docstrings of the tests."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from psycopg import sql

from olist_pipeline.config import Role, Settings
from olist_pipeline.contracts.sources import contract_for
from olist_pipeline.db import connect


def hid(name: str) -> str:
    """A valid 32-hex id for a readable fixture name (o1, U1, pA, s1...)."""
    return hashlib.md5(name.encode()).hexdigest()


def load_raw(
    settings: Settings,
    table: str,
    rows: Iterable[Mapping[str, str | None]],
    batch_id: str,
    loaded_at: datetime,
) -> int:
    """COPY rows into a new partition raw.<table>__<batch_id> as the loader."""
    contract = contract_for(table)
    part = sql.Identifier("raw", f"{table}__{batch_id}")
    parent = sql.Identifier("raw", table)
    cols = [*contract.header, "_batch_id", "_source_file", "_row_number", "_loaded_at"]
    n = 0
    with connect(settings, Role.LOADER) as conn, conn.transaction():
        conn.execute(sql.SQL("CREATE TABLE {} (LIKE {})").format(part, parent))
        copy = sql.SQL("COPY {} ({}) FROM STDIN").format(
            part, sql.SQL(", ").join(map(sql.Identifier, cols))
        )
        with conn.cursor() as cur, cur.copy(copy) as cp:
            for n, row in enumerate(rows, start=1):
                cp.write_row(
                    [
                        *(row.get(c) for c in contract.header),
                        batch_id,
                        contract.file_name,
                        n,
                        loaded_at,
                    ]
                )
        conn.execute(
            sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES IN ({})").format(
                parent, part, sql.Literal(batch_id)
            )
        )
        # The manifest row the loader writes with every partition: the
        # transform takes in what the manifest lists as succeeded.
        conn.execute(
            "INSERT INTO audit.batches (table_name, batch_id, status, source_file, source_path,"
            " sha256, size_bytes, run_id, load_path, partition_name, source_rows, loaded_rows,"
            " quarantined_rows, reconciled, started_at, finished_at, duration_ms)"
            " VALUES (%s, %s, 'succeeded', %s, 'fixture', %s, 0, 'fixture', 'copy', %s,"
            " %s, %s, 0, true, %s, %s, 0)",
            (
                table,
                batch_id,
                contract.file_name,
                hashlib.sha256(batch_id.encode()).hexdigest(),
                f"{table}__{batch_id}",
                n,
                n,
                loaded_at,
                loaded_at,
            ),
        )
    return n


def _d(**kw: str | None) -> dict[str, str | None]:
    return kw


T1 = datetime(2024, 1, 1, tzinfo=UTC)
T2 = datetime(2024, 1, 2, tzinfo=UTC)

CUSTOMERS = [
    _d(
        customer_id=hid("c1"),
        customer_unique_id=hid("U1"),
        customer_zip_code_prefix="1037",
        customer_city="São Paulo - SP",
        customer_state="sp",
    ),
    _d(
        customer_id=hid("c2"),
        customer_unique_id=hid("U1"),
        customer_zip_code_prefix="20000",
        customer_city="rio de janeiro",
        customer_state="RJ",
    ),
    _d(
        customer_id=hid("c3"),
        customer_unique_id=hid("U2"),
        customer_zip_code_prefix="30100",
        customer_city="belo  horizonte",
        customer_state="MG",
    ),
    _d(
        customer_id=hid("c4"),
        customer_unique_id=hid("U3"),
        customer_zip_code_prefix="01037",
        customer_city="sao paulo",
        customer_state="SP",
    ),
    _d(
        customer_id=hid("c5"),
        customer_unique_id=hid("U4"),
        customer_zip_code_prefix="99999",
        customer_city="sbc/sp",
        customer_state="SP",
    ),
]

ORDERS = [
    _d(
        order_id=hid("o1"),
        customer_id=hid("c1"),
        order_status="delivered",
        order_purchase_timestamp="2018-01-10 10:00:00",
        order_approved_at="2018-01-10 11:00:00",
        order_delivered_carrier_date="2018-01-11 08:00:00",
        order_delivered_customer_date="2018-01-15 16:00:00",
        order_estimated_delivery_date="2018-01-20 00:00:00",
    ),
    _d(
        order_id=hid("o2"),
        customer_id=hid("c2"),
        order_status="delivered",
        order_purchase_timestamp="2018-03-01 09:00:00",
        order_approved_at="2018-03-01 09:30:00",
        order_delivered_carrier_date="2018-03-05 10:00:00",
        order_delivered_customer_date="2018-03-25 10:00:00",
        order_estimated_delivery_date="2018-03-20 00:00:00",
    ),
    _d(
        order_id=hid("o3"),
        customer_id=hid("c3"),
        order_status="canceled",
        order_purchase_timestamp="2018-02-01 12:00:00",
        order_approved_at=None,
        order_delivered_carrier_date=None,
        order_delivered_customer_date=None,
        order_estimated_delivery_date="2018-02-20 00:00:00",
    ),
    _d(
        order_id=hid("o4"),
        customer_id=hid("c4"),
        order_status="delivered",
        order_purchase_timestamp="2018-02-15 14:00:00",
        order_approved_at="2018-02-15 15:00:00",
        order_delivered_carrier_date="2018-02-14 10:00:00",
        order_delivered_customer_date="2018-02-20 10:00:00",
        order_estimated_delivery_date="2018-02-28 00:00:00",
    ),
    _d(
        order_id=hid("o5"),
        customer_id=hid("c5"),
        order_status="shipped",
        order_purchase_timestamp="2018-03-10 12:00:00",
        order_approved_at="2018-03-10 12:10:00",
        order_delivered_carrier_date="2018-03-11 12:00:00",
        order_delivered_customer_date=None,
        order_estimated_delivery_date="2018-04-01 00:00:00",
    ),
]


def _item(o: str, i: int, p: str, s: str, price: str, freight: str) -> dict[str, str | None]:  # noqa: PLR0917
    return _d(
        order_id=hid(o),
        order_item_id=str(i),
        product_id=hid(p),
        seller_id=hid(s),
        shipping_limit_date="2018-01-12 10:00:00",
        price=price,
        freight_value=freight,
    )


ITEMS_T1 = [
    _item("o1", 1, "pA", "s1", "99.00", "10.00"),  # replaced by batch t2
    _item("o1", 2, "pB", "s1", "50.00", "5.00"),
    _item("o2", 1, "pA", "s2", "100.00", "20.00"),
    _item("o2", 2, "pC", "s2", "30.00", "3.00"),
    _item("o3", 1, "pB", "s1", "50.00", "5.00"),
    _item("o4", 1, "pA", "s1", "80.00", "8.00"),
    _item("o4", 2, "pB", "s2", "20.00", "2.00"),
    _item("o5", 1, "pC", "s2", "40.00", "4.00"),
    _item("o9", 1, "pA", "s1", "10.00", "1.00"),  # its order is missing
]
ITEMS_T2 = [_item("o1", 1, "pA", "s1", "100.00", "10.00")]

PAYMENTS = [
    _d(
        order_id=hid("o1"),
        payment_sequential="1",
        payment_type="credit_card",
        payment_installments="2",
        payment_value="165.00",
    ),
    _d(
        order_id=hid("o2"),
        payment_sequential="1",
        payment_type="boleto",
        payment_installments="1",
        payment_value="153.00",
    ),
    _d(
        order_id=hid("o3"),
        payment_sequential="1",
        payment_type="credit_card",
        payment_installments="1",
        payment_value="55.00",
    ),
    _d(
        order_id=hid("o4"),
        payment_sequential="1",
        payment_type="voucher",
        payment_installments="1",
        payment_value="50.00",
    ),
    _d(
        order_id=hid("o4"),
        payment_sequential="2",
        payment_type="credit_card",
        payment_installments="1",
        payment_value="60.00",
    ),
    _d(
        order_id=hid("o5"),
        payment_sequential="1",
        payment_type="debit_card",
        payment_installments="1",
        payment_value="44.00",
    ),
    _d(
        order_id=hid("o5"),
        payment_sequential="2",
        payment_type="bitcoin",
        payment_installments="1",
        payment_value="abc",
    ),
]

REVIEWS = [
    _d(
        review_id=hid("r1"),
        order_id=hid("o1"),
        review_score="5",
        review_comment_title=None,
        review_comment_message="ótimo",
        review_creation_date="2018-01-16 00:00:00",
        review_answer_timestamp="2018-01-17 10:00:00",
    ),
    _d(
        review_id=hid("r2"),
        order_id=hid("o2"),
        review_score="2",
        review_comment_title=None,
        review_comment_message=None,
        review_creation_date="2018-03-26 00:00:00",
        review_answer_timestamp="2018-03-27 10:00:00",
    ),
    _d(
        review_id=hid("r3"),
        order_id=hid("o4"),
        review_score="4",
        review_comment_title=None,
        review_comment_message=None,
        review_creation_date="2018-02-21 00:00:00",
        review_answer_timestamp="2018-02-21 12:00:00",
    ),
    _d(
        review_id=hid("r4"),
        order_id=hid("o3"),
        review_score="1",
        review_comment_title="ruim",
        review_comment_message=None,
        review_creation_date="2018-02-02 00:00:00",
        review_answer_timestamp="2018-02-03 00:00:00",
    ),
]

PRODUCTS = [
    _d(
        product_id=hid("pA"),
        product_category_name="beleza_saude",
        product_name_lenght="40",
        product_description_lenght="300",
        product_photos_qty="1",
        product_weight_g="500.0",
        product_length_cm="20",
        product_height_cm="10",
        product_width_cm="15",
    ),
    _d(
        product_id=hid("pB"),
        product_category_name="pc_gamer",
        product_name_lenght="40",
        product_description_lenght="300",
        product_photos_qty="2",
        product_weight_g="900",
        product_length_cm="20",
        product_height_cm="10",
        product_width_cm="15",
    ),
    _d(
        product_id=hid("pC"),
        product_category_name=None,
        product_name_lenght=None,
        product_description_lenght=None,
        product_photos_qty=None,
        product_weight_g="100",
        product_length_cm="20",
        product_height_cm="10",
        product_width_cm="15",
    ),
]

SELLERS = [
    _d(
        seller_id=hid("s1"),
        seller_zip_code_prefix="01037",
        seller_city="sao paulo - sp",
        seller_state="SP",
    ),
    _d(
        seller_id=hid("s2"),
        seller_zip_code_prefix="20000",
        seller_city="rio de janeiro \\rio de janeiro",
        seller_state="RJ",
    ),
]

TRANSLATION = [
    _d(product_category_name="beleza_saude", product_category_name_english="health_beauty")
]


def _geo(z: str, lat: str, lng: str, city: str, st: str) -> dict[str, str | None]:
    return _d(
        geolocation_zip_code_prefix=z,
        geolocation_lat=lat,
        geolocation_lng=lng,
        geolocation_city=city,
        geolocation_state=st,
    )


GEO = [
    _geo("01037", "-23.54", "-46.63", "sao paulo", "SP"),
    _geo("01037", "-23.54", "-46.63", "sao paulo", "SP"),  # exact duplicate
    _geo("01037", "-23.56", "-46.65", "são paulo", "SP"),
    _geo("01037", "41.61", "-8.41", "sao paulo", "SP"),  # lands in Portugal
    _geo("20000", "-22.90", "-43.20", "rio de janeiro", "RJ"),
    _geo("30100", "-19.90", "-43.90", "belo horizonte", "MG"),
    _geo("53990", "-3.85", "-32.42", "fernando de noronha", "PE"),
]


def load_fixture(settings: Settings) -> None:
    load_raw(settings, "customers", CUSTOMERS, "t1", T1)
    load_raw(settings, "orders", ORDERS, "t1", T1)
    load_raw(settings, "order_items", ITEMS_T1, "t1", T1)
    load_raw(settings, "order_items", ITEMS_T2, "t2", T2)
    load_raw(settings, "order_payments", PAYMENTS, "t1", T1)
    load_raw(settings, "order_reviews", REVIEWS, "t1", T1)
    load_raw(settings, "products", PRODUCTS, "t1", T1)
    load_raw(settings, "sellers", SELLERS, "t1", T1)
    load_raw(settings, "category_translation", TRANSLATION, "t1", T1)
    load_raw(settings, "geolocation", GEO, "t1", T1)
