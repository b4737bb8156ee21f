"""Small lookup lists the synthetic company is made from: countries, cities, names, streets.

Everything is invented or generic (common first names, common surnames, big cities). Email
domains use the reserved ``.example`` top-level domain so no generated address can reach anyone.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Country:
    code: str
    name: str
    currency: str
    fx_from_usd: float
    tax_rate: float
    locale: str
    calling_code: str
    southern: bool
    share: float


COUNTRIES: tuple[Country, ...] = (
    Country("US", "United States", "USD", 1.0, 0.08, "en-US", "1", False, 0.40),
    Country("GB", "United Kingdom", "GBP", 0.79, 0.20, "en-GB", "44", False, 0.18),
    Country("DE", "Germany", "EUR", 0.92, 0.19, "de-DE", "49", False, 0.17),
    Country("FR", "France", "EUR", 0.92, 0.20, "fr-FR", "33", False, 0.13),
    Country("AU", "Australia", "AUD", 1.52, 0.10, "en-AU", "61", True, 0.12),
)
COUNTRY_INDEX = {c.code: i for i, c in enumerate(COUNTRIES)}


@dataclass(frozen=True)
class City:
    country: str
    name: str
    state: str
    time_zone: str
    postal: str  # a pattern: '#' is a random digit, 'A' a random letter, other characters are kept
    landline: str  # national significant number pattern for landlines in this city
    cold: float  # 0 (never cold) .. 1 (harsh winters): drives demand for winter clothing
    weight: float


CITIES: tuple[City, ...] = (
    City("US", "New York", "NY", "America/New_York", "100##", "212#######", 0.6, 5),
    City("US", "Boston", "MA", "America/New_York", "021##", "617#######", 0.75, 2),
    City("US", "Chicago", "IL", "America/Chicago", "606##", "312#######", 0.85, 3),
    City("US", "Minneapolis", "MN", "America/Chicago", "554##", "612#######", 1.0, 1),
    City("US", "Austin", "TX", "America/Chicago", "787##", "512#######", 0.15, 2),
    City("US", "Denver", "CO", "America/Denver", "802##", "303#######", 0.8, 2),
    City("US", "Seattle", "WA", "America/Los_Angeles", "981##", "206#######", 0.5, 2),
    City("US", "San Francisco", "CA", "America/Los_Angeles", "941##", "415#######", 0.25, 2),
    City("US", "Los Angeles", "CA", "America/Los_Angeles", "900##", "213#######", 0.1, 4),
    City("US", "Miami", "FL", "America/New_York", "331##", "305#######", 0.0, 2),
    City("GB", "London", "England", "Europe/London", "SW# #AA", "207#######", 0.45, 6),
    City("GB", "Manchester", "England", "Europe/London", "M# #AA", "161#######", 0.55, 2),
    City("GB", "Leeds", "England", "Europe/London", "LS# #AA", "113#######", 0.55, 1),
    City("GB", "Bristol", "England", "Europe/London", "BS# #AA", "117#######", 0.45, 1),
    City("GB", "Edinburgh", "Scotland", "Europe/London", "EH# #AA", "131#######", 0.75, 1),
    City("DE", "Berlin", "Berlin", "Europe/Berlin", "10###", "30########", 0.75, 4),
    City("DE", "Hamburg", "Hamburg", "Europe/Berlin", "20###", "40########", 0.7, 2),
    City("DE", "München", "Bayern", "Europe/Berlin", "80###", "89########", 0.85, 3),
    City("DE", "Köln", "Nordrhein-Westfalen", "Europe/Berlin", "50###", "221#######", 0.6, 2),
    City("DE", "Frankfurt am Main", "Hessen", "Europe/Berlin", "60###", "69########", 0.65, 1),
    City("FR", "Paris", "Île-de-France", "Europe/Paris", "750##", "1########", 0.5, 5),
    City("FR", "Lyon", "Auvergne-Rhône-Alpes", "Europe/Paris", "6900#", "4########", 0.55, 2),
    City("FR", "Marseille", "Provence-Alpes-Côte d'Azur", "Europe/Paris", "130##", "4########", 0.15, 2),
    City("FR", "Toulouse", "Occitanie", "Europe/Paris", "310##", "5########", 0.3, 1),
    City("FR", "Lille", "Hauts-de-France", "Europe/Paris", "590##", "3########", 0.6, 1),
    City("AU", "Sydney", "NSW", "Australia/Sydney", "2###", "2########", 0.15, 5),
    City("AU", "Melbourne", "VIC", "Australia/Melbourne", "3###", "3########", 0.35, 4),
    City("AU", "Brisbane", "QLD", "Australia/Brisbane", "4###", "7########", 0.05, 2),
    City("AU", "Perth", "WA", "Australia/Perth", "6###", "8########", 0.1, 2),
    City("AU", "Hobart", "TAS", "Australia/Hobart", "7###", "3########", 0.6, 1),
)

# Mobile national significant number patterns ('#' = random digit).
MOBILE_PATTERNS: dict[str, tuple[str, ...]] = {
    "US": (),  # US mobiles share the city's area codes
    "GB": ("7700######", "7911######", "7812######", "7456######"),
    "DE": ("151########", "160########", "170########", "176########"),
    "FR": ("6########", "7########"),
    "AU": ("4########",),
}

FEMALE_FIRST: dict[str, tuple[str, ...]] = {
    "US": ("Emily", "Olivia", "Emma", "Ava", "Sophia", "Mia", "Abigail", "Madison", "Elizabeth",
           "Jessica", "Ashley", "Sarah", "Jennifer", "Megan", "Hannah", "Lauren", "Grace", "Chloe"),
    "GB": ("Amelia", "Olivia", "Isla", "Ava", "Emily", "Sophie", "Poppy", "Jessica", "Lily", "Charlotte",
           "Ella", "Freya", "Evie", "Ruby", "Alice", "Harriet", "Eleanor"),
    "DE": ("Anna", "Lena", "Leonie", "Hannah", "Laura", "Lea", "Julia", "Sophie", "Katharina", "Sarah",
           "Marie", "Johanna", "Lisa", "Jana", "Sabine", "Ursula", "Maike"),
    "FR": ("Camille", "Léa", "Manon", "Chloé", "Emma", "Inès", "Juliette", "Louise", "Sarah", "Clara",
           "Margaux", "Élodie", "Céline", "Amélie", "Hélène", "Anaïs"),
    "AU": ("Charlotte", "Olivia", "Mia", "Chloe", "Isla", "Ruby", "Zoe", "Matilda", "Grace", "Sienna",
           "Ella", "Harper", "Ivy", "Jasmine", "Kayla"),
}
MALE_FIRST: dict[str, tuple[str, ...]] = {
    "US": ("James", "Michael", "John", "Robert", "David", "William", "Daniel", "Matthew", "Joseph",
           "Christopher", "Andrew", "Joshua", "Ryan", "Tyler", "Brandon", "Ethan", "Noah", "Logan"),
    "GB": ("Oliver", "George", "Harry", "Jack", "Jacob", "Charlie", "Thomas", "Oscar", "William",
           "James", "Alfie", "Joshua", "Freddie", "Archie", "Henry", "Callum"),
    "DE": ("Lukas", "Leon", "Maximilian", "Felix", "Jonas", "Paul", "Tobias", "Jan", "Niklas", "Stefan",
           "Michael", "Thomas", "Andreas", "Jürgen", "Matthias", "Sebastian"),
    "FR": ("Lucas", "Hugo", "Louis", "Gabriel", "Arthur", "Jules", "Théo", "Nathan", "Thomas", "Antoine",
           "Julien", "Nicolas", "Mathieu", "François", "Benoît", "Jérôme"),
    "AU": ("Jack", "William", "Oliver", "Noah", "Thomas", "Lachlan", "Cooper", "Riley", "Liam", "Ethan",
           "Hamish", "Angus", "Mitchell", "Darcy", "Lucas"),
}
LAST_NAMES: dict[str, tuple[str, ...]] = {
    "US": ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
           "Martinez", "Hernandez", "Lopez", "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Jackson",
           "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis", "Walker", "Young", "O'Brien"),
    "GB": ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson",
           "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Hughes",
           "Edwards", "Clarke", "Patel", "Khan", "Murphy", "Campbell", "MacDonald"),
    "DE": ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
           "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann",
           "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann"),
    "FR": ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
           "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux",
           "Vincent", "Fournier", "Morel", "Girard", "Bonnet", "Dupont"),
    "AU": ("Smith", "Jones", "Williams", "Brown", "Wilson", "Taylor", "Johnson", "White", "Martin",
           "Anderson", "Thompson", "Nguyen", "Thomas", "Walker", "Harris", "Lee", "Ryan", "Robinson",
           "Kelly", "King", "Kennedy", "O'Connor", "Murray"),
}

STREETS: dict[str, tuple[str, ...]] = {
    "US": ("Main Street", "Oak Avenue", "Maple Drive", "Cedar Lane", "Park Avenue", "Elm Street",
           "Washington Boulevard", "Lake Shore Drive", "Sunset Boulevard", "Pine Street", "2nd Avenue"),
    "GB": ("High Street", "Station Road", "Church Lane", "Victoria Road", "Green Lane", "Manor Road",
           "Park Road", "Queens Road", "Kings Road", "Mill Lane", "The Crescent"),
    "DE": ("Hauptstraße", "Schulstraße", "Gartenstraße", "Bahnhofstraße", "Dorfstraße", "Bergstraße",
           "Lindenstraße", "Goethestraße", "Schillerstraße", "Kirchweg", "Am Markt"),
    "FR": ("rue de la Paix", "avenue Victor Hugo", "rue du Moulin", "boulevard Voltaire", "rue de l'Église",
           "place de la République", "rue Pasteur",
           "avenue Jean Jaurès", "rue des Lilas", "quai Saint-Michel"),
    "AU": ("George Street", "King Street", "Queen Street", "Collins Street", "Bourke Street",
           "Hay Street", "Elizabeth Street", "Beach Road", "Ocean Parade", "Church Street"),
}
STREET_NUMBER_FIRST: dict[str, bool] = {"US": True, "GB": True, "DE": False, "FR": True, "AU": True}

CONSUMER_DOMAINS: tuple[str, ...] = (
    "mailbox.example", "inbox.example", "post.example", "fastmail.example", "webpost.example",
    "netmail.example", "homemail.example",
)

COMPANY_WORDS_A: tuple[str, ...] = (
    "Northwind", "Bluebird", "Summit", "Harbor", "Redwood", "Granite", "Silverline", "Evergreen",
    "Blackstone", "Brightwater", "Ironbridge", "Clearview", "Meadow", "Falcon", "Copperfield", "Oakridge",
    "Pioneer", "Horizon", "Lighthouse", "Kestrel", "Riverbend", "Stonegate", "Westbrook", "Aurora",
)
COMPANY_WORDS_B: tuple[str, ...] = (
    "Traders", "Logistics", "Analytics", "Foods", "Studios", "Outfitters", "Systems", "Partners",
    "Consulting", "Health", "Retail", "Labs", "Media", "Energy", "Supply", "Works", "Hospitality",
)
COMPANY_SUFFIX: dict[str, tuple[str, ...]] = {
    "US": ("Inc.", "LLC", "Corp."), "GB": ("Ltd", "plc", "Ltd"), "DE": ("GmbH", "AG", "GmbH & Co. KG"),
    "FR": ("SAS", "SARL", "SA"), "AU": ("Pty Ltd", "Pty Ltd", "Ltd"),
}
INDUSTRIES: tuple[str, ...] = (
    "Retail", "Hospitality", "Technology", "Healthcare", "Media", "Transportation", "Consulting",
    "Food & Beverage", "Energy", "Education",
)
TITLES: tuple[str, ...] = (
    "Office Manager", "Head of Procurement", "Marketing Manager", "CEO", "Operations Lead", "Buyer",
    "Facilities Coordinator", "HR Manager", "Store Manager", "Founder",
)
LEAD_SOURCES: tuple[str, ...] = (
    "Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Trade Show", "Word of mouth", "Other",
)

USER_AGENTS_DESKTOP: tuple[str, ...] = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko)"
    " Version/18.0 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36",
)
USER_AGENTS_MOBILE: tuple[str, ...] = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like"
    " Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/130.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/129.0.0.0 Mobile Safari/537.36",
)
# Mail clients that fetch images on open (what SendGrid reports as the open's user agent).
USER_AGENTS_MAIL: tuple[str, ...] = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like"
    " Gecko) Mobile/15E148",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko)",
)

SHOP_DOMAIN = "shop.northwind-outfitters.example"
SHOP_TIME_ZONE = "America/New_York"

# Short forms people give instead of their full first name (on forms, at checkout, to a salesperson).
NICKNAMES: dict[str, str] = {
    "Elizabeth": "Liz", "Jessica": "Jess", "Jennifer": "Jen", "Abigail": "Abby", "Madison": "Maddie",
    "Olivia": "Liv", "Samantha": "Sam", "Charlotte": "Lottie", "Katharina": "Kathi", "Johanna": "Hanne",
    "Harriet": "Hattie", "Eleanor": "Ellie", "Amelia": "Millie", "Matilda": "Tilly", "Margaux": "Margot",
    "James": "Jim", "Michael": "Mike", "Robert": "Bob", "William": "Bill", "Daniel": "Dan",
    "Matthew": "Matt", "Joseph": "Joe", "Christopher": "Chris", "Andrew": "Andy", "Joshua": "Josh",
    "Thomas": "Tom", "Jacob": "Jake", "Charles": "Charlie", "Henry": "Harry", "Maximilian": "Max",
    "Sebastian": "Basti", "Matthias": "Matze", "Andreas": "Andi", "Tobias": "Tobi", "Nicolas": "Nico",
    "Mathieu": "Mat", "Lachlan": "Lachie", "Mitchell": "Mitch", "Archie": "Arch", "Alfie": "Alf",
}
# Addresses people type when a form insists on one; they belong to nobody in particular.
PLACEHOLDER_EMAILS: tuple[str, ...] = ("test@test.com", "noemail@noemail.com", "none@none.com", "na@na.com")
PLACEHOLDER_PHONES: tuple[str, ...] = ("0000000000", "1234567890", "9999999999")
PLACEHOLDER_NAMES: tuple[str, ...] = ("unknown", "Unknown", "test", "N/A")
# Shared company mailboxes; a Contact holding one is not the only person behind it.
ROLE_MAILBOXES: tuple[str, ...] = ("info", "sales", "office", "contact")


# The shop's customer-care team in the CRM: each Contact and Lead is owned by one of its country's
# representatives (Users), who is the customer's named contact in personal messages.
# (country, first name, last name, title, Salesforce time zone, locale)
SALES_REPS: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("US", "Dana", "Whitfield", "Customer Care Lead", "America/New_York", "en_US"),
    ("US", "Marcus", "Oyelaran", "Customer Care Specialist", "America/Chicago", "en_US"),
    ("US", "Priya", "Raman", "Customer Care Specialist", "America/Los_Angeles", "en_US"),
    ("GB", "Fiona", "Abbott", "Customer Care Lead", "Europe/London", "en_GB"),
    ("GB", "Owen", "Pritchard", "Customer Care Specialist", "Europe/London", "en_GB"),
    ("DE", "Jana", "Lindqvist", "Kundenbetreuung", "Europe/Paris", "de_DE"),
    ("DE", "Tobias", "Brenner", "Kundenbetreuung", "Europe/Paris", "de_DE"),
    ("FR", "Camille", "Ferrand", "Service client", "Europe/Paris", "fr_FR"),
    ("FR", "Hugo", "Martel", "Service client", "Europe/Paris", "fr_FR"),
    ("AU", "Kirra", "Donovan", "Customer Care Lead", "Australia/Sydney", "en_US"),
)
