"""Benchmarks behind ``fusion bench``: quality across data sets and ratios, speed, tables and figures.

* :mod:`.quality` -- :func:`~fusion.bench.quality.run_quality`: contenders (:mod:`.contenders`) x scenes
  (:mod:`.datasets`) x ratios, reduced- and full-resolution metrics in the ``reference`` convention.
* :mod:`.speed` -- fusion throughput (output voxels/s), query stage against the bare MLP, training
  samples/s, ``RandomDegradation`` time, streaming peak RSS (:mod:`.streaming`), with GPU ceilings.
* :mod:`.markdown` -- tables written between generated markers of a Markdown file.
* :mod:`.figures` -- PNG figures (matplotlib, the ``[bench]`` extra, imported only when drawing).
* :mod:`.machine` -- the machine, versions and date that head every table.

Submodules are imported explicitly: the speed benchmark must run where GDAL is not installed.
"""
