"""Sample-quality metrics: Fréchet distance (FVD on I3D features, FID on InceptionV3 features) and Inception Score."""
from walt.utils.imports import import_submodules

import_submodules(__name__, __path__)
