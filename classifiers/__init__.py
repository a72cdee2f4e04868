"""Request features, embeddings and the complexity classifiers that predict per-tier quality."""
