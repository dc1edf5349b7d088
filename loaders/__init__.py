"""Ingestion as a streaming pipeline: read rows (CSV or XLSX by suffix), validate them into typed
records or row errors, then write in one transaction. The CLI and the API call the same code."""
