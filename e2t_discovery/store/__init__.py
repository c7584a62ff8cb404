"""The DuckDB campaign store: the only place that writes SQL."""
