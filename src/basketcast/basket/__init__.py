"""Expected-F1 maximisation with "None": probabilities → baskets."""

from __future__ import annotations

from basketcast.basket.f1 import BasketChoice, best_basket, expected_f1_by_size
from basketcast.basket.select import select_baskets

__all__ = ["BasketChoice", "best_basket", "expected_f1_by_size", "select_baskets"]
