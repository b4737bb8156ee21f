"""A deterministic synthetic company: CRM records, channel exports by arrival day, ground truth.

``python -m sandbox.generator generate ...`` writes it; ``python -m sandbox.generator load ...``
seeds the sandbox Salesforce with its CRM records. From Python use :func:`generate` and
:func:`load`.
"""

from sandbox.generator.generate import generate
from sandbox.generator.load import load

__all__ = ["generate", "load"]
