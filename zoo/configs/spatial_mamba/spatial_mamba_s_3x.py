# Spatial-Mamba-S + Mask R-CNN FPN 3x on COCO, as EdwardChasel/Spatial-Mamba
# detection/configs/spatialmamba/mask_rcnn_spatialmamba_fpn_coco_small_3x.py
# builds it (on top of mmdet's mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py).
# Everything else as Spatial-Mamba-T's (the same bases and schedule).
_base_ = ["./spatial_mamba_t_3x.py"]

model = dict(backbone=dict(depths=(2, 4, 21, 5), drop_path_rate=0.3))
