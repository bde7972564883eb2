"""The PostgreSQL warehouse: raw events, a star schema in `core`, operations tables and analyst views."""
