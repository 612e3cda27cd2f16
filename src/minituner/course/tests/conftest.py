"""The contract's fixtures: a fixed seed for every test, and the LoRA implementation under test.

`minituner contract path/to/lora.py` (or pytest on this folder with --impl) runs it on a learner's file.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import torch


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--impl",
        default=None,
        help="a lora.py to test instead of minituner.lora (e.g. learners/NAME/phase-28/lab/lora.py)",
    )


@pytest.fixture(autouse=True)
def seed() -> int:
    torch.manual_seed(0)
    return 0


@pytest.fixture(scope="session")
def lora(pytestconfig: pytest.Config) -> ModuleType:
    path = pytestconfig.getoption("--impl")
    if path is None:
        return importlib.import_module("minituner.lora")
    path = Path(path)
    if not path.is_file():
        raise pytest.UsageError(f"--impl {path}: no such file")
    spec = importlib.util.spec_from_file_location("lora_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as err:  # one error, kept for every test: not an import a test
        raise ImportError(f"{path.name}: importing it raised {err!r}") from err
    return module
