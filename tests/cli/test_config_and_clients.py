"""One configuration (TOML + environment under the options), `casework clients` editing a
clients file the running server reloads, and `casework --version`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.api.clients_file import ReloadingClientRegistry
from engine.cli.config import ConfigInvalid, resolve
from engine.cli.main import build_parser, main
from engine.cli.serve import serve_settings
from engine.cli.worker import worker_settings

FULL = """
database_url = "sqlite:///from-file.db"
workflows = ["wf"]
log_level = "warning"
log_format = "text"

[server]
host = "0.0.0.0"
port = 9001
clients_file = "clients.json"
metrics_public = true
max_body_bytes = 2048
worker = false

[worker]
batch_size = 7
sweep_seconds = 0.5
outbox = false

[changes]
max_wait_seconds = 5
stream_seconds = 60

[acting_user]
issuer = "https://idp.example"
audience = "casework"
algorithms = ["RS256"]
public_key_file = "idp.pem"

[delivery]
default_mode = "python"
"""


def _config(tmp_path: Path, text: str = FULL) -> Path:
    path = tmp_path / "casework.toml"
    path.write_text(text)
    return path


def test_every_serve_and_worker_setting_comes_from_the_file(tmp_path: Path) -> None:
    path = _config(tmp_path)
    s = resolve({}, {}, str(path))
    assert s.database_url == "sqlite:///from-file.db"
    assert s.workflows == (str(tmp_path / "wf"),)  # relative to the file
    assert (s.log_level, s.log_format) == ("warning", "text")
    assert (s.server_host, s.server_port) == ("0.0.0.0", 9001)
    assert s.server_clients_file == str(tmp_path / "clients.json")
    assert (s.server_metrics_public, s.server_max_body_bytes, s.server_worker) == (
        True,
        2048,
        False,
    )
    assert (s.worker_batch_size, s.worker_sweep_seconds, s.worker_outbox) == (7, 0.5, False)
    assert (s.changes_max_wait_seconds, s.changes_stream_seconds) == (5.0, 60.0)
    assert s.acting_user["public_key_file"] == str(tmp_path / "idp.pem")
    assert s.delivery == {"default_mode": "python"}  # kept as read, for DeliveryConfig
    assert s.config_file == str(path)


def test_environment_overrides_the_file_and_options_override_both(tmp_path: Path) -> None:
    path = _config(tmp_path)
    env = {
        "CASEWORK_CONFIG": str(path),
        "CASEWORK_SERVER_PORT": "9002",
        "CASEWORK_LOG_FORMAT": "json",
        "CASEWORK_WORKER": "false",
        "CASEWORK_SERVER_WORKER": "true",
        "CASEWORK_WORKFLOWS": "a:b",
        "CASEWORK_DATABASE_URL": "sqlite:///env.db",
    }
    s = resolve({}, env)
    assert (s.server_port, s.log_format, s.server_worker) == (9002, "json", True)
    assert s.workflows == ("a", "b")
    assert s.database_url == "sqlite:///env.db"
    args = build_parser().parse_args(["serve", "--port", "9003", "--no-worker"])
    s2 = serve_settings(args, env)
    assert (s2.server_port, s2.server_worker) == (9003, False)
    assert args.database_url == "sqlite:///env.db"  # written back for the engine
    w = worker_settings(build_parser().parse_args(["worker", "--batch-size", "3"]), env)
    assert (w.worker_batch_size, w.worker_sweep_seconds) == (3, 0.5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("port = 1\n", "unknown setting 'port'"),
        ("[server]\nprot = 1\n", "[server] has no setting 'prot'"),
        ("[server]\nport = 0\n", "port: a number above 0"),
        ("[server]\nport = 1.5\n", "a whole number"),
        ('log_format = "xml"\n', "one of json, text"),
        ("[server]\nmetrics_public = 1\n", "true or false"),
        ("server = 3\n", "must be a table"),
        ("not toml = = \n", "not valid TOML"),
    ],
)
def test_an_invalid_file_names_the_setting(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigInvalid, match=message.replace("[", r"\[").replace("]", r"\]")):
        resolve({}, {}, str(_config(tmp_path, text)))


def test_an_invalid_environment_variable_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigInvalid, match="CASEWORK_WORKER_BATCH_SIZE"):
        resolve({}, {"CASEWORK_WORKER_BATCH_SIZE": "many"})


@given(port=st.integers(min_value=1, max_value=65535), wait=st.floats(0.01, 3600))
def test_numbers_round_trip_through_the_environment(port: int, wait: float) -> None:
    s = resolve(
        {}, {"CASEWORK_SERVER_PORT": str(port), "CASEWORK_CHANGES_MAX_WAIT_SECONDS": repr(wait)}
    )
    assert (s.server_port, s.changes_max_wait_seconds) == (port, wait)


def test_serve_refuses_an_invalid_configuration_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--config", str(_config(tmp_path, "[server]\nport = -1\n"))]) == 1
    assert "port" in capsys.readouterr().err


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"casework {version('casework')}"


# -- clients ---------------------------------------------------------------------------------


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_clients_add_list_rotate_revoke_edit_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "clients.json"
    code, text = _cli(
        capsys, "clients", "add", "ward", "--clients", str(path), "--roles", "nurse,case_manager",
        "--permissions", "read,write,delegate", "--actor", "svc:ward", "--json",
    )  # fmt: skip
    assert code == 0
    token = json.loads(text)["token"]
    assert path.stat().st_mode & 0o777 == 0o600
    stored = json.loads(path.read_text())["clients"][0]
    assert token not in path.read_text()
    assert stored["roles"] == ["nurse", "case_manager"]
    assert stored["permissions"] == ["delegate", "read", "write"]
    code, listed = _cli(capsys, "clients", "list", "--clients", str(path), "--json")
    assert json.loads(listed)["clients"] == [
        {"name": "ward", "actor": "svc:ward", "roles": ["nurse", "case_manager"],
         "permissions": ["delegate", "read", "write"]}
    ]  # fmt: skip
    assert _cli(capsys, "clients", "add", "ward", "--clients", str(path))[0] == 1
    code, rotated = _cli(capsys, "clients", "rotate", "ward", "--clients", str(path), "--json")
    new = json.loads(rotated)["token"]
    assert new != token
    registry = ReloadingClientRegistry(path)
    assert registry.authenticate(token) is None
    assert registry.authenticate(new) is not None
    assert _cli(capsys, "clients", "revoke", "ward", "--clients", str(path))[0] == 0
    assert json.loads(path.read_text())["clients"] == []
    assert _cli(capsys, "clients", "revoke", "ward", "--clients", str(path))[0] == 1


def test_clients_file_in_toml_is_edited_in_toml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "clients.toml"
    code, text = _cli(capsys, "clients", "add", "feed", "--clients", str(path), "--json")
    assert code == 0
    assert path.read_text().startswith("[[clients]]\n")
    assert ReloadingClientRegistry(path).authenticate(json.loads(text)["token"]) is not None


def test_clients_file_comes_from_the_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CASEWORK_CLIENTS_FILE", raising=False)
    config = _config(tmp_path, '[server]\nclients_file = "c.json"\n')
    assert _cli(capsys, "clients", "add", "x", "--config", str(config))[0] == 0
    assert (tmp_path / "c.json").exists()
