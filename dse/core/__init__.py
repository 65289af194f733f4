"""The kernel of dse: what every floor above may import, and which imports nothing of dse.

* :mod:`dse.core.errors`: every error, under :class:`~dse.core.errors.DseError`;
* :mod:`dse.core.registry`: the name -> plugin registry of every extension point;
* :mod:`dse.core.config`: frozen, validated configuration types;
* :mod:`dse.core.layers`: the list of layers;
* :mod:`dse.core.measure`: the latency protocol (one measurement loop);
* :mod:`dse.core.record`: the evaluation result, the trial record, the objectives;
* :mod:`dse.core.files`: file locks, atomic writes, stable key hashes.
"""
