"""TinyNet's layers: four stages of strided 3x3 conv + BN + GELU (a stand-in for your backbone).

`build_classifier(arch)` gives the ImageNet model, `build_backbone(arch)` the detection backbone
(a tuple of 4 NCHW maps at strides 4, 8, 16, 32); importing registers `TinyNet` in mmdet's MODELS
so a Mask R-CNN config can name it.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from vzoo.zoo.registration import register_backbone

WIDTHS = {"tinynet-s": (32, 64, 128, 256)}


def _stage(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.GELU()
    )


class TinyNet(nn.Module):
    """Backbone: forward returns the four stage outputs."""

    def __init__(self, arch: str = "tinynet-s", out_indices: tuple[int, ...] = (0, 1, 2, 3),
                 init_cfg: Any = None) -> None:  # fmt: skip
        super().__init__()
        widths = WIDTHS[arch]
        self.out_indices = tuple(out_indices)
        self.stem = _stage(3, widths[0], 4)
        self.stages = nn.ModuleList(
            _stage(cin, cout, 1 if i == 0 else 2)
            for i, (cin, cout) in enumerate(zip((widths[0], *widths[:-1]), widths, strict=True))
        )

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)


class TinyNetClassifier(nn.Module):
    def __init__(self, arch: str = "tinynet-s", num_classes: int = 1000) -> None:
        super().__init__()
        self.backbone = TinyNet(arch, out_indices=(3,))
        self.head = nn.Linear(WIDTHS[arch][-1], num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.backbone(x)[-1].mean((2, 3)))


def build_classifier(arch_id: str, **kwargs: Any) -> TinyNetClassifier:
    return TinyNetClassifier(arch_id, **kwargs)


def build_backbone(arch_id: str, **overrides: Any) -> TinyNet:
    return TinyNet(arch_id, **overrides)


register_backbone("TinyNet", TinyNet)
