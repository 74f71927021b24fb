# Spatial-Mamba-T + UperNet, 160k iterations on ADE20K at 512x512, as EdwardChasel/Spatial-Mamba
# segmentation/configs/spatialmamba/upernet_spatialmamba_4xb4-160k_ade20k-512x512_tiny.py
# builds it (on top of mmseg's swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k config,
# whose recipe is ../_base_/upernet_swin_160k.py). The file name says 4xb4, but the batch size
# the config sets is the Swin base's 2 per GPU (the authors' `batch_size=4` line is commented out).
_base_ = ["../_base_/upernet_swin_160k.py"]

custom_imports = dict(imports=["vzoo.zoo.spatial_mamba"], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type="MM_SpatialMamba",
        out_indices=(0, 1, 2, 3),
        pretrained="",
        dims=64,
        d_state=1,
        depths=(2, 4, 8, 4),
        drop_path_rate=0.2,
    ),
    decode_head=dict(in_channels=[64, 128, 256, 512], num_classes=150),
    auxiliary_head=dict(in_channels=256, num_classes=150),
)
