"""Test-wide settings: headless plots, quiet progress bars, a small fixed thread count."""
from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TQDM_DISABLE", "1")
if "FACEGEN_CACHE_DIR" not in os.environ:  # decoded-image caches of the tests never land in ~/.cache
    import atexit
    import shutil
    import tempfile

    os.environ["FACEGEN_CACHE_DIR"] = tempfile.mkdtemp(prefix="facegen-test-cache-")
    atexit.register(shutil.rmtree, os.environ["FACEGEN_CACHE_DIR"], ignore_errors=True)

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models train several times faster on one thread than on two busy ones (use with usefixtures)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_faces():
    """48 procedural faces at 16x16: the training tests' data."""
    from facegen_utils.datasets.procedural import SyntheticFaces

    return SyntheticFaces(n=48, image_size=16, seed=0)


def pytest_configure(config) -> None:
    """Close figures between tests so a long run does not accumulate matplotlib state."""
    import matplotlib.pyplot as plt

    plt.close("all")
