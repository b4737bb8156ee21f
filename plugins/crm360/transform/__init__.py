"""Running the dbt project (staging -> intermediate -> marts -> publish)."""
