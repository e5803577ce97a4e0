"""LoRA fine-tuning with peft (walt/models/adapters/lora.py, walt/engine/lora_run.py): a LoRA train step changes
only adapter tensors; the loss falls on a tiny fixed set; checkpoints hold adapters and the base's digest and resume
bit-exactly; merged weights and diffusers + peft give the adapted model's output; a target role that matches no
module is one ``error:`` line. Tiny models, nothing downloaded."""
import torch
import pytest
from diffusers import LatteTransformer3DModel
from peft import PeftModel

from engine_tiny import EngineTinyVideos, write_config
from random_weights import randomize
from tool_loader import load_tool
from torchrun_jobs import run_jobs
from walt.engine import train_cli
from walt.engine.config import load_config
from walt.engine.errors import CheckpointError
from walt.engine.loading import load_model
from walt.engine.lora_run import apply_lora_checkpoint, weights_digest
from walt.engine.trainer import Trainer
from walt.models.adapters import LORA_ROLES, LoRASettings, attach_lora, merge_lora, set_lora_scale
from walt.models.backbones.lavita import LAVITA
from walt.models.convert import walt_to_diffusers_latte, walt_to_latte
from walt.models.convert.lora_diffusers import save_peft_adapter, walt_lora_to_diffusers_latte
from walt.models.conditioning.conditions import Conditions

BACKBONE = dict(type="LAVITA", preset=None, depth=4, dim=16, num_heads=2, patch_size=2)
LORA = dict(r=4, alpha=8.0, dropout=0.0, target=["attn_qkv", "attn_out", "mlp", "adaln"])
MODEL = dict(type="LatentDiffusion", video_size=(2, 4, 4), self_condition_prob=0.0,
             autoencoder=dict(type="IdentityAutoencoder", latent_channels=3),
             diffusion=dict(type="GaussianDiffusion", schedule="linear", prediction="eps", learn_sigma=True,
                            zero_terminal_snr=False), backbone=BACKBONE, lora=LORA)
T2V = dict(preset=None, depth=4, dim=16, num_heads=2, patch_size=2, input_size=(3, 8, 8), in_channels=4,
           conditioning=dict(type="AdaLNSingle"), cross_attention=dict(type="TextCrossAttention"), text_dim=12,
           text_pooled=False)


@pytest.fixture
def base(tmp_path):
    """Public (Latte layout) weights of the tiny LAVITA, all random."""
    args = {k: v for k, v in BACKBONE.items() if k != "type"}
    torch.save({"ema": walt_to_latte(randomize(LAVITA(**args, in_channels=3, input_size=(2, 4, 4))))},
               tmp_path / "base.pt")
    return tmp_path / "base.pt"


def _config(tmp_path, base, name="tiny_lora", **keys):
    keys = dict(dict(max_steps=2, optimizer=dict(type="AdamW", lr=1e-2), lr_schedule=dict(warmup_steps=0),
                     ckpt_interval=2, log_interval=1, data=dict(train=dict(type="EngineTinyVideos", length=4),
                                                                batch_size=4, num_workers=0)), **keys)
    return write_config(tmp_path, name=name, model=MODEL, load_from=str(base), **keys)


def _tensors(trainer):
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def test_a_lora_step_changes_only_adapter_tensors_and_the_checkpoint_holds_only_them(tmp_path, base):
    trainer = Trainer(load_config(_config(tmp_path, base)), work_dir=tmp_path / "w")
    before = _tensors(trainer)
    trainer.train()
    after = _tensors(trainer)
    adapters = {k for k in before if ".lora_" in k}
    assert adapters and all(".lora_A." in k or ".lora_B." in k for k in adapters)
    assert all(torch.equal(before[k], after[k]) for k in before if k not in adapters)  # base bit-identical
    assert all(not torch.equal(before[k], after[k]) for k in adapters)  # B moved at step 1, A at step 2
    state = torch.load(tmp_path / "w" / "step_00000002.pth", weights_only=True)
    assert set(state["model"]) == adapters and set(state["ema"]) == adapters
    assert len(state["optimizer"]["state"]) == len(adapters)
    assert state["lora"] == dict(settings=LORA, base=str(base), base_digest=weights_digest(base))


def test_the_loss_falls_on_a_tiny_fixed_set(tmp_path, base):
    """The diffusion loss of the 4 training clips at fixed noise and timesteps, before and after 30 LoRA steps."""
    config = _config(tmp_path, base, max_steps=30, ckpt_interval=30, optimizer=dict(type="AdamW", lr=3e-2))
    trainer = Trainer(load_config(config), work_dir=tmp_path / "w")
    batch = dict(video=EngineTinyVideos(4).videos, label=torch.arange(4) % 3)

    def fixed_loss():
        with torch.no_grad(), torch.random.fork_rng():
            torch.manual_seed(7)
            return sum(trainer.model(batch)["loss"].item() for _ in range(8)) / 8
    before = fixed_loss()
    losses = trainer.train()
    assert fixed_loss() < 0.85 * before
    assert sum(losses[-10:]) < sum(losses[:10])


def test_resume_is_bit_exact(tmp_path, base):
    config = _config(tmp_path, base, max_steps=4)
    straight = Trainer(load_config(config), work_dir=tmp_path / "a")
    losses = straight.train()
    Trainer(load_config(config, {"max_steps": 2}), work_dir=tmp_path / "b").train()
    resumed = Trainer(load_config(config), work_dir=tmp_path / "b", resume=True)
    assert resumed.step == 2
    assert resumed.train() == losses[2:]
    a, b = _tensors(straight), _tensors(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert all(torch.equal(straight.ema.shadow[k], resumed.ema.shadow[k]) for k in straight.ema.shadow)


def test_ddp_and_fsdp_with_gradient_checkpointing_train_the_same_adapters(tmp_path, base):
    """torchrun × 2 on CPU: DDP ranks agree; FSDP with gradient checkpointing gives DDP's losses and adapters; the
    frozen base is the loaded one in both."""
    data = dict(train=dict(type="EngineTinyVideos", length=8), batch_size=4, num_workers=0)
    jobs = [dict(name=p, config=str(_config(tmp_path, base, name=p, parallel=p, data=data, max_steps=3,
                                            ckpt_interval=3, grad_checkpointing=p == "fsdp")),
                 work_dir=str(tmp_path / p), options=None, resume=False) for p in ("ddp", "fsdp")]
    runs = run_jobs(jobs)
    ddp, fsdp = runs["ddp"], runs["fsdp"][0]
    assert all(torch.equal(v, ddp[1]["model"][k]) for k, v in ddp[0]["model"].items())
    torch.testing.assert_close(fsdp["losses"], ddp[0]["losses"], rtol=1e-5, atol=1e-6)
    adapters = [k for k in fsdp["model"] if ".lora_" in k]
    assert adapters and len(fsdp["optimizer"]) == len(adapters) == len(fsdp["ema"])
    for k in adapters:
        torch.testing.assert_close(fsdp["model"][k], ddp[0]["model"][k], rtol=1e-4, atol=1e-6)
    reference, _ = load_model(str(jobs[0]["config"]), base)
    for k, v in reference.state_dict().items():
        stored = k.replace(".weight", ".base_layer.weight").replace(".bias", ".base_layer.bias")
        key = k if k in fsdp["model"] else stored
        assert torch.equal(fsdp["model"][key], v) and torch.equal(ddp[0]["model"][key], v), k


def test_a_target_that_matches_no_module_is_one_error_line(tmp_path, base, capsys):
    config = _config(tmp_path, base)
    code = train_cli.main([str(config), "--work-dir", str(tmp_path / "w"), "--cfg-options",
                           "model.lora.target=[cross_kv]"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert err[0].startswith("error: model.lora.target 'cross_kv' matches no nn.Linear module of LAVITA")


def test_sampling_and_merging_apply_the_trained_adapters(tmp_path, base):
    """Scale 0 gives the base model; tools/convert_latte.py merges the adapters into Latte weights equal to base +
    adapters; tools/sample.py --lora samples with them."""
    config = _config(tmp_path, base)
    Trainer(load_config(config), work_dir=tmp_path / "w").train()
    assert load_tool("convert_latte").main([str(base), str(tmp_path / "merged.pt"), "--to", "latte", "--config",
                                            str(config), "--lora", str(tmp_path / "w")]) == 0
    x, t = torch.randn(2, 3, 2, 4, 4, generator=torch.Generator().manual_seed(0)), torch.tensor([5, 900])
    outputs = {}
    for name, weights, scale in (("base", base, None), ("scale0", base, 0.0), ("lora", base, 1.0),
                                 ("merged", tmp_path / "merged.pt", None)):
        model, _ = load_model(str(config), weights)
        if scale is not None:
            apply_lora_checkpoint(model, tmp_path / "w", weights, scale=scale)
        with torch.no_grad():
            outputs[name] = model.backbone(x, t)
    torch.testing.assert_close(outputs["scale0"], outputs["base"], rtol=0, atol=0)
    torch.testing.assert_close(outputs["merged"], outputs["lora"], rtol=0, atol=1e-5)
    assert not torch.allclose(outputs["lora"], outputs["base"], atol=1e-4)
    info = load_tool("sample").main([str(config), "--checkpoint", str(base), "--lora", str(tmp_path / "w"),
                                     "--num", "2", "--steps", "2", "--no-progress", "--out", str(tmp_path / "s")])
    assert info["shape"] == (2, 3, 2, 4, 4) and any("LoRA adapters" in line for line in info["report"])


def test_adapters_refuse_other_base_weights(tmp_path, base):
    config = _config(tmp_path, base)
    Trainer(load_config(config), work_dir=tmp_path / "w").train()
    other = tmp_path / "other.pt"
    weights = torch.load(base, weights_only=True)["ema"]
    torch.save({"ema": dict(weights, **{"x_embedder.proj.bias": weights["x_embedder.proj.bias"] + 1})}, other)
    model, _ = load_model(str(config), other)
    with pytest.raises(CheckpointError, match="were trained on .*base.pt"):
        apply_lora_checkpoint(model, tmp_path / "w", other)


def _adapted_t2v(settings):
    model = randomize(LAVITA(**T2V), scale=0.2)
    base = LatteTransformer3DModel.from_config(walt_to_diffusers_latte(model)[1])
    base.load_state_dict(walt_to_diffusers_latte(model)[0])
    attach_lora(model, settings)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".lora_" in name:  # B starts at zero: give both factors values
                p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(len(name))) * 0.3)
    return model.eval(), base.eval()


def _t2v_inputs():
    gen = torch.Generator().manual_seed(1)
    return torch.randn(2, 4, 3, 8, 8, generator=gen), torch.tensor([3, 700]), torch.randn(2, 5, 12, generator=gen)


def test_merged_weights_equal_base_plus_adapter_forward():
    model, _ = _adapted_t2v(LoRASettings(r=4, alpha=8.0, target=tuple(LORA_ROLES)))
    x, t, text = _t2v_inputs()
    with torch.no_grad():
        adapted = model(x, t, Conditions(text=text))
        set_lora_scale(model, 0.0)
        plain = model(x, t, Conditions(text=text))
        set_lora_scale(model, 1.0)
        merged = merge_lora(model)(x, t, Conditions(text=text))
    assert not any(".lora_" in k or "base_layer" in k for k in model.state_dict())
    torch.testing.assert_close(merged, adapted, rtol=0, atol=1e-5)
    assert (adapted - plain).abs().max() > 1e-2


def test_exported_adapter_in_diffusers_latte_gives_walts_adapted_output(tmp_path):
    settings = LoRASettings(r=4, alpha=8.0, target=tuple(LORA_ROLES))
    model, base = _adapted_t2v(settings)
    save_peft_adapter(tmp_path / "adapter", *walt_lora_to_diffusers_latte(model, settings))
    assert sorted(p.name for p in (tmp_path / "adapter").iterdir()) == ["adapter_config.json",
                                                                      "adapter_model.safetensors"]
    reference = PeftModel.from_pretrained(base, tmp_path / "adapter").eval()
    x, t, text = _t2v_inputs()
    with torch.no_grad():
        torch.testing.assert_close(reference(x, t, encoder_hidden_states=text).sample,
                                   model(x, t, Conditions(text=text)), rtol=0, atol=1e-5)


def test_a_bf16_base_trains_fp32_adapters_under_autocast():
    """Where the hardware multiplies bf16 natively the trainer holds the frozen base in bf16 (CPU autocast runs the
    same code path here, emulated)."""
    model = LAVITA(**T2V)
    attach_lora(model, LoRASettings(r=4, alpha=8.0, target=("attn_qkv", "mlp")), base_dtype=torch.bfloat16)
    x, t, text = _t2v_inputs()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x, t, Conditions(text=text))
    out.float().square().mean().backward()
    layer = model.blocks["0"].attn.qkv
    assert layer.base_layer.weight.dtype == torch.bfloat16 and layer.base_layer.weight.grad is None
    assert layer.lora_A["default"].weight.dtype == torch.float32 and layer.lora_B["default"].weight.grad is not None


@pytest.mark.parametrize("config", ["latte1_t2v_lora", "latte_ucf_lora"])
def test_finetune_configs_resolve_their_targets_and_keep_the_published_sampling(config):
    from walt.engine.lora_run import lora_settings
    from walt.engine.schema import check_engine_config
    from walt.models.adapters import resolve_lora_targets
    from walt.models.generative.build import build_backbone

    cfg = load_config(f"configs/finetune/{config}.py")
    check_engine_config(cfg)
    published = load_config(f"configs/pretrained/{'latte_t2v' if 't2v' in config else 'latte_ucf'}.py").sample
    assert {k: cfg.sample[k] for k in ("sampler", "steps", "cfg_scale", "fps")} == \
        {k: published[k] for k in ("sampler", "steps", "cfg_scale", "fps")}
    names = resolve_lora_targets(build_backbone(cfg.model), lora_settings(cfg))
    depth = 56 if "t2v" in config else 28
    assert len(names) == {"latte1_t2v_lora": depth * 2 + depth // 2 * 3, "latte_ucf_lora": depth * 4}[config]
