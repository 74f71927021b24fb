"""Running the real evaluations (COCO, ImageNet, ADE20K) and recording them (issue: vzoo eval)."""
