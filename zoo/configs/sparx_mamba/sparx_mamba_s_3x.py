# SparX-Mamba-S + Mask R-CNN FPN 3x on COCO, as the authors'
# detection/config/maskrcnn_sparx_mamba_s_fpn_3x_coco.py (LMMMEng/SparX).
# Their base is mmdet's Swin-T Mask R-CNN 1x config: the same mmdet model/dataset/schedule bases
# and AdamW (lr 1e-4, wd 0.05) as vzoo's shared bases; differences are set below.
_base_ = ["../_base_/mask_rcnn_fpn_3x.py"]

custom_imports = dict(imports=["vzoo.zoo.sparx_mamba"], allow_failed_imports=False)

# pretrained=True: the ImageNet-1K release initialises the backbone when training (applied by
# init_weights(), never at build time); evaluation loads the full detection checkpoint.
model = dict(
    backbone=dict(_delete_=True, type="sparx_mamba_s", pretrained=True, drop_path_rate=0.3),
    neck=dict(in_channels=[96, 192, 328, 544]),
)
default_hooks = dict(checkpoint=dict(max_keep_ckpts=3, save_best="auto"))

# The authors' dataset base (their _base_/datasets/coco_instance.py) differs from mmdet's only
# in data_root, 4 loader workers and a validation/test batch of 4 images.
train_dataloader = dict(num_workers=4)
val_dataloader = dict(batch_size=4, num_workers=4)
test_dataloader = dict(batch_size=4, num_workers=4)
