# Sparse R-CNN R-50-FPN 1x (100 proposals, 6 stages of DIIHead): mmdet 3's own config, the
# baseline row of the Dual-Attention Sparse R-CNN README (OpenMMLab's mmdet-2 checkpoint
# sparse_rcnn_r50_fpn_1x_coco_20201222_214453-dc79b137.pth loads into it; keys map 1:1).
_base_ = ["mmdet::sparse_rcnn/sparse-rcnn_r50_fpn_1x_coco.py"]

custom_imports = dict(imports=["vzoo.zoo.dual_attn_sparse_rcnn"], allow_failed_imports=False)
