# MLLA-S Mask R-CNN 1x (LeapLabTHU/MLLA
# downstream/detection/configs/mlla/mlla_s_mrcnn_1x.py, trained with mmdet 2.25).
# The released detector checkpoint loads after `vzoo.zoo.map_mmdet2_keys`.
_base_ = ["./mlla_t_1x.py"]

model = dict(
    # MLLA-S: MLLA-T's widths, deeper stages
    backbone=dict(depths=[3, 6, 21, 6]),
)
