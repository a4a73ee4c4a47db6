"""Exact distinct counts of the features at the sizes where a fixed key layout used to stop a run."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from include.preprocessing import schema
from include.preprocessing.features import DistinctPairs, FeatureAccumulator

OLD_USER_CAP = 1 << 23  # users per run the 23 + 40 bit key layout allowed


def test_more_users_than_the_old_cap_are_counted_exactly():
    pairs = DistinctPairs("users", "invoice numbers")
    users = np.arange(OLD_USER_CAP + 5, dtype=np.int64)
    invoices = 536_365 + users % 1000  # 6-digit invoice numbers, as the export writes them
    pairs.add(users, invoices)
    pairs.add(users[-10:], invoices[-10:])  # the same pairs again: not counted twice
    pairs.add(users[-3:], invoices[-3:] + 1)  # a second invoice for the last three users
    counts = pairs.counts(len(users))
    assert len(counts) == OLD_USER_CAP + 5
    assert counts[:-3].max() == 1 == counts[:-3].min()
    assert counts[-3:].tolist() == [2, 2, 2]


def test_a_wider_member_repacks_the_keys_and_keeps_counts_exact():
    pairs = DistinctPairs("users", "invoice numbers")
    pairs.add(np.array([0, 1, 1, 2]), np.array([536_365, 536_365, 536_366, 7]))
    pairs.add(np.array([1, 2, 2]), np.array([999_999_999_999, 7, 999_999_999_999]))  # 12 digits: 40 bits
    pairs.add(np.array([0, 1]), np.array([536_365, 999_999_999_999]))  # repeats across the repacking
    assert pairs.counts(3).tolist() == [1, 3, 2]


def test_pairs_that_cannot_fit_63_bits_are_refused_at_once_with_a_clear_message():
    pairs = DistinctPairs("users", "invoice numbers")
    with pytest.raises(
        schema.MalformedInput,
        match=r"8,388,609 distinct users with invoice numbers up to "
        r"999,999,999,999 in one run: .* more than 63 bits \(24 \+ 40\).*split the input",
    ):
        pairs.add(np.array([0, OLD_USER_CAP]), np.array([999_999_999_999, 536_365]))


def test_feature_counts_over_batches_whose_invoice_numbers_grow():
    acc = FeatureAccumulator()

    def batch(users, items, invoices):
        n = len(users)
        clean = pa.table(
            {
                "user_id": users,
                "item_id": items,
                "timestamp": [1_317_427_200 + i for i in range(n)],
                "event_type": ["purchase"] * n,
                "event_value": [1.0] * n,
                "quantity": [1] * n,
                "unit_price": [1.0] * n,
                "invoice_no": invoices,
                "country": ["United Kingdom"] * n,
            },
            schema=schema.INTERACTIONS_SCHEMA,
        )
        acc.add(clean, pa.array(["x"] * n))

    batch(["17850", "17850", "13047"], ["85123A", "71053", "85123A"], ["536365", "536365", "536366"])
    batch(["17850", "13047"], ["85123A", "84406B"], ["123456789012", "536366"])
    users = acc.user_features(1_317_427_300).to_pydict()
    items = acc.item_features().to_pydict()
    assert dict(zip(users["user_id"], users["frequency"], strict=True)) == {"13047": 1, "17850": 2}
    assert dict(zip(items["item_id"], items["buyers"], strict=True)) == {"71053": 1, "84406B": 1, "85123A": 2}
