"""Vendyz Flash Sale: the Lambda code. One shared core, one folder per service."""
