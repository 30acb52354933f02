from geotiff_factory import make_geotiff  # noqa: F401  (fixture)
