"""The config file (XDG, 0600), API address checks and which setting wins."""

import os
import stat

import pytest
from click.testing import CliRunner

from swsctl import config
from swsctl.cli import main
from swsctl.config import Settings
from swsctl.errors import InvalidInput
from tests.fixtures.postgres import free_port


def test_the_file_lives_under_xdg_config_home(tmp_path):
    assert config.config_path({"XDG_CONFIG_HOME": str(tmp_path)}) == (
        tmp_path / "swsctl" / "config.yaml"
    )
    home = os.path.expanduser("~")
    assert config.config_path({}) == config.Path(home, ".config", "swsctl", "config.yaml")
    assert config.config_path({"SWS_CONFIG": "/x/y.yaml"}) == config.Path("/x/y.yaml")


def test_save_writes_0600_in_a_0700_directory_and_load_reads_it_back(tmp_path):
    path = tmp_path / "cfg" / "swsctl" / "config.yaml"
    saved = Settings(url="https://sws.example.com", token="sws_" + "a" * 43, ca_cert="/ca.pem")
    config.save(path, saved)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert config.load(path) == saved
    # Saving again over a file someone loosened puts the mode back.
    path.chmod(0o644)
    config.save(path, saved)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["config.yaml"]  # no temp file left


def test_a_missing_file_is_empty_and_a_broken_one_is_invalid_input(tmp_path):
    assert config.load(tmp_path / "none.yaml") == Settings()
    broken = tmp_path / "broken.yaml"
    broken.write_text("url: [unclosed\n")
    with pytest.raises(InvalidInput, match="swsctl configure"):
        config.load(broken)


def test_overrides_win_only_when_set():
    saved = Settings(url="https://a.example", token="t1")
    assert saved.overridden(url=None, token="t2") == Settings(url="https://a.example", token="t2")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://sws.example.com", "https://sws.example.com"),
        ("https://sws.example.com/", "https://sws.example.com"),
        ("http://127.0.0.1:8000/v1/", "http://127.0.0.1:8000"),
        ("https://example.com/sws/", "https://example.com/sws"),
    ],
)
def test_normalise_url(given, expected):
    assert config.normalise_url(given) == expected


@pytest.mark.parametrize("bad", ["sws.example.com", "ftp://x", "https://", "http://x/?a=1"])
def test_normalise_url_refuses_what_is_not_an_http_address(bad):
    with pytest.raises(InvalidInput, match="API address"):
        config.normalise_url(bad)


def test_the_masked_token_never_contains_the_secret_part():
    token = "sws_" + "S3cr3t" * 7 + "wxyz"
    masked = config.mask_token(token)
    assert masked == "sws_****wxyz"
    assert "S3cr3t" not in masked
    assert config.mask_token("short") == "********"
    assert config.mask_token(None) == ""


def run(args, env, **kwargs):
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False, **kwargs)


def test_environment_overrides_the_file(tmp_path):
    """The error names the address the CLI used: the environment's, not the file's."""
    file_port, env_port = free_port(), free_port()
    path = tmp_path / "swsctl" / "config.yaml"
    config.save(path, Settings(url=f"http://127.0.0.1:{file_port}", token="sws_file"))
    env = {"XDG_CONFIG_HOME": str(tmp_path), "SWS_URL": None, "SWS_TOKEN": None}
    from_file = run(["ls"], env)
    assert from_file.exit_code == 4
    assert f":{file_port}" in from_file.output
    from_env = run(["ls"], {**env, "SWS_URL": f"http://127.0.0.1:{env_port}"})
    assert f":{env_port}" in from_env.output
    from_option = run(["ls", "--url", f"http://127.0.0.1:{file_port + 1}"], env)
    assert f":{file_port + 1}" in from_option.output


def test_with_url_and_token_in_the_environment_a_broken_file_is_not_read(tmp_path):
    path = tmp_path / "swsctl" / "config.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("{{{ not yaml")
    env = {
        "XDG_CONFIG_HOME": str(tmp_path),
        "SWS_URL": f"http://127.0.0.1:{free_port()}",
        "SWS_TOKEN": "sws_x",
    }
    assert run(["ls"], env).exit_code == 4  # got as far as the network
    assert run(["ls"], {**env, "SWS_TOKEN": None}).exit_code == 2  # needed the file


def test_not_configured_is_an_auth_failure_with_a_hint(tmp_path):
    result = run(["ls"], {"XDG_CONFIG_HOME": str(tmp_path), "SWS_URL": None, "SWS_TOKEN": None})
    assert result.exit_code == 3
    assert "swsctl configure" in result.output
    assert "Traceback" not in result.output


def test_a_bad_definition_is_refused_before_any_network_call(tmp_path):
    """The address is unreachable: reaching the network would exit 4, not 2."""
    bad = tmp_path / "web.yaml"
    bad.write_text("apiVersion: v1\nspec:\n  name: web\n  prot: 80\n")
    env = {"SWS_URL": f"http://127.0.0.1:{free_port()}", "SWS_TOKEN": "sws_x"}
    result = run(["apply", str(bad)], env)
    assert result.exit_code == 2
    assert "spec.prot (line 4): unknown field" in result.output
    assert "spec.port (line 2): required field is missing" in result.output


def test_a_bad_option_is_exit_code_2():
    assert run(["ls", "-o", "xml"], {}).exit_code == 2


def test_the_config_option_and_variable_choose_another_file(tmp_path):
    port = free_port()
    path = tmp_path / "elsewhere.yaml"
    config.save(path, Settings(url=f"http://127.0.0.1:{port}", token="sws_x"))
    env = {"XDG_CONFIG_HOME": str(tmp_path / "empty"), "SWS_URL": None, "SWS_TOKEN": None}
    assert f":{port}" in run(["--config", str(path), "ls"], env).output
    assert f":{port}" in run(["ls"], {**env, "SWS_CONFIG": str(path)}).output


def test_no_validate_still_needs_a_name_to_address_the_service(tmp_path):
    nameless = tmp_path / "web.yaml"
    nameless.write_text("apiVersion: v1\nspec:\n  port: 80\n")
    env = {"SWS_URL": f"http://127.0.0.1:{free_port()}", "SWS_TOKEN": "sws_x"}
    result = run(["apply", "--no-validate", str(nameless)], env)
    assert result.exit_code == 2
    assert "spec.name (line 2): required to address the service" in result.output


def test_plain_http_is_flagged_except_to_this_machine():
    assert config.sends_token_in_clear("http://sws.example.com")
    assert not config.sends_token_in_clear("https://sws.example.com")
    assert not config.sends_token_in_clear("http://127.0.0.1:8000")
    assert not config.sends_token_in_clear("http://localhost")
