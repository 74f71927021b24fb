# SparX-Mamba-T + Mask R-CNN FPN 1x on COCO, as the authors'
# detection/config/maskrcnn_sparx_mamba_t_fpn_1x_coco.py (LMMMEng/SparX).
# Their base is mmdet's Swin-T Mask R-CNN 1x config: the same mmdet model/dataset/schedule bases
# and AdamW (lr 1e-4, wd 0.05) as vzoo's shared bases; differences are set below.
_base_ = ["../_base_/mask_rcnn_fpn_1x.py"]

custom_imports = dict(imports=["vzoo.zoo.sparx_mamba"], allow_failed_imports=False)

# pretrained=True: the ImageNet-1K release initialises the backbone when training (applied by
# init_weights(), never at build time); evaluation loads the full detection checkpoint.
model = dict(
    backbone=dict(_delete_=True, type="sparx_mamba_t", pretrained=True, drop_path_rate=0.2),
    neck=dict(in_channels=[96, 192, 320, 512]),
)
default_hooks = dict(checkpoint=dict(max_keep_ckpts=1, save_best="auto"))

# The authors' dataset base (their _base_/datasets/coco_instance.py) differs from mmdet's only
# in data_root, 4 loader workers and a validation/test batch of 4 images.
train_dataloader = dict(num_workers=4)
val_dataloader = dict(batch_size=4, num_workers=4)
test_dataloader = dict(batch_size=4, num_workers=4)

# Swin-T 1x schedule as the authors inherit it: 1000-iteration linear warm-up (mmdet's
# schedule_1x has 500), steps at epochs 8 and 11.
param_scheduler = [
    dict(type="LinearLR", start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type="MultiStepLR", begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1),
]
