"""vzoo: a model zoo and benchmarking CLI for visual state-space and linear-attention backbones.

Importing `vzoo` is cheap: torch, mmdet and friends are imported only by the modules that need them.
"""

from __future__ import annotations

__version__ = "0.1.0"
