"""`marketplace serve --workers 2`: two processes serve, log JSON lines with request ids, and one scrape of
/metrics adds up what both counted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from marketplace.settings import Settings
from tests.conftest import prepare_app_data
from tests.lti.servers import unused_port


def test_two_workers_serve_and_their_metrics_add_up(settings: Settings, tmp_path: Path) -> None:
    prepare_app_data(settings)
    port = unused_port()
    env = {**os.environ, "MARKETPLACE_DATABASE_URL": settings.database_url,
           "MARKETPLACE_DATA_DIR": str(settings.data_dir), "MARKETPLACE_CONTENT_DIR": str(settings.content_dir),
           "MARKETPLACE_SECRET_KEY": settings.secret_key, "MARKETPLACE_ENV": "development",
           "MARKETPLACE_LOG_FORMAT": "json", "MARKETPLACE_GRADE_WORKER": "0"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with (tmp_path / "serve.log").open("w") as log:
        server = subprocess.Popen([sys.executable, "-m", "marketplace.cli", "serve", "--workers", "2", "--port",
                                   str(port)], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get(base + "/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.2)
            for number in range(40):
                # A new connection each time, so the kernel spreads them over both workers' accept queues.
                with httpx.Client(timeout=10) as fresh:
                    assert fresh.get(base + "/api/catalog/resources/plant-cells",
                                     headers={"X-Request-ID": f"drill-{number:04d}"}).status_code == 200
            metrics_dir = settings.data_dir / "metrics"
            files = sorted(path.name for path in metrics_dir.iterdir())
            pids = {name.rsplit("_", 1)[-1] for name in files if name.startswith("histogram_")}
            assert len(pids) == 2, files  # both workers served, and wrote their own values
            text = client.get(base + "/metrics").text
            route = 'route="/api/catalog/resources/{resource_id:str}",status="200"'
            counted = [line for line in text.splitlines()
                       if line.startswith("marketplace_http_request_duration_seconds_count") and route in line]
            assert counted and float(counted[0].rsplit(" ", 1)[1]) == 40.0, counted
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    lines = [json.loads(line) for line in (tmp_path / "serve.log").read_text().splitlines() if line.startswith("{")]
    ids = {line.get("request_id") for line in lines if line.get("logger") == "marketplace.request"}
    assert {f"drill-{number:04d}" for number in range(40)} <= ids
