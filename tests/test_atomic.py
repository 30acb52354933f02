import os

import pytest

from fusion.atomic import atomic_output
from fusion.errors import OutputError


def test_atomic_output_renames_on_success(tmp_path):
    target = tmp_path / "out.bin"
    with atomic_output(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        tmp.write_bytes(b"abc")
        assert not target.exists()
    assert target.read_bytes() == b"abc"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_atomic_output_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("late failure")
    assert os.listdir(tmp_path) == []


def test_existing_output_needs_overwrite(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(OutputError, match="exists"), atomic_output(target):
        pass
    with atomic_output(target, overwrite=True) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"


def test_missing_or_unwritable_folder(tmp_path, monkeypatch):
    with pytest.raises(OutputError, match="does not exist"), atomic_output(tmp_path / "nope" / "x.bin"):
        pass
    # root ignores folder permissions, so simulate a read-only folder at the permission check itself
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(OutputError, match="not writable"), atomic_output(tmp_path / "x.bin"):
        pass
    assert os.listdir(tmp_path) == []
