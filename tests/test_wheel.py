"""A built wheel works on its own: installed (not editable) into a fresh virtualenv, run from another folder.

The wheel must carry the templates, static files, migrations and the bundled catalog; before it did, only an
editable install could serve a page. The fresh virtualenv takes the third-party dependencies from the test
environment's site-packages (through a .pth line), and the wheel is built without build isolation, so the
test downloads nothing; the package itself comes only from the wheel, which the test checks.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import time
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import PROJECT_DIR
from tests.lti.servers import unused_port

TIMEOUT_S = 60


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # Offline: the build backend comes from the test environment, so the test talks to no index.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--wheel-dir", str(out), str(PROJECT_DIR)], check=True, capture_output=True,
                   timeout=300)
    (built,) = out.glob("lti_marketplace-*.whl")
    return built


def test_the_wheel_carries_the_shipped_folders(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder, top in (("templates", "templates"), ("static", "static"), ("migrations", "alembic"),
                        ("bundled_content", "content")):
        shipped = {path.relative_to(PROJECT_DIR / top).as_posix() for path in (PROJECT_DIR / top).rglob("*")
                   if path.is_file() and "__pycache__" not in path.parts}
        packed = {name.removeprefix(f"marketplace/{folder}/") for name in names
                  if name.startswith(f"marketplace/{folder}/")}
        assert shipped <= packed, f"missing from the wheel's marketplace/{folder}: {sorted(shipped - packed)[:5]}"
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    code = {path.relative_to(PROJECT_DIR).as_posix() for path in (PROJECT_DIR / "marketplace").rglob("*.py")}
    assert code <= names, f"modules missing from the wheel: {sorted(code - names)}"


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel installed; returns its bin folder."""
    root = tmp_path_factory.mktemp("venv")
    venv.create(root, with_pip=True)
    python = root / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    # Dependencies from the test environment; appended after the venv's own site-packages, so the wheel wins.
    (Path(purelib) / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
                   check=True, capture_output=True, timeout=300)
    return root / "bin"


@pytest.fixture
def elsewhere(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A working folder with no content/ in it, and an environment pointing only at its own data folder."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith("MARKETPLACE_")}
    env.update({"MARKETPLACE_DATA_DIR": str(folder / "var"), "MARKETPLACE_THUMBNAIL_FETCH": "0",
                "PYTHONDONTWRITEBYTECODE": "1"})
    env.pop("PYTHONPATH", None)
    yield folder, env


def test_the_installed_wheel_migrates_indexes_and_serves(installed: Path,
                                                         elsewhere: tuple[Path, dict[str, str]]) -> None:
    folder, env = elsewhere
    where = subprocess.run([str(installed / "python"), "-c", "import marketplace; print(marketplace.__file__)"],
                           cwd=folder, env=env, check=True, capture_output=True, text=True).stdout
    assert str(installed.parent) in where and str(PROJECT_DIR) not in where, where

    def marketplace(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(installed / "marketplace"), *args], cwd=folder, env=env, capture_output=True,
                              text=True, timeout=600)

    upgraded = marketplace("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    indexed = marketplace("index", "--strict")
    assert indexed.returncode == 0, indexed.stderr
    counts = re.search(r"(\d+) files: (\d+) added", indexed.stdout)
    assert counts and int(counts.group(2)) == int(counts.group(1)) >= 400, indexed.stdout  # the bundled catalog
    bundled = marketplace("catalog", "licences", "--json")
    assert bundled.returncode == 0 and json.loads(bundled.stdout)["total"] >= 400

    port = unused_port()
    log = folder / "serve.log"
    with log.open("w") as output:
        server = subprocess.Popen([str(installed / "marketplace"), "serve", "--host", "127.0.0.1",
                                   "--port", str(port)], cwd=folder, env=env, stdout=output, stderr=output)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + TIMEOUT_S
        with httpx.Client(base_url=base, timeout=10) as client:
            while True:
                try:
                    page = client.get("/", params={"q": "photosynthesis"})
                    break
                except httpx.TransportError:
                    assert server.poll() is None, log.read_text()
                    assert time.monotonic() < deadline, "the server did not start"
                    time.sleep(0.3)
            assert page.status_code == 200 and "<mark>" in page.text
            (stylesheet_url,) = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page.text)
            stylesheet = client.get(stylesheet_url)
            assert stylesheet.status_code == 200 and "text/css" in stylesheet.headers["content-type"]
            found = client.get("/api/catalog/search", params={"q": "photosynthesis"}).json()
            assert found["total"] > 0 and found["results"][0]["license"]["in_plain_words"]
            assert client.get(found["results"][0]["thumbnail_url"]).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
