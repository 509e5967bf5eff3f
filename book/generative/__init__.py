"""Part V, generative models: the code of the chapters ``vae_information_bottleneck``,
``vq_vae`` and ``gan_zoo`` (VAEs, VQ-VAEs, GAN losses and their training on 2-D toy
mixtures, one run at a time in ``gan`` or several stacked into one model in ``gan_stack``)."""
