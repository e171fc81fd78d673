"""Bulk import and export of CSV files: the pipeline's set-based bulk path."""
