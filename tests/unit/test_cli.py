from __future__ import annotations

import pytest

from olist_pipeline.cli import build_parser, main


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in ("stack", "db", "run"):
        assert command in out


def test_dsn_prints_the_url_alone(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLIST_PG_PORT", "6543")
    assert main(["stack", "dsn", "--role", "reader"]) == 0
    assert (
        capsys.readouterr().out.strip()
        == "postgresql://olist_reader:olist-local-reader@127.0.0.1:6543/olist"
    )


def test_a_config_error_is_one_line_and_exit_code_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLIST_ENV", "kind")
    monkeypatch.delenv("OLIST_PG_HOST", raising=False)
    assert main(["stack", "dsn"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: OLIST_PG_HOST is not set") and "Traceback" not in err


def test_parser_requires_a_command() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([])
