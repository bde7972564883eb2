# syntax=docker/dockerfile:1
# Realise runtime image: the `realise` CLI (ingest service, migrations), the Prefect flows, and a
# Prefect worker that runs them. Used by every Realise service in docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Pinned dependencies first, so this layer is rebuilt only when the lock file changes.
COPY requirements.lock ./
RUN pip install -r requirements.lock

# The project itself (the build context is filtered by .dockerignore). Prefect flow runs start in
# /app (the pull step in prefect.yaml), where their entrypoint files live.
COPY . .
RUN pip install --no-deps . \
    && rm -rf build ./*.egg-info \
    && groupadd --system --gid 10001 realise \
    && useradd --system --uid 10001 --gid realise --create-home --home-dir /home/realise realise \
    && install -d -o realise -g realise /var/lib/realise

ENV REALISE_CONFIG=/app/deploy/realise.production.yaml \
    REALISE_DATA_DIR=/var/lib/realise \
    PREFECT_HOME=/home/realise/.prefect \
    PREFECT_SERVER_ANALYTICS_ENABLED=false

USER 10001:10001

ENTRYPOINT ["realise"]
CMD ["--help"]
