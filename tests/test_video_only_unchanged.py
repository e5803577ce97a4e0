"""Video-only training and sampling give the numbers they gave before per-frame conditioning existed (issue 14).

The values below were recorded with this file's ``outputs()`` on commit 1bcd9ab (the last commit before per-frame
conditions, fp32, AVX-512 CPU); per-frame work only happens for image frames that carry their own label or caption,
so a batch without them must reproduce them (up to the float rounding of another CPU): W.A.L.T image stacks keep
the STW identity mask of §4.2. Each value holds natively and under ``source scripts/avx2_env.sh`` (AVX2 kernels, another
rounding): the losses and absolute sums to rel 1e-5, and each signed sum — which cancels — to 1e-5 of the absolute
sum, the scale of its rounding error. Covered: class-conditional
W.A.L.T and LAVITA (learned Σ), text W.A.L.T (cross-attention + pooled text), and joint batches whose images carry
no condition of their own (unconditional LAVITA+IMG, unconditional W.A.L.T image stacks)."""
import pytest
import torch

from registry import MODELS

WALT = dict(type="WALT", preset=None, depth=2, dim=32, num_heads=2, patch_size=1, spatial_window=(1, 8, 8),
            spatiotemporal_window=(2, 4, 4))
LAVITA = dict(type="LAVITA", preset=None, depth=2, dim=32, num_heads=2, patch_size=2)
LEARNED_SIGMA = dict(type="GaussianDiffusion", prediction="eps", learn_sigma=True, zero_terminal_snr=False)
CASES = {
    "walt_class": dict(backbone=dict(WALT, num_classes=3), video_size=(2, 8, 8), cond_dropout_prob=0.5),
    "lavita_class": dict(backbone=dict(LAVITA, num_classes=3), video_size=(4, 8, 8), cond_dropout_prob=0.5,
                         diffusion=LEARNED_SIGMA, self_condition_prob=0.0),
    "walt_text": dict(backbone=dict(WALT, text_pooled=True), video_size=(2, 8, 8), cond_dropout_prob=0.5, text_dim=16),
    "lavita_joint_unconditional": dict(backbone=LAVITA, video_size=(4, 8, 8), diffusion=LEARNED_SIGMA,
                                       self_condition_prob=0.0),
    "walt_stacks_unconditional": dict(backbone=WALT, video_size=(2, 8, 8)),
}

# outputs() on commit 1bcd9ab: [training loss, sum of a guided sample, sum of its absolute values]
RECORDED = {
    "lavita_class": [1.4087415933609009, 41737.52993781865, 223199.0667875558],
    "lavita_joint_unconditional": [1.4402738809585571, 10372.944635596126, 224257.58576715365],
    "walt_class": [0.9262804388999939, -145.12449765694328, 489.0533185501117],
    "walt_stacks_unconditional": [0.861036479473114, -92.07347729615867, 519.0557558750734],
    "walt_text": [1.601418375968933, -65.73749451292679, 591.9480271865614],
}


def _model(case):
    model = MODELS.build(dict(type="LatentDiffusion", **CASES[case]))
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
    return model


def _batch(case):
    gen = torch.Generator().manual_seed(2)
    t = CASES[case]["video_size"][0]
    batch = dict(video=torch.rand(3, 3, t, 8, 8, generator=gen) * 2 - 1, label=torch.tensor([0, 2, 1]))
    if case == "walt_text":
        mask = torch.tensor([[True] * 5, [True] * 5, [True] * 2 + [False] * 3])
        batch.update(text_tokens=torch.randn(3, 5, 16, generator=gen), text_mask=mask,
                     text_pooled=torch.randn(3, 16, generator=gen))
    if case == "lavita_joint_unconditional":
        batch["image_mask"] = torch.arange(t).expand(3, t) >= 2
    if case == "walt_stacks_unconditional":
        batch["images"] = torch.rand(2, 3, t, 8, 8, generator=gen) * 2 - 1
    return batch


def outputs(case):
    """[loss of one training step, sum and absolute sum of a 2-step guided sample] with fixed seeds."""
    model = _model(case)
    torch.manual_seed(3)
    loss = float(model(_batch(case))["loss"].detach())
    kwargs = dict(steps=2, generator=torch.Generator().manual_seed(4), decode=False)
    if case in ("walt_class", "lavita_class"):
        kwargs.update(y=[1, 2], cfg_scale=2.0)
    if case == "walt_text":
        gen = torch.Generator().manual_seed(5)
        kwargs.update(text=dict(tokens=torch.randn(2, 5, 16, generator=gen), mask=torch.ones(2, 5, dtype=torch.bool),
                                pooled=torch.randn(2, 16, generator=gen)), cfg_scale=2.0)
    sample = model.sample(2, **kwargs).double()
    return [loss, float(sample.sum()), float(sample.abs().sum())]


@pytest.mark.parametrize("case", sorted(CASES))
def test_video_only_outputs_equal_those_recorded_before_per_frame_conditioning(case):
    loss, total, absolute = outputs(case)
    want_loss, want_total, want_absolute = RECORDED[case]
    assert loss == pytest.approx(want_loss, rel=1e-5) and absolute == pytest.approx(want_absolute, rel=1e-5)
    assert abs(total - want_total) <= 1e-5 * want_absolute  # a sum that cancels: its error scales with Σ|x|
