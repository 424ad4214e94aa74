# The ccaudit service against a ClickHouse server (no embedded engine: pip install '.[service]').
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY ccaudit ./ccaudit
COPY migrations ./migrations
RUN pip install '.[service]' \
    && useradd --system --uid 10001 --home-dir /app ccaudit

USER ccaudit
EXPOSE 8787
CMD ["ccaudit", "serve"]
