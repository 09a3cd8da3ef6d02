"""chrono analytics: the analytics warehouse of Chrono Scraper (dbt-duckdb over Parquet)."""

__version__ = "0.1.0"
