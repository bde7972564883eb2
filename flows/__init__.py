"""Prefect flows: ingest from Kafka into the warehouse, and the demo main job."""
