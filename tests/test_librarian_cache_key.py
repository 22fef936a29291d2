"""The librarian's cache key: whatever decides a conversion's result is in it, so a cached
model is never trusted across a change of the code or the limits that made it."""
import shutil
from pathlib import Path

import pytest

import firmware
from firmware.core import limits
from firmware.librarian.librarian import CONVERSION_PACKAGES, converter_id


@pytest.fixture
def tree_copy(tmp_path, monkeypatch):
    """A copy of the firmware's sources that converter_id hashes instead of the real tree."""
    src = Path(firmware.__file__).parent
    dst = tmp_path / "firmware"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "data", "static"))
    monkeypatch.setattr(firmware, "__file__", str(dst / "__init__.py"))
    return dst


def test_the_limits_are_part_of_the_key():
    before = converter_id()
    try:
        limits.configure(work_per_sample=limits.DEFAULT.work_per_sample // 2)
        assert converter_id() != before
    finally:
        limits.configure(limits.DEFAULT)
    assert converter_id() == before


@pytest.mark.parametrize("package", CONVERSION_PACKAGES)
def test_a_change_in_any_conversion_package_changes_the_key(tree_copy, package):
    before = converter_id()
    victim = sorted((tree_copy / package).rglob("*.py"))[-1]
    victim.write_text(victim.read_text() + "\n# changed\n")
    assert converter_id() != before


def test_the_limits_module_is_covered(tree_copy):
    # the bug this key had: limits.py was left out of a hand-kept list of files
    before = converter_id()
    path = tree_copy / "core" / "limits.py"
    path.write_text(path.read_text().replace("work_per_sample: int = 150_000", "work_per_sample: int = 150_001"))
    assert converter_id() != before


def test_code_that_converts_nothing_leaves_the_key_alone(tree_copy):
    before = converter_id()
    cli = tree_copy / "tools" / "cli.py"
    cli.write_text(cli.read_text() + "\n# a new command\n")
    assert converter_id() == before
