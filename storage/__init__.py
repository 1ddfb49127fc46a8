"""Storage: models, sessions, migrations, queries and Excel import/export."""
