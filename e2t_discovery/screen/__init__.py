"""Screening: the library (:mod:`.library`), the one Ray session (:mod:`.ray_session`),
pure scoring (:mod:`.scoring`) and the pipeline that drives it (:mod:`.pipeline`)."""
