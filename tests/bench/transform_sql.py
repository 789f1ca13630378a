# ruff: noqa: E501, RUF001
"""The batch transformations written as plain SQL inside PostgreSQL: the
baseline a user would reach for, timed next to the Spark jobs by
bench_transform.py. Same layers, same rules (dedup newest batch wins, typing,
city normalisation, SCD2, unknown members, the same marts), written into the
schema ``bench_sql`` with CREATE TABLE AS."""

from __future__ import annotations

STAGING = r"""
DROP SCHEMA IF EXISTS bench_sql CASCADE;
CREATE SCHEMA bench_sql;
CREATE FUNCTION bench_sql.city(v text) RETURNS text LANGUAGE sql IMMUTABLE AS $f$
  SELECT CASE WHEN c = '' OR c ~ '@|^[0-9 .\-]+$' THEN NULL ELSE c END FROM (
    SELECT CASE x WHEN 'sp' THEN 'sao paulo' WHEN 'sbc' THEN 'sao bernardo do campo'
                  WHEN 'rj' THEN 'rio de janeiro' WHEN 'bh' THEN 'belo horizonte' ELSE x END AS c
    FROM (SELECT trim(regexp_replace(coalesce(substring(t FROM '^(.*?)(?:\s+-\s*|\s*-\s+|\s*[/\\,(])'), t),
                                     '\s+', ' ', 'g')) AS x
          FROM (SELECT translate(lower(trim(v)), 'áàâãäéèêëíìîïóòôõöúùûüçñ´`’‘',
                                 'aaaaaeeeeiiiiooooouuuucn''''''''') AS t) a) b) c
$f$;
CREATE FUNCTION bench_sql.ts(v text) RETURNS timestamp LANGUAGE sql IMMUTABLE AS $f$
  SELECT CASE WHEN trim(v) ~ '^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}(:\d{2})?)?$' THEN trim(v)::timestamp END
$f$;
CREATE FUNCTION bench_sql.money(v text) RETURNS numeric LANGUAGE sql IMMUTABLE AS $f$
  SELECT CASE WHEN trim(v) ~ '^-?[0-9]+(\.[0-9]+)?$' THEN round(trim(v)::numeric, 2) END
$f$;
CREATE FUNCTION bench_sql.int(v text) RETURNS integer LANGUAGE sql IMMUTABLE AS $f$
  SELECT CASE WHEN trim(v) ~ '^-?[0-9]{1,9}(\.0+)?$' THEN trim(v)::numeric::integer END
$f$;
CREATE FUNCTION bench_sql.zip(v text) RETURNS text LANGUAGE sql IMMUTABLE AS $f$
  SELECT CASE WHEN trim(v) ~ '^[0-9]{1,5}$' THEN lpad(trim(v), 5, '0') END
$f$;

CREATE TABLE bench_sql.customers AS
SELECT DISTINCT ON (trim(customer_id)) trim(customer_id) AS customer_id,
       trim(customer_unique_id) AS customer_unique_id,
       bench_sql.zip(customer_zip_code_prefix) AS zip, bench_sql.city(customer_city) AS city,
       upper(trim(customer_state)) AS state
FROM raw.customers WHERE nullif(trim(customer_id), '') IS NOT NULL
ORDER BY trim(customer_id), _loaded_at DESC, _batch_id DESC, _row_number;

CREATE TABLE bench_sql.geolocation AS
SELECT DISTINCT ON (z, lat, lng, c, s) bench_sql.zip(z) AS zip, lat::float8 AS lat, lng::float8 AS lng,
       bench_sql.city(c) AS city, upper(s) AS state,
       coalesce(lat::float8 BETWEEN -33.76 AND 5.28 AND lng::float8 BETWEEN -74.0 AND -28.8, false) AS in_brazil
FROM (SELECT trim(geolocation_zip_code_prefix) z, trim(geolocation_lat) lat, trim(geolocation_lng) lng,
             trim(geolocation_city) c, trim(geolocation_state) s, _loaded_at, _batch_id, _row_number
      FROM raw.geolocation) g
ORDER BY z, lat, lng, c, s, _loaded_at DESC, _batch_id DESC, _row_number;

CREATE TABLE bench_sql.order_items AS
SELECT * FROM (
  SELECT DISTINCT ON (order_id, order_item_id) * FROM (
    SELECT trim(order_id) AS order_id, bench_sql.int(order_item_id) AS order_item_id,
           trim(product_id) AS product_id, trim(seller_id) AS seller_id,
           bench_sql.ts(shipping_limit_date) AS shipping_limit_date,
           bench_sql.money(price) AS price, bench_sql.money(freight_value) AS freight_value,
           _loaded_at, _batch_id, _row_number FROM raw.order_items) r
  ORDER BY order_id, order_item_id, _loaded_at DESC, _batch_id DESC, _row_number) d
WHERE order_id IS NOT NULL AND order_item_id IS NOT NULL;

CREATE TABLE bench_sql.order_payments AS
SELECT * FROM (
  SELECT DISTINCT ON (order_id, payment_sequential) * FROM (
    SELECT trim(order_id) AS order_id, bench_sql.int(payment_sequential) AS payment_sequential,
           CASE WHEN lower(trim(payment_type)) IN ('credit_card','boleto','voucher','debit_card','not_defined')
                THEN lower(trim(payment_type)) END AS payment_type,
           bench_sql.int(payment_installments) AS payment_installments,
           bench_sql.money(payment_value) AS payment_value,
           _loaded_at, _batch_id, _row_number FROM raw.order_payments) r
  ORDER BY order_id, payment_sequential, _loaded_at DESC, _batch_id DESC, _row_number) d
WHERE order_id IS NOT NULL AND payment_sequential IS NOT NULL;

CREATE TABLE bench_sql.order_reviews AS
SELECT DISTINCT ON (trim(review_id), trim(order_id)) trim(review_id) AS review_id, trim(order_id) AS order_id,
       CASE WHEN trim(review_score) IN ('1','2','3','4','5') THEN trim(review_score)::smallint END AS review_score,
       nullif(trim(review_comment_title), '') AS title, nullif(trim(review_comment_message), '') AS message,
       bench_sql.ts(review_creation_date) AS created, bench_sql.ts(review_answer_timestamp) AS answered
FROM raw.order_reviews WHERE nullif(trim(review_id), '') IS NOT NULL AND nullif(trim(order_id), '') IS NOT NULL
ORDER BY trim(review_id), trim(order_id), _loaded_at DESC, _batch_id DESC, _row_number;

CREATE TABLE bench_sql.orders AS
SELECT *, coalesce(a < p, false) OR coalesce(c < p, false) OR coalesce(c < a, false)
          OR coalesce(d < a, false) OR coalesce(d < c, false)
          OR (status = 'delivered' AND d IS NULL) OR (status = 'canceled' AND d IS NOT NULL) AS anomaly
FROM (SELECT DISTINCT ON (trim(order_id)) trim(order_id) AS order_id, trim(customer_id) AS customer_id,
             lower(trim(order_status)) AS status, bench_sql.ts(order_purchase_timestamp) AS p,
             bench_sql.ts(order_approved_at) AS a, bench_sql.ts(order_delivered_carrier_date) AS c,
             bench_sql.ts(order_delivered_customer_date) AS d,
             bench_sql.ts(order_estimated_delivery_date) AS e
      FROM raw.orders WHERE nullif(trim(order_id), '') IS NOT NULL
      ORDER BY trim(order_id), _loaded_at DESC, _batch_id DESC, _row_number) o;

CREATE TABLE bench_sql.products AS
SELECT DISTINCT ON (trim(product_id)) trim(product_id) AS product_id,
       nullif(trim(product_category_name), '') AS category, bench_sql.int(product_weight_g) AS weight_g
FROM raw.products WHERE nullif(trim(product_id), '') IS NOT NULL
ORDER BY trim(product_id), _loaded_at DESC, _batch_id DESC, _row_number;

CREATE TABLE bench_sql.sellers AS
SELECT DISTINCT ON (trim(seller_id)) trim(seller_id) AS seller_id, bench_sql.zip(seller_zip_code_prefix) AS zip,
       bench_sql.city(seller_city) AS city, upper(trim(seller_state)) AS state
FROM raw.sellers WHERE nullif(trim(seller_id), '') IS NOT NULL
ORDER BY trim(seller_id), _loaded_at DESC, _batch_id DESC, _row_number;

CREATE TABLE bench_sql.category_translation AS
SELECT DISTINCT ON (trim(product_category_name)) trim(product_category_name) AS pt,
       trim(product_category_name_english) AS en
FROM raw.category_translation ORDER BY trim(product_category_name), _loaded_at DESC, _batch_id DESC, _row_number;
"""

WAREHOUSE = r"""
CREATE TABLE bench_sql.dim_date AS
SELECT (to_char(d, 'YYYYMMDD'))::int AS date_key, d::date AS full_date, extract(isodow FROM d)::int AS dow
FROM generate_series('2016-01-01'::date, '2020-12-31'::date, '1 day') d
UNION ALL SELECT -1, NULL, NULL;

CREATE TABLE bench_sql.dim_geolocation AS
WITH g AS (SELECT * FROM bench_sql.geolocation WHERE in_brazil AND zip IS NOT NULL),
city AS (SELECT DISTINCT ON (zip) zip, city FROM (SELECT zip, city, count(*) n FROM g WHERE city IS NOT NULL
         GROUP BY 1, 2) x ORDER BY zip, n DESC, city),
st AS (SELECT DISTINCT ON (zip) zip, state FROM (SELECT zip, state, count(*) n FROM g WHERE state IS NOT NULL
       GROUP BY 1, 2) x ORDER BY zip, n DESC, state)
SELECT row_number() OVER (ORDER BY p.zip) AS geolocation_key, p.zip, p.lat, p.lng, city.city, st.state
FROM (SELECT zip, avg(lat::numeric(12,8))::float8 lat, avg(lng::numeric(12,8))::float8 lng FROM g GROUP BY zip) p
LEFT JOIN city USING (zip) LEFT JOIN st USING (zip)
UNION ALL SELECT -1, 'unknown', NULL, NULL, NULL, NULL;

CREATE TABLE bench_sql.customer_rows AS
SELECT c.*, coalesce(o.p, max(o.p) OVER (PARTITION BY c.customer_unique_id), '1900-01-01') AS ts
FROM bench_sql.customers c LEFT JOIN bench_sql.orders o USING (customer_id)
WHERE c.customer_unique_id IS NOT NULL;
CREATE TABLE bench_sql.customer_versioned AS
SELECT *, sum(chg) OVER (PARTITION BY customer_unique_id ORDER BY ts, customer_id) AS version
FROM (SELECT *, CASE WHEN lag(attrs) OVER w IS DISTINCT FROM attrs THEN 1 ELSE 0 END AS chg
      FROM (SELECT *, concat_ws('|', zip, city, state) AS attrs FROM bench_sql.customer_rows) r
      WINDOW w AS (PARTITION BY customer_unique_id ORDER BY ts, customer_id)) x;
CREATE TABLE bench_sql.dim_customer AS
SELECT row_number() OVER (ORDER BY customer_unique_id, version) AS customer_key, v.*,
       coalesce(lead(valid_from) OVER (PARTITION BY customer_unique_id ORDER BY version), '9999-12-31') AS valid_to,
       lead(version) OVER (PARTITION BY customer_unique_id ORDER BY version) IS NULL AS is_current
FROM (SELECT customer_unique_id, version,
             CASE WHEN version = 1 THEN '1900-01-01'::timestamp ELSE min(ts) END AS valid_from,
             min(zip) zip, min(city) city, min(state) state
      FROM bench_sql.customer_versioned GROUP BY 1, 2) v;
CREATE TABLE bench_sql.customer_map AS
SELECT cv.customer_id, d.customer_key FROM bench_sql.customer_versioned cv
JOIN bench_sql.dim_customer d USING (customer_unique_id, version);

CREATE TABLE bench_sql.dim_seller AS
SELECT row_number() OVER (ORDER BY seller_id) AS seller_key, s.*, coalesce(g.geolocation_key, -1) AS geolocation_key
FROM bench_sql.sellers s LEFT JOIN bench_sql.dim_geolocation g USING (zip);
CREATE TABLE bench_sql.dim_product AS
SELECT row_number() OVER (ORDER BY product_id) AS product_key, p.product_id, p.category,
       coalesce(t.en, p.category, 'unknown') AS category_en
FROM bench_sql.products p LEFT JOIN bench_sql.category_translation t ON t.pt = p.category;

CREATE TABLE bench_sql.fact_orders AS
SELECT o.order_id, coalesce(m.customer_key, -1) AS customer_key,
       coalesce(to_char(o.p, 'YYYYMMDD')::int, -1) AS purchase_date_key, o.status, o.p, o.a, o.c, o.d, o.e,
       coalesce(i.items, 0) items, coalesce(i.items_value, 0) items_value, coalesce(i.freight, 0) freight_value,
       coalesce(pay.value, 0) payment_value, r.score,
       extract(epoch FROM o.d - o.p) / 86400 AS days_to_deliver, o.d::date - o.e::date AS delay_days,
       o.d IS NOT NULL AS is_delivered, CASE WHEN o.d IS NOT NULL THEN o.d::date <= o.e::date END AS on_time,
       o.anomaly
FROM bench_sql.orders o
LEFT JOIN bench_sql.customer_map m USING (customer_id)
LEFT JOIN (SELECT order_id, count(*) items, sum(price) items_value, sum(freight_value) freight
           FROM bench_sql.order_items GROUP BY 1) i USING (order_id)
LEFT JOIN (SELECT order_id, sum(payment_value) value FROM bench_sql.order_payments GROUP BY 1) pay USING (order_id)
LEFT JOIN (SELECT order_id, round(avg(review_score), 2) score FROM bench_sql.order_reviews GROUP BY 1) r USING (order_id);

CREATE TABLE bench_sql.fact_order_items AS
SELECT i.order_id, i.order_item_id, coalesce(o.customer_key, -1) customer_key,
       coalesce(p.product_key, -1) product_key, coalesce(s.seller_key, -1) seller_key,
       coalesce(o.purchase_date_key, -1) purchase_date_key, o.status, i.price, i.freight_value
FROM bench_sql.order_items i LEFT JOIN bench_sql.fact_orders o USING (order_id)
LEFT JOIN bench_sql.dim_product p USING (product_id) LEFT JOIN bench_sql.dim_seller s USING (seller_id);
CREATE TABLE bench_sql.fact_payments AS
SELECT y.*, coalesce(o.customer_key, -1) customer_key, coalesce(o.purchase_date_key, -1) purchase_date_key
FROM bench_sql.order_payments y LEFT JOIN bench_sql.fact_orders o USING (order_id);
CREATE TABLE bench_sql.fact_reviews AS
SELECT r.*, coalesce(o.customer_key, -1) customer_key, coalesce(o.purchase_date_key, -1) purchase_date_key
FROM bench_sql.order_reviews r LEFT JOIN bench_sql.fact_orders o USING (order_id);
"""

MARTS = r"""
CREATE TABLE bench_sql.items_wide AS
SELECT i.*, o.p AS purchased_at, o.is_delivered, o.on_time, coalesce(c.state, 'unknown') AS state,
       c.customer_unique_id, coalesce(p.category_en, 'unknown') AS category, p.product_id
FROM bench_sql.fact_order_items i
LEFT JOIN (SELECT order_id, p, is_delivered, on_time FROM bench_sql.fact_orders) o USING (order_id)
LEFT JOIN bench_sql.dim_customer c USING (customer_key) LEFT JOIN bench_sql.dim_product p USING (product_key);

CREATE TABLE bench_sql.sales_daily AS
SELECT purchased_at::date AS day, state, category, count(DISTINCT order_id) orders, count(*) items,
       sum(price) revenue, sum(freight_value) freight, sum(price + freight_value) gmv,
       round(sum(price + freight_value) / count(DISTINCT order_id), 2) aov,
       count(DISTINCT order_id) FILTER (WHERE is_delivered) delivered,
       count(DISTINCT order_id) FILTER (WHERE on_time) on_time
FROM bench_sql.items_wide WHERE purchase_date_key <> -1 GROUP BY 1, 2, 3;
CREATE TABLE bench_sql.sales_monthly AS
SELECT date_trunc('month', purchased_at)::date AS month, state, category, count(DISTINCT order_id) orders,
       count(*) items, sum(price + freight_value) gmv,
       count(DISTINCT order_id) FILTER (WHERE is_delivered) delivered,
       count(DISTINCT order_id) FILTER (WHERE on_time) on_time
FROM bench_sql.items_wide WHERE purchase_date_key <> -1 GROUP BY 1, 2, 3;

CREATE TABLE bench_sql.customer_rfm AS
WITH per AS (
  SELECT c.customer_unique_id, max(o.p) last_at, count(DISTINCT o.order_id) f, sum(o.payment_value) m
  FROM bench_sql.fact_orders o JOIN bench_sql.dim_customer c USING (customer_key)
  WHERE o.status NOT IN ('canceled', 'unavailable') AND o.p IS NOT NULL GROUP BY 1),
r AS (SELECT *, (max(last_at::date) OVER () + 1) - last_at::date AS recency, count(*) OVER () n FROM per)
SELECT *, 1 + 5 * (rank() OVER (ORDER BY recency DESC) - 1) / n AS r_score,
          1 + 5 * (rank() OVER (ORDER BY f) - 1) / n AS f_score,
          1 + 5 * (rank() OVER (ORDER BY m) - 1) / n AS m_score
FROM r;

CREATE TABLE bench_sql.seller_scorecard AS
WITH it AS (SELECT * FROM bench_sql.items_wide WHERE seller_key <> -1),
rv AS (SELECT so.seller_key, count(*) reviews, avg(r.review_score) score
       FROM (SELECT DISTINCT seller_key, order_id FROM it) so JOIN bench_sql.fact_reviews r USING (order_id)
       GROUP BY 1)
SELECT seller_key, count(DISTINCT order_id) orders, count(*) items, sum(price) revenue,
       sum(freight_value) freight, count(DISTINCT order_id) FILTER (WHERE on_time) on_time,
       count(DISTINCT order_id) FILTER (WHERE is_delivered) delivered,
       count(DISTINCT order_id) FILTER (WHERE status = 'canceled') canceled,
       max(rv.reviews) reviews, max(rv.score) avg_score
FROM it LEFT JOIN rv USING (seller_key) GROUP BY seller_key;

CREATE TABLE bench_sql.copurchase_pairs AS
WITH b AS (SELECT DISTINCT order_id, product_id FROM bench_sql.items_wide WHERE product_id IS NOT NULL),
n AS (SELECT count(DISTINCT order_id) total FROM b),
p AS (SELECT product_id, count(*) k FROM b GROUP BY 1)
SELECT x.product_id, y.product_id other, count(*) pair_orders,
       count(*)::float8 / max(n.total) support, count(*)::float8 / max(pa.k) confidence,
       count(*)::float8 * max(n.total) / (max(pa.k) * max(pb.k)) lift
FROM b x JOIN b y ON x.order_id = y.order_id AND x.product_id <> y.product_id
JOIN p pa ON pa.product_id = x.product_id JOIN p pb ON pb.product_id = y.product_id CROSS JOIN n
GROUP BY 1, 2;

CREATE TABLE bench_sql.category_affinity AS
WITH g AS (SELECT customer_unique_id, category, count(*) items, sum(price) spend FROM bench_sql.items_wide
           WHERE customer_unique_id IS NOT NULL GROUP BY 1, 2),
cat AS (SELECT category, sum(spend) cs FROM g GROUP BY 1)
SELECT g.*, spend / nullif(sum(spend) OVER (PARTITION BY customer_unique_id), 0) share,
       spend * sum(spend) OVER () / nullif(sum(spend) OVER (PARTITION BY customer_unique_id) * cat.cs, 0) affinity
FROM g JOIN cat USING (category);

CREATE TABLE bench_sql.state_popularity AS
SELECT * FROM (
  SELECT state, product_id, count(DISTINCT order_id) orders, count(*) items, sum(price) revenue,
         row_number() OVER (PARTITION BY state ORDER BY count(DISTINCT order_id) DESC, count(*) DESC,
                            sum(price) DESC, product_id) rnk
  FROM bench_sql.items_wide WHERE product_id IS NOT NULL GROUP BY 1, 2) x WHERE rnk <= 20;
"""

LAYERS = {"staging": STAGING, "warehouse": WAREHOUSE, "marts": MARTS}
