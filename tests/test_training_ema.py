"""EMA of the weights: integer buffers are copied, never averaged; floats are averaged."""

from __future__ import annotations

import pytest
import torch

from nnpkit.models.registry import build_model, model_config_class
from nnpkit.training.trainer import exponential_moving_average

ELEMENTS = ["H", "C", "N", "O", "Cu"]  # pair indices 0..14, species_of_number 0..4 and -1
MODELS = {
    "bpnn": {"kind": "bpnn", "hidden": [8], "n_radial": 4, "n_angular_radial": 2,
             "zetas": [1]},
    "equivariant": {"kind": "equivariant", "n_layers": 1, "l_max": 1, "n_channels": 4,
                    "product_channels": 4, "radial_mlp": [8], "readout_mlp": [4]},
}


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_ema_keeps_integer_buffers_bit_identical_and_averages_the_weights(kind: str) -> None:
    torch.manual_seed(0)
    config = model_config_class(kind).model_validate(MODELS[kind])
    model = build_model(config, ELEMENTS)
    with torch.no_grad():
        model.reference_energies.copy_(torch.tensor([-13.6, -1029.5, -1485.3, -2041.9,
                                                     -45000.123456789], dtype=torch.float64))
    integer = {name: buffer.clone() for name, buffer in model.named_buffers()
               if not buffer.is_floating_point()}
    assert "species_of_number" in integer  # the check below covers the index buffers
    assert kind != "bpnn" or "descriptor.pair_index" in integer
    decay = 0.9
    ema = exponential_moving_average(model, decay)
    expected = {name: p.detach().double().clone() for name, p in model.named_parameters()}
    generator = torch.Generator().manual_seed(1)
    for _ in range(200):
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
                expected[name] = decay * expected[name] + (1 - decay) * parameter.double()
        ema.update_parameters(model)
    averaged = dict(ema.module.named_buffers())
    for name, buffer in integer.items():
        # bit-identical: an averaged index 3 would read 2.9999998 and truncate to 2
        assert averaged[name].dtype == buffer.dtype and torch.equal(averaged[name], buffer), name
    for name, buffer in model.named_buffers():
        if buffer.is_floating_point():  # constants (feature scales, E0s): unchanged, own dtype
            assert averaged[name].dtype == buffer.dtype, name
            assert torch.equal(averaged[name], buffer), name
    assert averaged["reference_energies"].dtype == torch.float64
    for name, parameter in ema.module.named_parameters():
        # float32 recursion against a float64 one over 200 steps: rounding ~1e-6 relative;
        # the raw weights moved by ~0.05·sqrt(200) ≈ 0.7 from the average, far outside
        torch.testing.assert_close(parameter.double(), expected[name], rtol=1e-5, atol=1e-5)
