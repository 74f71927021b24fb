# SparX-Mamba-B + Mask R-CNN FPN 1x on COCO, as the authors'
# detection/config/maskrcnn_sparx_mamba_b_fpn_1x_coco.py (LMMMEng/SparX).
# Everything else as SparX-Mamba-T's (the same bases, data loaders and schedule).
_base_ = ["./sparx_mamba_t_1x.py"]

model = dict(
    backbone=dict(type="sparx_mamba_b", drop_path_rate=0.45),
    neck=dict(in_channels=[120, 240, 396, 636]),
)
default_hooks = dict(checkpoint=dict(max_keep_ckpts=3))
