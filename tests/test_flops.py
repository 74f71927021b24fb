"""FLOP counting: hand-computed counts on small modules, explicit reporting of uncounted ops."""

from __future__ import annotations

import torch
from torch import nn

from vzoo.flops.counting import count


def test_conv_and_linear_match_hand_count() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=True),  # 8*3*3*3 MACs per output pixel
        nn.Flatten(),
        nn.Linear(8 * 10 * 12, 5),
    )
    rep = count(model, (torch.randn(1, 3, 10, 12),))
    conv = 8 * 10 * 12 * 3 * 3 * 3
    linear = 8 * 10 * 12 * 5
    assert rep.macs == conv + linear
    assert rep.flops == 2 * (conv + linear)
    assert rep.params_total == (8 * 3 * 9 + 8) + (8 * 10 * 12 * 5 + 5)
    assert rep.uncounted == {}


def test_matmul_counted_and_elementwise_reported_not_counted() -> None:
    class Attn(nn.Module):
        def forward(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
            return torch.softmax(q @ k.transpose(-1, -2), dim=-1).exp() + 1

    rep = count(Attn(), (torch.randn(2, 7, 16), torch.randn(2, 9, 16)))
    assert rep.macs == 2 * 7 * 9 * 16
    assert {"aten::softmax", "aten::exp", "aten::add"} <= set(rep.elementwise_skipped)
    assert rep.uncounted == {}


torch.library.define("vzoo_test::costly", "(Tensor x) -> Tensor")


@torch.library.impl("vzoo_test::costly", "CompositeExplicitAutograd")
def _costly(x: torch.Tensor) -> torch.Tensor:
    return x * 2


def test_unhandled_costly_op_is_reported_and_a_handle_counts_it() -> None:
    class Custom(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.ops.vzoo_test.costly(x)

    x = torch.randn(4, 5)
    rep = count(Custom(), (x,))
    assert rep.uncounted == {"vzoo_test::costly": 1}
    assert rep.macs == 0
    rep = count(Custom(), (x,), {"vzoo_test::costly": lambda i, o: 3 * 20})
    assert rep.uncounted == {}
    assert rep.macs == 60
