"""Every rule that assigns a domain (an extrapolation group) to a material."""

from __future__ import annotations

#: The label of a material whose domain is unknown, where a label is needed.
NO_DOMAIN = "(none)"
