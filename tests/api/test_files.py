"""Files that hold patient data or grant access are private to the service's user."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from engine.api.clients import Client, ClientRegistry, ClientsFileInvalid, hash_token
from engine.runtime.engine import Engine

from .conftest import WORKFLOWS

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


@pytest.fixture
def permissive_umask():
    old = os.umask(0o022)  # the usual default: new files 0644
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_sqlite_database_and_its_wal_and_shm_are_created_0600(tmp_path, permissive_umask):
    db = tmp_path / "casework.db"
    engine = Engine.open(f"sqlite:///{db}", workflows=WORKFLOWS)
    try:
        files = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
        assert all(f.exists() for f in files)
        assert {f.name: oct(_mode(f)) for f in files} == {f.name: "0o600" for f in files}
    finally:
        engine.close()


def _clients_file(tmp_path: Path, mode: int, suffix: str = ".json") -> Path:
    path = tmp_path / f"clients{suffix}"
    client = Client("ward", "svc:ward", ("nurse",), hash_token("ward-token-0123456789"))
    if suffix == ".json":
        path.write_text(json.dumps({"clients": [client.to_dict()]}))
    else:
        path.write_text(
            '[[clients]]\nname = "ward"\nroles = ["nurse"]\n'
            f'token_sha256 = "{client.token_sha256}"\n'
        )
    path.chmod(mode)
    return path


@pytest.mark.parametrize("suffix", [".json", ".toml"])
@pytest.mark.parametrize("mode", [0o644, 0o604, 0o666, 0o602, 0o620])
def test_a_clients_file_others_can_read_or_change_is_refused(tmp_path, mode, suffix):
    path = _clients_file(tmp_path, mode, suffix)
    with pytest.raises(ClientsFileInvalid) as info:
        ClientRegistry.from_file(path)
    message = str(info.value)
    assert str(path) in message
    assert f"chmod 600 {path}" in message
    assert oct(mode)[2:] in message


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o640])
def test_a_private_clients_file_is_accepted(tmp_path, mode):
    registry = ClientRegistry.from_file(_clients_file(tmp_path, mode))
    assert registry.authenticate("ward-token-0123456789") is not None


def test_serve_refuses_a_world_readable_clients_file(tmp_path):
    import argparse

    from engine.cli.serve import load_clients

    path = _clients_file(tmp_path, 0o644)
    args = argparse.Namespace(clients=str(path), database_url=f"sqlite:///{tmp_path / 'c.db'}")
    with pytest.raises(ClientsFileInvalid, match="chmod 600"):
        load_clients(args)


def test_the_bootstrap_clients_file_is_0600_whatever_the_umask(tmp_path, permissive_umask):
    from engine.api.clients import bootstrap_clients_file

    path = tmp_path / "casework-clients.json"
    assert bootstrap_clients_file(path) is not None
    assert _mode(path) == 0o600
    ClientRegistry.from_file(path)  # and it is accepted
