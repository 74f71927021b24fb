# MLLA-S Mask R-CNN 3x (LeapLabTHU/MLLA
# downstream/detection/configs/mlla/mlla_s_mrcnn_3x.py, trained with mmdet 2.25).
# The released detector checkpoint loads after `vzoo.zoo.map_mmdet2_keys`.
_base_ = ["./mlla_t_3x.py"]

model = dict(backbone=dict(depths=[3, 6, 21, 6]))
