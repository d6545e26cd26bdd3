"""The contract suite's ``case`` fixture lives in contract_cases.py (importable by the tests)."""

from contract_cases import case

__all__ = ["case"]
