"""walt.engine.config: _base_ inheritance, --cfg-options value parsing, type swaps, key-typo errors."""
import pytest

from walt.engine.config import default_work_dir, load_config
from walt.engine.errors import ConfigError


@pytest.fixture()
def config(tmp_path):
    (tmp_path / "base.py").write_text(
        "model = dict(type='Outer', backbone=dict(type='Net', depth=2,\n"
        "             attention=dict(type='OldAttention', window=(1, 4, 4), qk_norm=True)), text_encoder=None)\n"
        "optimizer = dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.0)\n"
        "max_steps = 100\nlayers = [dict(type='A', k=1), dict(type='B', k=2)]\n"
        "wandb = dict(mode='disabled', entity='me')\n")
    (tmp_path / "child.py").write_text(
        "_base_ = ['base.py']\nmodel = dict(backbone=dict(depth=4))\nmax_steps = 7\n")
    return tmp_path / "child.py"


def test_base_inheritance_merges_child_over_base(config):
    cfg = load_config(config)
    assert cfg.max_steps == 7 and cfg.model.backbone.depth == 4
    assert cfg.model.backbone.attention.to_dict() == dict(type="OldAttention", window=(1, 4, 4), qk_norm=True)
    assert default_work_dir(cfg) == "work_dirs/child"


def test_values_are_parsed_like_mmengine(config):
    cfg = load_config(config, ["optimizer.betas=(0.8,0.9)", "optimizer.lr=5e-4", "wandb.entity=None",
                               "max_steps=9", "model.backbone.attention.qk_norm=false", "layers.1.k=5"])
    assert cfg.optimizer.betas == (0.8, 0.9) and cfg.optimizer.lr == 5e-4 and cfg.wandb.entity is None
    assert cfg.max_steps == 9 and cfg.model.backbone.attention.qk_norm is False and cfg.layers[1].k == 5


def test_type_swap_replaces_the_dict_by_the_given_keys_only(config):
    cfg = load_config(config, ["model.backbone.attention.type=NewAttention", "model.backbone.attention.heads=2"])
    assert cfg.model.backbone.attention.to_dict() == dict(type="NewAttention", heads=2)
    assert cfg.model.backbone.depth == 4  # the parent is untouched


def test_nested_type_swaps_rebuild_from_the_outermost(config):
    cfg = load_config(config, {"model.backbone.type": "Other", "model.backbone.attention.type": "X",
                               "model.backbone.attention.w": 3})
    assert cfg.model.backbone.to_dict() == dict(type="Other", attention=dict(type="X", w=3))


def test_same_type_merges_and_none_becomes_a_component(config):
    cfg = load_config(config, ["model.backbone.attention.type=OldAttention", "model.backbone.attention.window=(1,2,2)",
                               "model.text_encoder.type=Enc", "model.text_encoder.dim=8"])
    assert cfg.model.backbone.attention.to_dict() == dict(type="OldAttention", window=(1, 2, 2), qk_norm=True)
    assert cfg.model.text_encoder.to_dict() == dict(type="Enc", dim=8)


def test_swap_to_a_registered_type_checks_its_arguments(config):
    cfg = load_config(config, ["optimizer.type=Adafactor", "optimizer.beta2_decay=-0.5"])
    assert cfg.optimizer.to_dict() == dict(type="Adafactor", beta2_decay=-0.5)
    with pytest.raises(ConfigError, match=r"'optimizer.betas'.*Adafactor takes no argument 'betas'"):
        load_config(config, ["optimizer.type=Adafactor", "optimizer.betas=(0.9,0.9)"])


def test_new_key_accepted_when_the_component_takes_it(config):
    assert load_config(config, ["optimizer.eps=1e-6"]).optimizer.eps == 1e-6  # AdamW(eps=...) exists


@pytest.mark.parametrize("option, named, suggestion", [
    ("optimizer.lrr=1", "optimizer.lrr", "'lr'"),
    ("max_step=3", "max_step", "'max_steps'"),
    ("model.backbone.attnetion.window=(1,1,1)", "model.backbone.attnetion.window", "'attention'"),
    ("wandb.mdoe=offline", "wandb.mdoe", "'mode'"),
])
def test_key_typo_names_the_key_and_close_matches(config, option, named, suggestion):
    with pytest.raises(ConfigError) as err:
        load_config(config, [option])
    message = str(err.value)
    assert repr(named) in message and f"did you mean {suggestion}" in message and "\n" not in message


def test_bad_option_syntax_and_bad_index(config):
    with pytest.raises(ConfigError, match="not of the form key=value"):
        load_config(config, ["max_steps"])
    with pytest.raises(ConfigError, match="list of length 2"):
        load_config(config, ["layers.5.k=1"])


def test_missing_config_and_broken_config_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found: .*nope.py"):
        load_config(tmp_path / "nope.py")
    (tmp_path / "broken.py").write_text("model = dict(\n")
    with pytest.raises(ConfigError, match="broken.py"):
        load_config(tmp_path / "broken.py")
    (tmp_path / "orphan.py").write_text("_base_ = ['missing_base.py']\n")
    with pytest.raises(ConfigError, match="orphan.py"):
        load_config(tmp_path / "orphan.py")
