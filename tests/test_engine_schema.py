"""Strict config files (walt/engine/schema.py): a typo in the engine's part of a config file is an error with the
closest keys, as for --cfg-options; sampling keywords are checked against the model's sample() before step 1."""
import pytest

from engine_tiny import REPO, write_config
from walt.engine import train_cli

DATA = dict(train=dict(type="EngineTinyVideos", length=12), batch_size=4, num_workers=0)


@pytest.mark.parametrize("keys, message", [
    (dict(data=dict(DATA, batchsize=4)), "unknown config key 'data.batchsize' in config {path}: data has no key "
                                         "'batchsize'; did you mean 'batch_size', 'micro_batch_size'?"),
    (dict(grad_clp=1.0), "unknown config key 'grad_clp' in config {path}: the trainer reads no key 'grad_clp'; "
                         "did you mean 'grad_clip'?"),
    (dict(lr_schedule=dict(warmup=10)), "unknown config key 'lr_schedule.warmup' in config {path}: lr_schedule has "
                                        "no key 'warmup'; did you mean 'warmup_steps'?"),
    (dict(ckpt_keep_last=0), "ckpt_keep_last must be an integer >= 1 or None, got 0 (config {path})"),
])
def test_config_file_typo_is_one_error_line_with_a_suggestion(tmp_path, capsys, keys, message):
    path = write_config(tmp_path, **keys)
    assert train_cli.main([str(path), "--work-dir", str(tmp_path / "w")]) == 1
    assert capsys.readouterr().err.strip() == "error: " + message.format(path=path)
    assert not (tmp_path / "w").exists()


def test_sample_keywords_are_checked_against_the_model_before_step_one(tmp_path, capsys):
    path = tmp_path / "demo_typo.py"
    path.write_text(f"_base_ = [{str(REPO / 'configs/demo/walt_demo.py')!r}]\n"
                    "_classes = [0, 1]  # a helper variable of the config file: not a key\n"
                    "sample = dict(interval=100, y=_classes, promts=['a red square'])\n")
    assert train_cli.main([str(path), "--work-dir", str(tmp_path / "w")]) == 1
    assert capsys.readouterr().err.strip() == (
        f"error: unknown config key 'sample.promts' in config {path}: sample has no key 'promts'; "
        f"did you mean 'prompts'?")


def test_cfg_options_can_set_engine_keys_the_file_leaves_at_their_default(tmp_path, capsys):
    path = write_config(tmp_path, data=DATA, max_steps=1)  # states neither micro_batch_size nor ckpt_keep_every
    assert train_cli.main([str(path), "--work-dir", str(tmp_path / "w"), "--cfg-options", "data.micro_batch_size=2",
                           "ckpt_keep_every=5"]) == 0
    written = (tmp_path / "w" / "config.py").read_text()
    assert "micro_batch_size=2" in written and "ckpt_keep_every = 5" in written and "ckpt_keep_last = 3" in written
    assert "global batch 4 = micro-batch 2 × 2 accumulation step(s) × 1 process(es)" in capsys.readouterr().out
