-- Raw layer: one table per source file, every source column as text exactly
-- as read, plus lineage. Partitioned by batch: the loader COPYs a batch into
-- a fresh table and attaches it as a partition in the same transaction, so a
-- batch becomes visible whole or not at all, and re-running a batch replaces
-- only its partition.
SET LOCAL ROLE olist_loader;

CREATE TABLE IF NOT EXISTS raw.customers (
    customer_id text,
    customer_unique_id text,
    customer_zip_code_prefix text,
    customer_city text,
    customer_state text,
    _batch_id text NOT NULL,
    _source_file text NOT NULL,
    _row_number bigint NOT NULL,
    _loaded_at timestamptz NOT NULL
) PARTITION BY LIST (_batch_id);

CREATE TABLE IF NOT EXISTS raw.geolocation (
    geolocation_zip_code_prefix text,
    geolocation_lat text,
    geolocation_lng text,
    geolocation_city text,
    geolocation_state text,
    _batch_id text NOT NULL,
    _source_file text NOT NULL,
    _row_number bigint NOT NULL,
    _loaded_at timestamptz NOT NULL
) PARTITION BY LIST (_batch_id);

CREATE TABLE IF NOT EXISTS raw.order_items (
    order_id text,
    order_item_id text,
    product_id text,
    seller_id text,
    shipping_limit_date text,
    price text,
    freight_value text,
    _batch_id text NOT NULL,
    _source_file text NOT NULL,
    _row_number bigint NOT NULL,
    _loaded_at timestamptz NOT NULL
) PARTITION BY LIST (_batch_id);

CREATE TABLE IF NOT EXISTS raw.order_payments (
    order_id text,
    payment_sequential text,
    payment_type text,
    payment_installments text,
    payment_value text,
    _batch_id text NOT NULL,
    _source_file text NOT NULL,
    _row_number bigint NOT NULL,
    _loaded_at timestamptz NOT NULL
) PARTITION BY LIST (_batch_id);

CREATE TABLE IF NOT EXISTS raw.order_reviews (
    review_id text,
    order_id text,
    review_score text,
    review_comment_title text,
    review_comment_message text,
    review_creation_date text,
    review_answer_timestamp text,
    _batch_id text NOT NULL,
    _source_file text NOT NULL,
    _row_number bigint NOT NULL,
    _loaded_at timestamptz NOT NULL
) PARTITION BY LIST (_batch_id);

CREATE TABLE IF NOT EXISTS raw.orders (
    order_id text,
    customer_id text,
    order_status text,
    order_purchase_timestamp text,
    order_approved_at text,
    order_delivered_carrier_date text,
    order_delivered_customer_date text,
    order_estimated_delivery_date text,
    _batch_id text NOT NULL,
    _source_file text NOT NULL,
    _row_number bigint NOT NULL,
    _loaded_at timestamptz NOT NULL
) PARTITION BY LIST (_batch_id);

CREATE TABLE IF NOT EXISTS raw.products (
    product_id text,
    product_category_name text,
    product_name_lenght text,
    product_description_lenght text,
    product_photos_qty text,
    product_weight_g text,
    product_length_cm text,
    product_height_cm text,
    product_width_cm text,
    _batch_id text NOT NULL,
    _source_file text NOT NULL,
    _row_number bigint NOT NULL,
    _loaded_at timestamptz NOT NULL
) PARTITION BY LIST (_batch_id);

CREATE TABLE IF NOT EXISTS raw.sellers (
    seller_id text,
    seller_zip_code_prefix text,
    seller_city text,
    seller_state text,
    _batch_id text NOT NULL,
    _source_file text NOT NULL,
    _row_number bigint NOT NULL,
    _loaded_at timestamptz NOT NULL
) PARTITION BY LIST (_batch_id);

CREATE TABLE IF NOT EXISTS raw.category_translation (
    product_category_name text,
    product_category_name_english text,
    _batch_id text NOT NULL,
    _source_file text NOT NULL,
    _row_number bigint NOT NULL,
    _loaded_at timestamptz NOT NULL
) PARTITION BY LIST (_batch_id);
