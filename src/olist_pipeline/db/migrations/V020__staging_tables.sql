-- Staging: typed, trimmed, standardised copies of the raw tables, rebuilt
-- from ALL raw batches by `olist transform staging` (one row per natural key,
-- newest batch wins). Values that could not be typed are NULL here and named
-- in `invalid_fields` (comma list); lifecycle contradictions are flagged, never
-- dropped. `_batch_id`/`_row_number` point back at the raw row kept.
-- Owned by the transformer so it can swap a run's tables in atomically.
SET LOCAL ROLE olist_transformer;

CREATE TABLE IF NOT EXISTS staging.customers (
    customer_id              text NOT NULL,
    customer_unique_id       text,
    customer_zip_code_prefix text,
    customer_city            text,
    customer_city_raw        text,
    customer_state           text,
    invalid_fields           text,
    _batch_id                text NOT NULL,
    _row_number              bigint NOT NULL,
    PRIMARY KEY (customer_id)
);

-- No natural key: exact duplicate rows (after trimming) are removed.
CREATE TABLE IF NOT EXISTS staging.geolocation (
    geolocation_zip_code_prefix text,
    geolocation_lat             double precision,
    geolocation_lng             double precision,
    geolocation_city            text,
    geolocation_city_raw        text,
    geolocation_state           text,
    in_brazil                   boolean NOT NULL,
    invalid_fields              text,
    _batch_id                   text NOT NULL,
    _row_number                 bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS staging.order_items (
    order_id            text NOT NULL,
    order_item_id       integer NOT NULL,
    product_id          text,
    seller_id           text,
    shipping_limit_date timestamp,
    price               numeric(12, 2),
    freight_value       numeric(12, 2),
    invalid_fields      text,
    _batch_id           text NOT NULL,
    _row_number         bigint NOT NULL,
    PRIMARY KEY (order_id, order_item_id)
);

CREATE TABLE IF NOT EXISTS staging.order_payments (
    order_id             text NOT NULL,
    payment_sequential   integer NOT NULL,
    payment_type         text,
    payment_installments integer,
    payment_value        numeric(12, 2),
    invalid_fields       text,
    _batch_id            text NOT NULL,
    _row_number          bigint NOT NULL,
    PRIMARY KEY (order_id, payment_sequential)
);

CREATE TABLE IF NOT EXISTS staging.order_reviews (
    review_id               text NOT NULL,
    order_id                text NOT NULL,
    review_score            smallint,
    review_comment_title    text,
    review_comment_message  text,
    review_creation_date    timestamp,
    review_answer_timestamp timestamp,
    flag_answer_before_creation boolean NOT NULL,
    invalid_fields          text,
    _batch_id               text NOT NULL,
    _row_number             bigint NOT NULL,
    PRIMARY KEY (review_id, order_id)
);

CREATE TABLE IF NOT EXISTS staging.orders (
    order_id                      text NOT NULL,
    customer_id                   text,
    order_status                  text,
    order_purchase_timestamp      timestamp,
    order_approved_at             timestamp,
    order_delivered_carrier_date  timestamp,
    order_delivered_customer_date timestamp,
    order_estimated_delivery_date timestamp,
    -- Contradictory lifecycle timestamps, kept as they are and flagged.
    flag_approved_before_purchase  boolean NOT NULL,
    flag_carrier_before_purchase   boolean NOT NULL,
    flag_carrier_before_approval   boolean NOT NULL,
    flag_delivered_before_approval boolean NOT NULL,
    flag_delivered_before_carrier  boolean NOT NULL,
    flag_delivered_without_date    boolean NOT NULL,
    flag_canceled_with_delivery    boolean NOT NULL,
    has_lifecycle_anomaly          boolean NOT NULL,
    invalid_fields                text,
    _batch_id                     text NOT NULL,
    _row_number                   bigint NOT NULL,
    PRIMARY KEY (order_id)
);

CREATE TABLE IF NOT EXISTS staging.products (
    product_id                 text NOT NULL,
    product_category_name      text,
    product_name_lenght        integer,
    product_description_lenght integer,
    product_photos_qty         integer,
    product_weight_g           integer,
    product_length_cm          integer,
    product_height_cm          integer,
    product_width_cm           integer,
    invalid_fields             text,
    _batch_id                  text NOT NULL,
    _row_number                bigint NOT NULL,
    PRIMARY KEY (product_id)
);

CREATE TABLE IF NOT EXISTS staging.sellers (
    seller_id              text NOT NULL,
    seller_zip_code_prefix text,
    seller_city            text,
    seller_city_raw        text,
    seller_state           text,
    invalid_fields         text,
    _batch_id              text NOT NULL,
    _row_number            bigint NOT NULL,
    PRIMARY KEY (seller_id)
);

CREATE TABLE IF NOT EXISTS staging.category_translation (
    product_category_name         text NOT NULL,
    product_category_name_english text,
    invalid_fields                text,
    _batch_id                     text NOT NULL,
    _row_number                   bigint NOT NULL,
    PRIMARY KEY (product_category_name)
);
