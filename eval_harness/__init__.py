"""Labeled-traffic I/O, policy replay, routing metrics, graders, calibration and reports."""
