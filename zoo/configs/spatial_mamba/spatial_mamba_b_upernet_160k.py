# Spatial-Mamba-B + UperNet, 160k iterations on ADE20K at 512x512, as EdwardChasel/Spatial-Mamba
# segmentation/configs/spatialmamba/upernet_spatialmamba_4xb4-160k_ade20k-512x512_base.py
# builds it (on top of mmseg's swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k config,
# whose recipe is repeated here: AdamW 6e-5, 1500-iteration warm-up, poly decay, batch 2/GPU).
_base_ = ["./spatial_mamba_t_upernet_160k.py"]

model = dict(
    backbone=dict(dims=96, depths=(2, 4, 21, 5), drop_path_rate=0.5),
    decode_head=dict(in_channels=[96, 192, 384, 768]),
    auxiliary_head=dict(in_channels=384),
)
