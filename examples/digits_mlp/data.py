"""The digits split every example, test and benchmark uses (scikit-learn's bundled data, no download)."""

from __future__ import annotations

import numpy as np


def split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x_train, x_test (float32 in [0, 1], [N, 64]), y_train, y_test: a fixed stratified 80/20 split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    return tuple(train_test_split(x, digits.target, test_size=0.2, random_state=0, stratify=digits.target))
