"""Citizen accounts: sign-up, confirmation and login by e-mail link (``service.py``)."""
