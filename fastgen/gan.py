"""The GAN namespace: every GAN op of fastgen in one place (StyleGAN2-ADA / StyleGAN3 semantics).

* :func:`bias_act` - fused bias + activation + gain + clamp, twice differentiable;
* :func:`upfirdn2d` and its helpers :func:`setup_filter`, :func:`filter2d`, :func:`upsample2d`,
  :func:`downsample2d` - FIR up/downsampling, differentiable to any order;
* :func:`conv2d_resample` - convolution fused with FIR up/downsampling;
* :func:`modulated_conv2d` - StyleGAN2's modulated convolution (fused or not, demodulated or not);
* :func:`modconv_block` - one StyleGAN2 synthesis layer (modulated conv + noise + bias_act), fused;
* :func:`filtered_lrelu` - upsample + filter + leaky ReLU + filter + downsample in one pass.

``fastgen.compat.stylegan`` has the same ops under StyleGAN's module and argument names.
"""
from fastgen.ops.bias_act import ACTIVATIONS, bias_act
from fastgen.ops.conv2d_resample import conv2d_resample
from fastgen.ops.filtered_lrelu import filtered_lrelu
from fastgen.ops.modconv import modconv_block, modulated_conv2d
from fastgen.ops.upfirdn2d import downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d

__all__ = ["ACTIVATIONS", "bias_act", "upfirdn2d", "setup_filter", "filter2d", "upsample2d", "downsample2d",
           "conv2d_resample", "filtered_lrelu", "modulated_conv2d", "modconv_block"]
