"""PostgreSQL access: connection pools, migrations and one repository per aggregate."""
