"""crm360: CRM and channel data -> customer 360 -> segments and personalization -> Salesforce."""

__version__ = "0.1.0"
