"""@-segmentation into CH-DDI, jieba drug-lexicon pre-annotation, rule pre-labels, Label Studio round trips."""
