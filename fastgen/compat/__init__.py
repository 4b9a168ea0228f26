"""Drop-in modules with the names and signatures of established packages (nerfacc, StyleGAN ops, tiny-cuda-nn)."""
