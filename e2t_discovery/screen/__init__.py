"""Screening: the library folder, the one Ray session, the scoring pipeline."""
