"""A fixed seed for every test, and English messages again after a test that asked for Spanish."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from minituner import i18n


@pytest.fixture(autouse=True)
def seed() -> int:
    torch.manual_seed(0)
    return 0


@pytest.fixture(autouse=True)
def english_afterwards() -> Iterator[None]:
    yield
    i18n.use("en")  # `main(["--lang", "es", ...])` switches the language of the whole process
