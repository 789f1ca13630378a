"""Contracts of the 9 Olist source files: header, types, keys, nulls, dialect.

This is the one place that knows what a source file looks like. The reader,
the generator, the raw-table migrations, ingestion and the schema checks all
read it, and a unit test keeps the raw DDL in step with it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class LogicalType(enum.StrEnum):
    ID = "id"  # 32 lowercase hex characters
    TEXT = "text"
    INT = "int"
    MONEY = "money"  # decimal with exactly two places
    FLOAT = "float"
    TIMESTAMP = "timestamp"  # YYYY-MM-DD HH:MM:SS
    ZIP = "zip"  # 5-character zip prefix, leading zeros kept
    STATE = "state"  # 2-letter Brazilian state code
    ENUM = "enum"


@dataclass(frozen=True)
class Column:
    name: str
    type: LogicalType
    nullable: bool = False
    accepted: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dialect:
    """How the original file is written (the generator reproduces it)."""

    line_terminator: str = "\n"
    bom: bool = False
    final_newline: bool = True
    quote_header: bool = True
    # Quote a string value only when it starts with a digit (the original rule);
    # `always_quote` lists columns quoted regardless (the reviews file's ids).
    always_quote: tuple[str, ...] = ()
    # False where free text is quoted only when it must be (a comma, quote or
    # line break inside): the reviews file writes a title `10` bare.
    digit_rule: bool = True


@dataclass(frozen=True)
class SourceContract:
    table: str  # name of the raw / staging table
    file_name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    dialect: Dialect
    # Natural key duplicates known to exist in the real data (kept in raw,
    # removed in staging with a recorded count).
    note: str = ""

    @property
    def header(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.table} has no column {name!r}")


ORDER_STATUSES = (
    "created",
    "approved",
    "invoiced",
    "processing",
    "shipped",
    "delivered",
    "unavailable",
    "canceled",
)
PAYMENT_TYPES = ("credit_card", "boleto", "voucher", "debit_card", "not_defined")
BRAZIL_STATES = (
    "AC", "AL", "AM", "AP", "BA", "CE", "DF", "ES", "GO", "MA", "MG", "MS", "MT", "PA",
    "PB", "PE", "PI", "PR", "RJ", "RN", "RO", "RR", "RS", "SC", "SE", "SP", "TO",
)  # fmt: skip

T = LogicalType
_LF = Dialect()

CONTRACTS: tuple[SourceContract, ...] = (
    SourceContract(
        table="customers",
        file_name="olist_customers_dataset.csv",
        columns=(
            Column("customer_id", T.ID),
            Column("customer_unique_id", T.ID),
            Column("customer_zip_code_prefix", T.ZIP),
            Column("customer_city", T.TEXT),
            Column("customer_state", T.STATE, accepted=BRAZIL_STATES),
        ),
        primary_key=("customer_id",),
        dialect=_LF,
    ),
    SourceContract(
        table="geolocation",
        file_name="olist_geolocation_dataset.csv",
        columns=(
            Column("geolocation_zip_code_prefix", T.ZIP),
            Column("geolocation_lat", T.FLOAT),
            Column("geolocation_lng", T.FLOAT),
            Column("geolocation_city", T.TEXT),
            Column("geolocation_state", T.STATE, accepted=BRAZIL_STATES),
        ),
        primary_key=(),  # no key: many rows per zip prefix, ~26% exact duplicates
        dialect=_LF,
    ),
    SourceContract(
        table="order_items",
        file_name="olist_order_items_dataset.csv",
        columns=(
            Column("order_id", T.ID),
            Column("order_item_id", T.INT),
            Column("product_id", T.ID),
            Column("seller_id", T.ID),
            Column("shipping_limit_date", T.TIMESTAMP),
            Column("price", T.MONEY),
            Column("freight_value", T.MONEY),
        ),
        primary_key=("order_id", "order_item_id"),
        dialect=_LF,
    ),
    SourceContract(
        table="order_payments",
        file_name="olist_order_payments_dataset.csv",
        columns=(
            Column("order_id", T.ID),
            Column("payment_sequential", T.INT),
            Column("payment_type", T.ENUM, accepted=PAYMENT_TYPES),
            Column("payment_installments", T.INT),
            Column("payment_value", T.MONEY),
        ),
        primary_key=("order_id", "payment_sequential"),
        dialect=_LF,
    ),
    SourceContract(
        table="order_reviews",
        file_name="olist_order_reviews_dataset.csv",
        columns=(
            Column("review_id", T.ID),
            Column("order_id", T.ID),
            Column("review_score", T.INT, accepted=("1", "2", "3", "4", "5")),
            Column("review_comment_title", T.TEXT, nullable=True),
            Column("review_comment_message", T.TEXT, nullable=True),
            Column("review_creation_date", T.TIMESTAMP),
            Column("review_answer_timestamp", T.TIMESTAMP),
        ),
        # review_id alone repeats (~827 times in the full file): one review
        # text attached to several orders.
        primary_key=("review_id", "order_id"),
        dialect=Dialect(
            line_terminator="\r\n", always_quote=("review_id", "order_id"), digit_rule=False
        ),
    ),
    SourceContract(
        table="orders",
        file_name="olist_orders_dataset.csv",
        columns=(
            Column("order_id", T.ID),
            Column("customer_id", T.ID),
            Column("order_status", T.ENUM, accepted=ORDER_STATUSES),
            Column("order_purchase_timestamp", T.TIMESTAMP),
            Column("order_approved_at", T.TIMESTAMP, nullable=True),
            Column("order_delivered_carrier_date", T.TIMESTAMP, nullable=True),
            Column("order_delivered_customer_date", T.TIMESTAMP, nullable=True),
            Column("order_estimated_delivery_date", T.TIMESTAMP),
        ),
        primary_key=("order_id",),
        dialect=_LF,
    ),
    SourceContract(
        table="products",
        file_name="olist_products_dataset.csv",
        columns=(
            Column("product_id", T.ID),
            Column("product_category_name", T.TEXT, nullable=True),
            # The original misspellings are part of the contract.
            Column("product_name_lenght", T.INT, nullable=True),
            Column("product_description_lenght", T.INT, nullable=True),
            Column("product_photos_qty", T.INT, nullable=True),
            Column("product_weight_g", T.INT, nullable=True),
            Column("product_length_cm", T.INT, nullable=True),
            Column("product_height_cm", T.INT, nullable=True),
            Column("product_width_cm", T.INT, nullable=True),
        ),
        primary_key=("product_id",),
        dialect=_LF,
    ),
    SourceContract(
        table="sellers",
        file_name="olist_sellers_dataset.csv",
        columns=(
            Column("seller_id", T.ID),
            Column("seller_zip_code_prefix", T.ZIP),
            Column("seller_city", T.TEXT),
            Column("seller_state", T.STATE, accepted=BRAZIL_STATES),
        ),
        primary_key=("seller_id",),
        dialect=_LF,
    ),
    SourceContract(
        table="category_translation",
        file_name="product_category_name_translation.csv",
        columns=(
            Column("product_category_name", T.TEXT),
            Column("product_category_name_english", T.TEXT),
        ),
        primary_key=("product_category_name",),
        dialect=Dialect(line_terminator="\r\n", bom=True, final_newline=False, quote_header=False),
    ),
)

BY_TABLE: dict[str, SourceContract] = {c.table: c for c in CONTRACTS}
BY_FILE: dict[str, SourceContract] = {c.file_name: c for c in CONTRACTS}
TABLES: tuple[str, ...] = tuple(c.table for c in CONTRACTS)

# Lineage columns every raw table carries after the source columns.
RAW_LINEAGE_COLUMNS: tuple[str, ...] = ("_batch_id", "_source_file", "_row_number", "_loaded_at")


def contract_for(table_or_file: str) -> SourceContract:
    """Look a contract up by raw table name or by source file name."""
    if table_or_file in BY_TABLE:
        return BY_TABLE[table_or_file]
    if table_or_file in BY_FILE:
        return BY_FILE[table_or_file]
    raise KeyError(
        f"unknown Olist table or file {table_or_file!r}; known tables: {', '.join(TABLES)}"
    )
