"""Channel exports (email, web/app, shop) parsed against vendor schemas and landed as Parquet."""
