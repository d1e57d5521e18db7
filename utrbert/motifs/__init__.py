"""Motifs: high-attention regions to enriched k-mers to PWMs, MEME files, and TOMTOM matching."""
