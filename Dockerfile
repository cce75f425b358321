# Production image of the API: small, non-root, gunicorn with threaded workers, health check.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /build
COPY requirements/time_tracker_api/prod.txt ./requirements/prod.txt
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install -r requirements/prod.txt

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FLASK_APP=time_tracker_api \
    FLASK_DEBUG=false
RUN useradd --create-home --uid 10001 app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# Without SQL_DATABASE_URI the API keeps its SQLite file in /app/instance: the app user owns it.
RUN mkdir -p /app/instance && chown app:app /app/instance
COPY --chown=app:app api.py cli.py gunicorn.conf.py ./
COPY --chown=app:app commons ./commons
COPY --chown=app:app time_tracker_api ./time_tracker_api
COPY --chown=app:app time_tracker_events ./time_tracker_events
COPY --chown=app:app migrations ./migrations
USER app
EXPOSE 5000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=4).status != 200)"
CMD ["gunicorn", "-c", "gunicorn.conf.py", "api:app"]
