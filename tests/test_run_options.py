"""One schema for the run options: each rule refuses the same values through every front-end, in the same words.

The front-ends are the command line (apply's flags), the watch daemon's TOML file and the service's JSON header;
all three map onto RunOptions and ModelChoice, whose fields carry the rules.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from helpers import invoke

from cyclegan_fx.config_fields import flag, from_text
from cyclegan_fx.errors import ConfigError, RequestError
from cyclegan_fx.runtime.config import ModelChoice, RunOptions, StatsMode
from cyclegan_fx.serve.protocol import parse_header
from cyclegan_fx.watch.config import load_config

WORK_SIZE = "'full', 'model' or a whole number of at least 16"
# field, a value of its type that its rule refuses, the rule in words; the service's JSON has only some fields
BREAKS_RULE = [
    ("work_size", 8, WORK_SIZE),
    ("work_size", "huge", WORK_SIZE),
    ("strength", 1.5, "a number from 0 to 1"),
    ("strength", -0.1, "a number from 0 to 1"),
    ("stats", "nope", "one of exact, thumbnail, tile"),
    ("tile", -1, "a whole number of at least 0"),
    ("batch", 0, "a whole number of at least 1"),
    ("thumbnail_size", 8, "a whole number of at least 16"),
    ("max_pixels", 0, "a whole number of at least 1"),
    ("max_memory", 0, "a whole number of at least 1"),
    ("direction", "sideways", "one of a2b, b2a"),
    ("device", "tpu", "one of auto, cpu, cuda"),
    ("precision", "fp8", "one of auto, fp32, bf16, fp16"),
    ("backend", "tvm", "one of auto, torch, onnxruntime, tensorrt"),
]
# raw values of another type (a bool is no number), which the TOML and JSON readers refuse in the same words
WRONG_TYPE = [
    ("work_size", True, WORK_SIZE),
    ("work_size", 64.0, WORK_SIZE),
    ("strength", "half", "a number from 0 to 1"),
    ("strength", False, "a number from 0 to 1"),
    ("tile", 64.5, "a whole number of at least 0"),
    ("direction", 1, "one of a2b, b2a"),
]
REFUSED = BREAKS_RULE + WRONG_TYPE
IN_JSON = ("work_size", "strength", "direction")


def schema_of(name: str) -> type:
    return RunOptions if name in {f.name for f in dataclasses.fields(RunOptions)} else ModelChoice


@pytest.mark.parametrize("name,value,rule", BREAKS_RULE)
def test_a_dataclass_refuses_what_its_rule_refuses(name, value, rule):
    with pytest.raises(ConfigError) as caught:
        schema_of(name)(**{name: value})
    assert str(caught.value) == f"{flag(name)} must be {rule}, not {value!r}."


@pytest.mark.parametrize("name,value,rule", REFUSED)
def test_the_watch_toml_refuses_it_in_the_same_words(tmp_path, name, value, rule):
    path = tmp_path / "watch.toml"
    key = name.replace("_", "-")
    path.write_text(f'[[folder]]\ninbox = "a"\n{key} = {json.dumps(value)}\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, defaults={}, overrides={})
    assert str(caught.value) == f"Option {key!r} in {path} must be {rule}, not {value!r}."


@pytest.mark.parametrize("name,value,rule", [case for case in REFUSED if case[0] in IN_JSON])
def test_the_service_refuses_it_in_the_same_words(name, value, rule):
    header = {"model": "vintage", "shape": [64, 64, 3], "dtype": "uint8", name: value}
    with pytest.raises(RequestError) as caught:
        parse_header(json.dumps(header).encode())
    assert str(caught.value) == f"{name!r} must be {rule}, not {value!r}."


@pytest.mark.parametrize("name,value,rule", BREAKS_RULE)
def test_the_command_line_refuses_it_in_the_same_words_before_anything_runs(tmp_path, name, value, rule):
    code, out = invoke("apply", tmp_path / "missing.png", "-o", tmp_path / "out.png", flag(name), value)
    assert code == 2 and f"{flag(name)} must be {rule}, not {value!r}." in out, out  # a usage error
    assert "Traceback" not in out and not (tmp_path / "out.png").exists()


def test_not_a_number_is_outside_every_range(tmp_path):
    rule = "must be a number from 0 to 1, not nan."
    path = tmp_path / "watch.toml"
    path.write_text('[[folder]]\ninbox = "a"\nstrength = nan\n')
    with pytest.raises(ConfigError, match=rule):
        load_config(path, defaults={}, overrides={})
    with pytest.raises(RequestError, match=rule):
        parse_header(b'{"model": "vintage", "shape": [64, 64, 3], "dtype": "uint8", "strength": NaN}')
    code, out = invoke("apply", tmp_path / "missing.png", "-o", tmp_path / "out.png", "--strength", "nan")
    assert code == 2 and rule in out, out


def test_the_edges_of_each_rule_are_accepted_everywhere(tmp_path):
    edges = {"work_size": 16, "strength": 0, "tile": 0, "batch": 1, "thumbnail_size": 16, "max_memory": 1,
             "stats": "thumbnail", "max_pixels": 1}
    expected = RunOptions(**{**edges, "stats": StatsMode.THUMBNAIL, "strength": 0.0})
    path = tmp_path / "watch.toml"
    path.write_text("[[folder]]\ninbox = 'a'\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in edges.items()))
    assert load_config(path, defaults={}, overrides={}).folders[0].options == expected
    header = {"model": "vintage", "shape": [64, 64, 3], "dtype": "uint8", "work_size": 16, "strength": 0}
    assert parse_header(json.dumps(header).encode()).options(RunOptions()) == RunOptions(work_size=16, strength=0.0)


def test_words_and_sizes_from_the_command_line_become_values():
    def read(name: str, texts: tuple[str, ...]) -> list:
        return [from_text(RunOptions, name, text) for text in texts]

    assert read("work_size", ("full", "model", "1536")) == ["full", "model", 1536]
    assert read("max_memory", ("4G", "3500M", "2.5GiB", "1024")) == [4 << 30, 3500 << 20, 5 << 29, 1024]
    assert read("stats", ("tile",)) == [StatsMode.TILE]


@pytest.mark.parametrize("schema", [RunOptions, ModelChoice])
def test_every_field_is_a_flag_with_its_own_help(schema):
    code, out = invoke("apply", "--help")
    assert code == 0
    for f in dataclasses.fields(schema):
        assert flag(f.name) in out
        first_words = " ".join(f.metadata["help"].split()[:3])
        assert first_words in " ".join(out.split()), f.name  # the help text comes from the field
