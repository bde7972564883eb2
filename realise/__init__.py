"""Realise: staff feedback from forms, help desk and training onto Kafka, into a PostgreSQL warehouse."""

__version__ = "0.1.0"
