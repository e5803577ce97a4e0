# W.A.L.T text-to-video base stage on clips of mixed shapes (issue 29): instead of App. A's separate 9:16 finetuning
# stage (walt_t2v_base_9x16.py), every clip keeps the bucket nearest its own aspect ratio and length, batches hold
# one bucket, every rank draws the same bucket at a step, and the micro-batch of a bucket follows a token budget.
# The model stays built for 17×128×128; on the other grids its windows follow the grid (1×16×16 → 1×16×28,
# 5×8×8 → 5×8×14) and its position tables are resampled as tools/interpolate_checkpoint.py resamples them
# (walt/models/attention/kernel.py stretch_window). Shapes the backbone cannot take are refused when training
# starts. Per-bucket cost (docs/scaling.md):
#   python tools/flops.py configs/walt_t2v_buckets.py --buckets --batch-size 8
_base_ = ["./walt_t2v_base.py"]
data = dict(
    train=dict(_delete_=True, type="BucketedVideos",
               dataset=dict(type="TextVideoCSV", root="data/text_video", csv="captions.csv", num_frames=17,
                            resolution=128, hflip=0.0),
               # (frames, height, width): square, 9:16 landscape and portrait, 3:5, and a short 9:16 bucket
               buckets=[(17, 128, 128), (17, 128, 224), (17, 224, 128), (17, 96, 160), (9, 128, 224)],
               token_budget=None),  # default: micro-batch × the tokens of the largest bucket (17×224×128: 2,240)
)
