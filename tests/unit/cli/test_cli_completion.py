"""Completion scripts generated from a registry, run in real bash and zsh."""

import shutil
import subprocess

import pytest

from cli import completion, parser
from cli.registry import Registry, arg


def registry() -> Registry:
    reg = Registry()
    reg.group("server group", "server groups")

    @reg.command("image create", help="create an image", output="show", columns=["id"])
    @arg("name")
    @arg("--file", completer="file")
    @arg("--disk-format", choices=["raw", "qcow2"])
    def image_create(ctx, args):
        pass

    @reg.command("image list", help="list images", output="list", columns=["ID"])
    def image_list(ctx, args):
        pass

    @reg.command("server group create", help="create a server group", output="show", columns=["id"])
    @arg("--policy", choices=["affinity", "anti-affinity"])
    def group_create(ctx, args):
        pass

    return reg


@pytest.fixture(scope="module")
def built():
    return parser.build(registry())


def bash_complete(script: str, words: list[str], cwd=None) -> list[str]:
    line = " ".join(f"'{w}'" for w in words)
    program = (
        f"{script}\nCOMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; _stratus; "
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    out = subprocess.run(
        ["bash", "--norc", "-c", program],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
        cwd=cwd,
    ).stdout
    return sorted(filter(None, out.splitlines()))


@pytest.mark.parametrize(
    "words, expected",
    [
        (["stratus", ""], ["image", "server"]),
        (["stratus", "im"], ["image"]),
        (["stratus", "image", ""], ["create", "list"]),
        (["stratus", "--cloud", "lab", "server", "group", ""], ["create"]),
        (["stratus", "image", "create", "--disk-format", ""], ["qcow2", "raw"]),
        (["stratus", "image", "list", "-f", "j"], ["json"]),
        (["stratus", "--cloud", ""], []),
        (["stratus", "server", "group", "create", "--policy", "a"], ["affinity", "anti-affinity"]),
    ],
)
def test_bash_completes_words_and_values(built, words, expected):
    assert bash_complete(completion.bash(built), words) == expected


def test_bash_completes_options_of_the_command_and_global_ones(built):
    got = bash_complete(completion.bash(built), ["stratus", "image", "list", "--"])
    assert {"--sort-column", "--format", "--column"} <= set(got) and "--cloud" not in got
    assert "--disk-format" not in got


def test_bash_completes_file_names_for_file_options(built, tmp_path):
    (tmp_path / "cirros.qcow2").write_bytes(b"")
    got = bash_complete(
        completion.bash(built), ["stratus", "image", "create", "--file", "ci"], cwd=tmp_path
    )
    assert got == ["cirros.qcow2"]
    got = bash_complete(completion.bash(built), ["stratus", "--cacert", "ci"], cwd=tmp_path)
    assert got == ["cirros.qcow2"]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_script_parses_and_describes_every_level(built, tmp_path):
    script = tmp_path / "_stratus"
    script.write_text(completion.zsh(built))
    program = (
        f"autoload -U compinit && compinit -u -d {tmp_path}/dump && source {script} && "
        "_stratus_words '' && print -l -- $reply && print -- --- && "
        "_stratus_values 'image create|--disk-format' && print -l -- $reply && "
        "print -- --- && _stratus_options 'image list' && print -l -- $reply"
    )
    out = subprocess.run(
        ["zsh", "-f", "-c", program],
        capture_output=True,
        text=True,
        timeout=30,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert out.returncode == 0, out.stderr
    words, values, options = out.stdout.split("---\n")
    assert words.splitlines() == ["image:", "server:"]
    assert values.splitlines() == ["raw", "qcow2"]
    assert "-f:output format (default: table)" in options.splitlines()


def test_the_complete_command_prints_a_script_for_the_real_registry(capsys):
    from cli.main import main

    assert main(["complete", "bash"]) == 0
    script = capsys.readouterr().out
    assert "complete -o default -F _stratus stratus" in script
    assert bash_complete(script, ["stratus", "complete", ""]) == ["bash", "zsh"]
    assert main(["complete", "fish"]) == 2
    assert "invalid choice: 'fish'" in capsys.readouterr().err
