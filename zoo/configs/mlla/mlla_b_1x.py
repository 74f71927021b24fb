# MLLA-B Mask R-CNN 1x (LeapLabTHU/MLLA
# downstream/detection/configs/mlla/mlla_b_mrcnn_1x.py, trained with mmdet 2.25).
# The released detector checkpoint loads after `vzoo.zoo.map_mmdet2_keys`.
_base_ = ["./mlla_t_1x.py"]

model = dict(
    backbone=dict(embed_dim=96, depths=[3, 6, 21, 6], num_heads=[3, 6, 12, 24]),
    neck=dict(in_channels=[96, 192, 384, 768]),
)
