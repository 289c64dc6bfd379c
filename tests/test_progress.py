"""Progress bars follow TQDM_DISABLE when they are made, in a terminal and in notebooks."""
from __future__ import annotations

import pytest

from facegen_utils import _log


@pytest.mark.parametrize("value, quiet", [("1", True), ("True", True), ("yes", True), ("0", False), ("", False),
                                          ("false", False), (None, False)])
def test_tqdm_disable_is_read_at_call_time(monkeypatch, value, quiet):
    if value is None:
        monkeypatch.delenv("TQDM_DISABLE", raising=False)
    else:
        monkeypatch.setenv("TQDM_DISABLE", value)
    assert _log.quiet_progress() is quiet
    with _log.progress(range(3), desc="t") as bar:
        assert bar.disable is quiet
    with _log.progress(range(3), show=False) as bar:  # a non-main process never shows one
        assert bar.disable


def test_notebook_bars_obey_tqdm_disable(monkeypatch):
    # tqdm.notebook passes disable=False to tqdm itself, which hides TQDM_DISABLE; progress() passes it explicitly
    pytest.importorskip("ipywidgets")
    import tqdm.auto
    from tqdm.notebook import tqdm as notebook_tqdm

    monkeypatch.setattr(tqdm.auto, "tqdm", notebook_tqdm)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    bar = _log.progress(total=5, desc="training")
    assert isinstance(bar, notebook_tqdm) and bar.disable
    bar.close()
