"""FastDropout: the keep rate, scaling, gradient and seeding of torch's dropout, on random inputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gdgp.methods.fast_dropout import FastDropout, replace_dropout


@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.9])
def test_keep_rate_and_scaling_match_torch_dropout(p: float) -> None:
    torch.manual_seed(0)
    x = torch.rand(4, 8, 64, 64) + 0.5  # no zeros: a zero output means dropped
    out = FastDropout(p).train()(x)
    kept = out != 0
    n = x.numel()
    # binomial: 5 standard deviations of the kept fraction
    assert abs(kept.float().mean().item() - (1 - p)) < 5 * (p * (1 - p) / n) ** 0.5
    torch.testing.assert_close(out[kept], x[kept] / (1 - p))
    # the expected value is preserved, as by torch's own dropout: both means within 5 standard
    # deviations of the input's (per element variance x^2 p / (1 - p))
    sd = ((x**2).mean().item() * p / (1 - p) / n) ** 0.5
    ref = nn.functional.dropout(x, p, training=True)
    assert abs(out.mean().item() - x.mean().item()) < 5 * sd and abs(ref.mean().item() - x.mean().item()) < 5 * sd


def test_neighbouring_elements_are_dropped_independently() -> None:
    """Four elements share one 64-bit word: their masks must still be uncorrelated."""
    torch.manual_seed(1)
    kept = (FastDropout(0.3).train()(torch.ones(1_000_000)) != 0).float()
    for lag in (1, 2, 3, 4):
        r = torch.corrcoef(torch.stack([kept[:-lag], kept[lag:]]))[0, 1].item()
        assert abs(r) < 0.01, (lag, r)


def test_eval_mode_and_zero_p_are_identity_and_gradient_is_the_mask() -> None:
    x = torch.randn(2, 3, 5, 5, requires_grad=True)
    layer = FastDropout(0.3)
    assert layer.eval()(x) is x and FastDropout(0.0).train()(x) is x
    torch.manual_seed(2)
    out = layer.train()(x)
    out.sum().backward()
    expected = (out != 0).float() / 0.7
    torch.testing.assert_close(x.grad, expected)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        FastDropout(1.0)


def test_same_seed_same_mask() -> None:
    layer = FastDropout(0.3).train()
    x = torch.randn(3, 7, 11)
    torch.manual_seed(5)
    a = layer(x)
    torch.manual_seed(5)
    b = layer(x)
    c = layer(x)
    assert torch.equal(a, b) and not torch.equal(b, c)


def test_replace_dropout_swaps_every_dropout_and_keeps_the_state_dict() -> None:
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Dropout(0.2), nn.Sequential(nn.ReLU(), nn.Dropout(0.4)))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    assert replace_dropout(net) == 2
    assert [m.p for m in net.modules() if isinstance(m, FastDropout)] == [0.2, 0.4]
    assert not any(type(m) is nn.Dropout for m in net.modules())
    after = net.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
