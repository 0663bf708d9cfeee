"""mpi: a master patient index for shared care records.

The domain package: source systems, records, persons (identities), links, review, audit
and identity events, stored in PostgreSQL. Matching itself lives in the pure ``matching``
package; HTTP lives in ``api``.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
