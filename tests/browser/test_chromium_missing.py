"""Without Chromium the browser tests fail, saying how to install it; they are never skipped."""

import pytest

from tests.browser import chromium


def test_a_missing_chromium_is_reported_with_the_apt_get_line(monkeypatch, tmp_path):
    monkeypatch.setattr(chromium.shutil, "which", lambda name: None)
    monkeypatch.setattr(chromium, "DEBIAN_PATH", str(tmp_path / "no-chromium-here"))
    with pytest.raises(chromium.ChromiumMissing, match="apt-get install chromium chromium-driver"):
        chromium.chromium_executable()
