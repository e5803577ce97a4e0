"""Sample-quality evaluation: Fréchet distance (FVD on I3D features, FID on InceptionV3 features), Inception Score,
and walt's own definitions of the feature networks (I3D, InceptionV3)."""
