"""Part IV, representations: the code of the chapters ``word2vec_as_svd``,
``minimum_entropy_word_vectors``, ``mlm_through_dropout``, ``transformer_vq`` and
``layers_masks_and_reuse`` (corpora, word vectors and their benchmarks, spectral shelving,
masked language models, attention with masks and quantised keys, reusable layers)."""
