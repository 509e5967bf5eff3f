"""book.data: the bundled digits, scaled and split reproducibly."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from book import data


def test_digits_split_is_complete_scaled_stratified_and_fixed():
    d = data.digits()
    n = len(d.y_train) + len(d.y_test)
    assert n == 1797 and d.x_train.shape[1] == 64 and d.x_train.dtype == torch.float32
    assert float(d.x_train.min()) == 0.0 and float(d.x_train.max()) == 1.0
    share = np.bincount(d.y_test.numpy(), minlength=10) / np.bincount(
        load_digits().target, minlength=10)
    assert np.all(np.abs(share - 0.25) < 0.02)
    # the same pixels, just divided by 16 (check one sample against sklearn's array)
    raw = load_digits().data / 16.0
    assert any(np.allclose(raw[i], d.x_train[0].numpy()) for i in range(len(raw)))
    again = data.digits()
    assert torch.equal(d.x_test, again.x_test) and torch.equal(d.y_train, again.y_train)
    assert data.Digits.as_images(d.x_test).shape == (len(d.y_test), 8, 8)


def test_digits_rejects_a_bad_fraction():
    with pytest.raises(ValueError, match="test_fraction"):
        data.digits(test_fraction=1.0)
