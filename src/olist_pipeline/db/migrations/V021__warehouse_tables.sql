-- Warehouse: star schema built by `olist transform warehouse` from staging.
-- Every dimension has a surrogate key and an unknown member with key -1;
-- facts point at -1 where the source lacks the referenced row. Grain of each
-- table is its primary key.
SET LOCAL ROLE olist_transformer;

-- Grain: one calendar day (date_key = yyyymmdd); -1 = unknown date.
CREATE TABLE IF NOT EXISTS warehouse.dim_date (
    date_key        integer NOT NULL PRIMARY KEY,
    full_date       date,
    year            smallint,
    quarter         smallint,
    month           smallint,
    month_name      text,
    day_of_month    smallint,
    day_of_week     smallint,  -- ISO: 1 = Monday .. 7 = Sunday
    day_name        text,
    iso_week        smallint,
    is_weekend      boolean NOT NULL,
    is_holiday      boolean NOT NULL,
    holiday_name    text,
    is_black_friday boolean NOT NULL
);

-- Grain: one zip code prefix.
CREATE TABLE IF NOT EXISTS warehouse.dim_geolocation (
    geolocation_key bigint NOT NULL PRIMARY KEY,
    zip_code_prefix text NOT NULL UNIQUE,
    latitude        double precision,
    longitude       double precision,
    city            text,
    state           text,
    points          integer NOT NULL,
    points_removed_outside_brazil integer NOT NULL
);

-- Grain: one version of one customer (customer_unique_id), SCD type 2:
-- a new version when the customer's zip/city/state changes between orders.
-- [valid_from, valid_to) never overlap; exactly one is_current row each.
CREATE TABLE IF NOT EXISTS warehouse.dim_customer (
    customer_key       bigint NOT NULL PRIMARY KEY,
    customer_unique_id text NOT NULL,
    version            integer NOT NULL,
    zip_code_prefix    text,
    city               text,
    state              text,
    geolocation_key    bigint NOT NULL,
    valid_from         timestamp NOT NULL,
    valid_to           timestamp NOT NULL,
    is_current         boolean NOT NULL,
    UNIQUE (customer_unique_id, version)
);

-- Grain: one seller.
CREATE TABLE IF NOT EXISTS warehouse.dim_seller (
    seller_key      bigint NOT NULL PRIMARY KEY,
    seller_id       text NOT NULL UNIQUE,
    zip_code_prefix text,
    city            text,
    state           text,
    geolocation_key bigint NOT NULL
);

-- Grain: one product. category_name_english falls back to the Portuguese
-- name when the translation lacks it, and to 'unknown' when there is none.
CREATE TABLE IF NOT EXISTS warehouse.dim_product (
    product_key           bigint NOT NULL PRIMARY KEY,
    product_id            text NOT NULL UNIQUE,
    category_name         text,
    category_name_english text NOT NULL,
    category_translated   boolean NOT NULL,
    name_length           integer,
    description_length    integer,
    photos_qty            integer,
    weight_g              integer,
    length_cm             integer,
    height_cm             integer,
    width_cm              integer
);

-- Grain: one order item (order_id, order_item_id).
CREATE TABLE IF NOT EXISTS warehouse.fact_order_items (
    order_id               text NOT NULL,
    order_item_id          integer NOT NULL,
    customer_key           bigint NOT NULL,
    product_key            bigint NOT NULL,
    seller_key             bigint NOT NULL,
    purchase_date_key      integer NOT NULL,
    shipping_limit_date_key integer NOT NULL,
    order_status           text,
    price                  numeric(12, 2),
    freight_value          numeric(12, 2),
    PRIMARY KEY (order_id, order_item_id)
);

-- Grain: one payment (order_id, payment_sequential).
CREATE TABLE IF NOT EXISTS warehouse.fact_payments (
    order_id             text NOT NULL,
    payment_sequential   integer NOT NULL,
    customer_key         bigint NOT NULL,
    purchase_date_key    integer NOT NULL,
    payment_type         text,
    payment_installments integer,
    payment_value        numeric(12, 2),
    PRIMARY KEY (order_id, payment_sequential)
);

-- Grain: one review of one order (review_id, order_id).
CREATE TABLE IF NOT EXISTS warehouse.fact_reviews (
    review_id            text NOT NULL,
    order_id             text NOT NULL,
    customer_key         bigint NOT NULL,
    purchase_date_key    integer NOT NULL,
    creation_date_key    integer NOT NULL,
    answer_date_key      integer NOT NULL,
    review_score         smallint,
    has_comment          boolean NOT NULL,
    answer_hours         numeric(12, 2),
    flag_review_before_purchase boolean NOT NULL,
    PRIMARY KEY (review_id, order_id)
);

-- Grain: one order; accumulating snapshot of its lifecycle.
CREATE TABLE IF NOT EXISTS warehouse.fact_orders (
    order_id              text NOT NULL PRIMARY KEY,
    customer_key          bigint NOT NULL,
    purchase_date_key     integer NOT NULL,
    approved_date_key     integer NOT NULL,
    carrier_date_key      integer NOT NULL,
    delivered_date_key    integer NOT NULL,
    estimated_date_key    integer NOT NULL,
    order_status          text,
    purchased_at          timestamp,
    approved_at           timestamp,
    delivered_carrier_at  timestamp,
    delivered_customer_at timestamp,
    estimated_delivery_at timestamp,
    items                 integer NOT NULL,
    items_value           numeric(14, 2) NOT NULL,
    freight_value         numeric(14, 2) NOT NULL,
    payments              integer NOT NULL,
    payment_value         numeric(14, 2) NOT NULL,
    review_score          numeric(4, 2),
    hours_to_approve      numeric(12, 2),
    days_to_carrier       numeric(12, 2),
    days_to_deliver       numeric(12, 2),
    -- delivered date minus estimated date in days: > 0 is late.
    delivery_delay_days   integer,
    is_delivered          boolean NOT NULL,
    is_on_time            boolean,
    is_late               boolean,
    has_lifecycle_anomaly boolean NOT NULL
);
