"""Part IV, representations: the code of the chapters ``neural_networks_chat``,
``word2vec_as_svd``, ``minimum_entropy_word_vectors``, ``mlm_through_dropout``, ``infomax``,
``transformer_vq``, ``layers_masks_and_reuse``, ``couplets_as_tagging`` and
``triplet_extraction`` (small networks and what depth buys in ``networks``; corpora, word
vectors and their benchmarks, spectral shelving, masked language models; mutual-information
bounds in ``mi_bounds`` and Deep InfoMax in ``infomax``; attention with masks and quantised
keys, reusable layers; sequence labelling with gated convolutions in ``tagging``; triple
extraction with pointers in ``triplets`` and ``triplet_models``)."""
