"""Every example in every command's ``--help`` names a shipped preset, instrument and phase,
and only options the command has (a user copies these lines first)."""

from __future__ import annotations

import shlex

import click
import pytest
from click.testing import CliRunner

from sointu.cli import _register, group
from sointu.presets import list_presets
from sointu.session.presets import load_session_preset

#: Commands whose first argument is a session preset, and the one whose is an instrument.
SESSION_COMMANDS = {"render", "play", "gift", "show", "score"}
INSTRUMENT_COMMANDS = {"strike"}


def _help(args: list[str]) -> str:
    result = CliRunner().invoke(group, args + ["--help"])
    assert result.exit_code == 0, result.output
    return result.output


def _examples() -> list[list[str]]:
    """``sointu ...`` lines of the top-level help and of every command's help, split."""
    _register()
    out = []
    for args in [[]] + [[name] for name in sorted(group.commands)]:
        for line in _help(args).splitlines():
            if line.strip().startswith("sointu "):
                out.append(shlex.split(line.split(">")[0])[1:])
    return out


EXAMPLES = _examples()


def test_every_command_shows_examples():
    _register()
    shown = {words[0] for words in EXAMPLES}
    assert shown >= SESSION_COMMANDS | INSTRUMENT_COMMANDS


@pytest.mark.parametrize("words", EXAMPLES, ids=lambda w: " ".join(w)[:60])
def test_example_names_what_exists(words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # only the shipped presets, not ./presets of the checkout
    command = group.commands[words[0]]
    options = {opt: p for p in command.params if isinstance(p, click.Option)
               for opt in p.opts + p.secondary_opts}
    args, rest = [], iter(words[1:])
    for w in rest:
        if not w.startswith("-"):
            args.append(w)
            continue
        assert w.split("=")[0] in options, f"sointu {' '.join(words)}: no option {w}"
        if not options[w.split("=")[0]].is_flag and "=" not in w:
            next(rest)  # its value
    name = args[0] if args else None
    if name is None or name.endswith(".toml") or "/" in name:
        return  # a user's own file, or a command without a preset
    if words[0] in SESSION_COMMANDS:
        assert name in list_presets("sessions"), f"sointu {' '.join(words)}: no preset {name}"
        if "--phase" in words:
            phase = words[words.index("--phase") + 1]
            phases = {p.name for p in load_session_preset(name).phases}
            assert phase in phases, f"sointu {' '.join(words)}: {name} has no phase {phase}"
    if words[0] in INSTRUMENT_COMMANDS:
        assert name in list_presets("instruments"), f"sointu {' '.join(words)}: no {name}"
