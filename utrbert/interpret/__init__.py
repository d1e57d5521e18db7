"""Looking inside a model: [CLS] attention and embeddings, per-layer representations, in-silico mutagenesis, score files and 2-D maps."""
