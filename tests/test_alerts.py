"""Alerts (relphot_core.alerts, relphot alerts, the end of relphot compute
--db): events of a batch de-duplicated by identity, ONE digest per batch,
delivered through Apprise to a real SMTP server (aiosmtpd) and a real
webhook receiver; failed deliveries recorded and retried; "no new data"
once per quiet spell; the [alerts] configuration; migration 0010."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from sqlalchemy import inspect, text

from relphot_core import alerts
from relphot_core.cli import main
from relphot_core.config import ALERT_PROBLEM_KINDS, Alerts, Config, load_config
from relphot_core.errors import ConfigError
from relphot_core.news import News, Since
from relphot_core.simulate.faults import ending_faults_season, factor_table
from relphot_core.store import Store

from alert_fixtures import Webhook, free_port, smtp, webhook  # noqa: F401  (fixtures)
from store_fixtures import store, store_url  # noqa: F401  (fixtures)
from test_problems import _results

DASHBOARD = "https://qc.example.org"


# ------------------------------------------------------------ pure part
def _news_problem(problem_id, event, kind="drift", size=-0.004, subject="dither 4"):
    return {"problem_id": problem_id, "event": event, "at": pd.Timestamp("2026-12-05 02:10", tz="UTC"), "kind": kind,
            "filter": "NIR_J", "subject": subject, "title": f"drift of {subject}", "size": size, "size_error": 0.0002,
            "slope": None, "unit": "flux", "worst_status": "WARN", "n_exposures": 12, "state": "open",
            "ongoing": True, "current": True}


def test_events_follow_the_settings_and_key_on_the_problems_identity():
    news = News(Since("batch", None, "the start"), problems=pd.DataFrame([
        _news_problem(1, "opened"), _news_problem(2, "grew", subject="dither 3"),
        _news_problem(3, "regressed", subject="dither 2"), _news_problem(4, "opened", size=-0.001, subject="dither 1"),
        _news_problem(5, "opened", kind="failure", size=None, subject="obs 1040")]))
    fingerprints = {i: f"drift|NIR_J|dither {i}" for i in range(1, 6)}
    events = alerts.news_events(news, fingerprints, Alerts(min_size=0.002), alerts.Links(DASHBOARD))
    assert [(e.problem_id, e.kind) for e in events] == [(1, "new_problem"), (3, "regression")]
    opened, regressed = events
    assert opened.key == "drift|NIR_J|dither 1 opened"
    assert regressed.key.startswith("drift|NIR_J|dither 3 regressed 2026-12-05T02:10")  # each regression its own
    assert f"]({DASHBOARD}/triage?view=open&problem=1)" in opened.text and "-0.40 ± 0.02 %" in opened.text
    # every kind and size, no regression: the small one and the failure come, the regression does not
    chosen = Alerts(events=("new_problem",), kinds=ALERT_PROBLEM_KINDS)
    assert [e.problem_id for e in alerts.news_events(news, fingerprints, chosen)] == [1, 4, 5]


def test_the_problem_kinds_of_the_configuration_are_the_problems():
    from relphot_core.qc.problems import PROBLEM_KINDS

    assert ALERT_PROBLEM_KINDS == PROBLEM_KINDS


def test_a_digest_names_every_event_by_section_with_links():
    links = alerts.Links(DASHBOARD)
    events = [alerts.AlertEvent("a", "new_fail", links.observation("obs 1040 NIR_J dither 2", 1040, "NIR_J")),
              alerts.AlertEvent("b", "new_problem", links.problem("drift of dither 4 (NIR_J)", 7), 7)]
    since = datetime(2026, 12, 5, 2, 10, tzinfo=timezone.utc)
    message = alerts.digest(events, about="batch 12", since=since, links=links)
    assert message.title == "relphot QC: 1 new problem, 1 new FAIL exposure (batch 12)"
    body = message.body
    assert body.index("New problems (1)") < body.index("New FAIL exposures (1)")  # the most telling first
    assert f"[obs 1040 NIR_J dither 2]({DASHBOARD}/observation/1040?filter=NIR_J)" in body
    assert f"({DASHBOARD}/news?since=2026-12-05T02:10:00)" in body
    many = [alerts.AlertEvent(str(i), "new_fail", f"obs {i}") for i in range(alerts.MAX_LINES + 5)]
    assert "… and 5 more" in alerts.digest(many).body
    assert "](" not in alerts.digest([alerts.AlertEvent("c", "new_fail", alerts.Links().observation("x", 1, "J"))]).body


def test_no_data_is_raised_after_the_configured_hours_once_per_quiet_spell():
    last = datetime(2026, 12, 5, 2, 0, tzinfo=timezone.utc)
    settings = Alerts(no_data_hours=24)
    assert alerts.no_data_event(last, last + timedelta(hours=23), settings) is None
    late = alerts.no_data_event(last, last + timedelta(hours=25), settings)
    later = alerts.no_data_event(last, last + timedelta(hours=60), settings)
    assert late.kind == "no_data" and late.key == later.key  # the same spell: the same key
    assert alerts.no_data_event(last + timedelta(days=3), last + timedelta(days=4, hours=1), settings).key != late.key
    assert alerts.no_data_event(None, last, settings) is None
    assert alerts.no_data_event(last, last + timedelta(days=9), Alerts(events=("new_fail",))) is None


# ------------------------------------------------------------ configuration
def test_the_alerts_section_is_read_and_left_out_of_the_runs(tmp_path):
    path = tmp_path / "relphot.toml"
    path.write_text('[alerts]\ntargets = ["json://127.0.0.1:9/hook", "mailto://u:secret@example.org"]\n'
                    'events = ["new_problem", "no_data"]\nkinds = ["drift"]\nmin_size = 0.003\n'
                    'no_data_hours = 30\ndashboard_url = "https://qc.example.org"\nmax_attempts = 3\n')
    config = load_config(path)
    assert config.alerts == Alerts(targets=("json://127.0.0.1:9/hook", "mailto://u:secret@example.org"),
                                   events=("new_problem", "no_data"), kinds=("drift",), min_size=0.003,
                                   no_data_hours=30.0, dashboard_url="https://qc.example.org", max_attempts=3)
    assert not any(key.startswith("alerts.") for key in config.parameters())  # not a run's, no secret in runs
    assert config.parameters() == Config().parameters()


@pytest.mark.parametrize("values, message", [
    ({"events": ["new_fails"]}, "alerts.events: each item must be one of 'new_problem'"),
    ({"kinds": ["drifts"]}, "alerts.kinds: each item must be one of 'drift'"),
    ({"targets": "hooks.example.org"}, "alerts.targets: target 1 is not a URL"),
    ({"targets": [3]}, "alerts.targets must be a list of text"),
    ({"no_data_hours": 0}, "alerts.no_data_hours must be > 0"),
    ({"min_size": -0.1}, "alerts.min_size must be >= 0"),
    ({"max_attempts": 0}, "alerts.max_attempts must be >= 1"),
    ({"dashboard_url": "qc.example.org"}, "alerts.dashboard_url must start with http:// or https://"),
])
def test_impossible_alert_settings_are_refused_in_one_line(values, message):
    with pytest.raises(ConfigError, match=message) as caught:
        Config().replace(alerts=values)
    assert "\n" not in str(caught.value)


def test_a_target_apprise_cannot_use_is_refused_without_showing_its_secrets(tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"target 2 \(nosuch://...\) is not a URL Apprise") as caught:
        alerts.targets(["json://127.0.0.1:9/hook", "nosuch://user:secret@host"])
    assert "secret" not in str(caught.value)
    label = alerts.targets(["mailto://user:secret@127.0.0.1:25?from=relphot@localhost&to=qc@localhost"])[0].label
    assert "secret" not in label and label.startswith("mailto://user:")
    # relphot compute (its alerts come from the --config file) refuses it before anything runs
    config = tmp_path / "bad.toml"
    config.write_text('[alerts]\ntargets = ["nosuch://user:secret@host"]\n')
    status = main(["compute", str(tmp_path), "--db", str(tmp_path / "s.db"), "--config", str(config), "-q"])
    err = capsys.readouterr().err
    assert status == 2 and "is not a URL Apprise" in err and "secret" not in err
    assert not (tmp_path / "s.db").exists() or Store.open(str(tmp_path / "s.db")).batches().empty


# ------------------------------------------------------------ batches with a store
@pytest.fixture(scope="module")
def season():
    return factor_table(ending_faults_season(160), error=0.0005, seed=1)


def _batch(store: Store, part: pd.DataFrame) -> int:
    """One batch as relphot compute --db logs it: start, save, problems, finish."""
    batch = store.start_batch(command="compute", sets_planned=part["obs_id"].nunique())
    store.save_results(_results(part))
    counts = store.update_problems(["NIR_J"])["NIR_J"]
    store.finish_batch(batch, new_runs=part["obs_id"].nunique(), problems=counts, exit_status=0)
    return batch


def _with_a_new_fail(part: pd.DataFrame, obs_id: int, dither: int) -> pd.DataFrame:
    part = part.copy()
    bad = (part["obs_id"] == obs_id) & (part["exposure"] == dither)
    part.loc[bad, "value"] *= 0.96
    part.loc[bad, "status"] = "FAIL"
    return part


def _settings(*targets: str, **values) -> Alerts:
    return Config().replace(alerts={"targets": list(targets), "dashboard_url": DASHBOARD, **values}).alerts


def test_a_batch_sends_one_digest_naming_its_new_fail_and_drift_once_and_a_regression_again(
        store, season, smtp, webhook):
    mailbox, mail_url = smtp
    settings = _settings(mail_url, webhook.url)
    _batch(store, season[season["obs_id"] < 1100])  # the earlier nights
    alerts.alert_batches(store, settings)
    assert len(mailbox.messages) == 1 and len(webhook.received) == 1
    # last night: the ramp of dither 4 starts (a new drift), obs 1120 dither 1 comes out FAIL
    tonight = _with_a_new_fail(season[(season["obs_id"] >= 1100) & (season["obs_id"] < 1135)], 1120, 1)
    batch = _batch(store, tonight)
    report = alerts.alert_batches(store, settings)
    assert len(mailbox.messages) == 2 and len(webhook.received) == 2  # ONE digest per target
    assert {e.kind for e in report.events} == {"new_problem", "new_fail"}
    subject, mail = mailbox.messages[-1]
    hook = webhook.received[-1]
    assert subject == hook["title"] and "1 new FAIL exposure" in subject and f"batch {batch}" in subject
    drift = store.problems("NIR_J").set_index("subject").loc["dither 4"]
    for body in (mail, hook["message"]):
        assert "drift of dither 4" in body and "obs 1120 NIR_J dither 1" in body
        assert f"{DASHBOARD}/triage?view=open&amp;problem={drift['id']}" in body or \
            f"{DASHBOARD}/triage?view=open&problem={drift['id']}" in body
        assert "dither 3" not in body  # it grew: already alerted
    deliveries = store.alert_deliveries()
    assert (deliveries["outcome"] == "sent").all() and (deliveries["attempts"] == 1).all()
    # the same command again, and the same batch looked at again: nothing is sent
    assert not alerts.alert_batches(store, settings).events
    again = alerts.record_batches(store, settings, alerts.targets(settings.targets),
                                  [(batch, store.batches().iloc[0]["started"].to_pydatetime())])
    assert not again.events
    alerts.alert_batches(store, settings)
    assert len(mailbox.messages) == 2 and len(webhook.received) == 2
    # a lead resolves the step of dither 2; it comes back: a regression is sent, the ramp's growth is not
    step = int(store.problems("NIR_J").set_index("subject").loc["dither 2", "id"])
    store.set_problem_state(step, "resolve", "lead", comment="flat fixed")
    rest = season[season["obs_id"] >= 1135].copy()
    rest.loc[(rest["exposure"] == 2) & (rest["obs_id"] >= 1140), "value"] *= 0.995
    _batch(store, rest)
    report = alerts.alert_batches(store, settings)
    assert [(e.kind, e.problem_id) for e in report.events] == [("regression", step)]
    assert len(webhook.received) == 3 and "Regressions (resolved, seen again) (1)" in webhook.received[-1]["message"]
    assert "drift of dither 2" in mailbox.messages[-1][1] and "dither 4" not in webhook.received[-1]["message"]
    listed = store.alert_events()
    assert listed["key"].is_unique and len(listed) == len(store.alert_events(limit=None))


def test_an_unreachable_target_is_recorded_retried_and_given_up(store, season, webhook, tmp_path,
                                                                 capsys):
    closed = free_port()
    settings = _settings(webhook.url, f"json://127.0.0.1:{closed}/hook", max_attempts=3)
    _batch(store, season[season["obs_id"] < 1100])
    report = alerts.alert_batches(store, settings)
    assert len(webhook.received) == 1 and len(report.failed) == 1
    failed = store.alert_deliveries(failed_only=True)
    assert len(failed) == 1 and failed.iloc[0]["outcome"] == "failed" and failed.iloc[0]["attempts"] == 1
    assert f"127.0.0.1:{closed}" in failed.iloc[0]["target"] and failed.iloc[0]["last_error"]
    # relphot alerts check (cron) retries it; the reachable target is not sent the digest again
    config = tmp_path / "relphot.toml"
    config.write_text(f'[alerts]\ntargets = ["{webhook.url}", "json://127.0.0.1:{closed}/hook"]\n'
                      f'max_attempts = 3\n')
    assert main(["alerts", "check", "--db", store.url, "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert f"alert to json://127.0.0.1:{closed}/hook not delivered" in err and "retried next time" in err
    assert len(webhook.received) == 1
    assert store.alert_deliveries(failed_only=True).iloc[0]["attempts"] == 2
    # the target is back: the next check delivers the same digest
    back = Webhook(closed)
    try:
        assert main(["alerts", "check", "--db", store.url, "--config", str(config)]) == 0
        assert len(back.received) == 1 and back.received[0]["title"] == webhook.received[0]["title"]
    finally:
        back.close()
    assert store.alert_deliveries(failed_only=True).empty
    sent = store.alert_deliveries().set_index("target")
    assert sent.loc[f"json://127.0.0.1:{closed}/hook", "attempts"] == 3
    # a target that never comes back is given up after max_attempts
    gone = free_port()
    settings = _settings(f"json://127.0.0.1:{gone}/hook", max_attempts=2)
    _batch(store, _with_a_new_fail(season[(season["obs_id"] >= 1100) & (season["obs_id"] < 1110)], 1105, 3))
    alerts.alert_batches(store, settings)
    report = alerts.check(store, settings)
    assert [outcome for _label, outcome, _error in report.failed] == ["given_up"]
    assert not alerts.check(store, settings).failed  # no longer tried
    assert store.alert_deliveries(failed_only=True).iloc[0]["outcome"] == "given_up"


def test_relphot_alerts_check_raises_no_new_data_once_per_quiet_spell(store, season, webhook,
                                                                      tmp_path, capsys):
    config = tmp_path / "relphot.toml"
    config.write_text(f'[alerts]\ntargets = ["{webhook.url}"]\nno_data_hours = 24\n')
    _batch(store, season[season["obs_id"] < 1025])  # with the bad exposure of obs 1020
    started = store.last_batch_started()
    check = ["alerts", "check", "--db", store.url, "--config", str(config), "--now"]
    assert main([*check, (started + timedelta(hours=2)).isoformat()]) == 0
    assert len(webhook.received) == 1  # the batch's own digest (the first the alerts see)
    assert main([*check, (started + timedelta(hours=23)).isoformat()]) == 0
    assert len(webhook.received) == 1
    assert main([*check, (started + timedelta(hours=25)).isoformat()]) == 0
    assert len(webhook.received) == 2 and webhook.received[-1]["title"] == "relphot QC: no new data"
    assert "No batch for 25 hours" in webhook.received[-1]["message"]
    for hours in (26, 49, 200):  # the same quiet spell: once
        assert main([*check, (started + timedelta(hours=hours)).isoformat()]) == 0
    assert len(webhook.received) == 2
    # a batch ends the spell; the next quiet spell is alerted again
    _batch(store, season[(season["obs_id"] >= 1025) & (season["obs_id"] < 1028)])
    restarted = store.last_batch_started()
    assert main([*check, (restarted + timedelta(hours=30)).isoformat()]) == 0
    titles = [message["title"] for message in webhook.received]
    assert titles.count("relphot QC: no new data") == 2
    capsys.readouterr()
    assert main(["alerts", "list", "--db", store.url, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [e["kind"] for e in listed["events"]].count("no_data") == 2
    assert all(d["outcome"] == "sent" for d in listed["deliveries"])
    assert main(["alerts", "list", "--db", store.url]) == 0
    assert "no_data" in capsys.readouterr().out


def test_relphot_alerts_test_and_usage_errors(webhook, tmp_path, capsys):
    assert main(["alerts", "test", "--alert-target", webhook.url]) == 0
    assert len(webhook.received) == 1 and "test" in webhook.received[0]["title"]
    closed = free_port()
    assert main(["alerts", "test", "--alert-target", f"json://127.0.0.1:{closed}/x"]) == 1
    assert "not delivered" in capsys.readouterr().err
    assert main(["alerts", "check", "--db", str(tmp_path / "none.db"), "--alert-target", webhook.url]) == 2
    assert "no such store" in capsys.readouterr().err
    assert main(["alerts", "test"]) == 2
    assert "no alert target" in capsys.readouterr().err
    assert main(["alerts", "check", "--alert-target", webhook.url, "--alert-event", "nothing"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "alerts.events" in err


# ------------------------------------------------------------ relphot compute --db
def test_compute_sends_its_batch_and_a_failed_delivery_leaves_its_exit_status(tmp_path, webhook,
                                                                              capsys):
    catalogs = tmp_path / "catalogs"
    assert main(["simulate", "--out", str(catalogs), "--filters", "NIR_J", "--sources-per-detector", "150",
                 "--offset", "2:0.05", "--quiet"]) == 0
    (catalogs / "broken.cat.fits").write_bytes(b"not a FITS file")
    db = tmp_path / "s.db"
    closed = free_port()
    config = tmp_path / "relphot.toml"
    config.write_text(f'[alerts]\ntargets = ["{webhook.url}", "json://127.0.0.1:{closed}/hook"]\n'
                      f'dashboard_url = "{DASHBOARD}"\nevents = ["new_fail", "failure"]\n')
    status = main(["compute", str(catalogs), "--db", str(db), "--config", str(config), "-q"])
    err = capsys.readouterr().err
    with Store.open(str(db)) as store:
        batch = store.batches().iloc[0]
        assert status == 1 and batch["exit_status"] == 1  # the broken catalogue; the alert did not change it
        assert len(webhook.received) == 1
        message = webhook.received[0]["message"]
        assert "obs 1000 NIR_J dither 2" in message and "broken.cat.fits" in message
        assert f"{DASHBOARD}/observation/1000?filter=NIR_J" in message
        warnings = [line for line in err.splitlines() if "alert" in line]
        assert len(warnings) == 1 and f"127.0.0.1:{closed}" in warnings[0] and "warning" in warnings[0]
        assert store.alert_deliveries(failed_only=True)["attempts"].tolist() == [1]
    # the same command again: nothing new, nothing sent; the failed delivery is retried
    status = main(["compute", str(catalogs), "--db", str(db), "--config", str(config), "-q"])
    assert status == 1 and len(webhook.received) == 1
    with Store.open(str(db)) as store:
        assert store.alert_deliveries(failed_only=True)["attempts"].tolist() == [2]


def test_without_targets_compute_sends_nothing_and_records_nothing(tmp_path):
    catalogs = tmp_path / "catalogs"
    assert main(["simulate", "--out", str(catalogs), "--filters", "NIR_J", "--sources-per-detector", "150",
                 "--quiet"]) == 0
    db = tmp_path / "s.db"
    assert main(["compute", str(catalogs), "--db", str(db), "-q"]) == 0
    with Store.open(str(db)) as store:
        assert store.alert_events().empty and store.alert_deliveries().empty


# ------------------------------------------------------------ schema
def test_migration_0010_adds_the_alert_tables_and_goes_back(store_url):
    from alembic import command

    from relphot_core.store.engine import make_engine, write_engine
    from relphot_core.store.schema import alembic_config

    engine = make_engine(store_url)
    config = alembic_config()
    tables = {"alert_digest", "alert_event", "alert_delivery"}
    with write_engine(engine).begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0009")
        conn.execute(text("INSERT INTO batch (started, command, host, software_version, params_digest, "
                          "sets_planned, sets_computed, new_runs, same_runs, failures, statuses, problems) "
                          "VALUES ('2026-12-05 02:00:00', 'compute', '', '', '', 1, 1, 1, 0, 0, '{}', '{}')"))
        command.upgrade(config, "0010")
    with engine.connect() as conn:
        assert tables <= set(inspect(conn).get_table_names())
        assert conn.execute(text("SELECT count(*) FROM batch")).scalar() == 1
    with Store(engine) as opened:
        event = alerts.AlertEvent("k", "new_fail", "obs 1 NIR_J dither 1")
        _id, new = opened.record_alerts([event, event], lambda new: ("t", "b"), [("t1", "json://x")], batch_id=1)
        assert len(new) == 1 and opened.record_alerts([event], lambda new: ("t", "b"), [])[1] == []
        assert opened.alert_batches_to_scan() == []
        (pending,) = opened.pending_alert_deliveries(["t1"])
        assert opened.claim_alert_delivery(pending) and not opened.claim_alert_delivery(pending)  # sent once
        assert opened.record_alert_delivery(pending.id, "refused", max_attempts=1) == "given_up"
        assert opened.pending_alert_deliveries(["t1"]) == []
    engine = make_engine(store_url)
    with write_engine(engine).begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0009")
    with engine.connect() as conn:
        assert not tables & set(inspect(conn).get_table_names())
        assert conn.execute(text("SELECT count(*) FROM batch")).scalar() == 1
    engine.dispose()
