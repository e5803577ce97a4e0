# The CPU text-to-video demo: tools/make_demo_data.py videos with their captions.csv ("a red square moving left"),
# 8 frames every 2nd frame at 32×32, no flip (it would contradict "left"/"right" in the captions).
data = dict(
    train=dict(type="TextVideoCSV", root="data/demo", csv="captions.csv", num_frames=8, frame_interval=2,
               resolution=32, hflip=0.0),
    batch_size=8,
    num_workers=2,
)
