"""`marketplace index` on a large catalog of TOML files, as an operator runs it: the time of each phase, the
peak memory of the command, the re-index of a few changed files, and what the served process holds.

    .venv/bin/python -m bench.index_path                     # 100,000 resources, 100 changed, SQLite
    .venv/bin/python -m bench.index_path --count 20000 --changed 100
    .venv/bin/python -m bench.index_path --database-url postgresql+psycopg://postgres@127.0.0.1:54330/postgres

The catalog is the synthetic one of the search benchmark (bench/synthetic.py), written as one TOML file per
resource in the format of content/ (link resources with valid licences and credit lines, spread over the
subjects). Phases are read from the command's own progress output (the Rich progress lines on stderr are
timed as they appear); the peak memory is the command's maximum resident set (getrusage of the child).
Targets (issue 15): the full index <= 30 s and <= 500 MB; 100 changed files <= 3 s; the served process
<= 300 MB with the index open.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.synthetic import resources
from marketplace.catalog.licences import LICENCES

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = """\
id = "{id}"
title = "{title}"
description = "{description}"
subject = "{subject}"
grade_levels = {grades}
type = "link"
language = "en"
keywords = {keywords}
thumbnail = "thumbnails/mathematics.svg"

[author]
name = "{author}"

[license]
id = "{license}"
attribution = "{title} by {author}, https://example.org/r/{id}, licensed {label}"

[payload]
url = "https://example.org/r/{id}"
"""


def quoted(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(f'"{value}"' for value in values) + "]"


def write_catalog(folder: Path, count: int) -> list[Path]:
    """The synthetic catalog as TOML files; returns their paths in order."""
    (folder / "files").mkdir(parents=True, exist_ok=True)
    thumbnails = folder / "thumbnails"
    if not thumbnails.exists():
        shutil.copytree(ROOT / "content" / "thumbnails", thumbnails)  # the loader refuses links out of content/
    paths = []
    for item in resources(count):
        directory = folder / "resources" / item.subject
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{item.id}.toml"
        licence = LICENCES[item.license_id]
        path.write_text(TEMPLATE.format(id=item.id, title=item.title, description=item.description,
                                        subject=item.subject, grades=quoted(item.grade_levels),
                                        keywords=quoted(item.keywords), author=item.author_name,
                                        license=item.license_id, label=licence.label), encoding="utf-8")
        paths.append(path)
    return paths


def run_index(env: dict[str, str], workdir: Path, *extra: str) -> tuple[float, int, str]:
    """`marketplace index`: wall seconds, the child's peak RSS in bytes, and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "marketplace.cli", "index", *extra], env=env, cwd=workdir,
                          capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if done.returncode != 0:
        raise SystemExit(f"marketplace index failed: {done.stderr[-2000:]}")
    # ru_maxrss of the children is the largest one so far (kB on Linux); a smaller later run cannot be told
    # apart, so the first (full) run's figure is the one that counts.
    return seconds, max(peak, before) * 1024, done.stdout + done.stderr


def summary(output: str) -> str:
    """The command's own summary and phase lines ("N files: … Index: …", "Phases: …")."""
    lines = [line.strip() for line in output.splitlines() if " files: " in line or line.startswith("Phases: ")]
    return "\n   ".join(line[:160] for line in lines) or "(no summary)"


def served_rss(env: dict[str, str], workdir: Path) -> int:
    """The resident memory of `marketplace serve` (one process) with the index open, after a few searches."""
    probe = __import__("socket").socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    server = subprocess.Popen([sys.executable, "-m", "marketplace.cli", "serve", "--port", str(port)],
                              env={**env, "MARKETPLACE_CATALOG_CHECK_SECONDS": "0"}, cwd=workdir,
                              stdout=subprocess.DEVNULL, stderr=(workdir / "serve.log").open("wb"))
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + "/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("marketplace serve did not become ready: "
                                 + (workdir / "serve.log").read_text(errors="replace")[-1500:])
            time.sleep(0.5)
        for words in ("ka to", "mo na se", "lu", "vi da pe go"):
            httpx.get(base + "/api/catalog/search", params={"q": words}, timeout=30)
        status = Path(f"/proc/{server.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) * 1024
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--changed", type=int, default=100)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-index-") as temporary:
        workdir = Path(temporary)
        content = workdir / "content"
        started = time.perf_counter()
        paths = write_catalog(content, args.count)
        print(f"wrote {args.count} TOML files in {time.perf_counter() - started:.1f} s")
        env = {**os.environ, "MARKETPLACE_DATA_DIR": str(workdir / "var"), "MARKETPLACE_CONTENT_DIR": str(content),
               "MARKETPLACE_THUMBNAIL_FETCH": "0", "MARKETPLACE_SECRET_KEY": "index-bench-" + "k" * 40,
               "MARKETPLACE_LOG_LEVEL": "WARNING"}
        if args.database_url:
            env["MARKETPLACE_DATABASE_URL"] = args.database_url
        subprocess.run([sys.executable, "-m", "marketplace.cli", "db", "upgrade"], env=env, cwd=workdir,
                       check=True, capture_output=True)
        seconds, peak, output = run_index(env, workdir)
        print(f"full index:      {seconds:6.1f} s, peak {peak / 2**20:6.0f} MB  (target <= 30 s, <= 500 MB)")
        print("   " + summary(output))
        for path in paths[: args.changed]:
            path.write_text(path.read_text(encoding="utf-8").replace('description = "', 'description = "Changed. ', 1),
                            encoding="utf-8")
        seconds, _, output = run_index(env, workdir)
        print(f"{args.changed} changed files: {seconds:6.1f} s                 (target <= 3 s)")
        print("   " + summary(output))
        rss = served_rss(env, workdir)
        print(f"served process:  {rss / 2**20:6.0f} MB RSS with the index open   (target <= 300 MB)")


if __name__ == "__main__":
    main()
