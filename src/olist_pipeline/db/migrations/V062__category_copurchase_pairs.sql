-- Category-level co-purchase pairs, built by `olist transform marts` beside the
-- product pairs of V022 (formulas in olist_pipeline/transform/marts.py, meaning and
-- limits in transform/README.md). Owned by the transformer like every mart, so the
-- default privileges of V001/V060 give the readers and the quality role SELECT.
SET LOCAL ROLE olist_transformer;

CREATE TABLE IF NOT EXISTS marts.category_copurchase_pairs (
    product_category  text NOT NULL,
    other_category    text NOT NULL,
    pair_orders       integer NOT NULL,
    category_orders   integer NOT NULL,
    other_orders      integer NOT NULL,
    total_orders      integer NOT NULL,
    support           double precision NOT NULL,
    confidence        double precision NOT NULL,
    lift              double precision NOT NULL,
    PRIMARY KEY (product_category, other_category)
);
