"""Private home of the attribution methods; import them from :mod:`captum_igos`."""
