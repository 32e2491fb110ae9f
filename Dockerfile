# One image for every Parley process; the command (Procfile, docker-compose.yml) picks which.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # A container's own network is private: listen on it; publishing a port is the choice.
    HOST=0.0.0.0

WORKDIR /app
COPY . .
RUN pip install . \
    && useradd --create-home --uid 10001 parley \
    && mkdir -p var \
    && chown parley var

USER parley
EXPOSE 8000 5555
# Processes run from /app, where the Procfile, alembic.ini, migrations/ and api/static live.
CMD ["honcho", "start", "web"]
