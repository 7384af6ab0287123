"""Projections: how events become read-model documents. Pure, no I/O."""

from projector.projections.board import BoardProjection, apply_event, card_order_key

__all__ = ["BoardProjection", "apply_event", "card_order_key"]
