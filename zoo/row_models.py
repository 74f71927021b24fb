"""A row's model, built in one place: its config (mmengine) and the network it describes.

`row_config` reads the row's config file (packaged, a plugin's, an overlay's, or mmdet's own for
`mmdet:` rows) with `--cfg-options` merged; `build_row_model` builds the network as eval builds
it: a classifier through its family card's builder, a detector / segmentor through mmdet's /
mmseg's `MODELS` from that config. eval's test loop (mmengine's Runner) builds from the same
config; flops, bench and predict call `build_row_model`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from vzoo.core.errors import UserInputError, VzooError, quote
from vzoo.core.registry import Row, config_path
from vzoo.core.tasks import get_task

if TYPE_CHECKING:
    from torch import nn


def row_config(row: Row, cfg_options: dict[str, Any] | None = None) -> Any:
    """The row's mmengine Config with `--cfg-options` merged."""
    from mmengine.config import Config

    if row.config is None:
        raise VzooError(f"{row.id}: the registry gives no config for this row")
    path = config_path(row.config)
    if not path.is_file():
        raise VzooError(f"{row.id}: config {row.config} is missing from the installed package")
    cfg = Config.fromfile(str(path))
    if cfg_options:
        for key, value in cfg_options.items():
            check_cfg_option(cfg, key, value)
        cfg.merge_from_dict(cfg_options)
    return cfg


def check_cfg_option(cfg: Any, key: str, value: Any) -> None:
    """`--cfg-options KEY=VALUE` may set a value or replace a section by a section, never put a
    plain value where the config has a section (`model=1`: the model could not be built) or
    below a plain value (`model.type.x=1`)."""
    node: Any = cfg.to_dict() if hasattr(cfg, "to_dict") else cfg
    parts = key.split(".")
    for depth, part in enumerate(parts):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict):
            if part not in node:
                return  # a new key: mmengine adds it
            node = node[part]
        else:
            where = ".".join(parts[:depth])
            raise UserInputError(
                f"--cfg-options {key}={quote(value)}: '{where}' is a value ({quote(node)}), not "
                f"a section with keys: set {where}=VALUE instead"
            )
    if isinstance(node, dict) and not isinstance(value, dict):
        keys = ", ".join(list(map(str, node))[:4])
        raise UserInputError(
            f"--cfg-options {key}={quote(value)}: '{key}' is a section of the config (keys "
            f"{keys}, ...), not a value: set one of its keys, e.g. {key}.KEY=VALUE"
        )


def build_row_model(row: Row, cfg: Any | None = None) -> nn.Module:
    """The row's network with its initial weights, in eval mode (`cfg`: the row's config,
    already read)."""
    task = get_task(row.task)
    if task.builds_classifier:
        from vzoo.zoo import build_classifier

        return build_classifier(row.arch).eval()
    cfg = cfg if cfg is not None else row_config(row)
    # mmdet, mmseg (OpenMMLab libraries alike): `cfg.model` through the library's MODELS
    utils = importlib.import_module(f"{task.model_library}.utils")
    utils.register_all_modules(init_default_scope=True)
    models = importlib.import_module(f"{task.model_library}.registry").MODELS
    return models.build(cfg.model).eval()
