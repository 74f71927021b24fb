# Spatial-Mamba-B + Mask R-CNN FPN 1x on COCO, as EdwardChasel/Spatial-Mamba
# detection/configs/spatialmamba/mask_rcnn_spatialmamba_fpn_coco_base.py
# builds it (on top of mmdet's mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py).
# Everything else as Spatial-Mamba-T's (the same bases and schedule).
_base_ = ["./spatial_mamba_t_1x.py"]

model = dict(
    backbone=dict(dims=96, depths=(2, 4, 21, 5), drop_path_rate=0.5),
    neck=dict(in_channels=[96, 192, 384, 768]),
)
