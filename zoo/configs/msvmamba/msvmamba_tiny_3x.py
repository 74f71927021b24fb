_base_ = ["./msvmamba_micro_3x.py"]

model = dict(
    backbone=dict(depths=(1, 2, 9, 2), dims=96),
    neck=dict(in_channels=[96, 192, 384, 768]),
)
