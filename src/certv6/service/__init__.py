"""Use cases, one linear function each. Only the CLI and the hooks call these."""

from certv6.service.cleanup import StaleCleanup, cleanup_stale
from certv6.service.issue import IssueRequest, IssueResult, issue

__all__ = ["IssueRequest", "IssueResult", "StaleCleanup", "cleanup_stale", "issue"]
