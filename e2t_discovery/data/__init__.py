"""Benchmark data sets shipped with the package (PI1070, HOIP) and their loaders.

The compressed tables, their licences and checksums live beside this file; the loaders
are in :mod:`e2t_discovery.data.datasets`, the file lookup, checksums and download in
:mod:`e2t_discovery.data.files`; both are re-exported here.
"""

from e2t_discovery.data.datasets import (
    hoip_domains,
    hoip_split,
    load_hoip,
    load_pi1070,
    pi1070_class_splits,
)
from e2t_discovery.data.files import download_pi1070, find_data_dir

__all__ = ["download_pi1070", "find_data_dir", "hoip_domains", "hoip_split", "load_hoip",
           "load_pi1070", "pi1070_class_splits"]
