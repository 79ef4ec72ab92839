"""docs/alerts.yaml through Debian's promtool: the rules are valid, and each alert fires on the
series of tests/alerts/alerts_test.yaml that should fire it, after its `for:`, and stays quiet on
those close to them that should not. A real Prometheus fires them from a real `serve`:
tests/e2e/test_alerts_prometheus.py."""

from pathlib import Path

import pytest
import yaml

from tests import prometheus_runner
from tests.prometheus_runner import ALERTS, promtool

UNIT_TESTS = Path(__file__).with_name("alerts_test.yaml")


def alert_names() -> list[str]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule]


def test_promtool_finds_the_shipped_rules_valid():
    checked = promtool("check", "rules", str(ALERTS))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(alert_names())} rules found" in checked.stdout


def test_each_alert_fires_and_stays_quiet_as_the_promtool_unit_tests_expect():
    tested = promtool("test", "rules", str(UNIT_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_the_unit_tests_see_every_alert_both_fire_and_stay_quiet():
    cases = [
        case
        for test in yaml.safe_load(UNIT_TESTS.read_text())["tests"]
        for case in test["alert_rule_test"]
    ]
    fires = {case["alertname"] for case in cases if case["exp_alerts"]}
    quiet = {case["alertname"] for case in cases if not case["exp_alerts"]}
    assert fires == quiet == set(alert_names())


def test_promtool_refuses_a_broken_rule(tmp_path):
    # The check above can fail: an expression that does not parse is reported.
    broken = tmp_path / "broken.yaml"
    broken.write_text(ALERTS.read_text().replace("sum by (job) (", "sum by (job) ((", 1))
    checked = promtool("check", "rules", str(broken))
    assert checked.returncode != 0


@pytest.mark.parametrize("name", ["promtool", "prometheus"])
def test_a_missing_binary_fails_the_test_saying_how_to_install_it(monkeypatch, tmp_path, name):
    monkeypatch.setattr(prometheus_runner.shutil, "which", lambda name: None)
    monkeypatch.setattr(prometheus_runner, "DEBIAN_BIN", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match=f"{name} is not installed") as failed:
        prometheus_runner.binary(name)
    assert "apt-get install --no-install-recommends prometheus" in str(failed.value)
