"""Weekly reports: the report service (``service.py``)."""
