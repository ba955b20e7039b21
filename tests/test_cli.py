"""The `marketplace` command: its names and flags are a contract for operators and scripts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from marketplace.cli import main
from tests.conftest import write_resource


@pytest.fixture
def runner(tmp_path: Path, content_dir: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("MARKETPLACE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("MARKETPLACE_CONTENT_DIR", str(content_dir))
    monkeypatch.delenv("MARKETPLACE_DATABASE_URL", raising=False)
    monkeypatch.delenv("MARKETPLACE_ENV", raising=False)
    return CliRunner()


def test_db_upgrade_then_index_twice(runner: CliRunner, content_dir: Path, tmp_path: Path) -> None:
    upgraded = runner.invoke(main, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    first = runner.invoke(main, ["index"])
    assert first.exit_code == 0, first.output
    assert "5 files: 5 added, 0 updated, 0 removed, 0 with problems. Index: 5 resources (rebuilt)" in first.output
    second = runner.invoke(main, ["index"])
    assert "0 added, 0 updated, 0 removed" in second.output and "(0 updated, 0 removed)" in second.output
    assert (tmp_path / "var" / "index" / "manifest.json").is_file()


def test_index_compact_merges_what_reindexes_left(runner: CliRunner, content_dir: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from marketplace.catalog import merging

    runner.invoke(main, ["db", "upgrade"])
    runner.invoke(main, ["index"])
    for number in range(2):  # two re-indexes, each committing a segment of its own and merging nothing
        write_resource(content_dir, f"added-{number}", title=f"Added {number}",
                       description="A description long enough.")
        assert "(1 updated, 0 removed)" in runner.invoke(main, ["index"]).output
    monkeypatch.setattr(merging, "MERGE_FACTOR", 2)
    result = runner.invoke(main, ["index", "--compact"])
    assert result.exit_code == 0, result.output
    # Three segments of one level (5, 1 and 1 documents): the two smallest merged, then the two left.
    assert "Compacted: index segments 1." in result.output and "compaction" in result.output


def test_index_reports_bad_files_and_strict_fails(runner: CliRunner, content_dir: Path) -> None:
    runner.invoke(main, ["db", "upgrade"])
    bad = write_resource(content_dir, "broken", title="Broken", description="A description long enough here.")
    bad.write_text(bad.read_text().replace('subject = "biology"', 'subject = "alchemy"'))
    result = runner.invoke(main, ["index"])
    assert result.exit_code == 0
    assert "resources/biology/broken.toml:4: unknown subject 'alchemy'" in result.output.replace("\n", "")
    assert "1 with problems" in result.output
    assert runner.invoke(main, ["index", "--strict"]).exit_code == 1


def test_index_before_migrations_says_what_to_run(runner: CliRunner) -> None:
    result = runner.invoke(main, ["index"])
    assert result.exit_code != 0
    assert "marketplace db upgrade" in result.output and "Traceback" not in result.output


def test_serve_refuses_an_unmigrated_database_and_bad_flags(runner: CliRunner) -> None:
    result = runner.invoke(main, ["serve", "--host", "127.0.0.1", "--port", "8123"])
    assert result.exit_code != 0 and "marketplace db upgrade" in result.output
    assert runner.invoke(main, ["serve", "--port", "99999"]).exit_code == 2
    assert "--host" in runner.invoke(main, ["serve", "--help"]).output


def test_production_without_a_secret_is_a_one_line_error(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKETPLACE_ENV", "production")
    result = runner.invoke(main, ["db", "upgrade"])
    assert result.exit_code == 1
    assert "MARKETPLACE_SECRET_KEY" in result.output and "Traceback" not in result.output


def _with_evidence(path: Path, checked: str) -> None:
    path.write_text(path.read_text().replace(
        'attribution = "', f'evidence_url = "https://example.org/terms"\nchecked = {checked}\nattribution = "'))


def test_catalog_licences_counts_and_lists_what_to_read_again(runner: CliRunner, content_dir: Path) -> None:
    from datetime import UTC, datetime, timedelta

    today = datetime.now(UTC).date()
    folder = content_dir / "resources"
    _with_evidence(folder / "biology" / "plant-cells.toml", (today - timedelta(days=30)).isoformat())
    _with_evidence(folder / "history" / "french-revolution.toml", (today - timedelta(days=400)).isoformat())
    write_resource(content_dir, "own-notes", title="Our own notes", description="Notes written for the catalog.",
                   author="LTI Marketplace Editors")
    result = runner.invoke(main, ["catalog", "licences", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["total"], report["external"], report["files_with_problems"]) == (6, 5, 0)
    assert {row["id"]: row["count"] for row in report["per_licence"]} == {
        "CC-BY-4.0": 3, "CC0-1.0": 1, "CC-BY-SA-4.0": 1, "CC-BY-NC-4.0": 1}
    sources = {row["source"]: row for row in report["per_source"]}
    assert sources["example.org"]["count"] == 5 and sources["LTI Marketplace"]["count"] == 1  # ours, wherever linked
    to_check = {row["id"]: row["reason"] for row in report["to_check"]}
    assert "plant-cells" not in to_check and "own-notes" not in to_check  # read lately; ours to license
    assert to_check["french-revolution"].endswith("over a year ago")
    assert to_check["photosynthesis-basics"] == "no evidence recorded"
    assert len(to_check) == 4

    table = runner.invoke(main, ["catalog", "licences"])
    assert table.exit_code == 0
    assert "CC BY-NC 4.0" in table.output and "4 to read again at their source:" in table.output
    assert "resources/history/french-revolution.toml" in table.output
    assert runner.invoke(main, ["catalog", "licences", "--strict"]).exit_code == 1
    missing = runner.invoke(main, ["catalog", "licences", "--content-dir", str(content_dir / "nowhere")])
    assert missing.exit_code != 0 and "does not exist" in missing.output


def test_the_bundled_catalog_report_runs(runner: CliRunner) -> None:
    from tests.conftest import PROJECT_DIR

    result = runner.invoke(main, ["catalog", "licences", "--json", "--content-dir", str(PROJECT_DIR / "content")])
    assert result.exit_code == 0
    report = json.loads(result.output)
    assert report["files_with_problems"] == 0 and report["external"] > 150
    by_source = {row["source"]: row["licences"] for row in report["per_source"]}
    assert by_source["PhET"] == {"CC-BY-NC-4.0": 33} and by_source["OpenStreetMap"] == {"ODbL-1.0": 3}
