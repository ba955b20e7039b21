"""Operator commands for platforms, deployments and keys: their names, flags and exit codes are a contract."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from starlette.testclient import TestClient

from marketplace.app import create_app
from marketplace.cli import main
from marketplace.lti.keys import published_jwks
from marketplace.settings import Settings
from marketplace.store.database import make_engine, make_session_factory
from marketplace.store.registrations import add_deployment, find_platform

# registrations.list_deployments still calls Result.tuples(), deprecated in SQLAlchemy 2.1; drop this mark once it
# iterates the result directly (the warning is not an error, or even shown, outside pytest).

ISSUER = "https://canvas.example.edu"
CANVAS = [
    "--issuer", ISSUER,
    "--auth-login-url", "https://sso.canvas.example.edu/api/lti/authorize_redirect",
    "--auth-token-url", "https://sso.canvas.example.edu/login/oauth2/token",
    "--key-set-url", "https://sso.canvas.example.edu/api/lti/security/jwks",
]


class Cli:
    """Runs `marketplace` and checks what every run must satisfy: the exit code, no traceback, no private key."""

    def __init__(self, runner: CliRunner, database_url: str) -> None:
        self.runner = runner
        self.database_url = database_url

    def __call__(self, *args: str, code: int = 0) -> Result:
        result = self.runner.invoke(main, list(args))
        assert result.exit_code == code, (args, result.output, result.exception)
        assert "Traceback" not in result.output and "PRIVATE KEY" not in result.output
        if code == 1:
            assert result.output.startswith("Error: ") and result.output.strip().count("\n") == 0, result.output
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)


@pytest.fixture
def bare(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The command against an empty, unmigrated database."""
    monkeypatch.setenv("MARKETPLACE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("MARKETPLACE_DATABASE_URL", database_url)
    monkeypatch.delenv("MARKETPLACE_ENV", raising=False)
    monkeypatch.delenv("MARKETPLACE_SECRET_KEY", raising=False)
    return Cli(CliRunner(), database_url)


@pytest.fixture
def cli(bare: Cli) -> Cli:
    """The command against a migrated database."""
    bare("db", "upgrade")
    return bare


@pytest.fixture
def canvas(cli: Cli) -> Iterator[Cli]:
    """A migrated database with one platform registered (client_id 1001)."""
    cli("platform", "add", *CANVAS, "--client-id", "1001", "--name", "Canvas test")
    yield cli


def test_platforms_add_list_remove_with_two_client_ids_per_issuer(cli: Cli) -> None:
    assert "No platforms are registered" in cli("platform", "list").output
    assert cli.json("platform", "list") == []
    added = cli("platform", "add", *CANVAS, "--client-id", "1001", "--name", "Canvas test")
    assert "Registered platform Canvas test" in added.output
    cli("platform", "add", *CANVAS, "--client-id", "1002", "--auth-audience", "https://aud.example.edu")
    cli("deployment", "add", "--issuer", ISSUER, "--client-id", "1002", "--deployment-id", "dep-1")

    table = cli("platform", "list").output.splitlines()
    assert table[0].split() == ["ISSUER", "CLIENT_ID", "NAME", "STATUS", "DEPLOYMENTS", "LOGIN", "URL", "TOKEN",
                                "URL", "JWKS", "URL"]
    assert table[1].split()[:2] == [ISSUER, "1001"] and "Canvas test" in table[1]
    assert table[2].split()[:5] == [ISSUER, "1002", ISSUER, "active", "1"]  # the name defaults to the issuer
    assert "https://sso.canvas.example.edu/api/lti/security/jwks" in table[1]
    listed = cli.json("platform", "list")
    assert [(row["client_id"], row["deployments"], row["auth_audience"]) for row in listed] == [
        ("1001", 0, None), ("1002", 1, "https://aud.example.edu")
    ]
    assert listed[0]["auth_login_url"] == CANVAS[3] and listed[0]["created_at"].endswith("+00:00")

    removed = cli("platform", "remove", "--issuer", ISSUER, "--client-id", "1002")
    assert "1 deployment" in removed.output
    assert [row["client_id"] for row in cli.json("platform", "list")] == ["1001"]
    assert cli.json("deployment", "list") == []  # removed with its platform
    again = cli("platform", "remove", "--issuer", ISSUER, "--client-id", "1002", code=1)
    assert "No platform with issuer" in again.output


def test_duplicate_platform_is_a_one_line_error_and_changes_nothing(canvas: Cli) -> None:
    result = canvas("platform", "add", *CANVAS, "--client-id", "1001", "--name", "Other", code=1)
    assert "already registered" in result.output
    assert [row["name"] for row in canvas.json("platform", "list")] == ["Canvas test"]


@pytest.mark.parametrize("flag", ["--issuer", "--auth-login-url", "--auth-token-url", "--key-set-url"])
def test_platform_urls_must_be_http(cli: Cli, flag: str) -> None:
    args = list(CANVAS)
    args[args.index(flag) + 1] = "ftp://files.example.edu/x"
    result = cli("platform", "add", *args, "--client-id", "1001", code=1)
    assert "must start with https:// or http://" in result.output
    assert cli.json("platform", "list") == []


def test_missing_flags_are_usage_errors(cli: Cli) -> None:
    assert "--client-id" in cli("platform", "add", *CANVAS, code=2).output
    assert "--key-set-url" in cli("platform", "add", *CANVAS[:6], "--client-id", "1", code=2).output
    cli("platform", "remove", "--issuer", ISSUER, code=2)
    cli("deployment", "add", "--issuer", ISSUER, "--client-id", "1001", code=2)
    cli("deployment", "approve", "--client-id", "1001", "--deployment-id", "d", code=2)
    cli("deployment", "remove", "--issuer", ISSUER, "--deployment-id", "d", code=2)


def test_deployments_add_list_approve_remove(canvas: Cli) -> None:
    platform = ["--issuer", ISSUER, "--client-id", "1001"]
    assert "No deployments are registered" in canvas("deployment", "list").output
    assert "Added active deployment dep-1" in canvas("deployment", "add", *platform, "--deployment-id", "dep-1").output
    assert "already registered" in canvas("deployment", "add", *platform, "--deployment-id", "dep-1", code=1).output

    engine = make_engine(canvas.database_url)  # a launch from an unknown deployment leaves it pending
    with make_session_factory(engine)() as session:
        owner = find_platform(session, ISSUER, "1001")
        assert owner is not None
        add_deployment(session, owner, "dep-2", status="pending")
        add_deployment(session, owner, "dep-3", status="pending")
        session.commit()
    engine.dispose()

    table = canvas("deployment", "list").output.splitlines()
    assert table[0].split() == ["ISSUER", "CLIENT_ID", "DEPLOYMENT_ID", "STATUS", "CREATED", "APPROVED"]
    assert table[1].split()[:4] == [ISSUER, "1001", "dep-1", "active"] and table[1].count("UTC") == 2
    assert table[2].split()[:4] == [ISSUER, "1001", "dep-2", "pending"] and table[2].rstrip().endswith("-")
    rows = canvas.json("deployment", "list")
    assert [(row["deployment_id"], row["status"], row["approved_at"] is None) for row in rows] == [
        ("dep-1", "active", False), ("dep-2", "pending", True), ("dep-3", "pending", True)
    ]

    assert "is approved" in canvas("deployment", "approve", *platform, "--deployment-id", "dep-2").output
    assert "already active" in canvas("deployment", "approve", *platform, "--deployment-id", "dep-2").output
    approved = canvas("deployment", "add", *platform, "--deployment-id", "dep-3").output
    assert "Approved pending deployment dep-3" in approved
    assert {row["status"] for row in canvas.json("deployment", "list")} == {"active"}
    assert "No deployment dep-9" in canvas("deployment", "approve", *platform, "--deployment-id", "dep-9",
                                           code=1).output

    assert "Removed deployment dep-1" in canvas("deployment", "remove", *platform, "--deployment-id", "dep-1").output
    canvas("deployment", "remove", *platform, "--deployment-id", "dep-1", code=1)
    assert [row["deployment_id"] for row in canvas.json("deployment", "list")] == ["dep-2", "dep-3"]
    assert canvas.json("platform", "list")[0]["deployments"] == 2


@pytest.mark.parametrize("command", ["add", "approve", "remove"])
def test_deployment_of_an_unknown_platform_is_an_error(canvas: Cli, command: str) -> None:
    result = canvas("deployment", command, "--issuer", ISSUER, "--client-id", "9999", "--deployment-id", "d", code=1)
    assert "No platform with issuer" in result.output and "marketplace platform add" in result.output
    assert canvas.json("deployment", "list") == []


def _roles(cli: Cli) -> dict[str, list[str]]:
    roles: dict[str, list[str]] = {}
    for key in cli.json("keys", "list"):
        roles.setdefault(key["role"], []).append(key["kid"])
    return roles


def test_keys_list_creates_the_active_and_next_keys_once(cli: Cli) -> None:
    table = cli("keys", "list").output.splitlines()
    assert table[0].split() == ["KID", "ROLE", "CREATED", "ACTIVATED", "RETIRED"]
    assert sorted(line.split()[1] for line in table[1:]) == ["active", "next"]
    first = _roles(cli)
    assert sorted(first) == ["active", "next"] and all(len(kids) == 1 for kids in first.values())
    assert _roles(cli) == first  # listing again creates nothing more


def test_keys_rotate_twice_publishes_active_next_and_previous(cli: Cli) -> None:
    before = _roles(cli)
    rotated = cli("keys", "rotate").output
    after_one = _roles(cli)
    assert f"Retired key {before['active'][0]}" in rotated
    assert f"key {before['next'][0]} is now active" in rotated and f"key {after_one['next'][0]} is next" in rotated
    assert after_one["previous"] == before["active"] and after_one["active"] == before["next"]

    cli("keys", "rotate")
    roles = _roles(cli)
    assert sorted(roles) == ["active", "next", "previous", "retired"]
    assert roles["previous"] == after_one["active"] and roles["retired"] == before["active"]
    assert roles["active"] == after_one["next"]
    assert "retired" in cli("keys", "list").output

    engine = make_engine(cli.database_url)
    with make_session_factory(engine)() as session:
        published = {key["kid"] for key in published_jwks(session)["keys"]}
    engine.dispose()
    assert published == {roles["active"][0], roles["next"][0], roles["previous"][0]}


@pytest.mark.parametrize("args", [
    ["platform", "list"],
    ["platform", "add", *CANVAS, "--client-id", "1001"],
    ["platform", "remove", "--issuer", ISSUER, "--client-id", "1001"],
    ["deployment", "list"],
    ["deployment", "add", "--issuer", ISSUER, "--client-id", "1001", "--deployment-id", "d"],
    ["deployment", "approve", "--issuer", ISSUER, "--client-id", "1001", "--deployment-id", "d"],
    ["deployment", "remove", "--issuer", ISSUER, "--client-id", "1001", "--deployment-id", "d"],
    ["keys", "list"],
    ["keys", "rotate"],
])
def test_commands_before_db_upgrade_say_what_to_run(bare: Cli, args: list[str]) -> None:
    assert "marketplace db upgrade" in bare(*args, code=1).output


@pytest.mark.parametrize(("url", "message"), [
    ("postgresql+psycopg://nobody@127.0.0.1:1/none", "Database error"),
    ("not a database url", "MARKETPLACE_DATABASE_URL cannot be used"),
])
def test_an_unusable_database_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str,
                                                 message: str) -> None:
    monkeypatch.setenv("MARKETPLACE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("MARKETPLACE_DATABASE_URL", url)
    monkeypatch.delenv("MARKETPLACE_ENV", raising=False)
    cli = Cli(CliRunner(), url)
    assert message in cli("platform", "list", code=1).output
    assert message in cli("keys", "rotate", code=1).output


def test_platform_frame_origins_reach_the_content_security_policy(database_url: str, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    monkeypatch.setenv("MARKETPLACE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("MARKETPLACE_DATABASE_URL", database_url)
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    base = ["platform", "add", "--issuer", "https://lms.example", "--client-id", "c1",
            "--auth-login-url", "https://lms.example/auth", "--auth-token-url", "https://lms.example/token",
            "--key-set-url", "https://lms.example/jwks"]
    bad = runner.invoke(main, [*base, "--frame-origin", "https://school.example/path"])
    assert bad.exit_code == 1 and "frame origin" in bad.output
    added = runner.invoke(main, [*base, "--frame-origin", "https://school.example.edu",
                                 "--frame-origin", "https://other.example"])
    assert added.exit_code == 0, added.output
    with TestClient(create_app(Settings.from_environment())) as client:
        policy = client.get("/healthz").headers["content-security-policy"]
    assert "https://school.example.edu" in policy and "https://other.example" in policy
