"""Nucleotides to tokens: overlapping k-mers, the k-mer tokenizer and k-span masking."""
