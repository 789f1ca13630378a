"""Analytics: RFM, seller scorecard, recommendation inputs, report."""
