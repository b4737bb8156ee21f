"""Activation: write personalized attributes back into Salesforce — only what changed."""
