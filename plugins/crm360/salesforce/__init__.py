"""Salesforce access: connection, describe-driven extraction, activation writes."""
