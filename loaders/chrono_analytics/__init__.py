"""chrono analytics: the analytics warehouse of Chrono Scraper (dbt-duckdb over Parquet)."""
