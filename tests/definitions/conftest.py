from __future__ import annotations

import pytest

from engine.definitions import yaml_reader


@pytest.fixture(params=["libyaml", "python"])
def loader(request, monkeypatch):
    """Run a test with libyaml's event parser and with PyYAML's pure-Python one."""
    if request.param == "python":
        monkeypatch.setattr(yaml_reader, "_Loader", yaml_reader._ComposingLoader)
    elif yaml_reader._Loader is yaml_reader._ComposingLoader:
        pytest.skip("PyYAML without libyaml")
    return request.param
