"""``process_docs`` helpers of the transfer tasks in this folder."""

from __future__ import annotations


def drop_unlabeled(dataset):
    """Drop the pairs SNLI marks ``-1`` (no gold label: the annotators did not agree)."""
    return dataset.filter(lambda doc: doc["label"] != -1)
