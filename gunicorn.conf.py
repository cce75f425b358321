"""gunicorn settings for production (`gunicorn -c gunicorn.conf.py api:app`).

gevent workers (time_tracker_api.workers.ApiWorker), one per CPU the container may use
(its cgroup quota, not the host's CPU count): each serves many connections at once, so slow
clients cannot starve the service. Every value comes from commons.config (the settings table
in README.md); the proxies allowed to set X-Forwarded-* are only loopback unless
FORWARDED_ALLOW_IPS says otherwise.
"""

# gevent patches the standard library before anything imports ssl, sockets or threads (the
# worker class below imports the app's modules, requests among them).
from gevent import monkey

monkey.patch_all()

from commons.config import Settings, available_cpus  # noqa: E402

_settings = Settings.from_env()
_settings.validate()

bind = _settings.gunicorn_bind
worker_class = "time_tracker_api.workers.ApiWorker"
workers = _settings.web_concurrency or available_cpus()
worker_connections = _settings.worker_connections
timeout = 30
graceful_timeout = 20
keepalive = 5
max_requests = 5000
max_requests_jitter = 500
# Request line and headers: gunicorn answers 414/431 (as JSON, see the worker) past these.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
accesslog = _settings.gunicorn_access_log
errorlog = "-"
forwarded_allow_ips = _settings.forwarded_allow_ips
