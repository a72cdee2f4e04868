"""The ledger: every request's row (who, what was decided, tokens, cost) and user feedback."""

from router.ledger.store import Ledger, LedgerRow, to_nanousd

__all__ = ["Ledger", "LedgerRow", "to_nanousd"]
