"""What only PostgreSQL has: URL settings, secrets kept out of messages, table creation by many
servers at once, and owners woken by NOTIFY instead of waiting for their next poll."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from urllib.parse import urlsplit, urlunsplit

import pytest
from support.databases import postgres_base_url, postgres_schema, with_option

from profilestore import Engine, ProfileStore, Server, Settings
from profilestore.application.urls import persistence_env, redact

SECRET = "s3cret-pa55"


def test_the_url_gives_user_password_host_port_database_and_pool_settings() -> None:
    env = persistence_env(f"postgresql://game:{SECRET}@db.internal:6543/profiles"
                          "?pool_size=4&max_overflow=2&connect_timeout=7&lock_timeout=3&schema=live")
    assert env["PERSISTENCE_MODULE"] == "profilestore.infrastructure.postgres"
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_HOST"], env["POSTGRES_PORT"],
            env["POSTGRES_DBNAME"]) == ("game", SECRET, "db.internal", "6543", "profiles")
    assert (env["POSTGRES_POOL_SIZE"], env["POSTGRES_MAX_OVERFLOW"], env["POSTGRES_CONNECT_TIMEOUT"],
            env["POSTGRES_LOCK_TIMEOUT"], env["POSTGRES_SCHEMA"]) == ("4", "2", "7", "3", "live")


def test_percent_encoded_credentials_are_decoded() -> None:
    env = persistence_env("postgres://us%40er:p%2Fw%3Ad@host/db")
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) == ("us@er", "p/w:d")
    assert env["POSTGRES_PORT"] == "5432"


@pytest.mark.parametrize(("url", "named"), [
    (f"postgresql://u:{SECRET}@h/db?pool=3", "unknown option 'pool'"),
    (f"postgresql://u:{SECRET}@h/db?pool_size=many", "pool_size"),
    (f"postgresql://u:{SECRET}@h/db?schema=1;drop", "schema"),
    (f"postgresql://u:{SECRET}@h/", "names no database"),
    (f"postgresql://u:{SECRET}@h:port/db", "malformed"),
])
def test_a_bad_url_is_an_error_that_names_the_problem_and_hides_the_password(url: str, named: str) -> None:
    with pytest.raises(ValueError, match=named) as raised:
        persistence_env(url)
    assert SECRET not in str(raised.value)
    assert "u:***@h" in str(raised.value)


def test_redact_hides_only_the_password() -> None:
    assert redact(f"postgresql://game:{SECRET}@h:5/db?schema=x") == "postgresql://game:***@h:5/db?schema=x"
    assert redact("postgresql://game@h/db") == "postgresql://game@h/db"
    assert redact("sqlite:///tmp/x.db") == "sqlite:///tmp/x.db"


def test_an_unreachable_server_reports_errors_without_the_password(caplog: pytest.LogCaptureFixture
                                                                   ) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"postgresql://game:{SECRET}@127.0.0.1:1/db?connect_timeout=1"
    with Engine(url, background=False) as engine:
        assert engine.data_store_state == "NoInternet"  # nothing listens on port 1
        assert SECRET not in repr(engine)
    said = " ".join(record.getMessage() for record in caplog.records)
    assert "cannot open the database" in said
    assert SECRET not in said


@pytest.mark.postgres
def test_a_server_that_answers_but_refuses_us_is_no_access() -> None:
    base = postgres_base_url()
    missing = urlsplit(base)._replace(path="/no_such_database_here", query="connect_timeout=1")
    with Engine(urlunsplit(missing), background=False) as engine:
        assert engine.data_store_state == "NoAccess"


@pytest.mark.postgres
def test_servers_that_start_at_once_on_an_empty_database_all_open_it() -> None:
    code = ("import sys; from profilestore import Engine\n"
            "e = Engine(sys.argv[1], background=False); print(e.data_store_state); e.close()")
    with postgres_schema() as url:
        starts = [subprocess.Popen([sys.executable, "-c", code, url], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True) for _ in range(6)]
        outcomes = [process.communicate(timeout=60) for process in starts]
    assert [out.strip() for out, _ in outcomes] == ["Access"] * 6, [err for _, err in outcomes]


@pytest.mark.postgres
def test_with_create_tables_off_a_missing_schema_is_reported_not_created() -> None:
    with postgres_schema() as url:
        errors: list[str] = []
        with Engine(with_option(url, "create_tables=no"), background=False,
                    settings=Settings(start_session_timeout=0.1)) as engine:
            engine.on_error.connect(lambda message, *_: errors.append(str(message)))
            assert ProfileStore("S", {"coins": 0}, engine=engine).get("k") is None
        assert errors and "does not exist" in errors[0]
        with Engine(url, background=False) as engine:  # the first real start creates them
            assert ProfileStore("S", {"coins": 0}, engine=engine).get("k") is None


@pytest.mark.postgres
def test_notify_hands_a_profile_over_long_before_either_engines_next_poll() -> None:
    slow_polls = Settings(poll_interval=30.0)
    with postgres_schema() as url, \
            Engine(url, server=Server(job_id="A"), settings=slow_polls) as owner_engine, \
            Engine(url, server=Server(job_id="B"), settings=slow_polls) as asker_engine:
        owner = ProfileStore("S", {"coins": 0}, engine=owner_engine).start_session("p1")
        assert owner is not None
        owner.data["coins"] = 7  # unsaved: the hand-over's final save must carry it
        started = time.monotonic()
        taken = ProfileStore("S", {"coins": 0}, engine=asker_engine).start_session("p1")
        waited = time.monotonic() - started
        assert taken is not None and taken.data["coins"] == 7
        assert not owner.is_active()
        assert waited < 10, f"took {waited:.1f} s: NOTIFY did not wake the engines"
        taken.end_session()


def test_without_the_postgres_extra_the_error_says_which_extra_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *args: None)
    with pytest.raises(ModuleNotFoundError, match=r"profilestore\[postgres\]"):
        persistence_env("postgresql://u@h/db")
