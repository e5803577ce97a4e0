"""Detector files recognised by their content (TorchScript kind from forward's arguments, walt state dicts from
their keys), called as the protocol calls them; a wrong or unreadable file gives one ``error:`` line; walt's own
InceptionI3d / InceptionV3 state dicts give the metrics of the same networks called directly; the sampling chunks
give class-balanced labels, prompts from the prompt file and observed frames from the condition."""
import torch
import torch.nn.functional as F
import pytest

from tool_loader import load_tool
from walt.evaluation.detectors import DetectorFileError, load_detector
from walt.models.autoencoders.identity import IdentityAutoencoder
from walt.evaluation.i3d import InceptionI3d
from walt.evaluation.inception import InceptionV3
from walt.evaluation.samples import ModelSamples, chunk_seed, read_prompts
from walt.evaluation.standin_detectors import save_standins

WIDTH = 0.0625


@pytest.fixture(scope="module")
def standins(tmp_path_factory):
    return save_standins(str(tmp_path_factory.mktemp("det")))


def test_torchscript_detectors_are_recognised_and_called_with_the_protocol_arguments(standins):
    videos = torch.randint(0, 256, (2, 3, 16, 20, 20), dtype=torch.uint8)
    i3d = load_detector(standins["i3d"], "i3d")
    raw = torch.jit.load(standins["i3d"])
    assert i3d.format == "torchscript" and len(i3d.sha256) == 64
    assert torch.equal(i3d.features(videos), raw(videos, rescale=True, resize=True, return_features=True))
    inception = load_detector(standins["inception"], "inception")
    frames = videos[:, :, 0]
    raw = torch.jit.load(standins["inception"])
    assert torch.equal(inception.features(frames), raw(frames, return_features=True))
    assert torch.equal(inception.probabilities(frames), raw(frames, no_output_bias=True))
    assert not torch.allclose(raw(frames, no_output_bias=True), raw(frames))  # the bias matters
    c3d = load_detector(standins["c3d"], "c3d")
    assert torch.equal(c3d.probabilities(videos), torch.jit.load(standins["c3d"])(videos))


def test_a_file_of_the_wrong_kind_or_no_detector_is_refused_with_one_error_line(standins, tmp_path, capsys):
    with pytest.raises(DetectorFileError, match="TorchScript c3d detector; expected a i3d"):
        load_detector(standins["c3d"], "i3d")
    (tmp_path / "junk.pt").write_bytes(b"not a network")
    tool = load_tool("eval")
    assert tool.main(["--fake", str(tmp_path), "--real", str(tmp_path), "--i3d", str(tmp_path / "junk.pt")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: --i3d file {str(tmp_path / 'junk.pt')!r} is neither a TorchScript archive nor a state dict "
                   "(UnpicklingError)"]
    torch.save({"weight": torch.zeros(2)}, tmp_path / "other.pt")
    assert tool.main(["--fake", str(tmp_path), "--inception", str(tmp_path / "other.pt")]) == 1
    assert "state dict of unknown keys" in capsys.readouterr().err


def test_walt_state_dicts_give_the_features_of_the_networks_called_directly(tmp_path):
    torch.manual_seed(0)
    i3d, inc = InceptionI3d(width=WIDTH).eval(), InceptionV3(width=WIDTH).eval()
    torch.save({"config": {"width": WIDTH}, "state_dict": i3d.state_dict()}, tmp_path / "i3d.pt")
    torch.save({"config": {"width": WIDTH}, "state_dict": inc.state_dict()}, tmp_path / "inc.pt")
    videos = torch.randint(0, 256, (1, 3, 4, 24, 24), dtype=torch.uint8)
    x = videos.float() / 127.5 - 1
    with torch.no_grad():
        frames = F.interpolate(x.transpose(1, 2).reshape(4, 3, 24, 24), size=(224, 224), mode="bilinear")
        expected_i3d = i3d(frames.view(1, 4, 3, 224, 224).transpose(1, 2))
        feats, _ = inc(F.interpolate(x[:, :, 0], size=(299, 299), mode="bilinear"))
    det = load_detector(str(tmp_path / "i3d.pt"), "i3d")
    assert det.format == "walt-state-dict"
    torch.testing.assert_close(det.features(videos), expected_i3d)
    det = load_detector(str(tmp_path / "inc.pt"), "inception")
    torch.testing.assert_close(det.features(videos[:, :, 0]), feats)
    torch.testing.assert_close(det.probabilities(videos[:, :, 0]), torch.softmax(feats @ inc.fc.weight.T, dim=1))


class _StubModel(torch.nn.Module):
    """Records what ModelSamples asks for; returns noise from the given generator."""

    def __init__(self, num_classes=None, text=False):
        super().__init__()
        self.num_classes, self.uses_text_tokens, self.calls = num_classes, text, []
        self.autoencoder = IdentityAutoencoder(latent_channels=3)
        self.device = torch.device("cpu")

    def sample(self, num, generator=None, **kwargs):
        self.calls.append(kwargs)
        return torch.rand(num, 3, 2, 4, 4, generator=generator) * 2 - 1


def test_sampling_chunks_are_class_balanced_prompted_conditioned_and_seeded_per_chunk(tmp_path):
    model = _StubModel(num_classes=3)
    samples = ModelSamples(model, num=7, batch_size=4, seed=5, steps=3)
    first, second = samples.chunk(0), samples.chunk(1)
    assert [c["y"].tolist() for c in model.calls] == [[0, 1, 2, 0], [1, 2, 0]]
    expected = torch.rand(3, 3, 2, 4, 4, generator=torch.Generator().manual_seed(chunk_seed(5, 1))) * 2 - 1
    assert torch.equal(second, (expected * 127.5 + 128).clamp(0, 255).to(torch.uint8)) and first.shape[0] == 4
    prompts = read_prompts("walt/evaluation/ucf101_prompts.txt")
    assert len(prompts) == len(set(prompts)) == 101
    assert prompts[0] == "a person applying eye makeup in front of a mirror" and "yo-yo" in prompts[100]
    model = _StubModel(text=True)
    cond = torch.zeros(2, 3, 1, 4, 4)
    ModelSamples(model, num=103, batch_size=2, seed=0, prompts=prompts, condition=lambda index: cond).chunk(50)
    assert model.calls[0]["prompts"] == [prompts[100], prompts[0]] and torch.equal(model.calls[0]["cond_latent"], cond)
    with pytest.raises(ValueError, match="--prompts"):
        ModelSamples(_StubModel(text=True), num=2, batch_size=2, seed=0)
