"""Models that are not BERT: k-mer logistic regression and the CNN (sequence classifiers), and the masked-LM context baselines."""
