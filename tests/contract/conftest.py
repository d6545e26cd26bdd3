"""The contract suites' fixtures live in contract_cases.py and rrset_cases.py (importable)."""

from contract_cases import case
from rrset_cases import rrset_case

__all__ = ["case", "rrset_case"]
