"""Ingest: Kafka micro-batches → shape and quality checks → one warehouse transaction per batch."""
