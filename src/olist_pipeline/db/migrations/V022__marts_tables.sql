-- Marts built by `olist transform marts` from the warehouse (formulas in
-- olist_pipeline/transform/marts.py and transform/README.md).
SET LOCAL ROLE olist_transformer;

CREATE TABLE IF NOT EXISTS marts.sales_daily (
    sales_date        date NOT NULL,
    customer_state    text NOT NULL,
    product_category  text NOT NULL,
    orders            integer NOT NULL,
    items             integer NOT NULL,
    item_revenue      numeric(14, 2) NOT NULL,
    freight_value     numeric(14, 2) NOT NULL,
    gmv               numeric(14, 2) NOT NULL,
    aov               numeric(14, 2) NOT NULL,
    freight_share     double precision,
    delivered_orders  integer NOT NULL,
    on_time_orders    integer NOT NULL,
    on_time_pct       double precision,
    PRIMARY KEY (sales_date, customer_state, product_category)
);

CREATE TABLE IF NOT EXISTS marts.sales_monthly (LIKE marts.sales_daily);
ALTER TABLE marts.sales_monthly RENAME COLUMN sales_date TO sales_month;
ALTER TABLE marts.sales_monthly ADD PRIMARY KEY (sales_month, customer_state, product_category);

CREATE TABLE IF NOT EXISTS marts.customer_rfm (
    customer_unique_id text NOT NULL PRIMARY KEY,
    customer_state     text,
    first_purchase_at  timestamp NOT NULL,
    last_purchase_at   timestamp NOT NULL,
    reference_date     date NOT NULL,
    recency_days       integer NOT NULL,
    frequency          integer NOT NULL,
    monetary           numeric(14, 2) NOT NULL,
    r_score            smallint NOT NULL,
    f_score            smallint NOT NULL,
    m_score            smallint NOT NULL,
    rfm_cell           text NOT NULL,
    segment            text NOT NULL
);

CREATE TABLE IF NOT EXISTS marts.seller_scorecard (
    seller_id         text NOT NULL PRIMARY KEY,
    seller_state      text,
    orders            integer NOT NULL,
    items             integer NOT NULL,
    item_revenue      numeric(14, 2) NOT NULL,
    freight_value     numeric(14, 2) NOT NULL,
    gmv               numeric(14, 2) NOT NULL,
    delivered_orders  integer NOT NULL,
    on_time_orders    integer NOT NULL,
    on_time_pct       double precision,
    reviews           integer NOT NULL,
    avg_review_score  double precision,
    canceled_orders   integer NOT NULL,
    cancellation_rate double precision,
    freight_ratio     double precision
);

CREATE TABLE IF NOT EXISTS marts.copurchase_pairs (
    product_id        text NOT NULL,
    other_product_id  text NOT NULL,
    pair_orders       integer NOT NULL,
    product_orders    integer NOT NULL,
    other_orders      integer NOT NULL,
    total_orders      integer NOT NULL,
    support           double precision NOT NULL,
    confidence        double precision NOT NULL,
    lift              double precision NOT NULL,
    PRIMARY KEY (product_id, other_product_id)
);

CREATE TABLE IF NOT EXISTS marts.category_affinity (
    customer_unique_id text NOT NULL,
    product_category   text NOT NULL,
    items              integer NOT NULL,
    spend              numeric(14, 2) NOT NULL,
    spend_share        double precision NOT NULL,
    affinity           double precision NOT NULL,
    PRIMARY KEY (customer_unique_id, product_category)
);

CREATE TABLE IF NOT EXISTS marts.state_popularity (
    customer_state text NOT NULL,
    product_id     text NOT NULL,
    product_category text NOT NULL,
    orders         integer NOT NULL,
    items          integer NOT NULL,
    revenue        numeric(14, 2) NOT NULL,
    rank_in_state  integer NOT NULL,
    PRIMARY KEY (customer_state, product_id)
);
