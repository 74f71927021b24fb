# Mask R-CNN + FPN, 1x (12 epochs), as the VMamba-lineage and MLLA papers run it on COCO:
# mmdet's own R-50 bases, AdamW (lr 1e-4, wd 0.05), single-scale 1333x800 training.
# A row's config inherits this and replaces `model.backbone` and `model.neck.in_channels`.
_base_ = [
    "mmdet::_base_/models/mask-rcnn_r50_fpn.py",
    "mmdet::_base_/datasets/coco_instance.py",
    "mmdet::_base_/schedules/schedule_1x.py",
    "mmdet::_base_/default_runtime.py",
]

model = dict(backbone=dict(_delete_=True, type="__set_by_row_config__"))

optim_wrapper = dict(
    _delete_=True,
    type="OptimWrapper",
    optimizer=dict(type="AdamW", lr=0.0001, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys=dict(
            absolute_pos_embed=dict(decay_mult=0.0),
            relative_position_bias_table=dict(decay_mult=0.0),
            norm=dict(decay_mult=0.0),
        )
    ),
)

# Swin's 1x recipe (which these papers follow) warms up for 1000 iterations, not mmdet's 500.
param_scheduler = [
    dict(type="LinearLR", start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type="MultiStepLR", begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1),
]
