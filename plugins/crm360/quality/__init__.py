"""Quality gates: Great Expectations suites over landed and published data."""
