# SparX-Mamba-S + Mask R-CNN FPN 1x on COCO, as the authors'
# detection/config/maskrcnn_sparx_mamba_s_fpn_1x_coco.py (LMMMEng/SparX).
# Everything else as SparX-Mamba-T's (the same bases, data loaders and schedule).
_base_ = ["./sparx_mamba_t_1x.py"]

model = dict(
    backbone=dict(type="sparx_mamba_s", drop_path_rate=0.3),
    neck=dict(in_channels=[96, 192, 328, 544]),
)
default_hooks = dict(checkpoint=dict(max_keep_ckpts=3))
