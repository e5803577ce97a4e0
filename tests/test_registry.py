import pytest

from registry import ALL_REGISTRIES, ATTENTIONS, CONDITIONINGS, registered_names


def test_every_registry_has_walt_scope():
    assert {r.scope for r in ALL_REGISTRIES.values()} == {"walt"}
    assert {"autoencoder", "patch_embed", "pos_embed", "attention", "conditioning", "backbone",
            "text_encoder", "diffusion", "sampler", "dataset"} <= set(ALL_REGISTRIES)


def test_build_round_trip_by_name():
    cond = CONDITIONINGS.build(dict(type="AdaLNLoRA", rank=4), default_args=dict(dim=8, num_layers=3))
    assert type(cond).__name__ == "AdaLNLoRA" and cond.rank == 4 and cond.lora_a.shape == (3, 4, 8)


def test_unknown_name_lists_registered_names():
    with pytest.raises(KeyError) as err:
        ATTENTIONS.build(dict(type="NoSuchAttention"), default_args=dict(dim=8, num_heads=2))
    message = str(err.value)
    assert "NoSuchAttention" in message
    for name in registered_names(ATTENTIONS):
        assert name in message


def test_missing_type_key_is_reported():
    with pytest.raises(KeyError, match="no 'type' key"):
        CONDITIONINGS.build(dict(rank=2))
