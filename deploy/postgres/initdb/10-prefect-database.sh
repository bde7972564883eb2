#!/bin/bash
# Creates the `prefect` role and database that the Prefect server keeps its state in, next to the
# `realise` warehouse database. The postgres image runs this once, on the first start with an empty
# data volume; for an existing volume run the same statements by hand.
# The image may source this file rather than execute it, so it leaves the shell options alone.

: "${PREFECT_DB_PASSWORD:?set PREFECT_DB_PASSWORD}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v prefect_password="$PREFECT_DB_PASSWORD" <<'SQL'
CREATE ROLE prefect LOGIN PASSWORD :'prefect_password';
CREATE DATABASE prefect OWNER prefect;
REVOKE ALL ON DATABASE prefect FROM PUBLIC;
SQL
