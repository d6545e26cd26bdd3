"""``certv6 doctor``: every IPv6 problem on the way to a certificate, before the first order.

Checks are small functions that turn facts into findings (ok / warn / fail, with
a fix). They read this host (/proc), ask through the DNS and HTTP adapters, and
never change anything; checks that need other core packages (propagation,
providers, store) are run by ``certv6.service.doctor``, which builds the report.

    report.py    Finding, Status, DoctorReport (and its JSON form)
    render.py    the report as a table
    host.py      addresses (stable / temporary / deprecated) and default route
    network.py   resolvers over IPv6, NAT64 prefix, HTTPS proxy
    ca.py        the directory: reachability and route, terms, EAB, ARI, profiles
    caa.py       RFC 8659 / RFC 8657 evaluation of a CAA RRset (pure)
    names.py     per name: CAA, challenge CNAME chain and zone, nameservers, AAAA
"""

from certv6.doctor.caa import CaaForbidden, CaaVerdict, evaluate
from certv6.doctor.render import render_table
from certv6.doctor.report import DoctorReport, Finding, Status

__all__ = [
    "CaaForbidden",
    "CaaVerdict",
    "DoctorReport",
    "Finding",
    "Status",
    "evaluate",
    "render_table",
]
