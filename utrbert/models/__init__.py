"""The BERT model, its pretraining and fine-tuning loops, metrics, and the localization pooling head."""
