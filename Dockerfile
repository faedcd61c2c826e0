# The Hearth application image: one image, one service per container
# (`docker run hearth ingest`, `... dashboard`, ...; see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# The locked dependencies first (their own layer, kept while only the code changes),
# every file checked against its hash; then Hearth itself, which adds nothing.
COPY requirements.lock ./
RUN pip install --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY core ./core
COPY analytics ./analytics
COPY care ./care
COPY devices ./devices
COPY gateway ./gateway
COPY ingest ./ingest
COPY coach ./coach
COPY dashboard ./dashboard
COPY hearth ./hearth
RUN pip install --no-deps . && pip check \
    && useradd --system --uid 10001 --no-create-home --home-dir /app hearth \
    && mkdir /data && chown hearth /data

# Nothing runs as root; the embedded defaults (SQLite) would write under /data.
USER hearth
ENV HEARTH_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8000
ENTRYPOINT ["hearth"]
CMD ["--help"]
