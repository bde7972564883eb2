"""Ingest: Kafka micro-batches → shape and quality checks → one warehouse transaction per batch.

The consumer engine that `realise ingest` and the ingest flow (flows/ingest.py) both run.
"""
