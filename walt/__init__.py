"""walt: latent video diffusion transformers (W.A.L.T and LAVITA) as swappable, registered components."""
__version__ = "0.1.0"
