"""Local stand-ins for crm360's outside world: a Salesforce org and a synthetic company.

Product code never imports from here; tests, demos and benchmarks do.
"""
