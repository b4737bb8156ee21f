"""The org's objects and fields, declared once and used by describe, validation, SOQL and storage.

Field types are Salesforce describe types (``string``, ``picklist``, ``reference``, ``datetime``, ...).
Each object gets the standard audit fields; Contact and Lead also get crm360's custom fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "string": "xsd:string",
    "picklist": "xsd:string",
    "multipicklist": "xsd:string",
    "combobox": "xsd:string",
    "email": "xsd:string",
    "phone": "xsd:string",
    "url": "xsd:string",
    "textarea": "xsd:string",
    "boolean": "xsd:boolean",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "address": "urn:address",
}
TEXT_TYPES = frozenset(
    {"id", "reference", "string", "picklist", "multipicklist", "combobox", "email", "phone", "url", "textarea"}
)
NUMBER_TYPES = frozenset({"double", "currency", "percent", "int"})
ADDRESS_PARTS = ("Street", "City", "State", "PostalCode", "Country")
ADDRESS_JSON_KEYS = {"Street": "street", "City": "city", "State": "state", "PostalCode": "postalCode",
                     "Country": "country"}


@dataclass(frozen=True)
class Field:
    """One field as describe reports it, plus what the sandbox needs to enforce it."""

    name: str
    type: str
    label: str = ""
    length: int = 0
    precision: int = 0
    scale: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    calculated: bool = False
    external_id: bool = False
    id_lookup: bool = False
    unique: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    compound_field_name: str | None = None
    picklist: tuple[str, ...] = ()
    default: Any = None
    required: bool = False
    custom: bool = False
    name_field: bool = False

    @property
    def soap_type(self) -> str:
        return SOAP_TYPES[self.type]

    @property
    def is_text(self) -> bool:
        return self.type in TEXT_TYPES

    @property
    def filterable(self) -> bool:
        return self.type not in {"address", "textarea"}

    def describe(self) -> dict[str, Any]:
        """The field as ``sobjects/{Obj}/describe`` returns it."""
        byte_length = self.length * 3 if self.is_text else 0
        return {
            "aggregatable": self.type not in {"address", "textarea", "boolean"},
            "aiPredictionField": False,
            "autoNumber": False,
            "byteLength": byte_length,
            "calculated": self.calculated,
            "calculatedFormula": None,
            "cascadeDelete": False,
            "caseSensitive": False,
            "compoundFieldName": self.compound_field_name,
            "controllerName": None,
            "createable": self.createable,
            "custom": self.custom,
            "defaultValue": self.default if self.type == "boolean" else None,
            "defaultValueFormula": None,
            "defaultedOnCreate": self.default is not None or self.name in AUDIT_FIELD_NAMES,
            "dependentPicklist": False,
            "deprecatedAndHidden": False,
            "digits": 9 if self.type == "int" else 0,
            "displayLocationInDecimal": False,
            "encrypted": False,
            "externalId": self.external_id,
            "extraTypeInfo": None,
            "filterable": self.filterable,
            "filteredLookupInfo": None,
            "groupable": self.type not in {"address", "textarea", "double", "currency", "percent", "datetime"},
            "highScaleNumber": False,
            "htmlFormatted": False,
            "idLookup": self.id_lookup,
            "inlineHelpText": None,
            "label": self.label or _label(self.name),
            "length": self.length,
            "mask": None,
            "maskType": None,
            "name": self.name,
            "nameField": self.name_field,
            "namePointing": len(self.reference_to) > 1,
            "nillable": self.nillable,
            "permissionable": self.nillable and self.createable,
            "picklistValues": [
                {"active": True, "defaultValue": value == self.default, "label": value, "validFor": None,
                 "value": value}
                for value in self.picklist
            ],
            "polymorphicForeignKey": len(self.reference_to) > 1,
            "precision": self.precision,
            "queryByDistance": False,
            "referenceTargetField": None,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "relationshipOrder": None,
            "restrictedDelete": False,
            "restrictedPicklist": False,
            "scale": self.scale,
            "searchPrefilterable": self.type == "reference",
            "soapType": self.soap_type,
            "sortable": self.filterable,
            "type": self.type,
            "unique": self.unique,
            "updateable": self.updateable,
            "writeRequiresMasterRead": False,
        }


@dataclass
class SObject:
    """One object: its key prefix, its fields by canonical name, and its lookup tables."""

    name: str
    key_prefix: str
    label: str
    label_plural: str
    fields: dict[str, Field]
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    unique_together: tuple[tuple[str, ...], ...] = ()
    unique_together_message: str = "duplicate value found"
    by_lower: dict[str, Field] = field(default_factory=dict)
    relationships: dict[str, Field] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_lower = {name.lower(): f for name, f in self.fields.items()}
        self.relationships = {
            f.relationship_name.lower(): f for f in self.fields.values() if f.relationship_name
        }

    def field(self, name: str) -> Field | None:
        """The field named ``name`` in any letter case, or None."""
        return self.by_lower.get(name.lower())

    @property
    def address_fields(self) -> list[Field]:
        return [f for f in self.fields.values() if f.type == "address"]

    @property
    def unique_fields(self) -> list[Field]:
        # Salesforce enforces uniqueness only for fields marked Unique; an External ID may repeat.
        return [f for f in self.fields.values() if f.unique]

    @property
    def indexed_fields(self) -> list[Field]:
        """Fields looked up by value: unique fields and external ids (upsert, get by external id)."""
        return [f for f in self.fields.values() if f.unique or f.external_id]


def _label(name: str) -> str:
    base = name[:-3] if name.endswith("__c") else name
    base = base.replace("_", " ")
    if base.endswith("Id") and len(base) > 2:
        base = base[:-2] + " ID"
    out = []
    for i, char in enumerate(base):
        if i and char.isupper() and base[i - 1].islower():
            out.append(" ")
        out.append(char)
    return "".join(out).strip()


AUDIT_FIELD_NAMES = frozenset(
    {"Id", "IsDeleted", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp"}
)


def _s(name: str, length: int = 255, **kw: Any) -> Field:
    return Field(name, "string", length=length, **kw)


def _pick(name: str, values: tuple[str, ...], length: int = 255, **kw: Any) -> Field:
    return Field(name, "picklist", length=length, picklist=values, **kw)


def _ref(name: str, targets: tuple[str, ...], relationship: str, **kw: Any) -> Field:
    return Field(name, "reference", length=18, reference_to=targets, relationship_name=relationship, **kw)


def _bool(name: str, default: bool = False, **kw: Any) -> Field:
    return Field(name, "boolean", nillable=False, default=default, **kw)


def _read_only(f: Field) -> Field:
    return Field(**{**f.__dict__, "createable": False, "updateable": False})


def _audit() -> list[Field]:
    return [
        Field("Id", "id", label="Record ID", length=18, nillable=False, createable=False, updateable=False,
              id_lookup=True),
        _read_only(_bool("IsDeleted")),
        Field("CreatedDate", "datetime", nillable=False, createable=False, updateable=False),
        _ref("CreatedById", ("User",), "CreatedBy", nillable=False, createable=False, updateable=False),
        Field("LastModifiedDate", "datetime", nillable=False, createable=False, updateable=False),
        _ref("LastModifiedById", ("User",), "LastModifiedBy", nillable=False, createable=False,
             updateable=False),
        Field("SystemModstamp", "datetime", nillable=False, createable=False, updateable=False),
    ]


def _address(prefix: str, compound: str) -> list[Field]:
    lengths = {"Street": 255, "City": 40, "State": 80, "PostalCode": 20, "Country": 80}
    parts = [
        Field(f"{prefix}{part}", "textarea" if part == "Street" else "string", length=lengths[part],
              compound_field_name=compound)
        for part in ADDRESS_PARTS
    ]
    return [*parts, Field(compound, "address", createable=False, updateable=False)]


def _owner() -> list[Field]:
    return [_ref("OwnerId", ("User",), "Owner", nillable=False)]


def _currency() -> list[Field]:
    return [_pick("CurrencyIsoCode", ("USD", "EUR", "GBP", "CAD", "AUD"), length=3, default="USD",
                  label="Currency ISO Code")]


def _crm360_fields() -> list[Field]:
    return [
        # A unique, case-insensitive external id, as integrations usually add (upsert key).
        _s("External_Id__c", 64, external_id=True, id_lookup=True, unique=True, custom=True,
           label="External ID"),
        # External ID but not unique: duplicate Contacts of one person share the unified customer id.
        _s("Crm360_Customer_Id__c", 64, external_id=True, id_lookup=True, unique=False, custom=True,
           label="crm360 Customer ID"),
        Field("Crm360_Lifetime_Value__c", "currency", precision=16, scale=2, custom=True,
              label="crm360 Lifetime Value"),
        Field("Crm360_Order_Count__c", "double", precision=18, scale=0, custom=True, label="crm360 Order Count"),
        Field("Crm360_Last_Order_Date__c", "date", custom=True, label="crm360 Last Order Date"),
        _s("Crm360_Email_Engagement__c", 40, custom=True, label="crm360 Email Engagement"),
        _s("Crm360_Segment__c", 255, custom=True, label="crm360 Segment"),
        _s("Crm360_Next_Best_Product__c", 255, custom=True, label="crm360 Next Best Product"),
        _s("Crm360_Next_Best_Offer__c", 255, custom=True, label="crm360 Next Best Offer"),
        Field("Crm360_Churn_Risk__c", "percent", precision=5, scale=2, custom=True, label="crm360 Churn Risk"),
        _s("Crm360_Preferred_Channel__c", 40, custom=True, label="crm360 Preferred Channel"),
        Field("Crm360_Best_Send_Hour__c", "double", precision=2, scale=0, custom=True,
              label="crm360 Best Send Hour"),
    ]


USER_TYPES = ("Standard", "PowerPartner", "CsnOnly", "CspLitePortal", "CustomerSuccess", "PowerCustomerSuccess",
              "Guest", "AutomatedProcess")
TIME_ZONES = ("GMT", "Europe/London", "Europe/Paris", "America/New_York", "America/Chicago",
              "America/Los_Angeles", "Asia/Tokyo", "Australia/Sydney")
LOCALES = ("en_US", "en_GB", "fr", "fr_FR", "de", "de_DE", "es", "ja", "pt_BR")
LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other", "Email", "Advertisement")
SALUTATIONS = ("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.", "Mx.")
GENDER_IDENTITIES = ("Male", "Female", "Nonbinary", "Not Listed")
LEAD_STATUSES = ("Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted")
OPPORTUNITY_STAGES = ("Prospecting", "Qualification", "Needs Analysis", "Value Proposition", "Proposal/Price Quote",
                      "Negotiation/Review", "Closed Won", "Closed Lost")


def _obj(name: str, prefix: str, fields: list[Field], plural: str | None = None, **kw: Any) -> SObject:
    ordered: dict[str, Field] = {}
    for f in fields:
        ordered[f.name] = f
    return SObject(name=name, key_prefix=prefix, label=_label(name), label_plural=plural or f"{_label(name)}s",
                   fields=ordered, **kw)


def _name_parts(compound: str = "Name") -> list[Field]:
    return [
        _pick("Salutation", SALUTATIONS, length=40, compound_field_name=compound),
        _s("FirstName", 40, compound_field_name=compound),
        _s("LastName", 80, nillable=False, required=True, compound_field_name=compound),
        Field("Name", "string", length=121, nillable=False, createable=False, updateable=False, calculated=True,
              name_field=True, label="Full Name"),
    ]


def build_schema() -> dict[str, SObject]:
    """Every object in the sandbox org, keyed by canonical API name."""
    audit = _audit
    objects = [
        _obj("Organization", "00D", [
            *audit(),
            _s("Name", 80, nillable=False, name_field=True),
            _bool("IsSandbox"),
            _s("InstanceName", 5),
            _s("OrganizationType", 40),
            _s("TimeZoneSidKey", 40),
            _s("DefaultLocaleSidKey", 40),
            _s("LanguageLocaleKey", 40),
            _s("Country", 80),
            _s("NamespacePrefix", 15),
            Field("FiscalYearStartMonth", "int", precision=2),
            _bool("IsReadOnly"),
            Field("TrialExpirationDate", "datetime"),
            _s("DefaultCurrencyIsoCode", 3, label="Currency Locale"),
        ], createable=False, updateable=False, deletable=False),
        _obj("Profile", "00e", [
            *audit(),
            _s("Name", 255, nillable=False, required=True, name_field=True),
            _pick("UserType", USER_TYPES, nillable=False, default="Standard", label="User Type"),
            _s("Description", 255),
        ], createable=False, updateable=False, deletable=False),
        _obj("User", "005", [
            *audit(),
            _s("Username", 80, nillable=False, required=True, unique=True, id_lookup=True),
            _s("LastName", 80, nillable=False, required=True, compound_field_name="Name"),
            _s("FirstName", 40, compound_field_name="Name"),
            Field("Name", "string", length=121, nillable=False, createable=False, updateable=False,
                  calculated=True, name_field=True, label="Full Name"),
            _s("CompanyName", 80),
            _s("Division", 80),
            _s("Department", 80),
            _s("Title", 80),
            *_address("", "Address"),
            Field("Email", "email", length=128, nillable=False, required=True),
            Field("Phone", "phone", length=40),
            Field("MobilePhone", "phone", length=40, label="Mobile"),
            _s("Alias", 8, nillable=False, required=True),
            _s("CommunityNickname", 40, nillable=False, unique=True, label="Nickname"),
            _bool("IsActive", default=True, label="Active"),
            _pick("TimeZoneSidKey", TIME_ZONES, length=40, nillable=False, required=True, label="Time Zone"),
            _pick("LocaleSidKey", LOCALES, length=40, nillable=False, required=True, label="Locale"),
            _bool("ReceivesInfoEmails", label="Info Emails"),
            _pick("EmailEncodingKey", ("UTF-8", "ISO-8859-1", "Shift_JIS"), length=40, nillable=False,
                  required=True, label="Email Encoding"),
            _ref("ProfileId", ("Profile",), "Profile", nillable=False, required=True, label="Profile ID"),
            _pick("UserType", USER_TYPES, length=40, createable=False, updateable=False, label="User Type"),
            _pick("LanguageLocaleKey", LOCALES, length=40, nillable=False, required=True, label="Language"),
            _s("EmployeeNumber", 20),
            _ref("ManagerId", ("User",), "Manager", label="Manager ID"),
            Field("LastLoginDate", "datetime", createable=False, updateable=False),
            Field("LastPasswordChangeDate", "datetime", createable=False, updateable=False),
            _s("FederationIdentifier", 512, label="SAML Federation ID"),
            *_currency(),
            _pick("DefaultCurrencyIsoCode", ("USD", "EUR", "GBP", "CAD", "AUD"), length=3,
                  label="User Currency"),
        ], deletable=False),
        _obj("Account", "001", [
            *audit(),
            _ref("MasterRecordId", ("Account",), "MasterRecord", createable=False, updateable=False),
            _s("Name", 255, nillable=False, required=True, name_field=True, label="Account Name"),
            _pick("Type", ("Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other")),
            _ref("ParentId", ("Account",), "Parent"),
            *_address("Billing", "BillingAddress"),
            *_address("Shipping", "ShippingAddress"),
            Field("Phone", "phone", length=40),
            Field("Website", "url", length=255),
            _pick("Industry", ("Agriculture", "Apparel", "Banking", "Consulting", "Education", "Electronics",
                               "Finance", "Healthcare", "Hospitality", "Retail", "Technology", "Other")),
            Field("AnnualRevenue", "currency", precision=18, scale=0),
            Field("NumberOfEmployees", "int", precision=8),
            Field("Description", "textarea", length=32000),
            _pick("AccountSource", LEAD_SOURCES),
            *_owner(),
            *_currency(),
        ]),
        _obj("Contact", "003", [
            *audit(),
            _ref("MasterRecordId", ("Contact",), "MasterRecord", createable=False, updateable=False),
            _ref("AccountId", ("Account",), "Account", label="Account ID"),
            *_name_parts(),
            *_address("Mailing", "MailingAddress"),
            Field("Phone", "phone", length=40, label="Business Phone"),
            Field("MobilePhone", "phone", length=40, label="Mobile Phone"),
            Field("Fax", "phone", length=40),
            Field("Email", "email", length=80),
            _s("Title", 128),
            _s("Department", 80),
            Field("Birthdate", "date"),
            _pick("GenderIdentity", GENDER_IDENTITIES),
            _pick("LeadSource", LEAD_SOURCES),
            Field("Description", "textarea", length=32000),
            _bool("HasOptedOutOfEmail", label="Email Opt Out"),
            _bool("HasOptedOutOfFax", label="Fax Opt Out"),
            _bool("DoNotCall"),
            *_owner(),
            *_currency(),
            Field("LastActivityDate", "date", createable=False, updateable=False),
            _s("Time_Zone__c", 255, custom=True, label="Time Zone"),
            *_crm360_fields(),
        ]),
        _obj("Lead", "00Q", [
            *audit(),
            _ref("MasterRecordId", ("Lead",), "MasterRecord", createable=False, updateable=False),
            *_name_parts(),
            _s("Title", 128),
            _s("Company", 255, nillable=False, required=True),
            *_address("", "Address"),
            Field("Phone", "phone", length=40),
            Field("MobilePhone", "phone", length=40),
            Field("Email", "email", length=80),
            Field("Website", "url", length=255),
            _pick("LeadSource", LEAD_SOURCES),
            _pick("Status", LEAD_STATUSES, nillable=False, default="Open - Not Contacted"),
            _pick("Industry", ("Agriculture", "Apparel", "Banking", "Consulting", "Education", "Electronics",
                               "Finance", "Healthcare", "Hospitality", "Retail", "Technology", "Other")),
            _bool("HasOptedOutOfEmail", label="Email Opt Out"),
            _bool("HasOptedOutOfFax", label="Fax Opt Out"),
            _bool("DoNotCall"),
            _bool("IsConverted", updateable=False),
            Field("ConvertedDate", "date", updateable=False),
            _ref("ConvertedAccountId", ("Account",), "ConvertedAccount", updateable=False),
            _ref("ConvertedContactId", ("Contact",), "ConvertedContact", updateable=False),
            _ref("ConvertedOpportunityId", ("Opportunity",), "ConvertedOpportunity", updateable=False),
            *_owner(),
            *_currency(),
            _s("Time_Zone__c", 255, custom=True, label="Time Zone"),
            *_crm360_fields(),
        ]),
        _obj("Opportunity", "006", [
            *audit(),
            _ref("AccountId", ("Account",), "Account"),
            _ref("ContactId", ("Contact",), "Contact"),
            _ref("CampaignId", ("Campaign",), "Campaign"),
            _s("Name", 120, nillable=False, required=True, name_field=True),
            _pick("StageName", OPPORTUNITY_STAGES, nillable=False, required=True, label="Stage"),
            Field("Amount", "currency", precision=18, scale=2),
            Field("Probability", "percent", precision=3, scale=0),
            Field("CloseDate", "date", nillable=False, required=True),
            _pick("Type", ("Existing Customer - Upgrade", "Existing Customer - Replacement", "New Customer")),
            _pick("LeadSource", LEAD_SOURCES),
            _read_only(_bool("IsClosed", label="Closed")),
            _read_only(_bool("IsWon", label="Won")),
            *_owner(),
            *_currency(),
        ], plural="Opportunities"),
        _obj("Campaign", "701", [
            *audit(),
            _s("Name", 80, nillable=False, required=True, name_field=True),
            _pick("Type", ("Advertisement", "Email", "Webinar", "Conference", "Direct Mail", "Telemarketing", "Other")),
            _pick("Status", ("Planned", "In Progress", "Completed", "Aborted")),
            _bool("IsActive", label="Active"),
            Field("StartDate", "date"),
            Field("EndDate", "date"),
            Field("BudgetedCost", "currency", precision=18, scale=0),
            Field("ActualCost", "currency", precision=18, scale=0),
            Field("Description", "textarea", length=32000),
            *_owner(),
            *_currency(),
        ]),
        _obj("CampaignMember", "00v", [
            *audit(),
            _ref("CampaignId", ("Campaign",), "Campaign", nillable=False, required=True, updateable=False),
            _ref("ContactId", ("Contact",), "Contact", updateable=False),
            _ref("LeadId", ("Lead",), "Lead", updateable=False),
            _pick("Status", ("Planned", "Received", "Responded", "Sent"), default="Sent"),
            _read_only(_bool("HasResponded", label="Responded")),
            Field("FirstRespondedDate", "date", createable=False, updateable=False),
            *_currency(),
        ], unique_together=(("CampaignId", "ContactId"), ("CampaignId", "LeadId")),
            unique_together_message="Already a campaign member."),
        _obj("Task", "00T", [
            *audit(),
            _ref("WhoId", ("Contact", "Lead"), "Who", label="Name ID"),
            _ref("WhatId", ("Account", "Opportunity", "Campaign"), "What", label="Related To ID"),
            Field("Subject", "combobox", length=255,
                  picklist=("Call", "Email", "Send Letter", "Send Quote", "Other")),
            Field("ActivityDate", "date", label="Due Date Only"),
            _pick("Status", ("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"),
                  nillable=False, default="Not Started"),
            _pick("Priority", ("High", "Normal", "Low"), nillable=False, default="Normal"),
            _pick("Type", ("Call", "Email", "Meeting", "Other"), length=40),
            Field("Description", "textarea", length=32000),
            _read_only(_bool("IsClosed", label="Closed")),
            *_owner(),
            *_currency(),
        ]),
    ]
    return {o.name: o for o in objects}


SCHEMA: dict[str, SObject] = build_schema()
SCHEMA_BY_LOWER: dict[str, SObject] = {name.lower(): o for name, o in SCHEMA.items()}
SCHEMA_BY_PREFIX: dict[str, SObject] = {o.key_prefix: o for o in SCHEMA.values()}


def find_object(name: str) -> SObject | None:
    """The object called ``name`` in any letter case, or None."""
    return SCHEMA_BY_LOWER.get(name.lower())


def object_for_id(record_id: str) -> SObject | None:
    """The object whose key prefix starts ``record_id``, or None."""
    return SCHEMA_BY_PREFIX.get(record_id[:3]) if isinstance(record_id, str) else None
