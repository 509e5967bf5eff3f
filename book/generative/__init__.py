"""Part V, generative models: the code of the chapters ``vae_information_bottleneck``,
``vq_vae``, ``gan_zoo``, ``gan_architectures``, ``o_gan``, ``invertible_resnet``,
``energy_langevin``, ``glann`` and ``ddpm`` (VAEs, VQ-VAEs, GAN losses and their training on
2-D toy mixtures, one run at a time in ``gan`` or several stacked into one model in
``gan_stack``; GAN architectures for digits; the O-GAN encoder; invertible residual flows in
``iresnet``; Langevin samplers in ``langevin`` and energy models in ``energy``; GLO and IMLE in
``glann``; the diffusion process in ``diffusion`` and its noise predictor in ``denoiser``; the
Fréchet distance between sets of digits in ``frechet``)."""
