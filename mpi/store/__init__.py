"""The only package that holds SQL or imports psycopg.

One module per family of tables; each function runs one statement or a small fixed set,
takes a connection as its first argument and leaves the transaction to the caller.
"""

from __future__ import annotations
