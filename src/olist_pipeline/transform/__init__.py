"""PySpark transformations: raw -> staging -> warehouse -> marts."""
