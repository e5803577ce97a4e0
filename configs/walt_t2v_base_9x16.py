# W.A.L.T aspect-ratio finetuning (§4.5, App. A, Table 6): the square base stage finetuned to 9:16, 17×128×224 clips
# → 8×5×16×28 latents; windows scaled with the grid (1×16×16 → 1×16×28, 5×8×8 → 5×8×14), absolute and relative
# position embeddings interpolated. Start from the square model:
#   python tools/interpolate_checkpoint.py configs/walt_t2v_base.py work_dirs/walt_t2v_base/latest.pth \
#       --video-size 17 128 224 --out work_dirs/walt_t2v_base/base_9x16_init.pth
#   python tools/train.py configs/walt_t2v_base_9x16.py --load-from work_dirs/walt_t2v_base/base_9x16_init.pth
# Table 6 is not in our copy of the paper: finetuning steps and lr are our choice.
_base_ = ["./walt_t2v_base.py"]
model = dict(backbone=dict(spatial_window=(1, 16, 28), spatiotemporal_window=(5, 8, 14)), video_size=(17, 128, 224))
data = dict(train=dict(video=dict(resolution=(128, 224)), image=dict(resolution=(128, 224))))
lr_schedule = dict(warmup_steps=1000)
max_steps = 20000
