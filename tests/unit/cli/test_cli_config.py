"""Where settings come from: flags over STRATUS_* variables over the selected cloud."""

import pytest

from cli.config import config_file, resolve
from cli.errors import ConfigError

CLOUDS = """
clouds:
  lab:
    auth:
      auth_url: grpcs://lab.example:8770
      username: alice
      password: from-file
      project_name: demo
    cacert: /etc/lab-ca.pem
  other:
    auth: {auth_url: other.example:1}
"""


@pytest.fixture
def env(tmp_path):
    (tmp_path / ".config" / "stratus").mkdir(parents=True)
    (tmp_path / ".config" / "stratus" / "clouds.yaml").write_text(CLOUDS)
    return {"HOME": str(tmp_path)}


def test_the_cloud_alone(env):
    settings = resolve({"cloud": "lab"}, env)
    assert (
        settings.url,
        settings.username,
        settings.password,
        settings.project,
        settings.cacert,
    ) == ("grpcs://lab.example:8770", "alice", "from-file", "demo", "/etc/lab-ca.pem")


def test_environment_over_the_cloud_and_flags_over_both(env):
    env |= {
        "STRATUS_PASSWORD": "from-env",
        "STRATUS_PROJECT": "env-project",
        "STRATUS_CLOUD": "lab",
    }
    settings = resolve({"project": "flag-project"}, env)
    assert settings.cloud == "lab"
    assert settings.password == "from-env"
    assert settings.project == "flag-project"
    assert settings.username == "alice"


def test_cloud_flag_over_the_cloud_variable(env):
    env["STRATUS_CLOUD"] = "lab"
    assert resolve({"cloud": "other"}, env).url == "other.example:1"


def test_environment_without_a_cloud(env):
    settings = resolve({}, env | {"STRATUS_URL": "127.0.0.1:9", "STRATUS_USERNAME": "bob"})
    assert (settings.cloud, settings.url, settings.username, settings.password) == (
        None,
        "127.0.0.1:9",
        "bob",
        None,
    )


def test_empty_values_do_not_override(env):
    assert (
        resolve({"cloud": "lab", "username": ""}, env | {"STRATUS_USERNAME": ""}).username
        == "alice"
    )


def test_unknown_cloud_names_the_file_and_the_known_clouds(env, tmp_path):
    with pytest.raises(
        ConfigError,
        match=r"unknown cloud 'nope' \(.*clouds.yaml; "
        r"clouds: lab, other\)",
    ):
        resolve({"cloud": "nope"}, env)


def test_config_file_variable_and_xdg_config_home(tmp_path):
    custom = tmp_path / "mine.yaml"
    custom.write_text("clouds: {x: {auth: {auth_url: 'x:1'}}}")
    assert config_file({"STRATUS_CLIENT_CONFIG_FILE": str(custom)}) == custom
    assert resolve({"cloud": "x"}, {"STRATUS_CLIENT_CONFIG_FILE": str(custom)}).url == "x:1"
    xdg = tmp_path / "xdg" / "stratus"
    xdg.mkdir(parents=True)
    (xdg / "clouds.yaml").write_text("clouds: {}")
    assert (
        config_file({"HOME": str(tmp_path / "nohome"), "XDG_CONFIG_HOME": str(tmp_path / "xdg")})
        == xdg / "clouds.yaml"
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("clouds: [1, 2", "is not valid YAML"),
        ("- just a list", "expected a top-level 'clouds:' mapping"),
        ("clouds: {lab: [1]}", "cloud 'lab' in .* is not a mapping"),
    ],
)
def test_a_broken_clouds_yaml_is_a_configuration_error(tmp_path, text, message):
    path = tmp_path / "clouds.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        resolve({"cloud": "lab"}, {"STRATUS_CLIENT_CONFIG_FILE": str(path)})


def test_no_url_is_a_configuration_error_that_says_what_to_set(env):
    with pytest.raises(ConfigError, match="set STRATUS_URL, pass --url, or choose a cloud"):
        resolve({}, env).require_url()


def test_timeout(env):
    assert resolve({}, env).timeout == 60
    assert resolve({}, env | {"STRATUS_TIMEOUT": "5"}).timeout == 5
    assert resolve({"timeout": 2.5}, env | {"STRATUS_TIMEOUT": "5"}).timeout == 2.5
    with pytest.raises(ConfigError, match="timeout must be a number"):
        resolve({}, env | {"STRATUS_TIMEOUT": "soon"})
